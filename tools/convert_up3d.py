"""Converts UP-3D into tfhybrid TFRecord shards; see `tfhybrid.data.sources.up3d`.

    python tools/convert_up3d.py --src DATASET_ROOT --split SPLIT --body_model MODEL \
        --uv_table UV_Processed.mat --out OUT [--iuv_dir PREDICTIONS --refine_iuv]
"""
from tfhybrid.data.convert_cli import main_for
from tfhybrid.data.sources.up3d import UP3DConverter

if __name__ == "__main__":
    main_for(UP3DConverter)
