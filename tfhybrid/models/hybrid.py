"""`HybridModel`: encoder(s) -> regressor of 85 numbers over mean parameters -> SMPL -> projections.

Inputs (paper, Table 2): 'image', 'iuv', 'seg' (single branch) or 'image+iuv', 'image+seg' (a
ResNet-50-style branch on the image, a ResNet-18-style branch on the IUV map or segmentation,
features concatenated). Parameters are `[s, tx, ty | pose (72) | betas (10)]` added to the mean:
camera scale 0.9, the mean pose with the root rotated by pi about x, the mean shape.
"""
import dataclasses

import keras
import numpy as np
import tensorflow as tf

from tfhybrid import losses
from tfhybrid.layers import SMPL, gather_dense_keypoints, project_weak_perspective
from tfhybrid.models.encoders import build_encoder

INPUT_KINDS = ("image", "iuv", "seg", "image+iuv", "image+seg")
NUM_SEG_LABELS = 15
NUM_PARAMS = 85


@dataclasses.dataclass(frozen=True)
class ModelOptions:
    input_kind: str = "image"
    main_depth: int = 50
    aux_depth: int = 18
    input_size: int = 224
    main_weights: str = None
    aux_weights: str = None
    resnet_layout: str = "keras"     # ResNet-50/101: 'keras' (applications) or 'torchvision'
    bgr_input: bool = False           # DCT's checkpoints expect BGR images in [-1, 1]


@dataclasses.dataclass(frozen=True)
class LossWeights:
    keypoints: float = 10.0
    dense: float = 1.0
    smpl: float = 10.0
    joints3d: float = 10.0
    smpl_terms: str = "both"


def default_mean_params(mean_pose=None, mean_shape=None):
    """(85,) mean parameters: [0.9, 0, 0], the mean pose with root (pi, 0, 0), the mean shape."""
    pose = np.zeros(72) if mean_pose is None else np.asarray(mean_pose, np.float64).copy()
    pose[:3] = (np.pi, 0.0, 0.0)
    shape = np.zeros(10) if mean_shape is None else np.asarray(mean_shape, np.float64)
    return np.concatenate([[0.9, 0.0, 0.0], pose, shape]).astype(np.float32)


def branch_input(batch, kind):
    """The tensor a branch reads: image or IUV (B, S, S, 3), or one-hot segmentation (B, S, S, 15)."""
    if kind == "seg":
        return tf.one_hot(batch["seg"], NUM_SEG_LABELS)
    return batch[kind]


def _model_input(batch, kind, bgr):
    x = branch_input(batch, kind)
    return x[..., ::-1] if bgr and kind == "image" else x


