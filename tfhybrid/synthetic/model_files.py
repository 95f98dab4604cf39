"""Writes the toy body in every file flavour the loaders must read, with the real files' quirks.

Flavours of the SMPL pickle (`SMPL_PICKLE_FLAVOURS`):
  * 'official': py2 protocol 2; `shapedirs` a chumpy `Ch`; sparse csc `J_regressor`; uint32 `f`;
    `kintree_table` root 2**32-1; `bs_style`, `bs_type`, `pose_training_info`, `vert_sym_idxs`.
  * 'dechumpied': smplx `clean_ch.py` output: py2 protocol 0, chumpy values replaced by arrays,
    `J_regressor` still sparse.
  * 'hmr': HMR-style, with chumpy `shapedirs` and the regressors stored dense and transposed,
    (V, 24) `J_regressor` and (V, 19) `cocoplus_regressor`.
  * 'dct': DCT's `_no_chumpy` file: protocol 2, plain arrays, dense (24, V) and (19, V) regressors.
Also: the canonical `.npz`, `J_regressor_h36m.npy`, HMR's mean-parameter `.h5`, and DensePose's
`UV_Processed.mat` / `UV_symmetry_transforms.mat` for the toy charts.
"""
import os

import numpy as np
import scipy.sparse

from tfhybrid.bodymodel import save_body_model, save_mean_params
from tfhybrid.fileio import npy_bytes, write_bytes, write_mat
from tfhybrid.synthetic.py2pickle import ChumpyArray, dumps_py2
from tfhybrid.synthetic.toybody import chart_symmetry_tables

SMPL_PICKLE_FLAVOURS = ("official", "dechumpied", "hmr", "dct")


def smpl_pickle_dict(toy, flavour):
    """The dict an SMPL pickle of `flavour` holds for the toy body (arrays float64 like the originals)."""
    if flavour not in SMPL_PICKLE_FLAVOURS:
        raise ValueError(f"unknown flavour {flavour!r}; expected one of {SMPL_PICKLE_FLAVOURS}")
    m = toy.model
    kintree = np.stack([m.parents.astype(np.int64), np.arange(m.num_joints)]).astype(np.uint32)
    j_regressor = scipy.sparse.csc_matrix(m.j_regressor.astype(np.float64))
    cocoplus = scipy.sparse.csc_matrix(m.extra_regressors["cocoplus"].astype(np.float64))
    data = {
        "v_template": m.v_template.astype(np.float64),
        "shapedirs": m.shapedirs.astype(np.float64),
        "posedirs": m.posedirs.astype(np.float64),
        "J_regressor": j_regressor,
        "weights": m.weights.astype(np.float64),
        "kintree_table": kintree,
        "f": m.faces.astype(np.uint32),
        "J": (m.j_regressor.astype(np.float64) @ m.v_template.astype(np.float64)),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }
    if flavour == "official":
        data.update({"shapedirs": ChumpyArray(data["shapedirs"]), "J_regressor_prior": j_regressor,
                     "weights_prior": data["weights"], "vert_sym_idxs": toy.vertex_symmetry.astype(np.int64),
                     "pose_training_info": {"SMPL_version": "toy", "num_betas": 10, "pose_space": "lrotmin"}})
    elif flavour == "hmr":
        data.update({"shapedirs": ChumpyArray(data["shapedirs"]), "J_regressor": j_regressor.toarray().T,
                     "cocoplus_regressor": cocoplus.toarray().T})
    elif flavour == "dct":
        data.update({"J_regressor": j_regressor.toarray(), "cocoplus_regressor": cocoplus.toarray()})
    return data


def write_smpl_pickle(toy, path, flavour="official"):
    """Writes one SMPL pickle flavour (see the module docstring)."""
    protocol = 0 if flavour == "dechumpied" else 2
    write_bytes(path, dumps_py2(smpl_pickle_dict(toy, flavour), protocol=protocol))


def write_uv_processed(charts, path):
    """DensePose's `UV_Processed.mat`: 1-based faces into chart vertices, 1-based body vertex ids."""
    arrays = {
        "All_FaceIndices": charts.face_parts.astype(np.uint8).reshape(-1, 1),
        "All_Faces": (charts.faces + 1).astype(np.float64),
        "All_U_norm": charts.u.astype(np.float64).reshape(-1, 1),
        "All_V_norm": charts.v.astype(np.float64).reshape(-1, 1),
        "All_vertices": (charts.body_vertex + 1).astype(np.uint32).reshape(1, -1),
    }
    write_mat(path, arrays)


def write_uv_symmetry(path):
    """DensePose's `UV_symmetry_transforms.mat`: (1, 24) cell arrays of 256x256 tables."""
    u_tables, v_tables = chart_symmetry_tables()
    cells = {}
    for key, tables in (("U_transforms", u_tables), ("V_transforms", v_tables)):
        cell = np.empty((1, 24), dtype=object)
        for i, table in enumerate(tables):
            cell[0, i] = table
        cells[key] = cell
    write_mat(path, cells)


def write_model_files(toy, out_dir):
    """Writes every body-model and UV file of the toy body under `out_dir`.

    Returns:
      name -> path of what was written.
    """
    models = os.path.join(out_dir, "models")
    densepose = os.path.join(out_dir, "densepose")
    paths = {f"smpl_{flavour}": os.path.join(models, f"toy_smpl_neutral_{flavour}.pkl")
             for flavour in SMPL_PICKLE_FLAVOURS}
    for flavour in SMPL_PICKLE_FLAVOURS:
        write_smpl_pickle(toy, paths[f"smpl_{flavour}"], flavour)
    paths["npz"] = os.path.join(models, "toy_smpl_neutral.npz")
    save_body_model(toy.model, paths["npz"])
    paths["h36m_regressor"] = os.path.join(models, "J_regressor_h36m.npy")
    h36m = toy.model.extra_regressors["h36m"].astype(np.float64)
    write_bytes(paths["h36m_regressor"], npy_bytes(h36m))
    paths["mean_params"] = os.path.join(models, "neutral_smpl_mean_params.h5")
    save_mean_params(paths["mean_params"], toy.mean_pose, np.zeros(10))
    paths["uv_processed"] = os.path.join(densepose, "UV_Processed.mat")
    write_uv_processed(toy.charts, paths["uv_processed"])
    paths["uv_symmetry"] = os.path.join(densepose, "UV_symmetry_transforms.mat")
    write_uv_symmetry(paths["uv_symmetry"])
    return paths
