"""Named joint sets, left/right flip tables and DensePose part tables.

This module is the one place for these tables. Every other module refers to joints by name through
it; conversions between joint sets are built from names, never from hand-typed index lists.

Sides are the subject's own: "left" is the subject's left, which is at +x in the SMPL frame.
"""
import numpy as np

SMPL_JOINTS = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)
SMPL_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)

# HMR's 19 "cocoplus" keypoints (LSP-14 followed by five face points): the project's 2D convention.
COCOPLUS_JOINTS = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
    "neck", "head_top", "nose", "left_eye", "right_eye", "left_ear", "right_ear",
)
LSP_JOINTS = COCOPLUS_JOINTS[:14]

COCO_JOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)

# Order of the rows of SPIN's J_regressor_h36m.npy (rows 1-3 lie at +x, i.e. on the subject's left).
# Names follow SPIN's placement of these joints in its 24-joint superset (thorax -> "neck").
H36M_JOINTS = (
    "pelvis", "left_hip", "left_knee", "left_ankle", "right_hip", "right_knee", "right_ankle",
    "spine", "neck", "jaw", "head_h36m", "left_shoulder", "left_elbow", "left_wrist",
    "right_shoulder", "right_elbow", "right_wrist",
)

# The 14 LSP joints of the peers' 3DPW and Human3.6M evaluations (SPIN's H36M_TO_J14), taken from
# H36M-17 joints by name; H36M's head joint stands in for LSP's head top.
EVAL14_FROM_H36M = np.array([H36M_JOINTS.index({"head_top": "head_h36m"}.get(n, n)) for n in LSP_JOINTS])

# SPIN's 24-joint superset used by its .npz files (`part`, `S`): LSP-14 first.
SPIN24_JOINTS = LSP_JOINTS + (
    "pelvis", "thorax", "spine", "jaw", "head_h36m", "nose", "left_eye", "right_eye", "left_ear", "right_ear",
)

# 3DPW's poses2d rows (OpenPose COCO-18).
OPENPOSE18_JOINTS = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
)

JOINT_SETS = {
    "smpl": SMPL_JOINTS,
    "cocoplus": COCOPLUS_JOINTS,
    "lsp": LSP_JOINTS,
    "coco": COCO_JOINTS,
    "h36m": H36M_JOINTS,
    "spin24": SPIN24_JOINTS,
    "openpose18": OPENPOSE18_JOINTS,
}


def mirror_name(name):
    """The name of the joint on the other side ('left_knee' <-> 'right_knee'; 'neck' stays)."""
    if name.startswith("left_"):
        return "right_" + name[len("left_"):]
    if name.startswith("right_"):
        return "left_" + name[len("right_"):]
    return name


def flip_permutation(joint_set):
    """Index permutation that swaps left and right joints of a named set.

    Returns:
      (J,) int array `p` such that `flipped[j] = original[p[j]]`; it is an involution.
    """
    names = JOINT_SETS[joint_set]
    index = {n: i for i, n in enumerate(names)}
    return np.array([index[mirror_name(n)] for n in names], dtype=np.int64)


def conversion_indices(src, dst):
    """Gather indices and a presence mask to map joints of set `src` into the order of set `dst`.

    Returns:
      indices: (J_dst,) int array into `src` (0 where the joint is missing).
      present: (J_dst,) bool array, False for joints of `dst` that `src` does not have.
    """
    src_index = {n: i for i, n in enumerate(JOINT_SETS[src])}
    names = JOINT_SETS[dst]
    present = np.array([n in src_index for n in names])
    indices = np.array([src_index.get(n, 0) for n in names], dtype=np.int64)
    return indices, present


def convert_keypoints(keypoints, src, dst):
    """Reorders (..., J_src, C) keypoints into set `dst`; missing joints are zero (so visibility 0)."""
    indices, present = conversion_indices(src, dst)
    out = np.take(np.asarray(keypoints), indices, axis=-2)
    return out * present[:, None].astype(out.dtype)


# SMPL pose reflection: swap left/right joint triplets and negate the y and z axis-angle components.
SMPL_FLIP_PERMUTATION = flip_permutation("smpl")
SMPL_POSE_REFLECTION_SIGNS = np.array([1.0, -1.0, -1.0])


