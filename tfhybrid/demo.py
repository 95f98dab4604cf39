"""Meshes for every person in photos or a video, from an exported SavedModel alone:

    python -m tfhybrid.demo --saved_model=DIR --image=photo.jpg|FOLDER|video.mp4 --out=FOLDER [--boxes=...]

People come from `--boxes` (`tfhybrid.people`): 'auto' (DensePose's `<photo>_INDS.png` instances
when the file is there, else OpenCV's HOG people detector), 'hog', 'densepose', 'whole', a COCO
JSON of boxes or keypoints, or a folder of OpenPose JSON files; `--bbox x,y,w,h` gives one box for
every photo. Each person is cropped (the box with a margin), preprocessed as in training
(`tfhybrid.preprocess`) and run through `serve_float`. Models with an IUV or segmentation branch
read DensePose's `<photo>_IUV.png` beside each photo (with `_INDS.png`, only the instance under the
person's box).

Out, per photo: `<name>_mesh.png` (every mesh over the photo, and a side view), `<name>.json` (per
person: box, crop box, camera, pose, betas and the translation in the full image's camera,
`camera.crop_camera_to_full_image`, with the focal length used) and `<name>_person<k>.obj` (the mesh
in that camera's frame, metres, y down). A video gives `<name>_mesh.mp4` and a folder of per-frame
JSON and meshes. A photo that fails is reported and the others go on; the command then exits 1.
"""
import dataclasses
import json
import os
import sys

import cv2
import numpy as np
from absl import app, flags

from tfhybrid import camera, client, densepose, people, preprocess, render

FLAGS = flags.FLAGS
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm")
DENSEPOSE_SUFFIXES = ("_IUV.png", "_INDS.png")
PERSON_COLORS = ((0.65, 0.75, 0.95), (0.95, 0.7, 0.5), (0.6, 0.9, 0.6), (0.95, 0.85, 0.45), (0.8, 0.6, 0.9))


class PhotoError(ValueError):
    """One photo cannot be processed (the others go on)."""


@dataclasses.dataclass(frozen=True)
class DemoOptions:
    """Where the people are and what is written (the demo's flags, as a value)."""

    boxes: str = "auto"            # a `people.SOURCES` name, 'file' (box_table) or 'openpose' (openpose_dir)
    box_table: dict = None         # COCO boxes by file name or image id
    openpose_dir: str = None
    fixed_box: tuple = None        # one (x, y, w, h) for every photo
    min_score: float = 0.3
    max_people: int = 20
    focal_length: float = None     # pixels; default: the photo's diagonal
    meshes: bool = True


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


def needs_densepose(kinds):
    return bool(set(kinds) & {"iuv", "seg"})


def predict(serve, kinds, size, image, boxes, iuvs=None):
    """Runs the model on the people in `boxes` ((N, 4) x, y, w, h) as one batch.

    Returns:
      (outputs: dict of (N, ...) arrays, crop boxes (N, 3) [x0, y0, side]).
    """
    crops, iuv_crops, crop_boxes = [], [], []
    for index, bbox in enumerate(boxes):
        crop, iuv_crop, box = client.person_crops(image, bbox, size, None if iuvs is None else iuvs[index])
        crops.append(crop)
        iuv_crops.append(iuv_crop)
        crop_boxes.append(box)
    inputs = preprocess.network_inputs(kinds, np.stack(crops), np.stack(iuv_crops) if iuvs is not None else None)
    outputs = serve(**{preprocess.FLOAT_INPUTS[kind]: value for kind, value in inputs.items()})
    return {k: v.numpy() for k, v in outputs.items()}, np.stack(crop_boxes)


def full_image_translations(outputs, crop_boxes, width, height, focal_length):
    """(N, 3) translations of the bodies in the full photo's camera (principal point at its centre)."""
    size = np.array([width, height], np.float64)
    return camera.crop_camera_to_full_image(outputs["camera"].astype(np.float64), crop_boxes,
                                            np.broadcast_to(size, (len(crop_boxes), 2)), focal_length)


