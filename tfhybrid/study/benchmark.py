"""The study's data: the synthetic benchmark, or converted real data laid out the same way.

Roles (the paper's): `up-3d` is in the wild with paired SMPL, `coco` has dense points and 2D
keypoints only, `h36m` is the studio set with 3D (plain backgrounds, a narrower pose range).
IUV inputs and the dense points of `up-3d` and `h36m` come from DensePose-like predictions.

Layout under the benchmark folder:

    world/                          the rendered datasets in their real formats (synthetic only)
    records/eval/                   up-3d-test, up-3d-val, coco-minival: raw IUV (refinement needs
                                    ground-truth keypoints, so it is not used at test time)
    records/<variant>/              the profile's training sets (up-3d-train, h36m-train), where the
                                    variant is `refined` (the paper's default), `raw`,
                                    `uv_noise_<sigma>` (refined, then Gaussian noise on U and V) or
                                    `clean` (the renderer's exact IUV: synthetic only, an upper bound)

Real data: convert it into the same layout with `tools/convert_*.py` (`--refine_iuv`,
`--uv_noise`) and pass the folder as `--records_dir`.
"""
import glob
import json
import os
import re

from tfhybrid.fileio import write_bytes

SEED = 2019                   # the benchmark is one fixed world: every profile renders it from this seed
TRAIN_SPLITS = {"up-3d": "train", "coco": "train", "h36m": "train"}
EVAL_SETS = {"up-3d-test": ("up-3d", "test"), "up-3d-val": ("up-3d", "val"), "coco-minival": ("coco", "minival")}
TEST_SET = "up-3d-test"
_VARIANT = re.compile(r"^(refined|raw|clean|uv_noise_(\d+(?:\.\d+)?))$")


class BenchmarkError(ValueError):
    pass


def parse_variant(name):
    """(DensePose folder of the world, refine_iuv, uv_noise) of a record variant name."""
    match = _VARIANT.match(name)
    if not match:
        raise BenchmarkError(f"unknown record variant {name!r}; expected 'refined', 'raw', 'clean' or "
                             "'uv_noise_<sigma>'")
    if name == "clean":
        return "densepose_clean", False, 0.0
    return "densepose_predictions", name != "raw", float(match.group(2) or 0.0)


class Benchmark:
    """Paths of the study's data; `prepare(variants)` builds what is missing (synthetic only)."""

    def __init__(self, folder, profile, records_dir=None, body_model=None, mean_params=None):
        self.folder = folder
        self.profile = profile
        self.synthetic = records_dir is None
        self.world = os.path.join(folder, "world")
        self.records = records_dir or os.path.join(folder, "records")
        models = os.path.join(self.world, "models")
        self.body_model = body_model or os.path.join(models, "toy_smpl_neutral.npz")
        self.mean_params = mean_params or os.path.join(models, "neutral_smpl_mean_params.h5")
        if not self.synthetic and not body_model:
            raise BenchmarkError("--records_dir needs --body_model (the SMPL model the records were converted with)")

    def train_glob(self, variant, dataset):
        """The glob of one training set of a record variant."""
        parse_variant(variant)
        return self._glob(variant, dataset, TRAIN_SPLITS[dataset])

    def train_sources(self, variant):
        """['weight:glob', ...] of a variant's training sets, weighted by the profile's mixture."""
        parse_variant(variant)
        return [f"{weight:g}:{self._glob(variant, name, TRAIN_SPLITS[name])}" for name, weight in self.profile.mixture]

    def pretrain_sources(self):
        """['1:glob'] of the studio set (refined), the data of the pre-training stage."""
        return [f"1:{self._glob('refined', 'h36m', TRAIN_SPLITS['h36m'])}"]

    def eval_sets(self):
        """{name: glob} of the evaluation sets."""
        return {key: self._glob("eval", name, split) for key, (name, split) in EVAL_SETS.items()}

    def _glob(self, variant, name, split):
        return os.path.join(self.records, variant, f"{name}-{split}-*.tfrecord")

    def prepare(self, variants, log=print, datasets=None):
        """Makes sure the world, the evaluation sets and the given variants exist (of the mixture's
        training sets, or only of `datasets`)."""
        wanted = [("eval", name, split) for name, split in EVAL_SETS.values()]
        for variant in variants:
            parse_variant(variant)
            wanted += [(variant, name, TRAIN_SPLITS[name]) for name, _ in self.profile.mixture
                       if datasets is None or name in datasets]
        if not self.synthetic:
            missing = [self._glob(*item) for item in wanted if not glob.glob(self._glob(*item))]
            if missing:
                raise BenchmarkError(f"--records_dir {self.records} lacks {len(missing)} record set(s): "
                                     + ", ".join(missing) + " (convert them with tools/convert_*.py; see "
                                     "tfhybrid/study/benchmark.py for the layout)")
            return
        self._make_world(log)
        for item in wanted:
            self._convert(*item, log=log)

    def _make_world(self, log):
        from tfhybrid.synthetic.make import make_world

        stamp = os.path.join(self.world, "world.json")
        expected = {"seed": SEED, "size": self.profile.world_size, "num": self.profile.world_num}
        if os.path.exists(stamp):
            with open(stamp) as f:
                found = json.load(f)
            if any(found.get(k) != v for k, v in expected.items()):
                raise BenchmarkError(f"{stamp} describes another world ({ {k: found.get(k) for k in expected} }, "
                                     f"profile {self.profile.name!r} wants {expected}); use another --out")
            return
        log(f"rendering the synthetic benchmark into {self.world}")
        make_world(self.world, self.profile.world_num, seed=SEED, size=self.profile.world_size,
                   datasets=("up-3d", "coco", "h36m"))

    def _convert(self, variant, name, split, log):
        from tfhybrid.data.converter import Options
        from tfhybrid.data.sources.coco_densepose import COCODensePoseConverter
        from tfhybrid.data.sources.h36m import H36MConverter
        from tfhybrid.data.sources.up3d import UP3DConverter

        out = os.path.join(self.records, variant)
        stamp = os.path.join(out, f".{name}-{split}.done")
        if os.path.exists(stamp):
            return
        folder, refine, noise = ("densepose_predictions", False, 0.0) if variant == "eval" else parse_variant(variant)
        converter = {"up-3d": UP3DConverter, "coco": COCODensePoseConverter, "h36m": H36MConverter}[name]
        log(f"converting {name} {split} into {out} (IUV from {folder}, refined: {refine}, U/V noise: {noise:g})")
        options = Options(src=os.path.join(self.world, name), split=split, out=out, body_model=self.body_model,
                          uv_table=os.path.join(self.world, "densepose", "UV_Processed.mat"),
                          iuv_dir=os.path.join(self.world, folder, name), refine_iuv=refine,
                          uv_noise=noise, size=self.profile.crop_size)
        entry = converter(options).run()
        if not entry["written"]:
            raise BenchmarkError(f"converting {name} {split} wrote no samples ({len(entry['skipped'])} skipped)")
        write_bytes(stamp, json.dumps({"written": entry["written"]}).encode())
