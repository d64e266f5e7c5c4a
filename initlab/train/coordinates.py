"""The coordinate check's measurements: each layer's mean absolute activation on a fixed batch, at initialization
and after each of the first optimizer steps, for an MLP built and compiled as a run builds and compiles it (so that
its parametrization, standard or muP, is the one a run trains with)."""

import numpy as np

from initlab.base.backend import keras as _keras, seed_everything
from initlab.config.experiment import Config
from initlab.train import model as model_module
from initlab.train.data import Dataset
from initlab.train.probes import PROBE_ROWS, weighted


def fixed_batch(config: Config, data: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The first batch_size training rows (all of them when fewer): what every step trains on and is measured on."""
    rows = config.train.batch_size
    return data.x_train[:rows], data.y_train[:rows]


def mean_abs(model, x: np.ndarray) -> dict[str, float]:
    """{layer name: mean |activation| over rows and units}: a hidden layer's output, the output layer's before its
    activation (the logits, not the softmax or sigmoid of them)."""
    keras = _keras()
    layers = [layer for layer in model.layers if weighted(layer)]
    found, a = {}, x
    for layer in model.layers:
        if layer is layers[-1]:
            activation = layer.activation
            layer.activation = keras.activations.linear
            try:
                a = layer(a, training=False)
            finally:
                layer.activation = activation
        else:
            a = layer(a, training=False)
        if weighted(layer):
            found[layer.name] = float(np.mean(np.abs(np.asarray(a, np.float64))))
    return found


def measure(config: Config, data: Dataset, steps: int) -> list[dict]:
    """Rows {step, layer, mean_abs} of one model (the config's seed and width): step 0 at its initial weights, step k
    after k optimizer steps on the fixed batch (model.train_on_batch: the compiled optimizer, its per-layer rates
    included, makes every update)."""
    seed_everything(config.seed)
    model = model_module.build(config, data.n_features, data.task, data.n_classes)
    model_module.data_init(model, config, data.x_train[:PROBE_ROWS])
    model_module.compile(model, config, data.task)
    model.run_eagerly = True  # a few steps per model: tracing train_on_batch's graph would cost more than them
    x, y = fixed_batch(config, data)
    rows = []
    for step in range(steps + 1):
        if step:
            model.train_on_batch(x, y)
        rows += [{"step": step, "layer": name, "mean_abs": value} for name, value in mean_abs(model, x).items()]
    return rows
