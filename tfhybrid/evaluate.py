"""Evaluates a trained model: `python -m tfhybrid.evaluate --model_dir=... --data=GLOB [--data=...]`.

The data are named, never assumed. Per dataset in the records, prints and writes
`model_dir/metrics/<dataset>-<split>.json` (millimetres; DKD in crop pixels) with the data read and
each protocol's text beside its numbers (`tfhybrid.protocols`): DCT's (PVE, MPJPE and PVE-T where
SMPL ground truth exists, MPJPE-H36M and PA-MPJPE where 3D joints exist, DKD where dense keypoints
exist), 3DPW's with gendered ground truth (`--body_model_male/--body_model_female`) and Human3.6M's
protocol 2. `--mean_params_baseline` also evaluates the mean-parameter model (every prediction equal
to the mean), the baseline a trained model must beat.
"""
import glob
import json
import os
import re

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


def predictions(model, patterns, batch_size=32, mean_only=False):
    """Yields (batch, outputs) over the records matching `patterns`, in order, the inputs resized
    as the model was trained (`preprocess.resize_inputs`); `mean_only` gives the mean-parameter
    model's outputs instead."""
    from tfhybrid.data.pipeline import make_dataset

    for batch in make_dataset(list(patterns), batch_size, training=False):
        if mean_only:
            yield batch, mean_parameter_outputs(model, batch["image"].shape[0])
        else:
            yield batch, model(preprocess.resize_inputs(batch, model.options.input_size), training=False)


def evaluate(model, patterns, batch_size=32, mean_only=False, gendered=None):
    """{dataset: {metric: mean}} over the records matching `patterns`.

    DCT's metrics are named plainly ('PVE', ...), the peers' protocols' with their protocol
    ('3dpw/PVE', 'h36m-p2/PA-MPJPE'); 'samples' (and '<protocol>/samples') count the people.
    Args:
      gendered: optional (male, female) `SMPL` layers: 3DPW records are then also evaluated with
        3DPW's protocol.
    """
    from tfhybrid import metrics
    from tfhybrid.layers import gather_dense_keypoints

    per_dataset = {}
    for batch, out in predictions(model, patterns, batch_size, mean_only):
        crop = batch["image"].shape[1]
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
        rows.update(_protocol_rows(model, batch, out, names, gendered))
        for i, name in enumerate(names):
            entry = per_dataset.setdefault(name, {})
            for k, v in rows.items():
                if np.isfinite(v[i]):
                    entry.setdefault(k, []).append(float(v[i]))
    results = {}
    for name, values in per_dataset.items():
        if not values:
            continue
        results[name] = {k: float(np.mean(v)) for k, v in values.items()}
        for protocol in {k.split("/")[0] for k in values if "/" in k} | {""}:
            prefix = f"{protocol}/" if protocol else ""
            results[name][f"{prefix}samples"] = max(len(v) for k, v in values.items() if
                                                    (k.startswith(prefix) if protocol else "/" not in k))
    return results


