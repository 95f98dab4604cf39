"""COCO run-length encoding of binary masks (the compressed `counts` strings of COCO JSON files).

Masks are flattened column-major; runs alternate starting with zeros; each run is written in 5-bit
groups (0x20 = more groups follow, 0x10 of the last group = sign) as characters 48 + value, and from
the third run on, the value stored is the difference to the run two places before.
"""
import numpy as np


def run_lengths(mask):
    """Run lengths of a (H, W) binary mask in COCO order (column-major, zeros first)."""
    flat = np.asarray(mask, dtype=bool).reshape(-1, order="F")
    change = np.nonzero(flat[1:] != flat[:-1])[0] + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts
    return counts


def counts_to_string(counts):
    out = []
    for i, count in enumerate(counts):
        x = int(count) - (int(counts[i - 2]) if i > 2 else 0)
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def string_to_counts(text):
    counts, pos = [], 0
    data = text.encode("ascii") if isinstance(text, str) else bytes(text)
    while pos < len(data):
        x, k, more = 0, 0, True
        while more:
            if pos >= len(data):
                raise ValueError(f"truncated RLE string {text!r}")
            c = data[pos] - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            pos += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def encode(mask):
    """(H, W) binary mask -> {'size': [H, W], 'counts': compressed string}."""
    mask = np.asarray(mask)
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts_to_string(run_lengths(mask))}


def decode(rle):
    """{'size': [H, W], 'counts': string or list} -> (H, W) uint8 mask."""
    height, width = rle["size"]
    counts = rle["counts"]
    if isinstance(counts, (str, bytes)):
        counts = string_to_counts(counts)
    if sum(counts) != height * width or min(counts, default=0) < 0:
        raise ValueError(f"RLE counts sum to {sum(counts)}, expected {height} x {width} = {height * width}")
    values = np.zeros(len(counts), dtype=np.uint8)
    values[1::2] = 1
    return np.repeat(values, counts).reshape((height, width), order="F")
