"""Poses the toy body through the `SMPL` layer and draws the meshes: a picture to check by eye.

    python -m tfhybrid.synthetic.gallery --out out/gallery/poses.png
"""
import cv2
import numpy as np
from absl import app, flags

from tfhybrid import render
from tfhybrid.fileio import write_image
from tfhybrid.synthetic.posing import POSE_TEMPLATES
from tfhybrid.synthetic.preview import PART_COLORS
from tfhybrid.synthetic.toybody import make_toy_body


def named_poses(mean_pose):
    """The pose prior's modes (`posing.POSE_TEMPLATES`), (72,) axis-angle each, with the mean pose's root."""
    poses = {}
    for name, template in POSE_TEMPLATES.items():
        pose = template.copy()
        pose[0] = mean_pose[:3]
        poses[name] = pose.reshape(72)
    return poses


def _yaw(pose, angle):
    """Turns the body about the image's vertical axis by composing with the root rotation."""
    from scipy.spatial.transform import Rotation

    p = pose.reshape(24, 3).copy()
    p[0] = (Rotation.from_rotvec([0.0, angle, 0.0]) * Rotation.from_rotvec(p[0])).as_rotvec()
    return p.reshape(72)


def draw_body(vertices, faces, face_parts, size=224, fill=0.85, distance=3.2, light=(0.3, -0.5, -1.0)):
    """Renders one posed body (in the camera-aligned frame, y down) centred in a square image,
    its larger extent filling `fill` of the image.

    Returns:
      (size, size, 3) uint8 RGB.
    """
    centre = 0.5 * (vertices.min(axis=0) + vertices.max(axis=0))
    v = vertices - centre + np.array([0.0, 0.0, distance])
    extent = np.max(v[:, :2].max(axis=0) - v[:, :2].min(axis=0))
    focal = fill * size * (distance - np.ptp(v[:, 2]) / 2.0) / extent
    px = v[:, :2] / v[:, 2:3] * focal + size / 2.0
    face_id, _, _ = render.rasterize(px, v[:, 2], faces, size, size)
    colors = PART_COLORS[face_parts - 1]
    image, mask = render.shade(face_id, colors, render.face_normals(v, faces), light)
    background = np.linspace(0.93, 0.80, size)[:, None, None] * np.ones((size, size, 3))
    image = np.where(mask[..., None], image, background)
    return (image * 255).round().astype(np.uint8)


def gallery(seed=0, size=224):
    """(2 * size, N * size, 3) uint8: named poses, front view on top, turned view below."""
    from tfhybrid.layers import SMPL

    toy = make_toy_body(seed)
    layer = SMPL(toy.model)
    poses = named_poses(toy.mean_pose)
    stacked = np.stack([p for p in poses.values()] + [_yaw(p, 0.9) for p in poses.values()]).astype(np.float32)
    betas = np.zeros((stacked.shape[0], 10), np.float32)
    betas[[1, 6], 0] = (1.5, -1.5)
    betas[[2, 7], 1] = (2.0, -1.0)
    vertices = layer(betas, stacked)["vertices"].numpy()
    panels = [draw_body(v, toy.model.faces, toy.charts.face_parts, size) for v in vertices]
    n = len(poses)
    rows = [np.concatenate(panels[r * n:(r + 1) * n], axis=1) for r in range(2)]
    sheet = np.concatenate(rows, axis=0)
    for i, name in enumerate(poses):
        cv2.putText(sheet, name, (i * size + 6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (20, 20, 20), 1, cv2.LINE_AA)
    return sheet


def main(_):
    sheet = gallery(flags.FLAGS.seed)
    write_image(flags.FLAGS.out, sheet)
    print(f"wrote {flags.FLAGS.out} ({sheet.shape[1]}x{sheet.shape[0]})")


if __name__ == "__main__":
    # Flags are defined only when run as a program, so importing the module never claims them.
    flags.DEFINE_string("out", "out/gallery/poses.png", "PNG to write.")
    flags.DEFINE_integer("seed", 0, "Toy-body seed.")
    app.run(main)
