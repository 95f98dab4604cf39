"""The client side of a served model: from a photo, a person box and DensePose's files to what the
SavedModel's signatures take. numpy and OpenCV only, so a serving client needs no TensorFlow.

For an IUV-input or two-branch model, DensePose (Detectron) writes `<photo>_IUV.png` (per pixel
(I, U, V), as `cv2.imread` returns it) and `<photo>_INDS.png` (the instance of each pixel). The
person's IUV map is the instance under its box (`tfhybrid.densepose.person_iuv`); image and IUV map
are cropped with the same square box, the IUV map without interpolation.
"""
import cv2
import numpy as np

from tfhybrid import camera, densepose
from tfhybrid.fileio import encode_image

BOX_MARGIN = 1.2               # the crop's side is this times the box's longer side, as in training


def person_crops(image, bbox, size, iuv=None, margin=BOX_MARGIN):
    """The model's crops of one person.

    Args:
      image: (H, W, 3) uint8 RGB; bbox: (x, y, w, h) source pixels; size: the model's input side;
      iuv: optional (H, W, 3) uint8 (I, U, V) map of this person.
    Returns:
      (crop (S, S, 3) uint8, IUV crop (S, S, 3) uint8 or None, crop box (3,) [x0, y0, side]).
    """
    box = camera.square_box(np.asarray(bbox, np.float64), margin)
    warp = camera.cv2_warp_matrix(camera.crop_matrix(box, size))
    crop = cv2.warpAffine(image, warp, (size, size), flags=cv2.INTER_LINEAR)
    iuv_crop = None if iuv is None else cv2.warpAffine(iuv, warp, (size, size), flags=cv2.INTER_NEAREST)
    return crop, iuv_crop, box


def read_photo(path):
    """(H, W, 3) uint8 RGB; ValueError naming the file when it does not read as an image."""
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"{path}: not a readable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def serving_files(photo_path, bbox, size, iuv_path=None):
    """{'image_bytes': PNG crop, 'iuv_bytes': PNG IUV crop (channels I, U, V in RGB order)} for the
    `serving_default` signature; `iuv_path` is DensePose's `_IUV.png` (its `_INDS.png` is used when
    beside it). Raises ValueError naming the file that does not read."""
    image = read_photo(photo_path)
    iuv = None if iuv_path is None else densepose.person_iuv(iuv_path, bbox, image.shape[:2])
    crop, iuv_crop, _ = person_crops(image, bbox, size, iuv)
    files = {"image_bytes": encode_image(crop, ".png")}
    if iuv_crop is not None:
        files["iuv_bytes"] = encode_image(iuv_crop, ".png")
    return files
