"""The synthetic world's files, read back with independent readers, in each real format."""
import hashlib
import json
import os
import pathlib
import pickle

import cv2
import numpy as np
import pytest
import scipy.io
from PIL import Image

from tfhybrid import cocomask, conventions
from tfhybrid.densepose import iuv_to_barycentric, load_uv_table
from tfhybrid.safe_pickle import load_legacy_pickle
from tfhybrid.synthetic.make import make_world
from tfhybrid.bodymodel import smpl_numpy

NUM, SIZE = 6, 128


@pytest.fixture(scope="module")
def world(tmp_path_factory, toy):
    out = str(tmp_path_factory.mktemp("world"))
    records = make_world(out, NUM, seed=0, size=SIZE, workers=1, preview_path=os.path.join(out, "sheet.png"))
    return out, records


def _tree_digest(root):
    digests = {}
    for path in sorted(pathlib.Path(root).rglob("*")):
        if path.is_file():
            digests[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def test_same_bytes_for_any_worker_count(world, tmp_path):
    out, _ = world
    parallel = tmp_path / "parallel"
    make_world(str(parallel), NUM, seed=0, size=SIZE, workers=2, preview_path=str(parallel / "sheet.png"))
    first, second = _tree_digest(out), _tree_digest(parallel)
    assert first.keys() == second.keys()
    assert [k for k in first if first[k] != second[k]] == []
    assert not [k for k in first if ".tmp-" in k]
    other = tmp_path / "other_seed"
    make_world(str(other), 2, seed=1, size=SIZE, workers=1, datasets=("up-3d",))
    assert _tree_digest(other)["up-3d/00000_image.png"] != first["up-3d/00000_image.png"]


def _camera_project(camera, points):
    return np.stack([camera.fx * points[:, 0] / points[:, 2] + camera.cx,
                     camera.fy * points[:, 1] / points[:, 2] + camera.cy], axis=1)


def test_up3d_format_and_ground_truth(world, toy):
    out, records = world
    root = pathlib.Path(out, "up-3d")
    splits = {s: (root / f"{s}.txt").read_text().split() for s in ("train", "val", "test", "trainval")}
    assert sorted(splits["train"] + splits["val"] + splits["test"]) == [f"/{i:05d}_image.png" for i in range(NUM)]
    assert splits["trainval"] == splits["train"] + splits["val"]
    for i in range(NUM):
        stem = root / f"{i:05d}"
        raw = pathlib.Path(f"{stem}_body.pkl").read_bytes()
        with pytest.raises(UnicodeDecodeError):
            pickle.loads(raw)
        body = load_legacy_pickle(f"{stem}_body.pkl")
        assert body["pose"].shape == (72,) and body["betas"].shape == (10,) and body["f"] == 5000.0
        assert not body["trans"].any() and not body["rt"].any() and body["t"][2] > 1
        joints = np.load(f"{stem}_joints.npy")
        assert joints.shape == (3, 14) and joints.dtype == np.float64
        h_fit, w_fit, y1, y2, x1, x2 = (int(v) for v in pathlib.Path(f"{stem}_fit_crop_info.txt").read_text().split())
        image = cv2.imread(f"{stem}_image.png")
        assert Image.open(f"{stem}_image.png").size == (image.shape[1], image.shape[0])
        assert cv2.imread(f"{stem}_render_light.png").shape == image.shape
        assert pathlib.Path(f"{stem}_quality_info.txt").read_text().strip() in ("high", "medium")
        source, number = pathlib.Path(f"{stem}_dataset_info.txt").read_text().split()
        assert number.isdigit()
        # Projection with f = 5000 in the fit window reproduces the annotated joints.
        lsp = smpl_numpy(toy.model, body["betas"], body["pose"])["joints_cocoplus"][:14] + body["t"]
        fit = np.stack([5000 * lsp[:, 0] / lsp[:, 2] + w_fit / 2, 5000 * lsp[:, 1] / lsp[:, 2] + h_fit / 2], 1)
        pixels = fit * [(x2 - x1) / w_fit, (y2 - y1) / h_fit] + [x1, y1]
        labelled = joints[2] > 0
        assert labelled.sum() >= 4
        np.testing.assert_allclose(joints[:2, labelled].T, pixels[labelled], atol=1e-6)
        np.testing.assert_allclose(body["j2d"], fit, atol=1e-6)


def test_iuv_png_channel_order_for_every_reader(world):
    import tensorflow as tf

    out, _ = world
    path = os.path.join(out, "densepose_clean", "up-3d", "00000_image_IUV.png")
    cv = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    pil = np.asarray(Image.open(path))
    tf_png = tf.io.decode_png(tf.io.read_file(path)).numpy()
    assert cv[..., 0].max() <= 24 and cv[..., 0].max() > 0, "cv2 reads I first (Detectron's order)"
    np.testing.assert_array_equal(pil, cv[..., ::-1])
    np.testing.assert_array_equal(tf_png, cv[..., ::-1])
    fg = cv[..., 0] > 0
    assert np.any(cv[..., 0][fg] != cv[..., 2][fg]), "a pixel with I != V pins the order"
    predicted = cv2.imread(os.path.join(out, "densepose_predictions", "up-3d", "00000_image_IUV.png"))
    assert predicted.shape == cv.shape and predicted[..., 0].max() <= 24
    inds = cv2.imread(os.path.join(out, "densepose_predictions", "up-3d", "00000_image_INDS.png"), cv2.IMREAD_UNCHANGED)
    assert inds.ndim == 2 and set(np.unique(inds)) <= {0, 1}


def test_clean_iuv_at_visible_keypoints_is_their_part(world):
    out, records = world
    table = conventions.keypoint_part_table("lsp")
    hits = total = 0
    for record in records["up-3d"]:
        iuv = cv2.imread(os.path.join(out, "densepose_clean", record["preview"]["iuv"]), cv2.IMREAD_UNCHANGED)
        for j, (x, y, v) in enumerate(record["preview"]["keypoints"]):
            if v > 0:
                total += 1
                hits += table[j, iuv[int(y), int(x), 0]]
    assert total > 30 and hits / total > 0.85


def test_coco_format_and_dense_points(world, toy):
    out, records = world
    table = load_uv_table(os.path.join(out, "densepose", "UV_Processed.mat"))
    truth = {r["index"] + 1: r["truth"] for r in records["coco"]}
    seen = {"no_dp": 0, "crowd": 0, "two_people": 0, "points": 0}
    for folder, name in (("train2014", "densepose_coco_2014_train.json"), ("val2014", "densepose_coco_2014_minival.json")):
        data = json.loads(pathlib.Path(out, "coco", "annotations", name).read_text())
        assert set(data) >= {"images", "annotations", "categories"}
        assert data["categories"][0]["keypoints"] == list(conventions.COCO_JOINTS)
        images = {im["id"]: im for im in data["images"]}
        per_image = {}
        for ann in data["annotations"]:
            per_image[ann["image_id"]] = per_image.get(ann["image_id"], 0) + (1 - ann["iscrowd"])
            image = images[ann["image_id"]]
            assert cv2.imread(os.path.join(out, "coco", folder, image["file_name"])).shape[:2] == (image["height"],
                                                                                                  image["width"])
            kp = np.array(ann["keypoints"]).reshape(17, 3)
            assert set(kp[:, 2]) <= {0, 1, 2} and not kp[kp[:, 2] == 0, :2].any()
            assert ann["num_keypoints"] == int((kp[:, 2] > 0).sum())
            if ann["iscrowd"]:
                seen["crowd"] += 1
                assert cocomask.decode(ann["segmentation"]).sum() == ann["area"]
                continue
            if "dp_x" not in ann:
                seen["no_dp"] += 1
                continue
            n = len(ann["dp_x"])
            assert 10 <= n <= 150 and all(len(ann[k]) == n for k in ("dp_y", "dp_I", "dp_U", "dp_V"))
            assert len(ann["dp_masks"]) == 14
            for m in ann["dp_masks"]:
                assert m == [] or (m["size"] == [256, 256] and isinstance(m["counts"], str))
            _check_dense_points(ann, table, toy, truth[ann["image_id"]])
            seen["points"] += n
        seen["two_people"] += sum(1 for c in per_image.values() if c == 2)
    assert all(seen.values()), seen


def _check_dense_points(ann, table, toy, truth):
    """Each (I, U, V) mapped onto the posed surface projects onto its (dp_x, dp_y)."""
    import pycocotools.mask

    x0, y0, w, h = ann["bbox"]
    camera = truth["camera"]
    pixels = np.stack([x0 + np.array(ann["dp_x"]) * w / 256, y0 + np.array(ann["dp_y"]) * h / 256], axis=1)
    _, vertex_ids, bary = iuv_to_barycentric(table, np.array(ann["dp_I"]), ann["dp_U"], ann["dp_V"])
    best = np.full(len(pixels), np.inf)
    for betas, pose, translation in truth["people"]:
        vertices = smpl_numpy(toy.model, betas, pose)["vertices"] + translation
        surface = np.einsum("nk,nkc->nc", bary, vertices[vertex_ids])
        best = np.minimum(best, np.linalg.norm(_camera_project(camera, surface) - pixels, axis=1))
    assert np.all(best * 256 / max(w, h) < 1.0), best.max()
    masks = [pycocotools.mask.decode({"size": m["size"], "counts": m["counts"].encode()}) for m in ann["dp_masks"] if m]
    assert masks and all(m.shape == (256, 256) for m in masks)


def test_h36m_npz(world, toy):
    out, _ = world
    for name in ("h36m_train.npz", "h36m_valid_protocol1.npz"):
        with np.load(os.path.join(out, "h36m", name)) as data:
            n = data["imgname"].shape[0]
            assert data["imgname"].dtype.kind == "U"
            shapes = {"center": (n, 2), "scale": (n,), "part": (n, 24, 3), "S": (n, 24, 4), "pose": (n, 72),
                      "shape": (n, 10), "has_smpl": (n,)}
            assert {k: data[k].shape for k in shapes} == shapes
            for i in range(n):
                assert cv2.imread(os.path.join(out, "h36m", data["imgname"][i])) is not None
                if not data["has_smpl"][i]:
                    continue
                h36m = smpl_numpy(toy.model, data["shape"][i], data["pose"][i])["joints_h36m"]
                expected = conventions.convert_keypoints(h36m - h36m[0], "h36m", "spin24")
                filled = data["S"][i, :, 3] > 0
                assert filled.sum() == 17
                np.testing.assert_allclose(data["S"][i, filled, :3], expected[filled], atol=1e-6)
    train = np.load(os.path.join(out, "h36m", "h36m_train.npz"))
    assert (train["has_smpl"] == 0).any() or (np.load(os.path.join(out, "h36m", "h36m_valid_protocol1.npz"))[
        "has_smpl"] == 0).any()
    assert all(s.startswith("images/S") for s in train["imgname"])


def test_3dpw_sequences(world, toy):
    out, _ = world
    files = sorted(pathlib.Path(out, "3dpw", "sequenceFiles").rglob("*.pkl"))
    assert {f.parent.name for f in files} == {"train", "validation", "test"}
    two_actors = betas_300 = invalid = 0
    for f in files:
        data = load_legacy_pickle(f)
        assert "genders" in data and "gender" not in data
        n = data["cam_poses"].shape[0]
        assert data["cam_intrinsics"].shape == (3, 3) and data["img_frame_ids"].tolist() == list(range(0, 2 * n, 2))
        two_actors += len(data["poses"]) == 2
        for a in range(len(data["poses"])):
            betas = data["betas"][a]
            betas_300 += betas.shape == (300,)
            invalid += int((data["campose_valid"][a] == 0).sum())
            assert data["poses"][a].shape == (n, 72) and data["poses2d"][a].shape == (n, 3, 18)
            assert data["poses_60Hz"][a].shape == (2 * n, 72)
            for frame in range(n):
                smpl = smpl_numpy(toy.model, betas[:10], data["poses"][a][frame])
                np.testing.assert_allclose(data["jointPositions"][a][frame], (smpl["joints"] + data["trans"][a][frame]
                                                                              ).reshape(72), atol=1e-6)
                world_pts = smpl["joints_cocoplus"] + data["trans"][a][frame]
                cam = world_pts @ data["cam_poses"][frame, :3, :3].T + data["cam_poses"][frame, :3, 3]
                k = data["cam_intrinsics"]
                pix = (cam @ k.T)[:, :2] / cam[:, 2:3]
                expected = conventions.convert_keypoints(pix, "cocoplus", "openpose18")
                detected = data["poses2d"][a][frame][2] > 0
                np.testing.assert_allclose(data["poses2d"][a][frame][:2, detected].T, expected[detected], atol=1e-6)
                image = pathlib.Path(out, "3dpw", "imageFiles", data["sequence"], f"image_{frame:05d}.jpg")
                assert image.exists()
    assert two_actors == 1 and betas_300 == 1 and invalid >= 1


def test_uv_files_read_back(world):
    out, _ = world
    mat = scipy.io.loadmat(os.path.join(out, "densepose", "UV_Processed.mat"))
    assert mat["All_FaceIndices"].shape[1] == 1 and mat["All_FaceIndices"].dtype == np.uint8
    assert mat["All_Faces"].min() == 1 and mat["All_vertices"].shape[0] == 1 and mat["All_vertices"].min() == 1
    sym = scipy.io.loadmat(os.path.join(out, "densepose", "UV_symmetry_transforms.mat"))
    assert sym["U_transforms"].shape == (1, 24) and sym["U_transforms"][0, 0].shape == (256, 256)
    assert cv2.imread(os.path.join(out, "sheet.png")) is not None
