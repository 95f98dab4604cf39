"""SMPL-format body models: loading every file flavour in use, validation, and the canonical .npz.

Readable flavours (all with SMPL's key names):
  * the official py2 pickles (chumpy objects, sparse `J_regressor`, uint32 faces, root parent 2**32-1),
  * de-chumpied pickles (protocol 0) and HMR/DCT pickles carrying a `cocoplus_regressor`,
  * `.npz` archives with the same keys (the canonical form written by `save_body_model`).
Pickles go through `tfhybrid.safe_pickle`; nothing from chumpy or scipy's legacy paths is imported.
Sizes are read from the file, never assumed: the synthetic toy body is smaller than SMPL.
"""
import dataclasses
import os
import pickle
import zipfile

import numpy as np
import scipy.sparse
from scipy.spatial.transform import Rotation

from tfhybrid.fileio import atomic_write, write_npz
from tfhybrid.safe_pickle import UnsafePickleError, load_legacy_pickle

# Extra regressor name -> key in SMPL-style files.
_REGRESSOR_KEYS = {"cocoplus": "cocoplus_regressor", "h36m": "J_regressor_h36m", "extra": "J_regressor_extra"}
_NOT_REGRESSORS = {"J_regressor", "J_regressor_prior"}
_ROOT_SENTINELS = (-1, 2**32 - 1, 2**31 - 1)


class BodyModelError(ValueError):
    """A body-model file is missing a key or has an array of the wrong shape."""


@dataclasses.dataclass(frozen=True, eq=False)
class BodyModel:
    """Dense float32 arrays of an SMPL-format body model.

    Attributes:
      v_template: (V, 3) rest-pose template, metres, y up, facing +z, subject's left at +x.
      shapedirs: (V, 3, K) shape blend shapes.
      posedirs: (V, 3, P) pose blend shapes; P = 9 * (J - 1) for the `lrotmin` feature.
      j_regressor: (J, V) regressor of the skeleton joints from shaped, unposed vertices.
      weights: (V, J) skinning weights, rows summing to 1.
      parents: (J,) int32 parent of each joint, -1 for the root.
      faces: (F, 3) int32 vertex ids.
      extra_regressors: name -> (R, V) regressors applied to posed vertices ('cocoplus', 'h36m', ...).
      source: where the arrays came from (a path, or a description).
    """

    v_template: np.ndarray
    shapedirs: np.ndarray
    posedirs: np.ndarray
    j_regressor: np.ndarray
    weights: np.ndarray
    parents: np.ndarray
    faces: np.ndarray
    extra_regressors: dict = dataclasses.field(default_factory=dict)
    source: str = "<memory>"

    @property
    def num_vertices(self):
        return self.v_template.shape[0]

    @property
    def num_joints(self):
        return self.parents.shape[0]

    @property
    def num_betas(self):
        return self.shapedirs.shape[2]

    @classmethod
    def from_arrays(cls, *, v_template, shapedirs, posedirs, j_regressor, weights, parents, faces,
                    extra_regressors=None, source="<memory>"):
        """Builds a validated model with the canonical dtypes from array-likes."""
        arrays = dict(v_template=_dense(v_template), shapedirs=_dense(shapedirs), posedirs=_dense(posedirs),
                      j_regressor=_dense(j_regressor), weights=_dense(weights))
        arrays = {k: v.astype(np.float32) for k, v in arrays.items()}
        extra = {name: _dense(reg).astype(np.float32) for name, reg in (extra_regressors or {}).items()}
        model = cls(parents=_parents_from_row(parents, source), faces=_faces(faces, source),
                    extra_regressors=extra, source=str(source), **arrays)
        model.validate()
        return model

    def validate(self):
        """Checks every array's shape against the template and the kinematic tree."""
        src = self.source
        v_template = self.v_template
        if v_template.ndim != 2 or v_template.shape[1] != 3:
            raise BodyModelError(f"{src}: key 'v_template' has shape {v_template.shape}, expected (V, 3)")
        num_v = v_template.shape[0]
        num_j = self.parents.shape[0]
        _check(src, "shapedirs", self.shapedirs, (num_v, 3, None), "(V, 3, K)")
        _check(src, "posedirs", self.posedirs, (num_v, 3, 9 * (num_j - 1)), "(V, 3, 9 * (J - 1))")
        _check(src, "J_regressor", self.j_regressor, (num_j, num_v), "(J, V)")
        _check(src, "weights", self.weights, (num_v, num_j), "(V, J)")
        _check(src, "f", self.faces, (None, 3), "(F, 3)")
        if self.faces.size and (self.faces.min() < 0 or self.faces.max() >= num_v):
            raise BodyModelError(f"{src}: key 'f' has vertex ids outside 0..{num_v - 1}")
        if self.parents[0] != -1 or np.any(self.parents[1:] < 0) or np.any(self.parents[1:] >= np.arange(1, num_j)):
            raise BodyModelError(f"{src}: key 'kintree_table' must list each joint's parent before the joint, "
                                 f"root first; got parents {self.parents.tolist()}")
        for name, reg in self.extra_regressors.items():
            _check(src, _regressor_key(name), reg, (None, num_v), "(R, V)")
        for key, value in (("v_template", v_template), ("shapedirs", self.shapedirs), ("posedirs", self.posedirs),
                           ("weights", self.weights), ("J_regressor", self.j_regressor)):
            if not np.all(np.isfinite(value)):
                raise BodyModelError(f"{src}: key '{key}' contains NaN or infinite values")

    def with_extra_regressor(self, name, regressor):
        """A copy with one more (R, V) regressor applied to posed vertices."""
        extra = dict(self.extra_regressors)
        extra[name] = _dense(regressor).astype(np.float32)
        model = dataclasses.replace(self, extra_regressors=extra)
        model.validate()
        return model


