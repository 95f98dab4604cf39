"""Converters, DensePose mapping, refinement, augmentation and the tf.data pipeline."""
import dataclasses
import json
import glob
import os

import cv2
import numpy as np
import pytest
import tensorflow as tf

from tfhybrid import camera, conventions, losses
from tfhybrid.bodymodel import load_body_model, smpl_numpy
from tfhybrid.config import DataConfig
from tfhybrid.data import augment, decoder, parser, schema
from tfhybrid.data.converter import Options, load_geometry
from tfhybrid.data.inspect import inspect
from tfhybrid.data.pipeline import CorruptRecordError, CorruptRecords, Source, make_dataset
from tfhybrid.data.sources.coco_densepose import COCODensePoseConverter
from tfhybrid.data.sources.h36m import H36MConverter
from tfhybrid.data.sources.pw3d import PW3DConverter
from tfhybrid.data.sources.up3d import UP3DConverter
from tfhybrid.densepose import iuv_to_barycentric, refine_iuv
from tfhybrid.safe_pickle import load_legacy_pickle
from tfhybrid.synthetic.make import make_world

from densepose_loop import densepose_loop_port

NUM, SIZE, CROP = 8, 160, 96


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("world"))
    return out, make_world(out, NUM, seed=3, size=SIZE, workers=1)


def _options(world_dir, dataset, split, out, iuv="densepose_predictions", refine=True):
    return Options(src=os.path.join(world_dir, dataset), split=split, out=out,
                   body_model=os.path.join(world_dir, "models", "toy_smpl_neutral.npz"),
                   uv_table=os.path.join(world_dir, "densepose", "UV_Processed.mat"),
                   iuv_dir=os.path.join(world_dir, iuv, dataset) if iuv else None, refine_iuv=refine,
                   size=CROP, samples_per_shard=5, workers=1)


@pytest.fixture(scope="module")
def records(world, tmp_path_factory):
    world_dir, _ = world
    out = str(tmp_path_factory.mktemp("records"))
    entries = {
        "up-3d": UP3DConverter(_options(world_dir, "up-3d", "trainval", out, iuv="densepose_clean",
                                        refine=False)).run(),
        "coco": COCODensePoseConverter(_options(world_dir, "coco", "train", out)).run(),
        "h36m": H36MConverter(_options(world_dir, "h36m", "train", out)).run(),
        "3dpw": PW3DConverter(_options(world_dir, "3dpw", "test", out)).run(),
    }
    return out, entries


def _read(out, prefix):
    files = sorted(f for f in os.listdir(out) if f.startswith(prefix) and f.endswith(".tfrecord"))
    samples = []
    for f in files:
        for record in tf.data.TFRecordDataset(os.path.join(out, f)):
            samples.append({k: (v.numpy() if hasattr(v, "numpy") else v) for k, v in decoder.decode(record).items()})
    return samples


def _to_source(points, box):
    return box[:2] + points * box[2] / CROP


def test_manifest_and_shards(records):
    out, entries = records
    manifest = json.load(open(os.path.join(out, "manifest.json")))
    assert manifest["schema_version"] == schema.SCHEMA_VERSION
    assert set(manifest["entries"]) == {"up-3d-trainval", "coco-train", "h36m-train", "3dpw-test"}
    coco = manifest["entries"]["coco-train"]
    assert coco["written"] > 0 and any(s["reason"] == "crowd region" for s in coco["skipped"])
    assert all(len(v) == 64 for v in coco["sources"].values())
    for entry in entries.values():
        count = len(entry["shards"])
        assert all(s.endswith(f"-of-{count:05d}.tfrecord") for s in entry["shards"])
    counts, problems = inspect([out])
    assert not problems and counts["coco"]["has_dense"] > 0 and counts["up-3d"]["has_smpl"] > 0


def test_rerun_keeps_finished_shards(world, records):
    out, entries = records
    path = os.path.join(out, entries["h36m"]["shards"][0])
    before = os.stat(path).st_mtime_ns
    again = H36MConverter(_options(world[0], "h36m", "train", out)).run()
    assert os.stat(path).st_mtime_ns == before and again["written"] == entries["h36m"]["written"]


