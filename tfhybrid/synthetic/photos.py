"""Group photos of the synthetic world for the demo: several people side by side, with DensePose's
`_IUV.png` / `_INDS.png` beside each photo and a COCO results file of the true person boxes.

    python -m tfhybrid.synthetic.photos --out out/demo/photos --num 3 --people 3
"""
import os

import numpy as np

from tfhybrid.fileio import encode_image, write_bytes, write_image, write_json
from tfhybrid.synthetic import scene
from tfhybrid.synthetic.world import World, place_person
from tfhybrid.synthetic.densepose_model import predict_iuv

BOXES_FILE = "boxes.json"


def render_group(world, rng, count, width, height):
    """(image, labels, people, boxes): `count` standing people spread across a width x height photo;
    boxes (count, 4) x, y, w, h of each person's visible pixels (a person hidden entirely gets NaN)."""
    focal = 1.1 * width
    cam = scene.Camera(focal, focal, width / 2.0, height / 2.0, width, height)
    placed = []
    for k in range(count):
        centre = ((k + 0.5) / count * width + rng.normal(0, 0.03 * width), height * rng.uniform(0.48, 0.55))
        placed.append(place_person(world, rng, cam, centre, rng.uniform(0.7, 0.85) * height, spread=0.6,
                                   modes=("standing", "walking", "reaching"), max_tilt=0.1))
    image, labels = scene.render_scene(rng, [p.as_scene_person() for p in placed], world.table, cam)
    boxes = np.full((count, 4), np.nan)
    for k in range(count):
        rows, cols = np.nonzero(labels["person"] == k)
        if rows.size:
            boxes[k] = (cols.min(), rows.min(), np.ptp(cols) + 1, np.ptp(rows) + 1)
    return image, labels, placed, boxes


def write_group_photos(out_dir, num, people_per_photo=3, seed=0, width=480, height=320):
    """Writes `photo_NNN.jpg` with its DensePose files, and `boxes.json` (COCO results of the true
    boxes); returns [(photo path, people, boxes)]."""
    world = World(out_dir, seed)
    results, written = [], []
    for index in range(num):
        rng = np.random.default_rng([seed, 7, index])
        image, labels, placed, boxes = render_group(world, rng, people_per_photo, width, height)
        name = f"photo_{index:03d}"
        path = os.path.join(out_dir, f"{name}.jpg")
        write_image(path, image)
        iuv = predict_iuv(rng, labels["iuv"], world.errors)
        instances = np.where((labels["person"] >= 0) & (iuv[..., 0] > 0), labels["person"] + 1, 0)
        write_bytes(os.path.join(out_dir, f"{name}_IUV.png"), encode_image(iuv, ".png", rgb=False))
        write_bytes(os.path.join(out_dir, f"{name}_INDS.png"), encode_image(instances.astype(np.uint8), ".png"))
        results += [{"file_name": f"{name}.jpg", "category_id": 1, "bbox": box.tolist(), "score": 1.0}
                    for box in boxes if np.all(np.isfinite(box))]
        written.append((path, placed, boxes))
    write_json(os.path.join(out_dir, BOXES_FILE), results)
    return written


def main(argv):
    from absl import flags

    del argv
    options = flags.FLAGS
    written = write_group_photos(options.out, options.num, options.people, options.seed)
    print(f"{len(written)} photos of {options.people} people -> {options.out} "
          f"(true boxes: {os.path.join(options.out, BOXES_FILE)})")


if __name__ == "__main__":
    from absl import app, flags

    flags.DEFINE_string("out", None, "Output folder.", required=True)
    flags.DEFINE_integer("num", 3, "Photos.")
    flags.DEFINE_integer("people", 3, "People per photo.")
    flags.DEFINE_integer("seed", 0, "Seed.")
    app.run(main)