def _protocol_rows(model, batch, out, names, gendered):
    """{'<protocol>/<metric>': (B,) values, NaN where the record is outside the protocol}."""
    from tfhybrid import metrics, protocols

    rows = {}
    source_ids = [s.decode() for s in batch["source_id"].numpy()]
    has_smpl = batch["has_smpl"].numpy() > 0
    pw3d = np.array([n == "3dpw" for n in names]) & has_smpl
    if gendered is not None and pw3d.any():
        index = np.where(pw3d)[0]
        genders = protocols.gender_index([g.decode() for g in batch["smpl_gender"].numpy()[index]],
                                         [source_ids[i] for i in index])
        pose, betas = batch["smpl_pose"].numpy()[index], batch["smpl_betas"].numpy()[index]
        truth = [layer(betas, pose) for layer in gendered]
        gt_vertices = np.where(genders[:, None, None] == 0, truth[0]["vertices"].numpy(), truth[1]["vertices"].numpy())
        gt_h36m = np.where(genders[:, None, None] == 0, truth[0]["joints_h36m"].numpy(),
                           truth[1]["joints_h36m"].numpy())
        errors = metrics.eval14_errors(out["vertices"].numpy()[index], out["joints_h36m"].numpy()[index],
                                       gt_vertices, gt_h36m)
        for key, values in errors.items():
            rows[f"3dpw/{key}"] = np.full(len(names), np.nan)
            rows[f"3dpw/{key}"][index] = values
    h36m = np.array([n == "h36m" for n in names]) & (batch["has_3d"].numpy() > 0)
    if h36m.any():
        index = np.where(h36m)[0]
        images = [s.decode() for s in batch["source_image"].numpy()[index]]
        index = index[protocols.h36m_p2_mask(images, [source_ids[i] for i in index])]
        if index.size:
            errors = metrics.joint_errors(out["joints_h36m"].numpy()[index], batch["joints3d"].numpy()[index])
            rows["h36m-p2/PA-MPJPE"] = np.full(len(names), np.nan)
            rows["h36m-p2/PA-MPJPE"][index] = errors["PA-MPJPE"]
    return rows


def write_picture(model, patterns, path, count=6, display_size=192):
    """Held-out crops with the predicted mesh (middle) and the ground truth (right, where known),
    drawn at `display_size` pixels."""
    import cv2

    from tfhybrid.fileio import write_image
    from tfhybrid.visualize import overlay_mesh, prediction_sheet

    batch, out = next(predictions(model, patterns, count))
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


PROTOCOL_COLUMNS = {"dct": ("PVE", "MPJPE", "PVE-T", "MPJPE-H36M", "PA-MPJPE", "DKD"),
                    "3dpw": ("MPJPE-14", "PA-MPJPE-14", "PVE"), "h36m-p2": ("PA-MPJPE",)}


def split_names(dataset, files):
    """The splits of `dataset` among converted shard names ('<dataset>-<split>-NNNNN-of-NNNNN.tfrecord')."""
    pattern = re.compile(rf"{re.escape(dataset)}-(.+)-\d{{5}}-of-\d{{5}}\.tfrecord$")
    return sorted({m.group(1) for m in (pattern.match(os.path.basename(f)) for f in files) if m})


def dataset_report(dataset, model_metrics, baseline_metrics, files, patterns, checkpoint, gendered):
    """The metrics file of one dataset: the data read, and per protocol its text and numbers."""
    from tfhybrid import protocols

    report = {"dataset": dataset, "splits": split_names(dataset, files), "data": list(patterns),
              "shards": [f for f in files if os.path.basename(f).startswith(f"{dataset}-")] or files,
              "checkpoint": checkpoint, "protocols": {}}
    for protocol in ("dct", protocols.DATASET_PROTOCOLS.get(dataset)):
        if protocol is None:
            continue
        prefix = "" if protocol == "dct" else f"{protocol}/"
        entry = {"description": protocols.DESCRIPTIONS[protocol]}
        for name, values in (("model", model_metrics), ("mean_params", baseline_metrics)):
            if values is None:
                continue
            chosen = {k[len(prefix):]: v for k, v in values.items()
                      if (k.startswith(prefix) if prefix else "/" not in k)}
            if chosen:
                entry[name] = chosen
        if "model" not in entry:
            entry["not_computed"] = ("needs --body_model_male and --body_model_female" if protocol == "3dpw"
                                     and gendered is None else "no record of the data falls under this protocol")
        report["protocols"][protocol] = entry
    return report