def test_up3d_round_trip(world, records):
    world_dir, _ = world
    out, _ = records
    model, table, _ = load_geometry(os.path.join(world_dir, "models", "toy_smpl_neutral.npz"),
                                    os.path.join(world_dir, "densepose", "UV_Processed.mat"))
    samples = _read(out, "up-3d")
    assert samples and all(s["has_smpl"] and s["has_3d"] and s["has_dense"] and s["has_iuv"] for s in samples)
    for s in samples:
        stem = s["source_id"].decode()
        joints = np.load(os.path.join(world_dir, "up-3d", f"{stem}_joints.npy")).T
        kp = s["keypoints2d"]
        seen = kp[:14, 2] > 0
        np.testing.assert_allclose(_to_source(kp[:14, :2][seen], s["crop_box"]), joints[seen, :2], atol=0.01)
        body = load_legacy_pickle(os.path.join(world_dir, "up-3d", f"{stem}_body.pkl"))
        h_fit, w_fit, y1, y2, x1, x2 = (int(v) for v in open(os.path.join(world_dir, "up-3d",
                                                                            f"{stem}_fit_crop_info.txt")).read().split())
        vertices = smpl_numpy(model, body["betas"], body["pose"])["vertices"] + body["t"]
        surface = np.einsum("nk,nkc->nc", s["dense_barycentric"], vertices[s["dense_vertex_ids"]])
        fit = 5000 * surface[:, :2] / surface[:, 2:3] + [w_fit / 2, h_fit / 2]
        source = fit * [(x2 - x1) / w_fit, (y2 - y1) / h_fit] + [x1, y1]
        crop = (source - s["crop_box"][:2]) * CROP / s["crop_box"][2]
        error = np.linalg.norm(crop - s["dense_xy"], axis=1)
        assert np.median(error) < 0.5 and np.percentile(error, 95) < 1.0, error.max()
        expected = smpl_numpy(model, body["betas"], body["pose"])["joints_h36m"]
        np.testing.assert_allclose(s["joints3d"], expected - expected[0], atol=1e-5)


def test_coco_dense_points_land_on_the_person(world, records):
    world_dir, truth = world
    out, _ = records
    model, table, _ = load_geometry(os.path.join(world_dir, "models", "toy_smpl_neutral.npz"),
                                    os.path.join(world_dir, "densepose", "UV_Processed.mat"))
    people = {r["index"] + 1: r["truth"] for r in truth["coco"]}
    annotations = {}
    for name in ("densepose_coco_2014_train.json",):
        data = json.load(open(os.path.join(world_dir, "coco", "annotations", name)))
        annotations.update({f"coco-{a['id']}": a for a in data["annotations"]})
    checked = 0
    for s in _read(out, "coco"):
        ann = annotations[s["source_id"].decode()]
        coco = np.array(ann["keypoints"], float).reshape(17, 3)
        kp = conventions.convert_keypoints(coco, "coco", "cocoplus")
        seen = s["keypoints2d"][:, 2] > 0
        np.testing.assert_allclose(_to_source(s["keypoints2d"][seen, :2], s["crop_box"]), kp[seen, :2], atol=0.01)
        if "dp_x" not in ann:
            continue
        cam = people[ann["image_id"]]["camera"]
        best = np.full(s["dense_xy"].shape[0], np.inf)
        for betas, pose, translation in people[ann["image_id"]]["people"]:
            v = smpl_numpy(model, betas, pose)["vertices"] + translation
            p = np.einsum("nk,nkc->nc", s["dense_barycentric"], v[s["dense_vertex_ids"]])
            px = np.stack([cam.fx * p[:, 0] / p[:, 2] + cam.cx, cam.fy * p[:, 1] / p[:, 2] + cam.cy], 1)
            crop = (px - s["crop_box"][:2]) * CROP / s["crop_box"][2]
            best = np.minimum(best, np.linalg.norm(crop - s["dense_xy"], axis=1))
        assert np.all(best < 0.5), best.max()
        checked += 1
    assert checked > 0


def test_h36m_and_3dpw_records(records):
    out, entries = records
    h36m = _read(out, "h36m")
    assert len(h36m) == entries["h36m"]["written"] > 0
    assert any(not s["has_smpl"] for s in h36m) and all(s["has_3d"] for s in h36m)
    pw3d = _read(out, "3dpw")
    assert pw3d and all(s["has_smpl"] and s["has_3d"] for s in pw3d)
    assert {s["source_id"].decode().rsplit("-", 1)[1] for s in pw3d} == {"0", "1"}, "both actors of the test sequence"


