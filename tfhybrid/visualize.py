"""Draws meshes over crops with the synthetic world's z-buffer rasterizer (no OpenGL)."""
import numpy as np

from tfhybrid import camera
from tfhybrid.synthetic import render


def overlay_mesh(image, vertices, cam, faces, color=(0.65, 0.75, 0.95), alpha=0.8):
    """Renders a mesh projected with a weak-perspective camera over an (S, S, 3) uint8 crop.

    Args:
      image: (S, S, 3) uint8 RGB; vertices: (V, 3) in the body frame; cam: (3,) [s, tx, ty];
      faces: (F, 3); color: base RGB in [0, 1].
    Returns:
      (S, S, 3) uint8 RGB.
    """
    size = image.shape[0]
    cam = np.asarray(cam, np.float64)
    pixels = camera.normalized_to_pixels(cam[0] * (vertices[:, :2] + cam[1:]), size)
    depth = vertices[:, 2] - vertices[:, 2].min() + 1.0
    face_id, _, _ = render.rasterize(pixels, depth, faces, size, size, perspective_correct=False)
    colors = np.broadcast_to(np.asarray(color, np.float64), (faces.shape[0], 3))
    shaded, mask = render.shade(face_id, colors, render.face_normals(vertices, faces), (0.0, 0.3, 1.0))
    out = image.astype(np.float64) / 255.0
    out[mask] = (1 - alpha) * out[mask] + alpha * shaded[mask]
    return (np.clip(out, 0, 1) * 255).round().astype(np.uint8)


def prediction_sheet(rows):
    """Stacks rows of equally sized RGB panels into one image with 2-pixel white gutters."""
    lines = []
    for panels in rows:
        gutter = np.full((panels[0].shape[0], 2, 3), 255, np.uint8)
        line = np.concatenate([x for panel in panels for x in (panel, gutter)][:-1], axis=1)
        lines += [line, np.full((2, line.shape[1], 3), 255, np.uint8)]
    return np.concatenate(lines[:-1], axis=0)
