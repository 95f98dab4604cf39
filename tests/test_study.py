"""The study runner's bookkeeping: planning, resume, seeds, tables, plots and the docs block.

The end-to-end test trains the `micro` profile (a handful of steps) through the real worker."""
import csv
import dataclasses
import glob
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tfhybrid.study import benchmark as benchmark_lib
from tfhybrid.study import experiments, oracle, paper, profiles, report, runner, worker

MICRO = dataclasses.replace(profiles.get("micro"), pretrain_steps=0)     # bookkeeping without the pre-training
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _bench(tmp_path):
    return benchmark_lib.Benchmark(str(tmp_path / "benchmark"), MICRO)


def _fake_result(run, pve):
    os.makedirs(os.path.join(run.folder, "model"), exist_ok=True)
    metrics = {"up-3d-test": {"PVE": pve, "MPJPE": pve - 10, "PVE-T": 30.0, "PA-MPJPE": pve / 2},
               "up-3d-val": {"PVE": pve + 1, "MPJPE": pve - 9}, "coco-minival": {"DKD": 5.0}}
    curve = [{"step": step, "metrics": {"up-3d": {"PVE": pve + 1 + 400.0 / step}}} for step in (100, 200, 300, 400)]
    with open(run.result_path, "w") as f:
        json.dump({"flags": run.flags, "metrics": metrics, "curve": curve, "train_seconds": 1.0, "eval_seconds": 0.0}, f)


def test_equal_trainings_share_one_run(tmp_path):
    chosen = list(experiments.EXPERIMENTS.values())
    runs = runner.plan(chosen, MICRO, _bench(tmp_path), str(tmp_path / "runs"), seeds=[0])
    assert sum(len(e.cells) for e in chosen) == 52 and len(runs) == 47
    shared = {run.key: sorted((name, c.row, c.column) for name, c in run.cells) for run in runs if len(run.cells) > 1}
    assert sorted(shared.values()) == [
        [("fig4", "image", "0"), ("table3", "image", "2d")],
        [("fig4", "image", "100"), ("table3", "image", "3d_2d")],
        [("fig5", "image", "0"), ("fig6", "image", "100"), ("refine", "image", "refined"),
         ("table3", "image", "dense_2d")]]


def test_canonical_flags_and_keys(tmp_path):
    bench = _bench(tmp_path)
    cell = experiments.get("fig4").cells[-1]                     # 0% paired 3D
    assert cell.flags["use_3d"] is False and cell.flags["fraction_3d"] == 1.0
    assert cell.flags["dense_weight"] == 1.0 and cell.flags["use_dense"] is False
    shape_only = [c for c in experiments.get("table4").cells if c.column == "shape"][0]
    assert shape_only.flags["joints3d_weight"] == 0.0 and shape_only.flags["smpl_terms"] == "shape"
    flags0, flags1 = (runner.run_flags(MICRO, bench, cell, s) for s in (0, 1))
    assert runner.config_hash(flags0) == runner.config_hash(flags1)          # the seed is not in the hash
    runs = runner.plan([experiments.get("fig4")], MICRO, bench, str(tmp_path), seeds=[0, 1])
    assert len(runs) == 16 and len({r.key for r in runs}) == 16
    # The claimed cells (20%, 100%, 1%, 0%) first, then the others; each every seed once before any twice.
    claimed = [(c, s) for s in (0, 1) for c in ("100", "20", "1", "0")]
    assert [(r.cells[0][1].column, r.seed) for r in runs[:8]] == claimed
    assert [r.seed for r in runs[8:]] == [0] * 4 + [1] * 4
    noisy = [c for c in experiments.get("fig5").cells if c.column == "20"][0]
    assert "records/uv_noise_20/up-3d-train-" in runner.run_flags(MICRO, bench, noisy, 0)["train_data"][0]
    assert runner.plan([experiments.get("table3")], MICRO, bench, str(tmp_path), [0], only_input="iuv")[0].flags[
        "input"] == "iuv"


def test_flagfile_lines():
    values = {**MICRO.train, **experiments.get("table3").cells[1].flags, "train_data": ["0.5:a-*.tfrecord",
                                                                                    "0.5:b-*.tfrecord"]}
    text = runner.flagfile_text(values, "m")
    assert "--use_dense\n" in text and "--use_3d\n" in text and "--fraction_3d=0.2\n" in text
    assert "--nouse_3d" in runner.flagfile_text(experiments.get("table3").cells[3].flags, "m")
    assert text.count("--train_data=") == 2 and "--datasets_3d=up-3d" in text and "--model_dir=m" in text


