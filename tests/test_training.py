"""Losses, metrics, the distributed step, and training runs that are killed, resumed and evaluated."""
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from scipy.spatial.transform import Rotation

from tfhybrid import checkpoints as checkpoint_layout, losses, metrics
from tfhybrid.bodymodel import smpl_numpy
from tfhybrid.layers import SMPL
from training_runs import train_args

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def test_keypoint_and_dense_losses_against_numpy():
    rng = np.random.default_rng(0)
    pred = rng.normal(size=(3, 19, 2))
    target = np.concatenate([rng.normal(size=(3, 19, 2)), (rng.random((3, 19, 1)) > 0.5)], -1)
    target[2, :, 2] = 0
    has = np.array([1.0, 0.0, 1.0])
    got = losses.keypoint_loss(pred, target, has).numpy()
    for b in range(3):
        vis = target[b, :, 2] > 0
        expected = np.abs(pred[b, vis] - target[b, vis, :2]).mean() if vis.any() and has[b] else 0.0
        assert got[b] == pytest.approx(expected, rel=1e-6, abs=1e-9)
    dense_pred, dense_target = rng.normal(size=(3, 30, 2)), rng.normal(size=(3, 30, 2))
    mask = np.ones((3, 30))
    mask[1, 9:] = 0                      # nine points: below the minimum of ten
    mask[2, ::2] = 0
    got = losses.dense_loss(dense_pred, dense_target, mask, np.ones(3)).numpy()
    assert got[1] == 0.0
    for b in (0, 2):
        m = mask[b] > 0
        assert got[b] == pytest.approx(np.abs(dense_pred[b, m] - dense_target[b, m]).mean(), rel=1e-6)


def test_smpl_and_joint_losses_against_numpy():
    rng = np.random.default_rng(1)
    pose_pred, pose_gt = rng.normal(0, 0.5, (2, 72)), rng.normal(0, 0.5, (2, 72))
    rot_pred = Rotation.from_rotvec(pose_pred.reshape(-1, 3)).as_matrix().reshape(2, 24, 3, 3)
    rot_gt = Rotation.from_rotvec(pose_gt.reshape(-1, 3)).as_matrix().reshape(2, 24, 3, 3)
    betas_pred, betas_gt = rng.normal(size=(2, 10)), rng.normal(size=(2, 10))
    has = np.array([1.0, 0.0])
    got = losses.smpl_loss(rot_pred, betas_pred, pose_gt, betas_gt, has).numpy()
    expected = np.concatenate([(rot_pred[0, 1:] - rot_gt[0, 1:]).reshape(-1), betas_pred[0] - betas_gt[0]])
    assert got[0] == pytest.approx(np.mean(expected ** 2), rel=1e-5) and got[1] == 0
    pose_only = losses.smpl_loss(rot_pred, betas_pred, pose_gt, betas_gt, has, terms="pose").numpy()
    assert pose_only[0] == pytest.approx(np.mean((rot_pred[0, 1:] - rot_gt[0, 1:]) ** 2), rel=1e-5)
    root_changed = rot_pred.copy()
    root_changed[:, 0] = np.eye(3)
    np.testing.assert_allclose(losses.smpl_loss(root_changed, betas_pred, pose_gt, betas_gt, has).numpy(), got,
                               rtol=1e-6)
    joints_pred, joints_gt = rng.normal(size=(2, 17, 3)), rng.normal(size=(2, 17, 3))
    got = losses.joints3d_loss(joints_pred + 5.0, joints_gt, np.array([1.0, 1.0])).numpy()
    for b in range(2):
        e = (joints_pred[b] - joints_pred[b, :1]) - (joints_gt[b] - joints_gt[b, :1])
        assert got[b] == pytest.approx(np.mean(e ** 2), rel=1e-5)


