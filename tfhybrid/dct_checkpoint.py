"""Conversion of the DCT authors' PyTorch checkpoints into a HybridModel.

DCT's `DCTEncoder` state dict holds `main_encoder.*` and optionally `aux_encoder.*` (torchvision
ResNet keys: conv1, bn1, layerS.B.{convK,bnK,downsample.0,downsample.1}, and the 1024-wide `fc1`),
`feat_encoder.1` (the layer between the two ReLUs) and `regressor.0` (the 85 outputs). A
`module.` prefix (DistributedDataParallel) is removed. DCT feeds BGR images scaled to [-1, 1], so
the converted model is built with `bgr_input=True` and the torchvision ResNet layout.
"""
import re

import numpy as np

from tfhybrid.models.encoders import BLOCKS
from tfhybrid.models.pretrained import StateDictTaker, copy_torchvision_encoder


class CheckpointError(ValueError):
    """A state dict does not have DCT's keys or shapes."""


def strip_prefix(state):
    return {k[len("module."):] if k.startswith("module.") else k: np.asarray(v) for k, v in state.items()
            if not k.endswith("num_batches_tracked")}


def resnet_depth(state, prefix):
    """18, 50 or 101 from the block count of stage 3 and the presence of bottleneck convs."""
    blocks = {int(m.group(1)) for k in state for m in [re.match(rf"{prefix}\.layer3\.(\d+)\.", k)] if m}
    if not blocks:
        raise CheckpointError(f"no '{prefix}.layer3.*' keys: not a DCT encoder state dict")
    count = max(blocks) + 1
    for depth, (_, counts) in BLOCKS.items():
        if counts[2] == count and (depth == 18) == (f"{prefix}.layer1.0.conv3.weight" not in state):
            return depth
    raise CheckpointError(f"'{prefix}' has {count} blocks in layer3: not ResNet-18, 50 or 101")


def load_into(model, state):
    """Copies a DCT state dict into a HybridModel built with the matching branches and depths."""
    state = strip_prefix(state)
    take = StateDictTaker(state, CheckpointError)

    for encoder, prefix in zip(model.encoders, ("main_encoder", "aux_encoder")):
        copy_torchvision_encoder(encoder, take, f"{prefix}.")
    for layer, key in ((model.fc, "feat_encoder.1"), (model.head, "regressor.0")):
        cin, cout = layer.get_weights()[0].shape
        layer.set_weights([take(f"{key}.weight", (cout, cin)).T, take(f"{key}.bias", (cout,))])
    unused = take.unused()
    if unused:
        raise CheckpointError(f"{len(unused)} keys were not used, e.g. {unused[:5]}")
