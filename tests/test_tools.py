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
