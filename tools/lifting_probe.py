"""Lifting probe: how well the 3D body follows from perfect 2D keypoints, without an image.

    python tools/lifting_probe.py --body_model=out/study/cpu/benchmark/world/models/toy_smpl_neutral.npz \
        --train='out/study/cpu/benchmark/records/refined/up-3d-train-*' \
        --train='out/study/cpu/benchmark/records/refined/h36m-train-*' \
        --eval='out/study/cpu/benchmark/records/eval/up-3d-test-*' [--with_root]

Fits a ridge regression from the records' ground-truth 2D keypoints (crop-normalised, invisible
ones zeroed, visibility kept) to the root-aligned mesh (DCT's PVE frame) on the people of
`--train` that have SMPL, and reports PVE and MPJPE on those of `--eval`, beside the mean
training mesh's. `--with_root` also gives it the true global rotation (as the oracle has). A
learned model worse than this line reads the 3D from the image worse than a linear map reads it
from exact keypoints: its limit is seeing the body, not lifting it (docs/results.md).
"""
import glob

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS


def read_people(patterns):
    """(features (N, 57), pose (N, 72), betas (N, 10)) of the people with SMPL in the records of
    `patterns`: the 19 keypoints as (x / crop - 0.5, y / crop - 0.5, visibility), zero where invisible."""
    import tensorflow as tf

    from tfhybrid.data import schema

    files = sorted(f for pattern in patterns for f in glob.glob(pattern))
    if not files:
        raise ValueError(f"no records match {list(patterns)}")
    keys = {k: schema.FEATURES[k] for k in ("keypoints2d", "smpl/pose", "smpl/betas", "has_smpl", "image/size")}
    features, pose, betas = [], [], []
    for batch in tf.data.TFRecordDataset(files).map(lambda r: tf.io.parse_single_example(r, keys)).batch(512):
        keep = batch["has_smpl"].numpy() > 0
        size = batch["image/size"].numpy()[keep].astype(np.float64)
        points = batch["keypoints2d"].numpy()[keep].astype(np.float64)
        points[:, :, :2] = points[:, :, :2] / size[:, None, None] - 0.5
        points[points[:, :, 2] <= 0, :2] = 0.0
        features.append(points.reshape(len(points), -1))
        pose.append(batch["smpl/pose"].numpy()[keep])
        betas.append(batch["smpl/betas"].numpy()[keep])
    if not sum(len(f) for f in features):
        raise ValueError(f"{files[0]} ...: no record with SMPL parameters (has_smpl); the probe needs the true mesh")
    return np.concatenate(features), np.concatenate(pose), np.concatenate(betas)


def root_rotation_features(pose):
    """(N, 9) rotation matrices of the global rotations of (N, 72) axis-angle poses."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_rotvec(pose[:, :3]).as_matrix().reshape(len(pose), 9)


def aligned_meshes(smpl, pose, betas, batch_size=256):
    """((N, V, 3) vertices, (N, J, 3) joints) in the frame PVE compares them in (`metrics.root_aligned`)."""
    from tfhybrid.metrics import root_aligned

    vertices, joints = [], []
    for start in range(0, len(pose), batch_size):
        out = root_aligned(smpl, np.asarray(pose[start:start + batch_size], np.float32),
                           np.asarray(betas[start:start + batch_size], np.float32))
        vertices.append(out["vertices"].numpy())
        joints.append(out["joints"].numpy())
    return np.concatenate(vertices), np.concatenate(joints)


def ridge_fit(features, targets, strength):
    """(F + 1, T) weights (the last row the bias) minimising |[X 1] W - Y|^2 + strength |W|^2."""
    design = np.concatenate([features, np.ones((len(features), 1))], axis=1)
    return np.linalg.solve(design.T @ design + strength * np.eye(design.shape[1]), design.T @ targets)


def ridge_predict(weights, features):
    return np.concatenate([features, np.ones((len(features), 1))], axis=1) @ weights


def mean_error_mm(predicted, truth):
    """Mean Euclidean distance in mm of (N, P, 3) point sets in metres."""
    return 1000.0 * float(np.linalg.norm(predicted - truth, axis=-1).mean())


def main(argv):
    del argv
    from tfhybrid.bodymodel import load_body_model
    from tfhybrid.layers import SMPL

    smpl = SMPL(load_body_model(FLAGS.body_model))
    train_x, train_pose, train_betas = read_people(FLAGS.train)
    eval_x, eval_pose, eval_betas = read_people(FLAGS.eval)
    if FLAGS.with_root:
        train_x = np.concatenate([train_x, root_rotation_features(train_pose)], axis=1)
        eval_x = np.concatenate([eval_x, root_rotation_features(eval_pose)], axis=1)
    train_v, train_j = aligned_meshes(smpl, train_pose, train_betas)
    eval_v, eval_j = aligned_meshes(smpl, eval_pose, eval_betas)
    targets = np.concatenate([train_v.reshape(len(train_v), -1), train_j.reshape(len(train_j), -1)], axis=1)
    weights = ridge_fit(train_x, targets, FLAGS.strength)
    predicted = ridge_predict(weights, eval_x)
    num_v = train_v.shape[1] * 3
    lifted_v = predicted[:, :num_v].reshape(eval_v.shape)
    lifted_j = predicted[:, num_v:].reshape(eval_j.shape)
    print(f"{len(train_x)} training people, {len(eval_x)} evaluated; features: 2D keypoints"
          + (" + true global rotation" if FLAGS.with_root else ""))
    print(f"mean training mesh:  PVE {mean_error_mm(train_v.mean(0)[None], eval_v):6.1f}  "
          f"MPJPE {mean_error_mm(train_j.mean(0)[None], eval_j):6.1f}")
    print(f"ridge lift:          PVE {mean_error_mm(lifted_v, eval_v):6.1f}  MPJPE {mean_error_mm(lifted_j, eval_j):6.1f}")


if __name__ == "__main__":
    flags.DEFINE_string("body_model", None, "Body model of the records.", required=True)
    flags.DEFINE_multi_string("train", None, "Records (glob) the lift is fitted on.", required=True)
    flags.DEFINE_multi_string("eval", None, "Records (glob) it is evaluated on.", required=True)
    flags.DEFINE_bool("with_root", False, "Also give the lift the true global rotation.")
    flags.DEFINE_float("strength", 1e-2, "Ridge strength.")
    app.run(main)
