"""Helpers shared by the dataset converters."""
from collections.abc import Mapping

import numpy as np

from tfhybrid.bodymodel import smpl_numpy
from tfhybrid.data.converter import SkipSample


def numeric_field(record, key, shape, where):
    """`record[key]` as a float64 array of `shape` (None: any size on that axis); `SkipSample` naming
    `where` and the key when the record is no mapping, or the value is missing, not numeric or
    of another shape."""
    if not isinstance(record, Mapping):
        raise SkipSample(f"{where} is a {type(record).__name__}, expected a mapping with '{key}'")
    if key not in record:
        raise SkipSample(f"{where} has no '{key}'")
    return numeric_array(record[key], key, shape, where)


def numeric_array(value, name, shape, where):
    """`value` as a finite float64 array of `shape` (None: any size on that axis), or `SkipSample`."""
    try:
        value = np.asarray(value, np.float64)
    except (TypeError, ValueError):
        raise SkipSample(f"{where}: '{name}' is not an array of numbers") from None
    if value.ndim != len(shape) or any(e is not None and n != e for n, e in zip(value.shape, shape)):
        expected = tuple("N" if e is None else e for e in shape)
        raise SkipSample(f"{where}: '{name}' has shape {value.shape}, expected {expected}")
    if not np.all(np.isfinite(value)):
        raise SkipSample(f"{where}: '{name}' holds NaN or infinite values")
    return value


def h36m_joints(model, pose, betas):
    """(17, 3) pelvis-centred H36M joints of an SMPL body, or None if the model has no H36M regressor."""
    if "h36m" not in model.extra_regressors:
        return None
    joints = smpl_numpy(model, np.asarray(betas)[:10], pose)["joints_h36m"]
    return joints - joints[0]