def test_mapping_equals_densepose_loop(world):
    world_dir, _ = world
    _, table, lookup = load_geometry(os.path.join(world_dir, "models", "toy_smpl_neutral.npz"),
                                     os.path.join(world_dir, "densepose", "UV_Processed.mat"))
    rng = np.random.default_rng(0)
    n = 2500
    parts, u, v = rng.integers(1, 25, n), rng.random(n), rng.random(n)
    u[:300], v[:300] = rng.choice([0.0, 1.0], 300), rng.random(300)       # chart borders and outside faces
    faces, ids, bary = iuv_to_barycentric(table, parts, u, v)
    outside = 0
    for i in range(n):
        face, expected = densepose_loop_port(table, parts[i], u[i], v[i])
        assert faces[i] == face, i
        np.testing.assert_allclose(bary[i], expected, atol=1e-9)
        outside += expected.max() == 1.0
    assert outside > 50, "the nearest-corner fallback is exercised"
    np.testing.assert_array_equal(ids, table.face_body_vertices[faces])
    qu, qv = rng.integers(0, 256, n), rng.integers(0, 256, n)
    lut_faces, _, lut_bary = lookup(parts, qu, qv)
    exact_faces, _, exact_bary = iuv_to_barycentric(table, parts, qu / 255, qv / 255)
    np.testing.assert_array_equal(lut_faces, exact_faces)
    np.testing.assert_allclose(lut_bary, exact_bary, atol=1e-6)


def _hand_map():
    """A 40x40 IUV map: torso, right upper leg (7) and right lower leg (11) stacked vertically."""
    iuv = np.zeros((40, 40, 3), np.uint8)
    iuv[2:14, 10:30] = (2, 100, 100)
    iuv[14:26, 12:20] = (7, 50, 60)
    iuv[26:38, 12:20] = (11, 70, 80)
    return iuv


def test_refinement_removes_swapped_limb_only():
    names = conventions.COCOPLUS_JOINTS
    iuv = _hand_map()
    swapped = iuv.copy()
    swapped[26:38, 12:20, 0] = 12                     # lower leg labelled as the left one
    keypoints = np.zeros((19, 3))
    keypoints[names.index("right_knee")] = (15.5, 26.5, 1)
    keypoints[names.index("right_ankle")] = (15.5, 35.5, 1)
    keypoints[names.index("right_hip")] = (15.5, 15.5, 1)
    refined, removed = refine_iuv(swapped, keypoints)
    assert removed == 1
    assert not (refined[..., 0] == 12).any(), "the wrong region is background now"
    np.testing.assert_array_equal(refined[:26], iuv[:26]), "correct regions untouched"
    same, removed = refine_iuv(iuv, keypoints)
    assert removed == 0 and np.array_equal(same, iuv)
    on_background = np.zeros((19, 3))
    on_background[names.index("right_ankle")] = (2.5, 38.5, 1)
    unchanged, removed = refine_iuv(swapped, on_background)
    assert removed == 0 and np.array_equal(unchanged, swapped)
    hidden = keypoints.copy()
    hidden[:, 2] = 0
    assert refine_iuv(swapped, hidden)[1] == 0, "invisible keypoints do not refine"


def test_refinement_recurses_until_clean():
    """Removing one wrong region under a keypoint exposes the next, which is removed too."""
    names = conventions.COCOPLUS_JOINTS
    iuv = np.zeros((30, 30, 3), np.uint8)
    iuv[5:25, 5:25, 0] = 8                            # a left thigh around a right knee keypoint ...
    iuv[14:16, 14:16, 0] = 14                         # ... with a left-shin blob under it
    iuv[0:3, 0:3, 0] = 13                             # an unrelated right-shin region
    keypoints = np.zeros((19, 3))
    keypoints[names.index("right_knee")] = (15.0, 15.0, 1)
    refined, removed = refine_iuv(iuv, keypoints)
    assert removed == 2
    np.testing.assert_array_equal(refined[..., 0], np.where(iuv[..., 0] == 13, 13, 0))


