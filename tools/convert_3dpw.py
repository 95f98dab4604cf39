"""Converts 3DPW into tfhybrid TFRecord shards; see `tfhybrid.data.sources.pw3d`.

    python tools/convert_3dpw.py --src DATASET_ROOT --split SPLIT --body_model MODEL \
        --uv_table UV_Processed.mat --out OUT [--iuv_dir PREDICTIONS --refine_iuv]
"""
from tfhybrid.data.convert_cli import main_for
from tfhybrid.data.sources.pw3d import PW3DConverter

if __name__ == "__main__":
    main_for(PW3DConverter)
