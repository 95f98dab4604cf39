"""Converts the DCT authors' PyTorch checkpoint into a tfhybrid model directory.

    python tools/convert_dct_checkpoint.py --checkpoint img_iuv_res50_res18.pth \
        --body_model SMPL_NEUTRAL.npz --mean_params neutral_smpl_mean_params.h5 --model_dir out/models/dct

Needs PyTorch (`pip install torch`), used only here. The model directory then works with
`python -m tfhybrid.evaluate` and `python -m tfhybrid.export` like a trained one.
"""
import json
import os

from absl import app, flags

from tfhybrid import flags as flag_defs

FLAGS = flags.FLAGS


def main(argv):
    del argv
    import tensorflow as tf
    import torch

    from tfhybrid import train
    from tfhybrid.dct_checkpoint import load_into, resnet_depth, strip_prefix
    from tfhybrid.fileio import write_bytes

    raw = torch.load(FLAGS.checkpoint, map_location="cpu", weights_only=True)
    state = strip_prefix({k: v.numpy() for k, v in raw.items()})
    two_branch = any(k.startswith("aux_encoder.") for k in state)
    FLAGS.main_depth = resnet_depth(state, "main_encoder")
    if two_branch:
        FLAGS.aux_depth = resnet_depth(state, "aux_encoder")
    FLAGS.input = FLAGS.input if FLAGS.input != "image" or not two_branch else "image+iuv"
    FLAGS.resnet_layout, FLAGS.bgr_input = "torchvision", True
    model, _, _ = train.build_model(tf.distribute.get_strategy(), None)
    load_into(model, state)
    os.makedirs(FLAGS.model_dir, exist_ok=True)
    write_bytes(os.path.join(FLAGS.model_dir, "flags.json"),
                json.dumps(train.training_flag_values(), indent=1, sort_keys=True).encode())
    checkpoint = tf.train.Checkpoint(model=[v.value for v in model.variables])
    path = tf.train.CheckpointManager(checkpoint, os.path.join(FLAGS.model_dir, "checkpoints"), 1).save(0)
    print(f"{FLAGS.checkpoint}: ResNet-{FLAGS.main_depth}" + (f" + ResNet-{FLAGS.aux_depth}" if two_branch else "") +
          f" ({FLAGS.input}) -> {path}")


if __name__ == "__main__":
    flag_defs.define_training_flags()
    flags.DEFINE_string("checkpoint", None, "DCT's .pth encoder state dict.", required=True)
    app.run(main)
