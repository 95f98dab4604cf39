"""Generation of the whole synthetic world (the library behind `tools/make_synthetic.py`).

Every sample is a pure function of (seed, dataset, index), so the output is the same, byte for
byte, whatever the number of worker processes.
"""
import concurrent.futures
import json
import multiprocessing
import os

from tfhybrid.fileio import write_bytes, write_image
from tfhybrid.progress import ProgressBar
from tfhybrid.synthetic import preview
from tfhybrid.synthetic.model_files import write_model_files
from tfhybrid.synthetic.world import DATASETS, World
from tfhybrid.synthetic.writers import coco, h36m, pw3d, up3d

WRITERS = {"up-3d": up3d, "coco": coco, "h36m": h36m, "3dpw": pw3d}

_WORLD = None


def _init_worker(out, seed, size):
    global _WORLD
    _WORLD = World(out, seed, size)


def _render(task):
    dataset, index = task
    return dataset, WRITERS[dataset].render_sample(_WORLD, index)


def make_world(out, num, seed=0, size=224, workers=0, datasets=DATASETS, preview_path=None):
    """Writes the world; returns {dataset: records}."""
    for name in datasets:
        if name not in WRITERS:
            raise ValueError(f"unknown dataset {name!r}; expected some of {list(WRITERS)}")
    world = World(out, seed, size)
    write_model_files(world.toy, out)
    tasks = [(name, i) for name in datasets for i in range(num)]
    records = {name: [] for name in datasets}
    workers = workers or os.cpu_count() or 1
    progress = ProgressBar(len(tasks), "samples")
    if workers == 1:
        _init_worker(out, seed, size)
        for done, task in enumerate(tasks, 1):
            name, record = _render(task)
            records[name].append(record)
            progress.update(done)
    else:
        context = multiprocessing.get_context("fork")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                                    initargs=(out, seed, size)) as pool:
            futures = [pool.submit(_render, task) for task in tasks]
            for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
                name, record = future.result()
                records[name].append(record)
                progress.update(done)
    for name in datasets:
        WRITERS[name].finish(world, records[name])
    counts = {name: len(records[name]) for name in datasets}
    write_bytes(os.path.join(out, "world.json"),
                json.dumps({"seed": seed, "size": size, "num": num, "samples": counts}, indent=1).encode())
    if preview_path:
        entries = [r["preview"] for name in datasets for r in sorted(records[name], key=lambda r: r["index"])[:2]]
        write_image(preview_path, preview.contact_sheet(out, entries))
    return records
