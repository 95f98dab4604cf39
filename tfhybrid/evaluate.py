"""Evaluates a trained model: `python -m tfhybrid.evaluate --model_dir=... [--data=GLOB ...]`.

Writes `model_dir/metrics.json` (millimetres; DKD in crop pixels) and prints a table per dataset:
PVE, MPJPE and PVE-T where SMPL ground truth exists, MPJPE-H36M and PA-MPJPE where 3D joints
exist, DKD where dense keypoints exist. `--mean_params` also evaluates the mean-parameter model
(every prediction equal to the mean), the baseline a trained model must beat.
"""
import json
import os

import numpy as np
from absl import app, flags

from tfhybrid import flags as flag_defs
from tfhybrid import preprocess
from tfhybrid.config import ConfigError

FLAGS = flags.FLAGS


def restore_model(model_dir):
    """Rebuilds the model from `model_dir/flags.json` and restores its latest checkpoint; returns
    (model, checkpoint prefix)."""
    from tfhybrid import checkpoints
    from tfhybrid.config import load_run_config
    from tfhybrid.models import build_model

    model = build_model(load_run_config(model_dir))
    return model, checkpoints.restore_weights(model, model_dir)


def mean_parameter_outputs(model, batch_size):
    """The outputs of the mean-parameter model (every prediction equal to the mean) for a batch."""
    import tensorflow as tf

    return model.outputs_from_params(tf.broadcast_to(model.mean_params, [batch_size, model.mean_params.shape[0]]))


def evaluate(model, patterns, batch_size=32, mean_only=False):
    """{dataset: {metric: mean}} over the records matching `patterns`."""
    from tfhybrid import metrics
    from tfhybrid.data.pipeline import make_dataset
    from tfhybrid.layers import gather_dense_keypoints

    per_dataset = {}
    for batch in make_dataset(list(patterns), batch_size, training=False):
        crop = batch["image"].shape[1]
        if mean_only:
            out = mean_parameter_outputs(model, batch["image"].shape[0])
        else:
            out = model(preprocess.resize_inputs(batch, model.options.input_size), training=False)
        names = [n.decode() for n in batch["dataset"].numpy()]
        rows = {}
        has_smpl = batch["has_smpl"].numpy() > 0
        if has_smpl.any():
            errors = metrics.mesh_errors(model.smpl, out["pose"], out["betas"], batch["smpl_pose"], batch["smpl_betas"])
            for k, v in errors.items():
                rows[k] = np.where(has_smpl, v, np.nan)
        has_3d = batch["has_3d"].numpy() > 0
        if has_3d.any():
            errors = metrics.joint_errors(out["joints_h36m"].numpy(), batch["joints3d"].numpy())
            for k, v in errors.items():
                rows[k] = np.where(has_3d, v, np.nan)
        has_dense = batch["has_dense"].numpy() > 0
        if has_dense.any():
            pred = gather_dense_keypoints(out["vertices2d"], batch["dense_vertex_ids"], batch["dense_barycentric"])
            dkd = metrics.dense_keypoint_distance(pred.numpy(), batch["dense_xy"].numpy(),
                                                  batch["dense_mask"].numpy(), crop)
            rows["DKD"] = np.where(has_dense, dkd, np.nan)
        for i, name in enumerate(names):
            entry = per_dataset.setdefault(name, {})
            for k, v in rows.items():
                if np.isfinite(v[i]):
                    entry.setdefault(k, []).append(float(v[i]))
    return {name: {k: float(np.mean(v)) for k, v in values.items()} | {"samples": max(len(v) for v in values.values())}
            for name, values in per_dataset.items() if values}


def write_picture(model, patterns, path, count=6, display_size=192):
    """Held-out crops with the predicted mesh (middle) and the ground truth (right, where known),
    drawn at `display_size` pixels."""
    import cv2

    from tfhybrid.data.pipeline import make_dataset
    from tfhybrid.fileio import write_image
    from tfhybrid.visualize import overlay_mesh, prediction_sheet

    batch = next(iter(make_dataset(list(patterns), count, training=False)))
    out = model(preprocess.resize_inputs(batch, model.options.input_size), training=False)
    images = ((batch["image"].numpy() + 1.0) * 127.5).round().astype(np.uint8)
    images = np.stack([cv2.resize(im, (display_size, display_size), interpolation=cv2.INTER_CUBIC) for im in images])
    faces = model.smpl.faces
    gt = model.smpl(batch["smpl_betas"], batch["smpl_pose"])["vertices"].numpy()
    rows = []
    for i in range(images.shape[0]):
        predicted = overlay_mesh(images[i], out["vertices"][i].numpy(), out["cam"][i].numpy(), faces)
        panels = [images[i], predicted]
        if batch["has_smpl"][i] > 0:
            # The ground truth has no camera: draw it with the predicted one.
            panels.append(overlay_mesh(images[i], gt[i], out["cam"][i].numpy(), faces, color=(0.95, 0.7, 0.5)))
        else:
            panels.append(np.full_like(images[i], 255))
        rows.append(panels)
    write_image(path, prediction_sheet(rows))


def format_table(results):
    columns = ["PVE", "MPJPE", "PVE-T", "MPJPE-H36M", "PA-MPJPE", "DKD"]
    lines = ["| dataset | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for name, row in sorted(results.items()):
        lines.append(f"| {name} | " + " | ".join(f"{row[c]:.1f}" if c in row else "-" for c in columns) + " |")
    return "\n".join(lines)


def main(argv):
    del argv
    from tfhybrid.fileio import write_bytes

    try:
        model, checkpoint = restore_model(FLAGS.model_dir)
    except (ConfigError, FileNotFoundError) as error:
        raise app.UsageError(str(error)) from None
    patterns = FLAGS.data or [p.split(":", 1)[-1] for p in FLAGS.train_data]
    results = {"checkpoint": checkpoint, "data": patterns, "model": evaluate(model, patterns, FLAGS.eval_batch_size)}
    print(f"trained model ({checkpoint}):\n{format_table(results['model'])}")
    if FLAGS.mean_params_baseline:
        results["mean_params"] = evaluate(model, patterns, FLAGS.eval_batch_size, mean_only=True)
        print(f"mean-parameter model:\n{format_table(results['mean_params'])}")
    write_bytes(os.path.join(FLAGS.model_dir, "metrics.json"), json.dumps(results, indent=1).encode())
    if FLAGS.picture:
        write_picture(model, patterns, FLAGS.picture)
        print(f"wrote {FLAGS.picture}")


if __name__ == "__main__":
    flag_defs.define_training_flags()
    flags.DEFINE_multi_string("data", [], "Evaluation shards (glob, repeatable); default: the training data.")
    flags.DEFINE_integer("eval_batch_size", 32, "Evaluation batch size.")
    flags.DEFINE_bool("mean_params_baseline", True, "Also evaluate the mean-parameter model.")
    flags.DEFINE_string("picture", None, "PNG of held-out predictions to write.")
    app.run(main)
