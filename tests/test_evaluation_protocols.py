"""Evaluation names its data and writes one metrics file per dataset with its protocols: DCT's,
3DPW's with gendered ground truth and Human3.6M's protocol 2, checked against plain numpy."""
import dataclasses
import glob
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from scipy.linalg import orthogonal_procrustes

from tfhybrid import checkpoints
from tfhybrid.bodymodel import load_body_model, save_body_model, smpl_numpy
from tfhybrid.config import DataConfig, ModelConfig, RunConfig, save_run_config
from tfhybrid.data import decoder
from tfhybrid.data.converter import Options
from tfhybrid.data.sources.h36m import H36MConverter
from tfhybrid.data.sources.pw3d import PW3DConverter
from tfhybrid.models import build_model
from tfhybrid.models.hybrid import default_mean_params
from tfhybrid.synthetic.make import make_world

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CROP = 64
LSP14_FROM_H36M = [6, 5, 4, 1, 2, 3, 16, 15, 14, 11, 12, 13, 8, 10]   # SPIN's H36M_TO_J14, typed out


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("protocols")
    world = str(root / "world")
    make_world(world, 20, seed=5, size=128, workers=1, datasets=("h36m", "3dpw"))
    neutral_path = os.path.join(world, "models", "toy_smpl_neutral.npz")
    records = str(root / "records")
    for converter, dataset, split in ((PW3DConverter, "3dpw", "test"), (H36MConverter, "h36m", "test")):
        converter(Options(src=os.path.join(world, dataset), split=split, out=records, body_model=neutral_path,
                          uv_table=os.path.join(world, "densepose", "UV_Processed.mat"), iuv_dir=None,
                          refine_iuv=False, size=CROP, samples_per_shard=8, workers=1)).run()
    neutral = load_body_model(neutral_path)
    gendered = {}
    for gender, scale in (("male", 1.08), ("female", 0.93)):
        model = dataclasses.replace(neutral, v_template=neutral.v_template * scale, extra_regressors={})
        gendered[gender] = str(root / f"toy_{gender}.npz")
        save_body_model(model, gendered[gender])
    config = RunConfig(model=ModelConfig("image", 18, input_size=CROP), data=DataConfig(train_data=()),
                       body_model=neutral_path)
    model_dir = str(root / "model")
    os.makedirs(model_dir)
    save_run_config(model_dir, config)
    checkpoints.save_weights(build_model(config), model_dir)
    return {"records": records, "neutral": neutral, "gendered": gendered, "model_dir": model_dir}


def _evaluate(setup, *extra):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    return subprocess.run([sys.executable, "-m", "tfhybrid.evaluate", f"--model_dir={setup['model_dir']}", *extra],
                          cwd=ROOT, env=env, capture_output=True, text=True)


def _records(pattern):
    out = []
    for path in sorted(glob.glob(pattern)):
        for record in tf.data.TFRecordDataset(path):
            out.append({k: v.numpy() for k, v in decoder.decode(record).items()})
    return out


def _similarity_aligned(source, target):
    """Source (J, 3) aligned to target by scale, rotation and translation (scipy's Procrustes rotation)."""
    s, t = source - source.mean(0), target - target.mean(0)
    rotation, singular_sum = orthogonal_procrustes(s, t)
    return singular_sum / (s ** 2).sum() * s @ rotation + target.mean(0)


