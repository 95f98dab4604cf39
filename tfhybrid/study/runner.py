"""Plans the study's runs, skips finished ones, and runs the rest on every visible device.

A run is one training + evaluation, named by a hash of its training flags (seed aside) and its
seed: `RUNS/<hash>-s<seed>/` holds `run.flags`, `model/`, `log.txt` and, once finished,
`result.json`. Cells of different experiments that train the same way share one run, and a run
whose `result.json` exists is never repeated; an interrupted run resumes from its checkpoint.
An archive (`<run>.json` per finished run, plus `baseline.json`) carries finished runs between
machines: imported runs count as finished.
"""
import concurrent.futures
import dataclasses
import glob
import hashlib
import json
import os
import re
import subprocess
import sys
import time

from tfhybrid.config import ConfigError, RunConfig
from tfhybrid.fileio import read_json_object, write_bytes
from tfhybrid.study import experiments, paper

PRETRAIN_SEED = 0                 # one pre-training per input kind, shared by every seed's runs
VALIDATION_SET = "up-3d-val"      # the evaluation set of the learning curves


@dataclasses.dataclass
class Run:
    key: str
    folder: str
    flags: dict
    seed: int
    cells: list                       # [(experiment name, Cell), ...] that this run serves
    needs: list = dataclasses.field(default_factory=list)   # keys of runs that must finish first
    runtime: dict = dataclasses.field(default_factory=dict)  # RuntimeOptions flags (checkpointing, logging)

    @property
    def result_path(self):
        return os.path.join(self.folder, "result.json")

    @property
    def finished(self):
        # A pre-training is finished only with its checkpoint, which the runs that need it start from
        # (an archived result alone does not carry it).
        has_model = os.path.isdir(os.path.join(self.folder, "model"))
        return os.path.exists(self.result_path) and (bool(self.cells) or has_model)

    def label(self):
        if not self.cells:
            return f"pre-training on the studio set (input {self.flags['input']}), seed {self.seed}"
        return ", ".join(f"{name} {cell.row} x {cell.column}" for name, cell in self.cells) + f", seed {self.seed}"


def run_flags(profile, benchmark, cell, seed):
    """Every training flag of a cell's run, without model_dir and init_from."""
    return {**profile.train, **cell.flags, "body_model": benchmark.body_model, "mean_params": benchmark.mean_params,
            "train_data": benchmark.train_sources(cell.variant), "seed": seed}


def pretrain_flags(profile, benchmark, input_kind, seed):
    """Flags of the studio pre-training that starts every run of an input kind (3D + 2D on h36m)."""
    flags = experiments.canonical({**experiments.BASE_FLAGS, "input": input_kind, "use_dense": False})
    return {**profile.train, **flags, "steps": profile.pretrain_steps, "body_model": benchmark.body_model,
            "mean_params": benchmark.mean_params, "train_data": benchmark.pretrain_sources(), "seed": seed}


def config_hash(flags, pretrain=None):
    """12 hex digits naming a training configuration (with its pre-training's); not the seed.

    The hash is of the whole `RunConfig` (defaults filled in, renamed flags migrated), so a flag
    given at its default value names the same run as one left out.
    """
    config = {k: v for k, v in RunConfig.from_flat(flags).to_flat().items() if k not in ("seed", "init_from")}
    if pretrain is not None:
        config["pretrain"] = config_hash(pretrain)
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]


def cell_config_hash(profile, benchmark, cell):
    """The hash part of the run folders of a cell (`<hash>-s<seed>`)."""
    pretrain = pretrain_flags(profile, benchmark, cell.input, 0) if profile.pretrain_steps else None
    return config_hash(run_flags(profile, benchmark, cell, 0), pretrain)


def cell_selected(experiment, cell, only_input=None, only_cells=()):
    """Whether a cell passes the filters: its input kind, and 'experiment:column' or
    'experiment:row:column' names (e.g. 'fig4:20', 'table3:iuv:2d')."""
    if only_input and cell.input != only_input:
        return False
    names = {f"{experiment.name}:{cell.column}", f"{experiment.name}:{cell.row}:{cell.column}"}
    return not only_cells or bool(names & set(only_cells))


