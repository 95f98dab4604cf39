"""One training step with the default strategy and with MirroredStrategy over two logical CPUs,
from the same initial weights on the same global batch; prints the largest weight difference.
Run as a separate process: logical devices must be set before TensorFlow starts."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

from step_data import BATCH, SIZE, batch  # noqa: E402
from tfhybrid.config import ModelConfig  # noqa: E402
from tfhybrid.models.hybrid import HybridModel  # noqa: E402
from tfhybrid.synthetic.toybody import make_toy_body  # noqa: E402

def one_step(strategy, data, initial):
    with strategy.scope():
        model = HybridModel(make_toy_body(0).model, ModelConfig(main_depth=18, input_size=SIZE), global_batch_size=BATCH)
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
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    rng = np.random.default_rng(0)
    data = batch(rng)
    keras.utils.set_random_seed(0)
    reference = HybridModel(make_toy_body(0).model, ModelConfig(main_depth=18, input_size=SIZE))
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
