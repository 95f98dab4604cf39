"""Dense keypoints: points on mesh faces given by three vertex ids and barycentric weights."""
import keras
import tensorflow as tf


def gather_dense_keypoints(points, vertex_ids, barycentric):
    """Barycentric combination of per-vertex points (2D projections or 3D positions).

    Args:
      points: (B, V, C) per-vertex values, e.g. projected vertices with C = 2.
      vertex_ids: (B, N, 3) int32 vertex ids of the face holding each dense keypoint.
      barycentric: (B, N, 3) weights of the three vertices (rows sum to 1 for real points;
        padded points may carry zeros).
    Returns:
      (B, N, C) the dense keypoints.
    """
    points = tf.convert_to_tensor(points)
    vertex_ids = tf.convert_to_tensor(vertex_ids, tf.int32)
    barycentric = tf.convert_to_tensor(barycentric, points.dtype)
    if points.shape.rank != 3:
        raise ValueError(f"points must be (B, V, C); got shape {points.shape}")
    if vertex_ids.shape.rank != 3 or vertex_ids.shape[-1] not in (None, 3):
        raise ValueError(f"vertex_ids must be (B, N, 3); got shape {vertex_ids.shape}")
    if barycentric.shape.rank != 3 or barycentric.shape[-1] not in (None, 3):
        raise ValueError(f"barycentric must be (B, N, 3); got shape {barycentric.shape}")
    corners = tf.gather(points, vertex_ids, batch_dims=1)
    return tf.reduce_sum(corners * barycentric[..., None], axis=2)


class DenseKeypointGather(keras.layers.Layer):
    """`layer(points (B, V, C), vertex_ids (B, N, 3), barycentric (B, N, 3)) -> (B, N, C)`."""

    def call(self, points, vertex_ids, barycentric):
        return gather_dense_keypoints(points, vertex_ids, barycentric)
