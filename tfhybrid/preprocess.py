"""The one preprocessing of network inputs, shared by the training pipeline, evaluation, the
SavedModel's serving functions and the demo, so serving cannot drift from training.

Raw inputs are what records and files hold: RGB images as uint8 (or floats in [0, 255]); IUV maps
with channels (I, U, V), I the fine DensePose part 0..24 and U, V in 0..255. Network inputs:
  * 'image' (B, S, S, 3) float32 in [-1, 1];
  * 'iuv' (B, S, S, 3) float32: I / 24, U / 255, V / 255 each mapped to [-1, 1] (DCT);
  * 'seg' (B, S, S) int32 coarse part labels 0..14 (`conventions.FINE_TO_COARSE` of I), one-hot
    encoded inside the model (`branch_tensor`).
"""
import numpy as np
import tensorflow as tf

from tfhybrid import conventions

NUM_SEG_LABELS = int(conventions.FINE_TO_COARSE.max()) + 1
_IUV_SCALE = (24.0, 255.0, 255.0)

# Serving inputs of each branch kind: the float tensor (training layout) and the encoded file it
# may be built from. Segmentation models read DensePose IUV files and derive the labels from I.
FLOAT_INPUTS = {"image": "images", "iuv": "iuv", "seg": "seg"}
# A served file decodes to at most this many pixels (a 300 KB PNG can hold 10^8), checked from its header.
MAX_DECODED_PIXELS = 4096 * 4096
BYTES_INPUTS = {"image": "image_bytes", "iuv": "iuv_bytes", "seg": "iuv_bytes"}


def normalize_image(image):
    """(..., 3) uint8 or float RGB in [0, 255] -> float32 in [-1, 1]."""
    return tf.cast(image, tf.float32) / 127.5 - 1.0


def normalize_iuv(iuv):
    """(..., 3) (I, U, V) uint8 -> float32, each channel mapped to [-1, 1]."""
    return tf.cast(iuv, tf.float32) / tf.constant(_IUV_SCALE) * 2.0 - 1.0


def coarse_segmentation(parts):
    """(...) fine DensePose part ids 0..24 -> int32 coarse labels 0..14."""
    table = tf.constant(conventions.FINE_TO_COARSE.astype(np.int32))
    return tf.gather(table, tf.clip_by_value(tf.cast(parts, tf.int32), 0, table.shape[0] - 1))


def resize_inputs(batch, size):
    """Resizes a batch's image (antialiased) and label maps (nearest) to (size, size); coordinates
    are normalised, so they stay. Works on raw and on normalised batches."""
    if batch["image"].shape[1] == size:
        return batch
    out = dict(batch)
    out["image"] = tf.image.resize(batch["image"], [size, size], antialias=True)
    for key in ("iuv", "seg"):
        if key in batch:
            labels = batch[key] if key == "iuv" else batch[key][..., None]
            resized = tf.image.resize(labels, [size, size], method="nearest")
            out[key] = resized if key == "iuv" else resized[..., 0]
    return out


def network_inputs(kinds, image=None, iuv=None):
    """The model's input dict from raw arrays (B, S, S, 3): `image` RGB and/or `iuv` (I, U, V),
    for the branch kinds given (an IUV map feeds both 'iuv' and 'seg' branches)."""
    inputs = {}
    for kind in kinds:
        source = image if kind == "image" else iuv
        if source is None:
            raise ValueError(f"a '{kind}' branch needs {'an image' if kind == 'image' else 'an IUV map'}")
        if kind == "image":
            inputs["image"] = normalize_image(source)
        elif kind == "iuv":
            inputs["iuv"] = normalize_iuv(source)
        else:
            inputs["seg"] = coarse_segmentation(source[..., 0])
    return inputs


def branch_tensor(batch, kind, bgr=False):
    """The tensor a branch reads: image or IUV (B, S, S, 3), or one-hot segmentation (B, S, S, 15);
    `bgr` reverses the image channels (DCT's checkpoints)."""
    if kind == "seg":
        return tf.one_hot(batch["seg"], NUM_SEG_LABELS)
    x = batch[kind]
    return x[..., ::-1] if bgr and kind == "image" else x


def encoded_image_size(data, where=("file",)):
    """(height, width) int64 of JPEG or PNG bytes, read from the header without decoding; other
    content fails with a message starting with `where` (strings and tensors, e.g. an item index)."""
    is_png = tf.equal(tf.strings.substr(data, 0, 8), b"\x89PNG\r\n\x1a\n")
    is_jpeg = tf.equal(tf.strings.substr(data, 0, 3), b"\xff\xd8\xff")
    with tf.control_dependencies([tf.debugging.Assert(is_png | is_jpeg, [*where, ": expected JPEG or PNG bytes"])]):
        is_png = tf.identity(is_png)

    def png_size():
        header = tf.cast(tf.io.decode_raw(tf.strings.substr(data, 16, 8), tf.uint8), tf.int64)
        big_endian = tf.constant([1 << 24, 1 << 16, 1 << 8, 1], tf.int64)
        return tf.stack([tf.reduce_sum(header[4:] * big_endian), tf.reduce_sum(header[:4] * big_endian)])

    return tf.cond(is_png, png_size, lambda: tf.cast(tf.image.extract_jpeg_shape(data)[:2], tf.int64))


def decode_file(data, size, iuv, where=("file",)):
    """One encoded JPEG/PNG (scalar string) -> (size, size, 3) float32 raw values: images resized
    as `resize_inputs` does (antialiased bilinear), IUV maps (PNG, channels I, U, V) with nearest
    neighbours. Files over `MAX_DECODED_PIXELS` are refused before decoding; error messages start
    with `where` (strings and tensors, e.g. the input's name and the item's index)."""
    height_width = encoded_image_size(data, where)
    pixels = height_width[0] * height_width[1]
    with tf.control_dependencies([tf.debugging.Assert(pixels <= MAX_DECODED_PIXELS, [
            *where, ": the image is", height_width[0], "x", height_width[1],
            f"pixels; at most {MAX_DECODED_PIXELS} pixels are decoded"])]):
        decoded = tf.io.decode_image(data, channels=3, expand_animations=False)
    if iuv:
        return tf.image.resize(tf.cast(decoded, tf.float32), [size, size], method="nearest")
    return tf.image.resize(tf.cast(decoded, tf.float32), [size, size], antialias=True)
