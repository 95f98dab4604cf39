"""DensePose's UV table: charts of the body surface, and (I, U, V) -> body vertices + barycentrics.

`UV_Processed.mat` is 1-based twice over: faces index DensePose vertices, and DensePose vertices
index body-model vertices. `load_uv_table` converts both to 0-based once, on load.
"""
import dataclasses

import numpy as np
import scipy.io

from tfhybrid import conventions


class UVTableError(ValueError):
    """A UV table file is missing a field or has the wrong shape."""


@dataclasses.dataclass(frozen=True, eq=False)
class UVTable:
    """DensePose charts, 0-based.

    Attributes:
      face_parts: (F,) uint8 part id 1..24 of each chart face.
      faces: (F, 3) int64 chart-vertex ids of each face's corners.
      u, v: (Vc,) float64 chart coordinates of each chart vertex, in [0, 1].
      body_vertex: (Vc,) int64 body-model vertex id of each chart vertex.
      u_transforms, v_transforms: optional (24, 256, 256) mirror tables indexed [part - 1, row = int(V
        * 255), col = int(U * 255)] (from `UV_symmetry_transforms.mat`).
      source: the file read.
    """

    face_parts: np.ndarray
    faces: np.ndarray
    u: np.ndarray
    v: np.ndarray
    body_vertex: np.ndarray
    u_transforms: np.ndarray = None
    v_transforms: np.ndarray = None
    source: str = "<memory>"

    @property
    def face_body_vertices(self):
        """(F, 3) body-model vertex ids of each chart face's corners."""
        return self.body_vertex[self.faces]

    @property
    def face_uv(self):
        """(F, 3, 2) chart (U, V) of each chart face's corners."""
        return np.stack([self.u[self.faces], self.v[self.faces]], axis=-1)


def _field(mat, key, path):
    if key not in mat:
        raise UVTableError(f"{path}: missing field '{key}'")
    return np.asarray(mat[key])


def load_uv_table(path, symmetry_path=None):
    """Reads `UV_Processed.mat` (and optionally `UV_symmetry_transforms.mat`) into a `UVTable`."""
    try:
        mat = scipy.io.loadmat(path)
    except (ValueError, OSError, TypeError) as err:
        raise UVTableError(f"{path}: not a readable MATLAB file: {err}") from None
    parts = _field(mat, "All_FaceIndices", path).reshape(-1)
    faces = _field(mat, "All_Faces", path)
    u = _field(mat, "All_U_norm", path).reshape(-1).astype(np.float64)
    v = _field(mat, "All_V_norm", path).reshape(-1).astype(np.float64)
    body = _field(mat, "All_vertices", path).reshape(-1)
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.shape[0] != parts.shape[0]:
        raise UVTableError(f"{path}: 'All_Faces' has shape {faces.shape}, expected ({parts.shape[0]}, 3) "
                           "matching 'All_FaceIndices'")
    if not (u.shape == v.shape == body.shape):
        raise UVTableError(f"{path}: 'All_U_norm' {u.shape}, 'All_V_norm' {v.shape} and 'All_vertices' "
                           f"{body.shape} must have one entry per DensePose vertex")
    if np.any(faces != np.round(faces)) or faces.min() < 1 or faces.max() > u.size:
        raise UVTableError(f"{path}: 'All_Faces' must hold 1-based vertex ids in 1..{u.size}")
    if body.min() < 1:
        raise UVTableError(f"{path}: 'All_vertices' must hold 1-based body vertex ids")
    if parts.min() < 1 or parts.max() > 24:
        raise UVTableError(f"{path}: 'All_FaceIndices' must hold part ids 1..24")
    u_tab = v_tab = None
    if symmetry_path is not None:
        u_tab, v_tab = _load_symmetry(symmetry_path)
    return UVTable(face_parts=parts.astype(np.uint8), faces=faces.astype(np.int64) - 1, u=u, v=v,
                   body_vertex=body.astype(np.int64) - 1, u_transforms=u_tab, v_transforms=v_tab, source=str(path))


def _load_symmetry(path):
    try:
        mat = scipy.io.loadmat(path)
    except (ValueError, OSError, TypeError) as err:
        raise UVTableError(f"{path}: not a readable MATLAB file: {err}") from None
    tables = []
    for key in ("U_transforms", "V_transforms"):
        cells = _field(mat, key, path)
        if cells.shape != (1, 24):
            raise UVTableError(f"{path}: '{key}' has shape {cells.shape}, expected a (1, 24) cell array")
        stack = np.stack([np.asarray(cells[0, i], dtype=np.float64) for i in range(24)])
        if stack.shape != (24, 256, 256):
            raise UVTableError(f"{path}: '{key}' cells must be 256x256 tables, got {stack.shape[1:]}")
        tables.append(stack)
    return tables