def test_flip_tables_match_conventions():
    iuv = np.stack(np.meshgrid(np.arange(25), np.arange(0, 256, 5), indexing="ij"), -1).reshape(-1, 2)
    iuv = np.concatenate([iuv, iuv[:, 1:][::-1]], axis=1).astype(np.uint8)
    flipped = augment.flip_iuv(tf.constant(iuv)).numpy()
    parts = iuv[:, 0]
    np.testing.assert_array_equal(flipped[:, 0], conventions.FINE_PART_SYMMETRY[parts])
    np.testing.assert_array_equal(flipped[:, 1], np.where(conventions.CHART_FLIP_MIRRORS_U[parts], 255 - iuv[:, 1],
                                                          iuv[:, 1]))
    np.testing.assert_array_equal(flipped[:, 2], np.where(conventions.CHART_FLIP_MIRRORS_V[parts], 255 - iuv[:, 2],
                                                          iuv[:, 2]))
    labels = np.arange(15, dtype=np.uint8)
    np.testing.assert_array_equal(augment.flip_segmentation(tf.constant(labels)).numpy(),
                                  conventions.COARSE_PART_SYMMETRY)


def _batch(out, prefix, count=6):
    files = sorted(os.path.join(out, f) for f in os.listdir(out) if f.startswith(prefix) and f.endswith(".tfrecord"))
    ds = tf.data.TFRecordDataset(files).map(lambda r: parser.pad_dense(decoder.decode(r), 200)).batch(count)
    return next(iter(ds))


def test_flip_twice_is_identity(records):
    out, _ = records
    batch = _batch(out, "up-3d")
    options = augment.AugmentOptions(flip_probability=1.0, scale_range=0.0, translation_range=0.0, color_jitter=0.0)
    once = augment.augment_batch(batch, options, tf.constant([1, 2]))
    once["image"] = tf.cast(tf.round(once["image"]), tf.uint8)
    twice = augment.augment_batch(once, options, tf.constant([3, 4]))
    assert not np.array_equal(once["iuv"].numpy(), batch["iuv"].numpy())
    for key in ("iuv", "seg", "keypoints2d", "joints3d", "smpl_pose", "dense_xy", "dense_vertex_ids",
                "dense_barycentric", "dense_vertex_ids_flipped", "dense_barycentric_flipped"):
        np.testing.assert_allclose(twice[key].numpy(), batch[key].numpy(), atol=1e-4, err_msg=key)
    np.testing.assert_allclose(twice["image"].numpy(), batch["image"].numpy(), atol=1e-3)


def test_flip_moves_every_coordinate_with_the_image(records):
    """A mirrored keypoint sits where the mirrored image shows the same part; flipped dense
    correspondences of the mirrored crop land on the mirrored body."""
    out, _ = records
    batch = _batch(out, "up-3d")
    options = augment.AugmentOptions(flip_probability=1.0, scale_range=0.15, translation_range=0.1, color_jitter=0.0)
    moved = augment.augment_batch(batch, options, tf.constant([5, 6]))
    table = conventions.keypoint_part_table("cocoplus")
    hits = total = 0
    for iuv, kp in zip(moved["iuv"].numpy(), moved["keypoints2d"].numpy()):
        for j, (x, y, v) in enumerate(kp):
            if v > 0 and iuv[int(y), int(x), 0] > 0:
                total += 1
                hits += table[j, iuv[int(y), int(x), 0]]
    assert total > 10 and hits / total > 0.8


def _losses_at_ground_truth(body, batch, permute=False):
    """Unweighted keypoint and dense losses (B,) of each sample's true SMPL body seen through the
    least-squares weak-perspective camera of its visible keypoints."""
    from tfhybrid.layers import SMPL, fit_weak_perspective, gather_dense_keypoints
    from tfhybrid.models.hybrid import body_outputs

    smpl = SMPL(body)
    joints = smpl(batch["smpl_betas"], batch["smpl_pose"])["joints_cocoplus"]
    cam = fit_weak_perspective(joints, batch["keypoints2d"][..., :2], batch["keypoints2d"][..., 2])
    out = body_outputs(smpl, tf.concat([cam, batch["smpl_pose"], batch["smpl_betas"]], axis=-1))
    ids = batch["dense_vertex_ids"]
    if permute:
        ids = tf.gather(tf.constant(np.random.default_rng(0).permutation(body.num_vertices), tf.int32), ids)
    dense = gather_dense_keypoints(out["vertices2d"], ids, batch["dense_barycentric"])
    return (losses.keypoint_loss(out["keypoints2d"], batch["keypoints2d"], batch["has_2d"]).numpy(),
            losses.dense_loss(dense, batch["dense_xy"], batch["dense_mask"], batch["has_dense"]).numpy())