def test_execute_skips_finished_runs_and_stops_on_failure(tmp_path):
    runs = runner.plan([experiments.get("refine")], MICRO, _bench(tmp_path), str(tmp_path / "runs"), seeds=[0, 1])
    launched = []

    def launcher(run, eval_sets, baseline, slot):
        launched.append(run.key)
        _fake_result(run, 100.0)
        return 0

    archived = []
    assert runner.execute(runs, {}, "b.json", [{}], launcher=launcher, log=lambda *a: None,
                          on_finished=lambda run: archived.append(run.key)) == []
    assert len(launched) == 6 and archived == launched                      # each one as soon as it finished
    assert runner.execute(runs, {}, "b.json", [{}], launcher=launcher, log=lambda *a: None) == []
    assert len(launched) == 6                                                # all finished: nothing relaunched
    os.remove(runs[2].result_path)
    runner.execute(runs, {}, "b.json", [{}], launcher=launcher, log=lambda *a: None)
    assert launched[6:] == [runs[2].key]

    for run in runs:
        os.remove(run.result_path)
    calls = []
    failed = runner.execute(runs, {}, "b.json", [{}], launcher=lambda *a: calls.append(1) or 3, log=lambda *a: None)
    assert len(failed) == 1 and len(calls) == 1                              # the first failure stops the rest
    calls.clear()
    failed = runner.execute(runs, {}, "b.json", [{}], keep_going=True, launcher=lambda *a: calls.append(1) or 3,
                            log=lambda *a: None, on_finished=lambda run: archived.append(run.key))
    assert len(failed) == 6 and len(calls) == 6 and len(archived) == 6      # failed runs are not archived


def test_device_slots():
    assert runner.device_slots(MICRO, 0) == [{}]
    assert runner.device_slots(MICRO, 1) == [{}]
    assert [s["CUDA_VISIBLE_DEVICES"] for s in runner.device_slots(MICRO, 3)] == ["0", "1", "2"]
    assert runner.device_slots(profiles.get("paper"), 4) == [{}]             # paper runs mirror over all GPUs
    # Two 1-thread runs side by side train 1.3x faster than one 2-thread run on 2 cores (docs/results.md).
    assert runner.device_slots(profiles.get("cpu"), 0, cpu_count=2) == [{"--threads": "1"}, {"--threads": "1"}]
    assert runner.device_slots(profiles.get("cpu"), 0, cpu_count=16) == [{"--threads": "8"}] * 2
    assert runner.device_slots(profiles.get("cpu"), 0, cpu_count=1) == [{}]
    assert len(runner.device_slots(profiles.get("cpu"), 2)) == 2 and "CUDA_VISIBLE_DEVICES" in runner.device_slots(
        profiles.get("cpu"), 2)[0]