def test_metrics_known_answers(toy):
    smpl = SMPL(toy.model)
    rng = np.random.default_rng(2)
    pose, betas = rng.normal(0, 0.3, (2, 72)).astype(np.float32), rng.normal(size=(2, 10)).astype(np.float32)
    zero = metrics.mesh_errors(smpl, pose, betas, pose, betas)
    assert all(np.allclose(v, 0, atol=1e-3) for v in zero.values())
    rotated = pose.copy()
    rotated[:, :3] += 1.0
    same = metrics.mesh_errors(smpl, rotated, betas, pose, betas)
    assert np.allclose(same["PVE"], 0, atol=1e-3), "the root rotation is zeroed on both sides"
    other = metrics.mesh_errors(smpl, pose, betas + 1.0, pose, betas)
    assert np.all(other["PVE-T"] > 1.0)
    t_pose = np.concatenate([[metrics.T_POSE_ROOT], np.zeros(71)])
    mesh = np.stack([smpl_numpy(toy.model, b, t_pose)["vertices"] for b in betas])
    scaled_betas = betas.copy()
    scaled_betas[0] += 1.0
    scaled_mesh = smpl_numpy(toy.model, scaled_betas[0], t_pose)["vertices"]
    centred = [m - m.mean(0) for m in (scaled_mesh, mesh[0])]
    best = np.sum(centred[0] * centred[1]) / np.sum(centred[0] ** 2)     # least-squares scale, by hand
    expected = 1000 * np.linalg.norm(best * centred[0] - centred[1], axis=1).mean()
    scale_free = metrics.scale_free_shape_error(smpl, scaled_betas, betas)
    assert scale_free[0] == pytest.approx(expected, rel=1e-3) and scale_free[1] == pytest.approx(0, abs=1e-2)
    joints = rng.normal(size=(2, 17, 3))
    rotation = Rotation.from_rotvec([0.3, -0.5, 0.2]).as_matrix()
    moved = 1.7 * joints @ rotation.T + [0.1, 0.2, 0.3]
    errors = metrics.joint_errors(moved, joints)
    np.testing.assert_allclose(errors["PA-MPJPE"], 0, atol=1e-6)
    assert np.all(errors["MPJPE-H36M"] > 10)
    dkd = metrics.dense_keypoint_distance(np.zeros((1, 3, 2)), np.full((1, 3, 2), 0.1), np.array([[1, 1, 0.0]]), 200)
    assert dkd[0] == pytest.approx(np.hypot(0.1, 0.1) * 100)