def test_dense_path_is_exact_at_the_ground_truth(world, records):
    """Records from exact IUV: at the true body and camera, keypoints and dense points land where
    the annotations are, in plain and mirrored crops; wrong vertex ids would not."""
    world_dir, _ = world
    body = load_body_model(os.path.join(world_dir, "models", "toy_smpl_neutral.npz"))
    pattern = os.path.join(records[0], "up-3d-trainval-*.tfrecord")
    plain = next(iter(make_dataset([pattern], NUM, training=False)))
    mirror = augment.AugmentOptions(flip_probability=1.0, scale_range=0.0, translation_range=0.0, color_jitter=0.0)
    mirrored = next(iter(make_dataset([pattern], NUM, training=True, augment=mirror)))
    for batch in (plain, mirrored):
        assert batch["has_dense"].numpy().all() and batch["has_smpl"].numpy().all()
        keypoints, dense = _losses_at_ground_truth(body, batch)
        # Normalised crop units: 0.01 is half a pixel of a 96-pixel crop.
        assert keypoints.max() < 0.005, keypoints
        assert dense.max() < 0.03, dense
        _, scrambled = _losses_at_ground_truth(body, batch, permute=True)
        assert scrambled.min() > 0.1, scrambled


def test_pipeline_batches_mixture_and_knobs(records):
    out, _ = records
    sources = [Source((os.path.join(out, "up-3d-*.tfrecord"),), 0.5), Source((os.path.join(out, "h36m-*.tfrecord"),), 0.5)]
    ds = make_dataset(sources, 8, training=True, study=DataConfig(fraction_3d=0.5, datasets_3d=("up-3d",)))
    counts = {"up-3d": 0, "h36m": 0}
    kept = {}
    for batch in ds.take(40):
        assert batch["image"].shape == (8, CROP, CROP, 3) and batch["dense_xy"].shape == (8, 200, 2)
        assert batch["iuv"].dtype == tf.float32 and batch["seg"].dtype == tf.int32
        assert float(tf.reduce_min(batch["image"])) >= -1.0 and float(tf.reduce_max(batch["image"])) <= 1.0
        for name, sid, has in zip(batch["dataset"].numpy(), batch["source_id"].numpy(), batch["has_smpl"].numpy()):
            counts[name.decode()] += 1
            if name == b"up-3d":
                kept[sid] = has
    share = counts["up-3d"] / sum(counts.values())
    assert abs(share - 0.5) < 0.1, counts
    hashes = tf.strings.to_hash_bucket_fast(list(kept), 1 << 30).numpy() / (1 << 30)
    np.testing.assert_array_equal(np.array(list(kept.values())) > 0, hashes < 0.5)


def _masks_by_source(pattern, study, training=False, seed=0, batches=3):
    """{source id: (dense mask (D,), dense xy (D, 2))} over a few batches of the pipeline."""
    ds = make_dataset(pattern, 4, training=training, study=study, seed=seed,
                      augment=augment.AugmentOptions.none() if training else None)
    out = {}
    for batch in ds.take(batches):
        for sid, mask, xy in zip(batch["source_id"].numpy(), batch["dense_mask"].numpy(), batch["dense_xy"].numpy()):
            out[sid] = (mask, xy)
    return out


