"""The TFRecord schema: one `tf.train.Example` per person crop, with every annotation it may have.

`encode_example(sample)` builds the Example from numpy values (converters); `FEATURES` is the
parsing spec (decoder); `validate_example` checks a parsed Example in Python (inspect, pipeline
guards). The table in docs/schema.md is generated from `FIELDS`.

Coordinates are crop pixels of the stored (size x size) crop: continuous, pixel centres at i + 0.5
(`tfhybrid.camera`). The crop-to-source transform is `source = box[:2] + crop * box[2] / size`.
"""
import numpy as np
import tensorflow as tf

from tfhybrid import conventions

SCHEMA_VERSION = 1
NUM_KEYPOINTS = len(conventions.COCOPLUS_JOINTS)
NUM_JOINTS_3D = len(conventions.H36M_JOINTS)
ANNOTATION_FLAGS = ("has_2d", "has_3d", "has_smpl", "has_dense", "has_iuv", "has_seg")
# Samples with fewer valid dense points carry none (converters drop them, the dense loss ignores them).
MIN_DENSE_POINTS = 10
# The variable-length dense rows: decoded name, record feature, row width. Each correspondence
# (vertex ids, barycentric weights) has a `_flipped` twin for the mirrored crop.
DENSE_FIELDS = (("dense_xy", "dense/xy", 2), ("dense_vertex_ids", "dense/vertex_ids", 3),
                ("dense_barycentric", "dense/barycentric", 3),
                ("dense_vertex_ids_flipped", "dense/vertex_ids_flipped", 3),
                ("dense_barycentric_flipped", "dense/barycentric_flipped", 3))
CORRESPONDENCES = ("dense_vertex_ids", "dense_barycentric")
GENDERS = ("", "male", "female")
# Fields added within schema version 1: records written before them read as these defaults.
OPTIONAL_FIELDS = {"smpl/gender": b""}

# name, kind, shape (None: variable length), meaning
FIELDS = (
    ("schema_version", "int", (), f"schema version ({SCHEMA_VERSION})"),
    ("source/dataset", "bytes", (), "dataset name, e.g. 'up-3d'"),
    ("source/id", "bytes", (), "unique id of the person in its dataset (the key of the 3D-fraction hash)"),
    ("source/image", "bytes", (), "source image path relative to the dataset root"),
    ("image/encoded", "bytes", (), "person crop, JPEG, size x size, RGB"),
    ("image/size", "int", (), "crop side in pixels"),
    ("crop/box", "float", (3,), "[x0, y0, side] of the crop in source pixels"),
    ("keypoints2d", "float", (NUM_KEYPOINTS, 3), "COCOplus-19 [x, y, visible] in crop pixels"),
    ("joints3d", "float", (NUM_JOINTS_3D, 3), "H36M-17 joints, metres, camera frame, pelvis-centred"),
    ("smpl/pose", "float", (72,), "SMPL axis-angle pose, root in the camera frame"),
    ("smpl/betas", "float", (10,), "SMPL shape"),
    ("smpl/gender", "bytes", (), "body model of the SMPL ground truth: 'male', 'female', or '' (neutral)"),
    ("dense/xy", "float", (None, 2), "dense keypoints in crop pixels"),
    ("dense/vertex_ids", "int", (None, 3), "body-model vertex ids of each dense keypoint's face"),
    ("dense/barycentric", "float", (None, 3), "barycentric weights of those vertices"),
    ("dense/vertex_ids_flipped", "int", (None, 3), "vertex ids for the horizontally mirrored crop"),
    ("dense/barycentric_flipped", "float", (None, 3), "barycentric weights for the mirrored crop"),
    ("iuv/encoded", "bytes", (), "IUV map PNG, size x size, channels (I, U, V) as stored (RGB order)"),
    ("seg/encoded", "bytes", (), "14-part segmentation PNG, one channel, labels 0..14"),
) + tuple((flag, "int", (), "1 if the sample carries this annotation") for flag in ANNOTATION_FLAGS)

