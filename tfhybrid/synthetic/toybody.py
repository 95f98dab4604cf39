"""A procedural body model with SMPL's exact layout, and DensePose-style surface charts on it.

The SMPL model and DensePose's UV data are licensed, so tests and the default run use this body:
SMPL's 24-joint tree and names, metres, y up, facing +z, the subject's left at +x. The surface is
14 closed segments (torso, head, and for each side upper arm, lower arm, hand, upper leg, lower
leg, foot), one per DensePose coarse part, each a ring-and-longitude tube with rounded caps that
overlaps its neighbours at the joints.

Everything derived from it is exact by construction:
  * 10 shape directions with a human meaning (`SHAPE_DIRECTIONS`): the mesh is linear in the
    design parameters (joint points, radii) with fixed frames, so `shapedirs` is exact.
  * `J_regressor` rows are averages of whole vertex rings, whose centroids lie on the segment axis
    at the joint; rows sum to 1. `cocoplus` (19) and `h36m` (17) regressors likewise.
  * Skinning weights blend smoothly between the joints along each segment; rows sum to 1.
  * Every face belongs to one of DensePose's 24 parts, with (U, V) charts whose mirror rules are
    DCT's analytic IUV flip (torso: V -> 1-V; hands, feet, head: U -> 1-U; limbs: unchanged), and
    the mesh is exactly mirror-symmetric (`vertex_symmetry`).
"""
import dataclasses

import numpy as np
import scipy.sparse
from scipy.spatial import cKDTree

from tfhybrid import conventions
from tfhybrid.bodymodel import BodyModel

SHAPE_DIRECTIONS = ("height", "girth", "leg_length", "shoulder_width", "hip_width", "belly",
                    "head_size", "arm_length", "arm_thickness", "torso_length")
_MIRROR = np.array([-1.0, 1.0, 1.0])
_X, _Y, _Z = np.eye(3)

# Design points of the left side and the midline at beta = 0 (metres).
_POINTS = {
    "torso0": (0.0, -0.40, 0.0), "torso1": (0.0, 0.27, -0.01),
    "head0": (0.0, 0.24, 0.0), "head1": (0.0, 0.50, 0.02),
    "shoulder": (0.17, 0.215, -0.01), "elbow": (0.43, 0.205, -0.03), "wrist": (0.67, 0.205, -0.03),
    "fingertip": (0.86, 0.20, -0.03),
    "hip": (0.085, -0.32, 0.01), "knee": (0.10, -0.72, 0.02), "ankle": (0.09, -1.11, -0.02),
    "heel": (0.09, -1.155, -0.07), "toe": (0.10, -1.165, 0.15),
}
_ARM = ("elbow", "wrist", "fingertip")
_LEG = ("knee", "ankle", "heel", "toe")


@dataclasses.dataclass(frozen=True)
class _SegmentSpec:
    name: str
    side: str            # 'left', 'right' or 'mid'
    start: str
    end: str
    frame: tuple         # (e1, e2) cross-section axes of the left/mid segment
    profile: tuple       # control points (t, r1, r2, offset along e2)
    group: str           # radius group for the shape directions
    rings: int           # main rings, t = 0 .. 1 inclusive
    longitudes: int
    caps: tuple          # cap length (in radii) at the start and the end
    parts: tuple         # DensePose part ids: one (whole tube) or two (halves of theta)
    chart: str           # 'angle_u' (U around, V along) or 'angle_v' (U along, V around)
    mirror: str          # how the right side's frame is made: 'reflect' or 'reflect_flip_e2'


def _limb(name, start, end, frame, profile, group, rings, lon, caps, parts_left, parts_right, chart="angle_u",
          mirror="reflect"):
    return [
        _SegmentSpec(name, "left", start, end, frame, profile, group, rings, lon, caps, parts_left, chart, mirror),
        _SegmentSpec(name, "right", start, end, frame, profile, group, rings, lon, caps, parts_right, chart, mirror),
    ]


