"""Trains a HybridModel: `python -m tfhybrid.train --flagfile=configs/quickstart.flags`.

A custom loop under `tf.distribute` (MirroredStrategy over GPUs, MultiWorkerMirroredStrategy from
TF_CONFIG, or the default strategy): the losses are averaged over the global batch, so results do
not depend on the number of replicas. Checkpoints hold the weights, the optimiser state and the
step; a killed run resumes from its last checkpoint at its data position: the pipeline skips the
records already read (file order, shuffles and per-batch augmentation seeds are fixed by the
seed), but decoding runs in parallel without ordering (`deterministic=False`), so neighbouring
records may fall into other batches than in an uninterrupted run and the weights are not
bit-identical to it. The run's flags are saved in
`model_dir/flags.json` and compared on resume. A NaN loss stops the run, keeping the last good
checkpoint.
"""
import math
import os
import shutil
import sys
import tempfile
import time
import traceback

from absl import app, flags, logging

from tfhybrid import checkpoints
from tfhybrid import config as config_lib
from tfhybrid import flags as flag_defs
from tfhybrid.config import ConfigError, RuntimeOptions
from tfhybrid.models import build_model

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


def is_chief(strategy):
    """Whether this process writes the run's files: always, except on the non-chief workers of a
    multi-worker cluster (the chief is task 'chief', or worker 0 of a cluster without one)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in resolver.cluster_spec().as_dict()


def parse_sources(specs):
    """`Source`s of 'weight:glob' specs (a spec without a weight has weight 1)."""
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
        raise ConfigError("train_data needs at least one 'weight:glob' source")
    return sources


ARCHITECTURE_FIELDS = ("input", "main_depth", "aux_depth", "input_size", "resnet_layout")


def check_resumed_config(model_dir, current, allow_changes):
    """Compares `current` with the configuration `model_dir` was trained with, if any; another
    architecture is refused even with `allow_changes` (its checkpoint cannot be restored)."""
    if not os.path.exists(config_lib.flags_path(model_dir)):
        return
    changed = config_lib.config_differences(config_lib.load_run_config(model_dir), current)
    architecture = {k: v for k, v in changed.items() if k in ARCHITECTURE_FIELDS}
    if architecture:
        lines = "\n".join(f"  --{k}: saved {old!r}, now {new!r}" for k, (old, new) in architecture.items())
        raise ConfigError(f"{model_dir} holds another architecture; its checkpoints cannot be resumed:\n{lines}\n"
                          "Use another --model_dir (or --init_from for the weights of the same architecture).")
    if changed and not allow_changes:
        lines = "\n".join(f"  --{k}: saved {old!r}, now {new!r}" for k, (old, new) in changed.items())
        raise ConfigError(f"{model_dir} was trained with other flags:\n{lines}\n"
                          "Use another --model_dir, or --allow_flag_changes to resume anyway.")


def initialise_from(model_dir, model, config):
    """Loads the model weights (not the optimiser or step) of another run's latest checkpoint."""
    saved = config_lib.load_run_config(model_dir).model
    differ = [f"--{k}: {getattr(saved, k)!r} there, {getattr(config.model, k)!r} here" for k in ARCHITECTURE_FIELDS
              if getattr(saved, k) != getattr(config.model, k)]
    if differ:
        raise ConfigError(f"--init_from {model_dir} is another architecture: " + "; ".join(differ))
    try:
        path = checkpoints.restore_weights(model, model_dir, require_all=True)
    except FileNotFoundError as error:
        raise ConfigError(f"--init_from {model_dir}: {error}") from None
    logging.info("initialised from %s", path)


def make_optimizer(optim, model):
    """Adam under DCT's epoch-wise cosine schedule, built for the model's trainable variables."""
    import keras

    schedule = EpochCosineDecay(optim.learning_rate, optim.steps_per_epoch, optim.steps)
    optimizer = keras.optimizers.Adam(learning_rate=lambda: schedule(optimizer.iterations))
    optimizer.build(model.trainable_variables)
    model.optimizer = optimizer
    return optimizer, schedule


