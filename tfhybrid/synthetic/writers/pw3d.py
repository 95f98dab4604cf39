"""3DPW: `3dpw/sequenceFiles/{train,validation,test}/<sequence>.pkl` (py2 pickles) and
`3dpw/imageFiles/<sequence>/image_%05d.jpg`.

Per sequence: `sequence`, `genders`, per-actor lists `betas` ((10,) for one actor, (300,)
zero-padded for another), `betas_clothed`, `v_template_clothed`, `poses` (N, 72) and `trans` (N, 3)
in the world frame (y up), their 60 Hz versions with `img_frame_ids`, `jointPositions` (N, 72)
world-frame skeleton joints, `poses2d` (N, 3, 18) OpenPose-18 [x; y; confidence] (zeros where
undetected), `campose_valid` (N,), and per sequence `cam_poses` (N, 4, 4) world-to-camera and
`cam_intrinsics` (3, 3). Camera-frame vertices are `R_c (SMPL(pose, betas) + trans) + t_c`.
"""
import numpy as np
from scipy.spatial.transform import Rotation

from tfhybrid import conventions
from tfhybrid.bodymodel import smpl_numpy
from tfhybrid.fileio import write_bytes, write_image
from tfhybrid.synthetic import posing, scene
from tfhybrid.synthetic.py2pickle import dumps_py2
from tfhybrid.synthetic.world import write_iuv_files

NAME = "3dpw"
# (split, sequence, actors)
SEQUENCES = (("train", "courtyard_walk_00", 1), ("validation", "downtown_bus_00", 1), ("test", "office_talk_00", 2))
_PERIOD = 12.0


def _frame_of(index):
    return SEQUENCES[index % len(SEQUENCES)], index // len(SEQUENCES)


def _image_size(world):
    return world.size, int(round(world.size * 16 / 9))


def _sequence_setup(world, seq_id):
    """Camera and actors of a sequence: fixed for all its frames."""
    rng = world.rng(NAME, 1_000_000 + seq_id)
    width, height = _image_size(world)
    focal = rng.uniform(1.2, 1.6) * width
    camera = scene.Camera(focal, focal, width / 2.0, height / 2.0, width, height)
    cam_yaw = rng.uniform(-np.pi, np.pi)
    cam_position = np.array([rng.normal(0, 1), rng.uniform(1.2, 1.7), rng.normal(0, 1)])
    forward = np.array([np.sin(cam_yaw), 0.0, np.cos(cam_yaw)])
    actors = []
    for a in range(SEQUENCES[seq_id][2]):
        side = np.cross([0.0, 1.0, 0.0], forward)
        start = cam_position * [1, 0, 1] + forward * rng.uniform(3.0, 4.5) + side * (a - 0.5 * (SEQUENCES[seq_id][2] - 1)) * 1.2
        actors.append({"betas": rng.normal(0, 1, 10), "gender": "mf"[int(rng.integers(2))],
                       "yaw": rng.uniform(-np.pi, np.pi), "start": start, "step": rng.normal(0, 0.015, 3) * [1, 0, 1],
                       "poses": (posing.sample_local_pose(rng, modes=("walking", "standing")),
                                 posing.sample_local_pose(rng, modes=("walking", "reaching"))),
                       "appearance": scene.sample_appearance(rng)})
    return camera, cam_yaw, cam_position, actors


def _camera_pose(cam_yaw, cam_position, frame):
    """World-to-camera rotation and translation at a frame (the camera pans slowly)."""
    yaw = cam_yaw + 0.003 * frame
    rotation = (Rotation.from_rotvec([0, 0, np.pi]) * Rotation.from_rotvec([0.05, 0, 0])
                * Rotation.from_rotvec([0, -yaw, 0])).as_matrix()
    return rotation, -rotation @ cam_position


def _actor_state(world, actor, frame):
    """World-frame SMPL parameters and outputs of an actor at a (possibly fractional) frame."""
    phase = 0.5 - 0.5 * np.cos(2 * np.pi * frame / _PERIOD)
    pose = (1 - phase) * actor["poses"][0] + phase * actor["poses"][1]
    pose[0] = (0.0, actor["yaw"], 0.0)
    smpl = smpl_numpy(world.model, actor["betas"], pose.reshape(72))
    trans = actor["start"] + frame * actor["step"]
    trans = trans - [0.0, smpl["vertices"][:, 1].min(), 0.0]
    return pose.reshape(72), trans, smpl


