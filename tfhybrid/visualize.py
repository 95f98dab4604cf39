"""Draws predicted meshes over crops (numpy z-buffer rasterizer, no OpenGL) and lays out sheets."""
import numpy as np

from tfhybrid import camera, render


def overlay_mesh(image, vertices, cam, faces, color=(0.65, 0.75, 0.95), alpha=0.8):
    """Renders a mesh projected with a weak-perspective camera over an (S, S, 3) uint8 crop.

    Args:
      image: (S, S, 3) uint8 RGB; vertices: (V, 3) in the body frame; cam: (3,) [s, tx, ty];
      faces: (F, 3); color: base RGB in [0, 1].
    Returns:
      (S, S, 3) uint8 RGB.
    """
    pixels = camera.normalized_to_pixels(camera.weak_perspective(vertices, np.asarray(cam, np.float64)), image.shape[0])
    return render.draw_mesh(image, pixels, vertices[:, 2] - vertices[:, 2].min() + 1.0, vertices, faces, color, alpha)


def prediction_sheet(rows):
    """Stacks rows of equally sized RGB panels into one image with 2-pixel white gutters."""
    lines = []
    for panels in rows:
        gutter = np.full((panels[0].shape[0], 2, 3), 255, np.uint8)
        line = np.concatenate([x for panel in panels for x in (panel, gutter)][:-1], axis=1)
        lines += [line, np.full((2, line.shape[1], 3), 255, np.uint8)]
    return np.concatenate(lines[:-1], axis=0)
