"""Validates TFRecord shards against the schema and prints counts per annotation type.

    python -m tfhybrid.data.inspect out/records [more shards, folders or globs ...]

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


def inspect(paths):
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
                issues = schema.validate_serialized(record)
                if issues:
                    problems.append((shard, index, "; ".join(issues)))
                    continue
                feature = tf.train.Example.FromString(record).features.feature
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
    if len(argv) < 2:
        print(__doc__)
        return 2
    counts, problems = inspect(argv[1:])
    if counts:
        print(format_counts(counts))
    for shard, index, problem in problems:
        print(f"CORRUPT {shard} record {index}: {problem}")
    total = sum(row["records"] for row in counts.values())
    print(f"{total} valid records, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