_SEGMENTS = [
    _SegmentSpec("torso", "mid", "torso0", "torso1", (_X, _Z),
                 ((0.0, 0.125, 0.085, 0.0), (0.15, 0.150, 0.095, 0.0), (0.35, 0.140, 0.090, 0.0),
                  (0.50, 0.130, 0.088, 0.005), (0.70, 0.150, 0.100, 0.01), (0.85, 0.165, 0.095, 0.0),
                  (0.95, 0.100, 0.070, 0.0), (1.0, 0.055, 0.052, 0.0)),
                 "torso", 24, 32, (0.45, 0.5), (2, 1), "angle_v", "none"),
    _SegmentSpec("head", "mid", "head0", "head1", (_Z, _X),
                 ((0.0, 0.048, 0.048, 0.0), (0.2, 0.050, 0.050, 0.0), (0.35, 0.075, 0.085, 0.0),
                  (0.55, 0.078, 0.095, 0.0), (0.8, 0.080, 0.095, 0.0), (1.0, 0.070, 0.080, 0.0)),
                 "head", 12, 24, (0.5, 0.9), (24, 23), "angle_u", "none"),
    *_limb("upper_arm", "shoulder", "elbow", (_Y, _Z),
           ((0.0, 0.052, 0.050, 0.0), (0.3, 0.048, 0.046, 0.0), (1.0, 0.037, 0.037, 0.0)),
           "arm", 10, 16, (0.8, 0.8), (15, 17), (16, 18)),
    *_limb("lower_arm", "elbow", "wrist", (_Y, _Z),
           ((0.0, 0.037, 0.037, 0.0), (0.3, 0.038, 0.040, 0.0), (1.0, 0.026, 0.032, 0.0)),
           "arm", 10, 16, (0.8, 0.8), (19, 21), (20, 22)),
    *_limb("hand", "wrist", "fingertip", (_Y, _Z),
           ((0.0, 0.020, 0.032, 0.0), (0.4, 0.018, 0.045, 0.0), (0.8, 0.014, 0.040, 0.0), (1.0, 0.010, 0.030, 0.0)),
           "hand", 6, 12, (0.6, 1.0), (4,), (3,), mirror="reflect_flip_e2"),
    *_limb("upper_leg", "hip", "knee", (_X, _Z),
           ((0.0, 0.085, 0.085, 0.0), (0.4, 0.070, 0.072, 0.0), (1.0, 0.052, 0.052, 0.0)),
           "leg", 12, 16, (0.7, 0.7), (8, 10), (7, 9)),
    *_limb("lower_leg", "knee", "ankle", (_X, _Z),
           ((0.0, 0.052, 0.052, 0.0), (0.25, 0.052, 0.058, 0.0), (0.7, 0.038, 0.042, 0.0), (1.0, 0.032, 0.034, 0.0)),
           "leg", 12, 16, (0.7, 0.7), (12, 14), (11, 13)),
    *_limb("foot", "heel", "toe", (_Y, -_X),
           ((0.0, 0.035, 0.035, 0.0), (0.5, 0.032, 0.045, 0.0), (1.0, 0.018, 0.040, 0.0)),
           "foot", 8, 12, (0.8, 0.8), (5,), (6,), mirror="reflect_flip_e2"),
]

# Skinning knots per segment: (joint name, t along the segment); weights blend between neighbours.
_TORSO_Y = {"pelvis": -0.22, "spine1": -0.10, "spine2": 0.03, "spine3": 0.09, "collar": 0.19}
_KNOTS = {
    "torso": (("pelvis", 0.0), ("pelvis", 0.27), ("spine1", 0.45), ("spine2", 0.64), ("spine3", 0.76),
              ("spine3", 0.88), ("neck", 1.0)),
    "head": (("neck", 0.05), ("head", 0.3)),
    "upper_arm": (("{s}_collar", -0.25), ("{s}_shoulder", 0.12), ("{s}_shoulder", 0.86), ("{s}_elbow", 1.12)),
    "lower_arm": (("{s}_shoulder", -0.12), ("{s}_elbow", 0.12), ("{s}_elbow", 0.86), ("{s}_wrist", 1.1)),
    "hand": (("{s}_wrist", 0.1), ("{s}_hand", 0.5)),
    "upper_leg": (("pelvis", -0.15), ("{s}_hip", 0.1), ("{s}_hip", 0.86), ("{s}_knee", 1.1)),
    "lower_leg": (("{s}_hip", -0.12), ("{s}_knee", 0.1), ("{s}_knee", 0.86), ("{s}_ankle", 1.08)),
    "foot": (("{s}_ankle", 0.35), ("{s}_foot", 0.65)),
}


