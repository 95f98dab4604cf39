"""One training step with the default strategy and with MirroredStrategy over two logical CPUs,
from the same initial weights on the same global batch; prints the largest weight difference.
Run as a separate process: logical devices must be set before TensorFlow starts."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402

from tfhybrid.models.hybrid import HybridModel, ModelOptions  # noqa: E402
from tfhybrid.synthetic.toybody import make_toy_body  # noqa: E402

SIZE, BATCH = 32, 8


def batch(rng):
    ids = rng.integers(0, 3000, (BATCH, 20, 3)).astype(np.int32)
    bary = rng.dirichlet(np.ones(3), (BATCH, 20)).astype(np.float32)
    kp = np.concatenate([rng.uniform(-1, 1, (BATCH, 19, 2)), (rng.random((BATCH, 19, 1)) > 0.3)], -1)
    return {"image": rng.uniform(-1, 1, (BATCH, SIZE, SIZE, 3)).astype(np.float32),
            "iuv": np.zeros((BATCH, SIZE, SIZE, 3), np.float32), "seg": np.zeros((BATCH, SIZE, SIZE), np.int32),
            "keypoints2d": kp.astype(np.float32), "joints3d": rng.normal(0, 0.3, (BATCH, 17, 3)).astype(np.float32),
            "smpl_pose": rng.normal(0, 0.3, (BATCH, 72)).astype(np.float32),
            "smpl_betas": rng.normal(0, 1, (BATCH, 10)).astype(np.float32),
            "dense_xy": rng.uniform(-1, 1, (BATCH, 20, 2)).astype(np.float32), "dense_vertex_ids": ids,
            "dense_barycentric": bary, "dense_mask": np.ones((BATCH, 20), np.float32),
            **{f: (rng.random(BATCH) > 0.4).astype(np.float32) for f in ("has_2d", "has_3d", "has_smpl", "has_dense")}}


def one_step(strategy, data, initial):
    with strategy.scope():
        model = HybridModel(make_toy_body(0).model, ModelOptions(main_depth=18, input_size=SIZE), global_batch_size=BATCH)
        model({k: v[:1] for k, v in data.items()})
        model.set_weights(initial)
        model.optimizer = keras.optimizers.SGD(0.1)
        model.optimizer.build(model.trainable_variables)
    dataset = tf.data.Dataset.from_tensors(data)
    dist = iter(strategy.experimental_distribute_dataset(dataset))

    @tf.function
    def step(b):
        report = strategy.run(model.replica_step, args=(b,))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, report["loss"], axis=None)

    loss = step(next(dist))
    return float(loss), [w.copy() for w in model.get_weights()]


def main():
    rng = np.random.default_rng(0)
    data = batch(rng)
    keras.utils.set_random_seed(0)
    reference = HybridModel(make_toy_body(0).model, ModelOptions(main_depth=18, input_size=SIZE))
    reference({k: v[:1] for k, v in data.items()})
    initial = reference.get_weights()
    loss_1, weights_1 = one_step(tf.distribute.get_strategy(), data, initial)
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    loss_2, weights_2 = one_step(mirrored, data, initial)
    moved = max(float(np.abs(a - b).max()) for a, b in zip(weights_1, initial))
    diff = max(float(np.abs(a - b).max()) for a, b in zip(weights_1, weights_2))
    print(f"replicas={mirrored.num_replicas_in_sync} loss={loss_1:.6f},{loss_2:.6f} moved={moved:.3e} diff={diff:.3e}")


if __name__ == "__main__":
    sys.exit(main())
