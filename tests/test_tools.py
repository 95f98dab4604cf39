import pathlib
import subprocess
import sys

import numpy as np

from tfhybrid.bodymodel import load_body_model

CONVERT_SMPL = str(pathlib.Path(__file__).resolve().parents[1] / "tools" / "convert_smpl.py")


def test_convert_smpl(model_files, toy, tmp_path):
    out = tmp_path / "canonical.npz"
    result = subprocess.run([sys.executable, CONVERT_SMPL, "--src", model_files["smpl_official"],
                             "--out", str(out), "--extra_regressor", f"h36m={model_files['h36m_regressor']}"],
                            capture_output=True, text=True, check=True)
    assert "regressors ['h36m']" in result.stdout
    model = load_body_model(out)
    np.testing.assert_allclose(model.extra_regressors["h36m"], toy.model.extra_regressors["h36m"], atol=1e-7)
    np.testing.assert_allclose(model.posedirs, toy.model.posedirs, atol=1e-8)


def test_convert_smpl_rejects_bad_regressor_flag(model_files, tmp_path):
    result = subprocess.run([sys.executable, CONVERT_SMPL, "--src", model_files["npz"],
                             "--out", str(tmp_path / "x.npz"), "--extra_regressor", "h36m"],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "name=path" in result.stderr
    assert not (tmp_path / "x.npz").exists()


def test_overfit_probe_trains_on_the_runs_own_people(tiny_records, tmp_path):
    """tools/overfit_probe.py reuses a run's recipe on its first people and evaluates on them."""
    import importlib.util
    import json

    from tfhybrid.config import DataConfig, ModelConfig, OptimConfig, RunConfig, save_run_config

    world, records = tiny_records
    run = tmp_path / "run"
    run.mkdir()
    save_run_config(str(run), RunConfig(model=ModelConfig("image", 18, input_size=32),
                                        data=DataConfig(train_data=(f"1.0:{records}/up-3d-*.tfrecord",)),
                                        optim=OptimConfig(batch_size=2, steps=100, steps_per_epoch=2),
                                        body_model=f"{world}/models/toy_smpl_neutral.npz"))
    spec = importlib.util.spec_from_file_location("overfit_probe", pathlib.Path(CONVERT_SMPL).parent / "overfit_probe.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    metrics = tool.probe(str(run), people=4, steps=3, precision="float32", out=str(tmp_path / "probe"),
                         threads=0)
    assert metrics["samples"] == 4 and metrics["PVE"] > 0
    saved = json.load(open(tmp_path / "probe" / "float32" / "flags.json"))
    assert saved["steps"] == 3 and saved["train_data"] == [f"1.0:{tmp_path}/probe/probe-people-00000-of-00001.tfrecord"]
