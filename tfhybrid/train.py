"""Trains a HybridModel: `python -m tfhybrid.train --flagfile=configs/quickstart.flags`.

A custom loop under `tf.distribute` (MirroredStrategy over GPUs, MultiWorkerMirroredStrategy from
TF_CONFIG, or the default strategy): the losses are averaged over the global batch, so results do
not depend on the number of replicas. Checkpoints hold the weights, the optimiser state and the
step; a killed run resumes from its last checkpoint at the same data position (the pipeline is
deterministic and skips the batches already seen). The run's flags are saved in
`model_dir/flags.json` and compared on resume. A NaN loss stops the run, keeping the last good
checkpoint.
"""
import json
import math
import os
import sys
import time

from absl import app, flags, logging

from tfhybrid import flags as flag_defs

FLAGS = flags.FLAGS


class EpochCosineDecay:
    """DCT's schedule: constant within an epoch, lr_e = lr0 * (1 + cos(pi e / E)) / 2 at epoch e."""

    def __init__(self, learning_rate, steps_per_epoch, total_steps):
        self.learning_rate = learning_rate
        self.steps_per_epoch = steps_per_epoch
        self.epochs = max(1, math.ceil(total_steps / steps_per_epoch))

    def __call__(self, step):
        import tensorflow as tf

        epoch = tf.cast(step // self.steps_per_epoch, tf.float32)
        return self.learning_rate * 0.5 * (1.0 + tf.cos(math.pi * epoch / self.epochs))


def choose_strategy(name):
    import tensorflow as tf

    if name == "auto":
        name = "mirrored" if len(tf.config.list_physical_devices("GPU")) > 1 else "default"
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def parse_sources(specs):
    from tfhybrid.data.pipeline import Source

    sources = []
    for spec in specs:
        weight, sep, pattern = spec.partition(":")
        try:
            weight = float(weight)
        except ValueError:
            weight, pattern = 1.0, spec
        sources.append(Source((pattern,), weight, pattern))
    if not sources:
        raise app.UsageError("--train_data needs at least one 'weight:glob' source")
    return sources


def training_flag_values():
    return {name: FLAGS[name].value for name in flag_defs.TRAINING_FLAGS}


def check_saved_flags(model_dir, allow_changes):
    """Saves the run's flags, or compares them with those of the run being resumed."""
    path = os.path.join(model_dir, "flags.json")
    current = training_flag_values()
    if os.path.exists(path):
        with open(path) as f:
            saved = json.load(f)
        changed = {k: (saved.get(k), v) for k, v in current.items() if saved.get(k) != v}
        if changed and not allow_changes:
            lines = "\n".join(f"  --{k}: saved {old!r}, now {new!r}" for k, (old, new) in changed.items())
            raise app.UsageError(f"{model_dir} was trained with other flags:\n{lines}\n"
                                 "Use another --model_dir, or --allow_flag_changes to resume anyway.")
    from tfhybrid.fileio import write_bytes

    write_bytes(path, json.dumps(current, indent=1, sort_keys=True).encode())


ARCHITECTURE_FLAGS = ("input", "main_depth", "aux_depth", "input_size", "resnet_layout")


def initialise_from(model_dir, model):
    """Loads the model weights (not the optimiser or step) of another run's latest checkpoint."""
    import tensorflow as tf

    latest = tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))
    if latest is None:
        raise app.UsageError(f"--init_from {model_dir} has no checkpoint under {model_dir}/checkpoints")
    with open(os.path.join(model_dir, "flags.json")) as f:
        saved = json.load(f)
    differ = [f"--{k}: {saved.get(k)!r} there, {FLAGS[k].value!r} here" for k in ARCHITECTURE_FLAGS
              if saved.get(k) != FLAGS[k].value]
    if differ:
        raise app.UsageError(f"--init_from {model_dir} is another architecture: " + "; ".join(differ))
    status = tf.train.Checkpoint(model=[v.value for v in model.variables]).restore(latest)
    status.assert_existing_objects_matched().expect_partial()
    logging.info("initialised from %s", latest)