def render_sample(world, index):
    (split, sequence, _), frame = _frame_of(index)
    seq_id = index % len(SEQUENCES)
    rng = world.rng(NAME, index)
    camera, cam_yaw, cam_position, actors = _sequence_setup(world, seq_id)
    rotation, translation = _camera_pose(cam_yaw, cam_position, frame)
    people, states = [], []
    for actor in actors:
        pose, trans, smpl = _actor_state(world, actor, frame)
        half_pose, half_trans, _ = _actor_state(world, actor, frame + 0.5)
        vertices = (smpl["vertices"] + trans) @ rotation.T + translation
        people.append(scene.Person(vertices, actor["appearance"]))
        states.append({"pose": pose, "trans": trans, "joints": (smpl["joints"] + trans).reshape(72),
                       "cocoplus_cam": (smpl["joints_cocoplus"] + trans) @ rotation.T + translation,
                       "half_pose": half_pose, "half_trans": half_trans})
    image, labels = scene.render_scene(rng, people, world.table, camera)
    name = f"image_{frame:05d}.jpg"
    write_image(world.path(NAME, "imageFiles", sequence, name), image)
    write_iuv_files(world, rng, NAME, f"{sequence}/{name}", labels)
    for state in states:
        pixels, visible = scene.keypoint_visibility(state.pop("cocoplus_cam"), camera, labels["depth"])
        points = conventions.convert_keypoints(np.concatenate([pixels, visible[:, None]], axis=1), "cocoplus",
                                               "openpose18")
        inside = camera.contains(points[:, :2])
        confidence = np.where(points[:, 2] > 0, rng.uniform(0.4, 1.0, 18), rng.uniform(0.05, 0.3, 18)) * inside
        state["poses2d"] = np.concatenate([points[:, :2] * inside[:, None], confidence[:, None]], axis=1).T
    cam_pose = np.eye(4)
    cam_pose[:3, :3], cam_pose[:3, 3] = rotation, translation
    return {"index": index, "seq_id": seq_id, "frame": frame, "cam_pose": cam_pose, "intrinsics": camera.matrix,
            "actors": states,
            "preview": {"image": f"{NAME}/imageFiles/{sequence}/{name}", "iuv": f"{NAME}/{sequence}/{name[:-4]}_IUV.png",
                        "keypoints": states[0]["poses2d"].T}}


def finish(world, records):
    for seq_id, (split, sequence, num_actors) in enumerate(SEQUENCES):
        frames = sorted((r for r in records if r["seq_id"] == seq_id), key=lambda r: r["frame"])
        if not frames:
            continue
        _, _, _, actors = _sequence_setup(world, seq_id)
        n = len(frames)
        data = {"sequence": sequence, "genders": [a["gender"] for a in actors], "betas": [], "betas_clothed": [],
                "v_template_clothed": [], "poses": [], "trans": [], "poses_60Hz": [], "trans_60Hz": [],
                "jointPositions": [], "poses2d": [], "campose_valid": [],
                "img_frame_ids": np.arange(n, dtype=np.int64) * 2,
                "cam_poses": np.stack([f["cam_pose"] for f in frames]), "cam_intrinsics": frames[0]["intrinsics"]}
        for a, actor in enumerate(actors):
            betas = actor["betas"] if a == 0 else np.concatenate([actor["betas"], np.zeros(290)])
            data["betas"].append(betas)
            data["betas_clothed"].append(actor["betas"] + 0.05)
            data["v_template_clothed"].append(world.model.v_template + world.model.shapedirs @ actor["betas"]
                                              + 0.005 * np.sign(world.model.v_template))
            states = [f["actors"][a] for f in frames]
            data["poses"].append(np.stack([s["pose"] for s in states]))
            data["trans"].append(np.stack([s["trans"] for s in states]))
            data["poses_60Hz"].append(np.stack([p for s in states for p in (s["pose"], s["half_pose"])]))
            data["trans_60Hz"].append(np.stack([t for s in states for t in (s["trans"], s["half_trans"])]))
            data["jointPositions"].append(np.stack([s["joints"] for s in states]))
            data["poses2d"].append(np.stack([s["poses2d"] for s in states]))
            valid = np.ones(n, dtype=np.int64)
            if split == "validation" and n > 1:
                valid[1] = 0
            data["campose_valid"].append(valid)
        write_bytes(world.path(NAME, "sequenceFiles", split, f"{sequence}.pkl"), dumps_py2(data, protocol=2))
