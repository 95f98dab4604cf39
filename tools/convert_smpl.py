"""Converts an SMPL-format model file (any pickle flavour or .npz) into tfhybrid's canonical .npz.

    python tools/convert_smpl.py --src SMPL_NEUTRAL.pkl --out smpl_neutral.npz \
        --extra_regressor h36m=J_regressor_h36m.npy --extra_regressor extra=J_regressor_extra.npy

The output holds dense float32 arrays under SMPL's key names and is derived from licensed files:
keep it out of version control.
"""
from absl import app, flags

from tfhybrid.bodymodel import load_body_model, save_body_model

FLAGS = flags.FLAGS
flags.DEFINE_string("src", None, "SMPL-format .pkl or .npz to read.", required=True)
flags.DEFINE_string("out", None, "Canonical .npz to write.", required=True)
flags.DEFINE_multi_string("extra_regressor", [], "name=path of an (R, V) .npy regressor to include.")


def main(_):
    extra = {}
    for item in FLAGS.extra_regressor:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise app.UsageError(f"--extra_regressor expects name=path, got {item!r}")
        extra[name] = path
    model = load_body_model(FLAGS.src, extra_regressors=extra)
    save_body_model(model, FLAGS.out)
    print(f"{FLAGS.src}: {model.num_vertices} vertices, {model.faces.shape[0]} faces, {model.num_betas} betas, "
          f"regressors {sorted(model.extra_regressors) or 'none'} -> {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