def test_dense_subsets_are_fixed_spread_and_nested(records):
    out, _ = records
    pattern = os.path.join(out, "up-3d-*.tfrecord")
    full = _masks_by_source(pattern, DataConfig())
    capped = _masks_by_source(pattern, DataConfig(max_dense_per_person=12))
    wider = _masks_by_source(pattern, DataConfig(max_dense_per_person=24))
    shifts = []
    for sid, (mask, xy) in capped.items():
        annotated = full[sid][0]
        assert mask.sum() == min(12, annotated.sum())
        assert np.all(mask <= wider[sid][0]) and np.all(wider[sid][0] <= annotated)
        # Rendered records list points row by row: a subset taken in record order sits on the head.
        shifts.append(xy[mask > 0, 1].mean() - xy[annotated > 0, 1].mean())
    assert abs(np.mean(shifts)) < 0.2, shifts
    # The same subset at every step and whatever the pipeline's seed: an annotation, not a dropout.
    again = _masks_by_source(pattern, DataConfig(max_dense_per_person=12), training=True, seed=7, batches=6)
    assert set(again) & set(capped)
    for sid in set(again) & set(capped):
        np.testing.assert_array_equal(again[sid][0], capped[sid][0])
    small = _masks_by_source(pattern, DataConfig(fraction_dense=0.3))
    half = _masks_by_source(pattern, DataConfig(fraction_dense=0.6))
    ratio = sum(m.sum() for m, _ in half.values()) / sum(full[sid][0].sum() for sid in half)
    assert 0.5 < ratio < 0.7, ratio
    for sid, (mask, _) in small.items():
        assert np.all(mask <= half[sid][0]) and np.all(half[sid][0] <= full[sid][0])


def test_pad_dense_keeps_a_spread_subset_of_long_rows():
    rows = 300
    sample = {name: tf.tile(tf.range(rows, dtype=tf.float32)[:, None], [1, width])
              for name, _, width in schema.DENSE_FIELDS}
    sample["source_id"] = tf.constant("up-3d/000042")
    padded = parser.pad_dense(sample, 200)
    kept = padded["dense_xy"].numpy()[:, 0]
    assert padded["dense_mask"].numpy().sum() == 200 and len(set(kept)) == 200
    assert np.all(np.diff(kept) > 0)
    # Not the first 200 rows: a third of the kept ones lie in the last third of the record.
    assert 50 < (kept >= 200).sum() < 85 and abs(kept.mean() - 150) < 15
    for name, _, _ in schema.DENSE_FIELDS:
        np.testing.assert_array_equal(padded[name].numpy()[:, 0], kept)
    np.testing.assert_array_equal(parser.pad_dense(sample, 200)["dense_xy"].numpy(), padded["dense_xy"].numpy())
    short = parser.pad_dense({**sample, **{name: value[:120] for name, value in sample.items() if name != "source_id"}},
                             200)
    np.testing.assert_array_equal(short["dense_xy"].numpy()[:120, 0], np.arange(120))
    assert short["dense_mask"].numpy().sum() == 120


def test_iuv_input_noise(records):
    out, _ = records
    full = next(iter(make_dataset(os.path.join(out, "up-3d-*.tfrecord"), 4, training=False)))
    noisy = next(iter(make_dataset(os.path.join(out, "up-3d-*.tfrecord"), 4, training=False,
                                   study=DataConfig(iuv_input_noise=20.0))))
    fg = full["iuv"].numpy()[..., 0] > -1
    diff = (noisy["iuv"].numpy() - full["iuv"].numpy())[..., 1:][fg] * 255 / 2
    assert 10 < diff.std() < 30 and not (noisy["iuv"].numpy()[..., 1:][~fg] != -1).any()