def test_tables_seeds_and_plots(tmp_path):
    bench = _bench(tmp_path)
    runs_dir = str(tmp_path / "runs")
    chosen = [experiments.get("table3"), experiments.get("fig4")]
    runs = runner.plan(chosen, MICRO, bench, runs_dir, seeds=[0, 1, 2])
    pves = {}
    for run in runs:
        name, cell = run.cells[0]
        if cell.input == "image":
            pves[run.key] = 150.0 + 10 * run.seed + len(cell.column)
            _fake_result(run, pves[run.key])
    (tmp_path / "baseline.json").write_text(json.dumps({"up-3d-test": {"PVE": 200.0, "MPJPE": 190.0, "PVE-T": 40.0}}))
    readme = tmp_path / "README.md"
    readme.write_text("# Project\n\nintro\n\n" + "\n".join(report.summary_markers("micro")) + "\n\nafter\n")
    entries = report.write_report(str(tmp_path), chosen, MICRO, bench, runs_dir, summaries=[str(readme)])
    with open(tmp_path / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(entries) == 3 * (5 + 8)
    agg = report.aggregate(entries)
    mean, std, n = agg[("table3", "image", "2d")]["PVE"]
    expected = [150.0 + 10 * s + 2 for s in range(3)]
    assert n == 3 and mean == pytest.approx(np.mean(expected)) and std == pytest.approx(np.std(expected, ddof=1))
    assert agg[("fig4", "image", "0")]["PVE"] == agg[("table3", "image", "2d")]["PVE"]   # one shared run
    text = (tmp_path / "results.md").read_text()
    row = [line for line in text.splitlines() if line.startswith("| image |")][0].rstrip(" |").split(" | ")
    assert row[5] == f"{np.mean(expected):.1f}±{np.std(expected, ddof=1):.1f} / " \
                     f"{np.mean(expected) - 10:.1f}±{np.std(expected, ddof=1):.1f} / 30.0±0.0"
    assert "| IUV | – | – | – | – | – |" in text and "*123.7 / 105.9 / 30.9*" in text
    claims = {line.split(" | ")[0][2:]: line for line in report.claims_markdown(agg).splitlines()[2:]}
    dense = agg[("table3", "image", "dense_2d")]["PVE"][0]
    assert f"| {100 * (dense - mean) / mean:+.1f}% (PVE {dense:.1f} vs {mean:.1f})" in \
        claims["dense + 2D beats 2D only (image input)"]
    assert "not run yet" in claims["refined IUV beats raw IUV (dense + 2D)"]
    # The rule reads a claim only between cells whose curves have flattened.
    unread = {line.split(" | ")[0][2:]: line for line in report.claims_markdown(
        agg, {("table3", "image", "dense_2d"): 0.05, ("table3", "image", "2d"): 0.01}).splitlines()[2:]}
    judged = claims["dense + 2D beats 2D only (image input)"].rsplit(" | ", 1)[1].rstrip(" |")
    assert unread["dense + 2D beats 2D only (image input)"].endswith(
        f"| not read: Table 3 image x dense + 2D (5.0%) not converged (would be: {judged}) |")
    assert unread["adding dense to 3D + 2D helps (image input)"] == claims["adding dense to 3D + 2D helps (image input)"]
    # Last quarter: from 400 / 300 to 400 / 400 over the step-300 value.
    gain = (400.0 / 300 - 1.0) / (np.mean(expected) + 1 + 400.0 / 300)
    assert f"| table3 image x 2d | 3 | {100 * gain:.1f}% | yes |" in text
    # Every finished run counts (1 s of training each), the shared fig4/table3 runs once.
    finished = len(glob.glob(os.path.join(runs_dir, "*", "result.json")))
    assert f"Compute so far: {finished} finished run(s), pre-trainings included, {finished / 3600:.1f} hours" in text
    # The summary block: every finished Table-3 cell (the image row only), with its ratio to the mean model.
    summary = readme.read_text()
    assert summary.startswith("# Project\n\nintro\n\n") and summary.endswith("\nafter\n")
    lines = [line for line in summary.splitlines() if line.startswith("| image x ")]
    assert len(lines) == 5 and not any(line.startswith("| IUV x ") for line in summary.splitlines())
    assert f"| image x 2D only | 3 | {np.mean(expected):.1f} ± {np.std(expected, ddof=1):.1f} | " \
           f"{np.mean(expected) / 200.0:.2f}x | {100 * gain:.1f}% | 203.2 |" in lines
    # Then the claims both of whose cells have runs, with the verdict the full table gives them.
    read = [line for line in summary.splitlines() if line.startswith("| ") and " (d = " in line]
    waiting = [c for c in paper.CLAIMS if not all(tuple(c[k]) in agg for k in ("a", "b"))]
    assert len(read) == len(paper.CLAIMS) - len(waiting) >= 4
    assert f"\n{len(waiting)} more claim(s) wait for their cells' runs.\n" in summary
    full = report.claims_markdown(agg, report.convergence_gains(entries)).splitlines()
    for line in read:
        claim = line.split(" | ")[0][2:]
        assert line.rsplit(" | ", 1)[1] == [row for row in full if row.startswith(f"| {claim} |")][0].rsplit(" | ", 1)[1]
    assert "(d = " not in report.summary_markdown({}, {}, None, "micro")
    for name in ("table3", "fig4", "learning_curves"):
        with Image.open(tmp_path / "plots" / f"{name}.png") as image:
            assert image.size[0] > 300 and np.asarray(image).std() > 0


def test_last_quarter_gain():
    assert report.last_quarter_gain([(500, 200.0), (1000, 180.0), (1500, 150.0), (2000, 147.0)]) == pytest.approx(
        3.0 / 150.0)
    assert report.last_quarter_gain([(2000, 150.0)]) is None
    assert report.validation_curve({"curve": [{"step": 5, "metrics": {"up-3d": {"PVE": 9.0}}}]}) == [(5, 9.0)]
    assert report.validation_curve({}) == []


def test_decision_rule_on_hand_cases():
    lower = {"kind": "lower"}
    assert report.pooled_std((100.0, 3.0, 3), (110.0, 4.0, 3)) == pytest.approx(np.sqrt((2 * 9 + 2 * 16) / 4))
    assert report.verdict(lower, (100.0, 2.0, 3), (110.0, 2.0, 3)) == "reproduced"          # -10 < -4
    assert report.verdict(lower, (100.0, 6.0, 3), (110.0, 6.0, 3)) == "inconclusive"        # -10 within 12
    assert report.verdict(lower, (110.0, 2.0, 3), (100.0, 2.0, 3)) == "contradicted"
    assert report.verdict(lower, (100.0, 0.0, 1), (150.0, 0.0, 1)) == "inconclusive"        # no spread to judge by
    about = {"kind": "about", "margin": 0.05}                                             # margin 5 mm at B = 100
    assert report.verdict(about, (102.0, 1.0, 3), (100.0, 1.0, 3)) == "reproduced"          # 2 + 2 <= 5
    assert report.verdict(about, (97.0, 2.0, 3), (100.0, 2.0, 3)) == "inconclusive"         # 3 + 4 > 5 >= 3 - 4
    assert report.verdict(about, (90.0, 1.0, 3), (100.0, 1.0, 3)) == "contradicted"         # 10 - 2 > 5
    at_most = {"kind": "at_most", "margin": 0.05}
    assert report.verdict(at_most, (90.0, 1.0, 3), (100.0, 1.0, 3)) == "reproduced"         # better is fine
    assert report.verdict(at_most, (110.0, 1.0, 3), (100.0, 1.0, 3)) == "contradicted"


def test_every_claim_names_cells_that_exist():
    cells = {(e.name, c.row, c.column) for e in experiments.EXPERIMENTS.values() for c in e.cells}
    for claim in paper.CLAIMS:
        assert tuple(claim["a"]) in cells and tuple(claim["b"]) in cells, claim["claim"]
        assert claim["kind"] in ("lower", "at_most", "about") and ("margin" in claim) == (claim["kind"] != "lower")


def test_study_flagfiles_name_cells_that_exist():
    # Each flagfile as the study's own flags read it (absl, in a process of its own).
    code = ("import glob, importlib, json; from absl import flags; importlib.import_module('tfhybrid.study.__main__'); "
            "read = {}\nfor p in glob.glob('configs/study_*.flags'):\n    flags.FLAGS.unparse_flags(); "
            "flags.FLAGS(['x', '--flagfile=' + p]); read[p] = [flags.FLAGS.experiment, flags.FLAGS.only_cells]\n"
            "print(json.dumps(read))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    read = json.loads(result.stdout.strip().splitlines()[-1])
    assert "configs/study_claims.flags" in read and read["configs/study_claims.flags"][1]
    for path, (names, only_cells) in read.items():
        chosen = list(experiments.EXPERIMENTS.values()) if names == ["all"] else [experiments.get(n) for n in names]
        for name in only_cells:
            assert any(runner.cell_selected(e, c, only_cells=[name]) for e in chosen for c in e.cells), (path, name)
    claims = open(os.path.join(REPO, "configs", "study_claims.flags")).read()
    outside_table3 = {cell for claim in paper.CLAIMS for cell in (claim["a"], claim["b"]) if cell[0] != "table3"}
    table3 = [(t.flags, t.variant) for t in experiments.get("table3").cells]
    shared = {(e.name, c.row, c.column) for e in experiments.EXPERIMENTS.values() for c in e.cells
              if (c.flags, c.variant) in table3}
    for experiment, row, column in outside_table3 - shared:
        assert f"{experiment}:{column}" in claims or f"{experiment}:{row}:{column}" in claims, (experiment, row, column)


def test_verdicts_on_fewer_than_three_seeds_are_provisional():
    claim = "3D + 2D beats dense + 2D (image input)"

    def verdict(n):
        agg = {("table3", "image", "3d_2d"): {"PVE": (100.0, 1.0, n)},
               ("table3", "image", "dense_2d"): {"PVE": (110.0, 1.0, n)}}
        line = [row for row in report.claims_markdown(agg).splitlines() if row.startswith(f"| {claim} |")][0]
        return line.rsplit(" | ", 1)[1].rstrip(" |")

    assert verdict(3) == "reproduced"                                        # -10 < -2
    assert verdict(2) == "reproduced (provisional: 2 seeds, the rule's third to come)"
    assert verdict(1) == "inconclusive (fewer than 2 seeds)"


def test_compute_counts_a_resumed_run_at_all_its_steps(tmp_path):
    whole = {"flags": {"steps": 6000}, "train_seconds": 3000.0, "eval_seconds": 30.0, "resumed_from_step": 0}
    resumed = {"flags": {"steps": 6000}, "train_seconds": 2250.0, "eval_seconds": 30.0, "resumed_from_step": 1500}
    assert report.run_seconds(whole) == 3030.0
    assert report.run_seconds(resumed) == pytest.approx(3030.0)                # 2250 s for 4500 of 6000 steps
    evaluated_only = {"flags": {"steps": 6000}, "train_seconds": 5.0, "eval_seconds": 30.0, "resumed_from_step": 6000}
    assert report.run_seconds(evaluated_only) == 35.0                          # its training time is not on record
    trained_twice = {**whole, "earlier_trainings": [whole]}                    # 2 x 3030 s
    paths = []
    for name, result in (("whole", whole), ("resumed", resumed), ("evaluated_only", evaluated_only),
                         ("trained_twice", trained_twice)):
        paths.append(str(tmp_path / f"{name}.json"))
        with open(paths[-1], "w") as f:
            json.dump(result, f)
    assert report.compute_summary(paths) == ("Compute so far: 4 finished run(s), pre-trainings included, 3.4 hours "
                                             "of training and evaluation (each run's own wall time; 1 resumed after "
                                             "an interruption, scaled to all their steps; 1 trained in an earlier "
                                             "attempt, counted without their training; 1 trained again where an "
                                             "earlier machine's checkpoint was lost, every training counted).")


def test_docs_block_is_replaced_and_text_kept(tmp_path):
    path = str(tmp_path / "results.md")
    report.update_docs(path, "first\n", "cpu")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write("# Results\n\nReading before.\n\n" + text.split("\n", 2)[2] + "\nReading after.\n")
    report.update_docs(path, "second\n", "cpu")
    report.update_docs(path, "long\n", "cpu_long")                         # another profile: a block of its own
    report.update_docs(path, "long again\n", "cpu_long")
    with open(path) as f:
        text = f.read()
    assert "Reading before." in text and "Reading after." in text and "second" in text and "first" not in text
    begin, end = report.docs_markers("cpu_long")
    assert text.endswith(f"Reading after.\n\n{begin}\nlong again\n{end}\n") and text.count(begin) == 1
    with open(path, "w") as f:
        f.write(f"{begin}\nno end\n")
    with pytest.raises(ValueError, match="only one of the markers of profile cpu_long"):
        report.update_docs(path, "third\n", "cpu_long")


def test_profiles_sharing_a_folder_keep_their_runs_apart(tmp_path):
    """A longer schedule on the same benchmark shares the folder and the pre-training; its tables,
    compute and archive hold its own runs only."""
    short = profiles.get("micro")
    long = dataclasses.replace(short, name="micro_long", train={**short.train, "steps": 6}, folder="micro")
    assert long.study_folder == short.study_folder == "micro"
    bench, runs_dir = _bench(tmp_path), str(tmp_path / "runs")
    table3 = [experiments.get("table3")]
    planned = {}
    for profile, pve in ((short, 150.0), (long, 140.0)):
        planned[profile.name] = runner.plan(table3, profile, bench, runs_dir, seeds=[0], only_cells=["table3:image:2d"])
        for run in planned[profile.name]:
            if not run.finished:
                _fake_result(run, pve)
    pretraining = [run.key for run in planned["micro_long"] if not run.cells]
    assert pretraining == [run.key for run in planned["micro"] if not run.cells]   # one pre-training, shared
    cells = {name: [run.key for run in runs if run.cells] for name, runs in planned.items()}
    assert cells["micro"] != cells["micro_long"]
    archive = str(tmp_path / "archive")
    prefixes = runner.profile_prefixes(table3, long, bench)
    assert runner.export_archive(archive, runs_dir, str(tmp_path / "baseline.json"), prefixes) == 2
    assert sorted(os.listdir(archive)) == sorted(f"{key}.json" for key in pretraining + cells["micro_long"])
    entries = report.write_report(str(tmp_path), table3, long, bench, runs_dir)
    assert [(e["run"], e["metrics"]["up-3d-test"]["PVE"]) for e in entries] == [(cells["micro_long"][0], 140.0)]
    assert "Compute so far: 2 finished run(s)" in (tmp_path / "micro_long" / "results.md").read_text()
    report.write_report(str(tmp_path), table3, short, bench, runs_dir)                # the folder's own profile
    assert "Profile `micro`." in (tmp_path / "results.md").read_text()
    assert "Profile `micro_long`." in (tmp_path / "micro_long" / "results.md").read_text()


def test_unknown_names_and_missing_real_data_are_explained(tmp_path):
    with pytest.raises(ValueError, match="unknown experiment 'table9'"):
        experiments.get("table9")
    with pytest.raises(benchmark_lib.BenchmarkError, match="unknown record variant"):
        benchmark_lib.parse_variant("noisy")
    assert benchmark_lib.parse_variant("clean") == ("densepose_clean", False, 0.0)
    assert benchmark_lib.parse_variant("uv_noise_12.5") == ("densepose_predictions", True, 12.5)
    real = benchmark_lib.Benchmark(str(tmp_path), MICRO, records_dir=str(tmp_path / "real"), body_model="smpl.pkl")
    with pytest.raises(benchmark_lib.BenchmarkError, match=r"lacks 7 record set\(s\).*real/raw/up-3d-train-"):
        real.prepare(["refined", "raw"])
    with pytest.raises(benchmark_lib.BenchmarkError, match="needs --body_model"):
        benchmark_lib.Benchmark(str(tmp_path), MICRO, records_dir=str(tmp_path))


def test_claimed_cells_and_their_pretrainings_run_first_and_a_failed_pretraining_stops_its_dependents(tmp_path):
    profile = profiles.get("micro")
    bench = _bench(tmp_path)
    runs = runner.plan([experiments.get("refine"), experiments.get("table3")], profile, bench, str(tmp_path / "runs"),
                       seeds=[0], only_cells=["refine:raw", "table3:2d"])
    pretrainings = [run for run in runs if not run.cells]
    assert len(runs) == len({run.key for run in runs}) == 5 + 6 and len(pretrainings) == 5
    assert all(run.flags["steps"] == profile.pretrain_steps and run.flags["use_dense"] is False for run in pretrainings)
    assert all(run.flags["train_data"] == [f"1:{bench.records}/refined/h36m-train-*.tfrecord"] for run in pretrainings)
    # Raw IUV, IUV 2D only and image 2D only are compared by claims: they come first, and each input
    # kind's pre-training just before the first run that starts from it.
    names = [(run.flags["input"], "pre-training") if not run.cells else (run.cells[0][0], run.cells[0][1].row,
                                                                       run.cells[0][1].column) for run in runs]
    assert names == [("image", "pre-training"), ("refine", "image", "raw"), ("iuv", "pre-training"),
                     ("table3", "iuv", "2d"), ("table3", "image", "2d"), ("seg", "pre-training"),
                     ("table3", "seg", "2d"), ("image+iuv", "pre-training"), ("table3", "image+iuv", "2d"),
                     ("image+seg", "pre-training"), ("table3", "image+seg", "2d")]
    cell_runs = [run for run in runs if run.cells]
    assert all(run.needs == [need.key] and run.flags["init_from"] == os.path.join(need.folder, "model")
               for run in cell_runs for need in pretrainings if need.flags["input"] == run.flags["input"])
    assert runner.cell_config_hash(profile, bench, cell_runs[0].cells[0][1]) == cell_runs[0].key.rsplit("-s", 1)[0]
    order = []

    def launcher(run, eval_sets, baseline, slot):
        order.append(run.key)
        if run.flags["input"] == "iuv" and not run.cells:
            return 1                                                           # the IUV pre-training fails
        _fake_result(run, 100.0)
        return 0

    failed = runner.execute(runs, {}, "b.json", [{}, {}], keep_going=True, launcher=launcher, log=lambda *a: None)
    assert {run.flags["input"] for run in failed} == {"iuv"} and len(failed) == 2
    assert all(order.index(run.needs[0]) < order.index(run.key) for run in cell_runs if run.key in order)
    # While the image pre-training trains, the second slot takes the next run that can start: the IUV
    # pre-training, not the raw-IUV run that waits for the first.
    assert set(order[:2]) == {runs[0].key, runs[2].key} and len(order) == 10


def test_archive_carries_finished_runs_between_machines(tmp_path):
    bench = _bench(tmp_path)
    first_dir, second_dir, archive = (str(tmp_path / name) for name in ("first", "second", "archive"))
    finished = runner.plan([experiments.get("refine")], MICRO, bench, os.path.join(first_dir, "runs"), seeds=[0])
    for pve, run in enumerate(finished, 100):
        _fake_result(run, float(pve))
    with open(os.path.join(first_dir, "baseline.json"), "w") as f:
        json.dump({"up-3d-test": {"PVE": 200.0, "MPJPE": 190.0, "PVE-T": 40.0}}, f)
    exported = runner.export_archive(archive, os.path.join(first_dir, "runs"), os.path.join(first_dir, "baseline.json"))
    assert exported == 3
    assert sorted(os.listdir(archive)) == sorted([f"{run.key}.json" for run in finished] + ["baseline.json"])

    runs_dir, baseline = os.path.join(second_dir, "runs"), os.path.join(second_dir, "baseline.json")
    planned = runner.plan([experiments.get("refine"), experiments.get("fig6")], MICRO, bench, runs_dir, seeds=[0])
    assert not any(run.finished for run in planned)
    assert runner.import_archive(archive, runs_dir, baseline) == 3
    assert {run.key for run in planned if run.finished} == {run.key for run in finished}
    assert runner.import_archive(archive, runs_dir, baseline) == 0             # already here: nothing copied
    with open(baseline) as f:
        assert json.load(f)["up-3d-test"]["PVE"] == 200.0
    entries = report.collect([experiments.get("refine")], MICRO, bench, runs_dir)
    assert sorted(e["metrics"]["up-3d-test"]["PVE"] for e in entries) == [100.0, 101.0, 102.0]

    stray = os.path.join(archive, "notes.txt")
    open(stray, "w").close()
    with pytest.raises(ValueError, match="notes.txt: unexpected file in the run archive"):
        runner.import_archive(archive, str(tmp_path / "third"), baseline)
    os.remove(stray)
    broken = os.path.join(archive, "0123456789ab-s0.json")
    with open(broken, "w") as f:
        f.write('{"flags": {}')
    with pytest.raises(ValueError, match="0123456789ab-s0.json: not a run result"):
        runner.import_archive(archive, str(tmp_path / "third"), baseline)


def test_archived_pretraining_without_its_checkpoint_is_trained_again(tmp_path):
    runs = runner.plan([experiments.get("refine")], profiles.get("micro"), _bench(tmp_path), str(tmp_path / "runs"),
                       seeds=[0], only_cells=["refine:raw"])
    pretraining, cell_run = runs
    for run in runs:
        os.makedirs(run.folder)
        with open(run.result_path, "w") as f:
            json.dump({"metrics": {}}, f)
    assert cell_run.finished and not pretraining.finished                     # dependents start from its model
    launched = []
    runner.execute(runs, {}, "b.json", [{}], launcher=lambda run, *a: launched.append(run.key) or 1,
                   log=lambda *a: None)
    assert launched == []                                                      # no unfinished run needs it
    os.remove(cell_run.result_path)
    runner.execute(runs, {}, "b.json", [{}], launcher=lambda run, *a: launched.append(run.key) or 1,
                   log=lambda *a: None)
    assert launched == [pretraining.key]
    os.makedirs(os.path.join(pretraining.folder, "model"))
    assert pretraining.finished


def test_a_result_trained_again_keeps_its_earlier_trainings(tmp_path):
    result = str(tmp_path / "runs" / "0123456789ab-s0" / "result.json")
    assert worker.read_earlier_trainings(result) == []
    first, second = {"metrics": {"up-3d-test": {"PVE": 1.0}}}, {"metrics": {"up-3d-test": {"PVE": 2.0}}}
    os.makedirs(os.path.dirname(result))
    with open(result, "w") as f:
        json.dump({**second, "earlier_trainings": [first]}, f)
    assert worker.read_earlier_trainings(result) == [first, second]
    model = os.path.join(os.path.dirname(result), "model")
    assert worker.started_from(model + "/") == {"run": "0123456789ab-s0", "training": 2}
    assert worker.started_from(str(tmp_path / "elsewhere" / "model")) is None and worker.started_from(None) is None
    with open(result, "w") as f:
        f.write('{"metrics": ')
    with pytest.raises(ValueError, match="0123456789ab-s0/result.json: not a run result"):
        worker.read_earlier_trainings(result)


def _study(out, *args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-m", "tfhybrid.study", "--profile=micro", f"--out={out}", *args],
                          cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_micro_study_trains_resumes_and_adds_seeds(tmp_path):
    out = str(tmp_path / "study")
    only = "--only_cells=refine:refined,refine:raw"
    first = _study(out, "--experiment=refine", only, "--seeds=0")
    assert "3 run(s): 0 finished or not needed, 3 to run" in first                        # with the studio pre-training
    results = sorted(os.path.join(out, "runs", d, "result.json") for d in os.listdir(os.path.join(out, "runs")))
    assert len(results) == 3
    stamps = [os.path.getmtime(p) for p in results]
    docs, readme = tmp_path / "results.md", tmp_path / "README.md"
    readme.write_text("# Project\n")
    second = _study(out, "--experiment=refine", only, "--seeds=0,1", f"--docs={docs}", f"--summary={readme}")
    assert "5 run(s): 3 finished or not needed, 2 to run" in second               # one pre-training for both seeds
    assert report.docs_markers("micro")[0] in docs.read_text()
    assert readme.read_text().startswith("# Project\n\n" + report.summary_markers("micro")[0])
    assert [os.path.getmtime(p) for p in results] == stamps                 # finished runs untouched
    loaded = []
    for path in results:
        with open(path) as f:
            loaded.append(json.load(f))
    pretrained = [r for r in loaded if r["flags"]["steps"] == profiles.get("micro").pretrain_steps]
    assert len(pretrained) == 1 and pretrained[0]["flags"]["init_from"] is None
    pretraining_key = os.path.basename(os.path.dirname(results[loaded.index(pretrained[0])]))
    assert all(r["flags"]["init_from"] == os.path.join(out, "runs", pretraining_key, "model")
               and r["started_from"] == {"run": pretraining_key, "training": 1} for r in loaded if r not in pretrained)
    for result in loaded:
        assert [point["step"] for point in result["curve"]] == [result["flags"]["steps"]]     # the learning curve
        assert result["curve"][0]["metrics"]["up-3d"]["PVE"] > 0
        assert set(result["metrics"]) == {"up-3d-test", "up-3d-val", "coco-minival"}
        assert result["metrics"]["coco-minival"]["DKD"] > 0 and result["metrics"]["up-3d-test"]["PVE"] > 0
    with open(os.path.join(out, "results.csv")) as f:
        rows = [r for r in csv.DictReader(f) if r["experiment"] == "refine"]
    assert sorted((r["column"], r["seed"]) for r in rows) == [("raw", "0"), ("raw", "1"), ("refined", "0"),
                                                              ("refined", "1")]          # no clean arm asked for
    text = open(os.path.join(out, "results.md")).read()
    refine_row = [line for line in text.split("### IUV refinement")[1].splitlines() if line.startswith("| image")][0]
    assert refine_row.count("±") == 6
    assert os.path.exists(os.path.join(out, "baseline.json")) and os.path.exists(os.path.join(out, "plots", "fig6.png"))
    archive = str(tmp_path / "archive")
    third = _study(out, "--experiment=refine", only, "--seeds=0,1", f"--archive={archive}")
    assert "5 run(s): 5 finished or not needed, 0 to run" in third
    assert len(os.listdir(archive)) == 5 + 1                                 # the runs and the baseline
    shutil.rmtree(out)                                                       # a fresh machine: the archive only
    _study(out, "--experiment=refine", "--report_only", f"--archive={archive}")
    with open(os.path.join(out, "results.csv")) as f:
        assert sorted((r["column"], r["seed"], r["up-3d-test/PVE"]) for r in csv.DictReader(f)
                      if r["experiment"] == "refine") == sorted((r["column"], r["seed"], r["up-3d-test/PVE"])
                                                               for r in rows)
    # A new seed on the fresh machine needs the pre-training's checkpoint, which did not travel: it is
    # trained again, and its result and archive keep the first training beside the second.
    fourth = _study(out, "--experiment=refine", "--only_cells=refine:raw", "--seeds=2", f"--archive={archive}")
    assert "2 run(s): 0 finished or not needed, 2 to run" in fourth
    with open(os.path.join(archive, f"{pretraining_key}.json")) as f:
        retrained = json.load(f)
    assert retrained["earlier_trainings"] == [pretrained[0]] and retrained["train_seconds"] > 0
    new_seed = [name for name in os.listdir(archive) if name.endswith("-s2.json")]
    with open(os.path.join(archive, new_seed[0])) as f:
        assert len(new_seed) == 1 and json.load(f)["started_from"] == {"run": pretraining_key, "training": 2}
    assert "1 trained again where an earlier machine's checkpoint was lost" in open(
        os.path.join(out, "results.md")).read()


def test_oracle_fits_reach_their_ceilings(tmp_path):
    out, docs = str(tmp_path / "study"), tmp_path / "results.md"
    docs.write_text("# Results\n\nkept text\n")
    done = subprocess.run([sys.executable, "-m", "tfhybrid.study.oracle", "--profile=micro", f"--out={out}",
                           "--arms=2d,dense_2d,3d", "--people=6", "--steps=150", f"--docs={docs}",
                           f"--archive={tmp_path / 'archive'}"], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr[-3000:]
    with open(os.path.join(out, "oracle.json")) as f:
        result = json.load(f)
    arms, mean = result["arms"], result["mean"]["PVE"]
    assert set(arms) == {"2d", "dense_2d", "3d"} and result["people"] == 6
    # The true pose and shape are the 3D arm's targets: its fit ends far below the 2D-only one.
    assert arms["3d"]["PVE"] < 0.5 * arms["2d"]["PVE"] < 0.5 * mean
    assert arms["dense_2d"]["PVE"] < mean and all(a["loss_last"] < a["loss_first"] for a in arms.values())
    assert arms["dense_2d"]["with_dense"] > 0 and arms["2d"]["with_3d"] == 0 and arms["3d"]["with_3d"] == 6
    text = docs.read_text()
    assert "kept text" in text and "| 3D only |" in text and oracle.DOCS_BEGIN in text
    assert os.path.exists(tmp_path / "archive" / "oracle.json")
    # Without its size the mean shape's error shrinks (the crop cannot show height).
    assert 0 < result["mean"]["PVE-T without size"] < result["mean"]["PVE-T"]
    # Refitting one arm keeps the others of the same protocol; another protocol or data starts afresh.
    again = subprocess.run([sys.executable, "-m", "tfhybrid.study.oracle", "--profile=micro", f"--out={out}",
                            "--arms=2d", "--refit", "--people=6", "--steps=150"], cwd=REPO, capture_output=True,
                           text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert again.returncode == 0, again.stderr[-3000:]
    with open(os.path.join(out, "oracle.json")) as f:
        merged = json.load(f)
    assert set(merged["arms"]) == {"2d", "dense_2d", "3d"} and merged["arms"]["3d"] == arms["3d"]
    assert merged["seconds"] > result["seconds"]
    assert oracle.earlier_result({**merged, "protocol": "other"}, [os.path.join(out, "oracle.json")]) is None
    assert oracle.earlier_result({**merged, "data": "/real/records"}, [os.path.join(out, "oracle.json")]) is None
    # A fresh checkout (no OUT) takes the archived arms without fitting and without the benchmark.
    fresh = str(tmp_path / "fresh")
    taken = subprocess.run([sys.executable, "-m", "tfhybrid.study.oracle", "--profile=micro", f"--out={fresh}",
                            "--arms=2d,3d", "--people=6", "--steps=150", f"--archive={tmp_path / 'archive'}"],
                           cwd=REPO, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert taken.returncode == 0, taken.stderr[-3000:]
    assert "all 2 arm(s) already fitted" in taken.stdout and not os.path.exists(os.path.join(fresh, "benchmark"))
    with open(os.path.join(fresh, "oracle.json")) as f:
        assert json.load(f)["arms"] == arms


def test_cell_filters(tmp_path):
    bench = _bench(tmp_path)
    chosen = [experiments.get("fig4"), experiments.get("table3")]
    runs = runner.plan(chosen, MICRO, bench, str(tmp_path), [0], only_cells=["fig4:20", "table3:iuv:2d"])
    assert sorted((c.row, c.column) for run in runs for _, c in run.cells) == [("image", "20"), ("iuv", "2d")]
    assert len(runner.plan(chosen, MICRO, bench, str(tmp_path), [0], only_cells=["table3:2d"])) == 5
