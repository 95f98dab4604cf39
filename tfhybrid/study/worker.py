"""One study run in its own process: train, then evaluate on every evaluation set.

    python -m tfhybrid.study.worker --flagfile=RUN/run.flags --eval_set=NAME:GLOB ... --result=RUN/result.json

The runner starts it (a process per run keeps runs independent and lets each own a device).
`result.json` is written last, atomically: its presence is what marks the run finished.
"""
import json
import os
import sys
import time

from absl import app, flags

from tfhybrid import flags as flag_defs

FLAGS = flags.FLAGS


def evaluate_sets(model, sets, mean_only=False):
    """{set name: metrics} for 'name:glob' specs; each glob holds one dataset."""
    from tfhybrid import evaluate

    out = {}
    for spec in sets:
        name, pattern = spec.split(":", 1)
        found = evaluate.evaluate(model, [pattern], FLAGS.eval_batch_size, mean_only=mean_only)
        if len(found) != 1:
            raise ValueError(f"evaluation set {name} ({pattern}) holds datasets {sorted(found)}; expected one")
        out[name] = next(iter(found.values()))
    return out


def main(argv):
    del argv
    from tfhybrid import evaluate, train
    from tfhybrid.fileio import write_bytes

    start = time.time()
    train.train()
    trained = time.time()
    model, checkpoint = evaluate.restore_model(FLAGS.model_dir)
    metrics = evaluate_sets(model, FLAGS.eval_set)
    if FLAGS.baseline and not os.path.exists(FLAGS.baseline):
        write_bytes(FLAGS.baseline, json.dumps(evaluate_sets(model, FLAGS.eval_set, mean_only=True), indent=1).encode())
    saved = {name: FLAGS[name].value for name in flag_defs.TRAINING_FLAGS}
    result = {"flags": saved, "checkpoint": checkpoint, "metrics": metrics,
              "train_seconds": round(trained - start, 1), "eval_seconds": round(time.time() - trained, 1)}
    write_bytes(FLAGS.result, json.dumps(result, indent=1).encode())
    print(f"wrote {FLAGS.result}")


if __name__ == "__main__":
    flag_defs.define_training_flags()
    flags.DEFINE_multi_string("eval_set", [], "Evaluation set as 'name:glob' (repeatable).")
    flags.DEFINE_integer("eval_batch_size", 32, "Evaluation batch size.")
    flags.DEFINE_string("result", None, "Where the run's result.json goes.", required=True)
    flags.DEFINE_string("baseline", None, "Also write the mean-parameter model's metrics here, if absent.")
    app.run(main)
    sys.exit(0)
