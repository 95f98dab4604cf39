"""`HybridModel`: encoder(s) -> regressor of 85 numbers over mean parameters -> SMPL -> projections.

Inputs (paper, Table 2): 'image', 'iuv', 'seg' (single branch) or 'image+iuv', 'image+seg' (a
ResNet-50-style branch on the image, a ResNet-18-style branch on the IUV map or segmentation,
features concatenated). Parameters are `[s, tx, ty | pose (72) | betas (10)]` added to the mean:
camera scale 0.9, the mean pose with the root rotated by pi about x, the mean shape.
"""
import contextlib

import keras
import numpy as np
import tensorflow as tf

from tfhybrid import losses, preprocess
from tfhybrid.config import LossConfig, ModelConfig
from tfhybrid.layers import SMPL, project_weak_perspective
from tfhybrid.models.encoders import build_encoder

# The regressed vector: camera [s, tx, ty], then SMPL's axis-angle pose, then its shape.
NUM_CAMERA, NUM_POSE, NUM_BETAS = 3, 72, 10
NUM_PARAMS = NUM_CAMERA + NUM_POSE + NUM_BETAS


def split_params(params):
    """(B, 85) -> camera (B, 3), pose (B, 72), betas (B, 10)."""
    return tf.split(params, [NUM_CAMERA, NUM_POSE, NUM_BETAS], axis=-1)


def default_mean_params(mean_pose=None, mean_shape=None):
    """(85,) mean parameters: [0.9, 0, 0], the mean pose with root (pi, 0, 0), the mean shape."""
    pose = np.zeros(NUM_POSE) if mean_pose is None else np.asarray(mean_pose, np.float64).copy()
    pose[:3] = (np.pi, 0.0, 0.0)
    shape = np.zeros(NUM_BETAS) if mean_shape is None else np.asarray(mean_shape, np.float64)
    return np.concatenate([[0.9, 0.0, 0.0], pose, shape]).astype(np.float32)


def body_outputs(smpl, params):
    """The body of (B, 85) parameters and its projections (see `HybridModel.call` for the keys)."""
    cam, pose, betas = split_params(params)
    body = smpl(betas, pose)
    out = {"params": params, "cam": cam, "pose": pose, "betas": betas, **body}
    out["vertices2d"] = project_weak_perspective(body["vertices"], cam)
    out["keypoints2d"] = project_weak_perspective(body["joints_cocoplus"], cam)
    return out


class HybridModel(keras.Model):
    """The DCT model and its gated hybrid losses; `replica_step` is one distributed training step."""

    def __init__(self, body_model, options=ModelConfig(), loss_config=LossConfig(), mean_params=None,
                 global_batch_size=None, **kwargs):
        super().__init__(**kwargs)
        self.options = options
        self.loss_config = loss_config
        self.global_batch_size = global_batch_size
        self.branch_kinds = options.branch_kinds
        size = options.input_size
        channels = {"image": 3, "iuv": 3, "seg": preprocess.NUM_SEG_LABELS}
        depths = [options.main_depth] + [options.aux_depth] * (len(self.branch_kinds) - 1)
        weights = [options.main_weights, options.aux_weights]
        with encoder_precision(options.precision):
            self.encoders = [build_encoder(depth, (size, size, channels[kind]), f"{kind}_encoder", weights[i],
                                           options.resnet_layout)
                             for i, (kind, depth) in enumerate(zip(self.branch_kinds, depths))]
        self.fc = keras.layers.Dense(1024, activation="relu", name="regressor_fc")
        self.head = keras.layers.Dense(NUM_PARAMS, kernel_initializer=keras.initializers.VarianceScaling(0.01),
                                       name="regressor_out")
        mean = default_mean_params() if mean_params is None else np.asarray(mean_params, np.float32)
        self.mean_params = self.add_weight(name="mean_params", shape=(NUM_PARAMS,), trainable=False,
                                           initializer=keras.initializers.Constant(mean))
        self.smpl = SMPL(body_model, num_betas=NUM_BETAS)

    def call(self, batch, training=False):
        """Forward pass.

        Args:
          batch: dict with the branch inputs ('image' (B, S, S, 3) in [-1, 1], 'iuv', or 'seg'; see
            `tfhybrid.preprocess`).
        Returns:
          dict: 'params' (B, 85), 'cam' (B, 3), 'pose' (B, 72), 'betas' (B, 10), 'vertices' (B, V, 3),
          'joints' (B, 24, 3), 'rotations' (B, 24, 3, 3), 'joints_<name>' per regressor,
          'keypoints2d' (B, 19, 2) and 'vertices2d' (B, V, 2) in the normalised crop frame.
        """
        features = [encoder(preprocess.branch_tensor(batch, kind, self.options.bgr_input), training=training)
                    for encoder, kind in zip(self.encoders, self.branch_kinds)]
        x = features[0] if len(features) == 1 else tf.concat(features, axis=-1)
        params = self.head(self.fc(tf.cast(x, tf.float32))) + self.mean_params
        return self.outputs_from_params(params)

    def outputs_from_params(self, params):
        """The body, its projections and the split parameters for (B, 85) parameters."""
        return body_outputs(self.smpl, params)

    def per_example_losses(self, batch, outputs):
        """Weighted per-example loss terms, each (B,)."""
        return losses.weighted_terms(outputs, batch, self.loss_config)

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


@contextlib.contextmanager
def encoder_precision(precision):
    """Builds the encoders under a Keras dtype policy ('mixed_bfloat16': bfloat16 arithmetic,
    float32 variables); the regressor and SMPL stay float32."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