def run_runtime(profile, benchmark):
    """The runtime flags of a profile's runs: its own, and the validation set of its learning curves."""
    runtime = dict(profile.runtime)
    if runtime.get("validate_every"):
        runtime["validation_data"] = benchmark.eval_sets()[VALIDATION_SET]
    return runtime


def claimed_cells():
    """{(experiment, row, column)} of the cells that the paper's claims compare (`paper.CLAIMS`)."""
    return {cell for claim in paper.CLAIMS for cell in (claim["a"], claim["b"])}


def plan(experiments, profile, benchmark, runs_dir, seeds, only_input=None, only_cells=()):
    """The runs of the experiments' cells (optionally filtered, see `cell_selected`), in the order
    they should run: first the runs of cells that a paper claim compares, seed by seed, then the
    others, seed by seed. Seed by seed: every cell's first seed before any cell's second, so that
    a study stopped midway has read every cell once. A profile with pre-training pre-trains each
    input kind once (seed 0), planned just before the first run that starts from it; every run of
    that input, whatever its seed, starts from it."""
    pretraining, runs = {}, {}
    runtime = run_runtime(profile, benchmark)
    for seed in seeds:
        for experiment in experiments:
            for cell in experiment.cells:
                if not cell_selected(experiment, cell, only_input, only_cells):
                    continue
                flags = run_flags(profile, benchmark, cell, seed)
                needs = []
                if profile.pretrain_steps:
                    pretrain = pretrain_flags(profile, benchmark, cell.input, PRETRAIN_SEED)
                    first = f"{config_hash(pretrain)}-s{PRETRAIN_SEED}"
                    pretraining.setdefault(first, Run(first, os.path.join(runs_dir, first), pretrain, PRETRAIN_SEED,
                                                      [], runtime=runtime))
                    flags["init_from"] = os.path.join(pretraining[first].folder, "model")
                    needs = [first]
                key = f"{cell_config_hash(profile, benchmark, cell)}-s{seed}"
                if key not in runs:
                    runs[key] = Run(key, os.path.join(runs_dir, key), flags, seed, [], needs, runtime)
                runs[key].cells.append((experiment.name, cell))
    claimed = claimed_cells()
    ordered = sorted(runs.values(), key=lambda run: not any((name, cell.row, cell.column) in claimed
                                                             for name, cell in run.cells))
    planned = []
    for run in ordered:
        planned += [pretraining.pop(need) for need in run.needs if need in pretraining]
        planned.append(run)
    return planned


EARLIER_TRAININGS = "earlier_trainings"   # in a result: the run's earlier trainings, oldest first (worker.py)
_ARCHIVED_RUN = re.compile(r"[0-9a-f]{12}-s\d+\.json")
BASELINE = "baseline.json"
ORACLE = "oracle.json"            # the oracle's table (tfhybrid.study.oracle), kept beside the runs


def _copy_json(source, target, what, key):
    write_bytes(target, json.dumps(read_json_object(source, what, key), indent=1).encode() + b"\n")


def archived_key(result, name):
    """The run key of an archived result: recomputed from its flags and seed, so archives written
    under an older naming (renamed flags, knobs added since) still match; a run started from a
    pre-training keeps its archived name, which holds the pre-training's key."""
    flags = result.get("flags", {})
    if flags.get("init_from") or "seed" not in flags:
        return name
    return f"{config_hash(flags)}-s{flags['seed']}"


def import_archive(archive, runs_dir, baseline_path):
    """Copies the archive's finished runs to `runs_dir/<run>/result.json` (and its baseline to
    `baseline_path`) where those are missing; returns the number of runs copied. An archived run
    whose file name is not its current key (`archived_key`) is renamed in the archive first."""
    copied = 0
    for name in sorted(os.listdir(archive)) if os.path.isdir(archive) else []:
        path = os.path.join(archive, name)
        if name == BASELINE:
            if not os.path.exists(baseline_path):
                _copy_json(path, baseline_path, "a baseline", "up-3d-test")
            continue
        if name == ORACLE:
            continue
        if not _ARCHIVED_RUN.fullmatch(name):
            raise ValueError(f"{path}: unexpected file in the run archive "
                             f"(expected <12 hex digits>-s<seed>.json, {BASELINE} or {ORACLE})")
        try:
            key = archived_key(read_json_object(path, "a run result", "metrics"), name[:-len(".json")])
        except ConfigError as error:
            raise ValueError(f"{path}: its flags are not a run configuration ({error})") from None
        if key != name[:-len(".json")]:
            os.replace(path, os.path.join(archive, f"{key}.json"))
            path = os.path.join(archive, f"{key}.json")
        target = os.path.join(runs_dir, key, "result.json")
        if not os.path.exists(target):
            _copy_json(path, target, "a run result", "metrics")
            copied += 1
    return copied


