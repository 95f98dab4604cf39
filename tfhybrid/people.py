"""Where the people in a photo are: person boxes from a detector, DensePose instances or files.

Sources (the demo's `--boxes`):
- 'hog': OpenCV's built-in HOG + linear-SVM people detector (its weights are inside OpenCV, nothing
  is downloaded). It finds upright, mostly unoccluded people of at least ~100 px; for anything
  harder, run a detector of your choice and pass its boxes as a file.
- 'densepose': one box per instance of Detectron's `<photo>_INDS.png` (beside `<photo>_IUV.png`),
  the boxes DensePose itself found.
- a COCO JSON file: a results list (`[{"image_id" or "file_name", "bbox": [x, y, w, h], "score",
  "keypoints"}]`, image ids matched to the photo names' trailing numbers as in COCO's file names)
  or a dataset-style dict with "images" and "annotations". Without a bbox, the box spans the
  keypoints.
- a folder of OpenPose JSON files (`<photo>_keypoints.json`, "people" -> "pose_keypoints_2d").
- 'whole': the whole photo is one person.

Every box is (x, y, w, h) in source pixels with a score; `check_box` says why a box is unusable.
"""
import dataclasses
import json
import os
import re

import numpy as np

from tfhybrid import camera

MIN_SIDE = 16                 # pixels; smaller boxes cannot be cropped meaningfully
KEYPOINT_MARGIN = 0.15        # keypoint boxes miss the head top and the feet
MIN_KEYPOINT_CONFIDENCE = 0.1
NMS_OVERLAP = 0.5
SOURCES = ("auto", "hog", "densepose", "whole")


class BoxError(ValueError):
    """A box file or source cannot be read."""


@dataclasses.dataclass(frozen=True)
class PersonBox:
    box: tuple                # (x, y, w, h) in source pixels
    score: float = 1.0
    source: str = ""


def check_box(box, width, height):
    """Why (x, y, w, h) cannot be a person in a width x height photo, or None when it can."""
    values = np.asarray(box, np.float64)
    if values.shape != (4,) or not np.all(np.isfinite(values)):
        return f"box {list(box)} is not four finite numbers x, y, w, h"
    x, y, w, h = values
    if w < MIN_SIDE or h < MIN_SIDE:
        return f"box {values.round(1).tolist()} is smaller than {MIN_SIDE} px"
    if x >= width or y >= height or x + w <= 0 or y + h <= 0:
        return f"box {values.round(1).tolist()} lies outside the {width}x{height} photo"
    return None


def non_maximum_suppression(boxes, scores, overlap=NMS_OVERLAP):
    """Indices of the boxes kept, best first: a box is dropped when its intersection over union with
    a better kept box exceeds `overlap`. boxes: (N, 4) x, y, w, h; scores: (N,)."""
    boxes, order = np.asarray(boxes, np.float64).reshape(-1, 4), list(np.argsort(-np.asarray(scores)))
    keep = []
    for i in order:
        if all(_iou(boxes[i], boxes[j]) <= overlap for j in keep):
            keep.append(i)
    return keep


def _iou(a, b):
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / max(a[2] * a[3] + b[2] * b[3] - inter, 1e-9)


def hog_people(image, min_score=0.3):
    """People found by OpenCV's HOG detector in an (H, W, 3) uint8 RGB image, best first."""
    import cv2

    if not hasattr(cv2, "HOGDescriptor"):
        raise BoxError("OpenCV's HOG people detector is in opencv-contrib-python-headless (tfhybrid's OpenCV); "
                       "this environment has an OpenCV without it")
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor.getDefaultPeopleDetector())
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    rects, weights = hog.detectMultiScale(gray, winStride=(8, 8), padding=(16, 16), scale=1.05)
    rects, weights = np.asarray(rects, np.float64).reshape(-1, 4), np.asarray(weights, np.float64).reshape(-1)
    chosen = [i for i in non_maximum_suppression(rects, weights) if weights[i] >= min_score]
    return [PersonBox(tuple(rects[i].tolist()), float(weights[i]), "hog") for i in chosen]


