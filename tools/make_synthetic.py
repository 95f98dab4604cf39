"""Writes the synthetic world: the toy body in every model-file flavour, DensePose's UV files, and
UP-3D, COCO-DensePose, Human3.6M (SPIN npz) and 3DPW in their real on-disk formats, with
DensePose-style IUV predictions for every image.

    python tools/make_synthetic.py --out out/world --num 64 --seed 0 --preview out/world/sheet.png

The output is the same, byte for byte, for a seed whatever the number of workers.
"""
import time

from absl import app, flags

from tfhybrid.synthetic.make import make_world
from tfhybrid.synthetic.world import DATASETS

FLAGS = flags.FLAGS
flags.DEFINE_string("out", None, "Output folder.", required=True)
flags.DEFINE_integer("num", 64, "Samples per dataset (3DPW: frames over its three sequences).", lower_bound=1)
flags.DEFINE_integer("seed", 0, "World seed.")
flags.DEFINE_integer("size", 224, "Nominal image size in pixels; every dataset's images scale with it.",
                     lower_bound=64)
flags.DEFINE_string("preview", None, "Optional PNG contact sheet of a few samples.")
flags.DEFINE_integer("workers", 0, "Worker processes (0: all cores).", lower_bound=0)
flags.DEFINE_list("datasets", list(DATASETS), f"Datasets to write, from {list(DATASETS)}.")


def main(_):
    start = time.time()
    make_world(FLAGS.out, FLAGS.num, FLAGS.seed, FLAGS.size, FLAGS.workers, FLAGS.datasets, FLAGS.preview)
    print(f"wrote {FLAGS.out} in {time.time() - start:.1f} s")


if __name__ == "__main__":
    app.run(main)
