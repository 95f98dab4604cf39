"""Over-fitting probe: can a run's recipe fit a few of its own training people?

    python tools/overfit_probe.py --run=out/study/cpu/runs/<run>/model --people=64 --steps=1500 \
        --precision=mixed_bfloat16 --out=out/probe

Takes the run's configuration (`flags.json`: encoder, losses, pre-training, optimiser), trains it
on the first `--people` records of its first training source only, for `--steps` steps, and prints
and writes the metrics on those same people. A recipe that cannot fit a few dozen people has a
capacity or optimisation problem that more data will not fix (docs/results.md uses it so).
"""
import json
import os

from absl import app, flags

FLAGS = flags.FLAGS


def probe(run_dir, people, steps, precision, out, threads=1):
    """Trains the probe in `out/<precision>` and returns its metrics on the probe's people."""
    import tensorflow as tf

    from tfhybrid import evaluate, train
    from tfhybrid.config import RuntimeOptions, load_run_config
    from tfhybrid.fileio import write_bytes

    if threads:
        # Before TensorFlow's first op (writing the probe's records).
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    config = load_run_config(run_dir)
    pattern = config.data.train_data[0].split(":", 1)[-1]
    subset = os.path.join(out, "probe-people-00000-of-00001.tfrecord")
    if not os.path.exists(subset):
        os.makedirs(out, exist_ok=True)
        files = sorted(tf.io.gfile.glob(pattern))
        with tf.io.TFRecordWriter(subset + ".tmp") as writer:
            for record in tf.data.TFRecordDataset(files).take(people):
                writer.write(record.numpy())
        os.replace(subset + ".tmp", subset)
    config = config.replace(train_data=[f"1.0:{subset}"], steps=steps, precision=precision)
    model_dir = os.path.join(out, precision)
    train.train(config, model_dir, RuntimeOptions(checkpoint_every=500, log_every=100))
    model, _ = evaluate.restore_model(model_dir)
    (metrics,) = evaluate.evaluate(model, [subset], 32).values()
    write_bytes(os.path.join(out, f"{precision}.json"), json.dumps(metrics, indent=1).encode())
    return metrics


def main(argv):
    del argv
    metrics = probe(FLAGS.run, FLAGS.people, FLAGS.steps, FLAGS.precision, FLAGS.out, FLAGS.threads)
    print(FLAGS.precision, json.dumps({k: round(v, 1) for k, v in metrics.items()}))


if __name__ == "__main__":
    flags.DEFINE_string("run", None, "Model directory of the run whose recipe is probed.", required=True)
    flags.DEFINE_integer("people", 64, "Training people the probe fits.")
    flags.DEFINE_integer("steps", 1500, "Training steps.")
    flags.DEFINE_enum("precision", "mixed_bfloat16", ["float32", "mixed_bfloat16"], "Encoder precision.")
    flags.DEFINE_string("out", "out/probe", "Output folder.")
    flags.DEFINE_integer("threads", 1, "CPU threads (0: TensorFlow's default).")
    app.run(main)
