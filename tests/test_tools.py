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
    """tools/overfit_probe.py reuses a run's recipe on its first people and evaluates on them; and
    tools/shape_probe.py reads the probe model's predicted shape on those people."""
    import json

    from tfhybrid.config import DataConfig, ModelConfig, OptimConfig, RunConfig, save_run_config

    world, records = tiny_records
    run = tmp_path / "run"
    run.mkdir()
    save_run_config(str(run), RunConfig(model=ModelConfig("image", 18, input_size=32),
                                        data=DataConfig(train_data=(f"1.0:{records}/up-3d-*.tfrecord",)),
                                        optim=OptimConfig(batch_size=2, steps=100, steps_per_epoch=2),
                                        body_model=f"{world}/models/toy_smpl_neutral.npz"))
    metrics = _tool("overfit_probe").probe(str(run), people=4, steps=3, precision="float32", out=str(tmp_path / "probe"),
                         threads=0)
    assert metrics["samples"] == 4 and metrics["PVE"] > 0
    saved = json.load(open(tmp_path / "probe" / "float32" / "flags.json"))
    assert saved["steps"] == 3 and saved["train_data"] == [f"1.0:{tmp_path}/probe/probe-people-00000-of-00001.tfrecord"]
    shape_probe = _tool("shape_probe")
    predicted, truth = shape_probe.predicted_betas(str(tmp_path / "probe" / "float32"),
                                                   str(tmp_path / "probe" / "probe-people-00000-of-00001.tfrecord"))
    assert predicted.shape == truth.shape == (4, 10)
    np.testing.assert_allclose(truth, _record_betas(tmp_path / "probe" / "probe-people-00000-of-00001.tfrecord"))


def _tool(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, pathlib.Path(CONVERT_SMPL).parent / f"{name}.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def _record_betas(path):
    import tensorflow as tf

    from tfhybrid.data.decoder import decode

    return np.stack([decode(r)["smpl_betas"].numpy() for r in tf.data.TFRecordDataset(str(path))])


def test_shape_probe_separates_scale_from_shape():
    """A coefficient that scales the template is invisible to a crop; a local bump is not."""
    shape_probe = _tool("shape_probe")
    template = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0]])
    bump = np.zeros((4, 3))
    bump[3, 2] = 0.4
    shapedirs = np.stack([template - template.mean(axis=0), bump, np.ones((4, 3))], axis=-1)
    displacement, scale_free, scales = shape_probe.shape_effects(template, shapedirs)
    np.testing.assert_allclose(scales[0], 1.0)
    np.testing.assert_allclose(scale_free[[0, 2]], 0.0, atol=1e-12)      # pure scale, pure translation
    # The bump, least-squares: scale a = <b - mean b, T - mean T> / |T - mean T|^2, the rest by hand.
    centred = template - template.mean(axis=0)
    moved = bump - bump.mean(axis=0)
    a = np.sum(moved * centred) / np.sum(centred ** 2)
    np.testing.assert_allclose(scales[1], a)
    np.testing.assert_allclose(scale_free[1], np.sqrt(np.mean(np.sum((moved - a * centred) ** 2, axis=1))))
    np.testing.assert_allclose(displacement[1], 0.4 / 2.0)
    assert 0.0 < scale_free[1] < displacement[1]
    np.testing.assert_allclose(shape_probe.pixels_per_unit(template, crop=60, margin=1.2), 25.0)
    truth = np.random.default_rng(0).normal(size=(50, 2))
    _, _, r2 = shape_probe.coefficient_fit(np.stack([truth[:, 0], np.full(50, truth[:, 1].mean())], 1), truth)
    np.testing.assert_allclose(r2, [1.0, 0.0], atol=1e-12)


