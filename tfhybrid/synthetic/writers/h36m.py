"""Human3.6M as SPIN's `.npz` files with their images: `h36m/h36m_train.npz` (subjects 1, 5, 6, 7,
8) and `h36m/h36m_valid_protocol1.npz` (9, 11), images under `h36m/images/`.

Keys: `imgname` (N,) str, `center` (N, 2) and `scale` (N,) (box side / 200) in pixels, `part`
(N, 24, 3) 2D keypoints [x, y, visible] and `S` (N, 24, 4) root-centred camera-frame 3D joints
[x, y, z, confidence] in SPIN's 24-joint order (17 filled from the H36M regressor), `pose` (N, 72),
`shape` (N, 10), `has_smpl` (N,). The studio role: plain backgrounds, a narrower pose range.
"""
import numpy as np

from tfhybrid import conventions
from tfhybrid.data.sources.h36m import ROW_SHAPES
from tfhybrid.fileio import write_image, write_npz
from tfhybrid.synthetic import scene
from tfhybrid.synthetic.world import keypoints_2d, place_person, write_iuv_files

NAME = "h36m"
TRAIN_SUBJECTS, VALID_SUBJECTS = (1, 5, 6, 7, 8), (9, 11)
ACTIONS = ("Directions", "Discussion", "Eating", "Greeting", "Posing", "Walking", "Sitting", "Waiting")
CAMERAS = ("54138969", "55011271", "58860488", "60457274")
FILES = {"train": "h36m_train.npz", "valid": "h36m_valid_protocol1.npz"}


def _identity(index):
    split = "valid" if index % 5 == 4 else "train"
    subjects = VALID_SUBJECTS if split == "valid" else TRAIN_SUBJECTS
    subject = subjects[index % len(subjects)]
    action = ACTIONS[(index // 5) % len(ACTIONS)]
    return split, f"images/S{subject}_{action}_1.{CAMERAS[index % 4]}_{5 * index + 1:06d}.jpg"


def render_sample(world, index):
    rng = world.rng(NAME, index)
    size = world.size
    focal = 1.15 * size
    camera = scene.Camera(focal, focal, size / 2.0 + rng.normal(0, 2), size / 2.0 + rng.normal(0, 2), size, size)
    centre = np.array([size, size]) / 2.0 + rng.normal(0, 0.05 * size, 2)
    person = place_person(world, rng, camera, centre, rng.uniform(0.6, 0.85) * size, spread=0.6,
                          modes=("standing", "walking", "reaching", "sitting"), max_tilt=0.1)
    image, labels = scene.render_scene(rng, [person.as_scene_person()], world.table, camera, plain_background=True)
    split, imgname = _identity(index)
    write_image(world.path(NAME, imgname), image)
    write_iuv_files(world, rng, NAME, imgname, labels)
    part = conventions.convert_keypoints(keypoints_2d(person, camera, labels["depth"]), "cocoplus", "spin24")
    h36m = person.joints("h36m")
    root_centred = np.concatenate([h36m - h36m[0], np.ones((17, 1))], axis=1)
    joints_3d = conventions.convert_keypoints(root_centred, "h36m", "spin24")
    ys, xs = np.nonzero(labels["person"] == 0)
    box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)
    has_smpl = 0 if index % 6 == 3 else 1
    return {"index": index, "split": split, "imgname": imgname, "center": (box[:2] + box[2:]) / 2.0,
            "scale": 1.2 * float(np.max(box[2:] - box[:2])) / 200.0, "part": part, "S": joints_3d,
            "pose": person.pose if has_smpl else np.zeros(72), "shape": person.betas if has_smpl else np.zeros(10),
            "has_smpl": has_smpl,
            "preview": {"image": f"{NAME}/{imgname}", "iuv": f"{NAME}/{imgname[:-4]}_IUV.png", "keypoints": part}}


def finish(world, records):
    for split, filename in FILES.items():
        rows = [r for r in sorted(records, key=lambda r: r["index"]) if r["split"] == split]
        arrays = {"imgname": np.array([r["imgname"] for r in rows], dtype=str)}
        for key, shape in ROW_SHAPES.items():
            arrays[key] = np.array([r[key] for r in rows], dtype=np.float64).reshape((len(rows),) + shape)
        write_npz(world.path(NAME, filename), arrays)