def _design(beta):
    """Design points and radius scales for shape `beta` (10,); may be non-linear, is linearised."""
    b = np.asarray(beta, dtype=np.float64)
    pts = {k: np.array(v, dtype=np.float64) for k, v in _POINTS.items()}
    scale = {"torso": 1.0, "head": 1.0, "arm": 1.0, "hand": 1.0, "leg": 1.0, "foot": 1.0}
    extra = {"torso_r1_low": 0.0, "torso_r1_high": 0.0, "belly": 0.0}
    for k in pts:                                        # 0 height
        pts[k] *= 1.0 + 0.05 * b[0]
    for g in scale:
        scale[g] *= 1.0 + 0.03 * b[0]
    scale["torso"] *= 1.0 + 0.12 * b[1]                  # 1 girth
    for g in ("arm", "leg", "hand", "foot"):
        scale[g] *= 1.0 + 0.08 * b[1]
    pts["hip"][0] += 0.01 * b[1]
    for k in _LEG:                                       # 2 leg length
        pts[k] = pts["hip"] + (pts[k] - pts["hip"]) * (1.0 + 0.07 * b[2])
    for k in ("shoulder",) + _ARM:                       # 3 shoulder width
        pts[k][0] += 0.02 * b[3]
    extra["torso_r1_high"] += 0.015 * b[3]
    for k in ("hip",) + _LEG:                            # 4 hip width
        pts[k][0] += 0.012 * b[4]
    extra["torso_r1_low"] += 0.015 * b[4]
    scale["leg"] *= 1.0 + 0.04 * b[4]
    extra["belly"] += 0.025 * b[5]                       # 5 belly
    scale["head"] *= 1.0 + 0.08 * b[6]                   # 6 head size
    pts["head1"][1] += 0.02 * b[6]
    for k in _ARM:                                       # 7 arm length
        pts[k] = pts["shoulder"] + (pts[k] - pts["shoulder"]) * (1.0 + 0.07 * b[7])
    scale["arm"] *= 1.0 + 0.15 * b[8]                    # 8 arm thickness
    scale["hand"] *= 1.0 + 0.08 * b[8]
    for k in ("torso1", "head0", "head1", "shoulder") + _ARM:   # 9 torso length
        pts[k][1] += 0.035 * b[9]
    return pts, scale, extra


def _ring_table(spec):
    """Per ring: (t, cap side (-1 start, +1 end, 0 main), cap angle alpha); poles have alpha = pi/2."""
    table = [(0.0, -1, a) for a in (np.pi / 2, np.pi / 3, np.pi / 6)]
    table += [(t, 0, 0.0) for t in np.linspace(0.0, 1.0, spec.rings)]
    table += [(1.0, 1, a) for a in (np.pi / 6, np.pi / 3, np.pi / 2)]
    return table


def _frame(spec, side):
    """Axis-independent cross-section frame (e1, e2) of a segment on its side."""
    e1, e2 = np.asarray(spec.frame[0], float), np.asarray(spec.frame[1], float)
    if side == "right":
        e1, e2 = e1 * _MIRROR, e2 * _MIRROR
        if spec.mirror == "reflect_flip_e2":
            e2 = -e2
    return e1, e2


