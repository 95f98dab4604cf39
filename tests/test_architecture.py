"""The project's structure: the core never imports the synthetic world, configuration travels as
values, and saved configurations of older versions still load."""
import ast
import json
import os
import subprocess
import sys

import pytest

from tfhybrid import config as config_lib
from tfhybrid.config import ConfigError, RunConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Everything real data goes through: the converters, the input pipeline, training, evaluation,
# export, serving and the demo.
REAL_DATA_ENTRY_POINTS = (
    "tfhybrid.train", "tfhybrid.evaluate", "tfhybrid.export", "tfhybrid.demo", "tfhybrid.visualize",
    "tfhybrid.data.inspect", "tfhybrid.data.pipeline", "tfhybrid.data.convert_cli",
    "tfhybrid.data.sources.up3d", "tfhybrid.data.sources.coco_densepose", "tfhybrid.data.sources.h36m",
    "tfhybrid.data.sources.pw3d", "tfhybrid.densepose", "tfhybrid.bodymodel", "tfhybrid.dct_checkpoint",
    "tools/convert_up3d.py", "tools/convert_coco_densepose.py", "tools/convert_h36m.py", "tools/convert_3dpw.py",
    "tools/convert_smpl.py", "tools/convert_dct_checkpoint.py",
)


def _path(module):
    if module.endswith(".py"):
        return os.path.join(ROOT, module)
    base = os.path.join(ROOT, *module.split("."))
    return os.path.join(base, "__init__.py") if os.path.isdir(base) else base + ".py"


def _project_imports(path):
    """Every tfhybrid module imported anywhere in a file (function-level imports included)."""
    found = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("tfhybrid"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tfhybrid"):
            found.add(node.module)
            # `from tfhybrid import x` may name a module.
            found.update(f"{node.module}.{alias.name}" for alias in node.names
                         if os.path.exists(_path(f"{node.module}.{alias.name}")))
    return found


def _reachable(start):
    """{module: the module that imported it} over the import graph from `start`."""
    parents, todo = {start: None}, [start]
    while todo:
        module = todo.pop()
        for imported in _project_imports(_path(module)):
            parts = imported.split(".")
            # Importing a.b.c runs a/__init__ and a/b/__init__ too.
            for k in range(1, len(parts) + 1):
                name = ".".join(parts[:k])
                if name not in parents and os.path.exists(_path(name)):
                    parents[name] = module
                    todo.append(name)
    return parents


@pytest.mark.parametrize("entry", REAL_DATA_ENTRY_POINTS)
def test_real_data_paths_never_import_the_synthetic_world(entry):
    parents = _reachable(entry)
    synthetic = sorted(m for m in parents if m.startswith("tfhybrid.synthetic"))
    chains = []
    for module in synthetic:
        chain = [module]
        while parents[chain[-1]] is not None:
            chain.append(parents[chain[-1]])
        chains.append(" <- ".join(chain))
    assert not synthetic, "\n".join(chains)


def test_the_walk_sees_lazy_imports():
    """The walk must find imports inside functions, or the test above could not fail."""
    assert "tfhybrid.synthetic.make" in _reachable("tfhybrid.study.benchmark")


def _flags_reads_outside_main(path):
    reads = []

    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Name) and child.id == "FLAGS" and function not in (None, "main"):
                reads.append(f"{os.path.relpath(path, ROOT)}:{child.lineno} in {function}()")
            visit(child, name)

    visit(ast.parse(open(path).read()), None)
    return reads


def test_flags_are_read_only_at_the_command_line_edge():
    """absl's FLAGS is read in `main()` functions and in tfhybrid/flags.py, which turns them into values."""
    reads = []
    for folder in ("tfhybrid", "tools"):
        for directory, _, names in os.walk(os.path.join(ROOT, folder)):
            for name in names:
                path = os.path.join(directory, name)
                if name.endswith(".py") and path != os.path.join(ROOT, "tfhybrid", "flags.py"):
                    reads += _flags_reads_outside_main(path)
    assert not reads, "\n".join(reads)


