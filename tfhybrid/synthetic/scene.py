"""Renders people into photo-like images with exact per-pixel DensePose labels.

For posed bodies in a pinhole camera, `render_scene` produces the RGB image, the IUV map (channel
order I, U, V; I in 0..24, U and V in 0..255), the 14-part coarse segmentation, depth, and which
person and chart face covers each pixel. Bodies are clothed with per-part colours and patterns,
lit by a random light, and composed over cluttered backgrounds (or plain studio ones).
"""
import dataclasses

import cv2
import numpy as np

from tfhybrid import conventions
from tfhybrid import render

# Coarse part (1..14) -> garment slot.
_SLOTS = {1: "shirt", 2: "skin", 3: "skin", 4: "shoes", 5: "shoes", 6: "trousers", 7: "trousers", 8: "lower_leg",
          9: "lower_leg", 10: "sleeve", 11: "sleeve", 12: "forearm", 13: "forearm", 14: "skin"}
_SKIN_TONES = np.array([[0.96, 0.80, 0.69], [0.87, 0.66, 0.52], [0.70, 0.50, 0.38], [0.45, 0.30, 0.22],
                        [0.98, 0.86, 0.78]])


@dataclasses.dataclass(frozen=True)
class Person:
    """A posed body in the camera frame (metres, +z forward, y down the image)."""

    vertices: np.ndarray      # (V, 3)
    appearance: dict          # from `sample_appearance`


@dataclasses.dataclass(frozen=True)
class Camera:
    """Pinhole intrinsics in pixels for an image of `width` x `height`."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def project(self, points):
        """(N, 3) camera-frame points -> (N, 2) pixels."""
        points = np.asarray(points, np.float64)
        return np.stack([self.fx * points[:, 0] / points[:, 2] + self.cx,
                         self.fy * points[:, 1] / points[:, 2] + self.cy], axis=1)

    def contains(self, pixels):
        """(N,) whether (N, 2) pixel coordinates fall inside the image."""
        pixels = np.asarray(pixels, np.float64)
        return ((pixels[:, 0] >= 0) & (pixels[:, 0] < self.width) & (pixels[:, 1] >= 0)
                & (pixels[:, 1] < self.height))

    @property
    def matrix(self):
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])


def sample_appearance(rng):
    """Colours and patterns of one person's skin, hair and clothes."""
    skin = _SKIN_TONES[rng.integers(len(_SKIN_TONES))] * rng.uniform(0.92, 1.05)
    shirt, trousers, shoes = (rng.uniform(0.05, 0.95, 3) for _ in range(3))
    short_sleeves, shorts = rng.random() < 0.4, rng.random() < 0.25
    colors = {"skin": skin, "shirt": shirt, "trousers": trousers, "shoes": shoes * 0.5,
              "sleeve": shirt, "forearm": skin if short_sleeves or rng.random() < 0.3 else shirt,
              "lower_leg": skin if shorts else trousers}
    return {"colors": {k: np.clip(v, 0, 1) for k, v in colors.items()},
            "hair": np.clip(rng.uniform(0.0, 0.5) * np.array([1.0, 0.8, 0.6]), 0, 1),
            "stripes": rng.random() < 0.35, "stripe_freq": rng.uniform(4, 12),
            "stripe_color": rng.uniform(0, 1, 3)}


def part_colors(appearance, parts, u, v):
    """(N, 3) base colours at surface points with DensePose parts and chart coordinates."""
    coarse = conventions.FINE_TO_COARSE[parts]
    out = np.zeros((parts.size, 3))
    for label, slot in _SLOTS.items():
        mask = coarse == label
        out[mask] = appearance["colors"][slot]
    hair = (coarse == 14) & (v > 0.72)
    out[hair] = appearance["hair"]
    if appearance["stripes"]:
        shirt = (coarse == 1) & (np.sin(u * appearance["stripe_freq"] * 2 * np.pi) > 0.3)
        out[shirt] = appearance["stripe_color"]
    return out


def _vertex_normals(vertices, faces):
    normals = np.zeros_like(vertices)
    face_n = np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]], vertices[faces[:, 2]] - vertices[faces[:, 0]])
    for k in range(3):
        np.add.at(normals, faces[:, k], face_n)
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


