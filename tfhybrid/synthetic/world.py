"""The synthetic world's shared state and sampling: who is in a picture, where, and seen how.

Every sample is a pure function of (seed, dataset, index): its random generator is seeded with
all three, so the output does not depend on which worker renders it or in what order.
"""
import dataclasses
import os

import numpy as np

from tfhybrid.bodymodel import smpl_numpy
from tfhybrid.fileio import encode_image, write_bytes
from tfhybrid.synthetic import posing, scene
from tfhybrid.synthetic.densepose_model import PredictionErrors, predict_iuv
from tfhybrid.synthetic.toybody import make_toy_body, uv_table_from_charts

DATASETS = ("up-3d", "coco", "h36m", "3dpw")
_DATASET_IDS = {name: i for i, name in enumerate(DATASETS)}


class World:
    """The toy body, its charts and the output folder; built once per process."""

    def __init__(self, out_dir, seed=0, size=224, errors=PredictionErrors()):
        self.out_dir = os.fspath(out_dir)
        self.seed = int(seed)
        self.size = int(size)
        self.errors = errors
        self.toy = make_toy_body(seed)
        self.model = self.toy.model
        self.table = uv_table_from_charts(self.toy.charts)

    def rng(self, dataset, index):
        return np.random.default_rng([self.seed, _DATASET_IDS[dataset], int(index)])

    def path(self, *parts):
        return os.path.join(self.out_dir, *parts)


@dataclasses.dataclass
class PlacedPerson:
    """A person posed in a camera frame: SMPL parameters, translation and camera-frame joints."""

    betas: np.ndarray         # (10,)
    pose: np.ndarray          # (72,) root in the camera frame
    translation: np.ndarray   # (3,) added to the SMPL output
    smpl: dict                # `bodymodel.smpl_numpy` output (no translation)
    appearance: dict

    @property
    def vertices(self):
        return self.smpl["vertices"] + self.translation

    def joints(self, name):
        """(R, 3) camera-frame joints of a regressor ('cocoplus', 'h36m') or 'smpl' skeleton."""
        key = "joints" if name == "smpl" else f"joints_{name}"
        return self.smpl[key] + self.translation

    def as_scene_person(self):
        return scene.Person(self.vertices, self.appearance)


def place_person(world, rng, camera, centre_px, height_px, spread=1.0, modes=tuple(posing.POSE_TEMPLATES),
                 max_tilt=0.25):
    """Samples a body and puts it where its bounding box is centred at `centre_px` and spans
    `height_px` pixels along its longer side."""
    betas, pose = posing.sample_body(rng, spread=spread, max_tilt=max_tilt, modes=modes)
    smpl = smpl_numpy(world.model, betas, pose)
    v = smpl["vertices"]
    lo, hi = v.min(axis=0), v.max(axis=0)
    extent = float(np.max(hi[:2] - lo[:2]))
    depth = camera.fx * extent / height_px
    centre = 0.5 * (lo + hi)
    focal = np.array([camera.fx, camera.fy])
    xy = (np.asarray(centre_px) - [camera.cx, camera.cy]) / focal * depth - centre[:2]
    translation = np.array([xy[0], xy[1], depth - centre[2]])
    return PlacedPerson(betas, pose, translation, smpl, scene.sample_appearance(rng))


def keypoints_2d(person, camera, depth_map, joint_set="cocoplus"):
    """(J, 3) pixel keypoints [x, y, visible] of a placed person, visibility by depth test."""
    pixels, visible = scene.keypoint_visibility(person.joints(joint_set), camera, depth_map)
    return np.concatenate([pixels, visible[:, None].astype(np.float64)], axis=1)


def write_iuv_files(world, rng, dataset, name, labels):
    """DensePose outputs for one image, in Detectron's format (cv2 order: the PNG's B, G, R channels
    hold I, U, V): the prediction with errors, its instance map, and the exact IUV for reference.

    Returns:
      the predicted (H, W, 3) IUV.
    """
    predicted = predict_iuv(rng, labels["iuv"], world.errors)
    instances = np.where((labels["person"] >= 0) & (predicted[..., 0] > 0), labels["person"] + 1, 0)
    base = os.path.splitext(name)[0]
    write_bytes(world.path("densepose_predictions", dataset, f"{base}_IUV.png"),
                encode_image(predicted, ".png", rgb=False))
    write_bytes(world.path("densepose_predictions", dataset, f"{base}_INDS.png"),
                encode_image(instances.astype(np.uint8), ".png"))
    write_bytes(world.path("densepose_clean", dataset, f"{base}_IUV.png"),
                encode_image(labels["iuv"], ".png", rgb=False))
    return predicted