def reflect_smpl_pose(pose):
    """Mirrors SMPL axis-angle poses about the x = 0 plane.

    Args:
      pose: (..., 72) axis-angle pose.
    Returns:
      (..., 72) pose of the mirrored body (an involution).
    """
    pose = np.asarray(pose)
    joints = pose.reshape(pose.shape[:-1] + (24, 3))
    flipped = joints[..., SMPL_FLIP_PERMUTATION, :] * SMPL_POSE_REFLECTION_SIGNS
    return flipped.reshape(pose.shape)


# DensePose: 24 fine parts (I = 1..24, 0 is background) and 14 coarse labels (dp_masks order).
DENSEPOSE_PARTS = (
    "torso_back", "torso_front", "right_hand", "left_hand", "left_foot", "right_foot",
    "right_upper_leg_front", "left_upper_leg_front", "right_upper_leg_back", "left_upper_leg_back",
    "right_lower_leg_front", "left_lower_leg_front", "right_lower_leg_back", "left_lower_leg_back",
    "left_upper_arm_front", "right_upper_arm_front", "left_upper_arm_back", "right_upper_arm_back",
    "left_lower_arm_front", "right_lower_arm_front", "left_lower_arm_back", "right_lower_arm_back",
    "right_head", "left_head",
)
COARSE_PARTS = (
    "torso", "right_hand", "left_hand", "left_foot", "right_foot", "right_upper_leg",
    "left_upper_leg", "right_lower_leg", "left_lower_leg", "left_upper_arm", "right_upper_arm",
    "left_lower_arm", "right_lower_arm", "head",
)
# Index I (0 = background) -> coarse label (0 = background).
FINE_TO_COARSE = np.array([0, 1, 1, 2, 3, 4, 5, 6, 7, 6, 7, 8, 9, 8, 9,
                           10, 11, 10, 11, 12, 13, 12, 13, 14, 14], dtype=np.uint8)
# Index I -> the mirrored part's index (0 stays 0).
FINE_PART_SYMMETRY = np.array([0, 1, 2, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13,
                               16, 15, 18, 17, 20, 19, 22, 21, 24, 23], dtype=np.uint8)
COARSE_PART_SYMMETRY = np.array([0, 1, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 14], dtype=np.uint8)

# How a part's chart coordinates change under a horizontal flip of the image (DCT's analytic rule):
# torso charts mirror V, hands, feet and head mirror U, limb charts keep both.
CHART_FLIP_MIRRORS_U = np.zeros(25, dtype=bool)
CHART_FLIP_MIRRORS_U[[3, 4, 5, 6, 23, 24]] = True
CHART_FLIP_MIRRORS_V = np.zeros(25, dtype=bool)
CHART_FLIP_MIRRORS_V[[1, 2]] = True

# DensePose fine parts that may cover each COCOplus keypoint's pixel (used by IUV refinement: a
# keypoint sitting on a part outside its set marks that part's region as wrong).
_TORSO, _HEAD = (1, 2), (23, 24)
_UPPER_LEG = {"right": (7, 9), "left": (8, 10)}
_LOWER_LEG = {"right": (11, 13), "left": (12, 14)}
_UPPER_ARM = {"left": (15, 17), "right": (16, 18)}
_LOWER_ARM = {"left": (19, 21), "right": (20, 22)}
_HAND = {"right": (3,), "left": (4,)}
_FOOT = {"left": (5,), "right": (6,)}
KEYPOINT_PARTS = {"neck": _TORSO + _HEAD, "head_top": _HEAD, "nose": _HEAD}
for _side in ("left", "right"):
    KEYPOINT_PARTS.update({
        f"{_side}_ankle": _LOWER_LEG[_side] + _FOOT[_side],
        f"{_side}_knee": _UPPER_LEG[_side] + _LOWER_LEG[_side],
        f"{_side}_hip": _UPPER_LEG[_side] + _TORSO,
        f"{_side}_wrist": _LOWER_ARM[_side] + _HAND[_side],
        f"{_side}_elbow": _UPPER_ARM[_side] + _LOWER_ARM[_side],
        f"{_side}_shoulder": _UPPER_ARM[_side] + _TORSO,
        f"{_side}_eye": _HEAD,
        f"{_side}_ear": _HEAD,
    })


def keypoint_part_table(joint_set="cocoplus"):
    """(J, 25) bool: entry [j, I] is True when part I may cover keypoint j of the set."""
    names = JOINT_SETS[joint_set]
    table = np.zeros((len(names), 25), dtype=bool)
    for j, name in enumerate(names):
        table[j, list(KEYPOINT_PARTS[name])] = True
    return table
