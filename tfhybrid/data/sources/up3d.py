"""UP-3D (`up-3d/` of "Unite the People"): LSP joints, SMPL fits, and a f = 5000 fit camera."""
import os

import cv2
import numpy as np

from tfhybrid import camera, conventions
from tfhybrid.data.converter import Converter, SampleRef, SkipSample, SourceSample, read_image
from tfhybrid.data.sources.common import h36m_joints, numeric_field
from tfhybrid.safe_pickle import load_legacy_pickle


class UP3DConverter(Converter):
    name = "up-3d"
    split_names = ("train", "val", "test", "trainval")

    def _split_file(self):
        return os.path.join(self.options.src, f"{self.options.split}.txt")

    def source_files(self):
        return [self._split_file()]

    def list_samples(self):
        path = self._split_file()
        try:
            with open(path) as f:
                lines = [line.strip() for line in f if line.strip()]
        except OSError as err:
            raise OSError(f"cannot read the UP-3D split file {path}: {err}") from None
        refs = []
        for line in lines:
            stem = os.path.basename(line)
            if not stem.endswith("_image.png") or not stem[:5].isdigit():
                raise ValueError(f"{path}: line {line!r} is not of the form /NNNNN_image.png")
            refs.append(SampleRef(stem[:5]))
        return refs

    def _text(self, stem, suffix):
        path = os.path.join(self.options.src, f"{stem}_{suffix}.txt")
        if not os.path.exists(path):
            raise SkipSample(f"missing {path}")
        with open(path) as f:
            return f.read().split()

    def load(self, ref):
        stem, src = ref.source_id, self.options.src
        quality = self._text(stem, "quality_info")
        if quality != ["high"]:
            raise SkipSample(f"quality {' '.join(quality)!r} (only 'high' fits are used)")
        source = self._text(stem, "dataset_info")
        if source and source[0] == "fashionpose":
            raise SkipSample("fashionpose source (its fits are unreliable)")
        image = read_image(os.path.join(src, f"{stem}_image.png"))
        try:
            body = load_legacy_pickle(os.path.join(src, f"{stem}_body.pkl"))
            joints = np.load(os.path.join(src, f"{stem}_joints.npy"))
        except (OSError, ValueError) as err:
            raise SkipSample(f"unreadable annotation for {stem}: {err}") from None
        if joints.shape != (3, 14):
            raise SkipSample(f"{stem}_joints.npy has shape {joints.shape}, expected (3, 14)")
        lsp = joints.T.copy()
        lsp[:, 2] = (lsp[:, 2] > 0) & (lsp[:, 0] > 0) & (lsp[:, 1] > 0)
        keypoints = np.zeros((len(conventions.COCOPLUS_JOINTS), 3))
        keypoints[:14] = lsp
        pose = numeric_field(body, "pose", (72,), f"{stem}_body.pkl")
        betas = numeric_field(body, "betas", (None,), f"{stem}_body.pkl")
        if betas.size < 10:
            raise SkipSample(f"{stem}_body.pkl: 'betas' has {betas.size} values, expected at least 10")
        model = self.geometry[0]
        return SourceSample(source_id=stem, image_path=f"{stem}_image.png", image=image,
                            bbox=self._box(stem, keypoints), keypoints=keypoints,
                            joints3d=h36m_joints(model, pose, betas), smpl=(pose, betas),
                            iuv_name=f"{stem}_image_IUV.png")

    def _box(self, stem, keypoints):
        """The person box: the fit's rendering (non-white pixels), else the keypoints."""
        light = cv2.imread(os.path.join(self.options.src, f"{stem}_render_light.png"))
        if light is not None:
            rows, cols = np.nonzero(light.min(axis=2) < 250)
            if rows.size:
                return (float(cols.min()), float(rows.min()), float(np.ptp(cols) + 1), float(np.ptp(rows) + 1))
        box = camera.keypoint_box(keypoints[:, :2], keypoints[:, 2])
        if box is None:
            raise SkipSample("no rendering to take the person box from and fewer than two visible keypoints")
        return box
