"""The paper's study, rerun: `python -m tfhybrid.study --flagfile=configs/study_<name>.flags`.

`benchmark` builds the synthetic benchmark (or points at converted real data), `experiments`
names the runs of each table and figure, `runner` trains and evaluates them (resumable, over
seeds, on every visible device), `report` writes `results.csv`, `results.md`, the plots and
`docs/results.md`.
"""
