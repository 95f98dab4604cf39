"""Weak-perspective projection into the normalised crop frame (HMR/DCT camera convention).

See `tfhybrid.camera` for conversions of this camera to perspective and to image pixels.
"""
import keras
import tensorflow as tf

from tfhybrid import camera


def project_weak_perspective(points, cam):
    """Projects 3D points with a weak-perspective camera `cam = [s, tx, ty]`: x = s * (X_xy + t).

    Args:
      points: (B, N, 3) points in the camera-aligned body frame (y down the image after the
        mean pose's root flip), metres.
      cam: (B, 3) scale and translation.
    Returns:
      (B, N, 2) points in the normalised crop frame, [-1, 1] across the crop.
    """
    points = tf.convert_to_tensor(points)
    cam = tf.convert_to_tensor(cam, dtype=points.dtype)
    if points.shape.rank != 3 or points.shape[-1] not in (None, 3):
        raise ValueError(f"points must be (B, N, 3); got shape {points.shape}")
    if cam.shape.rank != 2 or cam.shape[-1] not in (None, 3):
        raise ValueError(f"cam must be (B, 3) = [s, tx, ty]; got shape {cam.shape}")
    return camera.weak_perspective(points, cam)


def fit_weak_perspective(points, targets, weights):
    """The least-squares weak-perspective camera that projects `points` onto `targets`.

    Minimises sum_n w_n |s (X_n,xy + t) - u_n|^2 in closed form: with a = s and b = s t the
    projection a X_xy + b is linear, so a = cov(X, u) / var(X) over the weighted points.

    Args:
      points: (B, N, 3) body points; targets: (B, N, 2) in the normalised crop frame; weights:
        (B, N) (e.g. keypoint visibility), at least two distinct points per sample.
    Returns:
      (B, 3) [s, tx, ty].
    """
    points = tf.convert_to_tensor(points, tf.float32)[..., :2]
    targets = tf.convert_to_tensor(targets, tf.float32)
    weights = tf.convert_to_tensor(weights, tf.float32)[..., None]
    total = tf.reduce_sum(weights, axis=1, keepdims=True)
    mean_x = tf.reduce_sum(weights * points, axis=1, keepdims=True) / total
    mean_u = tf.reduce_sum(weights * targets, axis=1, keepdims=True) / total
    dx, du = points - mean_x, targets - mean_u
    scale = tf.reduce_sum(weights * dx * du, axis=[1, 2]) / tf.reduce_sum(weights * dx * dx, axis=[1, 2])
    offset = mean_u[:, 0] - scale[:, None] * mean_x[:, 0]
    return tf.concat([scale[:, None], offset / scale[:, None]], axis=-1)


class WeakPerspectiveProjection(keras.layers.Layer):
    """`layer(points (B, N, 3), cam (B, 3)) -> (B, N, 2)`; see `project_weak_perspective`."""

    def call(self, points, cam):
        return project_weak_perspective(points, cam)
