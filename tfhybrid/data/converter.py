"""The shared base of the dataset converters: crop, map dense points, refine IUV, write shards.

A converter subclass only knows its dataset's files (see `Converter` for the contract):
`list_samples()` returns a `SampleRef` per person and `load(ref)` reads it into a `SourceSample`.
The base turns each into a schema Example: square crop with margin, keypoints and dense points moved into the crop,
dense points mapped to body-model vertices (and their mirrored correspondences), optional
DensePose IUV input (refined with the keypoints) and dense points sampled from it.

Output: `OUT/<dataset>-<split>-NNNNN-of-MMMMM.tfrecord` plus `OUT/manifest.json`. Shards are
written atomically by parallel workers; a rerun keeps the shards finished with the same options,
removes a killed run's partial files, and refuses shards of another conversion (other options or
shard count) rather than mixing them.
"""
import concurrent.futures
import dataclasses
import functools
import hashlib
import json
import multiprocessing
import os
import sys
import time

import cv2
import numpy as np

from tfhybrid import camera, conventions
from tfhybrid.fileio import atomic_write, encode_image, write_bytes


class SkipSample(Exception):
    """This sample cannot be converted; the message is the reason recorded in the manifest."""


@dataclasses.dataclass(frozen=True)
class SampleRef:
    """One person of a dataset, as `list_samples` finds it: its unique id in the dataset and what
    `load` needs to read it (dataset-specific; small and picklable, since it travels to worker
    processes)."""

    source_id: str
    where: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class SourceSample:
    """One person in a source image, in source-image pixels.

    Attributes:
      source_id: unique id within the dataset; image_path: path relative to the dataset root;
      image: (H, W, 3) uint8 RGB; bbox: (x, y, w, h) person box; keypoints: (19, 3) COCOplus
      [x, y, visible]; joints3d: (17, 3) H36M joints (camera frame, pelvis-centred) or None;
      smpl: (pose (72,), betas (10,)) or None; gender: the SMPL ground truth's body model ('male',
      'female'; None: neutral); dense: dict with 'xy' (N, 2), 'parts', 'u', 'v'
      (annotated DensePose points) or None; iuv_name: name of its DensePose prediction.
    """

    source_id: str
    image_path: str
    image: np.ndarray
    bbox: tuple
    keypoints: np.ndarray
    joints3d: np.ndarray = None
    smpl: tuple = None
    gender: str = None
    dense: dict = None
    iuv_name: str = None


@dataclasses.dataclass(frozen=True)
class Options:
    """What every converter takes (the flags of `tools/convert_*.py`)."""

    src: str
    split: str
    out: str
    body_model: str
    uv_table: str
    iuv_dir: str = None
    refine_iuv: bool = False
    size: int = 224
    margin: float = 1.2
    samples_per_shard: int = 256
    workers: int = 0
    dense_points: int = 125
    uv_noise: float = 0.0      # Gaussian sigma on the 0..255 scale (the study's Fig. 5)
    seed: int = 0


def read_image(path):
    """(H, W, 3) uint8 RGB, or `SkipSample` naming the file when it is missing, unreadable or a
    truncated JPEG (which OpenCV would decode with its missing part grey)."""
    if not os.path.exists(path):
        raise SkipSample(f"missing image {path}")
    with open(path, "rb") as f:
        data = f.read()
    # Entropy-coded JPEG data never holds FF D9 (0xFF bytes are stuffed): without it the file is cut short.
    if data[:3] == b"\xff\xd8\xff" and data.rfind(b"\xff\xd9") < 0:
        raise SkipSample(f"truncated JPEG {path} (no end-of-image marker)")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise SkipSample(f"unreadable image {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


MIN_BOX_INSIDE = 0.25      # of a person box's area that must lie inside the image


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=4)
def load_geometry(body_model, uv_table):
    """(BodyModel, UVTable, IUVLookup) for a body model and `UV_Processed.mat` (with
    `UV_symmetry_transforms.mat` from the same folder when present)."""
    from tfhybrid.bodymodel import load_body_model
    from tfhybrid.densepose import IUVLookup, load_uv_table

    model = load_body_model(body_model)
    symmetry = os.path.join(os.path.dirname(uv_table), "UV_symmetry_transforms.mat")
    table = load_uv_table(uv_table, symmetry if os.path.exists(symmetry) else None)
    if table.body_vertex.max() >= model.num_vertices:
        raise ValueError(f"{uv_table} refers to body vertex {table.body_vertex.max()} but {body_model} has "
                         f"{model.num_vertices} vertices")
    return model, table, IUVLookup(table)