def draw(image, outputs, crop_boxes, translations, faces):
    """(H, W + H, 3) uint8: every mesh over the photo (farthest first), and a side view of all of
    them placed by their full-image translations."""
    height = image.shape[0]
    front, side = image, np.full((height, height, 3), 255, np.uint8)
    if not len(translations):
        return np.concatenate([front, side], axis=1)
    for k in np.argsort(-translations[:, 2]):
        vertices = outputs["vertices"][k]
        pixels = camera.crop_to_image(camera.weak_perspective(vertices, outputs["camera"][k])[None],
                                      crop_boxes[k][None])[0]
        depth = vertices[:, 2] - vertices[:, 2].min() + 1.0
        front = render.draw_mesh(front, pixels, depth, vertices, faces, PERSON_COLORS[k % len(PERSON_COLORS)])
    turn = np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])     # seen from the right
    placed = [outputs["vertices"][k] + translations[k] for k in range(len(translations))]
    centre = 0.5 * (np.min([p.min(axis=0) for p in placed], axis=0) + np.max([p.max(axis=0) for p in placed], axis=0))
    turned = [(p - centre) @ turn.T for p in placed]
    everything = np.concatenate(turned)
    scale = 0.8 * height / max(np.ptp(everything[:, :2], axis=0).max(), 1e-6)
    for k in np.argsort([-t[:, 2].mean() for t in turned]):
        xy = turned[k][:, :2] * scale + height / 2.0
        side = render.draw_mesh(side, xy, turned[k][:, 2] - everything[:, 2].min() + 1.0, turned[k], faces,
                                PERSON_COLORS[k % len(PERSON_COLORS)])
    return np.concatenate([front, side], axis=1)


