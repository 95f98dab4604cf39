"""One training step as worker INDEX of a two-worker MultiWorkerMirroredStrategy cluster on
127.0.0.1, or as a single device (`reference`); saves the resulting weights to OUT (.npz).

    python multi_worker_step.py worker INDEX PORT0,PORT1 OUT
    python multi_worker_step.py reference OUT
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv):
    role = argv[1]
    if role == "worker":
        index, ports, out = int(argv[2]), argv[3].split(","), argv[4]
        os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                                              "task": {"type": "worker", "index": index}})
    else:
        out = argv[2]
    import tensorflow as tf

    # The strategy must exist before any other TensorFlow work in the process.
    strategy = tf.distribute.MultiWorkerMirroredStrategy() if role == "worker" else tf.distribute.get_strategy()
    import keras
    import numpy as np

    from step_data import BATCH, SIZE, batch
    from tfhybrid.config import ModelConfig
    from tfhybrid.models.hybrid import HybridModel
    from tfhybrid.synthetic.toybody import make_toy_body

    data = batch(np.random.default_rng(0))
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = HybridModel(make_toy_body(0).model, ModelConfig(main_depth=18, input_size=SIZE), global_batch_size=BATCH)
        model({k: v[:1] for k, v in data.items()})
        model.optimizer = keras.optimizers.SGD(0.1)
        model.optimizer.build(model.trainable_variables)

    def per_worker(context):
        share = BATCH // context.num_input_pipelines
        start = context.input_pipeline_id * share
        return tf.data.Dataset.from_tensors({k: v[start:start + share] for k, v in data.items()})

    dataset = strategy.distribute_datasets_from_function(per_worker)

    @tf.function
    def step(b):
        report = strategy.run(model.replica_step, args=(b,))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, report["loss"], axis=None)

    initial = [w.copy() for w in model.get_weights()]
    loss = step(next(iter(dataset)))
    weights = model.get_weights()
    moved = max(float(np.abs(a - b).max()) for a, b in zip(weights, initial))
    np.savez(out, loss=float(loss), moved=moved, **{f"w{i}": w for i, w in enumerate(weights)})


if __name__ == "__main__":
    main(sys.argv)
