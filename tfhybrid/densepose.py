"""DensePose's UV table: charts of the body surface, and (I, U, V) -> body vertices + barycentrics.

`UV_Processed.mat` is 1-based twice over: faces index DensePose vertices, and DensePose vertices
index body-model vertices. `load_uv_table` converts both to 0-based once, on load.
"""
import dataclasses
import os

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
    if not os.path.isfile(path):
        raise UVTableError(f"{path}: not a file (DensePose's UV_Processed.mat is expected)")
    try:
        mat = scipy.io.loadmat(path)
    except (ValueError, OSError, TypeError, scipy.io.matlab.MatReadError) as err:
        raise UVTableError(f"{path}: not a readable MATLAB file: {err}") from None
    parts = _field(mat, "All_FaceIndices", path).reshape(-1)
    faces = _field(mat, "All_Faces", path)
    u = _field(mat, "All_U_norm", path).reshape(-1).astype(np.float64)
    v = _field(mat, "All_V_norm", path).reshape(-1).astype(np.float64)
    body = _field(mat, "All_vertices", path).reshape(-1)
    if parts.size == 0 or u.size == 0:
        raise UVTableError(f"{path}: 'All_FaceIndices' or 'All_U_norm' is empty: the table holds no surface")
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
    except (ValueError, OSError, TypeError, scipy.io.matlab.MatReadError) as err:
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


class IUVLookup:
    """Exact lookup tables for (I, U, V) quantised to 0..255, as stored in IUV PNGs.

    For every part and every (row = V, col = U) on the 256 x 256 grid of chart coordinates
    k / 255, the table holds what `iuv_to_barycentric` returns for that point. Covered grid points
    are found by rasterizing each part's chart triangles with the face index as depth (the lowest
    index wins, as DensePose's first-match scan); the rest take the nearest-corner fallback.
    """

    def __init__(self, table):
        from tfhybrid.render import rasterize

        self.table = table
        self.faces = np.zeros((25, 256, 256), dtype=np.int64)
        self.barycentric = np.zeros((25, 256, 256, 3), dtype=np.float32)
        grid_u, grid_v = np.meshgrid(np.arange(256) / 255.0, np.arange(256) / 255.0)
        corners = table.face_uv
        for part in range(1, 25):
            cand = np.nonzero(table.face_parts == part)[0]
            if cand.size == 0:
                continue
            tri = corners[cand] * 255.0 + 0.5          # grid point k / 255 lands on pixel centre k + 0.5
            points = tri.reshape(-1, 2)
            faces = np.arange(points.shape[0]).reshape(-1, 3)
            depth = np.repeat(np.arange(1, cand.size + 1, dtype=np.float64), 3)
            face_id, bary, _ = rasterize(points, depth, faces, 256, 256, perspective_correct=False)
            # Points on an edge go through the exact scan, whose float tests decide which face has them.
            hit = (face_id >= 0) & (bary.min(axis=-1) > 1e-6)
            self.faces[part][hit] = cand[face_id[hit]]
            self.barycentric[part][hit] = bary[hit]
            miss = np.nonzero(~hit)
            for start in range(0, miss[0].size, 2048):
                rows, cols = miss[0][start:start + 2048], miss[1][start:start + 2048]
                face, _, b = iuv_to_barycentric(table, np.full(rows.size, part), grid_u[rows, cols], grid_v[rows, cols])
                self.faces[part, rows, cols] = face
                self.barycentric[part, rows, cols] = b

    def __call__(self, parts, u, v):
        """Like `iuv_to_barycentric` for uint8-scale U, V (0..255 integers).

        Returns:
          faces (N,), vertex_ids (N, 3) body-model ids, barycentric (N, 3) float32.
        """
        parts = np.asarray(parts).astype(np.int64)
        rows = np.asarray(v).astype(np.int64)
        cols = np.asarray(u).astype(np.int64)
        faces = self.faces[parts, rows, cols]
        return faces, self.table.face_body_vertices[faces], self.barycentric[parts, rows, cols]


def refine_iuv(iuv, keypoints, joint_set="cocoplus"):
    """The paper's keypoint-guided IUV refinement: removes wrongly labelled part regions.

    For each visible keypoint, the most frequent part I among the foreground pixels of its 3x3
    window (background does not vote) is compared with the parts
    allowed at that keypoint (`conventions.KEYPOINT_PARTS`, e.g. a right knee may lie on the right
    upper or lower leg). If that part is not allowed, its connected region (8-neighbours) holding
    the window's pixels is set to background. This repeats until no keypoint finds a wrong part,
    since removing a region can expose another wrong region under the same keypoint.

    Args:
      iuv: (H, W, 3) uint8 (I, U, V) map.
      keypoints: (J, 3) [x, y, visible] in the map's pixels (J of `joint_set`).
    Returns:
      the refined (H, W, 3) uint8 map (a copy) and the number of regions removed.
    """
    import cv2

    out = np.array(iuv, dtype=np.uint8, copy=True)
    allowed = conventions.keypoint_part_table(joint_set)
    height, width = out.shape[:2]
    removed = 0
    changed = True
    while changed:
        changed = False
        for j, (x, y, visible) in enumerate(np.asarray(keypoints, np.float64)):
            col, row = int(np.floor(x)), int(np.floor(y))
            if visible <= 0 or not (0 <= col < width and 0 <= row < height):
                continue
            window = out[max(row - 1, 0):row + 2, max(col - 1, 0):col + 2, 0]
            values, counts = np.unique(window[window > 0], return_counts=True)
            if values.size == 0:
                continue
            part = int(values[np.argmax(counts)])
            if allowed[j, part]:
                continue
            _, regions = cv2.connectedComponents((out[..., 0] == part).astype(np.uint8), connectivity=8)
            seeds = np.unique(regions[max(row - 1, 0):row + 2, max(col - 1, 0):col + 2][window == part])
            out[np.isin(regions, seeds[seeds > 0])] = 0
            removed += 1
            changed = True
    return out, removed