def _segment_vertices(spec, side, pts, scale, extra):
    """(rings, longitudes, 3) ring vertices plus the two poles, for one segment."""
    mirror = _MIRROR if side == "right" else np.ones(3)
    p0, p1 = pts[spec.start] * mirror, pts[spec.end] * mirror
    base0 = np.array(_POINTS[spec.start]) * mirror
    base1 = np.array(_POINTS[spec.end]) * mirror
    axis = (base1 - base0) / np.linalg.norm(base1 - base0)
    e1, e2 = _frame(spec, side)
    e1 = e1 - axis * (e1 @ axis)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(axis, e1) * np.sign(np.cross(axis, e1) @ e2)
    prof = np.array(spec.profile)
    theta = 2.0 * np.pi * np.arange(spec.longitudes) / spec.longitudes
    s = scale[spec.group]

    def radii(t):
        r1 = np.interp(t, prof[:, 0], prof[:, 1]) * s
        r2 = np.interp(t, prof[:, 0], prof[:, 2]) * s
        off = np.interp(t, prof[:, 0], prof[:, 3])
        if spec.name == "torso":
            r1 += extra["torso_r1_low"] * np.clip(1.0 - t / 0.3, 0.0, 1.0)
            r1 += extra["torso_r1_high"] * np.clip((t - 0.6) / 0.3, 0.0, 1.0)
            bump = np.clip(1.0 - abs(t - 0.45) / 0.2, 0.0, 1.0)
            r2 += extra["belly"] * bump
            off += 0.5 * extra["belly"] * bump
        return r1, r2, off

    rings, poles = [], []
    for t, cap, alpha in _ring_table(spec):
        r1, r2, off = radii(t)
        centre = p0 + t * (p1 - p0) + off * e2
        if cap:
            h = spec.caps[0 if cap < 0 else 1] * 0.5 * (r1 + r2)
            centre = centre + cap * h * np.sin(alpha) * axis
            r1, r2 = r1 * np.cos(alpha), r2 * np.cos(alpha)
        if cap and alpha == np.pi / 2:
            poles.append(centre)
            continue
        rings.append(centre + r1 * np.cos(theta)[:, None] * e1 + r2 * np.sin(theta)[:, None] * e2)
    return np.array(rings), poles[0], poles[1]


@dataclasses.dataclass(frozen=True)
class _Segment:
    spec: _SegmentSpec
    side: str
    offset: int          # first vertex id: bottom pole, then rings row-major, then top pole
    num_rings: int

    @property
    def num_vertices(self):
        return self.num_rings * self.spec.longitudes + 2

    @property
    def key(self):
        return self.spec.name if self.side == "mid" else f"{self.side}_{self.spec.name}"

    def ring_ids(self, t):
        """Vertex ids of the main ring nearest to t."""
        ts = np.linspace(0.0, 1.0, self.spec.rings)
        k = 2 + int(np.argmin(np.abs(ts - t)))
        n = self.spec.longitudes
        return self.offset + 1 + k * n + np.arange(n)

    def vertex(self, t, longitude):
        return self.ring_ids(t)[longitude % self.spec.longitudes]

    @property
    def top_pole(self):
        return self.offset + self.num_vertices - 1


def _specs(resolution):
    """Segment specs with ring and longitude counts scaled (longitudes stay multiples of 4)."""
    return [dataclasses.replace(spec, rings=max(3, int(round(spec.rings * resolution))),
                                longitudes=max(8, 4 * int(round(spec.longitudes * resolution / 4))))
            for spec in _SEGMENTS]


def _layout(specs):
    segments, offset = [], 0
    for spec in specs:
        seg = _Segment(spec, spec.side, offset, spec.rings + 4)
        segments.append(seg)
        offset += seg.num_vertices
    return {seg.key: seg for seg in segments}, offset


def _build(beta, specs):
    """(V, 3) vertices for shape `beta`; linear in the design quantities."""
    pts, scale, extra = _design(beta)
    out = []
    for spec in specs:
        rings, bottom, top = _segment_vertices(spec, spec.side, pts, scale, extra)
        out.append(np.vstack([bottom[None], rings.reshape(-1, 3), top[None]]))
    return np.vstack(out)