def make_training_data(config, step, global_batch_size, skip_corrupt, threads=0, num_vertices=None):
    """The training dataset from `config.data`, positioned after `step` batches (records checked,
    dense vertex ids against `num_vertices`), and the `CorruptRecords` that counts skipped records."""
    import tensorflow as tf

    from tfhybrid.data.pipeline import CorruptRecords, make_dataset

    corrupt = CorruptRecords()
    dataset = make_dataset(parse_sources(config.data.train_data), global_batch_size, training=True,
                           study=config.data, seed=config.seed, skip_corrupt=skip_corrupt, corrupt=corrupt,
                           skip_batches=step, input_size=config.model.input_size, num_vertices=num_vertices)
    if threads:
        options = tf.data.Options()
        options.threading.private_threadpool_size = threads
        dataset = dataset.with_options(options)
    return dataset, corrupt


def weights_are_finite(model):
    import tensorflow as tf

    return all(bool(tf.reduce_all(tf.math.is_finite(v))) for v in model.trainable_variables)


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


def train(config, model_dir, runtime=RuntimeOptions(), strategy=None):
    """Trains (or resumes) the run `config` in `model_dir`; returns the latest checkpoint's prefix.

    Args:
      config: `RunConfig`; runtime: `RuntimeOptions` (checkpointing, logging, strategy);
      strategy: a `tf.distribute.Strategy` (default: from `runtime.strategy`).
    """
    import tensorflow as tf

    if not model_dir:
        raise ConfigError("a model directory is required")
    if runtime.threads:
        # Must precede TensorFlow's first op in this process.
        tf.config.threading.set_intra_op_parallelism_threads(runtime.threads)
        tf.config.threading.set_inter_op_parallelism_threads(runtime.threads)
    if not config.body_model:
        raise ConfigError("the run configuration names no body_model")
    parse_sources(config.data.train_data)
    check_resumed_config(model_dir, config, runtime.allow_flag_changes)
    strategy = strategy or choose_strategy(runtime.strategy)
    global_batch = config.optim.batch_size
    if global_batch % strategy.num_replicas_in_sync:
        raise ConfigError(f"batch_size {global_batch} does not split over {strategy.num_replicas_in_sync} replicas")
    with strategy.scope():
        model = build_model(config, global_batch_size=global_batch)
        optimizer, schedule = make_optimizer(config.optim, model)
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    chief = is_chief(strategy)
    # Every worker saves (saving may run collective ops), but only the chief into model_dir; the
    # others into scratch folders removed at the end, as TensorFlow's multi-worker guide does.
    scratch = None if chief else tempfile.mkdtemp(prefix=f"tfhybrid-worker{strategy.cluster_resolver.task_id}-")
    try:
        return _train_loop(config, model_dir, runtime, strategy, model, optimizer, schedule, step, scratch)
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def _train_loop(config, model_dir, runtime, strategy, model, optimizer, schedule, step, scratch):
    import keras
    import numpy as np
    import tensorflow as tf

    chief = scratch is None
    global_batch = config.optim.batch_size
    manager = checkpoints.training_manager(scratch or model_dir, model, optimizer, step)
    latest = checkpoints.latest(model_dir)
    if latest:
        manager.checkpoint.restore(latest).assert_existing_objects_matched()
        logging.info("resumed from %s at step %d", latest, int(step.numpy()))
    elif config.init_from:
        initialise_from(config.init_from, model, config)
    # Saved only once the model was built and restored, so a failed start leaves the folder as it was.
    if chief:
        config_lib.save_run_config(model_dir, config)
    start_step = int(step.numpy())
    if start_step >= config.optim.steps:
        print(f"{model_dir} already trained for {start_step} steps")
        return manager.latest_checkpoint
    dataset, corrupt = make_training_data(config, start_step, global_batch, runtime.skip_corrupt, runtime.threads,
                                          model.smpl.v_template.shape[0])
    iterator = iter(strategy.experimental_distribute_dataset(dataset))

    @tf.function(jit_compile=runtime.jit_compile or None)
    def distributed_step(batch):
        report = strategy.run(model.replica_step, args=(batch,))
        return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in report.items()}

    writer = tf.summary.create_file_writer(os.path.join(model_dir, "logs")) if chief else tf.summary.create_noop_writer()
    progress = keras.utils.Progbar(config.optim.steps, stateful_metrics=["loss", "images/s"], unit_name="step")
    progress.update(start_step)
    tick, images = time.time(), 0
    for current in range(start_step + 1, config.optim.steps + 1):
        batch = next(iterator)
        report = {k: float(v) for k, v in distributed_step(batch).items()}
        if not np.isfinite(report["loss"]):
            raise SystemExit(f"NaN or infinite loss at step {current}; the last good checkpoint is "
                             f"{manager.latest_checkpoint or 'none (no checkpoint was written yet)'}")
        step.assign(current)
        images += global_batch
        rate = images / max(time.time() - tick, 1e-9)
        progress.update(current, [("loss", report["loss"]), ("images/s", rate)])
        last = current == config.optim.steps
        if current % runtime.log_every == 0 or last:
            pictures = current % (runtime.log_every * 5) == 0 or last
            write_summaries(writer, current, {**report, "images_per_second": rate,
                                              "learning_rate": float(schedule(optimizer.iterations))},
                            model, strategy.experimental_local_results(batch)[0] if pictures else None)
        if chief and runtime.validate_every and (current % runtime.validate_every == 0 or last):
            validate(model, model_dir, runtime.validation_data, current, writer)
        if current % runtime.checkpoint_every == 0 or last:
            save_checked(manager, model, current)
    if len(corrupt):
        print(f"skipped {len(corrupt)} corrupt record(s):\n{corrupt.report()}")
    print(f"trained {config.optim.steps} steps; checkpoint {manager.latest_checkpoint}")
    return manager.latest_checkpoint