class HybridModel(keras.Model):
    """The DCT model with its gated hybrid losses and a distribution-aware `train_step`."""

    def __init__(self, body_model, options=ModelOptions(), loss_weights=LossWeights(), mean_params=None,
                 global_batch_size=None, **kwargs):
        super().__init__(**kwargs)
        if options.input_kind not in INPUT_KINDS:
            raise ValueError(f"input_kind must be one of {INPUT_KINDS}, got {options.input_kind!r}")
        self.options = options
        self.loss_weights = loss_weights
        self.global_batch_size = global_batch_size
        kinds = options.input_kind.split("+")
        self.branch_kinds = kinds
        size = options.input_size
        channels = {"image": 3, "iuv": 3, "seg": NUM_SEG_LABELS}
        depths = [options.main_depth] + [options.aux_depth] * (len(kinds) - 1)
        weights = [options.main_weights, options.aux_weights]
        self.encoders = [build_encoder(depth, (size, size, channels[kind]), f"{kind}_encoder", weights[i],
                                       options.resnet_layout)
                         for i, (kind, depth) in enumerate(zip(kinds, depths))]
        self.fc = keras.layers.Dense(1024, activation="relu", name="regressor_fc")
        self.head = keras.layers.Dense(NUM_PARAMS, kernel_initializer=keras.initializers.VarianceScaling(0.01),
                                       name="regressor_out")
        mean = default_mean_params() if mean_params is None else np.asarray(mean_params, np.float32)
        self.mean_params = self.add_weight(name="mean_params", shape=(NUM_PARAMS,), trainable=False,
                                           initializer=keras.initializers.Constant(mean))
        self.smpl = SMPL(body_model, num_betas=10)
        self.metric_trackers = {name: keras.metrics.Mean(name=name)
                                for name in ("loss", "keypoints", "dense", "smpl", "joints3d")}

    def call(self, batch, training=False):
        """Forward pass.

        Args:
          batch: dict with the branch inputs ('image' (B, S, S, 3) in [-1, 1], 'iuv', or 'seg').
        Returns:
          dict: 'cam' (B, 3), 'pose' (B, 72), 'betas' (B, 10), 'vertices' (B, V, 3), 'joints' (B, 24, 3),
          'rotations' (B, 24, 3, 3), 'joints_<name>' per regressor, 'keypoints2d' (B, 19, 2) and
          'vertices2d' (B, V, 2) in the normalised crop frame.
        """
        features = [encoder(_model_input(batch, kind, self.options.bgr_input), training=training)
                    for encoder, kind in zip(self.encoders, self.branch_kinds)]
        x = features[0] if len(features) == 1 else tf.concat(features, axis=-1)
        params = self.head(self.fc(x)) + self.mean_params
        cam, pose, betas = params[:, :3], params[:, 3:75], params[:, 75:]
        body = self.smpl(betas, pose)
        out = {"params": params, "cam": cam, "pose": pose, "betas": betas, **body}
        out["vertices2d"] = project_weak_perspective(body["vertices"], cam)
        out["keypoints2d"] = project_weak_perspective(body["joints_cocoplus"], cam)
        return out

    def per_example_losses(self, batch, outputs):
        """Weighted per-example loss terms, each (B,)."""
        w = self.loss_weights
        dense_pred = gather_dense_keypoints(outputs["vertices2d"], batch["dense_vertex_ids"],
                                            batch["dense_barycentric"])
        terms = {
            "keypoints": w.keypoints * losses.keypoint_loss(outputs["keypoints2d"], batch["keypoints2d"],
                                                            batch["has_2d"]),
            "dense": w.dense * losses.dense_loss(dense_pred, batch["dense_xy"], batch["dense_mask"],
                                                 batch["has_dense"]),
            "smpl": w.smpl * losses.smpl_loss(outputs["rotations"], outputs["betas"], batch["smpl_pose"],
                                              batch["smpl_betas"], batch["has_smpl"], w.smpl_terms),
        }
        if "joints_h36m" in outputs:
            terms["joints3d"] = w.joints3d * losses.joints3d_loss(outputs["joints_h36m"], batch["joints3d"],
                                                                  batch["has_3d"])
        return terms

    def replica_step(self, batch):
        """One optimisation step on this replica's part of a global batch.

        Returns:
          dict of scalars: each loss term averaged over the *global* batch, so summing the replicas'
          values (`strategy.reduce(SUM, ...)`) gives the global mean, as on one device.
        """
        global_batch = self.global_batch_size or tf.shape(batch["image"])[0]
        with tf.GradientTape() as tape:
            outputs = self(batch, training=True)
            terms = self.per_example_losses(batch, outputs)
            per_example = tf.add_n(list(terms.values()))
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
        gradients = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        report = {"loss": loss}
        for name, value in terms.items():
            report[name] = tf.nn.compute_average_loss(value, global_batch_size=global_batch)
        return report

    def train_step(self, batch):
        """Keras `fit` entry: `replica_step` plus metric updates."""
        return self._update_metrics(self.replica_step(batch))

    def test_step(self, batch):
        outputs = self(batch, training=False)
        terms = self.per_example_losses(batch, outputs)
        report = {name: tf.reduce_mean(value) for name, value in terms.items()}
        report["loss"] = tf.add_n(list(report.values()))
        return self._update_metrics(report)

    def _update_metrics(self, report):
        for name, value in report.items():
            self.metric_trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.metric_trackers.items()}

    @property
    def metrics(self):
        return list(self.metric_trackers.values())
