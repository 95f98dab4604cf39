"""Augmentation of decoded batches (a stage of the parser, `tfhybrid.data.parser`).

Every geometric change moves every coordinate with the image: the crop is scaled about its centre,
shifted and optionally mirrored by one affine map applied to the image, the IUV map, the part
segmentation, 2D keypoints and dense points. Mirroring also swaps left and right: keypoint order,
the SMPL pose (reflection), the 3D joints, IUV part labels and chart coordinates (DCT's analytic
rule), segmentation labels, and the dense correspondences (their precomputed `_flipped` versions).

It works in crop pixels on raw values (uint8 images and label maps); normalisation follows it.
"""
import dataclasses

import numpy as np
import tensorflow as tf

from tfhybrid import conventions
from tfhybrid.data import schema


@dataclasses.dataclass(frozen=True)
class AugmentOptions:
    """Augmentation strengths; `AugmentOptions.none()` is the identity (evaluation)."""

    flip_probability: float = 0.5
    scale_range: float = 0.2          # crop scale drawn from [1 - r, 1 + r]
    translation_range: float = 0.1    # shift drawn from [-r, r] * crop size
    color_jitter: float = 0.2         # brightness / contrast strength; 0 disables

    @classmethod
    def none(cls):
        return cls(0.0, 0.0, 0.0, 0.0)


_KEYPOINT_FLIP = conventions.flip_permutation("cocoplus")
_JOINTS3D_FLIP = conventions.flip_permutation("h36m")
_POSE_FLIP = (3 * conventions.SMPL_FLIP_PERMUTATION[:, None] + np.arange(3)[None, :]).reshape(-1)
_POSE_SIGNS = np.tile(conventions.SMPL_POSE_REFLECTION_SIGNS, 24).astype(np.float32)


def _resample(images, boxes, size, method):
    """(B, S, S, C) -> float32 (B, S, S, C) sampled on `crop_and_resize` boxes (a box with
    x1 > x2 mirrors the image); outside the source is 0."""
    return tf.image.crop_and_resize(images, boxes, tf.range(tf.shape(images)[0]), tf.stack([size, size]),
                                    method=method, extrapolation_value=0.0)


def flip_iuv(iuv):
    """Relabels already mirrored (..., 3) uint8 IUV maps: part swap and U/V mirror per part.

    Element-wise arithmetic equal to the tables `conventions.FINE_PART_SYMMETRY` and
    `CHART_FLIP_MIRRORS_U/V` (checked in the tests): parts 3..24 pair odd with the next even id,
    torso charts (1, 2) mirror V, hands, feet and head (3..6, 23, 24) mirror U. Gathers over every
    pixel cost several times more.
    """
    parts, u, v = iuv[..., 0], iuv[..., 1], iuv[..., 2]
    paired = parts >= 3
    new_parts = tf.where(paired, parts - 1 + 2 * (parts % 2), parts)
    mirror_u = ((parts >= 3) & (parts <= 6)) | (parts >= 23)
    mirror_v = (parts >= 1) & (parts <= 2)
    return tf.stack([new_parts, tf.where(mirror_u, 255 - u, u), tf.where(mirror_v, 255 - v, v)], axis=-1)


def flip_segmentation(seg):
    """Swaps left/right coarse labels (2..13 pair even with the next odd), as `COARSE_PART_SYMMETRY`."""
    paired = (seg >= 2) & (seg <= 13)
    return tf.where(paired, seg + 1 - 2 * (seg % 2), seg)


def _select(flip, flipped, plain):
    """Per-sample choice between two (B, ...) tensors."""
    shape = tf.concat([tf.shape(flip), tf.ones([tf.rank(plain) - 1], tf.int32)], axis=0)
    return tf.where(tf.reshape(flip, shape), flipped, plain)


