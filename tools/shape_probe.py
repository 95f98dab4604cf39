"""Shape probe: how much of the body shape a crop shows, and how much of it a run's model predicts.

    python tools/shape_probe.py --body_model=out/study/cpu/benchmark/world/models/toy_smpl_neutral.npz \
        --crop=64 [--run=out/study/cpu/runs/<run>/model --data='out/study/cpu/benchmark/records/eval/up-3d-test-*']

For each of the body model's 10 shape coefficients: how far one standard deviation moves the
vertices (root mean square, mm), what is left of that after removing a uniform scale (which a crop under a
weak-perspective camera cannot show), and that remainder in crop pixels. With `--run`, the
model's predicted shape coefficients on the people of `--data` against the truth: the spread of
each and R^2 (1: the shape is predicted; 0: the mean shape is). docs/results.md uses it to read
PVE-T.
"""
import json

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS


def shape_effects(v_template, shapedirs):
    """Per shape coefficient, the root-mean-square vertex displacement of one unit and of its part
    left after removing the best (least-squares) uniform scale about the template's centroid and
    translation, in the model's units.

    Args:
      v_template: (V, 3); shapedirs: (V, 3, K).
    Returns:
      (displacement (K,), scale-free displacement (K,), scale (K,) per unit).
    """
    centred = v_template - v_template.mean(axis=0)
    displacement, scale_free, scales = [], [], []
    for k in range(shapedirs.shape[-1]):
        direction = shapedirs[:, :, k]
        moved = direction - direction.mean(axis=0)
        scale = float(np.sum(moved * centred) / np.sum(centred * centred))
        displacement.append(np.sqrt(np.mean(np.sum(direction ** 2, axis=1))))
        scale_free.append(np.sqrt(np.mean(np.sum((moved - scale * centred) ** 2, axis=1))))
        scales.append(scale)
    return np.array(displacement), np.array(scale_free), np.array(scales)


def pixels_per_unit(v_template, crop, margin):
    """Crop pixels per model unit when the standing template's height spans the crop side / margin
    (the converters' crop: `margin` times the person box's longer side)."""
    height = float(np.ptp(v_template[:, 1]))
    return crop / margin / height


def coefficient_fit(predicted, truth):
    """Per coefficient: (truth's standard deviation, the prediction's, R^2 of the prediction).

    Args:
      predicted, truth: (N, K).
    """
    residual = np.sum((predicted - truth) ** 2, axis=0)
    spread = np.sum((truth - truth.mean(axis=0)) ** 2, axis=0)
    return truth.std(axis=0), predicted.std(axis=0), 1.0 - residual / spread


def predicted_betas(model_dir, pattern, batch_size=64):
    """(predicted (N, 10), true (N, 10)) shape coefficients of the people with SMPL in `pattern`."""
    from tfhybrid import evaluate

    model, _ = evaluate.restore_model(model_dir)
    predicted, truth = [], []
    for batch, outputs in evaluate.predictions(model, [pattern], batch_size):
        keep = batch["has_smpl"].numpy() > 0
        predicted.append(outputs["betas"].numpy()[keep])
        truth.append(batch["smpl_betas"].numpy()[keep])
    if not any(len(t) for t in truth):
        raise ValueError(f"{pattern}: no record with SMPL parameters (has_smpl); the probe needs the true shape")
    return np.concatenate(predicted), np.concatenate(truth)


def main(argv):
    del argv
    from tfhybrid.bodymodel import load_body_model

    body = load_body_model(FLAGS.body_model)
    v_template, shapedirs = body.v_template, body.shapedirs[:, :, :10]
    displacement, scale_free, scales = shape_effects(v_template, shapedirs)
    per_pixel = pixels_per_unit(v_template, FLAGS.crop, FLAGS.margin)
    report = {"crop": FLAGS.crop, "mm_per_pixel": 1000.0 / per_pixel, "coefficients": []}
    print(f"{FLAGS.body_model}: at a {FLAGS.crop}-px crop (margin {FLAGS.margin}) one pixel is "
          f"{1000.0 / per_pixel:.0f} mm of a standing body")
    print("beta  moves (mm)  scale  scale-free (mm)  scale-free (px)")
    for k in range(len(displacement)):
        report["coefficients"].append({"beta": k, "moves_mm": float(1000.0 * displacement[k]),
                                       "scale": float(scales[k]), "scale_free_mm": float(1000.0 * scale_free[k]),
                                       "scale_free_px": float(scale_free[k] * per_pixel)})
        print(f"{k:4d}  {1000.0 * displacement[k]:10.1f}  {scales[k]:+.3f}  {1000.0 * scale_free[k]:15.1f}  "
              f"{scale_free[k] * per_pixel:15.2f}")
    # Independent unit coefficients: the expected squared displacements add.
    total = float(np.sqrt(np.sum(scale_free ** 2)))
    report["all_scale_free_mm"], report["all_scale_free_px"] = 1000.0 * total, total * per_pixel
    print(f"all ten at one standard deviation: {1000.0 * total:.1f} mm scale-free, {total * per_pixel:.2f} px")
    if FLAGS.run:
        if not FLAGS.data:
            raise app.UsageError("--run needs --data: the records whose people the model is probed on")
        predicted, truth = predicted_betas(FLAGS.run, FLAGS.data)
        true_std, predicted_std, r2 = coefficient_fit(predicted, truth)
        report["prediction"] = {"run": FLAGS.run, "data": FLAGS.data, "people": len(truth),
                                "true_std": true_std.tolist(), "predicted_std": predicted_std.tolist(),
                                "r2": r2.tolist()}
        print(f"{FLAGS.run} on {FLAGS.data}: {len(truth)} people")
        print("beta  true sd  predicted sd     R^2")
        for k in range(len(r2)):
            print(f"{k:4d}  {true_std[k]:7.2f}  {predicted_std[k]:12.2f}  {r2[k]:+6.2f}")
    if FLAGS.out:
        from tfhybrid.fileio import write_bytes

        write_bytes(FLAGS.out, json.dumps(report, indent=1).encode() + b"\n")


if __name__ == "__main__":
    flags.DEFINE_string("body_model", None, "Body model (.npz or SMPL .pkl).", required=True)
    flags.DEFINE_integer("crop", 64, "Crop side in pixels of the records the model reads.")
    flags.DEFINE_float("margin", 1.2, "The converters' crop margin (crop side over the person box's longer side).")
    flags.DEFINE_string("run", None, "Model directory whose predicted shape is probed (optional).")
    flags.DEFINE_string("data", None, "Records (glob) of the people the model is probed on.")
    flags.DEFINE_string("out", None, "Also write the figures to this JSON file.")
    app.run(main)