def uv_table_from_charts(charts, source="toy charts"):
    """A `UVTable` from the toy body's `SurfaceCharts` (already 0-based), with its mirror tables."""
    from tfhybrid.synthetic.toybody import chart_symmetry_tables

    u_tab, v_tab = chart_symmetry_tables()
    return UVTable(face_parts=charts.face_parts, faces=charts.faces, u=charts.u, v=charts.v,
                   body_vertex=charts.body_vertex, u_transforms=np.stack(u_tab), v_transforms=np.stack(v_tab),
                   source=source)


def _cross(a, b):
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def iuv_to_barycentric(table, parts, u, v):
    """Maps DensePose points to body-model vertices and barycentric weights (DensePose's IUV2FBC).

    For each point, the first face of its part (in face order) that contains (U, V) wins, edges
    included; a point outside every face of its part takes the nearest face corner with a one-hot
    weight (corner 0 only if strictly nearer than corners 1 and 2, then corner 1 likewise, else 2).

    Args:
      table: `UVTable`.
      parts: (N,) part ids 1..24; u, v: (N,) chart coordinates in [0, 1].
    Returns:
      faces: (N,) chart-face ids; vertex_ids: (N, 3) body-model vertex ids; barycentric: (N, 3).
    """
    parts = np.asarray(parts).astype(np.int64).reshape(-1)
    points = np.stack([np.asarray(u, np.float64).reshape(-1), np.asarray(v, np.float64).reshape(-1)], axis=1)
    if parts.size and (parts.min() < 1 or parts.max() > 24):
        raise ValueError("parts must be DensePose part ids 1..24")
    face_out = np.zeros(parts.size, dtype=np.int64)
    bary_out = np.zeros((parts.size, 3))
    corners = table.face_uv
    for part in np.unique(parts):
        idx = np.nonzero(parts == part)[0]
        cand = np.nonzero(table.face_parts == part)[0]
        tri = corners[cand]                                          # (Fp, 3, 2)
        p = points[idx][:, None, :]                                  # (Np, 1, 2)
        e1 = tri[None, :, 1] - tri[None, :, 0]
        e2 = tri[None, :, 2] - tri[None, :, 0]
        w = p - tri[None, :, 0]
        v_w, v_u = _cross(e2, w), _cross(e2, e1)
        u_w, u_v = _cross(e1, w), _cross(e1, e2)
        with np.errstate(divide="ignore", invalid="ignore"):
            denom = np.abs(u_v)
            r = np.abs(v_w) / denom
            t = np.abs(u_w) / denom
            inside = (v_w * v_u >= 0) & (u_w * u_v >= 0) & (r <= 1) & (t <= 1) & (r + t <= 1)
        hit = inside.any(axis=1)
        first = np.argmax(inside, axis=1)
        rows = np.nonzero(hit)[0]
        face_out[idx[rows]] = cand[first[rows]]
        rr, tt = r[rows, first[rows]], t[rows, first[rows]]
        bary_out[idx[rows]] = np.stack([1.0 - rr - tt, rr, tt], axis=1)
        miss = np.nonzero(~hit)[0]
        if miss.size:
            dist = np.linalg.norm(points[idx[miss]][:, None, None, :] - tri[None], axis=-1)  # (Nm, Fp, 3)
            best = dist.min(axis=1)                                                         # (Nm, 3)
            corner = np.where((best[:, 0] < best[:, 1]) & (best[:, 0] < best[:, 2]), 0,
                              np.where((best[:, 1] < best[:, 0]) & (best[:, 1] < best[:, 2]), 1, 2))
            face_out[idx[miss]] = cand[np.argmin(dist[np.arange(miss.size), :, corner], axis=1)]
            bary_out[idx[miss]] = np.eye(3)[corner]
    return face_out, table.face_body_vertices[face_out], bary_out


def symmetric_points(table, parts, u, v):
    """DensePose's mirror of (I, U, V) points: the symmetric part, with (U, V) from the mirror tables.

    Returns:
      (parts, u, v) of the mirrored points.
    """
    if table.u_transforms is None:
        raise UVTableError(f"{table.source}: mirroring points needs UV_symmetry_transforms.mat")
    parts = np.asarray(parts).astype(np.int64)
    row = (np.asarray(v) * 255).astype(np.int64)
    col = (np.asarray(u) * 255).astype(np.int64)
    return (conventions.FINE_PART_SYMMETRY[parts].astype(np.int64), table.u_transforms[parts - 1, row, col],
            table.v_transforms[parts - 1, row, col])
