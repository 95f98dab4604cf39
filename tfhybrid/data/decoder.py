"""Example -> tensors (the decoder half of Model Garden's decoder/parser split).

`decode(serialized)` parses one schema Example and decodes its images; it does no augmentation
and no normalisation (those are the parser's, `tfhybrid.data.parser`).
"""
import tensorflow as tf

from tfhybrid.data import schema


def decode(serialized):
    """Decodes one serialized Example.

    Returns:
      dict of tensors: 'image' (S, S, 3) uint8 RGB, 'iuv' (S, S, 3) uint8 (I, U, V), 'seg' (S, S)
      uint8, 'keypoints2d' (19, 3), 'joints3d' (17, 3), 'smpl_pose' (72,), 'smpl_betas' (10,),
      'dense_xy' (N, 2), 'dense_vertex_ids' (N, 3) int32, 'dense_barycentric' (N, 3), their
      '_flipped' correspondences, 'crop_box' (3,), 'smpl_gender', 'dataset', 'source_id', 'source_image', and the six int32 flags
      (has_2d, has_3d, has_smpl, has_dense, has_iuv, has_seg). Coordinates are crop pixels.
    """
    f = tf.io.parse_single_example(serialized, schema.FEATURES)
    size = tf.cast(f["image/size"], tf.int32)
    image = tf.io.decode_jpeg(f["image/encoded"], channels=3)

    def png_or_zeros(key, flag, channels):
        return tf.cond(f[flag] > 0, lambda: tf.io.decode_png(f[key], channels=channels),
                       lambda: tf.zeros(tf.stack([size, size, channels]), tf.uint8))

    iuv = png_or_zeros("iuv/encoded", "has_iuv", 3)
    seg = png_or_zeros("seg/encoded", "has_seg", 1)[..., 0]

    def rows(key, width, dtype):
        return tf.cast(tf.reshape(tf.sparse.to_dense(f[key]), [-1, width]), dtype)

    out = {
        "image": tf.ensure_shape(image, [None, None, 3]), "iuv": tf.ensure_shape(iuv, [None, None, 3]),
        "seg": seg, "keypoints2d": f["keypoints2d"], "joints3d": f["joints3d"], "smpl_pose": f["smpl/pose"],
        "smpl_betas": f["smpl/betas"], "crop_box": f["crop/box"],
        "smpl_gender": f["smpl/gender"], "dataset": f["source/dataset"], "source_id": f["source/id"],
        "source_image": f["source/image"],
    }
    for name, feature, width in schema.DENSE_FIELDS:
        out[name] = rows(feature, width, tf.int32 if schema.FEATURES[feature].dtype == tf.int64 else tf.float32)
    for flag in schema.ANNOTATION_FLAGS:
        out[flag] = tf.cast(f[flag], tf.int32)
    return out
