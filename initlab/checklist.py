"""The initialization checklist on a model's weights: zeros, symmetry, scale against He/Glorot, then a forward pass."""

import numpy as np
import pandas as pd

from .backend import keras as _keras
from .probes import activation_name, dead_fraction, distinct_units, saturated_fraction, weighted

RELU_LIKE = {"relu", "relu6", "leaky_relu", "elu", "gelu", "silu", "swish", "mish", "softplus", "hard_silu", "celu"}
TOO_SMALL, TOO_LARGE = 0.5, 2.0  # a weight scale outside [0.5, 2] x the target std is flagged
SAMPLES = 512


def fans(shape) -> tuple[int, int]:
    """fan_in, fan_out as Keras computes them (a conv kernel's receptive field multiplies both)."""
    shape = tuple(int(d) for d in shape)
    if len(shape) == 2:
        return shape
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


def target(activation: str, fan_in: int, fan_out: int) -> tuple[str, float]:
    """The initializer that suits an activation and the weight std it draws for these fans."""
    if activation in RELU_LIKE:
        return "he_normal", float(np.sqrt(2 / fan_in))
    if activation == "selu":
        return "lecun_normal", float(np.sqrt(1 / fan_in))
    return "glorot_uniform", float(np.sqrt(2 / (fan_in + fan_out)))


def _forward(model, layers, seed: int) -> dict:
    """Each weighted layer's output for standard-normal input (Sequential chains layer by layer, else a sub-model)."""
    keras = _keras()
    shape = (SAMPLES, *model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else None
    if shape is None:
        raise ValueError("the model has no known input shape; build it (or call it once) first")
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    if isinstance(model, keras.Sequential):
        outputs, a = {}, x
        for layer in model.layers:
            a = layer(a, training=False)
            outputs[layer.name] = np.asarray(a)
        return outputs
    probe = keras.Model(model.inputs, [layer.output for layer in layers])
    values = probe(x, training=False)
    values = values if isinstance(values, (list, tuple)) else [values]
    return {layer.name: np.asarray(v) for layer, v in zip(layers, values)}


def diagnose(model, seed: int = 0) -> pd.DataFrame:
    """One row per weighted layer: the checks, a verdict and a suggested initializer."""
    layers = [layer for layer in model.layers if weighted(layer)]
    outputs = _forward(model, layers, seed)
    rows = []
    for depth, layer in enumerate(layers, start=1):
        kernel = np.asarray(layer.kernel.numpy(), np.float64)
        bias = np.asarray(layer.bias.numpy(), np.float64) if getattr(layer, "bias", None) is not None else np.zeros(kernel.shape[-1])
        fan_in, fan_out = fans(kernel.shape)
        activation = activation_name(layer)
        suggestion, target_std = target(activation, fan_in, fan_out)
        a = outputs[layer.name].reshape(-1, kernel.shape[-1]).astype(np.float64)
        units = kernel.shape[-1]
        rms = float(np.sqrt(np.mean(kernel**2)))  # the scale of zero-mean draws and of constants alike
        row = {
            "depth": depth, "layer": layer.name, "kind": type(layer).__name__, "activation": activation,
            "fan_in": fan_in, "fan_out": fan_out, "weight_rms": rms, "target_std": target_std,
            "scale_ratio": rms / target_std,
            "all_zero": bool(not kernel.any()),
            "one_value": bool(kernel.size > 1 and np.all(kernel == kernel.flat[0])),
            "distinct_units": distinct_units(kernel.reshape(-1, units), bias),
            "units": units,
            "activation_std": float(a.std()),
            "dead_fraction": dead_fraction(activation, a),
            "saturated_fraction": saturated_fraction(activation, a),
        }
        row["problems"] = "; ".join(_problems(row, last=depth == len(layers)))
        row["verdict"] = "ok" if not row["problems"] else "PROBLEM"
        row["suggestion"] = "" if not row["problems"] else suggestion
        rows.append(row)
    return pd.DataFrame(rows)


def _problems(row: dict, last: bool) -> list[str]:
    found = []
    if row["all_zero"]:
        found.append("all weights zero" + ("" if last else ": no gradient reaches the layers below"))
    elif row["units"] > 1 and row["distinct_units"] == 1:
        found.append(f"symmetric: all {row['units']} units compute one function (the layer is one unit wide)")
    elif row["one_value"]:
        found.append("every weight has one value")
    if not row["all_zero"] and row["scale_ratio"] < TOO_SMALL:
        found.append(f"weights too small: rms {row['weight_rms']:.3g}, target std {row['target_std']:.3g}")
    if row["scale_ratio"] > TOO_LARGE:
        found.append(f"weights too large: rms {row['weight_rms']:.3g}, target std {row['target_std']:.3g}")
    if row["dead_fraction"] > 0.5:
        found.append(f"{row['dead_fraction']:.0%} of units dead (output 0 for every input)")
    if row["saturated_fraction"] > 0.5:
        found.append(f"{row['saturated_fraction']:.0%} of outputs saturated")
    if not row["all_zero"] and row["activation_std"] < 1e-3 and not last:
        found.append(f"signal vanished: activation std {row['activation_std']:.2g}")
    return found


def healthy(table: pd.DataFrame) -> bool:
    return bool((table["verdict"] == "ok").all())
