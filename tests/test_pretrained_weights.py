"""ImageNet initialisation from the files users have: keras.applications weights (.weights.h5 and
legacy .h5, with or without top) and torchvision state dicts (.pth), all written here; after
loading, the encoder's trunk gives the source network's features."""
import h5py
import keras
import numpy as np
import pytest
import torch

from torch_resnet import resnet_state, resnet_trunk

from tfhybrid.config import ModelConfig
from tfhybrid.models.encoders import build_encoder
from tfhybrid.models.hybrid import HybridModel
from tfhybrid.models.pretrained import WeightsError

SIZE = 64


def _inputs(channels=3, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (2, SIZE, SIZE, channels)).astype(np.float32)


def _trunk_features(encoder):
    """The encoder's feature map before global pooling, (B, h, w, F)."""
    pool = next(layer for layer in encoder.layers if isinstance(layer, keras.layers.GlobalAveragePooling2D))
    return keras.Model(encoder.input, pool.input)


def _randomise_batchnorm(model, seed):
    """Non-trivial moving statistics, so a skipped BatchNormalization layer would show."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                               rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 1.5, var.shape)])


@pytest.fixture(scope="module")
def keras_files(tmp_path_factory):
    """keras.applications ResNet50 weights in the four forms users have, and the features they give."""
    folder = tmp_path_factory.mktemp("keras_weights")
    from keras.src.legacy.saving import legacy_h5_format

    keras.utils.set_random_seed(3)
    with_top = keras.applications.ResNet50(include_top=True, weights=None, input_shape=(SIZE, SIZE, 3))
    _randomise_batchnorm(with_top, 4)
    without_top = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(SIZE, SIZE, 3))
    for layer in without_top.layers:
        if layer.weights:
            layer.set_weights(with_top.get_layer(layer.name).get_weights())
    files = {"notop.weights.h5": without_top, "top.weights.h5": with_top, "notop.h5": without_top,
             "top_model.h5": with_top}
    for name, model in files.items():
        path = str(folder / name)
        if name == "notop.h5":                  # the layout of Keras' downloadable ..._notop.h5
            with h5py.File(path, "w") as f:
                legacy_h5_format.save_weights_to_hdf5_group(f, model)
        elif name == "top_model.h5":            # model.save('x.h5'): weights under 'model_weights'
            model.save(path)
        else:
            model.save_weights(path)
    expected = without_top(_inputs(), training=False).numpy()
    return {name: str(folder / name) for name in files}, expected


@pytest.mark.parametrize("name", ["notop.weights.h5", "top.weights.h5", "notop.h5", "top_model.h5"])
def test_keras_applications_weights_give_the_source_features(keras_files, name):
    files, expected = keras_files
    encoder = build_encoder(50, (SIZE, SIZE, 3), "image_encoder", weights_path=files[name], layout="keras")
    trunk = encoder.get_layer("image_encoder_resnet")
    ours = trunk(_inputs(), training=False).numpy()
    assert np.abs(expected).mean() > 0.01, "features are not trivially small"
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("depth", [18, 50])
def test_torchvision_state_dict_gives_the_source_features(tmp_path, depth):
    state = resnet_state(np.random.default_rng(depth), "", depth, head=("fc", 1000))
    path = tmp_path / f"resnet{depth}.pth"
    torch.save({k: torch.from_numpy(np.asarray(v, np.float32 if v.ndim else np.int64)) for k, v in state.items()}, path)
    encoder = build_encoder(depth, (SIZE, SIZE, 3), "image_encoder", weights_path=str(path), layout="torchvision")
    x = _inputs(seed=1)
    ours = _trunk_features(encoder)(x, training=False).numpy()
    tensors = {k: torch.from_numpy(np.asarray(v, np.float32)) for k, v in state.items()}
    with torch.no_grad():
        expected = resnet_trunk(tensors, "", depth, torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    assert np.abs(expected).mean() > 0.01
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4)


def test_a_checkpoint_wrapping_the_state_dict_loads_through_the_model_config(tmp_path, toy):
    state = resnet_state(np.random.default_rng(5), "", 18, head=("fc", 1000))
    path = tmp_path / "checkpoint.pth"
    torch.save({"epoch": 90, "state_dict": {f"module.{k}": torch.from_numpy(np.asarray(v)) for k, v in state.items()}},
               path)
    model = HybridModel(toy.model, ModelConfig("image", 18, input_size=SIZE, main_weights=str(path)))
    kernel = model.encoders[0].get_layer("image_encoder_conv1").get_weights()[0]
    np.testing.assert_allclose(kernel, state["conv1.weight"].transpose(2, 3, 1, 0), rtol=1e-6)


def test_files_that_do_not_fit_are_named(tmp_path, keras_files):
    files, _ = keras_files
    state = resnet_state(np.random.default_rng(0), "", 18, head=("fc", 1000))
    pth = str(tmp_path / "resnet18.pth")
    torch.save({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()}, pth)
    with pytest.raises(WeightsError, match=r"resnet18.pth: tensor 'layer1.0.conv1.weight' has shape \(64, 64, 3, 3\), "
                                           r"expected \(64, 64, 1, 1\)"):
        build_encoder(50, (SIZE, SIZE, 3), "image_encoder", weights_path=pth, layout="torchvision")
    del state["layer4.1.bn2.running_var"]
    short = str(tmp_path / "short.pth")
    torch.save({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()}, short)
    with pytest.raises(WeightsError, match=r"short.pth: missing tensor 'layer4.1.bn2.running_var'"):
        build_encoder(18, (SIZE, SIZE, 3), "image_encoder", weights_path=short)
    with pytest.raises(WeightsError, match=r"tensor 'conv1.weight' has shape \(64, 3, 7, 7\), expected "
                                           r"\(64, 15, 7, 7\)"):
        build_encoder(18, (SIZE, SIZE, 15), "seg_encoder", weights_path=pth)
    with pytest.raises(WeightsError, match="keras.applications' .*--resnet_layout=torchvision"):
        build_encoder(50, (SIZE, SIZE, 3), "image_encoder", weights_path=pth, layout="keras")
    with pytest.raises(WeightsError, match="fit --resnet_layout=keras"):
        build_encoder(18, (SIZE, SIZE, 3), "image_encoder", weights_path=files["notop.h5"])
    with pytest.raises(WeightsError, match="not the weights of keras.applications.ResNet101"):
        build_encoder(101, (SIZE, SIZE, 3), "image_encoder", weights_path=files["notop.weights.h5"])
    with pytest.raises(WeightsError, match=r"tensor 'conv1_conv/kernel' has shape \(7, 7, 3, 64\)"):
        build_encoder(50, (SIZE, SIZE, 15), "seg_encoder", weights_path=files["notop.weights.h5"])
    with pytest.raises(WeightsError, match="nowhere.pth: no such weights file"):
        build_encoder(18, (SIZE, SIZE, 3), "image_encoder", weights_path=str(tmp_path / "nowhere.pth"))
    (tmp_path / "garbage.pth").write_bytes(b"not a torch file")
    with pytest.raises(WeightsError, match="garbage.pth: not a readable torch state dict"):
        build_encoder(18, (SIZE, SIZE, 3), "image_encoder", weights_path=str(tmp_path / "garbage.pth"))
