"""Starting an encoder's ResNet trunk from the ImageNet weights users have (`--main_weights`,
`--aux_weights`); nothing is downloaded.

Two kinds of file, one per encoder layout (`tfhybrid.models.encoders`):

- keras.applications ResNet50 / ResNet101 weights (`resnet_layout='keras'`): a `.weights.h5` from
  `save_weights`, or a legacy `.h5` (Keras' downloadable `..._notop.h5`, or `model.save('x.h5')`),
  with or without the classifier on top. Keras reads the file into the same architecture built
  here; the trunk's layers are then copied by name.
- torchvision ResNet-18 / 50 / 101 state dicts (`.pth`, `.pt`; torchvision's layout: ResNet-18
  always, 50 and 101 with `resnet_layout='torchvision'`). Needs PyTorch (the `dct` extra).

The classifier on top is dropped and the encoder's 1024-wide `fc1` keeps its initialisation, as in
DCT. Any other difference stops with the first missing or mismatched tensor named.
"""
import os
import re

import numpy as np

TORCH_SUFFIXES = (".pth", ".pt")
KERAS_SUFFIXES = (".h5", ".hdf5")


class WeightsError(ValueError):
    """A weights file does not fit the encoder it is loaded into."""


def load_pretrained(encoder, path, depth, layout):
    """Copies a pre-trained trunk from `path` into `encoder` (built by `build_encoder`).

    Args:
      encoder: the Keras encoder model, named '<kind>_encoder'.
      depth, layout: the encoder's ResNet depth and layout ('keras' or 'torchvision').
    Raises:
      WeightsError naming the file and the first tensor that does not fit.
    """
    if not os.path.isfile(path):
        raise WeightsError(f"{path}: no such weights file")
    torchvision = depth == 18 or layout == "torchvision"
    if path.endswith(TORCH_SUFFIXES):
        if not torchvision:
            raise WeightsError(f"{path}: a torchvision state dict fits torchvision's ResNet layout; this "
                               f"ResNet-{depth} encoder has keras.applications' (use --resnet_layout=torchvision)")
        load_torchvision(encoder, path)
    elif path.endswith(KERAS_SUFFIXES):
        if torchvision:
            raise WeightsError(f"{path}: keras.applications weights fit --resnet_layout=keras with ResNet-50 or "
                               f"101; this ResNet-{depth} encoder has torchvision's layout (use a .pth state dict)")
        load_keras_applications(encoder, path, depth)
    else:
        raise WeightsError(f"{path}: expected keras.applications weights (.h5, .weights.h5) or a torchvision "
                           f"state dict (.pth, .pt)")


def torchvision_key(layer_name, encoder_name):
    """Keras layer name -> torch parameter prefix ('x_encoder_layer1_0_down_bn' -> 'layer1.0.downsample.1')."""
    local = layer_name[len(encoder_name) + 1:]
    match = re.fullmatch(r"layer(\d)_(\d+)_(.+)", local)
    if not match:
        return local
    stage, block, part = match.groups()
    part = {"down": "downsample.0", "down_bn": "downsample.1"}.get(part, part)
    return f"layer{stage}.{block}.{part}"


def copy_torchvision_encoder(encoder, take, prefix="", with_fc1=True):
    """Sets every layer of a torchvision-layout encoder from torch tensors.

    Args:
      take: `take(key, torch_shape) -> np.ndarray`, raising when the key is missing or mis-shaped.
      prefix: the state dict's prefix of the encoder ('main_encoder.' in DCT's checkpoints).
      with_fc1: also set the 1024-wide `fc1` (DCT checkpoints have it, ImageNet ones do not).
    """
    for layer in encoder.layers:
        weights = layer.get_weights()
        if not weights or (not with_fc1 and layer.name == f"{encoder.name}_fc1"):
            continue
        key = prefix + torchvision_key(layer.name, encoder.name)
        if len(weights) == 4:                                  # BatchNormalization
            names = ("weight", "bias", "running_mean", "running_var")
            layer.set_weights([take(f"{key}.{n}", w.shape) for n, w in zip(names, weights)])
        elif len(weights) == 1:                                # Conv2D without bias
            kh, kw, cin, cout = weights[0].shape
            layer.set_weights([take(f"{key}.weight", (cout, cin, kh, kw)).transpose(2, 3, 1, 0)])
        else:                                                  # Dense
            cin, cout = weights[0].shape
            layer.set_weights([take(f"{key}.weight", (cout, cin)).T, take(f"{key}.bias", (cout,))])


