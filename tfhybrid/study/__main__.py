"""`python -m tfhybrid.study --flagfile=configs/study_<name>.flags [--profile=cpu|paper] [--only_input=image]`

Builds the benchmark data the experiment needs, runs its unfinished runs (over `--seeds`, on
every visible device), then writes `OUT/results.csv`, `OUT/results.md` and `OUT/plots/` for every
experiment of the profile that has finished runs under OUT (default `out/study/<profile folder>`;
a profile sharing another's folder writes them into `OUT/<profile>/`).
With `--archive=DIR` the finished runs of DIR count as finished here, and every run is written to
DIR as soon as it finishes: a study carried across machines (docs/results/<profile> holds the runs
behind docs/results.md).
"""
import os
import sys
import time

from absl import app, flags

from tfhybrid.study import benchmark as benchmark_lib
from tfhybrid.study import experiments as experiments_lib
from tfhybrid.study import profiles, report, runner

FLAGS = flags.FLAGS
flags.DEFINE_list("experiment", ["table3"], "Experiments to run: some of "
                  f"{', '.join(experiments_lib.EXPERIMENTS)}, or 'all'.")
flags.DEFINE_enum("profile", "tiny", list(profiles.PROFILES), "Budget (tfhybrid/study/profiles.py): cpu_long "
                  "and cpu (the study on CPUs, 6,000 and 3,000 steps), tiny (the first study's), paper (224 px, "
                  "the paper's encoders and schedule, GPUs), micro (a handful of steps, for tests).")
flags.DEFINE_enum("only_input", None, list(experiments_lib.INPUTS), "Run only the cells with this network input.")
flags.DEFINE_list("only_cells", [], "Run only these cells, named 'experiment:column' or 'experiment:row:column' "
                  "(e.g. fig4:20,table3:iuv:2d).")
flags.DEFINE_list("seeds", ["0"], "Seeds; each cell is trained once per seed (mean and spread are reported).")
flags.DEFINE_string("out", None, "Study folder (runs, results, plots); default out/study/<profile>.")
flags.DEFINE_string("records_dir", None, "Converted real data in the benchmark's layout (see "
                    "tfhybrid/study/benchmark.py) instead of the synthetic benchmark.")
flags.DEFINE_string("body_model", None, "Body model of --records_dir.")
flags.DEFINE_string("mean_params", None, "Mean-parameter .h5 of --records_dir (optional).")
flags.DEFINE_bool("report_only", False, "Only write the results from the finished runs.")
flags.DEFINE_bool("keep_going", False, "Go on with the other runs when one fails.")
flags.DEFINE_string("archive", None, "Folder of finished runs (<run>.json and baseline.json), kept in step "
                    "with OUT: its runs are not trained again, and OUT's finished runs are added to it.")
flags.DEFINE_string("docs", None, "Also rewrite the generated block of this markdown file (docs/results.md).")
flags.DEFINE_list("summary", [], "Also rewrite the profile's summary block (Table 3's finished cells) of these "
                  "markdown files (README.md, docs/results.md).")


def main(argv):
    del argv
    names = list(experiments_lib.EXPERIMENTS) if FLAGS.experiment == ["all"] else FLAGS.experiment
    try:
        chosen = [experiments_lib.get(name) for name in names]
        seeds = [int(s) for s in FLAGS.seeds]
    except ValueError as error:
        raise app.UsageError(str(error))
    profile = profiles.get(FLAGS.profile)
    out = FLAGS.out or os.path.join("out", "study", profile.study_folder)
    bench = benchmark_lib.Benchmark(os.path.join(out, "benchmark"), profile, FLAGS.records_dir, FLAGS.body_model,
                                    FLAGS.mean_params)
    runs_dir = os.path.join(out, "runs")
    baseline = os.path.join(out, "baseline.json")
    if FLAGS.archive:
        copied = runner.import_archive(FLAGS.archive, runs_dir, baseline)
        print(f"{copied} finished run(s) taken from {FLAGS.archive}")
    everything = list(experiments_lib.EXPERIMENTS.values())
    failed, entries = [], None
    if not FLAGS.report_only:
        start = time.time()
        runs = runner.plan(chosen, profile, bench, runs_dir, seeds, FLAGS.only_input, FLAGS.only_cells)
        unknown = [name for name in FLAGS.only_cells
                   if not any(runner.cell_selected(e, c, only_cells=[name]) for e in chosen for c in e.cells)]
        if unknown:
            raise app.UsageError(f"--only_cells names no cell of {names}: {unknown}")
        variants = {cell.variant for run in runs if not run.finished for _, cell in run.cells}
        if any(run.needs for run in runs if not run.finished):
            variants.add("refined")                             # the studio pre-training reads it
        variants = sorted(variants)
        bench.prepare(variants)
        slots = runner.device_slots(profile, runner.visible_gpus())
        archive, docs, summaries = FLAGS.archive, FLAGS.docs, FLAGS.summary

        def finished(run):
            # The archive and the pages follow every finished run, so a study stopped midway leaves them current.
            nonlocal entries
            if archive:
                runner.archive_run(archive, run.result_path, baseline)
            entries = report.write_report(out, everything, profile, bench, runs_dir, docs=docs,
                                          summaries=summaries)

        failed = runner.execute(runs, bench.eval_sets(), baseline, slots, FLAGS.keep_going, on_finished=finished)
        print(f"study runs took {(time.time() - start) / 60:.1f} min")
    if entries is None:                     # no run finished here: the pages are written once, now
        entries = report.write_report(out, everything, profile, bench, runs_dir, docs=FLAGS.docs,
                                      summaries=FLAGS.summary)
    folder = report.report_dir(out, profile)
    print(f"{len(entries)} finished cell run(s) in {folder}/results.csv; tables in {folder}/results.md, plots in "
          f"{folder}/plots")
    if FLAGS.archive:
        prefixes = runner.profile_prefixes(everything, profile, bench)
        print(f"{runner.export_archive(FLAGS.archive, runs_dir, baseline, prefixes)} finished run(s) of profile "
              f"{profile.name} in {FLAGS.archive}")
    if failed:
        print(f"{len(failed)} run(s) failed: " + ", ".join(run.folder for run in failed), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    app.run(main)