def render_labels(people, table, camera):
    """Rasterizes all people together (z-buffered) with the UV table's charts.

    Returns:
      dict with 'person' (H, W) int32 (-1 background), 'face' (H, W) chart-face id, 'barycentric'
      (H, W, 3), 'depth' (H, W) (+inf background), 'uv' (H, W, 2) exact chart coordinates in
      [0, 1], and 'iuv' (H, W, 3) uint8 (I, U * 255, V * 255).
    """
    faces_body = table.face_body_vertices
    n_faces = faces_body.shape[0]
    points = np.concatenate([p.vertices for p in people])
    offsets = np.cumsum([0] + [p.vertices.shape[0] for p in people])
    faces = np.concatenate([faces_body + offsets[i] for i in range(len(people))])
    face_id, bary, depth = render.rasterize(camera.project(points), points[:, 2], faces, camera.height, camera.width)
    fg = face_id >= 0
    person = np.where(fg, face_id // n_faces, -1).astype(np.int32)
    face = np.where(fg, face_id % n_faces, -1).astype(np.int32)
    ids = face[fg]
    uv = np.zeros((camera.height, camera.width, 2))
    uv[fg] = np.einsum("nk,nkc->nc", bary[fg].astype(np.float64), table.face_uv[ids])
    iuv = np.zeros((camera.height, camera.width, 3), np.uint8)
    iuv[fg, 0] = table.face_parts[ids]
    iuv[fg, 1:] = np.clip(np.round(uv[fg] * 255.0), 0, 255).astype(np.uint8)
    return {"person": person, "face": face, "barycentric": bary, "depth": depth, "iuv": iuv, "uv": uv}


def shade_people(labels, people, table, light_dir, ambient):
    """(H, W, 3) float colours of the people's pixels (zero elsewhere) and the foreground mask."""
    fg = labels["person"] >= 0
    image = np.zeros(labels["iuv"].shape, np.float64)
    faces_body = table.face_body_vertices
    light = np.asarray(light_dir, np.float64) / np.linalg.norm(light_dir)
    for i, person in enumerate(people):
        mask = labels["person"] == i
        if not mask.any():
            continue
        normals = _vertex_normals(person.vertices, faces_body)
        ids = labels["face"][mask]
        n = np.einsum("nk,nkc->nc", labels["barycentric"][mask], normals[faces_body[ids]])
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        lambert = np.clip(-(n @ light), 0.0, 1.0)
        uv = labels["uv"][mask]
        base = part_colors(person.appearance, table.face_parts[ids], uv[:, 0], uv[:, 1])
        image[mask] = base * (ambient + (1.0 - ambient) * lambert)[:, None]
    return image, fg


def background(rng, height, width, plain=False):
    """(H, W, 3) float background: a studio wall, or a cluttered scene with distractor shapes."""
    y = np.linspace(0.0, 1.0, height)[:, None, None]
    if plain:
        wall = rng.uniform(0.55, 0.85) * np.ones(3) + rng.normal(0, 0.02, 3)
        floor = wall * rng.uniform(0.6, 0.85)
        horizon = rng.uniform(0.7, 0.85)
        img = np.where(y < horizon, wall, floor) * np.ones((height, width, 3))
        return np.clip(img + rng.normal(0, 0.01, (height, width, 3)), 0, 1)
    top, bottom = rng.uniform(0.1, 0.9, 3), rng.uniform(0.1, 0.9, 3)
    img = (top * (1 - y) + bottom * y) * np.ones((height, width, 3))
    canvas = (img * 255).astype(np.uint8)
    scale = max(height, width)
    for _ in range(rng.integers(6, 16)):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        kind = rng.integers(4)
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.uniform(0.05, 0.35) * scale)
        if kind == 0:
            cv2.rectangle(canvas, (x0, y0), (x0 + size, y0 + int(size * rng.uniform(0.3, 2))), color, -1)
        elif kind == 1:
            cv2.circle(canvas, (x0, y0), max(size // 2, 2), color, -1)
        elif kind == 2:
            cv2.line(canvas, (x0, y0), (int(rng.integers(0, width)), int(rng.integers(0, height))), color,
                     int(rng.integers(1, 6)))
        else:
            cv2.ellipse(canvas, (x0, y0), (max(size // 2, 2), max(size // 5, 1)), float(rng.uniform(0, 180)), 0, 360,
                        color, -1)
    return np.clip(canvas.astype(np.float64) / 255.0 + rng.normal(0, 0.015, (height, width, 3)), 0, 1)


def render_scene(rng, people, table, camera, plain_background=False):
    """Renders an RGB photo of `people` and its labels.

    Returns:
      image: (H, W, 3) uint8 RGB; labels: dict from `render_labels` plus 'segmentation' (H, W)
      uint8 coarse parts 0..14.
    """
    labels = render_labels(people, table, camera)
    light = np.array([rng.uniform(-0.8, 0.8), rng.uniform(-1.0, 0.2), 1.0])
    colors, fg = shade_people(labels, people, table, light, ambient=rng.uniform(0.3, 0.5))
    image = np.where(fg[..., None], colors, background(rng, camera.height, camera.width, plain_background))
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.4, 0.8))
    image = np.clip(image + rng.normal(0, 0.01, image.shape), 0, 1)
    labels["segmentation"] = conventions.FINE_TO_COARSE[labels["iuv"][..., 0]]
    return (image * 255).round().astype(np.uint8), labels


def keypoint_visibility(points_cam, camera, depth_map, tolerance=0.12):
    """Whether keypoints (inside the body) are seen: in the image, and no surface more than
    `tolerance` metres in front of them along their pixel's ray.

    Returns:
      pixels (N, 2) and visible (N,) bool.
    """
    pixels = camera.project(points_cam)
    inside = camera.contains(pixels) & (points_cam[:, 2] > 0)
    col = np.floor(pixels[:, 0]).astype(np.int64)
    row = np.floor(pixels[:, 1]).astype(np.int64)
    visible = np.zeros(points_cam.shape[0], bool)
    nearest = depth_map[row[inside], col[inside]]
    visible[inside] = nearest >= points_cam[inside, 2] - tolerance
    return pixels, visible
