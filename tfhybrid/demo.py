"""Draws the predicted mesh over photos: `python -m tfhybrid.demo --saved_model=DIR --image=a.jpg
[--bbox x,y,w,h] --out=a_mesh.png`. `--image` may be a folder (then `--out` is one too).

Works from an exported SavedModel alone: the person is cropped (the given box with a margin, or the
whole image), preprocessed as in training (`tfhybrid.preprocess`), run through `serve_float`, and
the mesh is drawn over the full image (`tfhybrid.render`), next to a side view. Models with an IUV
or segmentation branch read DensePose's `<photo>_IUV.png` beside each photo (with `_INDS.png`, only
the instance under the box).
"""
import os

import cv2
import numpy as np
from absl import app, flags

from tfhybrid import camera, densepose, preprocess, render

FLAGS = flags.FLAGS
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
DENSEPOSE_SUFFIXES = ("_IUV.png", "_INDS.png")


def load(saved_model):
    """(serve_float signature, branch kinds, input size, faces) of an exported SavedModel."""
    import tensorflow as tf

    loaded = tf.saved_model.load(saved_model)
    serve = loaded.signatures["serve_float"]
    specs = serve.structured_input_signature[1]
    by_name = {name: kind for kind, name in preprocess.FLOAT_INPUTS.items()}
    kinds = tuple(by_name[name] for name in specs)
    size = int(next(iter(specs.values())).shape[1])
    return serve, kinds, size, loaded.faces.numpy()


def predict(serve, kinds, size, image, bbox=None, iuv=None):
    """Crops the person (and its IUV map), runs the model; returns (outputs dict of arrays, crop box)."""
    height, width = image.shape[:2]
    box = camera.square_box(np.array(bbox if bbox is not None else (0, 0, width, height), np.float64),
                            1.2 if bbox is not None else 1.0)
    warp = camera.cv2_warp_matrix(camera.crop_matrix(box, size))
    crop = cv2.warpAffine(image, warp, (size, size), flags=cv2.INTER_LINEAR)
    iuv_crop = None if iuv is None else cv2.warpAffine(iuv, warp, (size, size), flags=cv2.INTER_NEAREST)
    inputs = preprocess.network_inputs(kinds, crop[None], None if iuv_crop is None else iuv_crop[None])
    outputs = serve(**{preprocess.FLOAT_INPUTS[kind]: value for kind, value in inputs.items()})
    return {k: v.numpy()[0] for k, v in outputs.items()}, box


def draw(image, outputs, box, faces):
    """(H, W + H, 3) uint8: the image with the mesh over it, and a side view."""
    height, width = image.shape[:2]
    vertices, cam = outputs["vertices"], outputs["camera"]
    pixels = camera.crop_to_image(camera.weak_perspective(vertices, cam)[None], box[None])[0]
    depth = vertices[:, 2] - vertices[:, 2].min() + 1.0
    front = render.draw_mesh(image, pixels, depth, vertices, faces, (0.65, 0.75, 0.95))
    turned = vertices @ np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]).T
    centre = 0.5 * (turned.min(axis=0) + turned.max(axis=0))
    scale = 0.8 * height / max(np.ptp(turned[:, 1]), 1e-6)
    side_xy = (turned[:, :2] - centre[:2]) * scale + height / 2.0
    side = render.draw_mesh(np.full((height, height, 3), 255, np.uint8), side_xy,
                            turned[:, 2] - turned[:, 2].min() + 1.0, turned, faces, (0.95, 0.7, 0.5))
    return np.concatenate([front, side], axis=1)


def run(saved_model, inputs, outputs, bbox=None):
    from tfhybrid.fileio import write_image

    serve, kinds, size, faces = load(saved_model)
    for source, target in zip(inputs, outputs):
        bgr = cv2.imread(source, cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"{source}: not a readable image")
        image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        iuv = None
        if set(kinds) & {"iuv", "seg"}:
            iuv_path = os.path.splitext(source)[0] + "_IUV.png"
            if not os.path.exists(iuv_path):
                raise ValueError(f"{source}: the model reads DensePose IUV maps; expected {iuv_path} beside the photo")
            iuv = densepose.person_iuv(iuv_path, bbox or (0, 0, image.shape[1], image.shape[0]), image.shape[:2])
        result, box = predict(serve, kinds, size, image, bbox, iuv)
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
        names = sorted(n for n in os.listdir(FLAGS.image)
                       if n.lower().endswith(IMAGE_EXTENSIONS) and not n.endswith(DENSEPOSE_SUFFIXES))
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
