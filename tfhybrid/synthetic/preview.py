"""A contact sheet of synthetic samples for a person to look at: the image with its keypoints,
the predicted IUV (DensePose output, with its errors) and the exact part segmentation."""
import os

import cv2
import numpy as np

from tfhybrid import conventions

# One colour per DensePose part (I = 1..24), left/right pairs in related hues.
PART_COLORS = np.array([
    [0.55, 0.55, 0.60], [0.65, 0.65, 0.72], [0.95, 0.75, 0.55], [0.85, 0.65, 0.45], [0.35, 0.25, 0.20],
    [0.45, 0.32, 0.25], [0.20, 0.45, 0.80], [0.20, 0.70, 0.55], [0.15, 0.35, 0.70], [0.15, 0.60, 0.45],
    [0.35, 0.55, 0.90], [0.35, 0.80, 0.65], [0.30, 0.45, 0.85], [0.30, 0.75, 0.60], [0.90, 0.45, 0.30],
    [0.85, 0.30, 0.45], [0.80, 0.40, 0.25], [0.75, 0.25, 0.40], [0.95, 0.60, 0.35], [0.90, 0.45, 0.60],
    [0.90, 0.55, 0.30], [0.85, 0.40, 0.55], [0.95, 0.80, 0.65], [0.90, 0.75, 0.60]])


_COARSE_COLORS = np.array([[0, 0, 0]] + [PART_COLORS[np.nonzero(conventions.FINE_TO_COARSE == c)[0][0] - 1] * 255
                                         for c in range(1, 15)], dtype=np.uint8)


def colorize_iuv(iuv):
    """(H, W, 3) uint8 (I, U, V) -> RGB: part colour, brightened by U and V."""
    parts = iuv[..., 0].astype(np.int64)
    out = np.zeros(iuv.shape, np.float64)
    fg = parts > 0
    shade = 0.45 + 0.35 * iuv[..., 1][fg, None] / 255.0 + 0.2 * iuv[..., 2][fg, None] / 255.0
    out[fg] = PART_COLORS[parts[fg] - 1] * shade
    return (np.clip(out, 0, 1) * 255).astype(np.uint8)


def colorize_segmentation(segmentation):
    return _COARSE_COLORS[segmentation]


def _panel(image, height):
    scale = height / image.shape[0]
    return cv2.resize(image, (max(1, int(round(image.shape[1] * scale))), height), interpolation=cv2.INTER_NEAREST)


def contact_sheet(world_dir, previews, row_height=160):
    """(H, W, 3) RGB sheet with one row per preview entry: image + keypoints | predicted IUV | segmentation."""
    rows = []
    for entry in previews:
        image = cv2.cvtColor(cv2.imread(os.path.join(world_dir, entry["image"])), cv2.COLOR_BGR2RGB)
        predicted = cv2.imread(os.path.join(world_dir, "densepose_predictions", entry["iuv"]), cv2.IMREAD_UNCHANGED)
        clean = cv2.imread(os.path.join(world_dir, "densepose_clean", entry["iuv"]), cv2.IMREAD_UNCHANGED)
        drawn = image.copy()
        radius = max(2, image.shape[0] // 120)
        for x, y, v in np.asarray(entry["keypoints"]):
            if v > 0:
                cv2.circle(drawn, (int(x), int(y)), radius, (255, 40, 40), -1, cv2.LINE_AA)
        segmentation = conventions.FINE_TO_COARSE[clean[..., 0]]
        panels = [_panel(p, row_height) for p in (drawn, colorize_iuv(predicted), colorize_segmentation(segmentation))]
        rows.append(np.concatenate(panels, axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    return np.concatenate(rows, axis=0)
