"""Mirror probe: how often a run's model predicts the mirrored body, the one a plain image cannot
tell from the true one.

    python tools/mirror_probe.py --model_dir=out/study/cpu/runs/<run>/model \
        --data='out/study/cpu/benchmark/records/eval/up-3d-test-*' [--out=mirror.json]

Under a weak-perspective camera a body and its reflection through the image plane project alike;
the reflection is the left-right mirrored body (`conventions.reflect_smpl_pose`) turned about the
vertical axis, and PVE zeroes the root rotation, so in PVE's frame it is the mirrored pose. Clothes
that are the same on both sides leave only the face, hair and shading to tell the two apart; an
IUV map or a part segmentation names the sides. For each person with SMPL the probe measures the
model's PVE to the true body and to its mirror image, and the distance between the two (how
asymmetric the pose is), and reports how often the prediction is nearer the mirror image among
the people whose mirror image lies more than `--threshold` mm from them, and the PVE left if the
mirror confusion were forgiven (docs/results.md, "Why the image input stays near 0.75x").
"""
import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS


def mirror_errors(smpl, pred_pose, pred_betas, gt_pose, gt_betas):
    """Per person: PVE (mm) to the truth, to the mirrored truth, and between the two.

    Args:
      smpl: `tfhybrid.layers.SMPL`; pred_pose, gt_pose: (B, 72) axis-angle; pred_betas, gt_betas: (B, 10).
    Returns:
      {'PVE': (B,), 'PVE-mirror': (B,), 'asymmetry': (B,)}.
    """
    import tensorflow as tf

    from tfhybrid import conventions
    from tfhybrid.metrics import root_aligned

    mirrored_pose = conventions.reflect_smpl_pose(np.asarray(gt_pose)).astype(np.float32)
    predicted, truth, mirrored = (root_aligned(smpl, pose, betas)["vertices"] for pose, betas in
                                  ((pred_pose, pred_betas), (gt_pose, gt_betas), (mirrored_pose, gt_betas)))

    def pve(a, b):
        return 1000 * tf.reduce_mean(tf.norm(a - b, axis=-1), axis=-1).numpy()

    return {"PVE": pve(predicted, truth), "PVE-mirror": pve(predicted, mirrored), "asymmetry": pve(mirrored, truth)}


def root_readings(pred_pose, gt_pose):
    """Per person: the angle (degrees) between the predicted and the true global rotation, and
    whether the true body faces away from the camera (its forward axis, SMPL's +z, turned by the
    root rotation, points into the scene: the camera frame has z forward).

    Args:
      pred_pose, gt_pose: (B, 72) axis-angle.
    Returns:
      {'root-error': (B,), 'facing-away': (B,) bool}.
    """
    from scipy.spatial.transform import Rotation

    predicted = Rotation.from_rotvec(np.asarray(pred_pose, np.float64)[:, :3])
    truth = Rotation.from_rotvec(np.asarray(gt_pose, np.float64)[:, :3])
    return {"root-error": np.degrees((predicted.inv() * truth).magnitude()),
            "facing-away": truth.apply([0.0, 0.0, 1.0])[:, 2] > 0}


