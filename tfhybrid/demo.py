"""Draws the predicted mesh over photos: `python -m tfhybrid.demo --saved_model=DIR --image=a.jpg
[--bbox x,y,w,h] --out=a_mesh.png`. `--image` may be a folder (then `--out` is one too).

Works from an exported SavedModel alone: the person is cropped (the given box with a margin, or the
whole image), the crop goes through `serve_float`, and the mesh is rendered over the full image
with the synthetic world's rasterizer, next to a side view.
"""
import os

import cv2
import numpy as np
from absl import app, flags

from tfhybrid import camera
from tfhybrid.synthetic import render

FLAGS = flags.FLAGS
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


def load(saved_model):
    import tensorflow as tf

    loaded = tf.saved_model.load(saved_model)
    serve = loaded.signatures["serve_float"]
    size = int(serve.structured_input_signature[1]["images"].shape[1])
    return serve, size, loaded.faces.numpy()


def predict(serve, size, image, bbox=None):
    """Crops the person, runs the model; returns (outputs dict of arrays, crop box)."""
    height, width = image.shape[:2]
    box = camera.square_box(np.array(bbox if bbox is not None else (0, 0, width, height), np.float64),
                            1.2 if bbox is not None else 1.0)
    matrix = camera.crop_matrix(box, size)
    crop = cv2.warpAffine(image, camera.cv2_warp_matrix(matrix), (size, size), flags=cv2.INTER_LINEAR)
    outputs = serve(images=(crop[None].astype(np.float32) / 127.5 - 1.0))
    return {k: v.numpy()[0] for k, v in outputs.items()}, box


def _shade(height, width, pixels, depth, vertices, faces, background, color):
    face_id, _, _ = render.rasterize(pixels, depth, faces, height, width, perspective_correct=False)
    colors = np.broadcast_to(np.asarray(color), (faces.shape[0], 3))
    shaded, mask = render.shade(face_id, colors, render.face_normals(vertices, faces), (0.0, 0.3, 1.0))
    out = background.astype(np.float64) / 255.0
    out[mask] = 0.2 * out[mask] + 0.8 * shaded[mask]
    return (out * 255).round().astype(np.uint8)


def draw(image, outputs, box, faces):
    """(H, W + H, 3) uint8: the image with the mesh over it, and a side view."""
    height, width = image.shape[:2]
    vertices, cam = outputs["vertices"], outputs["camera"]
    crop_xy = cam[0] * (vertices[:, :2] + cam[1:])
    pixels = camera.crop_to_image(crop_xy[None], box[None])[0]
    depth = vertices[:, 2] - vertices[:, 2].min() + 1.0
    front = _shade(height, width, pixels, depth, vertices, faces, image, (0.65, 0.75, 0.95))
    turned = vertices @ np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]).T
    centre = 0.5 * (turned.min(axis=0) + turned.max(axis=0))
    scale = 0.8 * height / max(np.ptp(turned[:, 1]), 1e-6)
    side_xy = (turned[:, :2] - centre[:2]) * scale + height / 2.0
    side = _shade(height, height, side_xy, turned[:, 2] - turned[:, 2].min() + 1.0, turned, faces,
                  np.full((height, height, 3), 255, np.uint8), (0.95, 0.7, 0.5))
    return np.concatenate([front, side], axis=1)


def run(saved_model, inputs, outputs, bbox=None):
    from tfhybrid.fileio import write_image

    serve, size, faces = load(saved_model)
    for source, target in zip(inputs, outputs):
        bgr = cv2.imread(source, cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"{source}: not a readable image")
        image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        result, box = predict(serve, size, image, bbox)
        write_image(target, draw(image, result, box, faces))
        print(f"{source} -> {target}")


def main(argv):
    del argv
    bbox = None
    if FLAGS.bbox:
        bbox = [float(v) for v in FLAGS.bbox.split(",")]
        if len(bbox) != 4 or bbox[2] <= 0 or bbox[3] <= 0:
            raise app.UsageError(f"--bbox expects x,y,w,h with positive w and h, got {FLAGS.bbox!r}")
    if os.path.isdir(FLAGS.image):
        names = sorted(n for n in os.listdir(FLAGS.image) if n.lower().endswith(IMAGE_EXTENSIONS))
        inputs = [os.path.join(FLAGS.image, n) for n in names]
        outputs = [os.path.join(FLAGS.out, os.path.splitext(n)[0] + "_mesh.png") for n in names]
    else:
        inputs, outputs = [FLAGS.image], [FLAGS.out]
    run(FLAGS.saved_model, inputs, outputs, bbox)


if __name__ == "__main__":
    flags.DEFINE_string("saved_model", None, "Exported SavedModel folder.", required=True)
    flags.DEFINE_string("image", None, "An image, or a folder of images.", required=True)
    flags.DEFINE_string("bbox", None, "Person box x,y,w,h in pixels (default: the whole image).")
    flags.DEFINE_string("out", None, "Output PNG (a folder when --image is a folder).", required=True)
    app.run(main)
