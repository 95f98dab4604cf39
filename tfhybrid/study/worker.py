"""One study run in its own process: train, then evaluate on every evaluation set.

    python -m tfhybrid.study.worker --flagfile=RUN/run.flags --eval_set=NAME:GLOB ... --result=RUN/result.json

The runner starts it (a process per run keeps runs independent and lets each own a device).
`result.json` is written last, atomically: its presence is what marks the run finished. A run
trained again over an existing `result.json` (a pre-training whose checkpoint was lost with an
earlier machine, its result carried in an archive) keeps the earlier trainings in its result, and
a run started from a study pre-training records which of its trainings it started from.
"""
import json
import os
import sys
import time

from absl import app, flags

from tfhybrid import flags as flag_defs
from tfhybrid.fileio import read_json_object, write_bytes
from tfhybrid.study.runner import EARLIER_TRAININGS

FLAGS = flags.FLAGS


def evaluate_sets(model, sets, batch_size, mean_only=False):
    """{set name: metrics} for {name: glob}; each glob holds one dataset."""
    from tfhybrid import evaluate

    out = {}
    for name, pattern in sets.items():
        found = evaluate.evaluate(model, [pattern], batch_size, mean_only=mean_only)
        if len(found) != 1:
            raise ValueError(f"evaluation set {name} ({pattern}) holds datasets {sorted(found)}; expected one")
        out[name] = next(iter(found.values()))
    return out


def read_earlier_trainings(result_path):
    """The trainings on record at `result_path` before this one: its earlier trainings, then itself."""
    if not os.path.exists(result_path):
        return []
    previous = read_json_object(result_path, "a run result", "metrics")
    return previous.get(EARLIER_TRAININGS, []) + [{k: v for k, v in previous.items() if k != EARLIER_TRAININGS}]


def started_from(init_from):
    """{"run", "training"} of the study pre-training a run starts from (`init_from` = RUNS/<run>/model;
    its trainings counted from 1), or None when `init_from` is not a finished study run."""
    folder = os.path.dirname(os.path.normpath(init_from)) if init_from else None
    if not folder or not os.path.exists(os.path.join(folder, "result.json")):
        return None
    pretraining = read_json_object(os.path.join(folder, "result.json"), "a run result", "metrics")
    return {"run": os.path.basename(folder), "training": 1 + len(pretraining.get(EARLIER_TRAININGS, []))}


def run(config, model_dir, runtime, eval_sets, result_path, baseline_path=None, eval_batch_size=32):
    """Trains `config` in `model_dir`, evaluates it on `eval_sets` ({name: glob}) and writes
    `result_path` (and the mean-parameter baseline to `baseline_path` if that file is absent)."""
    from tfhybrid import checkpoints, evaluate, train

    earlier = read_earlier_trainings(result_path)
    origin = started_from(config.init_from)
    # A run resumed after an interruption times only its remaining steps; the report scales them.
    resumed_from_step = checkpoints.latest_step(model_dir)
    start = time.time()
    train.train(config, model_dir, runtime)
    trained = time.time()
    model, checkpoint = evaluate.restore_model(model_dir)
    metrics = evaluate_sets(model, eval_sets, eval_batch_size)
    if baseline_path and not os.path.exists(baseline_path):
        baseline = evaluate_sets(model, eval_sets, eval_batch_size, mean_only=True)
        write_bytes(baseline_path, json.dumps(baseline, indent=1).encode())
    result = {"flags": config.to_flat(), "checkpoint": checkpoint, "metrics": metrics,
              "curve": train.read_validation_curve(model_dir),
              "train_seconds": round(trained - start, 1), "eval_seconds": round(time.time() - trained, 1),
              "resumed_from_step": resumed_from_step}
    if origin:
        result["started_from"] = origin
    if earlier:
        result[EARLIER_TRAININGS] = earlier
    write_bytes(result_path, json.dumps(result, indent=1).encode())
    print(f"wrote {result_path}")


def main(argv):
    del argv
    from tfhybrid.train import exit_on_failure

    sets = dict(spec.split(":", 1) for spec in FLAGS.eval_set)
    config, runtime = flag_defs.run_config_from_flags(), flag_defs.runtime_from_flags()
    exit_on_failure(lambda: run(config, FLAGS.model_dir, runtime, sets, FLAGS.result, FLAGS.baseline,
                                FLAGS.eval_batch_size))


if __name__ == "__main__":
    flag_defs.define_training_flags()
    flags.DEFINE_multi_string("eval_set", [], "Evaluation set as 'name:glob' (repeatable).")
    flags.DEFINE_integer("eval_batch_size", 32, "Evaluation batch size.")
    flags.DEFINE_string("result", None, "Where the run's result.json goes.", required=True)
    flags.DEFINE_string("baseline", None, "Also write the mean-parameter model's metrics here, if absent.")
    app.run(main)
    sys.exit(0)
