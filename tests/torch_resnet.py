"""torchvision-layout ResNet state dicts with random values and a reference forward written with
torch.nn.functional, independent of the Keras encoders they are loaded into."""
import numpy as np
import torch
import torch.nn.functional as F

from tfhybrid.models.encoders import BLOCKS


def resnet_state(rng, prefix, depth, in_channels=3, head=("fc1", 1024)):
    """{key: array} of a torchvision ResNet; `prefix` is '' (torchvision) or e.g. 'main_encoder'.

    head: (name, width) of the last linear layer: DCT's ('fc1', 1024) or ImageNet's ('fc', 1000).
    """
    state = {}
    dot = f"{prefix}." if prefix else ""

    def conv(key, cout, cin, k):
        state[f"{dot}{key}.weight"] = rng.normal(0, np.sqrt(1.0 / (cin * k * k)), (cout, cin, k, k))

    def bn(key, c):
        state.update({f"{dot}{key}.weight": rng.uniform(0.3, 0.6, c), f"{dot}{key}.bias": rng.normal(0, 0.1, c),
                      f"{dot}{key}.running_mean": rng.normal(0, 0.1, c),
                      f"{dot}{key}.running_var": rng.uniform(0.5, 1.5, c),
                      f"{dot}{key}.num_batches_tracked": np.array(7)})

    conv("conv1", 64, in_channels, 7)
    bn("bn1", 64)
    bottleneck = depth != 18
    channels = 64
    for stage, (filters, count) in enumerate(zip((64, 128, 256, 512), BLOCKS[depth][1])):
        for b in range(count):
            key = f"layer{stage + 1}.{b}"
            out = 4 * filters if bottleneck else filters
            if bottleneck:
                conv(f"{key}.conv1", filters, channels, 1), bn(f"{key}.bn1", filters)
                conv(f"{key}.conv2", filters, filters, 3), bn(f"{key}.bn2", filters)
                conv(f"{key}.conv3", out, filters, 1), bn(f"{key}.bn3", out)
            else:
                conv(f"{key}.conv1", filters, channels, 3), bn(f"{key}.bn1", filters)
                conv(f"{key}.conv2", filters, filters, 3), bn(f"{key}.bn2", filters)
            if (stage > 0 and b == 0) or channels != out:
                conv(f"{key}.downsample.0", out, channels, 1), bn(f"{key}.downsample.1", out)
            channels = out
    name, width = head
    state[f"{dot}{name}.weight"] = rng.normal(0, 0.02, (width, channels))
    state[f"{dot}{name}.bias"] = rng.normal(0, 0.02, width)
    return state


def resnet_trunk(s, prefix, depth, x):
    """(B, C, H, W) -> the last stage's feature map (B, F, h, w), torchvision's forward."""
    dot = f"{prefix}." if prefix else ""

    def bn(key, y):
        return F.batch_norm(y, s[f"{dot}{key}.running_mean"], s[f"{dot}{key}.running_var"], s[f"{dot}{key}.weight"],
                            s[f"{dot}{key}.bias"], training=False, eps=1e-5)

    y = F.relu(bn("bn1", F.conv2d(x, s[f"{dot}conv1.weight"], stride=2, padding=3)))
    y = F.max_pool2d(y, 3, 2, 1)
    bottleneck = depth != 18
    for stage, count in enumerate(BLOCKS[depth][1]):
        for b in range(count):
            key = f"layer{stage + 1}.{b}"
            stride = 2 if stage > 0 and b == 0 else 1
            if bottleneck:
                z = F.relu(bn(f"{key}.bn1", F.conv2d(y, s[f"{dot}{key}.conv1.weight"])))
                z = F.relu(bn(f"{key}.bn2", F.conv2d(z, s[f"{dot}{key}.conv2.weight"], stride=stride, padding=1)))
                z = bn(f"{key}.bn3", F.conv2d(z, s[f"{dot}{key}.conv3.weight"]))
            else:
                z = F.relu(bn(f"{key}.bn1", F.conv2d(y, s[f"{dot}{key}.conv1.weight"], stride=stride, padding=1)))
                z = bn(f"{key}.bn2", F.conv2d(z, s[f"{dot}{key}.conv2.weight"], padding=1))
            shortcut = y
            if f"{dot}{key}.downsample.0.weight" in s:
                shortcut = bn(f"{key}.downsample.1", F.conv2d(y, s[f"{dot}{key}.downsample.0.weight"], stride=stride))
            y = F.relu(z + shortcut)
    return y


def resnet_forward(s, prefix, depth, x):
    """DCT's encoder: trunk, global average pool, ReLU, fc1, ReLU -> (B, 1024)."""
    y = F.relu(torch.flatten(F.adaptive_avg_pool2d(resnet_trunk(s, prefix, depth, x), 1), 1))
    return F.relu(F.linear(y, s[f"{prefix}.fc1.weight"], s[f"{prefix}.fc1.bias"]))
