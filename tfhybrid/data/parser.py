"""The parser half of the decoder/parser split: decoded samples -> model-ready batches.

Stages, in the order `make_dataset` applies them:
  1. `pad_dense` (per sample): dense rows padded to a fixed count, with a validity mask;
  2. `select_dense`: the study's subset of each person's dense annotations (fixed per person);
  3. `augment.augment_batch` (training only): scale, shift, mirror, colour;
  4. `normalize_batch`: network inputs through `tfhybrid.preprocess`, coordinates to [-1, 1];
  5. `apply_study`: the study's other knobs (`tfhybrid.config.DataConfig`);
  6. `preprocess.resize_inputs`: to the network's input size.
"""
import tensorflow as tf

from tfhybrid import preprocess
from tfhybrid.data import augment as augment_lib
from tfhybrid.data import schema


def pad_dense(sample, max_dense_points):
    """Pads one decoded sample's dense rows to D, adding 'dense_mask' (D,).

    A person with more than D rows keeps D of them spread over the body (the lowest stable keys of
    `dense_point_keys`), in record order, not the first D (records list points by image row or by part).
    """
    count = tf.shape(sample["dense_xy"])[0]
    take = tf.minimum(count, max_dense_points)

    def spread():
        keys = dense_point_keys(sample["source_id"][None], count)[0]
        return tf.sort(tf.math.top_k(-keys, max_dense_points, sorted=False).indices)

    rows = tf.cond(count > max_dense_points, spread, lambda: tf.range(count))
    pad = max_dense_points - take
    out = dict(sample)
    for name, _, width in schema.DENSE_FIELDS:
        kept = tf.gather(sample[name], rows)
        out[name] = tf.ensure_shape(tf.pad(kept, [[0, pad], [0, 0]]), [max_dense_points, width])
    out["dense_mask"] = tf.ensure_shape(tf.pad(tf.ones([take]), [[0, pad]]), [max_dense_points])
    return out


def normalize_batch(batch):
    """Model-ready tensors: network inputs as `tfhybrid.preprocess` defines them, coordinates in [-1, 1].

    Returns:
      dict with 'image' (B, S, S, 3) float32, 'iuv' (B, S, S, 3) float32, 'seg' (B, S, S) int32,
      'keypoints2d' (B, 19, 3) [u, v, visible], 'joints3d' (B, 17, 3), 'smpl_pose' (B, 72),
      'smpl_betas' (B, 10), 'dense_xy' (B, D, 2), 'dense_vertex_ids' (B, D, 3) int32,
      'dense_barycentric' (B, D, 3), 'dense_mask' (B, D), float32 flags (B,), 'dataset',
      'source_id', 'source_image' and 'smpl_gender' (B,) strings.
    """
    size = tf.cast(tf.shape(batch["image"])[1], tf.float32)

    def to_unit(xy):
        return xy * (2.0 / size) - 1.0

    kp = batch["keypoints2d"]
    xy = batch["dense_xy"]
    inside = tf.reduce_all((xy >= 0.0) & (xy < size), axis=-1)
    out = {
        "image": preprocess.normalize_image(batch["image"]),
        "iuv": preprocess.normalize_iuv(batch["iuv"]),
        "seg": tf.cast(batch["seg"], tf.int32),
        "keypoints2d": tf.concat([to_unit(kp[..., :2]) * kp[..., 2:3], kp[..., 2:3]], axis=-1),
        "joints3d": batch["joints3d"], "smpl_pose": batch["smpl_pose"], "smpl_betas": batch["smpl_betas"],
        "dense_xy": to_unit(xy), "dense_vertex_ids": batch["dense_vertex_ids"],
        "dense_barycentric": batch["dense_barycentric"], "dense_mask": batch["dense_mask"] * tf.cast(inside, tf.float32),
        "dataset": batch["dataset"], "source_id": batch["source_id"], "source_image": batch["source_image"],
        "smpl_gender": batch["smpl_gender"],
    }
    for flag in schema.ANNOTATION_FLAGS:
        out[flag] = tf.cast(batch[flag], tf.float32)
    return out


