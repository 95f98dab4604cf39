"""Poses for the synthetic world: a pose prior and upright global rotations (plain numpy, float64:
generation runs in worker processes without TensorFlow)."""
import numpy as np
from scipy.spatial.transform import Rotation

from tfhybrid import conventions

_J = {name: i for i, name in enumerate(conventions.SMPL_JOINTS)}


# Per-joint limits on axis-angle components (radians), in the joint's local SMPL frame (y up,
# facing +z): x bends forward/back, y twists, z bends sideways. Mirrored for the right side.
_LIMITS_LEFT = {
    "spine1": ((-0.3, 0.6), (-0.4, 0.4), (-0.3, 0.3)), "spine2": ((-0.2, 0.4), (-0.3, 0.3), (-0.2, 0.2)),
    "spine3": ((-0.2, 0.3), (-0.3, 0.3), (-0.2, 0.2)), "neck": ((-0.4, 0.5), (-0.6, 0.6), (-0.3, 0.3)),
    "head": ((-0.3, 0.3), (-0.4, 0.4), (-0.2, 0.2)),
    "left_hip": ((-2.2, 0.5), (-0.5, 0.5), (-0.2, 0.8)), "left_knee": ((0.0, 2.4), (-0.1, 0.1), (-0.05, 0.05)),
    "left_ankle": ((-0.5, 0.4), (-0.2, 0.2), (-0.2, 0.2)), "left_foot": ((-0.2, 0.2), (-0.1, 0.1), (-0.1, 0.1)),
    "left_collar": ((-0.2, 0.2), (-0.3, 0.3), (-0.3, 0.3)),
    "left_shoulder": ((-1.2, 1.2), (-1.4, 1.4), (-1.5, 0.8)),
    "left_elbow": ((-0.2, 0.2), (-2.4, 0.0), (-0.2, 0.2)),
    "left_wrist": ((-0.4, 0.4), (-0.5, 0.5), (-0.6, 0.6)), "left_hand": ((-0.3, 0.3), (-0.2, 0.2), (-0.3, 0.3)),
}


def _limits():
    table = np.zeros((24, 3, 2))
    table[:, :, 0], table[:, :, 1] = -0.05, 0.05
    for name, limits in _LIMITS_LEFT.items():
        table[_J[name]] = limits
        mirror = conventions.mirror_name(name)
        if mirror != name:
            mirrored = np.array(limits)
            mirrored[1:] = -mirrored[1:, ::-1]          # reflection negates the y and z components
            table[_J[mirror]] = mirrored
    table[0] = ((-np.pi, np.pi),) * 3
    return table


POSE_LIMITS = _limits()


def _template(**joints):
    pose = np.zeros((24, 3))
    pose[_J["left_shoulder"]] = (0.0, 0.0, -1.1)
    pose[_J["right_shoulder"]] = (0.0, 0.0, 1.1)
    for name, value in joints.items():
        pose[_J[name]] = value
    return pose


# Local poses (root excluded) of the prior's modes.
POSE_TEMPLATES = {
    "standing": _template(left_elbow=(0, -0.3, 0), right_elbow=(0, 0.3, 0)),
    "walking": _template(left_hip=(-0.5, 0, 0.05), right_hip=(0.4, 0, -0.05), right_knee=(0.7, 0, 0),
                         left_knee=(0.2, 0, 0), left_shoulder=(0.4, 0, -1.2), right_shoulder=(-0.4, 0, 1.2),
                         left_elbow=(0, -0.4, 0), right_elbow=(0, 0.6, 0)),
    "sitting": _template(left_hip=(-1.5, 0, 0.1), right_hip=(-1.5, 0, -0.1), left_knee=(1.5, 0, 0),
                         right_knee=(1.5, 0, 0), left_shoulder=(0.2, 0.6, -1.0), right_shoulder=(0.2, -0.6, 1.0),
                         left_elbow=(0, -1.2, 0), right_elbow=(0, 1.2, 0)),
    "reaching": _template(right_shoulder=(0, 1.3, 0.2), right_elbow=(0, 0.2, 0), left_shoulder=(0, 0, -1.2),
                          spine2=(0.15, 0.2, 0)),
    "crouching": _template(left_hip=(-2.0, 0, 0.2), right_hip=(-2.0, 0, -0.2), left_knee=(2.3, 0, 0),
                           right_knee=(2.3, 0, 0), left_ankle=(-0.3, 0, 0), right_ankle=(-0.3, 0, 0),
                           spine1=(0.3, 0, 0), left_shoulder=(0, 1.0, -0.4), right_shoulder=(0, -1.0, 0.4)),
}


def sample_local_pose(rng, spread=1.0, modes=tuple(POSE_TEMPLATES)):
    """A (24, 3) local pose (root zero): a prior mode, jittered, mirrored at random, within limits.

    Args:
      rng: numpy Generator; spread: scales the jitter (studio-like sets use less);
      modes: names of `POSE_TEMPLATES` to draw from.
    """
    pose = POSE_TEMPLATES[modes[rng.integers(len(modes))]].copy()
    if rng.random() < 0.5:
        pose = conventions.reflect_smpl_pose(pose.reshape(72)).reshape(24, 3)
    noise = rng.normal(0.0, 0.18 * spread, size=(24, 3))
    noise[_J["left_shoulder"]] *= 2.5
    noise[_J["right_shoulder"]] *= 2.5
    noise[_J["left_elbow"]] *= 2.0
    noise[_J["right_elbow"]] *= 2.0
    pose = np.clip(pose + noise, POSE_LIMITS[:, :, 0], POSE_LIMITS[:, :, 1])
    pose[0] = 0.0
    return pose


def upright_root(rng, max_tilt=0.25):
    """Root axis-angle in the camera frame: upright (y down the image), any yaw, some tilt."""
    yaw = Rotation.from_rotvec([0.0, rng.uniform(-np.pi, np.pi), 0.0])
    tilt = Rotation.from_rotvec([rng.normal(0.0, max_tilt / 2.0), 0.0, rng.normal(0.0, max_tilt / 2.0)])
    flip = Rotation.from_rotvec([np.pi, 0.0, 0.0])
    return (tilt * flip * yaw).as_rotvec()


def sample_body(rng, spread=1.0, max_tilt=0.25, modes=tuple(POSE_TEMPLATES)):
    """Shape and pose of a person in the camera frame.

    Returns:
      betas (10,) ~ N(0, I) and pose (72,) with an upright root.
    """
    betas = rng.normal(0.0, 1.0, size=10)
    pose = sample_local_pose(rng, spread, modes)
    pose[0] = upright_root(rng, max_tilt)
    return betas, pose.reshape(72)
