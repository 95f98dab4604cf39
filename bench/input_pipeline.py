"""Input-pipeline speed: the full training pipeline at 224 and bare decoding, and the DensePose
mapping's lookup table against a per-point loop port of DensePose's IUV2FBC.

    python bench/input_pipeline.py [--num 96] [--batches 40]

Makes a small synthetic world and converts UP-3D, COCO-DensePose and Human3.6M into 224 crops with
IUV inputs and dense points (in a temporary folder), then times, in the same run:
  * bare decoding (parse + JPEG + PNGs) of the records,
  * the full pipeline: record checks, decoding, mixture of the three sets, batched augmentation
    (scale, shift, flip with every relabelling, colour), normalisation and batching (batch 32),
  * `IUVLookup` (quantised U, V) and `iuv_to_barycentric` (float U, V) against the loop port.
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))


def rate(iterator, count_of, seconds):
    next(iterator)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        done += count_of(next(iterator))
    return done / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num", type=int, default=96)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from densepose_loop import densepose_loop_port
    from tfhybrid.data import decoder
    from tfhybrid.data.converter import Options, load_geometry
    from tfhybrid.data.pipeline import Source, make_dataset
    from tfhybrid.data.sources.coco_densepose import COCODensePoseConverter
    from tfhybrid.data.sources.h36m import H36MConverter
    from tfhybrid.data.sources.up3d import UP3DConverter
    from tfhybrid.densepose import iuv_to_barycentric
    from tfhybrid.synthetic.make import make_world

    with tempfile.TemporaryDirectory() as tmp:
        world, out = os.path.join(tmp, "world"), os.path.join(tmp, "records")
        make_world(world, args.num, seed=0, size=224)
        splits = {"up-3d": (UP3DConverter, "trainval"), "coco": (COCODensePoseConverter, "train"),
                  "h36m": (H36MConverter, "train")}
        for name, (cls, split) in splits.items():
            cls(Options(src=os.path.join(world, name), split=split, out=out,
                        body_model=os.path.join(world, "models", "toy_smpl_neutral.npz"),
                        uv_table=os.path.join(world, "densepose", "UV_Processed.mat"),
                        iuv_dir=os.path.join(world, "densepose_predictions", name), refine_iuv=True)).run()
        files = sorted(os.path.join(out, f) for f in os.listdir(out) if f.endswith(".tfrecord"))
        records = tf.data.TFRecordDataset(files).cache().repeat()
        bare = records.map(decoder.decode, num_parallel_calls=tf.data.AUTOTUNE)
        decode_rate = rate(iter(bare), lambda _: 1, args.seconds)
        sources = [Source((os.path.join(out, f"{name}-*.tfrecord"),), 1.0) for name in splits]
        full = make_dataset(sources, 32, training=True)
        full_rate = rate(iter(full), lambda b: int(b["image"].shape[0]), args.seconds)
        print(f"{len(files)} shards, 224x224 crops with IUV, segmentation and up to 125 dense points; "
              f"{os.cpu_count()} CPU cores")
        print("| stage | images/s |")
        print("|---|---|")
        print(f"| bare decoding (parse, JPEG, two PNGs) | {decode_rate:.0f} |")
        print(f"| full training pipeline (checks, mixture, augmentation, batch 32) | {full_rate:.0f} |")

        _, table, lookup = load_geometry(os.path.join(world, "models", "toy_smpl_neutral.npz"),
                                         os.path.join(world, "densepose", "UV_Processed.mat"))
        rng = np.random.default_rng(0)
        n = 200_000
        parts, u, v = rng.integers(1, 25, n), rng.integers(0, 256, n), rng.integers(0, 256, n)
        start = time.perf_counter()
        lookup(parts, u, v)
        lut_rate = n / (time.perf_counter() - start)
        start = time.perf_counter()
        iuv_to_barycentric(table, parts[:20000], u[:20000] / 255, v[:20000] / 255)
        vector_rate = 20000 / (time.perf_counter() - start)
        start = time.perf_counter()
        for i in range(300):
            densepose_loop_port(table, parts[i], u[i] / 255, v[i] / 255)
        loop_rate = 300 / (time.perf_counter() - start)
        print()
        print("| (I, U, V) -> vertices + barycentric | points/s | vs loop port |")
        print("|---|---|---|")
        print(f"| loop port of DensePose's IUV2FBC | {loop_rate:.0f} | 1x |")
        print(f"| `iuv_to_barycentric` (vectorised, float U, V) | {vector_rate:.0f} | {vector_rate / loop_rate:.0f}x |")
        print(f"| `IUVLookup` (U, V quantised to 0..255) | {lut_rate:.0f} | {lut_rate / loop_rate:.0f}x |")


if __name__ == "__main__":
    main()
