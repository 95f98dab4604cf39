"""3DPW: per-sequence py2 pickles with world-frame SMPL, per-frame camera poses and OpenPose 2D."""
import glob
import os

import numpy as np
from scipy.spatial.transform import Rotation

from tfhybrid import camera, conventions
from tfhybrid.data.converter import Converter, SampleRef, SkipSample, SourceSample, read_image
from tfhybrid.data.sources.common import h36m_joints, numeric_array
from tfhybrid.safe_pickle import load_legacy_pickle

MIN_CONFIDENCE = 0.3
MIN_KEYPOINTS = 4
GENDERS = {"m": "male", "f": "female"}
SEQUENCE_KEYS = ("sequence", "genders", "poses", "betas", "cam_poses", "campose_valid", "poses2d")


class PW3DConverter(Converter):
    name = "3dpw"
    split_names = ("train", "validation", "test")

    def __init__(self, options):
        super().__init__(options)
        self._sequences = {}

    def _sequence(self, path):
        if path not in self._sequences:
            self._sequences[path] = load_legacy_pickle(path)
        return self._sequences[path]

    def _sequence_files(self):
        return sorted(glob.glob(os.path.join(self.options.src, "sequenceFiles", self.options.split, "*.pkl")))

    def source_files(self):
        return self._sequence_files()

    def list_samples(self):
        files = self._sequence_files()
        if not files:
            raise ValueError(f"no sequence files under {self.options.src}/sequenceFiles/{self.options.split}")
        refs = []
        for path in files:
            try:
                data = load_legacy_pickle(path)
            except Exception as err:
                raise ValueError(f"cannot read the 3DPW sequence file {path}: {err!r}") from None
            if not isinstance(data, dict):
                raise ValueError(f"{path}: a 3DPW sequence file holds a dict, found {type(data).__name__}")
            missing = [key for key in SEQUENCE_KEYS if key not in data]
            if missing:
                raise ValueError(f"{path}: missing key(s) {missing} of a 3DPW sequence file")
            sequence, valid = data["sequence"], data["campose_valid"]
            count = np.asarray(data["cam_poses"]).shape[0]
            actors = len(data["poses"])
            if not (len(data["betas"]) == len(data["poses2d"]) == len(data["genders"]) == len(valid) == actors):
                raise ValueError(f"{path}: 'poses', 'betas', 'poses2d', 'genders' and 'campose_valid' must have "
                                 f"one entry per actor ({actors})")
            for key in ("poses", "poses2d", "campose_valid"):
                frames = [len(per_actor) for per_actor in data[key]]
                if any(n != count for n in frames):
                    raise ValueError(f"{path}: '{key}' has {frames} frames per actor, 'cam_poses' has {count}")
            for actor in range(actors):
                for frame in range(count):
                    if valid[actor][frame]:
                        refs.append(SampleRef(f"3dpw-{sequence}-{frame:05d}-{actor}",
                                              {"sequence_file": path, "frame": frame, "actor": actor}))
        return refs

    def load(self, ref):
        source_id = ref.source_id
        path, frame, actor = ref.where["sequence_file"], ref.where["frame"], ref.where["actor"]
        data = self._sequence(path)
        sequence = data["sequence"]
        image_path = f"imageFiles/{sequence}/image_{frame:05d}.jpg"
        image = read_image(os.path.join(self.options.src, image_path))
        where = f"{os.path.basename(path)} frame {frame} actor {actor}"
        cam = numeric_array(data["cam_poses"][frame], "cam_poses", (4, 4), where)
        pose = numeric_array(data["poses"][actor][frame], "poses", (72,), where).copy()
        pose[:3] = (Rotation.from_matrix(cam[:3, :3]) * Rotation.from_rotvec(pose[:3])).as_rotvec()
        betas = numeric_array(data["betas"][actor], "betas", (None,), where)[:10]
        if betas.size < 10:
            raise SkipSample(f"{where}: 'betas' has {betas.size} values, expected at least 10")
        gender = GENDERS.get(str(data["genders"][actor]))
        if gender is None:
            raise SkipSample(f"gender {data['genders'][actor]!r} of actor {actor} is neither 'm' nor 'f'")
        openpose = numeric_array(data["poses2d"][actor][frame], "poses2d", (3, len(conventions.OPENPOSE18_JOINTS)),
                                 where).T
        openpose[:, 2] = openpose[:, 2] > MIN_CONFIDENCE
        keypoints = conventions.convert_keypoints(openpose, "openpose18", "cocoplus")
        if keypoints[:, 2].sum() < MIN_KEYPOINTS:
            raise SkipSample(f"fewer than {MIN_KEYPOINTS} 2D keypoints with confidence above {MIN_CONFIDENCE}")
        return SourceSample(source_id=source_id, image_path=image_path, image=image,
                            bbox=camera.keypoint_box(keypoints[:, :2], keypoints[:, 2]),
                            keypoints=keypoints, joints3d=h36m_joints(self.geometry[0], pose, betas),
                            smpl=(pose, betas), gender=gender, iuv_name=f"{sequence}/image_{frame:05d}_IUV.png")