def format_report(report):
    lines = [f"{report['dataset']} ({'+'.join(report['splits']) or 'records'}):"]
    for protocol, entry in report["protocols"].items():
        if "not_computed" in entry:
            lines.append(f"  protocol {protocol}: not computed, {entry['not_computed']}")
            continue
        columns = [c for c in PROTOCOL_COLUMNS[protocol] if c in entry["model"]]
        lines.append(f"  protocol {protocol} ({entry['model']['samples']} people):")
        lines.append("  | model | " + " | ".join(columns) + " |")
        lines.append("  |---|" + "---|" * len(columns))
        for name, label in (("model", "trained"), ("mean_params", "mean parameters")):
            if name in entry:
                lines.append(f"  | {label} | " + " | ".join(f"{entry[name][c]:.1f}" if c in entry[name] else "-"
                                                          for c in columns) + " |")
    return "\n".join(lines)


def evaluation_files(patterns, body_model_male=None, body_model_female=None):
    """The shards `patterns` name; UsageError when none is named or found, or when only one of the
    gendered body models is given."""
    if not patterns:
        raise app.UsageError("--data is required: the shards to evaluate, e.g. "
                             "--data='out/records/up-3d-test-*.tfrecord' (the training data are never assumed)")
    files = sorted({f for pattern in patterns for f in glob.glob(pattern)})
    if not files:
        raise app.UsageError(f"--data {list(patterns)} matches no file")
    if bool(body_model_male) != bool(body_model_female):
        raise app.UsageError("3DPW's protocol needs both --body_model_male and --body_model_female")
    return files


def main(argv):
    del argv
    from tfhybrid import protocols
    from tfhybrid.fileio import write_bytes

    files = evaluation_files(FLAGS.data, FLAGS.body_model_male, FLAGS.body_model_female)
    try:
        from tfhybrid.bodymodel import load_body_model
        from tfhybrid.config import load_run_config
        from tfhybrid.layers import SMPL
        from tfhybrid.models.hybrid import NUM_BETAS

        model, checkpoint = restore_model(FLAGS.model_dir)
        gendered = None
        if FLAGS.body_model_male:
            neutral = load_body_model(load_run_config(FLAGS.model_dir).body_model)
            gendered = tuple(SMPL(m, num_betas=NUM_BETAS) for m in
                             protocols.gendered_models(FLAGS.body_model_male, FLAGS.body_model_female, neutral))
        print(f"evaluating {checkpoint} on {len(files)} shards: {', '.join(FLAGS.data)}")
        results = evaluate(model, FLAGS.data, FLAGS.eval_batch_size, gendered=gendered)
        baseline = {}
        if FLAGS.mean_params_baseline:
            baseline = evaluate(model, FLAGS.data, FLAGS.eval_batch_size, mean_only=True, gendered=gendered)
    except (ConfigError, FileNotFoundError, ValueError) as error:
        raise app.UsageError(str(error)) from None
    for dataset in sorted(results):
        report = dataset_report(dataset, results[dataset], baseline.get(dataset), files, FLAGS.data, checkpoint,
                                gendered)
        path = os.path.join(FLAGS.model_dir, "metrics", f"{dataset}-{'+'.join(report['splits']) or 'records'}.json")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_bytes(path, json.dumps(report, indent=1).encode())
        print(f"{format_report(report)}\n  -> {path}")
    if FLAGS.picture:
        write_picture(model, FLAGS.data, FLAGS.picture)
        print(f"wrote {FLAGS.picture}")


if __name__ == "__main__":
    flag_defs.define_training_flags()
    flags.DEFINE_multi_string("data", [], "Evaluation shards (glob, repeatable); required.")
    flags.DEFINE_string("body_model_male", None, "Male SMPL model, for 3DPW's gendered ground truth.")
    flags.DEFINE_string("body_model_female", None, "Female SMPL model, for 3DPW's gendered ground truth.")
    flags.DEFINE_integer("eval_batch_size", 32, "Evaluation batch size.")
    flags.DEFINE_bool("mean_params_baseline", True, "Also evaluate the mean-parameter model.")
    flags.DEFINE_string("picture", None, "PNG of held-out predictions to write.")
    app.run(main)