_DTYPES = {"int": tf.int64, "float": tf.float32, "bytes": tf.string}


def _spec(name, kind, shape):
    if shape and shape[0] is None:
        return tf.io.VarLenFeature(_DTYPES[kind])
    return tf.io.FixedLenFeature(shape, _DTYPES[kind], default_value=OPTIONAL_FIELDS.get(name))


FEATURES = {name: _spec(name, kind, shape) for name, kind, shape, _ in FIELDS}


def _feature(kind, value):
    if kind == "bytes":
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
    flat = np.asarray(value).reshape(-1)
    if kind == "int":
        return tf.train.Feature(int64_list=tf.train.Int64List(value=flat.astype(np.int64).tolist()))
    return tf.train.Feature(float_list=tf.train.FloatList(value=flat.astype(np.float32).tolist()))


def empty_sample(size):
    """A sample dict with every field present and every annotation flag off."""
    return {"schema_version": SCHEMA_VERSION, "source/dataset": b"", "source/id": b"", "source/image": b"",
            "image/encoded": b"", "image/size": size, "crop/box": np.zeros(3),
            "keypoints2d": np.zeros((NUM_KEYPOINTS, 3)), "joints3d": np.zeros((NUM_JOINTS_3D, 3)),
            "smpl/pose": np.zeros(72), "smpl/betas": np.zeros(10), "smpl/gender": b"",
            "dense/xy": np.zeros((0, 2)), "dense/vertex_ids": np.zeros((0, 3), np.int64),
            "dense/barycentric": np.zeros((0, 3)), "dense/vertex_ids_flipped": np.zeros((0, 3), np.int64),
            "dense/barycentric_flipped": np.zeros((0, 3)), "iuv/encoded": b"", "seg/encoded": b"",
            **{flag: 0 for flag in ANNOTATION_FLAGS}}


def encode_example(sample):
    """Serialises a sample dict (keys of `FIELDS`) after checking every field."""
    problems = check_sample(sample)
    if problems:
        raise ValueError(f"sample {sample.get('source/id')!r}: " + "; ".join(problems))
    features = {}
    for name, kind, _, _ in FIELDS:
        value = sample[name]
        if kind == "bytes" and isinstance(value, str):
            value = value.encode("utf-8")
        features[name] = _feature(kind, value)
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def check_sample(sample):
    """Problems with a sample dict (empty when valid): missing fields, shapes, NaNs, flags."""
    problems = []
    for name, kind, shape, _ in FIELDS:
        if name not in sample:
            problems.append(f"missing field '{name}'")
            continue
        if kind == "bytes":
            continue
        value = np.asarray(sample[name])
        if shape and shape[0] is None:
            ok = value.ndim == 2 and value.shape[1] == shape[1]
        else:
            ok = value.shape == tuple(shape)
        if not ok:
            problems.append(f"field '{name}' has shape {value.shape}, expected {shape}")
        elif kind == "float" and not np.all(np.isfinite(value)):
            problems.append(f"field '{name}' has NaN or infinite values")
    if problems:
        return problems
    n = np.asarray(sample["dense/xy"]).shape[0]
    for name in ("dense/vertex_ids", "dense/barycentric", "dense/vertex_ids_flipped", "dense/barycentric_flipped"):
        if np.asarray(sample[name]).shape[0] != n:
            problems.append(f"field '{name}' has {np.asarray(sample[name]).shape[0]} rows, 'dense/xy' has {n}")
    for flag, field in (("has_iuv", "iuv/encoded"), ("has_seg", "seg/encoded")):
        if sample[flag] and not sample[field]:
            problems.append(f"'{flag}' is set but '{field}' is empty")
    gender = sample["smpl/gender"]
    if (gender.decode() if isinstance(gender, bytes) else gender) not in GENDERS:
        problems.append(f"'smpl/gender' is {gender!r}, expected one of {GENDERS}")
    if sample["has_dense"] and n == 0:
        problems.append("'has_dense' is set but there are no dense points")
    if not sample["image/encoded"]:
        problems.append("'image/encoded' is empty")
    return problems