def test_flat_form_round_trips_and_flags_share_the_defaults():
    config = RunConfig().replace(input="image+seg", steps=7, train_data=["1:a-*.tfrecord"], datasets_3d=["h36m"],
                                 precision="mixed_bfloat16")
    assert RunConfig.from_flat(json.loads(json.dumps(config.to_flat()))) == config
    assert config.model.branch_kinds == ("image", "seg") and config.data.datasets_3d == ("h36m",)
    # absl's flags are process-global: define and parse them in a fresh interpreter.
    script = ("from absl import flags; from tfhybrid import flags as f; from tfhybrid.config import RunConfig; "
              "f.define_training_flags(); flags.FLAGS(['p']); assert f.run_config_from_flags() == RunConfig(); "
              "flags.FLAGS(['p', '--steps=9', '--kp_weight=2', '--input=iuv']); "
              "assert f.run_config_from_flags() == RunConfig().replace(steps=9, kp_weight=2.0, input='iuv'); "
              "flags.FLAGS(['p', '--fraction_3d=1.5']); f.run_config_from_flags()")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert "UsageError: command line: fraction_3d must lie in [0, 1], got 1.5" in done.stderr, done.stderr[-2000:]


def test_older_flags_json_loads_and_bad_ones_name_the_file(tmp_path):
    old = RunConfig().to_flat()
    old["uv_noise"] = old.pop("iuv_input_noise") + 4.0
    del old["precision"]                      # written before the flag existed
    old["kp_weight"] = 10                     # an int where a float is meant
    (tmp_path / "flags.json").write_text(json.dumps(old))
    loaded = config_lib.load_run_config(str(tmp_path))
    assert loaded.data.iuv_input_noise == 4.0 and loaded.model.precision == "float32"
    assert loaded == RunConfig().replace(iuv_input_noise=4.0)
    (tmp_path / "flags.json").write_text(json.dumps({**old, "warp_factor": 9}))
    with pytest.raises(ConfigError, match=r"flags.json: unknown training flag\(s\) \['warp_factor'\]"):
        config_lib.load_run_config(str(tmp_path))
    (tmp_path / "flags.json").write_text(json.dumps({"input": "video"}))
    with pytest.raises(ConfigError, match=r"flags.json: input must be one of .*got 'video'"):
        config_lib.load_run_config(str(tmp_path))
    with pytest.raises(ConfigError, match="holds no flags.json"):
        config_lib.load_run_config(str(tmp_path / "elsewhere"))


def test_every_archived_study_run_loads():
    """docs/results' archives were written by earlier versions; each run's flags still make a config."""
    folder = os.path.join(ROOT, "docs", "results")
    paths = [os.path.join(d, n) for d, _, names in os.walk(folder) for n in names if n.endswith(".json")]
    runs = [p for p in paths if os.path.basename(p) not in ("baseline.json", "oracle.json")]
    assert runs, "the archive holds runs"
    for path in runs:
        with open(path) as f:
            RunConfig.from_flat(json.load(f)["flags"], source=path)


def test_commands_keep_tensorflows_start_up_messages_out(tmp_path):
    """A command's output holds its own messages, not TensorFlow's start-up lines (oneDNN notice,
    CUDA probes); TFHYBRID_TF_LOGS=1 shows them again."""
    (tmp_path / "up-3d-test-00000-of-00001.tfrecord").write_bytes(b"")
    command = [sys.executable, "-m", "tfhybrid.evaluate", f"--model_dir={tmp_path}",
               f"--data={tmp_path}/up-3d-test-*.tfrecord"]
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TFHYBRID_TF_LOGS")}
    quiet = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
    assert quiet.returncode != 0 and f"{tmp_path} holds no flags.json" in quiet.stderr
    assert not [line for line in quiet.stderr.splitlines() if line[:5] in ("I0000", "W0000", "E0000")], quiet.stderr
    loud = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env={**env, "TFHYBRID_TF_LOGS": "1"})
    assert [line for line in loud.stderr.splitlines() if line[:5] in ("I0000", "W0000", "E0000")], loud.stderr


def test_converters_load_without_tensorflow():
    """Converter worker processes import TensorFlow only for their writer, after quieting it."""
    script = ("import sys; import tfhybrid.data.sources.up3d, tfhybrid.data.sources.coco_densepose, "
              "tfhybrid.data.sources.h36m, tfhybrid.data.sources.pw3d; print('tensorflow' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert done.stdout.strip() == "False", done.stderr[-2000:]