def test_3dpw_and_h36m_protocols_match_numpy(setup):
    records = setup["records"]
    result = _evaluate(setup, f"--data={records}/3dpw-*.tfrecord", f"--data={records}/h36m-*.tfrecord",
                       f"--body_model_male={setup['gendered']['male']}",
                       f"--body_model_female={setup['gendered']['female']}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{records}/3dpw-*.tfrecord" in result.stdout and "protocol 3dpw" in result.stdout
    pw3d = json.load(open(os.path.join(setup["model_dir"], "metrics", "3dpw-test.json")))
    h36m = json.load(open(os.path.join(setup["model_dir"], "metrics", "h36m-test.json")))
    assert pw3d["splits"] == ["test"] and h36m["splits"] == ["test"]
    assert "gendered" in pw3d["protocols"]["3dpw"]["description"] and "dct" in pw3d["protocols"]

    # The mean-parameter model's numbers, recomputed here in numpy.
    mean = default_mean_params()
    neutral = setup["neutral"]
    models = {g: load_body_model(p).with_extra_regressor("h36m", neutral.extra_regressors["h36m"])
              for g, p in setup["gendered"].items()}
    pred = smpl_numpy(neutral, mean[75:], mean[3:75])
    samples = _records(f"{records}/3dpw-*.tfrecord")
    assert {s["smpl_gender"].decode() for s in samples} == {"male", "female"}, "the converter keeps genders"
    mpjpe, pa, pve, pve_neutral = [], [], [], []
    for s in samples:
        gt = smpl_numpy(models[s["smpl_gender"].decode()], s["smpl_betas"], s["smpl_pose"])
        p14 = (pred["joints_h36m"] - pred["joints_h36m"][0])[LSP14_FROM_H36M]
        g14 = (gt["joints_h36m"] - gt["joints_h36m"][0])[LSP14_FROM_H36M]
        mpjpe.append(np.linalg.norm(p14 - g14, axis=-1).mean())
        pa.append(np.linalg.norm(_similarity_aligned(p14, g14) - g14, axis=-1).mean())
        pve.append(np.linalg.norm((pred["vertices"] - pred["joints_h36m"][0]) -
                                  (gt["vertices"] - gt["joints_h36m"][0]), axis=-1).mean())
        gt_neutral = smpl_numpy(neutral, s["smpl_betas"], s["smpl_pose"])
        pve_neutral.append(np.linalg.norm((pred["vertices"] - pred["joints_h36m"][0]) -
                                          (gt_neutral["vertices"] - gt_neutral["joints_h36m"][0]), axis=-1).mean())
    ours = pw3d["protocols"]["3dpw"]["mean_params"]
    assert ours["samples"] == len(samples)
    np.testing.assert_allclose([ours["MPJPE-14"], ours["PA-MPJPE-14"], ours["PVE"]],
                               1000 * np.array([np.mean(mpjpe), np.mean(pa), np.mean(pve)]), rtol=2e-3)
    assert abs(1000 * np.mean(pve_neutral) - ours["PVE"]) > 5, "the gendered models change the ground truth"

    frontal = [s for s in _records(f"{records}/h36m-*.tfrecord")
               if re.search(r"/S(9|11)_.*\.60457274_", s["source_image"].decode())]
    assert frontal, "the world has protocol-2 records"
    pa_p2 = [np.linalg.norm(_similarity_aligned(pred["joints_h36m"] - pred["joints_h36m"][0],
                                                s["joints3d"] - s["joints3d"][0]) - (s["joints3d"] - s["joints3d"][0]),
                            axis=-1).mean() for s in frontal]
    p2 = h36m["protocols"]["h36m-p2"]["mean_params"]
    assert p2["samples"] == len(frontal) < h36m["protocols"]["dct"]["mean_params"]["samples"]
    np.testing.assert_allclose(p2["PA-MPJPE"], 1000 * np.mean(pa_p2), rtol=2e-3)


def test_evaluation_refuses_to_guess(setup, tmp_path):
    from absl import app

    from tfhybrid.evaluate import evaluation_files

    with pytest.raises(app.UsageError, match="--data is required"):
        evaluation_files([])
    with pytest.raises(app.UsageError, match="matches no file"):
        evaluation_files([f"{tmp_path}/nothing-*.tfrecord"])
    with pytest.raises(app.UsageError, match="needs both --body_model_male and --body_model_female"):
        evaluation_files([f"{setup['records']}/3dpw-*.tfrecord"], setup["gendered"]["male"])
    result = _evaluate(setup)
    assert result.returncode != 0 and "--data is required" in result.stderr
    result = _evaluate(setup, f"--data={setup['records']}/3dpw-*.tfrecord")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.load(open(os.path.join(setup["model_dir"], "metrics", "3dpw-test.json")))
    assert report["protocols"]["3dpw"]["not_computed"] == "needs --body_model_male and --body_model_female"


def test_3dpw_records_without_gender_are_refused(setup, tmp_path):
    from tfhybrid.data import schema

    source = sorted(glob.glob(f"{setup['records']}/3dpw-*.tfrecord"))[0]
    stripped = str(tmp_path / "3dpw-old-00000-of-00001.tfrecord")
    with tf.io.TFRecordWriter(stripped) as writer:
        for record in tf.data.TFRecordDataset(source):
            example = tf.train.Example.FromString(record.numpy())
            del example.features.feature["smpl/gender"]           # written before genders were kept
            assert not schema.validate_serialized(example.SerializeToString())
            writer.write(example.SerializeToString())
    result = _evaluate(setup, f"--data={stripped}", f"--body_model_male={setup['gendered']['male']}",
                       f"--body_model_female={setup['gendered']['female']}")
    assert result.returncode != 0 and "has no gender" in result.stderr and "convert_3dpw.py" in result.stderr