def test_shape_probe_prints_each_coefficient(tiny_records, tmp_path):
    world, _ = tiny_records
    out = tmp_path / "shape.json"
    result = subprocess.run([sys.executable, str(pathlib.Path(CONVERT_SMPL).parent / "shape_probe.py"),
                             f"--body_model={world}/models/toy_smpl_neutral.npz", "--crop=64", f"--out={out}"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    import json

    report = json.load(open(out))
    assert [c["beta"] for c in report["coefficients"]] == list(range(10))
    assert report["all_scale_free_px"] > 0 and "one pixel is" in result.stdout


def test_ridge_lift_recovers_a_linear_map():
    lifting = _tool("lifting_probe")
    rng = np.random.default_rng(1)
    features = rng.normal(size=(200, 5))
    weights = rng.normal(size=(6, 3))
    targets = lifting.ridge_predict(weights, features)
    np.testing.assert_allclose(lifting.ridge_fit(features, targets, 1e-9), weights, atol=1e-6)
    rotation = lifting.root_rotation_features(np.array([[0.0, 0.0, np.pi / 2] + [0.0] * 69]))
    np.testing.assert_allclose(rotation.reshape(3, 3), [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)


def test_lifting_probe_fits_its_own_people(tiny_records):
    """On the people it was fitted to (fewer than its 66 features), the lift is far closer than the mean mesh."""
    world, records = tiny_records
    result = subprocess.run([sys.executable, str(pathlib.Path(CONVERT_SMPL).parent / "lifting_probe.py"),
                             f"--body_model={world}/models/toy_smpl_neutral.npz", f"--train={records}/up-3d-*",
                             f"--eval={records}/up-3d-*", "--with_root", "--strength=1e-6"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    count = int(lines[0].split()[0])
    assert 0 < count < 66 and f"{count} training people, {count} evaluated" in lines[0]
    assert "true global rotation" in lines[0]
    mean_pve, lift_pve = (float(line.split()[-3]) for line in lines[1:3])
    assert lift_pve < 0.1 * mean_pve


def test_mirror_probe_tells_the_mirrored_body_from_the_true_one(toy):
    """A prediction equal to the mirrored truth reads as the mirror image, one equal to the truth
    as the truth; a pose with one arm raised is asymmetric, the zero pose is not (the toy body is
    symmetric); the summary's fractions, by hand."""
    from tfhybrid import conventions
    from tfhybrid.layers import SMPL

    mirror_probe = _tool("mirror_probe")
    smpl = SMPL(toy.model)
    pose = np.zeros((2, 72), np.float32)
    pose[0, 16 * 3 + 2] = -1.2                   # left shoulder about z: one arm raised
    betas = np.zeros((2, 10), np.float32)
    mirrored = conventions.reflect_smpl_pose(pose).astype(np.float32)
    truth = mirror_probe.mirror_errors(smpl, pose, betas, pose, betas)
    np.testing.assert_allclose(truth["PVE"], 0.0, atol=1e-3)
    assert truth["asymmetry"][0] > 20.0 and truth["asymmetry"][1] < 1e-3
    np.testing.assert_allclose(truth["PVE-mirror"], truth["asymmetry"], rtol=1e-5, atol=1e-3)
    fooled = mirror_probe.mirror_errors(smpl, mirrored, betas, pose, betas)
    np.testing.assert_allclose(fooled["PVE-mirror"], 0.0, atol=1e-3)
    np.testing.assert_allclose(fooled["PVE"], truth["asymmetry"], rtol=1e-5, atol=1e-3)

    summary = mirror_probe.summarize({"PVE": [10.0, 80.0, 50.0, 30.0], "PVE-mirror": [40.0, 20.0, 60.0, 5.0],
                                      "asymmetry": [60.0, 90.0, 70.0, 10.0]}, threshold=50.0)
    assert summary["samples"] == 4 and summary["asymmetric"] == 3
    np.testing.assert_allclose(summary["nearer-mirror"], 1 / 3)
    np.testing.assert_allclose(summary["PVE"], 42.5)
    np.testing.assert_allclose(summary["PVE-forgiven"], (10 + 20 + 50 + 5) / 4)
    np.testing.assert_allclose(summary["asymmetry"], 57.5)
    np.testing.assert_allclose(summary["side-margin"], (30 - 60 + 10 - 25) / 4)
    np.testing.assert_allclose(summary["PVE-asymmetric"], (10 + 80 + 50) / 3)
    np.testing.assert_allclose(summary["PVE-nearer-mirror"], 80.0)


def test_mirror_probe_reads_the_facing_and_the_turned_predictions():
    """Hand cases: the mean pose's root (pi about x) faces the camera, a half turn about the
    vertical axis faces away; a prediction a half turn off counts as turned, one 30 degrees off not."""
    mirror_probe = _tool("mirror_probe")
    truth = np.zeros((3, 72))
    truth[:, 0] = np.pi                                  # facing the camera
    truth[1, :3] = [0.0, 0.0, np.pi]                     # pi about z: upright in the image, facing away
    predicted = truth.copy()
    predicted[0, :3] = [0.0, np.pi, 0.0]                 # pi about y: a half turn from pi about x
    predicted[2, :3] = [np.pi + np.radians(30.0), 0.0, 0.0]
    readings = mirror_probe.root_readings(predicted, truth)
    np.testing.assert_allclose(readings["root-error"], [180.0, 0.0, 30.0], atol=1e-6)
    np.testing.assert_array_equal(readings["facing-away"], [False, True, False])
    summary = mirror_probe.summarize({"PVE": [1.0, 1.0, 1.0], "PVE-mirror": [1.0, 1.0, 1.0],
                                      "asymmetry": [0.0, 0.0, 0.0], **readings}, threshold=50.0)
    np.testing.assert_allclose([summary["root-flipped"], summary["facing-away"]], [1 / 3, 1 / 3])