def _archive_result(archive, result_path):
    _copy_json(result_path, os.path.join(archive, os.path.basename(os.path.dirname(result_path)) + ".json"),
               "a run result", "metrics")


def _archive_baseline(archive, baseline_path):
    if os.path.exists(baseline_path):
        _copy_json(baseline_path, os.path.join(archive, BASELINE), "a baseline", "up-3d-test")


def profile_prefixes(experiments, profile, benchmark):
    """The hash parts of every run folder the profile's experiments can have (cells and
    pre-trainings): a study folder shared by profiles holds the runs of each."""
    cells = [cell for experiment in experiments for cell in experiment.cells]
    prefixes = {cell_config_hash(profile, benchmark, cell) for cell in cells}
    if profile.pretrain_steps:
        prefixes |= {config_hash(pretrain_flags(profile, benchmark, input_kind, PRETRAIN_SEED))
                     for input_kind in {cell.input for cell in cells}}
    return prefixes


def finished_results(runs_dir, prefixes=None):
    """The `result.json` paths of the finished runs under `runs_dir`, of those hash parts only if given."""
    paths = sorted(glob.glob(os.path.join(runs_dir, "*", "result.json")))
    if prefixes is None:
        return paths
    return [path for path in paths if os.path.basename(os.path.dirname(path)).rsplit("-s", 1)[0] in prefixes]


def archive_run(archive, result_path, baseline_path):
    """Writes one finished run (`RUNS/<run>/result.json`) and the baseline (which the first run
    writes) into the archive."""
    _archive_result(archive, result_path)
    _archive_baseline(archive, baseline_path)


def export_archive(archive, runs_dir, baseline_path, prefixes=None):
    """Writes the finished runs of `runs_dir` (those of `prefixes` if given, see `profile_prefixes`)
    and the baseline into the archive; returns the run count."""
    results = finished_results(runs_dir, prefixes)
    for path in results:
        _archive_result(archive, path)
    _archive_baseline(archive, baseline_path)
    return len(results)


def flagfile_text(flags, model_dir, runtime=None):
    """absl flagfile lines for a run's flags (and runtime flags)."""
    lines = []
    for name, value in sorted({**flags, **(runtime or {}), "model_dir": model_dir}.items()):
        if value is None:
            continue
        if isinstance(value, bool):
            lines.append(f"--{name}" if value else f"--no{name}")
        elif name == "train_data":
            lines += [f"--{name}={v}" for v in value]
        elif isinstance(value, (list, tuple)):
            lines.append(f"--{name}={','.join(str(v) for v in value)}")
        else:
            lines.append(f"--{name}={value}")
    return "\n".join(lines) + "\n"


def visible_gpus():
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))


