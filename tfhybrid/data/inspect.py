"""Validates TFRecord shards against the schema and prints counts per annotation type.

    python -m tfhybrid.data.inspect [--body_model MODEL] out/records [more shards, folders or globs ...]

Checks each record's framing and values (`schema.validate_serialized`; with `--body_model`, dense
vertex ids against its vertices) and decodes its images, which must be of the record's size.
Exits with status 1 when a record is corrupt, naming its shard and index.
"""
import glob
import os
import sys


def _expand(paths):
    files = []
    for path in paths:
        if os.path.isdir(path):
            files += sorted(glob.glob(os.path.join(path, "*.tfrecord")))
        elif any(c in path for c in "*?["):
            files += sorted(glob.glob(path))
        else:
            files.append(path)
    return files


def image_problems(feature):
    """Problems of a record's encoded images: undecodable, or not `image/size` square."""
    import cv2
    import numpy as np

    size = feature["image/size"].int64_list.value[0]
    problems = []
    for key, flag in (("image/encoded", None), ("iuv/encoded", "has_iuv"), ("seg/encoded", "has_seg")):
        if flag and not feature[flag].int64_list.value[0]:
            continue
        data = feature[key].bytes_list.value[0]
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if data else None
        if image is None:
            problems.append(f"'{key}' does not decode")
        elif image.shape[:2] != (size, size):
            problems.append(f"'{key}' is {image.shape[1]}x{image.shape[0]}, expected {size}x{size} ('image/size')")
    return problems


def inspect(paths, num_vertices=None):
    """Returns (per-dataset counts, list of (shard, index, problem))."""
    import tensorflow as tf

    from tfhybrid.data import schema

    counts, problems = {}, []
    for shard in _expand(paths):
        if not os.path.exists(shard):
            problems.append((shard, -1, "no such file"))
            continue
        index = -1
        try:
            for index, record in enumerate(tf.data.TFRecordDataset(shard).as_numpy_iterator()):
                issues = schema.validate_serialized(record, num_vertices)
                feature = None if issues else tf.train.Example.FromString(record).features.feature
                issues = issues or image_problems(feature)
                if issues:
                    problems.append((shard, index, "; ".join(issues)))
                    continue
                dataset = feature["source/dataset"].bytes_list.value[0].decode()
                row = counts.setdefault(dataset, {"records": 0, "dense_points": 0,
                                                  **{flag: 0 for flag in schema.ANNOTATION_FLAGS}})
                row["records"] += 1
                for flag in schema.ANNOTATION_FLAGS:
                    row[flag] += feature[flag].int64_list.value[0]
                row["dense_points"] += len(feature["dense/xy"].float_list.value) // 2
        except tf.errors.OpError as err:
            problems.append((shard, index + 1, f"unreadable record ({err.message.splitlines()[0]})"))
    return counts, problems


def format_counts(counts):
    from tfhybrid.data.schema import ANNOTATION_FLAGS

    lines = ["| dataset | records | " + " | ".join(ANNOTATION_FLAGS) + " | dense points / dense sample |",
             "|---|---|" + "---|" * (len(ANNOTATION_FLAGS) + 1)]
    for dataset, row in sorted(counts.items()):
        mean = row["dense_points"] / max(row["has_dense"], 1)
        lines.append(f"| {dataset} | {row['records']} | " + " | ".join(str(row[f]) for f in ANNOTATION_FLAGS) +
                     f" | {mean:.0f} |")
    return "\n".join(lines)


def main(argv):
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tfhybrid.data.inspect", description=__doc__.splitlines()[0])
    parser.add_argument("--body_model", help="body model the records were converted with (checks vertex ids)")
    parser.add_argument("paths", nargs="*", help="shards, folders or globs")
    args = parser.parse_args(argv[1:])
    if not args.paths:
        print(__doc__)
        return 2
    num_vertices = None
    if args.body_model:
        from tfhybrid.bodymodel import load_body_model

        num_vertices = load_body_model(args.body_model).num_vertices
    counts, problems = inspect(args.paths, num_vertices)
    if counts:
        print(format_counts(counts))
    for shard, index, problem in problems:
        print(f"CORRUPT {shard} record {index}: {problem}")
    total = sum(row["records"] for row in counts.values())
    print(f"{total} valid records, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