def _hash_fraction(source_id):
    """A stable pseudo-random number in [0, 1) per source id."""
    return tf.cast(tf.strings.to_hash_bucket_fast(source_id, 1 << 30), tf.float32) / float(1 << 30)


def dense_point_keys(source_id, num_points):
    """(B, D) stable pseudo-random numbers in [0, 1), one per dense row of each source id."""
    index = tf.strings.as_string(tf.range(num_points))
    return _hash_fraction(tf.add(source_id[:, None] + "#", index[None, :]))


def select_dense(batch, study):
    """The study's sparser dense annotation: a subset of each person's annotated points.

    The subset stands for what an annotator would have marked, so it is the same at every step,
    epoch, run and crop, and spread over the body: points are ranked by a stable hash of
    (source id, row), never by their order in the record (which follows the image's rows in
    rendered data and the parts in COCO-DensePose). `fraction_dense` keeps the points whose key is
    below it, `max_dense_per_person` then the lowest-keyed ones; smaller settings give subsets of
    larger ones.

    Args:
      batch: padded, decoded batch with 'source_id' (B,) and 'dense_mask' (B, D) (annotated rows).
      study: `tfhybrid.config.DataConfig`.
    """
    if study.fraction_dense >= 1.0 and study.max_dense_per_person == 0:
        return batch
    mask = batch["dense_mask"]
    keys = dense_point_keys(batch["source_id"], tf.shape(mask)[1])
    if study.fraction_dense < 1.0:
        mask = mask * tf.cast(keys < study.fraction_dense, tf.float32)
    if study.max_dense_per_person > 0:
        rank = tf.argsort(tf.argsort(tf.where(mask > 0, keys, 2.0), axis=1, stable=True), axis=1, stable=True)
        mask = mask * tf.cast(rank < study.max_dense_per_person, tf.float32)
    return {**batch, "dense_mask": mask}


def apply_study(batch, study, seed):
    """The study's other knobs on a normalised batch (the dense subset is `select_dense`'s):

      * `applied_fraction_3d`: the fraction of samples of `datasets_3d` that keep their 3D labels
        (SMPL and 3D joints), chosen by a stable hash of the source id: the same samples in every run;
      * `iuv_input_noise`: Gaussian noise (0..255 scale) on U and V of the IUV input, per step.

    Args:
      batch: from `normalize_batch`; study: `tfhybrid.config.DataConfig`; seed: (2,) stateless seed.
    """
    out = dict(batch)
    if study.applied_fraction_3d < 1.0:
        names = tf.constant(list(study.datasets_3d) or [""])
        in_scope = tf.reduce_any(tf.equal(batch["dataset"][:, None], names[None, :]), axis=1)
        drop = in_scope & (_hash_fraction(batch["source_id"]) >= study.applied_fraction_3d)
        for flag in ("has_3d", "has_smpl"):
            out[flag] = tf.where(drop, 0.0, batch[flag])
    if study.iuv_input_noise > 0:
        # The second of two split streams: the one the noise has always drawn, so archived runs replay.
        noise_seed = tf.random.experimental.stateless_split(seed, 2)[1]
        uv = batch["iuv"][..., 1:]
        noise = tf.random.stateless_normal(tf.shape(uv), noise_seed, stddev=study.iuv_input_noise * 2.0 / 255.0)
        foreground = batch["iuv"][..., :1] > -1.0
        out["iuv"] = tf.concat([batch["iuv"][..., :1],
                                tf.where(foreground, tf.clip_by_value(uv + noise, -1.0, 1.0), uv)], axis=-1)
    return out


def parse_batch(batch, batch_seed, training, augment, study, input_size=None):
    """Stages 2-6 on one decoded, padded batch; `batch_seed` (2,) int32 seeds its randomness."""
    batch = select_dense(batch, study)
    if training:
        batch = augment_lib.augment_batch(batch, augment, batch_seed)
    batch = normalize_batch(batch)
    batch = apply_study(batch, study, tf.random.experimental.stateless_fold_in(batch_seed, 1))
    return preprocess.resize_inputs(batch, input_size) if input_size else batch