def build_model(strategy, global_batch_size):
    """The model (built) and its optimiser, created under the strategy's scope."""
    import keras
    import numpy as np

    from tfhybrid.bodymodel import load_body_model, load_mean_params
    from tfhybrid.models.hybrid import HybridModel, LossWeights, ModelOptions, default_mean_params

    body = load_body_model(FLAGS.body_model)
    mean = None
    if FLAGS.mean_params:
        params = load_mean_params(FLAGS.mean_params)
        mean = default_mean_params(params["pose"], params["shape"])
    options = ModelOptions(input_kind=FLAGS.input, main_depth=FLAGS.main_depth, aux_depth=FLAGS.aux_depth,
                           input_size=FLAGS.input_size, main_weights=FLAGS.main_weights,
                           aux_weights=FLAGS.aux_weights, resnet_layout=FLAGS.resnet_layout,
                           bgr_input=FLAGS.bgr_input)
    weights = LossWeights(keypoints=FLAGS.kp_weight, dense=FLAGS.dense_weight if FLAGS.use_dense else 0.0,
                          smpl=FLAGS.smpl_weight, joints3d=FLAGS.joints3d_weight, smpl_terms=FLAGS.smpl_terms)
    keras.utils.set_random_seed(FLAGS.seed)
    with strategy.scope():
        model = HybridModel(body, options, weights, mean_params=mean, global_batch_size=global_batch_size)
        size = FLAGS.input_size
        model({"image": np.zeros((1, size, size, 3), np.float32), "iuv": np.zeros((1, size, size, 3), np.float32),
               "seg": np.zeros((1, size, size), np.int32)})
        schedule = EpochCosineDecay(FLAGS.learning_rate, FLAGS.steps_per_epoch, FLAGS.steps)
        optimizer = keras.optimizers.Adam(learning_rate=lambda: schedule(optimizer.iterations))
        optimizer.build(model.trainable_variables)
        model.optimizer = optimizer
    return model, optimizer, schedule


def resize_batch(batch, size):
    """Resizes the image and label maps of a batch (coordinates are normalised, so they stay)."""
    import tensorflow as tf

    if batch["image"].shape[1] == size:
        return batch
    out = dict(batch)
    out["image"] = tf.image.resize(batch["image"], [size, size], antialias=True)
    out["iuv"] = tf.image.resize(batch["iuv"], [size, size], method="nearest")
    out["seg"] = tf.image.resize(batch["seg"][..., None], [size, size], method="nearest")[..., 0]
    return out


def make_training_data(step, global_batch_size):
    from tfhybrid.data.pipeline import CorruptRecords, StudyOptions, make_dataset

    study = StudyOptions(fraction_3d=FLAGS.fraction_3d if FLAGS.use_3d else 0.0,
                         datasets_3d=tuple(FLAGS.datasets_3d), fraction_dense=FLAGS.fraction_dense,
                         max_dense_per_person=FLAGS.max_dense_per_person, uv_noise_sigma=FLAGS.uv_noise)
    corrupt = CorruptRecords()
    dataset = make_dataset(parse_sources(FLAGS.train_data), global_batch_size, training=True, study=study,
                           seed=FLAGS.seed, skip_corrupt=FLAGS.skip_corrupt, corrupt=corrupt, skip_batches=step)
    size = FLAGS.input_size
    dataset = dataset.map(lambda b: resize_batch(b, size))
    return dataset, corrupt


def draw_vertices(images, vertices2d, count=4):
    """Images (in [-1, 1]) with projected vertices painted green, for TensorBoard."""
    import tensorflow as tf

    images = (images[:count] + 1.0) / 2.0
    size = tf.shape(images)[1]
    pixels = tf.cast(tf.floor((vertices2d[:count] + 1.0) * tf.cast(size, tf.float32) / 2.0), tf.int32)
    pixels = tf.clip_by_value(pixels, 0, size - 1)
    batch_ids = tf.broadcast_to(tf.range(tf.shape(pixels)[0])[:, None], tf.shape(pixels)[:2])
    index = tf.reshape(tf.stack([batch_ids, pixels[..., 1], pixels[..., 0]], axis=-1), [-1, 3])
    green = tf.broadcast_to(tf.constant([0.1, 0.95, 0.2]), [tf.shape(index)[0], 3])
    return tf.tensor_scatter_nd_update(images, index, green)


