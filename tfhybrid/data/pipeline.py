"""The tf.data input pipeline: shards -> checked records -> mixture -> decode -> batch -> parse.

`make_dataset(sources, ...)`, in order:
  1. reads each source's shards interleaved (shuffled and repeated in training) and checks every
     record (a corrupt one stops the run with an error naming its shard and record index, or, with
     `skip_corrupt`, is counted in `CorruptRecords` and dropped);
  2. mixes the sources by weight;
  3. decodes each record (`decoder.decode`) and pads its dense rows (`parser.pad_dense`);
  4. batches with a fixed global batch (the remainder dropped in training);
  5. parses each batch (`parser.parse_batch`: augment, normalise, the study's knobs, resize).
"""
import dataclasses
import glob
import threading

import numpy as np
import tensorflow as tf

from tfhybrid.config import DataConfig
from tfhybrid.data import augment as augment_lib
from tfhybrid.data import decoder, parser, schema


@dataclasses.dataclass(frozen=True)
class Source:
    """Shards of one dataset (glob patterns) and its share of each batch."""

    patterns: tuple
    weight: float = 1.0
    name: str = ""


class CorruptRecords:
    """Counts records dropped with `skip_corrupt`, with where they were."""

    def __init__(self):
        self._lock = threading.Lock()
        self.records = []

    def add(self, shard, index, problem):
        with self._lock:
            self.records.append((shard, int(index), problem))

    def __len__(self):
        return len(self.records)

    def report(self):
        return "\n".join(f"{shard} record {index}: {problem}" for shard, index, problem in self.records)


class CorruptRecordError(ValueError):
    """A record does not follow the schema."""


def shard_files(patterns):
    files = sorted(f for pattern in patterns for f in glob.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no TFRecord shards match {list(patterns)}")
    return files


def _checker(skip_corrupt, corrupt, num_vertices=None):
    # Each record is checked once per process: later epochs look its verdict up (one byte per
    # record), since the check parses the Example in Python under the GIL.
    verdicts = {}                   # shard -> bytearray: 0 unchecked, 1 valid, 2 corrupt

    def check(shard, index, record):
        seen = verdicts.setdefault(shard.numpy(), bytearray())
        i = int(index.numpy())
        if i < len(seen) and seen[i]:
            return seen[i] == 1
        problems = schema.validate_serialized(record.numpy(), num_vertices)
        if i >= len(seen):
            seen.extend(bytes(i + 1 - len(seen)))
        seen[i] = 2 if problems else 1
        if not problems:
            return True
        where = shard.numpy().decode()
        if skip_corrupt:
            corrupt.add(where, i, "; ".join(problems))
            return False
        raise CorruptRecordError(f"{where} record {i}: " + "; ".join(problems))

    def check_tf(shard, index, record):
        ok = tf.py_function(check, [shard, index, record], tf.bool)
        return tf.ensure_shape(ok, [])

    return check_tf


def read_records(files, skip_corrupt=False, corrupt=None, shuffle_files=False, seed=0, cycle_length=4,
                 num_vertices=None):
    """(shard, index, serialized) triples from all shards, interleaved, each checked
    (`schema.validate_serialized`, dense vertex ids against `num_vertices` when given)."""
    corrupt = corrupt if corrupt is not None else CorruptRecords()
    files_ds = tf.data.Dataset.from_tensor_slices(files)
    if shuffle_files:
        files_ds = files_ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)

    def open_shard(shard):
        records = tf.data.TFRecordDataset(shard).enumerate()
        return records.map(lambda i, r: (shard, i, r))

    triples = files_ds.interleave(open_shard, cycle_length=min(cycle_length, len(files)),
                                  num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    check = _checker(skip_corrupt, corrupt, num_vertices)
    return triples.filter(lambda shard, index, record: check(shard, index, record))


def make_dataset(sources, global_batch_size, training=True, augment=None, study=DataConfig(),
                 max_dense_points=200, seed=0, skip_corrupt=False, corrupt=None, repeat=None, shuffle_buffer=256,
                 skip_batches=0, input_size=None, num_vertices=None):
    """Builds the input pipeline.

    Args:
      sources: `Source`s, or glob patterns (one source, weight 1).
      global_batch_size: batch size summed over replicas (split by tf.distribute).
      training: shuffle, augment, repeat and drop the last partial batch.
      augment: `AugmentOptions` (defaults: on in training, off otherwise).
      study: `tfhybrid.config.DataConfig`, whose knobs apply (its sources are not read here).
      max_dense_points: dense points per sample after padding (D).
      seed: seeds shuffling and augmentation (stateless per sample).
      skip_corrupt, corrupt: drop corrupt records and count them in `corrupt`.
      repeat: repeat forever (default: `training`).
      skip_batches: start after this many batches, at the same records and augmentation as an
        uninterrupted run (resuming a killed run at its data position).
      input_size: resize images and label maps to this side (None: the records' crop size).
      num_vertices: the body model's vertex count, against which dense vertex ids are checked.
    Returns:
      a `tf.data.Dataset` of dicts of batched tensors (see `parser.normalize_batch`).
    """
    if isinstance(sources, (str, bytes)) or (sources and isinstance(sources[0], str)):
        sources = [Source(tuple([sources] if isinstance(sources, str) else sources))]
    augment = augment or (augment_lib.AugmentOptions() if training else augment_lib.AugmentOptions.none())
    repeat = training if repeat is None else repeat
    per_source = []
    for k, source in enumerate(sources):
        records = read_records(shard_files(source.patterns), skip_corrupt, corrupt, shuffle_files=training,
                               seed=seed + k, num_vertices=num_vertices)
        if training:
            records = records.shuffle(shuffle_buffer, seed=seed + k, reshuffle_each_iteration=True)
        if repeat:
            records = records.repeat()
        per_source.append(records.map(lambda shard, index, record: record))
    if len(per_source) == 1:
        mixed = per_source[0]
    else:
        weights = np.array([s.weight for s in sources], np.float64)
        mixed = tf.data.Dataset.sample_from_datasets(per_source, weights=(weights / weights.sum()).tolist(),
                                                     seed=seed, stop_on_empty_dataset=not repeat)
    base_seed = tf.constant([seed, 0], tf.int64)

    def parse(index, batch):
        batch_seed = tf.cast(tf.random.experimental.stateless_fold_in(base_seed, index), tf.int32)
        return parser.parse_batch(batch, batch_seed, training, augment, study, input_size)

    if skip_batches:
        mixed = mixed.skip(skip_batches * global_batch_size)
    dataset = mixed.map(lambda record: parser.pad_dense(decoder.decode(record), max_dense_points),
                        num_parallel_calls=tf.data.AUTOTUNE, deterministic=not training)
    dataset = dataset.batch(global_batch_size, drop_remainder=training)
    dataset = dataset.enumerate(start=skip_batches).map(parse, num_parallel_calls=tf.data.AUTOTUNE,
                                                        deterministic=not training)
    return dataset.prefetch(tf.data.AUTOTUNE)
