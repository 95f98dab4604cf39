"""ResNet encoders ending as DCT's do: global average pool, ReLU, a 1024-wide dense layer, ReLU.

ResNet-18 is written here in torchvision's layout (keras.applications has none); ResNet-50 and -101
come from `keras.applications` without weights (nothing is downloaded; `weights_path` loads a local
file) or, with `layout='torchvision'`, are written here too (the layout of DCT's checkpoints).
BatchNormalization is synchronised across replicas, so a step under MirroredStrategy equals the
single-device step on the same global batch.
"""
import keras
from keras import layers

FEATURES = 1024


def _bn(name):
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=True, name=name)


def _conv(x, filters, kernel, stride, name):
    """Convolution with PyTorch's symmetric zero padding (kernel // 2), so converted torchvision
    weights give the same numbers ('same' padding would pad stride-2 layers asymmetrically)."""
    if kernel > 1:
        x = layers.ZeroPadding2D(kernel // 2)(x)
    return layers.Conv2D(filters, kernel, stride, use_bias=False, name=name)(x)


def _basic_block(x, filters, stride, name):
    shortcut = x
    y = layers.ReLU()(_bn(f"{name}_bn1")(_conv(x, filters, 3, stride, f"{name}_conv1")))
    y = _bn(f"{name}_bn2")(_conv(y, filters, 3, 1, f"{name}_conv2"))
    if stride != 1 or x.shape[-1] != filters:
        shortcut = _bn(f"{name}_down_bn")(_conv(x, filters, 1, stride, f"{name}_down"))
    return layers.ReLU()(layers.Add()([y, shortcut]))


def _bottleneck(x, filters, stride, name):
    """torchvision's ResNet v1.5 bottleneck: the stride sits on the 3x3 convolution."""
    shortcut = x
    y = layers.ReLU()(_bn(f"{name}_bn1")(_conv(x, filters, 1, 1, f"{name}_conv1")))
    y = layers.ReLU()(_bn(f"{name}_bn2")(_conv(y, filters, 3, stride, f"{name}_conv2")))
    y = _bn(f"{name}_bn3")(_conv(y, 4 * filters, 1, 1, f"{name}_conv3"))
    if stride != 1 or x.shape[-1] != 4 * filters:
        shortcut = _bn(f"{name}_down_bn")(_conv(x, 4 * filters, 1, stride, f"{name}_down"))
    return layers.ReLU()(layers.Add()([y, shortcut]))


BLOCKS = {18: (_basic_block, (2, 2, 2, 2)), 50: (_bottleneck, (3, 4, 6, 3)), 101: (_bottleneck, (3, 4, 23, 3))}


def torchvision_trunk(depth, inputs, name):
    """torchvision's ResNet layout (conv 7x7/2, max-pool, 4 stages), layers named after its keys."""
    block, counts = BLOCKS[depth]
    x = layers.ReLU()(_bn(f"{name}_bn1")(_conv(inputs, 64, 7, 2, f"{name}_conv1")))
    x = layers.ZeroPadding2D(1)(x)
    x = layers.MaxPooling2D(3, 2)(x)
    for stage, (filters, count) in enumerate(zip((64, 128, 256, 512), counts)):
        for index in range(count):
            stride = 2 if stage > 0 and index == 0 else 1
            x = block(x, filters, stride, f"{name}_layer{stage + 1}_{index}")
    return x


def _applications_trunk(depth, inputs, name):
    builder = {50: keras.applications.ResNet50, 101: keras.applications.ResNet101}[depth]
    trunk = builder(include_top=False, weights=None, input_shape=tuple(inputs.shape[1:]), pooling=None)
    trunk.name = name
    return trunk(inputs)


def build_encoder(depth, input_shape, name, weights_path=None, layout="keras"):
    """A ResNet encoder: (B, H, W, C) -> (B, 1024).

    Args:
      depth: 18, 50 or 101.
      layout: for 50 and 101, 'keras' (keras.applications) or 'torchvision' (ResNet v1.5, the
        layout of DCT's checkpoints); ResNet-18 is always torchvision's.
      input_shape: (H, W, C); any channel count (image 3, IUV 3, one-hot segmentation 15).
      weights_path: optional ImageNet weights of the trunk: keras.applications `.h5` / `.weights.h5`
        or a torchvision `.pth` state dict (see `tfhybrid.models.pretrained`).
    """
    if depth not in (18, 50, 101):
        raise ValueError(f"ResNet depth must be 18, 50 or 101, got {depth}")
    inputs = keras.Input(input_shape, name=f"{name}_input")
    if layout not in ("keras", "torchvision"):
        raise ValueError(f"layout must be 'keras' or 'torchvision', got {layout!r}")
    if depth == 18 or layout == "torchvision":
        trunk = torchvision_trunk(depth, inputs, name)
    else:
        trunk = _applications_trunk(depth, inputs, f"{name}_resnet")
    x = layers.GlobalAveragePooling2D()(trunk)
    x = layers.ReLU()(x)
    x = layers.Dense(FEATURES, name=f"{name}_fc1")(x)
    x = layers.ReLU()(x)
    encoder = keras.Model(inputs, x, name=name)
    if weights_path:
        from tfhybrid.models.pretrained import load_pretrained

        load_pretrained(encoder, weights_path, depth, layout)
    return encoder
