"""Training-step speed at 224x224: the full HybridModel step (encoder, SMPL, projections, every
loss) for ResNet-50, ResNet-18 and the two-branch ResNet-50 + ResNet-18, next to a bare Keras
ResNet-50 classification step measured in the same run; then the study's `cpu` profile step
(ResNet-18 at 64x64, batch 32) in float32 and in mixed_bfloat16.

    python bench/train_step.py [--batch 16] [--steps 6]

Random inputs in the pipeline's shapes (up to 200 dense points, all losses active); SMPL-sized
body model (6,890 vertices). Steps are `tf.function`s without XLA (the lab measured XLA slower for
CPU convolutions); the median of the timed steps after 2 warm-up steps is reported.
"""
import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
from smpl import smpl_sized_model  # noqa: E402

from tfhybrid.config import ModelConfig  # noqa: E402
from tfhybrid.models.hybrid import HybridModel  # noqa: E402


def random_batch(rng, batch, size, num_vertices, points=200):
    kp = np.concatenate([rng.uniform(-1, 1, (batch, 19, 2)), np.ones((batch, 19, 1))], -1)
    return {"image": rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32),
            "iuv": rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32),
            "seg": rng.integers(0, 15, (batch, size, size)).astype(np.int32),
            "keypoints2d": kp.astype(np.float32), "joints3d": rng.normal(0, 0.3, (batch, 17, 3)).astype(np.float32),
            "smpl_pose": rng.normal(0, 0.3, (batch, 72)).astype(np.float32),
            "smpl_betas": rng.normal(0, 1, (batch, 10)).astype(np.float32),
            "dense_xy": rng.uniform(-1, 1, (batch, points, 2)).astype(np.float32),
            "dense_vertex_ids": rng.integers(0, num_vertices, (batch, points, 3)).astype(np.int32),
            "dense_barycentric": rng.dirichlet(np.ones(3), (batch, points)).astype(np.float32),
            "dense_mask": np.ones((batch, points), np.float32),
            **{f: np.ones(batch, np.float32) for f in ("has_2d", "has_3d", "has_smpl", "has_dense")}}


def median_step_seconds(step, steps):
    for _ in range(2):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def hybrid_step_seconds(body, options, tensors, batch, steps):
    model = HybridModel(body, options, global_batch_size=batch)
    model(tensors)
    model.optimizer = keras.optimizers.Adam(1e-4)
    model.optimizer.build(model.trainable_variables)
    step = tf.function(model.replica_step)
    return median_step_seconds(lambda: [v.numpy() for v in step(tensors).values()], steps)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    body = smpl_sized_model()
    data = random_batch(rng, args.batch, args.size, body.num_vertices)
    tensors = {k: tf.constant(v) for k, v in data.items()}

    classifier = keras.applications.ResNet50(weights=None, input_shape=(args.size, args.size, 3), classes=1000)
    classifier.compile(optimizer=keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy",
                       jit_compile=False)
    labels = rng.integers(0, 1000, args.batch)
    bare = median_step_seconds(lambda: classifier.train_on_batch(data["image"], labels), args.steps)
    rows = [("bare Keras ResNet-50 classification step", bare)]
    for label, options in (("tfhybrid ResNet-50 (image)", ModelConfig("image", 50, 18, args.size)),
                           ("tfhybrid ResNet-18 (image)", ModelConfig("image", 18, 18, args.size)),
                           ("tfhybrid ResNet-50 + ResNet-18 (image + IUV)", ModelConfig("image+iuv", 50, 18, args.size))):
        rows.append((label, hybrid_step_seconds(body, options, tensors, args.batch, args.steps)))
    print(f"batch {args.batch}, {args.size}x{args.size}, {os.cpu_count()} CPU cores, TF {tf.__version__}")
    print("| step | ms/step | images/s | vs bare ResNet-50 |")
    print("|---|---|---|---|")
    for label, seconds in rows:
        print(f"| {label} | {1000 * seconds:.0f} | {args.batch / seconds:.1f} | {seconds / bare:.2f}x |")
    small = {k: tf.constant(v) for k, v in random_batch(rng, 32, 64, body.num_vertices).items()}
    study = [(precision, hybrid_step_seconds(body, ModelConfig("image", 18, 18, 64, precision=precision), small, 32,
                                             args.steps * 3)) for precision in ("float32", "mixed_bfloat16")]
    print("\nThe study's cpu profile step (ResNet-18, 64x64, batch 32):")
    print("| precision | ms/step | vs float32 |")
    print("|---|---|---|")
    for precision, seconds in study:
        print(f"| {precision} | {1000 * seconds:.0f} | {seconds / study[0][1]:.2f}x |")


if __name__ == "__main__":
    main()
