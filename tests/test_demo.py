"""The demo on synthetic group photos: every person gets a mesh that lands on them, boxes come from
files, DensePose instances or the built-in detector, and bad inputs are reported by name."""
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from absl import app

from tfhybrid import client, demo, export, people
from tfhybrid.config import ModelConfig
from tfhybrid.models.hybrid import HybridModel
from tfhybrid.synthetic.photos import BOXES_FILE, write_group_photos

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = 32


@pytest.fixture(scope="module")
def saved_models(toy, tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo_models")
    paths = {}
    for kind in ("image", "image+iuv"):
        model = HybridModel(toy.model, ModelConfig(kind, 18, 18, SIZE))
        model({"image": np.zeros((1, SIZE, SIZE, 3), np.float32), "iuv": np.zeros((1, SIZE, SIZE, 3), np.float32)})
        paths[kind] = str(folder / kind.replace("+", "_"))
        export.export_saved_model(model, paths[kind])
    return paths


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("photos"))
    return folder, write_group_photos(folder, 1, people_per_photo=2, seed=3)


def _iou(a, b):
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / (a[2] * a[3] + b[2] * b[3] - ix * iy)


def _read_obj(path):
    rows = [line.split()[1:] for line in open(path) if line.startswith("v ")]
    return np.array(rows, np.float64)


def _projected_box(vertices, focal, width, height):
    """The box of a full-image-camera mesh projected with the principal point at the photo's centre."""
    xy = focal * vertices[:, :2] / vertices[:, 2:] + [width / 2.0, height / 2.0]
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    return (*lo, *(hi - lo))


@pytest.mark.parametrize("kind, boxes", [("image", "file"), ("image+iuv", "auto")])
def test_each_person_gets_a_mesh_on_them(saved_models, photos, tmp_path, kind, boxes):
    folder, written = photos
    path, _, truth = written[0]
    options = (demo.DemoOptions(boxes="file", box_table=people.read_coco_boxes(os.path.join(folder, BOXES_FILE)))
               if boxes == "file" else demo.DemoOptions(boxes="auto"))
    failures = demo.run_photos(demo.load(saved_models[kind]), [path], str(tmp_path), options)
    assert failures == []
    record = json.load(open(tmp_path / "photo_000.json"))
    assert len(record["people"]) == 2
    if boxes == "auto":
        assert all(p["box_source"].startswith("densepose instance") for p in record["people"])
    matched = []
    for person in record["people"]:
        mesh = _read_obj(tmp_path / person["mesh"])
        assert mesh.shape[1] == 3 and np.all(mesh[:, 2] > 0), "the mesh lies in front of the camera"
        projected = _projected_box(mesh, record["focal_length"], record["width"], record["height"])
        scores = [_iou(projected, box) for box in truth]
        matched.append(int(np.argmax(scores)))
        assert max(scores) > 0.3, f"the mesh lands on a person: {projected} vs {truth.tolist()}"
        centre = np.array(projected[:2]) + np.array(projected[2:]) / 2
        box = truth[matched[-1]]
        assert box[0] <= centre[0] <= box[0] + box[2] and box[1] <= centre[1] <= box[1] + box[3]
    assert sorted(matched) == [0, 1], "one mesh per person"
    overlay = cv2.imread(str(tmp_path / "photo_000_mesh.png"))
    assert overlay.shape == (record["height"], record["width"] + record["height"], 3)


