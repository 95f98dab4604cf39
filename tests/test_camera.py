import cv2
import numpy as np
import tensorflow as tf

from tfhybrid import camera
from tfhybrid.layers import project_weak_perspective


def _flat_body(rng, n=20):
    points = rng.normal(size=(2, n, 3)) * 0.4
    points[..., 2] = 0.0        # a body in one depth plane: weak and full perspective agree exactly
    return points


def test_weak_perspective_translation_round_trip_and_agreement():
    rng = np.random.default_rng(0)
    cam = np.array([[0.9, 0.1, -0.2], [1.3, -0.05, 0.15]])
    points = _flat_body(rng)
    crop = 224.0
    translation = camera.weak_perspective_to_translation(cam, 5000.0, crop)
    np.testing.assert_allclose(camera.translation_to_weak_perspective(translation, 5000.0, crop), cam)
    pixels = camera.project_perspective(points, translation, 5000.0, np.full((2, 2), crop / 2))
    weak = camera.normalized_to_pixels(project_weak_perspective(points, cam).numpy(), crop)
    np.testing.assert_allclose(pixels, weak, atol=1e-9)


def test_normalized_pixels_convention():
    np.testing.assert_allclose(camera.pixels_to_normalized(np.array([0.0, 112.0, 224.0]), 224), [-1, 0, 1])
    np.testing.assert_allclose(camera.normalized_to_pixels(np.array([-1.0, 1.0]), 224), [0, 224])


def test_crop_to_image_round_trip_and_matrix():
    rng = np.random.default_rng(1)
    box = np.array([[40.0, 25.0, 300.0], [5.0, 70.0, 120.0]])
    pts = rng.uniform(-1, 1, size=(2, 7, 2))
    img = camera.crop_to_image(pts, box)
    np.testing.assert_allclose(camera.image_to_crop(img, box), pts)
    matrix = camera.crop_matrix(box[0], 224)
    np.testing.assert_allclose(camera.apply_affine(img[0], matrix), camera.normalized_to_pixels(pts[0], 224))


def test_crop_camera_to_full_image():
    rng = np.random.default_rng(2)
    points = _flat_body(rng)
    cam = np.array([[0.8, 0.05, -0.1], [1.1, -0.2, 0.3]])
    box = np.array([[400.0, 120.0, 350.0], [30.0, 500.0, 200.0]])
    size = np.array([[1920.0, 1080.0], [1080.0, 1920.0]])
    focal = 1500.0
    translation = camera.crop_camera_to_full_image(cam, box, size, focal)
    full = camera.project_perspective(points, translation, focal, size / 2)
    expected = camera.crop_to_image(project_weak_perspective(points, cam).numpy(), box)
    np.testing.assert_allclose(full, expected, atol=1e-9)


def test_tensorflow_inputs():
    cam = tf.constant([[0.9, 0.1, -0.2]])
    out = camera.weak_perspective_to_translation(cam, 5000.0, 224.0)
    assert tf.is_tensor(out)
    np.testing.assert_allclose(out.numpy(), [[0.1, -0.2, 2 * 5000 / (224 * 0.9)]], rtol=1e-6)


def test_cv2_warp_matrix_follows_pixel_centre_convention():
    image = np.zeros((40, 40), np.float32)
    image[10, 20] = 1.0                   # pixel centre at (20.5, 10.5)
    matrix = camera.crop_matrix((10.0, 5.0, 20.0), 40)
    warped = cv2.warpAffine(image, camera.cv2_warp_matrix(matrix), (40, 40), flags=cv2.INTER_LINEAR)
    centre = camera.apply_affine([20.5, 10.5], matrix)
    ys, xs = np.nonzero(warped > 0)
    weights = warped[ys, xs]
    np.testing.assert_allclose([np.average(xs + 0.5, weights=weights), np.average(ys + 0.5, weights=weights)],
                               centre, atol=1e-3)


def test_keypoint_box_hand_derived():
    xy = np.array([[10.0, 20.0], [30.0, 60.0], [500.0, 500.0], [20.0, 40.0]])
    confidence = np.array([1.0, 0.9, 0.05, 0.0])
    # Confidence strictly above the threshold counts: the third point (0.05) only at threshold 0.
    assert camera.keypoint_box(xy, confidence) == (10.0, 20.0, 490.0, 480.0)
    assert camera.keypoint_box(xy, confidence, min_confidence=0.1) == (10.0, 20.0, 20.0, 40.0)
    # The margin pads each side by a fraction of the longer side (40 px here).
    assert camera.keypoint_box(xy, confidence, 0.1, margin=0.25) == (0.0, 10.0, 40.0, 60.0)
    assert camera.keypoint_box(xy, confidence, min_confidence=0.95) is None
