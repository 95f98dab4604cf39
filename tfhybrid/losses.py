"""Per-example losses of the paper (eqs. 1-5), each gated by what the sample carries.

Every function returns a (B,) vector; the training step sums the weighted terms and reduces them
with `tf.nn.compute_average_loss(..., global_batch_size=...)`, so the result does not depend on the
number of replicas. Coordinates are in the normalised crop frame [-1, 1].
"""
import tensorflow as tf

from tfhybrid.data.schema import MIN_DENSE_POINTS
from tfhybrid.layers.dense import gather_dense_keypoints
from tfhybrid.layers.rotation import rodrigues


def keypoint_loss(predicted, target, has_2d):
    """L1 between predicted and annotated 2D keypoints over visible joints (eq. 2).

    Args:
      predicted: (B, J, 2); target: (B, J, 3) [u, v, visible]; has_2d: (B,).
    Returns:
      (B,) mean absolute error per visible coordinate (0 without visible joints).
    """
    visible = target[..., 2]
    error = tf.reduce_sum(tf.abs(predicted - target[..., :2]), axis=-1) * visible
    count = tf.reduce_sum(visible, axis=-1)
    return has_2d * tf.math.divide_no_nan(tf.reduce_sum(error, axis=-1), 2.0 * count)


def dense_loss(predicted, target, mask, has_dense):
    """L1 between annotated dense keypoints and the barycentric combination of projected vertices
    (eq. 4), over valid points; zero for samples with fewer than `MIN_DENSE_POINTS` valid points.

    Args:
      predicted: (B, D, 2); target: (B, D, 2); mask: (B, D) valid points; has_dense: (B,).
    """
    count = tf.reduce_sum(mask, axis=-1)
    error = tf.reduce_sum(tf.reduce_sum(tf.abs(predicted - target), axis=-1) * mask, axis=-1)
    enough = tf.cast(count >= MIN_DENSE_POINTS, error.dtype)
    return has_dense * enough * tf.math.divide_no_nan(error, 2.0 * count)


def smpl_loss(predicted_rotations, predicted_betas, target_pose, target_betas, has_smpl, terms="both"):
    """Squared error between rotation matrices of joints 1..23 and between betas (eq. 1, second
    term), averaged over the 207 + 10 numbers as DCT does.

    Args:
      predicted_rotations: (B, 24, 3, 3); predicted_betas: (B, 10); target_pose: (B, 72)
      axis-angle; target_betas: (B, 10); has_smpl: (B,); terms: 'both', 'pose' or 'shape'
      (the paper's Table 4 ablation).
    """
    target_rotations = rodrigues(tf.reshape(target_pose, [-1, 24, 3]))
    pose_error = tf.reduce_sum(tf.square(predicted_rotations[:, 1:] - target_rotations[:, 1:]), axis=[1, 2, 3])
    shape_error = tf.reduce_sum(tf.square(predicted_betas - target_betas), axis=-1)
    if terms == "pose":
        total, count = pose_error, 207.0
    elif terms == "shape":
        total, count = shape_error, 10.0
    elif terms == "both":
        total, count = pose_error + shape_error, 217.0
    else:
        raise ValueError(f"terms must be 'both', 'pose' or 'shape', got {terms!r}")
    return has_smpl * total / count


def joints3d_loss(predicted, target, has_3d):
    """Squared error of root-centred 3D joints (eq. 1, first term), averaged over coordinates.

    Args:
      predicted, target: (B, J, 3) with joint 0 the root; has_3d: (B,).
    """
    predicted = predicted - predicted[:, :1]
    target = target - target[:, :1]
    return has_3d * tf.reduce_mean(tf.square(predicted - target), axis=[1, 2])


def weighted_terms(outputs, batch, config):
    """The weighted per-example loss terms of a model's outputs on a batch, each (B,).

    Args:
      outputs: from `HybridModel.call` (or `models.hybrid.body_outputs`); batch: from the input
        pipeline; config: `tfhybrid.config.LossConfig`.
    Returns:
      {'keypoints', 'dense', 'smpl'[, 'joints3d']: (B,)}.
    """
    dense_pred = gather_dense_keypoints(outputs["vertices2d"], batch["dense_vertex_ids"], batch["dense_barycentric"])
    terms = {
        "keypoints": config.kp_weight * keypoint_loss(outputs["keypoints2d"], batch["keypoints2d"], batch["has_2d"]),
        "dense": config.applied_dense_weight * dense_loss(dense_pred, batch["dense_xy"], batch["dense_mask"],
                                                          batch["has_dense"]),
        "smpl": config.smpl_weight * smpl_loss(outputs["rotations"], outputs["betas"], batch["smpl_pose"],
                                               batch["smpl_betas"], batch["has_smpl"], config.smpl_terms),
    }
    if "joints_h36m" in outputs:
        terms["joints3d"] = config.joints3d_weight * joints3d_loss(outputs["joints_h36m"], batch["joints3d"],
                                                                   batch["has_3d"])
    return terms
