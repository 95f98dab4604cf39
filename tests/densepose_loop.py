"""A per-point port of DensePose's `IUV2FBC`, the independent oracle for `iuv_to_barycentric`
(also the baseline of bench/input_pipeline.py)."""
import numpy as np


def densepose_loop_port(table, part, u, v):
    """A per-point port of DensePose's IUV2FBC (first containing face, else nearest corner)."""
    faces = np.nonzero(table.face_parts == part)[0]
    p = np.array([u, v, 0.0])
    for f in faces:
        p0, p1, p2 = (np.array([table.u[c], table.v[c], 0.0]) for c in table.faces[f])
        e1, e2, w = p1 - p0, p2 - p0, p - p0
        if np.dot(np.cross(e2, w), np.cross(e2, e1)) < 0 or np.dot(np.cross(e1, w), np.cross(e1, e2)) < 0:
            continue
        denom = np.linalg.norm(np.cross(e1, e2))
        r, t = np.linalg.norm(np.cross(e2, w)) / denom, np.linalg.norm(np.cross(e1, w)) / denom
        if r <= 1 and t <= 1 and r + t <= 1:
            return f, np.array([1 - r - t, r, t])
    corners = np.stack([np.stack([table.u[table.faces[faces, k]], table.v[table.faces[faces, k]]], 1) for k in range(3)])
    dist = np.linalg.norm(corners - [u, v], axis=-1)        # (3, Fp)
    d0, d1, d2 = dist.min(axis=1)
    k = 0 if (d0 < d1 and d0 < d2) else (1 if (d1 < d0 and d1 < d2) else 2)
    return faces[np.argmin(dist[k])], np.eye(3)[k]
