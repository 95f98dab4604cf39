"""Helpers shared by the dataset converters."""
import numpy as np

from tfhybrid.bodymodel import smpl_numpy


def h36m_joints(model, pose, betas):
    """(17, 3) pelvis-centred H36M joints of an SMPL body, or None if the model has no H36M regressor."""
    if "h36m" not in model.extra_regressors:
        return None
    joints = smpl_numpy(model, np.asarray(betas)[:10], pose)["joints_h36m"]
    return joints - joints[0]


def keypoint_box(keypoints):
    """(x, y, w, h) around the visible keypoints."""
    xy = keypoints[keypoints[:, 2] > 0, :2]
    if xy.shape[0] < 2:
        return (0.0, 0.0, 0.0, 0.0)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    return (float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1]))