def validate_serialized(data, num_vertices=None):
    """Parses serialized Example bytes in Python and returns a list of problems (empty: valid).

    Checks framing (features, counts) and the values that are cheap to check: finite floats, flags
    0 or 1, keypoint visibility 0 or 1, dense vertex ids within the body model (`num_vertices`, when
    given) and dense rows of equal count. Images are not decoded (`tfhybrid.data.inspect` does).
    """
    try:
        example = tf.train.Example.FromString(data)
    except Exception as err:  # protobuf raises its own DecodeError
        return [f"not a tf.train.Example ({type(err).__name__})"]
    feature = example.features.feature
    problems = []
    for name, kind, shape, _ in FIELDS:
        if name not in feature:
            if name not in OPTIONAL_FIELDS:
                problems.append(f"missing feature '{name}'")
            continue
        values = getattr(feature[name], {"int": "int64_list", "float": "float_list", "bytes": "bytes_list"}[kind]).value
        expected = int(np.prod(shape)) if shape and shape[0] is not None else None
        if kind == "bytes" or not shape:
            expected = 1
        if expected is not None and len(values) != expected:
            problems.append(f"feature '{name}' has {len(values)} values, expected {expected}")
        elif shape and shape[0] is None and len(values) % shape[1]:
            problems.append(f"feature '{name}' has {len(values)} values, not a multiple of {shape[1]}")
        elif kind == "float" and values and not np.all(np.isfinite(np.asarray(values, np.float32))):
            problems.append(f"feature '{name}' has NaN or infinite values")
    if problems:
        return problems
    if feature["schema_version"].int64_list.value[0] != SCHEMA_VERSION:
        return [f"schema_version {feature['schema_version'].int64_list.value[0]}, expected {SCHEMA_VERSION}"]
    return _value_problems(feature, num_vertices)


def _value_problems(feature, num_vertices):
    problems = [f"'{flag}' is {feature[flag].int64_list.value[0]}, expected 0 or 1" for flag in ANNOTATION_FLAGS
                if feature[flag].int64_list.value[0] not in (0, 1)]
    if "smpl/gender" in feature and feature["smpl/gender"].bytes_list.value[0].decode("utf-8", "replace") not in GENDERS:
        problems.append(f"'smpl/gender' is {feature['smpl/gender'].bytes_list.value[0]!r}, expected one of {GENDERS}")
    if feature["image/size"].int64_list.value[0] <= 0:
        problems.append(f"'image/size' is {feature['image/size'].int64_list.value[0]}, expected a positive size")
    visibility = np.asarray(feature["keypoints2d"].float_list.value).reshape(-1, 3)[:, 2]
    if not np.all((visibility == 0) | (visibility == 1)):
        problems.append("'keypoints2d' visibility must be 0 or 1")
    rows = {name: len(getattr(feature[key], "int64_list" if "ids" in key else "float_list").value) // width
            for name, key, width in DENSE_FIELDS}
    if len(set(rows.values())) > 1:
        problems.append(f"dense rows differ in count: {rows}")
    for key in ("dense/vertex_ids", "dense/vertex_ids_flipped"):
        ids = np.asarray(feature[key].int64_list.value)
        if ids.size and (ids.min() < 0 or (num_vertices is not None and ids.max() >= num_vertices)):
            bound = f"0..{num_vertices - 1}" if num_vertices is not None else "non-negative"
            problems.append(f"'{key}' holds ids {ids.min()}..{ids.max()}, expected {bound} (body-model vertices)")
    return problems


def markdown_table():
    """The schema as a markdown table (docs/schema.md)."""
    lines = ["| feature | type | shape | meaning |", "|---|---|---|---|"]
    for name, kind, shape, meaning in FIELDS:
        shape_text = "scalar" if not shape else str(tuple("N" if s is None else s for s in shape)).replace("'", "")
        lines.append(f"| `{name}` | {kind} | {shape_text} | {meaning} |")
    return "\n".join(lines)
