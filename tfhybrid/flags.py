"""The command-line edge: flag definitions, and the one place that turns flags into values.

Every training flag is a field of `tfhybrid.config.RunConfig` (same name, same default);
`run_config_from_flags()` and `runtime_from_flags()` are the only readers of absl's FLAGS that
the entry points call, and they pass the values on.
"""
import dataclasses

from absl import flags

from tfhybrid import config as config_lib

FLAGS = flags.FLAGS

_HELP = {
    "input": "Network input.",
    "main_depth": "ResNet depth of the main (image) branch: 18, 50 or 101.",
    "aux_depth": "ResNet depth of the IUV/segmentation branch of two-branch models.",
    "input_size": "Crop size fed to the network (records are resized if different).",
    "resnet_layout": "ResNet-50/101 layout: keras.applications or torchvision (ResNet v1.5, the layout of DCT's "
                     "checkpoints).",
    "bgr_input": "Feed the image branch BGR (DCT's checkpoints expect it).",
    "main_weights": "ImageNet weights of the main encoder's ResNet: keras.applications .h5 / .weights.h5 "
                    "(--resnet_layout=keras) or a torchvision .pth state dict.",
    "aux_weights": "ImageNet weights of the auxiliary encoder's ResNet (a torchvision .pth for ResNet-18).",
    "precision": "float32, or mixed_bfloat16 (bfloat16 encoder arithmetic, float32 variables and regressor).",
    "body_model": "SMPL-format body model (.pkl or .npz) with 'cocoplus' and 'h36m' regressors.",
    "mean_params": "HMR-style mean-parameter .h5 (pose 72, shape 10); default: zero pose and shape with the root "
                   "rotated by pi about x.",
    "train_data": "Training source as 'weight:glob' (repeatable), e.g. '0.5:out/records/h36m-train-*.tfrecord'.",
    "batch_size": "Global batch size (split over replicas).",
    "steps": "Training steps.",
    "steps_per_epoch": "Steps per epoch of the cosine learning-rate schedule.",
    "learning_rate": "Adam learning rate before decay.",
    "kp_weight": "Weight of the 2D keypoint loss.",
    "dense_weight": "Weight of the dense keypoint loss.",
    "smpl_weight": "Weight of the SMPL parameter loss.",
    "joints3d_weight": "Weight of the 3D joint loss.",
    "smpl_terms": "SMPL loss on pose and shape, pose only or shape only.",
    "fraction_3d": "Fraction of samples of --datasets_3d that keep their 3D labels.",
    "datasets_3d": "Datasets that --fraction_3d and --use_3d apply to.",
    "fraction_dense": "Fraction of each person's dense points kept (the same subset at every step).",
    "max_dense_per_person": "Cap on dense points per person, a fixed subset spread over the body (0: none).",
    "iuv_input_noise": "Gaussian noise sigma (0..255 scale) on U and V of the IUV network input, drawn anew each "
                       "step (the converter's --uv_noise instead perturbs the records once).",
    "use_dense": "Use dense keypoint supervision (the 'dense' of the study).",
    "use_3d": "Use 3D supervision of --datasets_3d at all.",
    "seed": "Seed of initialisation, data order and augmentation.",
    "init_from": "Model dir of a finished run whose latest weights start this one (the study's studio "
                 "pre-training); same architecture required; used on a fresh start only.",
}
_ENUMS = {"input": config_lib.INPUT_KINDS, "resnet_layout": config_lib.RESNET_LAYOUTS,
          "smpl_terms": config_lib.SMPL_TERMS, "precision": config_lib.PRECISIONS}
_MULTI = {"train_data"}


def _define_config_flag(name):
    default = config_lib.default_value(name)
    if name in _ENUMS:
        flags.DEFINE_enum(name, default, list(_ENUMS[name]), _HELP[name])
    elif name in _MULTI:
        flags.DEFINE_multi_string(name, default, _HELP[name])
    elif isinstance(default, list):
        flags.DEFINE_list(name, default, _HELP[name])
    elif isinstance(default, bool):
        flags.DEFINE_bool(name, default, _HELP[name])
    elif isinstance(default, int):
        flags.DEFINE_integer(name, default, _HELP[name])
    elif isinstance(default, float):
        flags.DEFINE_float(name, default, _HELP[name])
    else:
        flags.DEFINE_string(name, default, _HELP[name])


def define_training_flags():
    """Every `RunConfig` flag, plus `--model_dir` and the runtime flags of `RuntimeOptions`."""
    for name in config_lib.flat_names():
        _define_config_flag(name)
    flags.DEFINE_string("model_dir", None, "Where checkpoints, flags and logs go.")
    flags.DEFINE_enum("strategy", "auto", ["auto", "default", "mirrored", "multi_worker"],
                      "tf.distribute strategy; auto: mirrored when more than one GPU is visible.")
    flags.DEFINE_integer("checkpoint_every", 200, "Save a checkpoint every N steps (and at the end).")
    flags.DEFINE_integer("log_every", 20, "Write TensorBoard scalars every N steps.")
    flags.DEFINE_bool("allow_flag_changes", False, "Resume even if training flags differ from the saved run.")
    flags.DEFINE_bool("skip_corrupt", False, "Skip (and count) corrupt records instead of stopping.")
    flags.DEFINE_bool("jit_compile", False, "Compile the whole training step with XLA: pays off on GPUs, slower for "
                      "CPU convolutions.")
    flags.DEFINE_integer("threads", 0, "CPU threads of TensorFlow's ops and of the input pipeline (0: TensorFlow's "
                         "default, every core); several runs side by side on one CPU share it better with fewer each.")
    flags.DEFINE_string("validation_data", None, "Validation shards (comma-separated globs), evaluated every "
                        "--validate_every steps: the learning curve in model_dir/validation.json and TensorBoard.")
    flags.DEFINE_integer("validate_every", 0, "Evaluate on --validation_data every N steps (0: never).")


def run_config_from_flags():
    """The `RunConfig` of the parsed command line (a bad value is a usage error naming the flag)."""
    from absl import app

    try:
        return config_lib.RunConfig.from_flat({name: FLAGS[name].value for name in config_lib.flat_names()},
                                              source="command line")
    except config_lib.ConfigError as error:
        raise app.UsageError(str(error)) from None


def runtime_from_flags():
    """The `RuntimeOptions` of the parsed command line."""
    from absl import app

    try:
        return config_lib.RuntimeOptions(**{f.name: FLAGS[f.name].value
                                            for f in dataclasses.fields(config_lib.RuntimeOptions)})
    except config_lib.ConfigError as error:
        raise app.UsageError(str(error)) from None