class Converter:
    """Base class of the dataset converters.

    Subclasses set `name` (the dataset name in the records) and `split_names`, and implement:
      * `list_samples() -> [SampleRef]`: every person of the split, in a fixed order, read in the
        main process; an unreadable or malformed annotation file raises ValueError naming it;
      * `load(ref) -> SourceSample`: the person's image and annotations, in a worker process; a
        sample that cannot be used raises `SkipSample(reason)` (recorded in the manifest);
      * `source_files() -> [path]`: the annotation files whose checksums go into the manifest.
    """

    name = "dataset"
    split_names = ("train", "test")

    def __init__(self, options):
        if options.split not in self.split_names:
            raise ValueError(f"{self.name}: unknown split {options.split!r}; expected one of {self.split_names}")
        self.options = options

    # Dataset-specific -----------------------------------------------------------------------
    def list_samples(self):
        raise NotImplementedError

    def load(self, ref):
        raise NotImplementedError

    def source_files(self):
        """Annotation files whose checksums go into the manifest."""
        return []

    # Shared machinery ----------------------------------------------------------------------
    @property
    def geometry(self):
        """Body model, UV table and its lookup (built once per process and files)."""
        return load_geometry(self.options.body_model, self.options.uv_table)

    def convert(self, source):
        """A schema sample dict for one `SourceSample` (raises `SkipSample`)."""
        from tfhybrid.data import schema

        opts = self.options
        image = source.image
        height, width = image.shape[:2]
        keypoints = np.asarray(source.keypoints, np.float64)
        if not np.all(np.isfinite(keypoints)):
            raise SkipSample("keypoints contain NaN")
        visible = keypoints[:, 2] > 0
        xy = keypoints[visible, :2]
        if np.any((xy < -0.5) | (xy > [width + 0.5, height + 0.5])):
            raise SkipSample("visible keypoints lie outside the image")
        if source.smpl is not None and not all(np.all(np.isfinite(a)) for a in source.smpl):
            raise SkipSample("SMPL parameters contain NaN")
        if source.joints3d is not None and not np.all(np.isfinite(source.joints3d)):
            raise SkipSample("3D joints contain NaN")
        x, y, w, h = source.bbox
        if not (np.all(np.isfinite(source.bbox)) and w > 1 and h > 1):
            raise SkipSample(f"degenerate person box {source.bbox}")
        inside = max(0.0, min(x + w, width) - max(x, 0.0)) * max(0.0, min(y + h, height) - max(y, 0.0))
        if inside < MIN_BOX_INSIDE * w * h:
            raise SkipSample(f"person box {tuple(round(float(v), 1) for v in source.bbox)} lies mostly outside the "
                             f"{width}x{height} image")
        box = camera.square_box(np.array([x, y, w, h]), opts.margin)
        matrix = camera.crop_matrix(box, opts.size)
        warp = camera.cv2_warp_matrix(matrix)
        crop = cv2.warpAffine(image, warp, (opts.size, opts.size), flags=cv2.INTER_LINEAR, borderValue=0)
        kp = keypoints.copy()
        kp[:, :2] = camera.apply_affine(kp[:, :2], matrix)
        inside = np.all((kp[:, :2] >= 0) & (kp[:, :2] <= opts.size), axis=1)
        kp[:, 2] = np.where(inside & (kp[:, 2] > 0), 1.0, 0.0)
        kp[kp[:, 2] == 0, :2] = 0.0
        sample = schema.empty_sample(opts.size)
        sample.update({"source/dataset": self.name, "source/id": source.source_id, "source/image": source.image_path,
                       "image/encoded": encode_image(crop, ".jpg", jpeg_quality=95), "crop/box": box,
                       "keypoints2d": kp, "has_2d": int(kp[:, 2].sum() > 0)})
        if source.smpl is not None:
            sample.update({"smpl/pose": source.smpl[0], "smpl/betas": source.smpl[1][:10], "has_smpl": 1,
                           "smpl/gender": source.gender or ""})
        if source.joints3d is not None:
            sample.update({"joints3d": source.joints3d, "has_3d": 1})
        iuv = self._iuv_crop(source, warp, kp)
        if iuv is not None:
            sample.update({"iuv/encoded": encode_image(iuv, ".png"),
                           "seg/encoded": encode_image(conventions.FINE_TO_COARSE[iuv[..., 0]], ".png"),
                           "has_iuv": 1, "has_seg": 1})
        dense = self._dense(source, matrix, iuv)
        if dense is not None and dense["xy"].shape[0] >= schema.MIN_DENSE_POINTS:
            sample.update({"dense/xy": dense["xy"], "dense/vertex_ids": dense["vertex_ids"],
                           "dense/barycentric": dense["barycentric"], "dense/vertex_ids_flipped": dense["flipped_ids"],
                           "dense/barycentric_flipped": dense["flipped_barycentric"], "has_dense": 1})
        return sample

    def _iuv_crop(self, source, warp, keypoints_crop):
        opts = self.options
        if not opts.iuv_dir or source.iuv_name is None:
            return None
        path = os.path.join(opts.iuv_dir, source.iuv_name)
        if not os.path.exists(path):
            raise SkipSample(f"missing DensePose prediction {path}")
        from tfhybrid.densepose import person_iuv

        try:
            full = person_iuv(path, source.bbox, source.image.shape[:2])
        except ValueError as error:
            raise SkipSample(str(error)) from None
        iuv = cv2.warpAffine(full, warp, (opts.size, opts.size), flags=cv2.INTER_NEAREST, borderValue=0)
        if opts.refine_iuv:
            from tfhybrid.densepose import refine_iuv

            iuv, _ = refine_iuv(iuv, keypoints_crop)
        if opts.uv_noise > 0:
            iuv = iuv.copy()
            foreground = iuv[..., 0] > 0
            noise = self._noise_rng(source, "iuv").normal(0.0, opts.uv_noise, (int(foreground.sum()), 2))
            iuv[foreground, 1:] = np.clip(np.rint(iuv[foreground, 1:] + noise), 0, 255).astype(np.uint8)
        return iuv

    def _noise_rng(self, source, what):
        """A generator fixed by the sample and the purpose, so reconversion reproduces the noise."""
        digest = hashlib.sha256(f"{source.source_id}/{what}/{self.options.seed}".encode()).hexdigest()
        return np.random.default_rng(int(digest[:16], 16))

    def _dense(self, source, matrix, iuv):
        from tfhybrid.densepose import iuv_to_barycentric, sample_dense_points, symmetric_points

        _, table, lookup = self.geometry
        size = self.options.size
        if source.dense is not None:
            points = source.dense
            xy = camera.apply_affine(points["xy"], matrix)
            parts, u, v = (np.asarray(points[k]) for k in ("parts", "u", "v"))
            keep = np.all((xy >= 0) & (xy < size), axis=1)
            if iuv is not None and self.options.refine_iuv:
                col, row = np.clip(xy.astype(np.int64), 0, size - 1).T
                keep &= iuv[row, col, 0] > 0                       # DCT drops points on refined background
            xy, parts, u, v = xy[keep], parts[keep], u[keep], v[keep]
            if self.options.uv_noise > 0:
                noise = self._noise_rng(source, "dense").normal(0.0, self.options.uv_noise / 255.0, (2, parts.size))
                u, v = np.clip(u + noise[0], 0.0, 1.0), np.clip(v + noise[1], 0.0, 1.0)
            _, vertex_ids, bary = iuv_to_barycentric(table, parts, u, v)
        elif iuv is not None:
            seed = int(hashlib.sha256(source.source_id.encode()).hexdigest()[:8], 16) ^ self.options.seed
            drawn = sample_dense_points(iuv, self.options.dense_points, seed=seed, lookup=lookup)
            xy, parts, u, v = drawn["xy"], drawn["parts"], drawn["u"], drawn["v"]
            vertex_ids, bary = drawn["vertex_ids"], drawn["barycentric"]
        else:
            return None
        if parts.size == 0:
            return None
        mirrored = symmetric_points(table, parts, u, v)
        _, flipped_ids, flipped_bary = iuv_to_barycentric(table, *mirrored)
        return {"xy": xy, "vertex_ids": vertex_ids, "barycentric": bary, "flipped_ids": flipped_ids,
                "flipped_barycentric": flipped_bary}

    # Shards -----------------------------------------------------------------------------------
    def shard_path(self, k, count):
        return os.path.join(self.options.out, f"{self.name}-{self.options.split}-{k:05d}-of-{count:05d}.tfrecord")

    def write_shard(self, k, count, refs):
        """Converts one shard's samples; returns its summary (also saved for resuming)."""
        import tensorflow as tf

        from tfhybrid.data import schema

        path = self.shard_path(k, count)
        skipped, written = [], 0

        def write(tmp):
            nonlocal written
            with tf.io.TFRecordWriter(tmp) as writer:
                for ref in refs:
                    try:
                        sample = self.convert(self.load(ref))
                    except SkipSample as err:
                        skipped.append({"sample": ref.source_id, "reason": str(err)})
                        continue
                    writer.write(schema.encode_example(sample))
                    written += 1

        atomic_write(path, write)
        summary = {"shard": os.path.basename(path), "written": written, "skipped": skipped,
                   "options": self.options_record()}
        write_bytes(_summary_path(path), json.dumps(summary).encode())
        return summary

    def options_record(self):
        """The options that decide the records' content (compared when a conversion is resumed)."""
        opts = self.options
        return {"size": opts.size, "margin": opts.margin, "iuv_dir": opts.iuv_dir, "refine_iuv": opts.refine_iuv,
                "dense_points": opts.dense_points, "uv_noise": opts.uv_noise, "seed": opts.seed,
                "samples_per_shard": opts.samples_per_shard, "body_model": opts.body_model, "uv_table": opts.uv_table}

    def _finished_shards(self, count):
        """{k: summary} of this split's shards already converted into OUT with the same options;
        shards of another conversion (other options, another shard count) stop the run, and the
        partial files of a killed conversion are removed."""
        from tfhybrid.fileio import TEMPORARY_PREFIX

        out, prefix = self.options.out, f"{self.name}-{self.options.split}-"
        for name in os.listdir(out):
            if name.startswith(f"{TEMPORARY_PREFIX}{prefix}") or name.startswith(f"{TEMPORARY_PREFIX}.{prefix}"):
                os.remove(os.path.join(out, name))
        wanted = {os.path.basename(self.shard_path(k, count)): k for k in range(count)}
        current, finished = self.options_record(), {}
        for name in sorted(os.listdir(out)):
            if not (name.startswith(prefix) and name.endswith(".tfrecord")):
                continue
            path = os.path.join(out, name)
            if name not in wanted:
                raise ValueError(f"{path} belongs to another conversion of {self.name} {self.options.split} (another "
                                 f"shard count); write into another --out, or remove that conversion's shards")
            if not os.path.exists(_summary_path(path)):
                continue                                   # killed between the shard and its summary: redone
            with open(_summary_path(path)) as f:
                summary = json.load(f)
            differ = {k: (summary.get("options", {}).get(k), v) for k, v in current.items()
                      if summary.get("options", {}).get(k) != v}
            if differ:
                lines = ", ".join(f"{k} {old!r} there, {new!r} now" for k, (old, new) in differ.items())
                raise ValueError(f"{path} was converted with other options ({lines}); write into another --out, "
                                 "or remove that conversion's shards")
            finished[wanted[name]] = summary
        return finished

    def run(self):
        """Converts the split; returns the manifest entry."""
        opts = self.options
        os.makedirs(opts.out, exist_ok=True)
        refs = self.list_samples()
        count = max(1, -(-len(refs) // opts.samples_per_shard))
        chunks = [refs[k * opts.samples_per_shard:(k + 1) * opts.samples_per_shard] for k in range(count)]
        summaries = self._finished_shards(count)
        todo = [k for k in range(count) if k not in summaries]
        workers = min(opts.workers or os.cpu_count() or 1, max(len(todo), 1))
        start = time.time()
        if workers == 1:
            for done, k in enumerate(todo, 1):
                summaries[k] = self.write_shard(k, count, chunks[k])
                _progress(done, len(todo), start)
        elif todo:
            context = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
                futures = {pool.submit(_write_shard_task, type(self), opts, k, count, chunks[k]): k for k in todo}
                for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
                    summaries[futures[future]] = future.result()
                    _progress(done, len(todo), start)
        entry = {"dataset": self.name, "split": opts.split, "samples": len(refs),
                 "written": sum(s["written"] for s in summaries.values()),
                 "skipped": [item for k in sorted(summaries) for item in summaries[k]["skipped"]],
                 "shards": [summaries[k]["shard"] for k in sorted(summaries)],
                 "options": {"size": opts.size, "margin": opts.margin, "iuv_dir": opts.iuv_dir,
                             "refine_iuv": opts.refine_iuv, "dense_points": opts.dense_points,
                             "uv_noise": opts.uv_noise},
                 "sources": {os.path.relpath(p, opts.src): sha256(p) for p in self.source_files()}}
        update_manifest(opts.out, entry)
        return entry


def _summary_path(shard_path):
    directory, name = os.path.split(shard_path)
    return os.path.join(directory, f".{name}.json")


def _write_shard_task(cls, options, k, count, refs):
    from tfhybrid.tf_startup import quiet_import

    quiet_import()                     # each worker process imports TensorFlow for its TFRecord writer
    return cls(options).write_shard(k, count, refs)


def _progress(done, total, start):
    rate = done / max(time.time() - start, 1e-9)
    sys.stderr.write(f"\rshards {done}/{total} ({rate:.2f}/s)" + ("\n" if done == total else ""))
    sys.stderr.flush()


def update_manifest(out, entry):
    """Merges one dataset-split entry into `OUT/manifest.json` (atomic read-modify-write)."""
    from tfhybrid.data.schema import SCHEMA_VERSION

    path = os.path.join(out, "manifest.json")
    manifest = {"schema_version": SCHEMA_VERSION, "entries": {}}
    if os.path.exists(path):
        with open(path) as f:
            manifest = json.load(f)
        if manifest.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"{path}: schema_version {manifest.get('schema_version')} differs from "
                             f"{SCHEMA_VERSION}; write the new shards into another folder")
    manifest["entries"][f"{entry['dataset']}-{entry['split']}"] = entry
    write_bytes(path, json.dumps(manifest, indent=1).encode())