def read_torch_state(path):
    """A torch state dict as numpy arrays; a checkpoint holding it under 'state_dict' or 'model' and
    DistributedDataParallel's 'module.' prefix are accepted. Only tensors are unpickled."""
    try:
        import torch
    except ImportError:
        raise WeightsError(f"{path}: reading a .pth file needs PyTorch (pip install 'tfhybrid[dct]')") from None
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise WeightsError(f"{path}: not a readable torch state dict ({type(error).__name__}: "
                           f"{str(error).splitlines()[0] if str(error) else ''})") from None
    for wrapper in ("state_dict", "model"):
        if isinstance(raw, dict) and isinstance(raw.get(wrapper), dict):
            raw = raw[wrapper]
    if not isinstance(raw, dict) or not all(hasattr(v, "numpy") for v in raw.values()):
        raise WeightsError(f"{path}: expected a dict of tensors (a state dict)")
    return {k[len("module."):] if k.startswith("module.") else k: v.numpy() for k, v in raw.items()
            if not k.endswith("num_batches_tracked")}


class StateDictTaker:
    """Hands out a state dict's tensors by key and torch shape (`take(key, shape)`), raising `error`
    prefixed with `where` for a missing or mis-shaped one, and remembers which were taken."""

    def __init__(self, state, error, where=""):
        self.state, self.error, self.where, self.used = state, error, where, set()

    def __call__(self, key, shape):
        if key not in self.state:
            raise self.error(f"{self.where}missing tensor '{key}'")
        value = self.state[key]
        if value.shape != shape:
            raise self.error(f"{self.where}tensor '{key}' has shape {value.shape}, expected {shape}")
        self.used.add(key)
        return value.astype(np.float32)

    def unused(self, ignore=()):
        return sorted(k for k in set(self.state) - self.used if not k.startswith(tuple(ignore)))


def load_torchvision(encoder, path):
    take = StateDictTaker(read_torch_state(path), WeightsError, f"{path}: ")
    copy_torchvision_encoder(encoder, take, with_fc1=False)
    unused = take.unused(ignore=("fc.",))
    if unused:
        raise WeightsError(f"{path}: {len(unused)} tensors fit no layer of the encoder, e.g. {unused[:5]}")


def _has_classifier(path):
    """Whether a keras.applications weights file holds the 1000-way classifier."""
    import h5py

    with h5py.File(path, "r") as f:
        if "layers" in f:                                      # Keras 3 .weights.h5
            return "dense" in f["layers"]
        group = f["model_weights"] if "model_weights" in f else f
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs.get("layer_names", [])]
        if not names:
            raise WeightsError(f"{path}: neither a Keras .weights.h5 nor a legacy Keras .h5 weights file")
        return "predictions" in names


def load_keras_applications(encoder, path, depth):
    import keras

    try:
        top = _has_classifier(path)
    except OSError as error:
        raise WeightsError(f"{path}: not an HDF5 file ({error})") from None
    builder = {50: keras.applications.ResNet50, 101: keras.applications.ResNet101}[depth]
    source = builder(include_top=top, weights=None, input_shape=(224, 224, 3) if top else (None, None, 3))
    try:
        source.load_weights(path)
    except Exception as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WeightsError(f"{path}: not the weights of keras.applications.ResNet{depth} "
                           f"({'with' if top else 'without'} top): {first}") from None
    trunk = encoder.get_layer(f"{encoder.name}_resnet")
    for layer in trunk.layers:
        ours = layer.get_weights()
        if not ours:
            continue
        try:
            theirs = source.get_layer(layer.name).get_weights()
        except ValueError:
            raise WeightsError(f"{path}: no layer '{layer.name}' in the file's network") from None
        names = [v.path.rsplit("/", 1)[-1] for v in layer.weights]
        for name, mine, value in zip(names, ours, theirs):
            if mine.shape != value.shape:
                raise WeightsError(f"{path}: tensor '{layer.name}/{name}' has shape {value.shape}, the encoder "
                                   f"needs {mine.shape}")
        layer.set_weights(theirs)
