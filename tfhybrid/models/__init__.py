"""Encoders (ResNet-18/50/101, single and two-branch), the regressor and `HybridModel`, and
`build_model`, the one factory every entry point uses."""


def build_model(config, body_model=None, global_batch_size=None):
    """A built `HybridModel` for a `RunConfig` (variables created, weights initialised).

    Args:
      config: `tfhybrid.config.RunConfig`; its `body_model` and `mean_params` files are read unless
        `body_model` (a `BodyModel`) is given.
      global_batch_size: the batch the training step averages over (None: the batch's own size).
    Call it inside `strategy.scope()` to place the variables for distribution.
    """
    import keras
    import numpy as np

    from tfhybrid.bodymodel import load_body_model, load_mean_params
    from tfhybrid.config import ConfigError
    from tfhybrid.models.hybrid import HybridModel, default_mean_params

    if body_model is None:
        if not config.body_model:
            raise ConfigError("the run configuration names no body_model")
        body_model = load_body_model(config.body_model)
    mean = None
    if config.mean_params:
        params = load_mean_params(config.mean_params)
        mean = default_mean_params(params["pose"], params["shape"])
    keras.utils.set_random_seed(config.seed)
    model = HybridModel(body_model, config.model, config.losses, mean_params=mean,
                        global_batch_size=global_batch_size)
    size = config.model.input_size
    model({"image": np.zeros((1, size, size, 3), np.float32), "iuv": np.zeros((1, size, size, 3), np.float32),
           "seg": np.zeros((1, size, size), np.int32)})
    return model
