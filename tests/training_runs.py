"""Small training runs through the real entry point, shared by the training and hostile-input tests."""
import os
import sys


def make_tiny_records(base):
    """A 10-image UP-3D-like world converted to 32x32 records; returns (world, records folder)."""
    from tfhybrid.data.converter import Options
    from tfhybrid.data.sources.up3d import UP3DConverter
    from tfhybrid.synthetic.make import make_world

    world, out = os.path.join(base, "world"), os.path.join(base, "records")
    make_world(world, 10, seed=5, size=96, workers=1, datasets=("up-3d",))
    UP3DConverter(Options(src=os.path.join(world, "up-3d"), split="trainval", out=out,
                          body_model=os.path.join(world, "models", "toy_smpl_neutral.npz"),
                          uv_table=os.path.join(world, "densepose", "UV_Processed.mat"),
                          iuv_dir=os.path.join(world, "densepose_predictions", "up-3d"), size=32, workers=1)).run()
    return world, out


def train_args(world, records, model_dir, *extra):
    """`python -m tfhybrid.train` with a 12-step ResNet-18 run at 32x32 (extra flags override)."""
    return [sys.executable, "-m", "tfhybrid.train", f"--body_model={world}/models/toy_smpl_neutral.npz",
            f"--train_data=1.0:{records}/up-3d-*.tfrecord", "--main_depth=18", "--input_size=32", "--batch_size=4",
            "--steps=12", "--steps_per_epoch=4", "--checkpoint_every=3", "--log_every=3", f"--model_dir={model_dir}",
            *extra]
