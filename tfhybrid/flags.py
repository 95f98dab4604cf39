"""Flags shared by the entry points (train, evaluate), with their defaults in one place."""
from absl import flags

from tfhybrid.models.hybrid import INPUT_KINDS

TRAINING_FLAGS = []


def _define(kind, name, default, help_text, enum_values=None):
    """Defines a flag that describes the trained model (saved with the run, compared on resume)."""
    if kind == "enum":
        flags.DEFINE_enum(name, default, enum_values, help_text)
    else:
        getattr(flags, f"DEFINE_{kind}")(name, default, help_text)
    TRAINING_FLAGS.append(name)


def define_model_flags():
    _define("enum", "input", "image", "Network input.", enum_values=list(INPUT_KINDS))
    _define("integer", "main_depth", 50, "ResNet depth of the main (image) branch: 18, 50 or 101.")
    _define("integer", "aux_depth", 18, "ResNet depth of the IUV/segmentation branch of two-branch models.")
    _define("integer", "input_size", 224, "Crop size fed to the network (records are resized if different).")
    _define("enum", "resnet_layout", "keras", "ResNet-50/101 layout: keras.applications or torchvision (ResNet v1.5, "
            "the layout of DCT's checkpoints).", enum_values=["keras", "torchvision"])
    _define("bool", "bgr_input", False, "Feed the image branch BGR (DCT's checkpoints expect it).")
    _define("string", "main_weights", None, "Optional local weights file for the main encoder.")
    _define("string", "aux_weights", None, "Optional local weights file for the auxiliary encoder.")
    _define("string", "body_model", None, "SMPL-format body model (.pkl or .npz) with 'cocoplus' and 'h36m' "
            "regressors.")
    _define("string", "mean_params", None, "HMR-style mean-parameter .h5 (pose 72, shape 10); default: zero pose "
            "and shape with the root rotated by pi about x.")


def define_training_flags():
    define_model_flags()
    _define("multi_string", "train_data", [], "Training source as 'weight:glob' (repeatable), e.g. "
            "'0.5:out/records/h36m-train-*.tfrecord'.")
    _define("integer", "batch_size", 64, "Global batch size (split over replicas).")
    _define("integer", "steps", 1000, "Training steps.")
    _define("integer", "steps_per_epoch", 100, "Steps per epoch of the cosine learning-rate schedule.")
    _define("float", "learning_rate", 1e-4, "Adam learning rate before decay.")
    _define("float", "kp_weight", 10.0, "Weight of the 2D keypoint loss.")
    _define("float", "dense_weight", 1.0, "Weight of the dense keypoint loss.")
    _define("float", "smpl_weight", 10.0, "Weight of the SMPL parameter loss.")
    _define("float", "joints3d_weight", 10.0, "Weight of the 3D joint loss.")
    _define("enum", "smpl_terms", "both", "SMPL loss on pose and shape, pose only or shape only.",
            enum_values=["both", "pose", "shape"])
    _define("float", "fraction_3d", 1.0, "Fraction of samples of --datasets_3d that keep their 3D labels.")
    _define("list", "datasets_3d", ["up-3d"], "Datasets that --fraction_3d applies to.")
    _define("float", "fraction_dense", 1.0, "Fraction of dense points kept.")
    _define("integer", "max_dense_per_person", 0, "Cap on dense points per person (0: none).")
    _define("float", "uv_noise", 0.0, "Gaussian noise sigma (0..255 scale) on U and V of the IUV input.")
    _define("bool", "use_dense", True, "Use dense keypoint supervision (the 'dense' of the study).")
    _define("bool", "use_3d", True, "Use 3D supervision of --datasets_3d at all.")
    _define("integer", "seed", 0, "Seed of initialisation, data order and augmentation.")
    _define("string", "init_from", None, "Model dir of a finished run whose latest weights start this one (the "
            "study's studio pre-training); same architecture required; used on a fresh start only.")
    flags.DEFINE_string("model_dir", None, "Where checkpoints, flags and logs go.")
    flags.DEFINE_enum("strategy", "auto", ["auto", "default", "mirrored", "multi_worker"],
                      "tf.distribute strategy; auto: mirrored when more than one GPU is visible.")
    flags.DEFINE_integer("checkpoint_every", 200, "Save a checkpoint every N steps (and at the end).")
    flags.DEFINE_integer("log_every", 20, "Write TensorBoard scalars every N steps.")
    flags.DEFINE_bool("allow_flag_changes", False, "Resume even if training flags differ from the saved run.")
    flags.DEFINE_bool("skip_corrupt", False, "Skip (and count) corrupt records instead of stopping.")
    flags.DEFINE_bool("jit_compile", False, "Compile the whole training step with XLA: pays off on GPUs, slower for CPU convolutions.")
