"""SMPL layer speed on an SMPL-sized model: eager, tf.function and XLA, against plain numpy.

    python bench/smpl.py [--min_seconds 2]

The model has SMPL's sizes (6,890 vertices, 13,776 faces, 10 betas, 207 pose columns, 24 joints,
a 19-row extra regressor) filled with seeded random arrays: speed depends on shapes, not values.
Forward+backward is d(sum(vertices**2))/d(betas, pose). Prints the median milliseconds per call
after 3 warm-up calls, and the ratio of numpy's forward to each TF variant measured in this run.
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfhybrid import conventions  # noqa: E402
from tfhybrid.bodymodel import BodyModel  # noqa: E402
from tfhybrid.layers import SMPL  # noqa: E402


def smpl_sized_model(seed=0):
    rng = np.random.default_rng(seed)
    v, f = 6890, 13776
    weights = np.zeros((v, 24), np.float32)
    for k in range(4):
        weights[np.arange(v), rng.integers(0, 24, v)] += rng.random(v)
    j_regressor = rng.random((24, v)) * (rng.random((24, v)) < 0.05)
    return BodyModel.from_arrays(
        v_template=rng.normal(size=(v, 3)) * 0.3, shapedirs=rng.normal(size=(v, 3, 10)) * 0.01,
        posedirs=rng.normal(size=(v, 3, 207)) * 0.001, j_regressor=j_regressor / j_regressor.sum(1, keepdims=True),
        weights=weights / weights.sum(1, keepdims=True), parents=np.array(conventions.SMPL_PARENTS),
        faces=rng.integers(0, v, size=(f, 3)), extra_regressors={"cocoplus": rng.random((19, v)) / v},
        source="random SMPL-sized arrays")


def numpy_forward(model, betas, pose):
    """Batched float32 numpy SMPL forward (the baseline)."""
    batch = betas.shape[0]
    angle = np.linalg.norm(pose.reshape(batch, 24, 3), axis=-1, keepdims=True) + 1e-8
    axis = pose.reshape(batch, 24, 3) / angle
    k = np.zeros((batch, 24, 3, 3), np.float32)
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -axis[..., 2], axis[..., 1], -axis[..., 0]
    k = k - np.swapaxes(k, -1, -2)
    s, c = np.sin(angle)[..., None], np.cos(angle)[..., None]
    rot = np.eye(3, dtype=np.float32) + s * k + (1 - c) * (k @ k)
    v_shaped = model.v_template + np.einsum("vck,bk->bvc", model.shapedirs, betas)
    feature = (rot[:, 1:] - np.eye(3, dtype=np.float32)).reshape(batch, -1)
    v_posed = v_shaped + (feature @ model.posedirs.reshape(-1, 207).T).reshape(batch, -1, 3)
    joints = np.einsum("jv,bvc->bjc", model.j_regressor, v_shaped)
    g_rot, g_t = [rot[:, 0]], [joints[:, 0]]
    for j in range(1, 24):
        p = model.parents[j]
        g_rot.append(g_rot[p] @ rot[:, j])
        g_t.append(np.einsum("bmn,bn->bm", g_rot[p], joints[:, j] - joints[:, p]) + g_t[p])
    g_rot, g_t = np.stack(g_rot, 1), np.stack(g_t, 1)
    rest_t = g_t - np.einsum("bjmn,bjn->bjm", g_rot, joints)
    transforms = np.concatenate([g_rot, rest_t[..., None]], -1).reshape(batch, 24, 12)
    per_vertex = (model.weights @ transforms).reshape(batch, -1, 3, 4)
    vertices = np.einsum("bvmn,bvn->bvm", per_vertex[..., :3], v_posed) + per_vertex[..., 3]
    return vertices, model.extra_regressors["cocoplus"] @ vertices


def median_ms(fn, min_seconds):
    for _ in range(3):
        fn()
    times, start = [], time.perf_counter()
    while len(times) < 10 or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000.0 * float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min_seconds", type=float, default=2.0)
    parser.add_argument("--batches", default="1,64")
    args = parser.parse_args()
    model = smpl_sized_model()
    layer = SMPL(model)

    def forward(betas, pose):
        return layer(betas, pose)["vertices"]

    def forward_backward(betas, pose):
        with tf.GradientTape() as tape:
            tape.watch([betas, pose])
            loss = tf.reduce_sum(tf.square(layer(betas, pose)["vertices"]))
        return tape.gradient(loss, [betas, pose])

    variants = {
        "eager": (forward, forward_backward),
        "tf.function": (tf.function(forward), tf.function(forward_backward)),
        "XLA": (tf.function(forward, jit_compile=True), tf.function(forward_backward, jit_compile=True)),
    }
    print(f"SMPL-sized model: {model.num_vertices} vertices, {model.faces.shape[0]} faces, "
          f"{model.posedirs.shape[2]} pose columns; {os.cpu_count()} CPU cores; TF {tf.__version__}")
    print("| batch | variant | forward ms | fwd+bwd ms | numpy fwd / this fwd |")
    print("|---|---|---|---|---|")
    rng = np.random.default_rng(1)
    for batch in (int(b) for b in args.batches.split(",")):
        betas_np = rng.normal(size=(batch, 10)).astype(np.float32)
        pose_np = (rng.normal(size=(batch, 72)) * 0.5).astype(np.float32)
        betas, pose = tf.constant(betas_np), tf.constant(pose_np)
        numpy_ms = median_ms(lambda: numpy_forward(model, betas_np, pose_np), args.min_seconds)
        print(f"| {batch} | numpy float32 | {numpy_ms:.2f} | - | 1.00 |")
        for name, (fwd, fwd_bwd) in variants.items():
            f_ms = median_ms(lambda: fwd(betas, pose).numpy(), args.min_seconds)
            fb_ms = median_ms(lambda: [g.numpy() for g in fwd_bwd(betas, pose)], args.min_seconds)
            print(f"| {batch} | {name} | {f_ms:.2f} | {fb_ms:.2f} | {numpy_ms / f_ms:.2f} |", flush=True)


if __name__ == "__main__":
    main()