def _dense(value):
    if scipy.sparse.issparse(value):
        return value.toarray()
    return np.asarray(value)


def _check(src, key, array, expected, text):
    ok = array.ndim == len(expected) and all(e is None or s == e for s, e in zip(array.shape, expected))
    if not ok:
        raise BodyModelError(f"{src}: key '{key}' has shape {array.shape}, expected {text} = "
                             f"{tuple('?' if e is None else e for e in expected)}")


def _parents_from_row(row, source):
    row = np.asarray(row).astype(np.int64).reshape(-1)
    if row.size == 0:
        raise BodyModelError(f"{source}: key 'kintree_table' is empty")
    if row[0] not in _ROOT_SENTINELS:
        raise BodyModelError(f"{source}: key 'kintree_table' root parent is {row[0]}, expected -1 or 2**32-1")
    parents = row.copy()
    parents[0] = -1
    return parents.astype(np.int32)


def _faces(faces, source):
    faces = np.asarray(faces)
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise BodyModelError(f"{source}: key 'f' has shape {faces.shape}, expected (F, 3)")
    return faces.astype(np.int64).astype(np.int32)


def _regressor_key(name):
    return _REGRESSOR_KEYS.get(name, f"J_regressor_{name}")


def _regressor_name(key):
    for name, known in _REGRESSOR_KEYS.items():
        if key == known:
            return name
    if key.startswith("J_regressor_") and key not in _NOT_REGRESSORS:
        return key[len("J_regressor_"):]
    return None


def _orient(array, rows_hint, num_v, src, key):
    """Regressors are (R, V); HMR's pickles store them transposed as (V, R)."""
    array = _dense(array)
    if array.ndim == 2 and array.shape[1] != num_v and array.shape[0] == num_v:
        array = array.T
    if array.ndim != 2 or array.shape[1] != num_v or (rows_hint is not None and array.shape[0] != rows_hint):
        raise BodyModelError(f"{src}: key '{key}' has shape {array.shape}, expected "
                             f"({rows_hint if rows_hint is not None else 'R'}, {num_v})")
    return array


