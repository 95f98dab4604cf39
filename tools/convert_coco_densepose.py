"""Converts COCO-DensePose into tfhybrid TFRecord shards; see `tfhybrid.data.sources.coco_densepose`.

    python tools/convert_coco_densepose.py --src DATASET_ROOT --split SPLIT --body_model MODEL \
        --uv_table UV_Processed.mat --out OUT [--iuv_dir PREDICTIONS --refine_iuv]
"""
from tfhybrid.data.convert_cli import main_for
from tfhybrid.data.sources.coco_densepose import COCODensePoseConverter

if __name__ == "__main__":
    main_for(COCODensePoseConverter)
