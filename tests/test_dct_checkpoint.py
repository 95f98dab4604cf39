"""DCT's PyTorch checkpoints: a state dict with DCT's keys and shapes, a reference forward written
here with torch.nn.functional, and the converted Keras model giving the same 85 numbers."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from torch_resnet import resnet_forward, resnet_state

from tfhybrid.dct_checkpoint import CheckpointError, load_into, resnet_depth
from tfhybrid.config import ModelConfig
from tfhybrid.models.hybrid import HybridModel

SIZE = 64


def _reference(s, image_bgr, iuv):
    main = resnet_forward(s, "main_encoder", 50, image_bgr)
    feat = torch.cat([main, resnet_forward(s, "aux_encoder", 18, iuv)], dim=1)
    feat = F.relu(F.linear(F.relu(feat), s["feat_encoder.1.weight"], s["feat_encoder.1.bias"]))
    return F.linear(feat, s["regressor.0.weight"], s["regressor.0.bias"])


@pytest.fixture(scope="module")
def state():
    rng = np.random.default_rng(0)
    s = {**resnet_state(rng, "main_encoder", 50), **resnet_state(rng, "aux_encoder", 18)}
    s.update({"feat_encoder.1.weight": rng.normal(0, 0.02, (1024, 2048)), "feat_encoder.1.bias": rng.normal(0, 0.02, 1024),
              "regressor.0.weight": rng.normal(0, 0.02, (85, 1024)), "regressor.0.bias": rng.normal(0, 0.02, 85)})
    return {f"module.{k}": v.astype(np.float32) for k, v in s.items()}


def test_converted_model_matches_the_pytorch_forward(state, toy):
    assert resnet_depth({k[7:]: v for k, v in state.items()}, "main_encoder") == 50
    assert resnet_depth({k[7:]: v for k, v in state.items()}, "aux_encoder") == 18
    model = HybridModel(toy.model, ModelConfig("image+iuv", 50, 18, SIZE, resnet_layout="torchvision",
                                                bgr_input=True))
    rng = np.random.default_rng(1)
    rgb = rng.uniform(-1, 1, (2, SIZE, SIZE, 3)).astype(np.float32)
    iuv = rng.uniform(-1, 1, (2, SIZE, SIZE, 3)).astype(np.float32)
    model({"image": rgb, "iuv": iuv})
    load_into(model, state)
    ours = model({"image": rgb, "iuv": iuv})["params"].numpy() - model.mean_params.numpy()
    torch_state = {k[7:]: torch.from_numpy(v) for k, v in state.items()}
    bgr = torch.from_numpy(rgb[..., ::-1].copy()).permute(0, 3, 1, 2)
    with torch.no_grad():
        expected = _reference(torch_state, bgr, torch.from_numpy(iuv).permute(0, 3, 1, 2)).numpy()
    assert np.abs(expected).max() > 0.05, "outputs are not trivially small"
    np.testing.assert_allclose(ours, expected, atol=1e-4)


def test_wrong_checkpoints_are_named(state, toy):
    model = HybridModel(toy.model, ModelConfig("image+iuv", 50, 18, SIZE, resnet_layout="torchvision"))
    model({"image": np.zeros((1, SIZE, SIZE, 3), np.float32), "iuv": np.zeros((1, SIZE, SIZE, 3), np.float32)})
    broken = dict(state)
    del broken["module.regressor.0.bias"]
    with pytest.raises(CheckpointError, match="missing tensor 'regressor.0.bias'"):
        load_into(model, broken)
    extra = {**state, "module.something.weight": np.zeros(3, np.float32)}
    with pytest.raises(CheckpointError, match="not used"):
        load_into(model, extra)


def test_conversion_tool_writes_a_model_dir(state, model_files, tmp_path):
    import json
    import os
    import subprocess
    import sys

    checkpoint = tmp_path / "img_iuv_res50_res18.pth"
    torch.save({k: torch.from_numpy(v) for k, v in state.items()}, checkpoint)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, os.path.join(root, "tools", "convert_dct_checkpoint.py"),
                             f"--checkpoint={checkpoint}", f"--body_model={model_files['npz']}", f"--input_size={SIZE}",
                             f"--model_dir={tmp_path / 'dct'}"], capture_output=True, text=True, cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ResNet-50 + ResNet-18 (image+iuv)" in result.stdout
    saved = json.load(open(tmp_path / "dct" / "flags.json"))
    assert saved["resnet_layout"] == "torchvision" and saved["bgr_input"] and saved["input"] == "image+iuv"
    assert any(name.startswith("ckpt-0") for name in os.listdir(tmp_path / "dct" / "checkpoints"))
