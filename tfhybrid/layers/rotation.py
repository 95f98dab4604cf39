"""Axis-angle to rotation matrix (Rodrigues) with an exact value and gradient at zero rotation."""
import keras
import tensorflow as tf

# Below this squared angle the Taylor series are used: their truncation error (angle**6 / 5040)
# is far below float32 resolution, and the closed forms would divide by a vanishing angle.
_SMALL_ANGLE_SQ = 1e-4


def skew(v):
    """Cross-product matrices.

    Args:
      v: (..., 3) vectors.
    Returns:
      (..., 3, 3) matrices K with K @ w = v x w.
    """
    x, y, z = tf.unstack(v, axis=-1)
    zero = tf.zeros_like(x)
    rows = [tf.stack([zero, -z, y], -1), tf.stack([z, zero, -x], -1), tf.stack([-y, x, zero], -1)]
    return tf.stack(rows, axis=-2)


def rodrigues(axis_angle):
    """Rotation matrices from axis-angle vectors.

    Uses R = I + a(t) K + b(t) K^2 with K = skew(axis_angle), t = |axis_angle|, a = sin(t)/t and
    b = (1 - cos t)/t^2, with a and b taken from their Taylor series near t = 0 (guarded with a
    double `tf.where`, so no NaN reaches the gradient). This is exact at zero (R = I, dR = skew(dθ))
    without HMR's 1e-8 offset, and matches `scipy.spatial.transform.Rotation.from_rotvec`.

    Args:
      axis_angle: (..., 3) float axis-angle vectors (rotation angle = norm, radians).
    Returns:
      (..., 3, 3) rotation matrices.
    """
    axis_angle = tf.convert_to_tensor(axis_angle)
    if axis_angle.shape.rank is not None and axis_angle.shape[-1] not in (None, 3):
        raise ValueError(f"rodrigues expects (..., 3) axis-angle vectors, got shape {axis_angle.shape}")
    angle_sq = tf.reduce_sum(tf.square(axis_angle), axis=-1, keepdims=True)[..., None]
    small = angle_sq < _SMALL_ANGLE_SQ
    safe_sq = tf.where(small, tf.ones_like(angle_sq), angle_sq)
    angle = tf.sqrt(safe_sq)
    half_sin = tf.sin(0.5 * angle) / (0.5 * angle)
    a = tf.where(small, 1.0 - angle_sq / 6.0 + tf.square(angle_sq) / 120.0, tf.sin(angle) / angle)
    b = tf.where(small, 0.5 - angle_sq / 24.0 + tf.square(angle_sq) / 720.0, 0.5 * tf.square(half_sin))
    k = skew(axis_angle)
    eye = tf.eye(3, dtype=axis_angle.dtype)
    return eye + a * k + b * tf.matmul(k, k)


class Rodrigues(keras.layers.Layer):
    """Keras layer around `rodrigues`: (..., 3) axis-angle -> (..., 3, 3) rotation matrices."""

    def call(self, axis_angle):
        return rodrigues(axis_angle)
