"""Human3.6M from SPIN-style `.npz` files (imgname, center, scale, part, S, pose, shape, has_smpl)."""
import os

import numpy as np

from tfhybrid import conventions
from tfhybrid.data.converter import Converter, SampleRef, SkipSample, SourceSample, read_image

_FILES = {"train": "h36m_train.npz", "test": "h36m_valid_protocol1.npz"}


# Per-image shapes of SPIN's Human3.6M files.
ROW_SHAPES = {"center": (2,), "scale": (), "part": (24, 3), "S": (24, 4), "pose": (72,), "shape": (10,),
              "has_smpl": ()}


class H36MConverter(Converter):
    name = "h36m"
    split_names = tuple(_FILES)

    def _npz(self):
        return os.path.join(self.options.src, _FILES[self.options.split])

    def source_files(self):
        return [self._npz()]

    def list_samples(self):
        path = self._npz()
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError) as err:
            raise ValueError(f"cannot read the Human3.6M file {path}: {err}") from None
        for key in ("imgname", "center", "scale", "part"):
            if key not in arrays:
                raise ValueError(f"{path}: missing key '{key}'")
        n = arrays["imgname"].shape[0]
        for key, shape in ROW_SHAPES.items():
            if key in arrays and arrays[key].shape != (n, *shape):
                raise ValueError(f"{path}: '{key}' has shape {arrays[key].shape}, expected {(n, *shape)} "
                                 f"({n} images)")
        rows = []
        for i in range(n):
            row = {k: v[i] for k, v in arrays.items()}
            rows.append(SampleRef(f"h36m-{os.path.splitext(str(row['imgname']))[0]}", {"row": row}))
        return rows

    def load(self, ref):
        source_id, row = ref.source_id, ref.where["row"]
        imgname = str(row["imgname"])
        if os.path.isabs(imgname) or os.path.normpath(imgname).split(os.sep)[0] == "..":
            raise SkipSample(f"imgname {imgname!r} points outside the dataset folder")
        image = read_image(os.path.join(self.options.src, imgname))
        keypoints = conventions.convert_keypoints(np.asarray(row["part"], np.float64), "spin24", "cocoplus")
        keypoints[:, 2] = keypoints[:, 2] > 0
        side = float(row["scale"]) * 200.0
        cx, cy = (float(c) for c in row["center"])
        joints3d = None
        if "S" in row:
            joints = conventions.convert_keypoints(np.asarray(row["S"], np.float64), "spin24", "h36m")
            if np.all(joints[:, 3] > 0):
                joints3d = joints[:, :3] - joints[0, :3]
        smpl = None
        if row.get("has_smpl", 0) and "pose" in row:
            smpl = (np.asarray(row["pose"], np.float64), np.asarray(row["shape"], np.float64))
        if side <= 1:
            raise SkipSample(f"scale {row['scale']} gives no box")
        return SourceSample(source_id=source_id, image_path=imgname, image=image,
                            bbox=(cx - side / 2, cy - side / 2, side, side), keypoints=keypoints,
                            joints3d=joints3d, smpl=smpl, iuv_name=imgname[:-4] + "_IUV.png")
