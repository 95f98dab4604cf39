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


class WeakPerspectiveProjection(keras.layers.Layer):
    """`layer(points (B, N, 3), cam (B, 3)) -> (B, N, 2)`; see `project_weak_perspective`."""

    def call(self, points, cam):
        return project_weak_perspective(points, cam)