def _numeric_mapping(data, source):
    """The mapping with str keys and every array numeric (dense or scipy.sparse); BodyModelError
    naming the key otherwise. Other values (chumpy leftovers such as 'bs_style') pass unchanged."""
    out = {}
    for key, value in data.items():
        if isinstance(key, bytes):
            key = key.decode("latin1")
        if not isinstance(key, str):
            raise BodyModelError(f"{source}: key {key!r} is a {type(key).__name__}, expected a string")
        if isinstance(value, np.ndarray) and not (np.issubdtype(value.dtype, np.number) or value.dtype == bool):
            if key in _NUMERIC_KEYS or _regressor_name(key) is not None:
                raise BodyModelError(f"{source}: key '{key}' holds {value.dtype} values, expected numbers")
        out[key] = value
    return out


_NUMERIC_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")


def _from_mapping(data, source):
    data = _numeric_mapping(data, source)
    required = _NUMERIC_KEYS
    missing = [k for k in required if k not in data]
    if missing:
        raise BodyModelError(f"{source}: missing key(s) {missing}; an SMPL-format model needs {list(required)}")
    v_template = _dense(data["v_template"])
    if v_template.ndim != 2 or v_template.shape[1] != 3:
        raise BodyModelError(f"{source}: key 'v_template' has shape {v_template.shape}, expected (V, 3)")
    num_v = v_template.shape[0]
    kintree = np.asarray(data["kintree_table"])
    if kintree.ndim != 2 or kintree.shape[0] != 2:
        raise BodyModelError(f"{source}: key 'kintree_table' has shape {kintree.shape}, expected (2, J)")
    num_j = kintree.shape[1]
    extra = {}
    for key in data:
        name = _regressor_name(key)
        if name is not None:
            extra[name] = _orient(data[key], None, num_v, source, key)
    return BodyModel.from_arrays(
        v_template=v_template, shapedirs=data["shapedirs"], posedirs=data["posedirs"],
        j_regressor=_orient(data["J_regressor"], num_j, num_v, source, "J_regressor"),
        weights=data["weights"], parents=kintree[0], faces=data["f"], extra_regressors=extra, source=source)


def check_npz_sizes(path):
    """Reads only the headers of an `.npz`'s arrays and refuses one whose shape claims more bytes
    than its member holds (a forged header would otherwise allocate before the read fails)."""
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with archive.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read_header(member)
                needed = int(np.prod(shape, dtype=object)) * dtype.itemsize
                if needed > info.file_size:
                    raise BodyModelError(f"{path}: array '{info.filename[:-4]}' claims shape {shape} of {dtype} "
                                         f"({needed} bytes) but holds {info.file_size} bytes")
    except BodyModelError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError) as err:
        raise BodyModelError(f"{path}: not a readable .npz archive (truncated?): {err}") from None
    except ValueError as err:
        raise BodyModelError(f"{path}: an array header does not read: {err}") from None


def load_body_model(path, extra_regressors=None):
    """Reads an SMPL-format body model from a `.pkl` (any flavour) or `.npz`.

    Args:
      path: model file.
      extra_regressors: optional name -> path of `.npy` (R, V) regressors applied to posed vertices,
        e.g. {'h36m': 'J_regressor_h36m.npy'}; they override same-named regressors of the file.
    Returns:
      A validated `BodyModel`.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"body model file not found: {path}")
    if path.endswith(".npz"):
        check_npz_sizes(path)
        try:
            with np.load(path, allow_pickle=False) as archive:
                data = {k: archive[k] for k in archive.files}
        except (zipfile.BadZipFile, EOFError, OSError) as err:
            raise BodyModelError(f"{path}: not a readable .npz archive (truncated?): {err}") from None
        except ValueError as err:
            raise BodyModelError(f"{path}: holds pickled objects, which are not read from .npz: {err}") from None
    else:
        try:
            data = load_legacy_pickle(path)
        except UnsafePickleError:
            raise
        except pickle.UnpicklingError as err:
            raise BodyModelError(str(err)) from None
        if not isinstance(data, dict):
            raise BodyModelError(f"{path}: expected a pickled dict of arrays, found {type(data).__name__}")
    model = _from_mapping(data, path)
    for name, reg_path in (extra_regressors or {}).items():
        model = model.with_extra_regressor(name, load_regressor(reg_path, model.num_vertices))
    return model


def load_regressor(path, num_vertices):
    """Reads a `J_regressor_*.npy`-style (R, V) regressor and checks it against the model's V."""
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as err:
        raise BodyModelError(f"{path}: not a plain numeric .npy array: {err}") from None
    if array.ndim != 2 or array.shape[1] != num_vertices:
        raise BodyModelError(f"{path}: regressor has shape {array.shape}, expected (R, {num_vertices})")
    return array