def write_summaries(writer, step, scalars, model, batch=None):
    """TensorBoard scalars ('loss/<term>' for the loss terms), and meshes over `batch`'s images."""
    import tensorflow as tf

    with writer.as_default(step=step):
        for name, value in scalars.items():
            tf.summary.scalar(name if name in ("images_per_second", "learning_rate") else f"loss/{name}", value)
        if batch is not None:
            outputs = model(batch, training=False)
            tf.summary.image("predicted_mesh", draw_vertices(batch["image"], outputs["vertices2d"]), max_outputs=4)


def validation_path(model_dir):
    return os.path.join(model_dir, "validation.json")


def read_validation_curve(model_dir):
    """[{'step': N, 'metrics': {dataset: {metric: value}}}, ...] written during training, or []."""
    import json

    path = validation_path(model_dir)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return json.load(f)


def validate(model, model_dir, patterns, step, writer):
    """Evaluates on the validation records, adds the point to `validation.json` (the learning
    curve, kept across resumes) and to TensorBoard as 'validation/<dataset>/<metric>'."""
    import json

    import tensorflow as tf

    from tfhybrid.evaluate import evaluate
    from tfhybrid.fileio import write_bytes

    metrics = evaluate(model, patterns.split(","))
    curve = [point for point in read_validation_curve(model_dir) if point["step"] < step]
    curve.append({"step": step, "metrics": metrics})
    write_bytes(validation_path(model_dir), json.dumps(curve, indent=1).encode())
    with writer.as_default(step=step):
        for dataset, values in metrics.items():
            for name, value in values.items():
                tf.summary.scalar(f"validation/{dataset}/{name}", value)


def save_checked(manager, model, step):
    """Saves a checkpoint once the weights are known finite: the loss is checked before the
    update, the weights saved are after it."""
    if not weights_are_finite(model):
        raise SystemExit(f"the weights after step {step} are NaN or infinite; the last good checkpoint is "
                         f"{manager.latest_checkpoint or 'none (no checkpoint was written yet)'}")
    manager.save(checkpoint_number=step)


def exit_on_failure(job):
    """Runs `job()`; a failure is printed and the process leaves at once with status 1.

    After a failed op, tf.data's iterators can block forever in their destructors during the
    interpreter's shutdown (a pipeline thread waits on a queue nobody drains): a failed job must
    still end, so it skips that shutdown. Usage errors go to absl as usual.
    """
    try:
        return job()
    except ConfigError as error:
        raise app.UsageError(str(error)) from None
    except app.UsageError:
        raise
    except (Exception, SystemExit) as error:
        if isinstance(error, SystemExit):
            print(error, file=sys.stderr)
        else:
            traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)


def main(argv):
    del argv
    if not FLAGS.model_dir:
        raise app.UsageError("--model_dir is required")
    config, runtime = flag_defs.run_config_from_flags(), flag_defs.runtime_from_flags()
    exit_on_failure(lambda: train(config, FLAGS.model_dir, runtime))


if __name__ == "__main__":
    flag_defs.define_training_flags()
    app.run(main)
    sys.exit(0)
