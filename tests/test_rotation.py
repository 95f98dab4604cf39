import numpy as np
import pytest
import tensorflow as tf
from scipy.spatial.transform import Rotation

from tfhybrid.layers import Rodrigues, rodrigues
from tfhybrid.layers.rotation import skew


def test_matches_scipy_over_all_angle_ranges():
    rng = np.random.default_rng(0)
    axes = rng.normal(size=(60, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = np.concatenate([np.zeros(4), [1e-7, 1e-5, 1e-3, 9e-3, 1.1e-2], rng.uniform(0, np.pi, 46),
                             [np.pi - 1e-4, np.pi, 2.5 * np.pi, 4.0, 6.0]])
    vectors = axes * angles[:, None]
    expected = Rotation.from_rotvec(vectors).as_matrix()
    got = rodrigues(tf.constant(vectors, tf.float32)).numpy()
    np.testing.assert_allclose(got, expected, atol=2e-6)
    np.testing.assert_array_equal(rodrigues(tf.zeros((1, 3))).numpy()[0], np.eye(3, dtype=np.float32))


def test_any_leading_shape():
    x = tf.random.normal((2, 5, 4, 3), seed=1)
    out = Rodrigues()(x)
    assert out.shape == (2, 5, 4, 3, 3)
    np.testing.assert_allclose(out.numpy().reshape(-1, 3, 3), rodrigues(tf.reshape(x, (-1, 3))).numpy(), atol=1e-7)


def test_bad_shape():
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        rodrigues(tf.zeros((4, 2)))


@pytest.mark.parametrize("point", [np.zeros(3), np.array([3e-4, -2e-4, 1e-4]), np.array([0.4, -1.1, 0.7])])
def test_jacobian(point):
    x = tf.constant(point[None], tf.float64)
    theoretical, numerical = tf.test.compute_gradient(rodrigues, [x], delta=1e-6)
    assert np.all(np.isfinite(theoretical[0]))
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-6)


def test_gradient_at_zero_is_the_skew_generator():
    x = tf.zeros((1, 3), tf.float64)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        r = rodrigues(x)
    jac = tape.jacobian(r, x).numpy()[0, :, :, 0, :]          # (3, 3, 3): dR[i, j] / dx[k]
    for k in range(3):
        np.testing.assert_allclose(jac[:, :, k], skew(tf.constant(np.eye(3)[k])).numpy(), atol=1e-12)
