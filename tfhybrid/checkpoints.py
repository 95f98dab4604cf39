"""The checkpoint layout of a model directory, owned in one place.

    MODEL_DIR/flags.json           the run's `RunConfig` (tfhybrid.config)
    MODEL_DIR/checkpoints/ckpt-N   weights (`model`), optimiser state (`optimizer`) and `step`

Checkpoints list the model's underlying `tf.Variable`s rather than the Keras model object:
`tf.train.Checkpoint` does not track a Keras 3 model's non-trainable weights through the model,
and TF Serving's loader needs plain variables too (the SavedModel export uses the same list).
"""
import os

KEEP = 3


def variables_of(layer_or_optimizer):
    """The underlying `tf.Variable`s of a Keras model, layer or optimiser, in a stable order."""
    return [v.value for v in layer_or_optimizer.variables]


def checkpoint_dir(model_dir):
    return os.path.join(model_dir, "checkpoints")


def latest(model_dir):
    """The latest checkpoint prefix under `model_dir`, or None."""
    import tensorflow as tf

    return tf.train.latest_checkpoint(checkpoint_dir(model_dir))


def latest_step(model_dir):
    """The training step of `model_dir`'s latest checkpoint (saved as `ckpt-<step>`), 0 without one."""
    path = latest(model_dir)
    return 0 if path is None else int(path.rsplit("-", 1)[1])


def training_manager(model_dir, model, optimizer, step):
    """A `tf.train.CheckpointManager` over weights, optimiser state and the step counter."""
    import tensorflow as tf

    checkpoint = tf.train.Checkpoint(step=step, model=variables_of(model), optimizer=variables_of(optimizer))
    return tf.train.CheckpointManager(checkpoint, checkpoint_dir(model_dir), max_to_keep=KEEP)


def restore_weights(model, model_dir, require_all=False):
    """Loads the weights (not the optimiser or step) of `model_dir`'s latest checkpoint into `model`.

    Returns the checkpoint prefix; raises FileNotFoundError naming the folder when there is none.
    `require_all` also checks that every weight of `model` was in the checkpoint.
    """
    import tensorflow as tf

    path = latest(model_dir)
    if path is None:
        raise FileNotFoundError(f"no checkpoint under {checkpoint_dir(model_dir)}")
    status = tf.train.Checkpoint(model=variables_of(model)).restore(path)
    if require_all:
        status.assert_existing_objects_matched()
    status.expect_partial()
    return path


def save_weights(model, model_dir, number=0):
    """Writes a weights-only checkpoint `ckpt-<number>` (converted models); returns its prefix."""
    import tensorflow as tf

    checkpoint = tf.train.Checkpoint(model=variables_of(model))
    return tf.train.CheckpointManager(checkpoint, checkpoint_dir(model_dir), max_to_keep=1).save(number)
