"""Synthetic-sample rendering speed: one person at 224x224 with every output.

    python bench/render.py [--seconds 5]

A sample is what the dataset writers make per image: pose the body (numpy SMPL), rasterize with
the z-buffer, shade the photo over a cluttered background, produce IUV, segmentation and depth,
test keypoint visibility, and corrupt the IUV like a DensePose prediction. Single process: the
figure is samples per second per core. Bodies: the toy body (7,456 faces) and the same procedural
body at SMPL's size (13,904 faces).
"""
import argparse
import os
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core: the figure is per core

import numpy as np  # noqa: E402

from tfhybrid.bodymodel import smpl_numpy  # noqa: E402
from tfhybrid.synthetic import posing, scene  # noqa: E402
from tfhybrid.synthetic.densepose_model import predict_iuv  # noqa: E402
from tfhybrid.synthetic.toybody import make_toy_body, uv_table_from_charts  # noqa: E402


def one_sample(rng, toy, table, camera):
    betas, pose = posing.sample_body(rng)
    smpl = smpl_numpy(toy.model, betas, pose)
    v = smpl["vertices"]
    lo, hi = v.min(axis=0), v.max(axis=0)
    depth = camera.fx * np.max(hi[:2] - lo[:2]) / (0.75 * camera.height)
    offset = np.array([0.0, 0.0, depth]) - 0.5 * (lo + hi)
    person = scene.Person(v + offset, scene.sample_appearance(rng))
    image, labels = scene.render_scene(rng, [person], table, camera)
    scene.keypoint_visibility(smpl["joints_cocoplus"] + offset, camera, labels["depth"])
    predict_iuv(rng, labels["iuv"])
    return image


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    camera = scene.Camera(1000.0, 1000.0, args.size / 2, args.size / 2, args.size, args.size)
    print(f"| body | vertices | faces | samples/s (1 core, {args.size}x{args.size}, all outputs) | ms/sample |")
    print("|---|---|---|---|---|")
    for label, resolution in (("toy body", 1.0), ("SMPL-sized", 1.4)):
        toy = make_toy_body(0, resolution)
        table = uv_table_from_charts(toy.charts)
        rng = np.random.default_rng(0)
        for _ in range(3):
            one_sample(rng, toy, table, camera)
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < args.seconds:
            one_sample(rng, toy, table, camera)
            count += 1
        elapsed = time.perf_counter() - start
        print(f"| {label} | {toy.model.num_vertices} | {toy.model.faces.shape[0]} | {count / elapsed:.1f} | "
              f"{1000 * elapsed / count:.1f} |", flush=True)


if __name__ == "__main__":
    main()