def test_photo_folder_goes_on_past_bad_files_and_names_them(saved_models, photos, tmp_path):
    folder, written = photos
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    image = cv2.imread(written[0][0])
    cv2.imwrite(str(mixed / "b_good.jpg"), image)
    (mixed / "a_broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    (mixed / "c_good_IUV.png").write_bytes(b"")           # DensePose files are not photos
    out = tmp_path / "out"
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    result = subprocess.run([sys.executable, "-m", "tfhybrid.demo", f"--saved_model={saved_models['image']}",
                             f"--image={mixed}", f"--out={out}", "--boxes=whole"], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "1 of 2 photos failed" in result.stderr and "a_broken.jpg: not a readable image" in result.stderr
    assert json.load(open(out / "b_good.json"))["people"], "the photo after the broken one is processed"
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "x_IUV.png").write_bytes(b"")
    with pytest.raises(app.UsageError, match="no photos"):
        demo.list_photos(str(empty))
    for text in ("nan,0,10,10", "1,2,3", "0,0,-5,10", "a,b,c,d"):
        with pytest.raises(app.UsageError, match="--bbox expects x,y,w,h"):
            demo.parse_bbox(text)
    with pytest.raises(app.UsageError, match="--boxes"):
        demo.box_options(str(tmp_path / "none.json"))
    image = client.read_photo(str(mixed / "b_good.jpg"))
    with pytest.raises(demo.PhotoError, match="--bbox: box .* lies outside the"):
        demo.find_people("b_good.jpg", image, demo.DemoOptions(fixed_box=(5000, 5000, 40, 80)))
    found, skipped = demo.find_people("b_good.jpg", image, demo.DemoOptions(
        boxes="file", box_table={"b_good.jpg": [people.PersonBox((5, 5, 40, 80), 0.9),
                                                people.PersonBox((np.nan, 5, 40, 80), 0.9),
                                                people.PersonBox((10, 5, 40, 80), 0.1)]}))
    assert len(found) == 1 and [s["reason"].split(" ")[0] for s in skipped] == ["box", "score"]


def test_video_in_video_and_frames_out(saved_models, photos, tmp_path):
    _, written = photos
    image = cv2.imread(written[0][0])
    video = str(tmp_path / "clip.mp4")
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"mp4v"), 10, image.shape[1::-1])
    for shift in range(3):
        writer.write(np.roll(image, 4 * shift, axis=1))
    writer.release()
    demo.run_video(demo.load(saved_models["image"]), video, str(tmp_path / "out"),
                   demo.DemoOptions(boxes="whole", meshes=False))
    frames = sorted(os.listdir(tmp_path / "out" / "clip"))
    assert frames == [f"frame_{i:06d}.json" for i in range(3)]
    coco = tmp_path / "boxes.json"     # image ids are frame indices; frame 1 has no box
    coco.write_text(json.dumps([{"image_id": 0, "category_id": 1, "bbox": [10, 20, 40, 80]},
                                {"image_id": 2, "category_id": 1, "bbox": [30, 20, 40, 80]}]))
    demo.run_video(demo.load(saved_models["image"]), video, str(tmp_path / "coco"),
                   demo.DemoOptions(**demo.box_options(str(coco)), meshes=False))
    boxes = [[p["box"] for p in json.load(open(tmp_path / "coco" / "clip" / f"frame_{i:06d}.json"))["people"]]
             for i in range(3)]
    assert boxes == [[[10.0, 20.0, 40.0, 80.0]], [], [[30.0, 20.0, 40.0, 80.0]]]
    capture = cv2.VideoCapture(str(tmp_path / "out" / "clip_mesh.mp4"))
    assert capture.isOpened() and int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 3


def test_box_sources(photos, tmp_path):
    folder, written = photos
    path, _, truth = written[0]
    image = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
    found = people.hog_people(image)
    assert all(np.all(np.isfinite(p.box)) and p.source == "hog" for p in found)
    instances = people.densepose_instances(path[:-4] + "_INDS.png")
    assert len(instances) == 2
    assert sorted(max(_iou(p.box, t) for t in truth) for p in instances)[0] > 0.8
    assert people.non_maximum_suppression([[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 5, 5]], [0.5, 0.9, 0.1]) == [1, 2]
    coco = tmp_path / "results.json"
    coco.write_text(json.dumps([
        {"image_id": 42, "category_id": 1, "bbox": [1, 2, 30, 40], "score": 0.9},
        {"image_id": 42, "category_id": 1, "keypoints": [10, 10, 2, 20, 50, 1] + [0, 0, 0] * 15, "score": 0.8},
        {"image_id": 42, "category_id": 3, "bbox": [0, 0, 5, 5]}]))
    table = people.read_coco_boxes(str(coco))
    boxes = people.boxes_for_photo(table, "COCO_val2014_000000000042.jpg")
    assert [b.box for b in boxes][0] == (1.0, 2.0, 30.0, 40.0) and len(boxes) == 2, "cars are not people"
    coco.write_text(json.dumps([{"image_id": 1, "keypoints": [1, 2, 2, 3]}]))
    with pytest.raises(people.BoxError, match="entry 0: 'keypoints' has 4 values"):
        people.read_coco_boxes(str(coco))
    openpose = tmp_path / "openpose"
    openpose.mkdir()
    (openpose / "photo_000_keypoints.json").write_text(json.dumps(
        {"people": [{"pose_keypoints_2d": [100, 50, 0.9, 120, 200, 0.8, 0, 0, 0]}]}))
    (found,) = people.read_openpose(str(openpose), path)
    assert found.box[0] < 100 and found.box[1] < 50 and found.box[3] > 150
    assert people.check_box((np.nan, 0, 10, 10), 100, 100).startswith("box")
    assert "outside" in people.check_box((200, 0, 30, 30), 100, 100)
