"""The run configuration as values: what a model is, how it is trained and on what.

`RunConfig` groups the model's architecture (`ModelConfig`), its loss weights (`LossConfig`), its
training data and the study's knobs (`DataConfig`), the optimiser and schedule (`OptimConfig`),
and the files and seed of the run. It is built from command-line flags in one place
(`tfhybrid.flags.run_config_from_flags`) and from a model directory's `flags.json` in one place
(`load_run_config`); everything past the command-line edge takes these values, never absl's FLAGS.

The flat form (`to_flat` / `from_flat`) is the `flags.json` layout: one entry per training flag,
named as the flag. Field names equal flag names, so the flat form is the sections merged.
`from_flat` migrates older files: `LEGACY_NAMES` maps renamed flags to their new names.
"""
import dataclasses
import functools
import json
import os

INPUT_KINDS = ("image", "iuv", "seg", "image+iuv", "image+seg")
SMPL_TERMS = ("both", "pose", "shape")
RESNET_LAYOUTS = ("keras", "torchvision")
PRECISIONS = ("float32", "mixed_bfloat16")

# Old flag name -> new name; `from_flat` reads both.
LEGACY_NAMES = {"uv_noise": "iuv_input_noise"}


class ConfigError(ValueError):
    """A configuration value or file is not what the run needs."""