def densepose_instances(inds_path, min_pixels=50):
    """One box per instance of Detectron's `_INDS.png` (instance k > 0 per pixel), largest first."""
    import cv2

    inds = cv2.imread(inds_path, cv2.IMREAD_UNCHANGED)
    if inds is None:
        raise BoxError(f"{inds_path}: not a readable DensePose instance map")
    inds = inds if inds.ndim == 2 else inds[..., 0]
    people = []
    for k in np.unique(inds[inds > 0]):
        rows, cols = np.nonzero(inds == k)
        if rows.size < min_pixels:
            continue
        box = (float(cols.min()), float(rows.min()), float(np.ptp(cols) + 1), float(np.ptp(rows) + 1))
        people.append((rows.size, PersonBox(box, 1.0, f"densepose instance {int(k)}")))
    return [p for _, p in sorted(people, key=lambda item: -item[0])]


def _trailing_number(name):
    match = re.search(r"(\d+)$", os.path.splitext(os.path.basename(name))[0])
    return int(match.group(1)) if match else None


def read_coco_boxes(path):
    """{key: [PersonBox]} from a COCO JSON; key is a file name or an image id (int)."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as error:
        raise BoxError(f"{path}: not a readable JSON file ({error})") from None
    names = {}
    if isinstance(data, dict):
        if "annotations" not in data:
            raise BoxError(f"{path}: a COCO dict needs 'annotations' (and 'images' for the file names)")
        names = {image["id"]: image["file_name"] for image in data.get("images", [])}
        data = data["annotations"]
    if not isinstance(data, list):
        raise BoxError(f"{path}: expected a list of COCO results or a dict with 'annotations'")
    boxes = {}
    for index, entry in enumerate(data):
        where = f"{path}: entry {index}"
        if not isinstance(entry, dict):
            raise BoxError(f"{where} is not an object")
        if entry.get("category_id", 1) != 1:
            continue                                         # COCO's category 1 is 'person'
        key = entry.get("file_name") or names.get(entry.get("image_id"), entry.get("image_id"))
        if key is None:
            raise BoxError(f"{where} has neither 'file_name' nor 'image_id'")
        box = entry.get("bbox")
        if box is None and "keypoints" in entry:
            keypoints = np.asarray(entry["keypoints"], np.float64)
            if keypoints.size % 3:
                raise BoxError(f"{where}: 'keypoints' has {keypoints.size} values, expected x, y, v triplets")
            keypoints = keypoints.reshape(-1, 3)
            box = camera.keypoint_box(keypoints[:, :2], keypoints[:, 2])
        if box is None:
            raise BoxError(f"{where} has neither 'bbox' nor two labelled keypoints")
        boxes.setdefault(key, []).append(PersonBox(tuple(np.asarray(box, np.float64).reshape(-1).tolist()),
                                                   float(entry.get("score", 1.0)), f"{os.path.basename(path)}"))
    return boxes


def boxes_for_photo(coco_boxes, photo):
    """The boxes of a COCO box table that belong to `photo` (by file name, else by trailing number)."""
    name = os.path.basename(photo)
    if name in coco_boxes:
        return coco_boxes[name]
    number = _trailing_number(photo)
    return coco_boxes.get(number, []) if number is not None else []


def read_openpose(folder, photo):
    """Boxes from OpenPose's `<photo>_keypoints.json` in `folder` (none when the file is absent)."""
    path = os.path.join(folder, os.path.splitext(os.path.basename(photo))[0] + "_keypoints.json")
    if not os.path.exists(path):
        return []
    try:
        with open(path) as f:
            people = json.load(f)["people"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise BoxError(f"{path}: not an OpenPose JSON file with 'people' ({error!r})") from None
    out = []
    for index, person in enumerate(people):
        values = np.asarray(person.get("pose_keypoints_2d", []), np.float64)
        if values.size == 0 or values.size % 3:
            raise BoxError(f"{path}: person {index} 'pose_keypoints_2d' has {values.size} values, "
                           f"expected x, y, confidence triplets")
        values = values.reshape(-1, 3)
        box = camera.keypoint_box(values[:, :2], values[:, 2], MIN_KEYPOINT_CONFIDENCE, KEYPOINT_MARGIN)
        if box is not None:
            out.append(PersonBox(box, float(values[values[:, 2] > 0, 2].mean()), os.path.basename(path)))
    return out
