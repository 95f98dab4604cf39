"""Converts Human3.6M (SPIN npz) into tfhybrid TFRecord shards; see `tfhybrid.data.sources.h36m`.

    python tools/convert_h36m.py --src DATASET_ROOT --split SPLIT --body_model MODEL \
        --uv_table UV_Processed.mat --out OUT [--iuv_dir PREDICTIONS --refine_iuv]
"""
from tfhybrid.data.convert_cli import main_for
from tfhybrid.data.sources.h36m import H36MConverter

if __name__ == "__main__":
    main_for(H36MConverter)