def _choice(name, value, allowed):
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {list(allowed)}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The architecture: what a checkpoint holds and `build_model` needs."""

    input: str = "image"
    main_depth: int = 50
    aux_depth: int = 18
    input_size: int = 224
    resnet_layout: str = "keras"     # ResNet-50/101: 'keras' (applications) or 'torchvision' (DCT's checkpoints)
    bgr_input: bool = False           # DCT's checkpoints expect BGR images in [-1, 1]
    main_weights: str = None          # optional weights file of the main encoder
    aux_weights: str = None           # optional weights file of the auxiliary encoder
    precision: str = "float32"        # or 'mixed_bfloat16' (float32 variables, bfloat16 convolutions)

    def __post_init__(self):
        _choice("input", self.input, INPUT_KINDS)
        _choice("resnet_layout", self.resnet_layout, RESNET_LAYOUTS)
        _choice("precision", self.precision, PRECISIONS)
        for name in ("main_depth", "aux_depth"):
            _choice(name, getattr(self, name), (18, 50, 101))
        if self.input_size < 32:
            raise ConfigError(f"input_size must be at least 32 pixels, got {self.input_size}")

    @property
    def branch_kinds(self):
        """('image',), ('iuv',), ('seg',), ('image', 'iuv') or ('image', 'seg')."""
        return tuple(self.input.split("+"))


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Weights of the loss terms (paper eqs. 1-5); `use_dense` off sets the dense weight to 0."""

    kp_weight: float = 10.0
    dense_weight: float = 1.0
    smpl_weight: float = 10.0
    joints3d_weight: float = 10.0
    smpl_terms: str = "both"          # SMPL loss on pose and shape, pose only or shape only (Table 4)
    use_dense: bool = True

    def __post_init__(self):
        _choice("smpl_terms", self.smpl_terms, SMPL_TERMS)

    @property
    def applied_dense_weight(self):
        return self.dense_weight if self.use_dense else 0.0


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Training sources ('weight:glob') and the study's knobs on them."""

    train_data: tuple = ()
    fraction_3d: float = 1.0          # fraction of the samples of `datasets_3d` that keep their 3D labels
    datasets_3d: tuple = ("up-3d",)
    use_3d: bool = True               # off: no 3D labels of `datasets_3d` at all
    fraction_dense: float = 1.0       # fraction of each sample's dense points kept (fixed subset)
    max_dense_per_person: int = 0     # cap on dense points per person (0: none)
    iuv_input_noise: float = 0.0      # Gaussian sigma (0..255 scale) on U and V of the IUV *input*, per step

    def __post_init__(self):
        object.__setattr__(self, "train_data", tuple(self.train_data))
        object.__setattr__(self, "datasets_3d", tuple(self.datasets_3d))
        for name in ("fraction_3d", "fraction_dense"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must lie in [0, 1], got {getattr(self, name)}")
        if self.max_dense_per_person < 0 or self.iuv_input_noise < 0:
            raise ConfigError("max_dense_per_person and iuv_input_noise must not be negative")

    @property
    def applied_fraction_3d(self):
        return self.fraction_3d if self.use_3d else 0.0


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    """Adam with DCT's epoch-wise cosine decay."""

    batch_size: int = 64              # global batch, split over replicas
    steps: int = 1000
    steps_per_epoch: int = 100
    learning_rate: float = 1e-4

    def __post_init__(self):
        for name in ("batch_size", "steps", "steps_per_epoch"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.learning_rate >= 0:
            raise ConfigError(f"learning_rate must not be negative, got {self.learning_rate}")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything that decides what a run trains (saved as `flags.json`, compared on resume)."""

    model: ModelConfig = ModelConfig()
    losses: LossConfig = LossConfig()
    data: DataConfig = DataConfig()
    optim: OptimConfig = OptimConfig()
    body_model: str = None            # SMPL-format body model (.pkl or .npz) with 'cocoplus' and 'h36m' regressors
    mean_params: str = None           # HMR-style mean-parameter .h5; default: zero pose and shape, root flipped
    seed: int = 0
    init_from: str = None             # model dir whose latest weights start a fresh run (same architecture)

    def to_flat(self):
        """{flag name: value}: the `flags.json` layout (lists for tuples, as JSON has them)."""
        flat = {}
        for section in SECTIONS:
            flat.update(dataclasses.asdict(getattr(self, section)))
        flat.update({name: getattr(self, name) for name in TOP_LEVEL})
        return {k: list(v) if isinstance(v, tuple) else v for k, v in flat.items()}

    @classmethod
    def from_flat(cls, values, source="configuration"):
        """The inverse of `to_flat`; missing entries take their defaults, renamed ones are migrated
        (`LEGACY_NAMES`), unknown ones are an error naming `source`."""
        values = {LEGACY_NAMES.get(k, k): v for k, v in values.items()}
        unknown = sorted(set(values) - set(flat_names()))
        if unknown:
            raise ConfigError(f"{source}: unknown training flag(s) {unknown}")
        values = {k: _coerce(k, v) for k, v in values.items()}
        try:
            sections = {section: _section_type(section)(**{k: values[k] for k in _field_names(section) if k in values})
                        for section in SECTIONS}
            return cls(**sections, **{k: values[k] for k in TOP_LEVEL if k in values})
        except (TypeError, ConfigError) as error:
            raise ConfigError(f"{source}: {error}") from None

    def replace(self, **flat_changes):
        """A copy with some flat entries changed (e.g. `config.replace(steps=10, input='iuv')`)."""
        return RunConfig.from_flat({**self.to_flat(), **flat_changes})


SECTIONS = ("model", "losses", "data", "optim")
TOP_LEVEL = ("body_model", "mean_params", "seed", "init_from")


def _section_type(section):
    return {f.name: f.type for f in dataclasses.fields(RunConfig)}[section]


def _field_names(section):
    return [f.name for f in dataclasses.fields(_section_type(section))]


def flat_names():
    """Every training flag's name, in section order."""
    return [name for section in SECTIONS for name in _field_names(section)] + list(TOP_LEVEL)


def _coerce(name, value):
    """JSON and flagfiles may give 10 for 10.0: floats are stored as floats, so equal configurations
    serialise (and hash) alike."""
    if isinstance(default_value(name), float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


@functools.lru_cache(maxsize=1)
def _defaults():
    return RunConfig().to_flat()


def default_value(name):
    value = _defaults()[name]
    return list(value) if isinstance(value, list) else value


def flags_path(model_dir):
    return os.path.join(model_dir, "flags.json")


def load_run_config(model_dir):
    """The `RunConfig` saved in `model_dir/flags.json` (older files migrated, see `from_flat`)."""
    path = flags_path(model_dir)
    try:
        with open(path) as f:
            values = json.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{model_dir} holds no flags.json: not a tfhybrid model directory") from None
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}: not JSON ({error})") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a JSON object of training flags")
    return RunConfig.from_flat(values, source=path)


def save_run_config(model_dir, config):
    from tfhybrid.fileio import write_bytes

    write_bytes(flags_path(model_dir), json.dumps(config.to_flat(), indent=1, sort_keys=True).encode())


def config_differences(saved, current):
    """{flag: (saved, current)} of the flat entries that differ."""
    a, b = saved.to_flat(), current.to_flat()
    return {k: (a[k], b[k]) for k in a if a[k] != b[k]}


@dataclasses.dataclass(frozen=True)
class RuntimeOptions:
    """How a training job runs, as opposed to what it trains (not saved, not compared)."""

    strategy: str = "auto"            # auto, default, mirrored or multi_worker
    checkpoint_every: int = 200
    log_every: int = 20
    allow_flag_changes: bool = False
    skip_corrupt: bool = False
    jit_compile: bool = False
    threads: int = 0                  # CPU threads of TensorFlow's ops and of the input pipeline (0: all cores)
    validation_data: str = None       # comma-separated globs evaluated every `validate_every` steps
    validate_every: int = 0           # 0: no validation during training

    def __post_init__(self):
        if self.validate_every and not self.validation_data:
            raise ConfigError("validate_every needs validation_data (the records to evaluate on)")
