"""The MLP a config describes: stable layer names, a fresh seeded initializer per layer, task-following output and loss."""

import numpy as np

from initlab.base.backend import keras as _keras
from initlab.config import initializers
from initlab.config.experiment import Config
from initlab.train import initializer_factory, lsuv, parametrization, residual

TASK_DEFAULTS = {  # output activation, loss, the metric beside the loss
    "binary": ("sigmoid", "binary_crossentropy", "accuracy"),
    "multiclass": ("softmax", "sparse_categorical_crossentropy", "accuracy"),
    "regression": ("linear", "mean_squared_error", "mae"),
}


def with_task_defaults(config: Config, task: str) -> Config:
    """The config with output_activation and loss filled in from the task where the user left them out."""
    activation, loss, _ = TASK_DEFAULTS[task]
    model = config.model.model_copy(update={"output_activation": config.model.output_activation or activation})
    train = config.train.model_copy(update={"loss": config.train.loss or loss})
    return config.model_copy(update={"model": model, "train": train})


def metric_name(task: str) -> str:
    return TASK_DEFAULTS[task][2]


def output_units(task: str, n_classes: int) -> int:
    """The output layer's units: one per class for multiclass, else one."""
    return n_classes if task == "multiclass" else 1


def layer_names(n_hidden: int) -> list[str]:
    return [f"hidden_{i + 1}" for i in range(n_hidden)] + ["output"]


def build(config: Config, n_features: int, task: str, n_classes: int):
    """An uncompiled keras.Sequential with its initial weights (per-layer seeded initializers, then set_weights);
    with model.residual a functional model: the hidden layers, the residual blocks, the output layer."""
    keras = _keras()
    spec = config.model
    layers = spec.hidden_layers()
    outputs = output_units(task, n_classes)
    units = [layer.units for layer in layers] + [outputs]
    activations = [layer.activation for layer in layers] + [spec.output_activation or TASK_DEFAULTS[task][0]]
    kernels = [layer.kernel_initializer for layer in layers] + [spec.kernel_initializer]
    biases = [layer.bias_initializer for layer in layers] + [spec.bias_initializer]
    fan_ins = [n_features, *units[:-1]]
    dense = [
        keras.layers.Dense(
            units[i],
            activation=activations[i],
            kernel_initializer=initializer_factory.make(kernels[i], initializers.layer_seed(config.seed, i, 0)),
            bias_initializer=initializer_factory.make(biases[i], initializers.bias_seed(biases[i], config.seed, i),
                                                      fan_ins[i]),
            name=name,
        )
        for i, name in enumerate(layer_names(len(layers)))
    ]
    if spec.residual is None:
        model = keras.Sequential([keras.Input(shape=(n_features,), name="features"), *dense], name="initlab_mlp")
    else:
        inputs = x = keras.Input(shape=(n_features,), name="features")
        for layer in dense[:-1]:
            x = layer(x)
        model = keras.Model(inputs, dense[-1](residual.blocks(x, config)), name="initlab_resnet")
        residual.apply_fixup(model, config)
    if spec.set_weights is not None:
        # the tutorial's cell: every array from get_weights(), kernels and biases alike, overwritten by one value
        model.set_weights([np.full(w.shape, spec.set_weights, dtype=w.dtype) for w in model.get_weights()])
    for layer, factors in zip(dense, parametrization.factors(config, n_features, outputs)):
        if factors.init_std != 1.0:
            layer.kernel.assign(scaled_kernel(layer.kernel.numpy(), factors.init_std))
    return model


def scaled_kernel(kernel: np.ndarray, factor: float) -> np.ndarray:
    """A drawn kernel times muP's std factor, in float32 (solo runs and populations scale alike, bit for bit)."""
    return kernel * np.float32(factor)


def data_init(model, config: Config, x: np.ndarray) -> dict | None:
    """model.data_init on a built model: its layers' weights rescaled on the batch x (LSUV); what it did, or None."""
    spec = config.model
    if spec.data_init is None:
        return None
    pairs = [(layer.kernel.numpy(), layer.bias.numpy()) for layer in model.layers]
    scaled, report = lsuv.lsuv(pairs, [layer.activation for layer in model.layers], x, spec.data_init_tol, spec.data_init_iters)
    for layer, pair in zip(model.layers, scaled):
        layer.set_weights(list(pair))
    return report


def compile(model, config: Config, task: str) -> None:
    """Compile with the config's optimizer, learning rate, loss and the task's metric, as a Keras user would; under
    muP the optimizer multiplies each layer's rate by its factor (layer_rates)."""
    keras = _keras()
    rates = parametrization.rates_by_variable(config, model.input_shape[-1], model.layers[-1].units,
                                              [layer.name for layer in model.layers])
    if rates:
        from initlab.train import layer_rates  # imports Keras: only a muP run needs it

        optimizer = layer_rates.optimizer(config.train.optimizer, config.train.learning_rate, rates)
    else:
        optimizer = keras.optimizers.get(config.train.optimizer)
        optimizer = optimizer.__class__(learning_rate=config.train.learning_rate)
    model.compile(optimizer=optimizer, loss=config.train.loss or TASK_DEFAULTS[task][1], metrics=[metric_name(task)])


def weights_by_name(model) -> dict[str, np.ndarray]:
    """{'hidden_1/kernel': ..., 'output/bias': ...}: the keys of weights_*.npz."""
    return {f"{layer.name}/{w.name}": np.asarray(w.numpy()) for layer in model.layers for w in layer.weights}
