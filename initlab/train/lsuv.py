"""LSUV (Mishkin and Matas 2016, "All you need is a good init", Algorithm 1): after the kernel initializer, each
layer in turn, first to last, has its kernel divided by the std of its output on one batch of training data until
that output's variance is 1 within a tolerance (or the rounds run out). The output is the Dense layer's own output
before its activation (Caffe's fully connected blob, which the paper rescales); the layer above then sees the
rescaled layer's activations."""

import numpy as np

from initlab.base.backend import keras as _keras
from initlab.train.probes import main_kernel, model_inputs


def _settled(variance: float, rounds: int, tol: float, iters: int) -> bool:
    """LSUV stops rescaling a layer: its output variance is 1 within tol, the rounds ran out, or it cannot be scaled
    (constant, or not finite)."""
    return abs(variance - 1) < tol or rounds == iters or not np.isfinite(variance) or variance == 0


def lsuv(weights: list[tuple], activations: list, x: np.ndarray, tol: float = 0.1, iters: int = 10):
    """(kernel, bias) per layer, rescaled in turn on the batch x, and what was done: {method, rows, tol, iterations
    (rescalings per layer), variance (each layer's output variance on x when it stopped)}. `activations`: the layers'
    activation functions. A layer whose output is constant (variance 0) cannot be scaled and is left as it is."""
    ops = _keras().ops
    a = ops.convert_to_tensor(np.asarray(x, np.float32))
    scaled, iterations, variances = [], [], []
    for (kernel, bias), activation in zip(weights, activations):
        kernel, bias = np.asarray(kernel, np.float32), np.asarray(bias, np.float32)
        rounds = 0
        while True:
            z = ops.matmul(a, kernel) + bias
            variance = float(ops.var(ops.cast(z, "float64")))
            if _settled(variance, rounds, tol, iters):
                break
            kernel = (kernel / np.sqrt(variance)).astype(np.float32)
            rounds += 1
        scaled.append((kernel, bias))
        iterations.append(rounds)
        variances.append(variance)
        a = activation(z)
    report = {"method": "lsuv", "rows": int(len(x)), "tol": tol, "iterations": iterations, "variance": variances}
    return scaled, report


def lsuv_model(model, x: np.ndarray, tol: float = 0.1, iters: int = 10) -> dict:
    """LSUV on any Functional or Sequential Keras model, in place: every layer with a kernel, in graph order, has
    that kernel (a separable convolution's pointwise one) divided by the std of the layer's own output on the batch
    x, before its fused activation, until the variance is 1 within tol. Returns the report lsuv() gives, with the
    layers' names."""
    keras = _keras()
    if not model.inputs:
        raise ValueError("data_init: lsuv needs a Functional or Sequential model (a subclassed one has no graph)")
    ops = keras.ops
    names, iterations, variances = [], [], []
    for layer in model.layers:
        kernel = main_kernel(layer)
        if kernel is None:
            continue
        probe = keras.Model(model_inputs(model), layer.output)
        activation = getattr(layer, "activation", None)
        if activation is not None:
            layer.activation = keras.activations.linear  # the paper scales the layer's output before its nonlinearity
        try:
            rounds = 0
            while True:
                variance = float(ops.var(ops.cast(probe(x, training=False), "float64")))
                if _settled(variance, rounds, tol, iters):
                    break
                kernel.assign(kernel.numpy() / np.sqrt(variance))
                rounds += 1
        finally:
            if activation is not None:
                layer.activation = activation
        names.append(layer.name)
        iterations.append(rounds)
        variances.append(variance)
    return {"method": "lsuv", "rows": int(len(x)), "tol": tol, "layers": names, "iterations": iterations,
            "variance": variances}
