"""A DensePose-like predictor: the IUV a real DensePose would output, with controllable errors.

Starting from the exact IUV of a rendered image, `predict_iuv` adds the error modes that the
paper's refinement targets and that make noisy dense supervision noisy:
  * left/right swaps of whole connected part regions (I -> its mirror part, U/V mirrored),
  * Gaussian noise on U and V (sigma on the 0..255 scale), smooth and per-pixel,
  * missing regions (holes set to background) and a ragged silhouette,
  * spurious blobs of random parts next to the person.
"""
import dataclasses

import cv2
import numpy as np

from tfhybrid import conventions


@dataclasses.dataclass(frozen=True)
class PredictionErrors:
    """Error rates of the predictor; `PredictionErrors.none()` returns the exact IUV."""

    swap_probability: float = 0.12     # per connected region of a left/right part
    uv_sigma: float = 4.0              # per-pixel U/V noise, 0..255 scale
    uv_smooth_sigma: float = 6.0       # low-frequency U/V drift, 0..255 scale
    holes: float = 1.0                 # expected number of missing regions per person
    spurious: float = 0.7              # expected number of spurious blobs per image
    ragged_edge: float = 0.5           # probability of eroding or dilating the silhouette

    @classmethod
    def none(cls):
        return cls(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def _mirror_uv(parts, u, v):
    u = np.where(conventions.CHART_FLIP_MIRRORS_U[parts], 255 - u, u)
    v = np.where(conventions.CHART_FLIP_MIRRORS_V[parts], 255 - v, v)
    return u, v


def predict_iuv(rng, iuv, errors=PredictionErrors()):
    """Corrupts an exact (H, W, 3) uint8 IUV map (I, U, V) the way a DensePose prediction errs."""
    parts = iuv[..., 0].astype(np.int64)
    u = iuv[..., 1].astype(np.float64)
    v = iuv[..., 2].astype(np.float64)
    fg = parts > 0
    height, width = parts.shape
    for part in range(1, 25):
        if conventions.FINE_PART_SYMMETRY[part] == part or not (parts == part).any():
            continue
        count, regions = cv2.connectedComponents((parts == part).astype(np.uint8), connectivity=8)
        for region in range(1, count):
            if rng.random() < errors.swap_probability:
                mask = regions == region
                mu, mv = _mirror_uv(np.full(mask.sum(), part), u[mask], v[mask])
                parts[mask], u[mask], v[mask] = conventions.FINE_PART_SYMMETRY[part], mu, mv
    if errors.uv_smooth_sigma > 0:
        for channel in (u, v):
            drift = cv2.resize(rng.normal(0, errors.uv_smooth_sigma, (6, 6)), (width, height),
                               interpolation=cv2.INTER_CUBIC)
            channel += drift
    if errors.uv_sigma > 0:
        u += rng.normal(0, errors.uv_sigma, u.shape)
        v += rng.normal(0, errors.uv_sigma, v.shape)
    if fg.any() and rng.random() < errors.ragged_edge:
        kernel = np.ones((3, 3), np.uint8)
        if rng.random() < 0.5:
            keep = cv2.erode(fg.astype(np.uint8), kernel) > 0
            parts[fg & ~keep] = 0
        else:
            grown = cv2.dilate(fg.astype(np.uint8), kernel) > 0
            ring = grown & ~fg
            for channel in (parts, u, v):
                channel[ring] = cv2.dilate(channel.astype(np.float32), kernel)[ring]
    ys, xs = np.nonzero(fg)
    for _ in range(rng.poisson(errors.holes) if ys.size else 0):
        k = rng.integers(ys.size)
        axes = (int(rng.integers(3, max(4, height // 14))), int(rng.integers(3, max(4, height // 14))))
        hole = np.zeros((height, width), np.uint8)
        cv2.ellipse(hole, (int(xs[k]), int(ys[k])), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
        parts[hole > 0] = 0
    for _ in range(rng.poisson(errors.spurious)):
        blob = np.zeros((height, width), np.uint8)
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        axes = (int(rng.integers(2, max(3, height // 16))), int(rng.integers(2, max(3, height // 16))))
        cv2.ellipse(blob, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
        mask = (blob > 0) & (parts == 0)
        parts[mask] = rng.integers(1, 25)
        u[mask], v[mask] = rng.uniform(0, 255), rng.uniform(0, 255)
    out = np.zeros_like(iuv)
    keep = parts > 0
    out[..., 0] = parts
    out[..., 1] = np.where(keep, np.clip(np.round(u), 0, 255), 0)
    out[..., 2] = np.where(keep, np.clip(np.round(v), 0, 255), 0)
    return out
