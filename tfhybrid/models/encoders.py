"""ResNet encoders ending as DCT's do: global average pool, ReLU, a 1024-wide dense layer, ReLU.

ResNet-18 is written here (keras.applications has none); ResNet-50 and -101 come from
`keras.applications` without weights (nothing is downloaded; `weights_path` loads a local file).
BatchNormalization is synchronised across replicas, so a step under MirroredStrategy equals the
single-device step on the same global batch.
"""
import keras
from keras import layers

FEATURES = 1024


def _bn(name):
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=True, name=name)


def _basic_block(x, filters, stride, name):
    shortcut = x
    y = layers.Conv2D(filters, 3, stride, padding="same", use_bias=False, name=f"{name}_conv1")(x)
    y = layers.ReLU()(_bn(f"{name}_bn1")(y))
    y = layers.Conv2D(filters, 3, 1, padding="same", use_bias=False, name=f"{name}_conv2")(y)
    y = _bn(f"{name}_bn2")(y)
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, stride, use_bias=False, name=f"{name}_down")(x)
        shortcut = _bn(f"{name}_down_bn")(shortcut)
    return layers.ReLU()(layers.Add()([y, shortcut]))


def resnet18_trunk(inputs, name):
    """torchvision's ResNet-18 layout (conv 7x7/2, max-pool, 4 stages of 2 basic blocks)."""
    x = layers.ZeroPadding2D(3)(inputs)
    x = layers.Conv2D(64, 7, 2, use_bias=False, name=f"{name}_conv1")(x)
    x = layers.ReLU()(_bn(f"{name}_bn1")(x))
    x = layers.ZeroPadding2D(1)(x)
    x = layers.MaxPooling2D(3, 2)(x)
    for stage, filters in enumerate((64, 128, 256, 512)):
        for block in range(2):
            stride = 2 if stage > 0 and block == 0 else 1
            x = _basic_block(x, filters, stride, f"{name}_layer{stage + 1}_{block}")
    return x


def _applications_trunk(depth, inputs, name):
    builder = {50: keras.applications.ResNet50, 101: keras.applications.ResNet101}[depth]
    trunk = builder(include_top=False, weights=None, input_shape=tuple(inputs.shape[1:]), pooling=None)
    trunk.name = name
    return trunk(inputs)


def build_encoder(depth, input_shape, name, weights_path=None):
    """A ResNet encoder: (B, H, W, C) -> (B, 1024).

    Args:
      depth: 18, 50 or 101.
      input_shape: (H, W, C); any channel count (image 3, IUV 3, one-hot segmentation 15).
      weights_path: optional local `.weights.h5` to initialise from (e.g. ImageNet weights).
    """
    if depth not in (18, 50, 101):
        raise ValueError(f"ResNet depth must be 18, 50 or 101, got {depth}")
    inputs = keras.Input(input_shape, name=f"{name}_input")
    trunk = resnet18_trunk(inputs, name) if depth == 18 else _applications_trunk(depth, inputs, f"{name}_resnet")
    x = layers.GlobalAveragePooling2D()(trunk)
    x = layers.ReLU()(x)
    x = layers.Dense(FEATURES, name=f"{name}_fc1")(x)
    x = layers.ReLU()(x)
    encoder = keras.Model(inputs, x, name=name)
    if weights_path:
        encoder.load_weights(weights_path)
    return encoder
