"""Geometry as pure TF functions with thin Keras layers around them."""
from tfhybrid.layers.dense import DenseKeypointGather, gather_dense_keypoints
from tfhybrid.layers.projection import WeakPerspectiveProjection, fit_weak_perspective, project_weak_perspective
from tfhybrid.layers.rotation import Rodrigues, rodrigues
from tfhybrid.layers.smpl import SMPL

__all__ = ["SMPL", "DenseKeypointGather", "Rodrigues", "WeakPerspectiveProjection",
           "fit_weak_perspective", "gather_dense_keypoints", "project_weak_perspective", "rodrigues"]