def obj_bytes(vertices, faces):
    """A Wavefront OBJ of one mesh (vertices (V, 3), faces (F, 3) zero-based)."""
    lines = [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
    return ("\n".join(lines) + "\n").encode()


def find_people(photo, image, options):
    """([PersonBox], [skipped {'box', 'reason'}]) for one photo."""
    height, width = image.shape[:2]
    inds_path = os.path.splitext(photo)[0] + "_INDS.png"
    source = options.boxes
    if options.fixed_box is not None:
        found = [people.PersonBox(tuple(options.fixed_box), 1.0, "--bbox")]
    elif options.box_table is not None:
        found = people.boxes_for_photo(options.box_table, photo)
    elif source == "whole":
        found = [people.PersonBox((0.0, 0.0, float(width), float(height)), 1.0, "whole photo")]
    elif source == "densepose" or (source == "auto" and os.path.exists(inds_path)):
        if not os.path.exists(inds_path):
            raise PhotoError(f"{photo}: --boxes=densepose reads DensePose's instances; expected {inds_path}")
        found = people.densepose_instances(inds_path)
    elif source == "openpose":
        found = people.read_openpose(options.openpose_dir, photo)
    else:
        found = people.hog_people(image)
    kept, skipped = [], []
    for person in found:
        reason = people.check_box(person.box, width, height)
        if reason is None and person.score < options.min_score:
            reason = f"score {person.score:.2f} below --min_score {options.min_score}"
        if reason is None and len(kept) >= options.max_people:
            reason = f"more than --max_people {options.max_people}"
        if reason is None:
            kept.append(person)
        else:
            skipped.append({"box": [float(v) for v in person.box], "source": person.source, "reason": reason})
    if options.fixed_box is not None and skipped:
        raise PhotoError(f"{photo}: --bbox: {skipped[0]['reason']}")
    return kept, skipped


def process_image(model, image, photo, found, focal_length=None):
    """(overlay, record) for the people `found` in an (H, W, 3) uint8 RGB image."""
    serve, kinds, size, faces = model
    height, width = image.shape[:2]
    focal = float(focal_length or np.hypot(width, height))
    record = {"image": photo, "width": width, "height": height, "focal_length": focal, "people": []}
    if not found:
        return draw(image, {}, np.zeros((0, 3)), np.zeros((0, 3)), faces), record
    boxes = np.array([p.box for p in found], np.float64)
    iuvs = None
    if needs_densepose(kinds):
        iuv_path = os.path.splitext(photo)[0] + "_IUV.png"
        if not os.path.exists(iuv_path):
            raise PhotoError(f"{photo}: the model reads DensePose IUV maps; expected {iuv_path} beside the photo")
        iuvs = [densepose.person_iuv(iuv_path, box, (height, width)) for box in boxes]
    outputs, crop_boxes = predict(serve, kinds, size, image, boxes, iuvs)
    translations = full_image_translations(outputs, crop_boxes, width, height, focal)
    for k, person in enumerate(found):
        record["people"].append({
            "box": [float(v) for v in person.box], "score": person.score, "box_source": person.source,
            "crop_box": crop_boxes[k].tolist(), "camera": outputs["camera"][k].tolist(),
            "translation": translations[k].tolist(), "pose": outputs["pose"][k].tolist(),
            "betas": outputs["betas"][k].tolist()})
    record["vertices"] = [outputs["vertices"][k] + translations[k] for k in range(len(found))]
    return draw(image, outputs, crop_boxes, translations, faces), record


def write_outputs(record, overlay, stem, out_dir, faces, write_meshes=True, overlay_path=None):
    from tfhybrid.fileio import write_bytes, write_image

    vertices = record.pop("vertices", [])
    for k, person in enumerate(record["people"]):
        if write_meshes:
            name = f"{stem}_person{k}.obj"
            write_bytes(os.path.join(out_dir, name), obj_bytes(vertices[k], faces))
            person["mesh"] = name
    write_bytes(os.path.join(out_dir, f"{stem}.json"), json.dumps(record, indent=1).encode())
    if overlay is not None:
        write_image(overlay_path or os.path.join(out_dir, f"{stem}_mesh.png"), overlay)


def run_photos(model, photos, out_dir, options=DemoOptions()):
    """Processes photos one by one; returns the failures [(photo, reason)].

    model: `load(saved_model)`."""
    from tfhybrid.progress import ProgressBar

    os.makedirs(out_dir, exist_ok=True)
    failures, found_total = [], 0
    progress = ProgressBar(len(photos), "photos")
    for done, photo in enumerate(photos, 1):
        try:
            image = client.read_photo(photo)
            found, skipped = find_people(photo, image, options)
            overlay, record = process_image(model, image, photo, found, options.focal_length)
            record["skipped"] = skipped
            write_outputs(record, overlay, os.path.splitext(os.path.basename(photo))[0], out_dir, model[3],
                          options.meshes)
            found_total += len(found)
        except (PhotoError, people.BoxError, ValueError, OSError) as error:
            failures.append((photo, str(error)))
            sys.stderr.write(f"\n{error}\n")
        progress.update(done)
    print(f"{len(photos) - len(failures)} photos, {found_total} people -> {out_dir}")
    return failures


def run_video(model, video, out_dir, options=DemoOptions()):
    """Processes every frame of a video; writes `<name>_mesh.mp4` and per-frame JSON and meshes."""
    from tfhybrid.progress import ProgressBar

    if needs_densepose(model[1]):
        raise app.UsageError("IUV and segmentation models read per-photo DensePose files: give a folder of frames "
                             "with their _IUV.png files instead of a video")
    if options.boxes in ("densepose", "openpose"):
        raise app.UsageError(f"--boxes={options.boxes} reads per-photo files: give a folder of frames instead of a video")
    capture = cv2.VideoCapture(video)
    if not capture.isOpened():
        raise app.UsageError(f"{video}: not a readable video")
    stem = os.path.splitext(os.path.basename(video))[0]
    frames_dir = os.path.join(out_dir, stem)
    os.makedirs(frames_dir, exist_ok=True)
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    progress = ProgressBar(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or 1, "frames")
    writer, index, target = None, 0, os.path.join(out_dir, f"{stem}_mesh.mp4")
    tmp = target + ".tmp.mp4"
    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            name = f"frame_{index:06d}"    # a COCO box file's image ids are frame indices: the trailing number
            found, skipped = find_people(name, image, options)
            overlay, record = process_image(model, image, f"{video}#{index}", found, options.focal_length)
            record["skipped"] = skipped
            write_outputs(record, None, name, frames_dir, model[3], options.meshes)
            if writer is None:
                writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*"mp4v"), fps, overlay.shape[1::-1])
            writer.write(cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
            index += 1
            progress.update(index)
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    if index == 0:
        raise app.UsageError(f"{video}: no frame could be read")
    os.replace(tmp, target)
    progress.update(progress.total)
    print(f"{index} frames -> {target}, {frames_dir}")


def parse_bbox(text):
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 4 or not np.all(np.isfinite(values)) or values[2] <= 0 or values[3] <= 0:
        raise app.UsageError(f"--bbox expects x,y,w,h (finite numbers, w and h positive), got {text!r}")
    return values


def list_photos(folder):
    names = sorted(n for n in os.listdir(folder)
                   if n.lower().endswith(IMAGE_EXTENSIONS) and not n.endswith(DENSEPOSE_SUFFIXES))
    if not names:
        raise app.UsageError(f"{folder}: no photos ({', '.join(IMAGE_EXTENSIONS)}; DensePose's _IUV/_INDS files "
                             f"are not photos)")
    return [os.path.join(folder, n) for n in names]


def box_options(boxes):
    """DemoOptions fields for the --boxes value."""
    if boxes in people.SOURCES:
        return {"boxes": boxes}
    if os.path.isdir(boxes):
        return {"boxes": "openpose", "openpose_dir": boxes}
    if os.path.isfile(boxes):
        return {"boxes": "file", "box_table": people.read_coco_boxes(boxes)}
    raise app.UsageError(f"--boxes {boxes!r}: expected one of {', '.join(people.SOURCES)}, a COCO JSON file or "
                         f"a folder of OpenPose JSON files")


def main(argv):
    del argv
    try:
        options = DemoOptions(fixed_box=tuple(parse_bbox(FLAGS.bbox)) if FLAGS.bbox else None,
                              min_score=FLAGS.min_score, max_people=FLAGS.max_people,
                              focal_length=FLAGS.focal_length, meshes=FLAGS.meshes, **box_options(FLAGS.boxes))
    except people.BoxError as error:
        raise app.UsageError(str(error)) from None
    if not os.path.exists(FLAGS.image):
        raise app.UsageError(f"--image {FLAGS.image}: no such file or folder")
    if FLAGS.image.lower().endswith(VIDEO_EXTENSIONS):
        run_video(load(FLAGS.saved_model), FLAGS.image, FLAGS.out, options)
        return
    photos = list_photos(FLAGS.image) if os.path.isdir(FLAGS.image) else [FLAGS.image]
    failures = run_photos(load(FLAGS.saved_model), photos, FLAGS.out, options)
    if failures:
        sys.stderr.write(f"{len(failures)} of {len(photos)} photos failed:\n" +
                         "".join(f"  {photo}: {reason}\n" for photo, reason in failures))
        sys.exit(1)


if __name__ == "__main__":
    flags.DEFINE_string("saved_model", None, "Exported SavedModel folder.", required=True)
    flags.DEFINE_string("image", None, "A photo, a folder of photos, or a video file.", required=True)
    flags.DEFINE_string("out", None, "Output folder.", required=True)
    flags.DEFINE_string("boxes", "auto", "Where the people are: auto, hog, densepose, whole, a COCO JSON file of "
                        "boxes or keypoints, or a folder of OpenPose JSON files (see tfhybrid.people).")
    flags.DEFINE_string("bbox", None, "One person box x,y,w,h in pixels for every photo (overrides --boxes).")
    flags.DEFINE_float("min_score", 0.3, "Boxes scored below this are skipped.")
    flags.DEFINE_integer("max_people", 20, "At most this many people per photo.")
    flags.DEFINE_float("focal_length", None, "Focal length of the photos in pixels (default: their diagonal).")
    flags.DEFINE_bool("meshes", True, "Write one .obj per person.")
    app.run(main)