def sample_dense_points(iuv, n=125, seed=0, lookup=None):
    """Draws up to `n` foreground pixels of an IUV map as dense keypoints.

    Args:
      iuv: (H, W, 3) uint8 (I, U, V); n: number of points; seed: sampling seed;
      lookup: an `IUVLookup` to map the points onto the body (optional).
    Returns:
      dict with 'xy' (N, 2) pixel centres, 'parts' (N,), 'u', 'v' (N,) in [0, 1], and with a lookup
      'vertex_ids' (N, 3) and 'barycentric' (N, 3).
    """
    rows, cols = np.nonzero(iuv[..., 0] > 0)
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(rows.size, min(n, rows.size), replace=False)) if rows.size else np.zeros(0, np.int64)
    rows, cols = rows[pick], cols[pick]
    values = iuv[rows, cols].astype(np.int64)
    out = {"xy": np.stack([cols + 0.5, rows + 0.5], axis=1).astype(np.float64), "parts": values[:, 0],
           "u": values[:, 1] / 255.0, "v": values[:, 2] / 255.0}
    if lookup is not None:
        _, out["vertex_ids"], out["barycentric"] = lookup(values[:, 0], values[:, 1], values[:, 2])
    return out


def read_iuv_file(path, image_shape=None):
    """A DensePose IUV PNG as (H, W, 3) uint8 (I, U, V); ValueError naming the file when it does not
    read, is not the image's size, is not 8-bit, or holds part ids above 24."""
    import cv2

    full = cv2.imread(path, cv2.IMREAD_UNCHANGED)          # Detectron's files: cv2 reads (I, U, V)
    wrong_size = image_shape is not None and full is not None and full.shape[:2] != tuple(image_shape)
    if full is None or full.ndim != 3 or full.shape[2] != 3 or wrong_size:
        raise ValueError(f"DensePose prediction {path} is unreadable, not 3-channel, or not the image's size")
    if full.dtype != np.uint8:
        raise ValueError(f"DensePose prediction {path} is {full.dtype}, expected 8-bit channels (I, U, V)")
    if full[..., 0].max() > 24:
        raise ValueError(f"DensePose prediction {path} holds part id {full[..., 0].max()}, expected 0..24")
    return full


def person_instance(iuv_path, bbox, shape):
    """(H, W) bool mask of the DensePose instance under a person box, from Detectron's `_INDS.png`
    beside the `_IUV.png` (instance k > 0 per pixel): the instance covering most of the box. None
    without an INDS file; then the whole IUV map is kept."""
    inds_path = iuv_path[:-len("_IUV.png")] + "_INDS.png" if iuv_path.endswith("_IUV.png") else None
    if inds_path is None or not os.path.exists(inds_path):
        return None
    import cv2

    inds = cv2.imread(inds_path, cv2.IMREAD_UNCHANGED)
    if inds is None or inds.shape[:2] != tuple(shape):
        raise ValueError(f"DensePose instances {inds_path} are unreadable or not the image's size")
    inds = inds if inds.ndim == 2 else inds[..., 0]
    x, y, w, h = bbox
    x0, y0 = max(int(np.floor(x)), 0), max(int(np.floor(y)), 0)
    x1, y1 = min(int(np.ceil(x + w)), shape[1]), min(int(np.ceil(y + h)), shape[0])
    ids, counts = np.unique(inds[y0:y1, x0:x1], return_counts=True)
    counts, ids = counts[ids > 0], ids[ids > 0]
    if ids.size == 0:
        return np.zeros(shape, bool)
    return inds == ids[np.argmax(counts)]


def person_iuv(iuv_path, bbox, image_shape):
    """The IUV map of the person in `bbox` (x, y, w, h): Detectron's `_IUV.png`, other instances
    cleared when its `_INDS.png` is there (see `person_instance`)."""
    full = read_iuv_file(iuv_path, image_shape)
    instance = person_instance(iuv_path, bbox, full.shape[:2])
    return full if instance is None else np.where(instance[..., None], full, 0).astype(np.uint8)