def test_corrupt_record_is_named_or_counted(records, tmp_path):
    out, entries = records
    good = list(tf.data.TFRecordDataset(os.path.join(out, entries["h36m"]["shards"][0])).as_numpy_iterator())[:3]
    path = str(tmp_path / "h36m-train-00000-of-00001.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for record in (good[0], b"not an example at all", good[1], good[2]):
            writer.write(record)
    # The error crosses the tf.data runtime, which re-raises it as InvalidArgumentError with our message.
    with pytest.raises((CorruptRecordError, tf.errors.InvalidArgumentError),
                       match=r"CorruptRecordError: .*h36m-train-00000-of-00001\.tfrecord record 1: not a tf.train.Example"):
        for _ in make_dataset(path, 2, training=False):
            pass
    corrupt = CorruptRecords()
    batches = list(make_dataset(path, 1, training=False, skip_corrupt=True, corrupt=corrupt))
    assert len(batches) == 3 and len(corrupt) == 1 and "record 1" in corrupt.report()
    counts, problems = inspect([path])
    assert problems[0][:2] == (path, 1) and counts["h36m"]["records"] == 3


def test_bad_inputs_are_skipped_with_reasons(world, tmp_path):
    world_dir, _ = world
    import shutil

    src = tmp_path / "h36m"
    shutil.copytree(os.path.join(world_dir, "h36m"), src)
    with np.load(src / "h36m_train.npz") as data:
        arrays = {k: data[k] for k in data.files}
    arrays["part"][0, 0, 0] = np.nan
    os.remove(src / arrays["imgname"][1])
    np.savez(src / "h36m_train.npz", **arrays)
    options = Options(src=str(src), split="train", out=str(tmp_path / "out"),
                      body_model=os.path.join(world_dir, "models", "toy_smpl_neutral.npz"),
                      uv_table=os.path.join(world_dir, "densepose", "UV_Processed.mat"), size=CROP, workers=1)
    entry = H36MConverter(options).run()
    reasons = [s["reason"] for s in entry["skipped"]]
    assert any("NaN" in r for r in reasons) and any("missing image" in r for r in reasons)
    (src / "h36m_train.npz").write_bytes(b"truncated")
    with pytest.raises(ValueError, match="h36m_train.npz"):
        H36MConverter(options).run()


def test_schema_doc_is_current():
    doc = open(os.path.join(os.path.dirname(__file__), "..", "docs", "schema.md")).read()
    assert schema.markdown_table() in doc and f"version {schema.SCHEMA_VERSION}" in doc


def test_uv_noise_perturbs_iuv_and_dense_points_reproducibly(world, records, tmp_path):
    world_dir, _ = world
    clean = {s["source_id"]: s for s in _read(records[0], "coco")}
    noisy_runs = []
    for name in ("a", "b"):
        options = dataclasses.replace(_options(world_dir, "coco", "train", str(tmp_path / name)), uv_noise=20.0)
        COCODensePoseConverter(options).run()
        noisy_runs.append(_read(str(tmp_path / name), "coco"))
    assert [s["source_id"] for s in noisy_runs[0]] == [s["source_id"] for s in noisy_runs[1]]
    for a, b in zip(*noisy_runs):
        np.testing.assert_array_equal(a["iuv"], b["iuv"])                   # fixed by the sample: reconversion agrees
        np.testing.assert_array_equal(a["dense_vertex_ids"], b["dense_vertex_ids"])
    deltas, moved, points = [], 0, 0
    for s in noisy_runs[0]:
        ref = clean[s["source_id"]]
        np.testing.assert_array_equal(s["iuv"][..., 0], ref["iuv"][..., 0])  # parts and background untouched
        np.testing.assert_array_equal(s["iuv"][ref["iuv"][..., 0] == 0], ref["iuv"][ref["iuv"][..., 0] == 0])
        foreground = ref["iuv"][..., 0] > 0
        deltas.append((s["iuv"][foreground][:, 1:].astype(float) - ref["iuv"][foreground][:, 1:]).ravel())
        np.testing.assert_allclose(s["dense_xy"], ref["dense_xy"])
        moved += int(np.sum(np.any(s["dense_vertex_ids"] != ref["dense_vertex_ids"], axis=1)))
        points += s["dense_xy"].shape[0]
    delta = np.concatenate(deltas)
    assert 12.0 < np.std(delta) < 21.0 and abs(np.mean(delta)) < 3.0, (np.std(delta), np.mean(delta))  # sigma 20, clipped
    assert points > 0 and moved > 0.3 * points


def test_records_are_checked_once_however_many_epochs(records, monkeypatch):
    """The Python record check runs once per record; later epochs reuse its verdict, corrupt records
    included."""
    from tfhybrid.data import pipeline

    out, _ = records
    files = sorted(glob.glob(os.path.join(out, "up-3d-*.tfrecord")))
    count = sum(1 for _ in tf.data.TFRecordDataset(files))
    calls = []
    real = schema.validate_serialized

    def counting(data, num_vertices=None):
        calls.append(1)
        problems = real(data, num_vertices)
        return problems or (["flagged by the test"] if len(calls) == 1 else [])

    monkeypatch.setattr(pipeline.schema, "validate_serialized", counting)
    corrupt = CorruptRecords()
    epochs = list(pipeline.read_records(files, skip_corrupt=True, corrupt=corrupt).repeat(3))
    assert len(calls) == count, "each record checked once"
    assert len(epochs) == 3 * (count - 1) and len(corrupt) == 1, "the flagged record stays skipped"