def body_model_arrays(model):
    """The model as SMPL-keyed arrays (dense; `kintree_table` row 1 holds the joint ids)."""
    num_j = model.num_joints
    arrays = {
        "v_template": model.v_template, "shapedirs": model.shapedirs, "posedirs": model.posedirs,
        "J_regressor": model.j_regressor, "weights": model.weights,
        "kintree_table": np.stack([model.parents.astype(np.int64), np.arange(num_j)]).astype(np.int64),
        "f": model.faces,
    }
    for name, reg in model.extra_regressors.items():
        arrays[_regressor_key(name)] = reg
    return arrays


def save_body_model(model, path):
    """Writes the canonical `.npz` (SMPL key names, dense float32 arrays, -1 root parent)."""
    if not os.fspath(path).endswith(".npz"):
        raise ValueError(f"save_body_model writes .npz files; got {path}")
    write_npz(path, body_model_arrays(model))


def load_mean_params(path):
    """Reads HMR's `neutral_smpl_mean_params.h5`: returns {'pose': (72,), 'shape': (10,)} float32."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            out = {}
            for key, size in (("pose", 72), ("shape", 10)):
                if key not in f:
                    raise BodyModelError(f"{path}: missing dataset '{key}'")
                value = np.asarray(f[key], dtype=np.float32).reshape(-1)
                if value.shape != (size,):
                    raise BodyModelError(f"{path}: dataset '{key}' has {value.size} values, expected {size}")
                out[key] = value
    except OSError as err:
        raise BodyModelError(f"{path}: not a readable HDF5 file: {err}") from None
    return out


def save_mean_params(path, pose, shape):
    """Writes an HMR-style mean-parameter `.h5` with float64 datasets `pose` (72) and `shape` (10)."""
    import h5py

    def write(tmp):
        with h5py.File(tmp, "w") as f:
            f.create_dataset("pose", data=np.asarray(pose, dtype=np.float64), track_times=False)
            f.create_dataset("shape", data=np.asarray(shape, dtype=np.float64), track_times=False)

    atomic_write(path, write)


def smpl_numpy(model, betas, pose):
    """SMPL forward in numpy (float64) for one body: data tools and the synthetic world use it
    without TensorFlow; the `SMPL` Keras layer is checked against the same definition.

    Args:
      model: `BodyModel`; betas: (K,) with K <= model.num_betas; pose: (72,) axis-angle.
    Returns:
      dict with 'vertices' (V, 3), 'joints' (24, 3) posed skeleton joints, 'rest_joints' (24, 3)
      and 'joints_<name>' (R, 3) for each extra regressor.
    """
    betas = np.asarray(betas, np.float64)
    rot = Rotation.from_rotvec(np.asarray(pose, np.float64).reshape(-1, 3)).as_matrix()
    v_shaped = model.v_template + model.shapedirs[:, :, :betas.size] @ betas
    joints = model.j_regressor @ v_shaped
    v_posed = v_shaped + model.posedirs @ (rot[1:] - np.eye(3)).reshape(-1)
    g_rot = np.zeros_like(rot)
    g_t = np.zeros((rot.shape[0], 3))
    for j, p in enumerate(model.parents):
        if p < 0:
            g_rot[j], g_t[j] = rot[j], joints[j]
        else:
            g_rot[j] = g_rot[p] @ rot[j]
            g_t[j] = g_rot[p] @ (joints[j] - joints[p]) + g_t[p]
    rest_t = g_t - np.einsum("jab,jb->ja", g_rot, joints)
    per_vertex_rot = np.einsum("vj,jab->vab", model.weights, g_rot)
    vertices = np.einsum("vab,vb->va", per_vertex_rot, v_posed) + model.weights @ rest_t
    out = {"vertices": vertices, "joints": g_t, "rest_joints": joints}
    for name, reg in model.extra_regressors.items():
        out[f"joints_{name}"] = reg @ vertices
    return out