def test_mirrored_step_equals_single_device_step():
    result = subprocess.run([sys.executable, os.path.join(HERE, "mirrored_step.py")], capture_output=True, text=True,
                            timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    line = result.stdout.strip().splitlines()[-1]
    fields = dict(item.split("=") for item in line.split())
    assert fields["replicas"] == "2"
    loss_single, loss_mirrored = (float(x) for x in fields["loss"].split(","))
    assert loss_single == pytest.approx(loss_mirrored, rel=1e-5)
    # A per-replica mean instead of the global-batch average would double every update (diff ~ moved).
    assert float(fields["diff"]) < 0.01 * float(fields["moved"]), line


def test_mixed_bfloat16_encoders_train_with_float32_weights_and_outputs(toy):
    import keras

    from step_data import SIZE, batch

    from tfhybrid.config import ModelConfig
    from tfhybrid.models.hybrid import HybridModel

    rng = np.random.default_rng(0)
    data = {k: tf.constant(v) for k, v in batch(rng).items()}
    data["seg"] = tf.constant(rng.integers(0, 15, data["seg"].shape), tf.int32)   # a constant map teaches nothing
    keras.utils.set_random_seed(0)
    model = HybridModel(toy.model, ModelConfig("image+seg", 18, 18, SIZE, precision="mixed_bfloat16"))
    assert keras.config.dtype_policy().name == "float32", "the global policy is restored"
    convolutions = [layer for layer in model.encoders[0].layers if isinstance(layer, keras.layers.Conv2D)]
    assert {layer.compute_dtype for layer in convolutions} == {"bfloat16"}
    assert all(v.dtype == tf.float32 for v in model.trainable_variables)
    out = model(data)
    assert out["vertices"].dtype == tf.float32 and out["params"].dtype == tf.float32
    model.optimizer = keras.optimizers.Adam(1e-3)
    model.optimizer.build(model.trainable_variables)
    before = [v.numpy() for v in model.trainable_variables]
    report = tf.function(model.replica_step)(data)
    assert np.isfinite(float(report["loss"]))
    moved = [np.abs(v.numpy() - b).max() for v, b in zip(model.trainable_variables, before)]
    assert min(moved) > 0, "every weight, the bfloat16 encoders' included, is updated"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_multi_worker_step_equals_single_device_step(tmp_path):
    """Two worker processes on 127.0.0.1 (MultiWorkerMirroredStrategy from TF_CONFIG), each with half
    of the global batch, end with the weights of one device stepping on the whole batch."""
    script = os.path.join(HERE, "multi_worker_step.py")
    ports = f"{_free_port()},{_free_port()}"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    workers = [subprocess.Popen([sys.executable, script, "worker", str(i), ports, str(tmp_path / f"w{i}.npz")],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for i in range(2)]
    reference = subprocess.run([sys.executable, script, "reference", str(tmp_path / "ref.npz")], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=600)
    for worker in workers:
        _, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err[-3000:]
    assert reference.returncode == 0, reference.stderr[-3000:]
    w0, w1, ref = (np.load(tmp_path / name) for name in ("w0.npz", "w1.npz", "ref.npz"))
    keys = [k for k in ref.files if k.startswith("w")]
    assert float(w0["loss"]) == pytest.approx(float(ref["loss"]), rel=1e-5)
    assert max(float(np.abs(w0[k] - w1[k]).max()) for k in keys) == 0.0, "workers hold the same weights"
    diff = max(float(np.abs(w0[k] - ref[k]).max()) for k in keys)
    # Averaging per worker instead of over the global batch would double the update (diff ~ moved).
    assert diff < 1e-2 * float(ref["moved"])


def test_killed_run_resumes_evaluates_and_exports(tiny_records, tmp_path):
    world, records = tiny_records
    model_dir = str(tmp_path / "model")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    process = subprocess.Popen(train_args(world, records, model_dir), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    checkpoints = os.path.join(model_dir, "checkpoints")
    deadline = time.time() + 300
    while time.time() < deadline and tf.train.latest_checkpoint(checkpoints) is None:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    first = tf.train.latest_checkpoint(checkpoints)
    assert first is not None and not first.endswith("ckpt-12"), "killed before the end, after a checkpoint"
    changed = subprocess.run(train_args(world, records, model_dir, "--learning_rate=0.5"), cwd=ROOT, env=env,
                             capture_output=True, text=True)
    assert changed.returncode != 0 and "--learning_rate: saved 0.0001, now 0.5" in changed.stderr
    resumed = subprocess.run(train_args(world, records, model_dir), cwd=ROOT, env=env, capture_output=True,
                             text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resumed from {first}" in resumed.stderr
    assert tf.train.latest_checkpoint(checkpoints).endswith("ckpt-12")
    assert checkpoint_layout.latest_step(model_dir) == 12      # the step a study worker reads to time a resumed run
    assert os.listdir(os.path.join(model_dir, "logs"))
    evaluated = subprocess.run([sys.executable, "-m", "tfhybrid.evaluate", f"--model_dir={model_dir}",
                                f"--data={records}/up-3d-*.tfrecord", f"--picture={tmp_path}/pred.png"], cwd=ROOT,
                               env=env, capture_output=True, text=True)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    (metrics_file,) = glob.glob(os.path.join(model_dir, "metrics", "up-3d-*.json"))
    result = json.load(open(metrics_file))
    assert result["data"] == [f"{records}/up-3d-*.tfrecord"]
    row = result["protocols"]["dct"]["model"]
    assert {"PVE", "MPJPE", "PVE-T", "MPJPE-H36M", "PA-MPJPE", "DKD"} <= set(row)
    assert all(np.isfinite(v) and v > 0 for v in row.values())
    assert os.path.getsize(tmp_path / "pred.png") > 1000
    exported = subprocess.run([sys.executable, "-m", "tfhybrid.export", f"--model_dir={model_dir}",
                               f"--out={tmp_path}/export/1", "--tflite=fp32,fp16,dynamic_int8",
                               f"--eval_data={records}/up-3d-*.tfrecord"], cwd=ROOT, env=env, capture_output=True,
                              text=True)
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert "functional_saver.py" not in exported.stderr, "TensorFlow's INFO lines stay out of the output"
    report = json.load(open(tmp_path / "export" / "1_tflite" / "tflite_report.json"))
    assert set(report["variants"]) == {"fp32", "fp16", "dynamic_int8"}
    assert report["variants"]["fp32"]["max_vertex_difference_m"] < 1e-4
    assert os.path.exists(tmp_path / "export" / "1" / "saved_model.pb")


def _final_layer(model_dir):
    reader = tf.train.load_checkpoint(os.path.join(model_dir, "checkpoints"))
    names = [n for n, shape in reader.get_variable_to_shape_map().items() if n.startswith("model/") and shape == [1024, 85]]
    assert len(names) == 1, names
    return reader.get_tensor(names[0])


def test_init_from_starts_with_the_other_runs_weights(tiny_records, tmp_path):
    world, records = tiny_records
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    first, started, fresh = (str(tmp_path / name) for name in ("first", "started", "fresh"))

    def train(model_dir, *extra):
        done = subprocess.run(train_args(world, records, model_dir, "--steps=3", *extra), cwd=ROOT, env=env,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stderr

    train(first, "--learning_rate=1e-3")
    assert "initialised from" in train(started, f"--init_from={first}", "--learning_rate=0")
    train(fresh, "--learning_rate=0")
    np.testing.assert_array_equal(_final_layer(started), _final_layer(first))     # learning rate 0 keeps them
    assert np.abs(_final_layer(fresh) - _final_layer(first)).max() > 1e-4
    other = subprocess.run(train_args(world, records, str(tmp_path / "other"), "--steps=3", f"--init_from={first}",
                                       "--input=iuv"), cwd=ROOT, env=env, capture_output=True, text=True)
    assert other.returncode != 0 and "is another architecture: --input: 'image' there, 'iuv' here" in other.stderr


def test_every_config_parses():
    training = ("import glob; from absl import flags; from tfhybrid import flags as f; f.define_training_flags(); "
                "paths = [p for p in glob.glob('configs/**/*.flags', recursive=True) if '/study_' not in p and "
                "'oracle' not in p]; "
                "[flags.FLAGS(['x', '--flagfile=' + p]) for p in paths]; print(len(paths))")
    study = ("import glob, importlib; from absl import flags; importlib.import_module('tfhybrid.study.__main__'); "
             "paths = glob.glob('configs/study_*.flags'); [flags.FLAGS(['x', '--flagfile=' + p]) for p in paths]; "
             "print(len(paths))")
    oracle = ("from absl import flags; from tfhybrid.study import oracle; oracle.define_flags(); "
              "flags.FLAGS(['x', '--flagfile=configs/oracle.flags']); print(1)")
    counts = []
    for code in (training, study, oracle):
        result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-2000:]
        counts.append(int(result.stdout.strip().splitlines()[-1]))
    assert counts[0] >= 28 and counts[1] == 8 and counts[2] == 1


def test_multi_worker_training_writes_from_the_chief_only(tiny_records, tmp_path):
    """`python -m tfhybrid.train --strategy=multi_worker` on two local workers runs to the end; only
    the chief writes into the model directory, the other worker's scratch space is removed."""
    world, records = tiny_records
    model_dir = tmp_path / "model"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    ports = [_free_port(), _free_port()]
    workers = []
    for index in range(2):
        tf_config = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_CONFIG": json.dumps(tf_config), "TMPDIR": str(scratch)}
        workers.append(subprocess.Popen(train_args(world, records, str(model_dir), "--strategy=multi_worker",
                                                   "--steps=4", "--checkpoint_every=2", "--log_every=2"),
                                        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for worker in workers:
        _, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err[-3000:]
    assert sorted(os.listdir(model_dir)) == ["checkpoints", "flags.json", "logs"]
    assert tf.train.latest_checkpoint(str(model_dir / "checkpoints")).endswith("ckpt-4")
    assert len(os.listdir(model_dir / "logs")) == 1, "one TensorBoard writer"
    assert os.listdir(scratch) == [], "the worker's scratch checkpoints are removed"
