import numpy as np
import pytest
import tensorflow as tf

from tfhybrid.layers import (DenseKeypointGather, WeakPerspectiveProjection, fit_weak_perspective,
                             gather_dense_keypoints, project_weak_perspective)


def test_projection_known_values():
    points = tf.constant([[[0.1, -0.2, 5.0], [0.0, 0.0, -3.0]]])
    cam = tf.constant([[2.0, 0.5, -0.25]])
    out = project_weak_perspective(points, cam).numpy()
    np.testing.assert_allclose(out, [[[1.2, -0.9], [1.0, -0.5]]], atol=1e-6)
    np.testing.assert_allclose(WeakPerspectiveProjection()(points, cam).numpy(), out)


def test_projection_shape_errors():
    with pytest.raises(ValueError, match=r"\(B, N, 3\)"):
        project_weak_perspective(tf.zeros((2, 3)), tf.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"cam must be \(B, 3\)"):
        project_weak_perspective(tf.zeros((2, 4, 3)), tf.zeros((2, 2)))


def test_projection_jacobian():
    rng = np.random.default_rng(0)
    points = tf.constant(rng.normal(size=(2, 5, 3)), tf.float64)
    cam = tf.constant(rng.normal(size=(2, 3)), tf.float64)
    theoretical, numerical = tf.test.compute_gradient(project_weak_perspective, [points, cam])
    for t, n in zip(theoretical, numerical):
        np.testing.assert_allclose(t, n, atol=1e-7)


def _loop_gather(points, ids, bary):
    out = np.zeros(ids.shape[:2] + (points.shape[-1],))
    for b in range(ids.shape[0]):
        for n in range(ids.shape[1]):
            for k in range(3):
                out[b, n] += bary[b, n, k] * points[b, ids[b, n, k]]
    return out


def test_least_squares_camera_recovers_the_projection():
    rng = np.random.default_rng(3)
    points = rng.normal(0, 0.4, (3, 19, 3)).astype(np.float32)
    cam = np.array([[0.9, 0.1, -0.2], [1.3, -0.3, 0.05], [0.5, 0.0, 0.4]], np.float32)
    targets = project_weak_perspective(points, cam).numpy()
    weights = (rng.random((3, 19)) > 0.3).astype(np.float32)
    targets[weights == 0] = 5.0                      # invisible points must not count
    np.testing.assert_allclose(fit_weak_perspective(points, targets, weights).numpy(), cam, atol=1e-5)
    noisy = targets + rng.normal(0, 0.01, targets.shape).astype(np.float32)
    fitted = fit_weak_perspective(points, noisy, weights).numpy()
    for b in range(3):                               # the normal equations of a, b with u = a X + b
        m = weights[b] > 0
        design = np.concatenate([np.concatenate([points[b, m, :1], np.ones((m.sum(), 1)), np.zeros((m.sum(), 1))], 1),
                                 np.concatenate([points[b, m, 1:2], np.zeros((m.sum(), 1)), np.ones((m.sum(), 1))], 1)])
        solution = np.linalg.lstsq(design, np.concatenate([noisy[b, m, 0], noisy[b, m, 1]]), rcond=None)[0]
        np.testing.assert_allclose(fitted[b], [solution[0], solution[1] / solution[0], solution[2] / solution[0]],
                                   rtol=1e-4, atol=1e-5)


def test_gather_against_loop():
    rng = np.random.default_rng(1)
    points = rng.normal(size=(3, 50, 2))
    ids = rng.integers(0, 50, size=(3, 20, 3)).astype(np.int32)
    bary = rng.dirichlet(np.ones(3), size=(3, 20))
    expected = _loop_gather(points, ids, bary)
    np.testing.assert_allclose(gather_dense_keypoints(points, ids, bary).numpy(), expected, atol=1e-12)
    got = DenseKeypointGather()(tf.constant(points, tf.float32), ids, tf.constant(bary, tf.float32)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_gather_jacobian():
    rng = np.random.default_rng(2)
    ids = tf.constant(rng.integers(0, 6, size=(2, 4, 3)), tf.int32)
    points = tf.constant(rng.normal(size=(2, 6, 2)), tf.float64)
    bary = tf.constant(rng.dirichlet(np.ones(3), size=(2, 4)), tf.float64)
    theoretical, numerical = tf.test.compute_gradient(lambda p, w: gather_dense_keypoints(p, ids, w), [points, bary])
    for t, n in zip(theoretical, numerical):
        np.testing.assert_allclose(t, n, atol=1e-7)


def test_unknown_batch_under_tf_function():
    rng = np.random.default_rng(3)
    project = tf.function(project_weak_perspective, input_signature=[
        tf.TensorSpec([None, None, 3], tf.float32), tf.TensorSpec([None, 3], tf.float32)])
    gather = tf.function(gather_dense_keypoints, input_signature=[
        tf.TensorSpec([None, None, 2], tf.float32), tf.TensorSpec([None, None, 3], tf.int32),
        tf.TensorSpec([None, None, 3], tf.float32)])
    for batch in (1, 3, 7):
        points = rng.normal(size=(batch, 9, 3)).astype(np.float32)
        cam = rng.normal(size=(batch, 3)).astype(np.float32)
        proj = project(points, cam)
        np.testing.assert_allclose(proj.numpy(), project_weak_perspective(points, cam).numpy())
        ids = rng.integers(0, 9, size=(batch, 4, 3)).astype(np.int32)
        bary = rng.dirichlet(np.ones(3), size=(batch, 4)).astype(np.float32)
        np.testing.assert_allclose(gather(proj, ids, bary).numpy(), _loop_gather(proj.numpy(), ids, bary), atol=1e-5)


def test_gather_shape_errors():
    with pytest.raises(ValueError, match="vertex_ids"):
        gather_dense_keypoints(tf.zeros((1, 4, 2)), tf.zeros((1, 3), tf.int32), tf.zeros((1, 3, 3)))