def augment_batch(batch, options, seed):
    """Applies a random scale/shift/flip (and colour jitter) to each sample of a batch.

    Works on whole batches (one resampling op per batch rather than per sample).

    Args:
      batch: batched dict from `decoder.decode` after `parser.pad_dense` (crop pixels, uint8 images).
      options: `AugmentOptions`.
      seed: (2,) int32 stateless seed of this batch.
    Returns:
      the batch with every field moved consistently: 'image' float32 in [0, 255], labels uint8,
      coordinates in crop pixels.
    """
    seeds = tf.random.experimental.stateless_split(seed, 5)
    images = batch["image"]
    n = tf.shape(images)[0]
    size_i = tf.shape(images)[1]
    size = tf.cast(size_i, tf.float32)
    flip = tf.random.stateless_uniform([n], seeds[0]) < options.flip_probability
    scale = 1.0 + tf.random.stateless_uniform([n], seeds[1], -options.scale_range, options.scale_range)
    shift = tf.random.stateless_uniform([n, 2], seeds[2], -options.translation_range, options.translation_range)
    sign_x = tf.where(flip, -1.0, 1.0)
    centre = size / 2.0
    # Forward map in continuous crop pixels: p' = centre + A (p - centre) + shift, A = diag(sign_x s, s).
    a = tf.stack([sign_x * scale, scale], axis=1)                     # (B, 2)
    b = centre + shift * size - a * centre                            # (B, 2)

    def forward(points):                                              # (B, N, 2)
        return points * a[:, None, :] + b[:, None, :]

    # Output index -> input index: in = (out + 0.5 - b) / a - 0.5, as crop_and_resize boxes.
    offset = (0.5 - b) / a - 0.5
    last = size - 1.0
    start = offset / last
    end = start + last / (a * last)
    boxes = tf.stack([start[:, 1], start[:, 0], end[:, 1], end[:, 0]], axis=1)
    out = dict(batch)
    image = _resample(batch["image"], boxes, size_i, "bilinear")
    if options.color_jitter > 0:
        # Per-sample contrast about mid-grey and brightness: one multiply-add per pixel.
        strength = options.color_jitter
        shape = tf.stack([n, 1, 1, 1])
        contrast = tf.random.stateless_uniform(shape, seeds[3], 1.0 - strength, 1.0 + strength)
        brightness = tf.random.stateless_uniform(shape, seeds[4], -strength, strength) * 127.5
        image = tf.clip_by_value(contrast * image + (brightness + 127.5 * (1.0 - contrast)), 0.0, 255.0)
    out["image"] = image
    labels = tf.cast(_resample(tf.concat([batch["iuv"], batch["seg"][..., None]], axis=-1), boxes, size_i, "nearest"),
                     tf.uint8)
    # Relabel only the mirrored samples.
    flipped = tf.where(flip)
    relabeled = tf.gather_nd(labels, flipped)
    relabeled = tf.concat([flip_iuv(relabeled[..., :3]), flip_segmentation(relabeled[..., 3:])], axis=-1)
    labels = tf.tensor_scatter_nd_update(labels, flipped, relabeled)
    out["iuv"], out["seg"] = labels[..., :3], labels[..., 3]

    kp = batch["keypoints2d"]
    xy = forward(kp[..., :2])
    inside = tf.reduce_all((xy >= 0.0) & (xy <= size), axis=-1)
    vis = tf.where(inside & (kp[..., 2] > 0), 1.0, 0.0)
    kp = tf.concat([xy * vis[..., None], vis[..., None]], axis=-1)
    out["keypoints2d"] = _select(flip, tf.gather(kp, _KEYPOINT_FLIP, axis=1), kp)
    mirrored3d = tf.gather(batch["joints3d"] * tf.constant([-1.0, 1.0, 1.0]), _JOINTS3D_FLIP, axis=1)
    out["joints3d"] = _select(flip, mirrored3d, batch["joints3d"])
    out["smpl_pose"] = _select(flip, tf.gather(batch["smpl_pose"], _POSE_FLIP, axis=1) * _POSE_SIGNS,
                               batch["smpl_pose"])
    out["dense_xy"] = forward(batch["dense_xy"])
    for key in schema.CORRESPONDENCES:
        plain, flipped = batch[key], batch[f"{key}_flipped"]
        out[key] = _select(flip, flipped, plain)
        out[f"{key}_flipped"] = _select(flip, plain, flipped)
    return out
