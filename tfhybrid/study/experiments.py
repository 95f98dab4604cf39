"""The runs of each table and figure of the paper, as training-flag overrides.

Every run starts from the same base: the paper's loss weights (keypoints 10, dense 1, SMPL 10,
3D joints 10), dense and 3D supervision on, the 3D of the in-the-wild set (`up-3d`) as the one
that the study withholds; Human3.6M-like 3D always stays (DCT's "no 3D" recipes keep it too).
Without paired 3D, the dense weight is 10 (DCT's `*_dp.sh` recipes).
"""
import dataclasses

BASE_FLAGS = {"kp_weight": 10.0, "dense_weight": 1.0, "smpl_weight": 10.0, "joints3d_weight": 10.0,
              "smpl_terms": "both", "use_3d": True, "use_dense": True, "fraction_3d": 1.0, "datasets_3d": ["up-3d"],
              "fraction_dense": 1.0, "max_dense_per_person": 0, "iuv_input_noise": 0.0}

SUPERVISION = {
    "3d_dense_2d": ("3D + dense + 2D", {}),
    "20pct3d_dense_2d": ("20% 3D + dense + 2D", {"fraction_3d": 0.2}),
    "3d_2d": ("3D + 2D", {"use_dense": False}),
    "dense_2d": ("dense + 2D", {"use_3d": False, "dense_weight": 10.0}),
    "2d": ("2D only", {"use_3d": False, "use_dense": False}),
}
INPUTS = {"iuv": "IUV", "seg": "segmentation", "image": "image", "image+iuv": "image + IUV",
          "image+seg": "image + segmentation"}


@dataclasses.dataclass(frozen=True)
class Cell:
    """One entry of a table or one point of a curve."""

    row: str                  # table row or curve series
    column: str               # table column or curve point
    overrides: tuple          # ((flag, value), ...) over BASE_FLAGS
    variant: str = "refined"  # record variant (see benchmark.py)

    @property
    def flags(self):
        return canonical({**BASE_FLAGS, **dict(self.overrides)})

    @property
    def input(self):
        return self.flags["input"]


@dataclasses.dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    kind: str                 # "table" or "curve"
    rows: tuple               # ((key, label), ...)
    columns: tuple            # ((key, label, x), ...); x is the curve's abscissa
    cells: tuple
    x_label: str = ""


def canonical(flags):
    """Flags with the knobs that cannot matter reset, so equal trainings get equal flags."""
    flags = dict(flags)
    if flags["fraction_3d"] == 0.0:
        flags["use_3d"] = False
    if not flags["use_3d"]:
        flags["fraction_3d"] = 1.0
    if not flags["use_dense"]:
        flags.update(dense_weight=1.0, fraction_dense=1.0, max_dense_per_person=0)
    if flags["smpl_terms"] == "shape":
        flags["joints3d_weight"] = 0.0            # 3D joints are a function of the pose
    return flags


def _cell(row, column, variant="refined", **overrides):
    return Cell(row, column, tuple(sorted(overrides.items())), variant)


def _table3():
    cells = tuple(_cell(inp, sup, input=inp, **SUPERVISION[sup][1]) for inp in INPUTS for sup in SUPERVISION)
    return Experiment("table3", "Table 3: input x supervision", "table", tuple(INPUTS.items()),
                      tuple((k, label, None) for k, (label, _) in SUPERVISION.items()), cells)


def _table4():
    rows = {"dense_2d": "dense + 2D", "2d": "2D only"}
    cells = []
    for row in rows:
        other = {k: v for k, v in SUPERVISION[row][1].items() if k != "use_3d"}
        other.pop("dense_weight", None)
        for terms in ("pose", "shape"):
            cells.append(_cell(row, terms, input="image", smpl_terms=terms, **other))
    return Experiment("table4", "Table 4: pose vs shape parameters in the 3D loss", "table", tuple(rows.items()),
                      (("pose", "3D pose only", None), ("shape", "shape parameters only", None)), tuple(cells))


def _fig4():
    percents = (100, 80, 60, 40, 20, 10, 1, 0)
    cells = tuple(_cell("image", f"{p}", input="image", use_dense=False, fraction_3d=p / 100.0) for p in percents)
    return Experiment("fig4", "Fig. 4: fraction of paired 3D kept (with 2D)", "curve", (("image", "image"),),
                      tuple((f"{p}", f"{p}%", p) for p in percents), cells, "paired in-the-wild 3D kept (%)")


def _fig5():
    sigmas = (0, 5, 10, 20, 40)
    cells = tuple(_cell("image", f"{s}", "refined" if s == 0 else f"uv_noise_{s}", input="image",
                        **SUPERVISION["dense_2d"][1]) for s in sigmas)
    return Experiment("fig5", "Fig. 5: Gaussian noise on U and V (dense + 2D)", "curve", (("image", "image"),),
                      tuple((f"{s}", f"sigma {s}", s) for s in sigmas), cells, "U/V noise sigma (0..255 scale)")


def _fig6():
    percents = (100, 80, 60, 40, 20, 10)
    cells = [_cell("image", f"{p}", input="image", fraction_dense=p / 100.0, **SUPERVISION["dense_2d"][1])
             for p in percents]
    cells.append(_cell("image", "15pp", input="image", max_dense_per_person=15, **SUPERVISION["dense_2d"][1]))
    columns = tuple((f"{p}", f"{p}%", p) for p in percents) + (("15pp", "15 per person", None),)
    return Experiment("fig6", "Fig. 6: fraction of dense points kept (dense + 2D)", "curve", (("image", "image"),),
                      columns, tuple(cells), "dense points kept (%)")


def _refine():
    """Raw vs refined DensePose predictions; `clean` (the renderer's exact IUV) bounds what better
    predictions could give, on the synthetic benchmark only."""
    cells = tuple(_cell("image", variant, variant, input="image", **SUPERVISION["dense_2d"][1])
                  for variant in ("refined", "raw", "clean"))
    return Experiment("refine", "IUV refinement (dense + 2D)", "table", (("image", "image"),),
                      (("refined", "refined IUV", None), ("raw", "raw IUV", None),
                       ("clean", "exact IUV (synthetic only)", None)), cells)


EXPERIMENTS = {e.name: e for e in (_table3(), _table4(), _fig4(), _fig5(), _fig6(), _refine())}


def get(name):
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; expected one of {sorted(EXPERIMENTS)} or 'all'")
    return EXPERIMENTS[name]
