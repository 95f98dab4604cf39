"""Converts the DCT authors' PyTorch checkpoint into a tfhybrid model directory.

    python tools/convert_dct_checkpoint.py --checkpoint img_iuv_res50_res18.pth \
        --body_model SMPL_NEUTRAL.npz --mean_params neutral_smpl_mean_params.h5 --model_dir out/models/dct

Needs PyTorch (`pip install torch`), used only here. The model directory then works with
`python -m tfhybrid.evaluate` and `python -m tfhybrid.export` like a trained one.
"""
import os

from absl import app, flags

from tfhybrid import flags as flag_defs

FLAGS = flags.FLAGS


def convert(checkpoint_path, config, model_dir):
    """Writes `model_dir` (flags.json + a weights checkpoint) from DCT's state dict; the encoder
    depths, two-branch input, torchvision layout and BGR input come from the checkpoint, the rest
    (body model, mean parameters, input size) from `config`. Returns the converted `RunConfig`."""
    import torch

    from tfhybrid import checkpoints
    from tfhybrid.config import save_run_config
    from tfhybrid.dct_checkpoint import load_into, resnet_depth, strip_prefix
    from tfhybrid.models import build_model

    raw = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    state = strip_prefix({k: v.numpy() for k, v in raw.items()})
    two_branch = any(k.startswith("aux_encoder.") for k in state)
    changes = {"main_depth": resnet_depth(state, "main_encoder"), "resnet_layout": "torchvision", "bgr_input": True}
    if two_branch:
        changes["aux_depth"] = resnet_depth(state, "aux_encoder")
        if config.model.input == "image":
            changes["input"] = "image+iuv"
    config = config.replace(**changes)
    model = build_model(config)
    load_into(model, state)
    os.makedirs(model_dir, exist_ok=True)
    save_run_config(model_dir, config)
    path = checkpoints.save_weights(model, model_dir)
    print(f"{checkpoint_path}: ResNet-{config.model.main_depth}" +
          (f" + ResNet-{config.model.aux_depth}" if two_branch else "") + f" ({config.model.input}) -> {path}")
    return config


def main(argv):
    del argv
    if not FLAGS.model_dir:
        raise app.UsageError("--model_dir is required")
    convert(FLAGS.checkpoint, flag_defs.run_config_from_flags(), FLAGS.model_dir)


if __name__ == "__main__":
    flag_defs.define_training_flags()
    flags.DEFINE_string("checkpoint", None, "DCT's .pth encoder state dict.", required=True)
    app.run(main)
