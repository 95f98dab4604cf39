"""Evaluation metrics, as the reference code computes them, plus the usual Human3.6M ones.

All errors come out in millimetres (DKD in pixels of the crop):
  * PVE: mean vertex distance with the root rotation zeroed on both sides, no alignment.
  * MPJPE: the same over the 24 SMPL skeleton joints.
  * PVE-T: shape only: both meshes in the same fixed pose (zero, root 3.39 rad about x).
    `scale_free_shape_error` also removes their size (height), which a weak-perspective crop
    cannot show.
  * MPJPE-H36M and PA-MPJPE: H36M-17 joints, pelvis-centred, the latter after a similarity
    (Procrustes) alignment.
  * DKD: distance between annotated dense keypoints and the projection of their surface points
    on the predicted mesh.
"""
import numpy as np
import tensorflow as tf

T_POSE_ROOT = 3.39


def _zero_root(pose):
    return tf.concat([tf.zeros_like(pose[:, :3]), pose[:, 3:]], axis=1)


def _t_pose_vertices(smpl, betas):
    """(B, V, 3) vertices of (B, 10) shapes in PVE-T's fixed pose."""
    count = tf.shape(betas)[0]
    t_pose = tf.concat([tf.fill([count, 1], T_POSE_ROOT), tf.zeros([count, 71])], 1)
    return smpl(betas, t_pose)["vertices"]


def root_aligned(smpl, pose, betas):
    """The SMPL outputs of (B, 72) `pose` and (B, 10) `betas` with the global rotation zeroed: the
    frame in which PVE and MPJPE compare meshes."""
    return smpl(betas, _zero_root(pose))


def mesh_errors(smpl, pred_pose, pred_betas, gt_pose, gt_betas):
    """(B,) PVE, MPJPE and PVE-T in millimetres for SMPL parameters."""
    pred = root_aligned(smpl, pred_pose, pred_betas)
    gt = root_aligned(smpl, gt_pose, gt_betas)
    pve = tf.reduce_mean(tf.norm(pred["vertices"] - gt["vertices"], axis=-1), axis=-1)
    mpjpe = tf.reduce_mean(tf.norm(pred["joints"] - gt["joints"], axis=-1), axis=-1)
    pve_t = tf.reduce_mean(tf.norm(_t_pose_vertices(smpl, pred_betas) - _t_pose_vertices(smpl, gt_betas), axis=-1),
                           axis=-1)
    return {"PVE": 1000 * pve.numpy(), "MPJPE": 1000 * mpjpe.numpy(), "PVE-T": 1000 * pve_t.numpy()}


def scale_free_shape_error(smpl, pred_betas, gt_betas):
    """(B,) PVE-T in millimetres after centring both meshes and scaling the prediction by the
    least-squares factor: the shape error a crop can reveal (proportions, not height)."""
    pred, gt = _t_pose_vertices(smpl, pred_betas), _t_pose_vertices(smpl, gt_betas)
    pred -= tf.reduce_mean(pred, axis=1, keepdims=True)
    gt -= tf.reduce_mean(gt, axis=1, keepdims=True)
    scale = tf.reduce_sum(pred * gt, axis=[1, 2]) / tf.reduce_sum(pred * pred, axis=[1, 2])
    error = tf.reduce_mean(tf.norm(scale[:, None, None] * pred - gt, axis=-1), axis=-1)
    return 1000 * error.numpy()


def procrustes_align(source, target):
    """Similarity transform of (J, 3) `source` best matching `target` (least squares); returns the
    aligned source."""
    mu_s, mu_t = source.mean(axis=0), target.mean(axis=0)
    s, t = source - mu_s, target - mu_t
    u, sigma, vt = np.linalg.svd(s.T @ t)
    d = np.sign(np.linalg.det(u @ vt))
    correction = np.diag([1.0, 1.0, d])
    rotation = u @ correction @ vt
    scale = (sigma * np.diag(correction)).sum() / (s ** 2).sum()
    return scale * s @ rotation + mu_t


def joint_errors(pred_joints, gt_joints):
    """(B,) MPJPE-H36M and PA-MPJPE in millimetres for (B, 17, 3) joints (pelvis first)."""
    pred = pred_joints - pred_joints[:, :1]
    gt = gt_joints - gt_joints[:, :1]
    mpjpe = np.linalg.norm(pred - gt, axis=-1).mean(axis=-1)
    pa = np.array([np.linalg.norm(procrustes_align(p, g) - g, axis=-1).mean() for p, g in zip(pred, gt)])
    return {"MPJPE-H36M": 1000 * mpjpe, "PA-MPJPE": 1000 * pa}


def dense_keypoint_distance(pred_dense, target, mask, crop_size):
    """(B,) mean pixel distance of valid dense keypoints (normalised coordinates in)."""
    dist = np.linalg.norm(pred_dense - target, axis=-1) * crop_size / 2.0
    return (dist * mask).sum(axis=-1) / np.maximum(mask.sum(axis=-1), 1)


def eval14_errors(pred_vertices, pred_h36m, gt_vertices, gt_h36m):
    """(B,) errors in millimetres of the peers' 3DPW protocol (SPIN, VIBE).

    Both sides are centred on their H36M pelvis (regressed from the mesh); MPJPE-14 and PA-MPJPE-14
    are over the 14 LSP joints (`conventions.EVAL14_FROM_H36M`), the latter after a similarity
    alignment; PVE over the pelvis-centred vertices, no alignment.

    Args:
      pred_vertices, gt_vertices: (B, V, 3); pred_h36m, gt_h36m: (B, 17, 3) H36M joints.
    """
    from tfhybrid.conventions import EVAL14_FROM_H36M

    pred_pelvis, gt_pelvis = pred_h36m[:, :1], gt_h36m[:, :1]
    pred = (pred_h36m - pred_pelvis)[:, EVAL14_FROM_H36M]
    gt = (gt_h36m - gt_pelvis)[:, EVAL14_FROM_H36M]
    mpjpe = np.linalg.norm(pred - gt, axis=-1).mean(axis=-1)
    pa = np.array([np.linalg.norm(procrustes_align(p, g) - g, axis=-1).mean() for p, g in zip(pred, gt)])
    pve = np.linalg.norm((pred_vertices - pred_pelvis) - (gt_vertices - gt_pelvis), axis=-1).mean(axis=-1)
    return {"MPJPE-14": 1000 * mpjpe, "PA-MPJPE-14": 1000 * pa, "PVE": 1000 * pve}
