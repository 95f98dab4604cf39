"""Every camera convention of the project, and the conversions between them.

Frames and units:
  * Pixels are continuous: an image of width W spans [0, W]; pixel column i has its centre at i + 0.5.
  * The normalised crop frame maps a square crop of S pixels to [-1, 1]: u = p / S * 2 - 1
    (DCT/HMR), so the crop's left edge is -1 and its right edge +1.
  * Weak perspective `cam = [s, tx, ty]` projects a body point X as `u = s * (X_xy + t)`
    (`weak_perspective`; `tfhybrid.layers.project_weak_perspective` adds shape checks). The body
    frame is the SMPL frame after the model's root rotation, whose mean flips y to point down
    the image.
  * Perspective cameras look along +z with a focal length f in pixels and a principal point c:
    p = f * (X_xy + T_xy) / (X_z + T_z) + c.
  * A crop box is (x0, y0, size): the square crop's top-left corner and side in source pixels.

Functions accept numpy arrays or TF tensors (batched over leading dims) and return the same kind.
"""
import numpy as np


def _stack(values, axis=-1):
    # TensorFlow is imported only for TF inputs, so numpy users (data tools, workers) never load it.
    if any(type(v).__module__.startswith("tensorflow") for v in values):
        import tensorflow as tf

        return tf.stack(values, axis=axis)
    return np.stack(values, axis=axis)


def normalized_to_pixels(points, crop_size):
    """(..., 2) normalised crop coordinates -> crop pixels."""
    return (points + 1.0) * (crop_size / 2.0)


def pixels_to_normalized(points, crop_size):
    """(..., 2) crop pixels -> normalised crop coordinates."""
    return points * (2.0 / crop_size) - 1.0


def weak_perspective(points, cam):
    """The weak-perspective projection `u = s * (X_xy + t)` of `cam = [s, tx, ty]`.

    Args:
      points: (..., N, 3) body-frame points; cam: (..., 3).
    Returns:
      (..., N, 2) normalised crop coordinates.
    """
    return cam[..., None, 0:1] * (points[..., :2] + cam[..., None, 1:3])


def weak_perspective_to_translation(cam, focal_length, crop_size):
    """Perspective translation that reproduces a weak-perspective camera at the body's depth.

    Args:
      cam: (..., 3) [s, tx, ty].
      focal_length: focal length in crop pixels (SPIN and 4D-Humans use 5000 at 224).
      crop_size: S, the crop side in pixels.
    Returns:
      (..., 3) translation [tx, ty, 2 f / (S s)] for a camera with principal point at the crop centre.
    """
    s, tx, ty = cam[..., 0], cam[..., 1], cam[..., 2]
    return _stack([tx, ty, 2.0 * focal_length / (crop_size * s)])


def translation_to_weak_perspective(translation, focal_length, crop_size):
    """Inverse of `weak_perspective_to_translation`: (..., 3) translation -> (..., 3) [s, tx, ty]."""
    tx, ty, tz = translation[..., 0], translation[..., 1], translation[..., 2]
    return _stack([2.0 * focal_length / (crop_size * tz), tx, ty])


def project_perspective(points, translation, focal_length, principal_point):
    """Pinhole projection.

    Args:
      points: (..., N, 3) body points; translation: (..., 3); focal_length: scalar or (..., 2)
        pixels; principal_point: (..., 2) pixels.
    Returns:
      (..., N, 2) pixel coordinates.
    """
    camera_points = points + translation[..., None, :]
    xy = camera_points[..., :2] / camera_points[..., 2:3]
    if not np.isscalar(focal_length):
        focal_length = focal_length[..., None, :]
    return xy * focal_length + principal_point[..., None, :]


def crop_to_image(points, box):
    """Normalised crop coordinates -> source-image pixels.

    Args:
      points: (..., N, 2) in [-1, 1] crop units; box: (..., 3) [x0, y0, size] of the square crop.
    Returns:
      (..., N, 2) source pixels.
    """
    origin = box[..., None, 0:2]
    size = box[..., None, 2:3]
    return origin + (points + 1.0) * (size / 2.0)


def image_to_crop(points, box):
    """Source-image pixels -> normalised crop coordinates (inverse of `crop_to_image`)."""
    origin = box[..., None, 0:2]
    size = box[..., None, 2:3]
    return (points - origin) * (2.0 / size) - 1.0


def crop_camera_to_full_image(cam, box, image_size, focal_length):
    """Full-image perspective translation for a weak-perspective camera predicted on a crop.

    With the principal point at the image centre, the body projects into the source image where
    the crop camera put it (`crop_to_image` of the weak-perspective projection), to first order in
    the body's depth extent.

    Args:
      cam: (..., 3) [s, tx, ty]; box: (..., 3) [x0, y0, size] in source pixels;
      image_size: (..., 2) [width, height]; focal_length: source-image focal length in pixels.
    Returns:
      (..., 3) translation of the body in the full-image camera.
    """
    s, tx, ty = cam[..., 0], cam[..., 1], cam[..., 2]
    size = box[..., 2]
    cx = box[..., 0] + size / 2.0
    cy = box[..., 1] + size / 2.0
    denom = size * s
    return _stack([tx + 2.0 * (cx - image_size[..., 0] / 2.0) / denom,
                   ty + 2.0 * (cy - image_size[..., 1] / 2.0) / denom,
                   2.0 * focal_length / denom])


def keypoint_box(xy, confidence, min_confidence=0.0, margin=0.0):
    """(x, y, w, h) around the keypoints whose confidence exceeds `min_confidence`, widened on each
    side by `margin` times its longer side; None when fewer than two keypoints qualify.

    Args:
      xy: (K, 2) pixel positions; confidence: (K,) visibility or detector confidence.
    """
    points = np.asarray(xy, np.float64)[np.asarray(confidence) > min_confidence]
    if points.shape[0] < 2:
        return None
    lo, hi = points.min(axis=0), points.max(axis=0)
    pad = margin * (hi - lo).max()
    return tuple(float(v) for v in np.concatenate([lo - pad, hi - lo + 2 * pad]))


def square_box(bbox, scale=1.0):
    """Square crop box around an (x, y, w, h) box, its side `scale * max(w, h)`.

    Returns:
      (..., 3) [x0, y0, size] as float arrays.
    """
    bbox = np.asarray(bbox, dtype=np.float64)
    size = np.maximum(bbox[..., 2], bbox[..., 3]) * scale
    cx = bbox[..., 0] + bbox[..., 2] / 2.0
    cy = bbox[..., 1] + bbox[..., 3] / 2.0
    return np.stack([cx - size / 2.0, cy - size / 2.0, size], axis=-1)


def crop_matrix(box, out_size):
    """2x3 affine matrix mapping source pixels to the pixels of an `out_size` crop of `box`."""
    x0, y0, size = (float(v) for v in box)
    scale = out_size / size
    return np.array([[scale, 0.0, -x0 * scale], [0.0, scale, -y0 * scale]])


def apply_affine(points, matrix):
    """(..., 2) points through a 2x3 affine matrix."""
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def cv2_warp_matrix(matrix):
    """Converts a 2x3 matrix in this project's pixel convention (centres at i + 0.5) to OpenCV's
    convention (centres at i), for `cv2.warpAffine`."""
    shift_in = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    full = np.vstack([matrix, [0.0, 0.0, 1.0]])
    shift_out = np.array([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]])
    return (shift_out @ full @ shift_in)[:2]
