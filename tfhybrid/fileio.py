"""Atomic, deterministic file writing: a reader never sees a half-written file, and the same
content always gives the same bytes (no timestamps in archives)."""
import io
import json
import os
import tempfile
import zipfile

import numpy as np

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_MAT_HEADER = b"MATLAB 5.0 MAT-file, written by tfhybrid"


_FILE_MODE = 0o666
# Temporary files are named after their target, so a writer can remove the partial files that a
# killed predecessor left for the same targets.
TEMPORARY_PREFIX = ".tmp-"


def _current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path, write):
    """Calls `write(tmp_path)` and renames the result onto `path`, so no half-written file remains."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f"{TEMPORARY_PREFIX}{os.path.basename(path)}-",
                               suffix=os.path.splitext(path)[1])
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, _FILE_MODE & ~_current_umask())      # mkstemp creates 0600; outputs are for other tools too
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_bytes(path, data):
    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)

    atomic_write(path, write)


def read_json_object(path, what, key):
    """The JSON object of `path`, which must hold `key`; a clear error names the file otherwise."""
    try:
        with open(path) as f:
            value = json.load(f)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not {what} ({error})") from None
    if not isinstance(value, dict) or key not in value:
        raise ValueError(f"{path}: not {what} (expected a JSON object with {key!r})")
    return value


def encode_image(image, ext, jpeg_quality=92, rgb=True):
    """Encodes an (H, W, 3) or (H, W) uint8 array as PNG or JPEG bytes (OpenCV, deterministic).

    With `rgb=False` the channels are written in OpenCV's order as given (as `cv2.imwrite` does):
    what DensePose's Detectron does for IUV maps, so `cv2.imread` returns them unchanged.
    """
    import cv2

    array = np.asarray(image)
    if array.ndim == 3 and rgb:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if ext in (".jpg", ".jpeg") else []
    ok, data = cv2.imencode(ext, array, params)
    if not ok:
        raise ValueError(f"could not encode an image of shape {array.shape} as {ext}")
    return data.tobytes()


def write_image(path, image, jpeg_quality=92):
    """Writes an RGB (or single-channel) uint8 image; the extension picks PNG or JPEG."""
    write_bytes(path, encode_image(image, os.path.splitext(os.fspath(path))[1].lower(), jpeg_quality))


def write_json(path, obj):
    write_bytes(path, json.dumps(obj, separators=(",", ":")).encode("utf-8"))


def npy_bytes(array):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=False)
    return buffer.getvalue()


def npz_bytes(arrays):
    """An `np.load`-compatible .npz archive without timestamps (np.savez stamps the current time)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, value in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            with archive.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(value), allow_pickle=False)
    return buffer.getvalue()


def write_npz(path, arrays):
    write_bytes(path, npz_bytes(arrays))


def write_mat(path, arrays):
    """`scipy.io.savemat` with its creation-date header replaced by a fixed one."""
    import scipy.io

    buffer = io.BytesIO()
    scipy.io.savemat(buffer, arrays)
    data = bytearray(buffer.getvalue())
    data[:116] = _MAT_HEADER.ljust(116, b" ")
    write_bytes(path, bytes(data))