def train():
    import keras
    import numpy as np
    import tensorflow as tf

    if not FLAGS.model_dir or not FLAGS.body_model:
        raise app.UsageError("--model_dir and --body_model are required")
    os.makedirs(FLAGS.model_dir, exist_ok=True)
    check_saved_flags(FLAGS.model_dir, FLAGS.allow_flag_changes)
    strategy = choose_strategy(FLAGS.strategy)
    global_batch = FLAGS.batch_size
    if global_batch % strategy.num_replicas_in_sync:
        raise app.UsageError(f"--batch_size {global_batch} does not split over {strategy.num_replicas_in_sync} replicas")
    model, optimizer, schedule = build_model(strategy, global_batch)
    with strategy.scope():
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    checkpoint = tf.train.Checkpoint(step=step, model=[v.value for v in model.variables],
                                     optimizer=[v.value for v in optimizer.variables])
    manager = tf.train.CheckpointManager(checkpoint, os.path.join(FLAGS.model_dir, "checkpoints"), max_to_keep=3)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        logging.info("resumed from %s at step %d", manager.latest_checkpoint, int(step.numpy()))
    elif FLAGS.init_from:
        initialise_from(FLAGS.init_from, model)
    start_step = int(step.numpy())
    if start_step >= FLAGS.steps:
        print(f"{FLAGS.model_dir} already trained for {start_step} steps")
        return
    dataset, corrupt = make_training_data(start_step, global_batch)
    iterator = iter(strategy.experimental_distribute_dataset(dataset))

    def replica_step(batch):
        return model.replica_step(batch)

    @tf.function(jit_compile=FLAGS.jit_compile or None)
    def distributed_step(batch):
        report = strategy.run(replica_step, args=(batch,))
        return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in report.items()}

    writer = tf.summary.create_file_writer(os.path.join(FLAGS.model_dir, "logs"))
    progress = keras.utils.Progbar(FLAGS.steps, stateful_metrics=["loss", "images/s"], unit_name="step")
    progress.update(start_step)
    tick, images = time.time(), 0
    for current in range(start_step + 1, FLAGS.steps + 1):
        batch = next(iterator)
        report = {k: float(v) for k, v in distributed_step(batch).items()}
        if not np.isfinite(report["loss"]):
            raise SystemExit(f"NaN or infinite loss at step {current}; the last good checkpoint is "
                             f"{manager.latest_checkpoint or 'none (no checkpoint was written yet)'}")
        step.assign(current)
        images += global_batch
        rate = images / max(time.time() - tick, 1e-9)
        progress.update(current, [("loss", report["loss"]), ("images/s", rate)])
        if current % FLAGS.log_every == 0 or current == FLAGS.steps:
            with writer.as_default(step=current):
                for name, value in report.items():
                    tf.summary.scalar(f"loss/{name}", value)
                tf.summary.scalar("learning_rate", float(schedule(optimizer.iterations)))
                tf.summary.scalar("images_per_second", rate)
                if current % (FLAGS.log_every * 5) == 0 or current == FLAGS.steps:
                    local = strategy.experimental_local_results(batch)[0]
                    outputs = model(local, training=False)
                    tf.summary.image("predicted_mesh", draw_vertices(local["image"], outputs["vertices2d"]),
                                     max_outputs=4)
        if current % FLAGS.checkpoint_every == 0 or current == FLAGS.steps:
            manager.save(checkpoint_number=current)
    if len(corrupt):
        print(f"skipped {len(corrupt)} corrupt record(s):\n{corrupt.report()}")
    print(f"trained {FLAGS.steps} steps; checkpoint {manager.latest_checkpoint}")


def main(argv):
    del argv
    train()


if __name__ == "__main__":
    flag_defs.define_training_flags()
    app.run(main)
    sys.exit(0)