def _segment_faces(seg, vertices):
    """Outward-oriented faces of one segment, with each face's longitude index (for charts)."""
    n, rings, o = seg.spec.longitudes, seg.num_rings, seg.offset
    bottom, top = o, o + seg.num_vertices - 1

    def vid(k, l):
        return o + 1 + k * n + (l % n)

    faces, lon = [], []
    for l in range(n):
        faces.append((bottom, vid(0, l + 1), vid(0, l)))
        lon.append(l)
    for k in range(rings - 1):
        for l in range(n):
            a, b, c, d = vid(k, l), vid(k, l + 1), vid(k + 1, l + 1), vid(k + 1, l)
            # Diagonals alternate by quarter turn so that the triangulation itself is mirror-symmetric.
            faces += [(a, b, c), (a, c, d)] if l % (n // 2) < n // 4 else [(a, b, d), (b, c, d)]
            lon += [l, l]
    for l in range(n):
        faces.append((top, vid(rings - 1, l), vid(rings - 1, l + 1)))
        lon.append(l)
    faces = np.array(faces, dtype=np.int64)
    v = vertices[faces]
    volume = np.einsum("fi,fi->f", v[:, 0], np.cross(v[:, 1], v[:, 2])).sum() / 6.0
    if volume < 0:
        faces = faces[:, ::-1]
    return faces, np.array(lon)


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _knot_weights(t, knots, num_joints):
    """(N, J) weights interpolating one-hot joints between (joint id, t) knots with smoothstep."""
    w = np.zeros((t.shape[0], num_joints))
    ts = np.array([k[1] for k in knots])
    js = [k[0] for k in knots]
    w[t <= ts[0], js[0]] = 1.0
    w[t >= ts[-1], js[-1]] = 1.0
    for a in range(len(knots) - 1):
        inside = (t > ts[a]) & (t < ts[a + 1])
        s = _smoothstep((t[inside] - ts[a]) / (ts[a + 1] - ts[a]))
        w[inside, js[a]] += 1.0 - s
        w[inside, js[a + 1]] += s
    return w


def _joint_id(name, side):
    return conventions.SMPL_JOINTS.index(name.format(s=side))


def _skinning_weights(segments, vertices):
    num_j = len(conventions.SMPL_JOINTS)
    weights = np.zeros((vertices.shape[0], num_j))
    for seg in segments.values():
        ids = np.arange(seg.offset, seg.offset + seg.num_vertices)
        side = seg.side
        mirror = _MIRROR if side == "right" else np.ones(3)
        p0 = np.array(_POINTS[seg.spec.start]) * mirror
        p1 = np.array(_POINTS[seg.spec.end]) * mirror
        t = (vertices[ids] - p0) @ (p1 - p0) / np.sum((p1 - p0) ** 2)
        knots = [(_joint_id(n, side), kt) for n, kt in _KNOTS[seg.spec.name]]
        w = _knot_weights(t, knots, num_j)
        if seg.spec.name == "torso":
            w = _torso_lateral(w, vertices[ids])
        weights[ids] = w
    return weights


def _torso_lateral(w, v):
    """Moves the torso's hip and shoulder corners onto the hip and collar joints."""
    x, y = v[:, 0], v[:, 1]
    for side, sign in (("left", 1.0), ("right", -1.0)):
        lateral = sign * x
        hip = _smoothstep((lateral - 0.04) / 0.08) * _smoothstep((_POINTS["hip"][1] + 0.06 - y) / 0.1)
        collar = _smoothstep((lateral - 0.05) / 0.08) * _smoothstep((y - (_TORSO_Y["collar"] - 0.08)) / 0.08)
        for amount, joint in ((hip, f"{side}_hip"), (collar, f"{side}_collar")):
            onehot = np.zeros(w.shape[1])
            onehot[conventions.SMPL_JOINTS.index(joint)] = 1.0
            w = (1.0 - amount[:, None]) * w + amount[:, None] * onehot
    return w


def _torso_t(y):
    y0, y1 = _POINTS["torso0"][1], _POINTS["torso1"][1]
    return (y - y0) / (y1 - y0)


def _regressor(rows, num_v):
    """Sparse (R, V) regressor from rows of [(vertex ids, total weight), ...]; rows sum to 1."""
    data, r_idx, c_idx = [], [], []
    for r, parts in enumerate(rows):
        total = sum(w for _, w in parts)
        for ids, w in parts:
            ids = np.atleast_1d(ids)
            data += [w / total / ids.size] * ids.size
            r_idx += [r] * ids.size
            c_idx += ids.tolist()
    return scipy.sparse.csc_matrix((data, (r_idx, c_idx)), shape=(len(rows), num_v))


def _joint_rows(seg):
    """Ring-centroid definitions of the 24 SMPL joints (and points shared by other regressors)."""
    rows = {
        "pelvis": [(seg["torso"].ring_ids(_torso_t(_TORSO_Y["pelvis"])), 1.0)],
        "spine1": [(seg["torso"].ring_ids(_torso_t(_TORSO_Y["spine1"])), 1.0)],
        "spine2": [(seg["torso"].ring_ids(_torso_t(_TORSO_Y["spine2"])), 1.0)],
        "spine3": [(seg["torso"].ring_ids(_torso_t(_TORSO_Y["spine3"])), 1.0)],
        "neck": [(seg["torso"].ring_ids(1.0), 1.0), (seg["head"].ring_ids(0.0), 1.0)],
        "head": [(seg["head"].ring_ids(0.35), 1.0)],
    }
    for s in ("left", "right"):
        rows[f"{s}_hip"] = [(seg[f"{s}_upper_leg"].ring_ids(0.0), 1.0)]
        rows[f"{s}_knee"] = [(seg[f"{s}_upper_leg"].ring_ids(1.0), 1.0), (seg[f"{s}_lower_leg"].ring_ids(0.0), 1.0)]
        rows[f"{s}_ankle"] = [(seg[f"{s}_lower_leg"].ring_ids(1.0), 1.0)]
        rows[f"{s}_foot"] = [(seg[f"{s}_foot"].ring_ids(0.7), 1.0)]
        rows[f"{s}_collar"] = [(seg["torso"].ring_ids(_torso_t(_TORSO_Y["collar"])), 1.0),
                               (seg[f"{s}_upper_arm"].ring_ids(0.0), 1.0)]
        rows[f"{s}_shoulder"] = [(seg[f"{s}_upper_arm"].ring_ids(0.0), 1.0)]
        rows[f"{s}_elbow"] = [(seg[f"{s}_upper_arm"].ring_ids(1.0), 1.0), (seg[f"{s}_lower_arm"].ring_ids(0.0), 1.0)]
        rows[f"{s}_wrist"] = [(seg[f"{s}_lower_arm"].ring_ids(1.0), 1.0), (seg[f"{s}_hand"].ring_ids(0.0), 1.0)]
        rows[f"{s}_hand"] = [(seg[f"{s}_hand"].ring_ids(0.45), 1.0)]
    head = seg["head"]
    n = head.spec.longitudes
    rows.update({
        "head_top": [(head.top_pole, 1.0)],
        "nose": [(head.vertex(0.55, 0), 1.0)],
        "left_eye": [(head.vertex(0.73, 1), 1.0)], "right_eye": [(head.vertex(0.73, -1), 1.0)],
        "left_ear": [(head.vertex(0.64, n // 4), 1.0)], "right_ear": [(head.vertex(0.64, 3 * n // 4), 1.0)],
        "head_h36m": [(head.top_pole, 1.0)],
        "jaw": [(head.vertex(0.45, 0), 1.0)],
        "spine": [(seg["torso"].ring_ids(_torso_t(0.5 * (_TORSO_Y["pelvis"] + _TORSO_Y["collar"]))), 1.0)],
    })
    return rows


@dataclasses.dataclass(frozen=True)
class SurfaceCharts:
    """DensePose-style charts in 0-based form (the `.mat` writer adds the 1-based offsets).

    Attributes:
      face_parts: (F,) part id 1..24 of each chart face.
      faces: (F, 3) chart-vertex ids of each face (chart face i covers body face i).
      u, v: (Vc,) chart coordinates in [0, 1].
      body_vertex: (Vc,) body-model vertex id of each chart vertex (seams duplicate vertices).
    """

    face_parts: np.ndarray
    faces: np.ndarray
    u: np.ndarray
    v: np.ndarray
    body_vertex: np.ndarray


def _charts(segments, body_faces, face_lon, face_segment):
    """Builds one chart per part: per face, its corners' (angle, along) chart positions."""
    parts, chart_faces = [], []
    keys = {}
    u_list, v_list, body_list = [], [], []

    def chart_vertex(part, around, along, body_id):
        key = (part, round(around, 6), round(along, 6), body_id)
        if key not in keys:
            keys[key] = len(u_list)
            if segments_by_part[part].spec.chart == "angle_u":
                u_list.append(around)
                v_list.append(along)
            else:
                u_list.append(along)
                v_list.append(around)
            body_list.append(body_id)
        return keys[key]

    segments_by_part = {}
    for seg in segments.values():
        for p in seg.spec.parts:
            segments_by_part[p] = seg
    for f, (face, lon, seg_key) in enumerate(zip(body_faces, face_lon, face_segment)):
        seg = segments[seg_key]
        n = seg.spec.longitudes
        num_parts = len(seg.spec.parts)
        span = n // num_parts
        part_index = min(lon // span, num_parts - 1)
        part = seg.spec.parts[part_index]
        lo = part_index * span
        corners = []
        for vid in face:
            local = vid - seg.offset
            if local == 0 or local == seg.num_vertices - 1:     # a pole: one chart vertex per fan face
                around = (lon + 0.5 - lo) / span
                along = 0.0 if local == 0 else 1.0
            else:
                ring, l_raw = divmod(local - 1, n)
                around = (lon + (l_raw - lon) % n - lo) / span  # corners sit at lon or lon + 1 (unwrapped)
                along = (ring + 1) / (seg.num_rings + 1)
            corners.append(chart_vertex(part, float(around), float(along), int(vid)))
        parts.append(part)
        chart_faces.append(corners)
    return SurfaceCharts(face_parts=np.array(parts, dtype=np.uint8), faces=np.array(chart_faces, dtype=np.int64),
                         u=np.array(u_list), v=np.array(v_list), body_vertex=np.array(body_list, dtype=np.int64))


def chart_symmetry_tables(size=256):
    """DensePose `UV_symmetry_transforms` for these charts: per part, (size, size) tables indexed
    [row = int(V * 255), col = int(U * 255)] giving the mirrored point's U (resp. V)."""
    grid = np.arange(size) / (size - 1.0)
    u_grid = np.broadcast_to(grid[None, :], (size, size))
    v_grid = np.broadcast_to(grid[:, None], (size, size))
    u_tables, v_tables = [], []
    for part in range(1, 25):
        u_tables.append(1.0 - u_grid if conventions.CHART_FLIP_MIRRORS_U[part] else u_grid.copy())
        v_tables.append(1.0 - v_grid if conventions.CHART_FLIP_MIRRORS_V[part] else v_grid.copy())
    return u_tables, v_tables


@dataclasses.dataclass(frozen=True)
class ToyBody:
    """The toy body model plus what only a procedural body can give exactly.

    Attributes:
      model: the `BodyModel` (SMPL layout, with 'cocoplus' and 'h36m' regressors).
      charts: DensePose-style `SurfaceCharts`.
      vertex_symmetry: (V,) id of each vertex's mirror image (like SMPL's `vert_sym_idxs`).
      mean_pose: (72,) a relaxed mean pose with the root rotated by pi about x (HMR convention).
      segment_of_vertex: (V,) index into `segment_names`.
      segment_names: names such as 'torso', 'left_hand'.
    """

    model: BodyModel
    charts: SurfaceCharts
    vertex_symmetry: np.ndarray
    mean_pose: np.ndarray
    segment_of_vertex: np.ndarray
    segment_names: tuple


def _mean_pose():
    pose = np.zeros((24, 3))
    pose[0] = (np.pi, 0.0, 0.0)
    names = conventions.SMPL_JOINTS
    pose[names.index("left_shoulder")] = (0.0, 0.0, -1.1)
    pose[names.index("right_shoulder")] = (0.0, 0.0, 1.1)
    pose[names.index("left_elbow")] = (0.0, -0.3, 0.0)
    pose[names.index("right_elbow")] = (0.0, 0.3, 0.0)
    pose[names.index("left_hip")] = (0.0, 0.0, 0.08)
    pose[names.index("right_hip")] = (0.0, 0.0, -0.08)
    return pose.reshape(72)


def make_toy_body(seed=0, resolution=1.0):
    """Builds the toy body. Deterministic for a seed (the seed sets the pose correctives).

    Args:
      seed: random seed of the pose correctives.
      resolution: scales the ring and longitude counts (1.0: 3,756 vertices and 7,456 faces;
        1.4 gives 6,980 vertices and 13,904 faces, about SMPL's size).
    """
    rng = np.random.default_rng(seed)
    specs = _specs(resolution)
    segments, num_v = _layout(specs)
    v_template = _build(np.zeros(10), specs)
    shapedirs = np.stack([_build(np.eye(10)[k], specs) - v_template for k in range(10)], axis=-1)

    faces, face_lon, face_seg = [], [], []
    for key, seg in segments.items():
        f, lon = _segment_faces(seg, v_template)
        faces.append(f)
        face_lon.append(lon)
        face_seg += [key] * len(f)
    faces = np.vstack(faces)
    face_lon = np.concatenate(face_lon)

    weights = _skinning_weights(segments, v_template)
    rows = _joint_rows(segments)
    j_regressor = _regressor([rows[n] for n in conventions.SMPL_JOINTS], num_v)
    cocoplus = _regressor([rows[n] for n in conventions.COCOPLUS_JOINTS], num_v)
    h36m = _regressor([rows[n] for n in conventions.H36M_JOINTS], num_v)

    normals = _vertex_normals(v_template, faces)
    num_j = len(conventions.SMPL_JOINTS)
    bump = 4.0 * weights * (1.0 - weights) + 0.1 * weights                   # (V, J): near joints
    coeff = rng.normal(0.0, 0.004, size=(num_j - 1, 9))
    posedirs = np.einsum("vj,jk,vc->vcjk", bump[:, 1:], coeff, normals).reshape(num_v, 3, 9 * (num_j - 1))

    model = BodyModel.from_arrays(
        v_template=v_template, shapedirs=shapedirs, posedirs=posedirs, j_regressor=j_regressor, weights=weights,
        parents=np.array(conventions.SMPL_PARENTS), faces=faces,
        extra_regressors={"cocoplus": cocoplus, "h36m": h36m}, source=f"toy body (seed {seed})")
    charts = _charts(segments, faces, face_lon, face_seg)
    names = tuple(segments)
    seg_of_v = np.zeros(num_v, dtype=np.int64)
    for i, seg in enumerate(segments.values()):
        seg_of_v[seg.offset:seg.offset + seg.num_vertices] = i
    return ToyBody(model=model, charts=charts, vertex_symmetry=_vertex_symmetry(segments, v_template),
                   mean_pose=_mean_pose(), segment_of_vertex=seg_of_v, segment_names=names)


def _vertex_symmetry(segments, vertices):
    """Mirror vertex of every vertex, searched within the mirror segment (segments touch at joints)."""
    symmetry = np.zeros(vertices.shape[0], dtype=np.int64)
    for key, seg in segments.items():
        other = segments[conventions.mirror_name(key)]
        ids = np.arange(seg.offset, seg.offset + seg.num_vertices)
        other_ids = np.arange(other.offset, other.offset + other.num_vertices)
        dist, nearest = cKDTree(vertices[other_ids]).query(vertices[ids] * _MIRROR)
        if dist.max() > 1e-6:
            raise AssertionError(f"toy body segment {key} is not mirror-symmetric (gap {dist.max():.2e} m)")
        symmetry[ids] = other_ids[nearest]
    return symmetry


def _vertex_normals(vertices, faces):
    v = vertices[faces]
    face_normals = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    normals = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(normals, faces[:, k], face_normals)
    return normals / np.linalg.norm(normals, axis=1, keepdims=True)


def uv_table_from_charts(charts, source="toy charts"):
    """A `UVTable` from the toy body's `SurfaceCharts` (already 0-based), with its mirror tables."""
    from tfhybrid.densepose import UVTable

    u_tab, v_tab = chart_symmetry_tables()
    return UVTable(face_parts=charts.face_parts, faces=charts.faces, u=charts.u, v=charts.v,
                   body_vertex=charts.body_vertex, u_transforms=np.stack(u_tab), v_transforms=np.stack(v_tab),
                   source=source)
