"""COCO-DensePose: `coco/{train2014,val2014}/` JPEGs and
`coco/annotations/densepose_coco_2014_{train,minival}.json`.

Annotations carry COCO's 17 keypoints (v = 0 unlabelled with x = y = 0, 1 labelled but hidden,
2 visible), bbox, polygon segmentation and, for most people, DensePose points: `dp_x`, `dp_y` in
the bbox scaled to 256 (x_img = x0 + dp_x * w / 256, detectron2's convention), `dp_I` (floats
1..24), `dp_U`, `dp_V` in [0, 1], and `dp_masks`, 14 coarse-part masks of the 256 box as
compressed RLE (an empty list where the part is absent). Some people lack every `dp_*` key, some
images show two people, and some carry an `iscrowd` region with an RLE segmentation.
"""
import cv2
import numpy as np

from tfhybrid import cocomask, conventions
from tfhybrid.fileio import write_image, write_json
from tfhybrid.synthetic import scene
from tfhybrid.synthetic.world import keypoints_2d, place_person, write_iuv_files

NAME = "coco"
SPLITS = {"train2014": "densepose_coco_2014_train.json", "val2014": "densepose_coco_2014_minival.json"}


def _folder(index):
    return "val2014" if index % 4 == 3 else "train2014"


def file_name(index):
    folder = _folder(index)
    return folder, f"COCO_{folder}_{index + 1:012d}.jpg"


def render_sample(world, index):
    rng = world.rng(NAME, index)
    width, height = int(world.size * 2), int(world.size * 1.5)
    focal = rng.uniform(0.9, 1.5) * width
    camera = scene.Camera(focal, focal, width / 2.0, height / 2.0, width, height)
    count = 2 if index % 3 == 1 else 1
    people = []
    for k in range(count):
        centre = ((k + 0.5) / count * width + rng.normal(0, 0.08 * width), height * rng.uniform(0.4, 0.6))
        people.append(place_person(world, rng, camera, centre, rng.uniform(0.5, 0.9) * height))
    image, labels = scene.render_scene(rng, [p.as_scene_person() for p in people], world.table, camera)
    folder, name = file_name(index)
    write_image(world.path(NAME, folder, name), image)
    write_iuv_files(world, rng, NAME, f"{folder}/{name}", labels)
    annotations = []
    for k, person in enumerate(people):
        mask = labels["person"] == k
        if mask.sum() < 50:
            continue
        annotations.append(_annotation(rng, person, mask, labels, camera, dense=(index + k) % 6 != 5))
    if index % 5 == 2:
        annotations.append(_crowd(rng, width, height))
    preview_kp = np.array(annotations[0]["keypoints"], float).reshape(17, 3) if annotations else np.zeros((17, 3))
    return {"index": index, "folder": folder,
            "preview": {"image": f"{NAME}/{folder}/{name}", "iuv": f"{NAME}/{folder}/{name[:-4]}_IUV.png",
                        "keypoints": preview_kp},
            "image": {"file_name": name, "height": height, "width": width}, "annotations": annotations,
            "truth": {"camera": camera, "people": [(p.betas, p.pose, p.translation) for p in people]}}


def _annotation(rng, person, mask, labels, camera, dense):
    ys, xs = np.nonzero(mask)
    x0, y0 = int(xs.min()), int(ys.min())
    w, h = int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polygons = [(c.reshape(-1, 2) + 0.5).reshape(-1).tolist() for c in contours if len(c) >= 3]
    keypoints = conventions.convert_keypoints(keypoints_2d(person, camera, labels["depth"]), "cocoplus", "coco")
    inside = camera.contains(keypoints[:, :2])
    v = np.where(inside, np.where(keypoints[:, 2] > 0, 2, 1), 0)
    xy = np.where(v[:, None] > 0, keypoints[:, :2], 0.0)
    ann = {"area": float(mask.sum()), "bbox": [float(x0), float(y0), float(w), float(h)], "category_id": 1,
           "iscrowd": 0, "segmentation": polygons, "num_keypoints": int((v > 0).sum()),
           "keypoints": [value for (x, y), vis in zip(xy.tolist(), v.tolist()) for value in (x, y, vis)]}
    if dense:
        ann.update(_dense_points(rng, mask, labels, x0, y0, w, h))
    return ann


def _dense_points(rng, mask, labels, x0, y0, w, h):
    ys, xs = np.nonzero(mask)
    n = min(int(rng.integers(50, 151)), ys.size)
    pick = np.sort(rng.choice(ys.size, n, replace=False))
    ys, xs = ys[pick], xs[pick]
    uv = labels["uv"][ys, xs]
    crop = np.where(mask, labels["segmentation"], 0)[y0:y0 + h, x0:x0 + w]
    crop = cv2.resize(crop.astype(np.uint8), (256, 256), interpolation=cv2.INTER_NEAREST)
    masks = [cocomask.encode(crop == label) if (crop == label).any() else [] for label in range(1, 15)]
    return {"dp_x": ((xs + 0.5 - x0) * 256.0 / w).tolist(), "dp_y": ((ys + 0.5 - y0) * 256.0 / h).tolist(),
            "dp_I": labels["iuv"][ys, xs, 0].astype(float).tolist(), "dp_U": uv[:, 0].tolist(),
            "dp_V": uv[:, 1].tolist(), "dp_masks": masks}


def _crowd(rng, width, height):
    region = np.zeros((height, width), np.uint8)
    centre = (int(rng.integers(0, width)), int(rng.integers(height // 2, height)))
    cv2.ellipse(region, centre, (int(width * 0.1), int(height * 0.05)), 0, 0, 360, 1, -1)
    ys, xs = np.nonzero(region)
    return {"area": float(region.sum()), "bbox": [float(xs.min()), float(ys.min()), float(np.ptp(xs) + 1),
                                                   float(np.ptp(ys) + 1)],
            "category_id": 1, "iscrowd": 1, "segmentation": cocomask.encode(region), "num_keypoints": 0,
            "keypoints": [0] * 51}


def finish(world, records):
    categories = [{"id": 1, "name": "person", "supercategory": "person", "keypoints": list(conventions.COCO_JOINTS),
                   "skeleton": [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8],
                                [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]}]
    next_id = 1
    for folder, json_name in SPLITS.items():
        images, annotations = [], []
        for record in sorted(records, key=lambda r: r["index"]):
            if record["folder"] != folder:
                continue
            image_id = record["index"] + 1
            images.append({"id": image_id, **record["image"]})
            for ann in record["annotations"]:
                annotations.append({"id": next_id, "image_id": image_id, **ann})
                next_id += 1
        write_json(world.path(NAME, "annotations", json_name),
                   {"info": {"description": "tfhybrid synthetic COCO-DensePose"}, "images": images,
                    "annotations": annotations, "categories": categories})