def summarize(errors, threshold):
    """The probe's figures from `mirror_errors` over all people.

    Returns {'samples', 'PVE', 'PVE-forgiven' (mean of the nearer of the two readings),
    'asymmetry' (mean distance of the mirror image from the truth), 'side-margin' (mean of
    PVE-mirror - PVE: how much nearer the truth than its mirror image the prediction lies; about
    0 for a model that cannot tell the sides), 'asymmetric' (people whose mirror image lies more
    than `threshold` mm from them), 'nearer-mirror' (the fraction of those nearer the mirror
    image), 'PVE-asymmetric' and 'PVE-nearer-mirror' (their mean PVE)}; with `root_readings`'
    entries in `errors` also 'root-flipped' (the fraction whose predicted global rotation lies more
    than 90 degrees from the truth: the body turned to face the other way) and 'facing-away'.
    """
    pve, mirror, asymmetry = (np.asarray(errors[k], np.float64) for k in ("PVE", "PVE-mirror", "asymmetry"))
    asymmetric = asymmetry > threshold
    nearer = asymmetric & (mirror < pve)
    summary = {"samples": int(pve.size), "PVE": float(pve.mean()),
               "PVE-forgiven": float(np.minimum(pve, mirror).mean()),
               "asymmetry": float(asymmetry.mean()), "side-margin": float((mirror - pve).mean()),
               "asymmetric": int(asymmetric.sum()),
               "nearer-mirror": float(nearer.sum() / max(asymmetric.sum(), 1)),
               "PVE-asymmetric": float(pve[asymmetric].mean()) if asymmetric.any() else float("nan"),
               "PVE-nearer-mirror": float(pve[nearer].mean()) if nearer.any() else float("nan")}
    if "root-error" in errors:
        summary["root-flipped"] = float(np.mean(np.asarray(errors["root-error"]) > 90.0))
        summary["facing-away"] = float(np.mean(errors["facing-away"]))
    return summary


def probe(model_dir, patterns, threshold):
    """`summarize` of `mirror_errors` for the model of `model_dir` on the people with SMPL in the
    records of `patterns`."""
    from tfhybrid.evaluate import predictions, restore_model

    model, _ = restore_model(model_dir)
    errors = {"PVE": [], "PVE-mirror": [], "asymmetry": [], "root-error": [], "facing-away": []}
    for batch, out in predictions(model, patterns):
        keep = batch["has_smpl"].numpy() > 0
        if not keep.any():
            continue
        pred_pose, gt_pose = out["pose"].numpy()[keep], batch["smpl_pose"].numpy()[keep]
        rows = mirror_errors(model.smpl, pred_pose, out["betas"].numpy()[keep], gt_pose,
                             batch["smpl_betas"].numpy()[keep])
        rows.update(root_readings(pred_pose, gt_pose))
        for k, v in rows.items():
            errors[k].append(v)
    if not errors["PVE"]:
        raise ValueError(f"{list(patterns)}: no record with SMPL parameters (has_smpl); the probe needs the true mesh")
    return summarize({k: np.concatenate(v) for k, v in errors.items()}, threshold)


def main(argv):
    del argv
    result = probe(FLAGS.model_dir, FLAGS.data, FLAGS.threshold)
    print(f"{result['samples']} people: PVE {result['PVE']:.1f}, {result['PVE-forgiven']:.1f} with the mirror "
          f"confusion forgiven; the mirror image lies {result['asymmetry']:.1f} from the truth, the prediction "
          f"{result['side-margin']:.1f} nearer the truth than it")
    print(f"{result['asymmetric']} people whose mirror image lies over {FLAGS.threshold:g} mm from them: "
          f"PVE {result['PVE-asymmetric']:.1f}; {100 * result['nearer-mirror']:.1f}% predicted nearer the mirror "
          f"image (PVE {result['PVE-nearer-mirror']:.1f})")
    print(f"{100 * result['facing-away']:.1f}% face away from the camera; {100 * result['root-flipped']:.1f}% "
          f"predicted turned over 90 degrees from their global rotation")
    if FLAGS.out:
        from tfhybrid.config import load_run_config
        from tfhybrid.fileio import write_json

        # The probed run's flags travel with the figures: its model folder is not archived.
        write_json(FLAGS.out, {"model_dir": FLAGS.model_dir, "flags": load_run_config(FLAGS.model_dir).to_flat(),
                               "data": FLAGS.data, "threshold": FLAGS.threshold, **result})


if __name__ == "__main__":
    flags.DEFINE_string("model_dir", None, "Model folder of a run (flags.json and checkpoints).", required=True)
    flags.DEFINE_multi_string("data", None, "Records (glob) with SMPL ground truth.", required=True)
    flags.DEFINE_float("threshold", 50.0, "Mirror-to-truth distance (mm) above which a person's pose counts as "
                       "asymmetric enough to read.")
    flags.DEFINE_string("out", None, "Optional JSON file of the figures.")
    app.run(main)