def device_slots(profile, gpu_count, cpu_count=None):
    """The concurrent run slots, each a dict of environment overrides and worker flags ('--threads'):
    one run per GPU for small models, a single slot whose runs mirror over all GPUs otherwise, and
    without a GPU `profile.cpu_slots` runs side by side, sharing the cores."""
    if gpu_count > 1 and profile.parallel_runs_per_gpu:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        ids = visible.split(",") if visible else [str(i) for i in range(gpu_count)]
        return [{"CUDA_VISIBLE_DEVICES": ids[i]} for i in range(gpu_count)]
    cores = cpu_count or os.cpu_count() or 1
    if gpu_count == 0 and profile.cpu_slots > 1 and cores >= profile.cpu_slots:
        return [{"--threads": str(cores // profile.cpu_slots)} for _ in range(profile.cpu_slots)]
    return [{}]


def launch(run, eval_sets, baseline_path, slot):
    """Runs the worker for `run` in a slot (see `device_slots`); returns its exit code (output goes
    to run/log.txt)."""
    os.makedirs(run.folder, exist_ok=True)
    flagfile = os.path.join(run.folder, "run.flags")
    write_bytes(flagfile, flagfile_text(run.flags, os.path.join(run.folder, "model"), run.runtime).encode())
    command = [sys.executable, "-m", "tfhybrid.study.worker", f"--flagfile={flagfile}",
               f"--result={run.result_path}", f"--baseline={baseline_path}"]
    command += [f"--eval_set={name}:{pattern}" for name, pattern in eval_sets.items()]
    command += [f"{k}={v}" for k, v in slot.items() if k.startswith("--")]
    env_overrides = {k: v for k, v in slot.items() if not k.startswith("--")}
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"), **env_overrides}
    if "CUDA_VISIBLE_DEVICES" in env_overrides:
        command.append("--strategy=default")
    with open(os.path.join(run.folder, "log.txt"), "ab") as log:
        return subprocess.call(command, stdout=log, stderr=subprocess.STDOUT, env=env)


def execute(runs, eval_sets, baseline_path, slots, keep_going=False, launcher=launch, log=print, on_finished=None):
    """Runs the unfinished runs, `len(slots)` at a time: whenever a slot is free, the first run in
    `runs`' order whose needed runs have finished (a pre-training only while some run still needs
    it). Returns the runs that failed (or whose needed runs failed). `on_finished(run)` is called on the
    caller's thread as soon as a run succeeds (the study archives it then, so that a study stopped
    midway keeps what it finished)."""
    needed = {need for run in runs if not run.finished for need in run.needs}
    todo = [run for run in runs if not run.finished and (run.cells or run.key in needed)]
    index = {run.key: i for i, run in enumerate(todo, 1)}
    by_key = {run.key: run for run in runs}
    unsettled = set(index)            # runs of `todo` that have neither finished nor failed here
    log(f"{len(runs)} run(s): {len(runs) - len(todo)} finished or not needed, {len(todo)} to run on "
        f"{len(slots)} slot(s)")

    def train(run, slot):
        log(f"[{index[run.key]}/{len(todo)}] start {run.key}: {run.label()}")
        start = time.time()
        code = launcher(run, eval_sets, baseline_path, slot)
        return code, (time.time() - start) / 60

    pending, running, free, failed, stopped = list(todo), {}, list(slots), [], False
    with concurrent.futures.ThreadPoolExecutor(len(slots)) as pool:
        while pending or running:
            while free and pending and not stopped:
                run = next((run for run in pending if not unsettled & set(run.needs)), None)
                if run is None:
                    break
                pending.remove(run)
                missing = [need for need in run.needs if not by_key[need].finished]
                if missing:
                    log(f"[{index[run.key]}/{len(todo)}] not started {run.key}: it needs {', '.join(missing)}, "
                        "which failed")
                    failed.append(run)
                    unsettled.discard(run.key)
                    continue
                slot = free.pop(0)
                running[pool.submit(train, run, slot)] = (run, slot)
            if not running:
                break
            done, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                run, slot = running.pop(future)
                free.append(slot)
                unsettled.discard(run.key)
                code, minutes = future.result()
                if code != 0 or not run.finished:
                    log(f"[{index[run.key]}/{len(todo)}] FAILED {run.key} (exit {code}) after {minutes:.1f} min; "
                        f"see {os.path.join(run.folder, 'log.txt')}")
                    failed.append(run)
                    stopped = stopped or not keep_going
                    continue
                with open(run.result_path) as f:
                    test = json.load(f)["metrics"].get("up-3d-test", {})
                log(f"[{index[run.key]}/{len(todo)}] done {run.key} in {minutes:.1f} min: "
                    f"PVE {test.get('PVE', float('nan')):.1f} MPJPE {test.get('MPJPE', float('nan')):.1f} "
                    f"PVE-T {test.get('PVE-T', float('nan')):.1f}")
                if on_finished:
                    on_finished(run)
    return failed
