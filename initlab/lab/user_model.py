"""A user's Keras model from a config: read from a .keras file (safe mode) or built by their factory, checked against
their data, its weights redrawn by role from the run's seed, compiled as the config trains it."""

import importlib
import math
import sys
from pathlib import Path

import numpy as np

from initlab.base.backend import keras
from initlab.base.errors import UserError
from initlab.config import initializers
from initlab.diagnosis import fans, weight_roles
from initlab.train import initializer_factory, keras_file, model as model_module

FAN_ROLES = ("kernel", "depthwise", "recurrent", "attention", "embedding")  # weights whose scale follows their fans


def build(cfg, base_dir: Path, source: str):
    """The model a config's `model` names, with whatever weights it came with (redraw replaces them all)."""
    if cfg.file is not None:
        path = base_dir / cfg.file
        if path.suffix != ".keras":
            raise UserError(f"expected a .keras file saved by model.save, got {cfg.file!r}", source, "model.file")
        return keras_file.load(path)
    return _from_factory(cfg.factory, cfg.args, base_dir, source)


def _from_factory(spec: str, args: dict, base_dir: Path, source: str):
    module_name, _, function_name = spec.partition(":")
    sys.path.insert(0, str(base_dir))  # the config's folder first: a models.py beside it
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - the user's module may raise anything on import
        raise UserError(f"cannot import '{module_name}' ({type(exc).__name__}: {str(exc)[:160]})", source,
                        "model.factory") from None
    finally:
        sys.path.remove(str(base_dir))
    function = getattr(module, function_name, None)
    if not callable(function):
        raise UserError(f"'{module_name}' has no function '{function_name}'", source, "model.factory")
    try:
        model = function(**args)
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"{spec}({', '.join(f'{k}={v!r}' for k, v in args.items())}) raised {type(exc).__name__}: "
                        f"{str(exc)[:160]}", source, "model.factory") from None
    if not isinstance(model, keras().Model):
        raise UserError(f"{spec} returned {type(model).__name__}, not a Keras model", source, "model.factory")
    return model


def fit_to_data(model, data, loss: str | None, source: str) -> tuple[str, str]:
    """(the task as the model's output reads the data, the loss): a UserError when the input or output do not fit."""
    given = tuple(data.x_train.shape[1:])
    try:
        expected = tuple(model.input_shape[1:])
    except (AttributeError, ValueError):
        raise UserError("the model has more than one input; initlab trains models with one", source, "model") from None
    if len(expected) != len(given) or any(e is not None and e != g for e, g in zip(expected, given)):
        raise UserError(f"the model takes inputs of shape {_shape(expected)}, the data's rows are {_shape(given)}",
                        source, "data")
    outputs = tuple(model.output_shape[1:]) if not isinstance(model.output_shape, list) else None
    if outputs is None or len(outputs) != 1:
        raise UserError(f"the model's output has shape {model.output_shape}; initlab trains one flat output", source,
                        "model")
    units = outputs[0]
    task = data.task
    if task == "binary" and units == 2:
        task = "multiclass"  # two classes on two softmax units
    if task == "binary" and units != 1:
        raise UserError(f"the data have 2 classes; the model has {units} outputs (give it 1 sigmoid or 2 softmax units)",
                        source, "model")
    if task == "multiclass" and units != max(data.n_classes, 2):
        raise UserError(f"the data have {data.n_classes} classes; the model has {units} outputs", source, "model")
    if task == "regression" and units != data.y_train.shape[1]:
        raise UserError(f"the targets have {data.y_train.shape[1]} column(s); the model has {units} outputs", source,
                        "model")
    return task, loss or model_module.TASK_DEFAULTS[task][1]


def _shape(shape) -> str:
    return "(" + ", ".join("any" if d is None else str(d) for d in shape) + ")"


def redraw(model, init, seed: int) -> list[dict]:
    """Every variable drawn afresh from the run's seed: the roles `init` names with its initializers, the rest with
    the initializer the model was built with (honest_fans: fan-based kernels rescaled to their honest fans).
    Returns one record per variable: layer, weight, role, shape, initializer, fan_in, fan_out, std."""
    named = init.named()
    records = []
    for index, weight in enumerate(weight_roles.weights(model)):
        variable, shape = weight.variable, tuple(int(d) for d in weight.variable.shape)
        spec = named.get(weight.role)
        own = fans.initializer_of(weight.owner, weight.name)
        if spec is not None:
            initializer, label = initializer_factory.make(spec, initializers.layer_seed(seed, index)), spec.label
        elif own is not None:
            initializer, label = _reseeded(own, initializers.layer_seed(seed, index)), fans.initializer_name(own)
        else:  # a weight without a known initializer (a custom layer's): left as the model holds it
            records.append(_record(weight, shape, "kept as built", np.asarray(variable.numpy())))
            continue
        values = np.asarray(initializer(shape, dtype=variable.dtype))
        fan_in = fan_out = None
        if weight.role in FAN_ROLES:
            keras_fans = _drawn_fans(initializer, shape)
            fan_in, fan_out = keras_fans
            if init.honest_fans and isinstance(initializer, keras().initializers.VarianceScaling):
                fan_in, fan_out = fans.honest_fans(weight.owner, variable)  # others (orthogonal, ...) use no fans
                values = values * np.sqrt(fans.mode_fan(initializer.mode, *keras_fans) /
                                          fans.mode_fan(initializer.mode, fan_in, fan_out))
        if init.chrono and weight.name == "bias" and isinstance(weight.owner, keras().layers.LSTMCell):
            values, label = chrono_bias(weight.owner.units, init.chrono, initializers.layer_seed(seed, index, 1)), \
                f"chrono(T_max={init.chrono})"
        variable.assign(values)
        records.append(_record(weight, shape, label, values, fan_in, fan_out))
    return records


def measured_again(model, records: list[dict], rescaled: list[str]) -> list[dict]:
    """The records after a data-dependent initialization rescaled the kernels of the `rescaled` layers: their std
    measured again, their initializer marked '+ lsuv'."""
    values = {variable.path: variable for variable in model.weights}
    again = []
    for record in records:
        if record["layer"] in rescaled and record["role"] in FAN_ROLES and record["weight"] in values:
            record = {**record, "initializer": f"{record['initializer']} + lsuv",
                      "std": float(np.std(values[record["weight"]].numpy()))}
        again.append(record)
    return again


def chrono_bias(units: int, longest: int, seed: int) -> np.ndarray:
    """An LSTM's bias by chrono initialization (Tallec and Ollivier 2018, eq. 16): the forget gate's
    b_f = log(u), u ~ U[1, T_max - 1], the input gate's b_i = -b_f, the cell and output gates 0; Keras's order of the
    gates is input, forget, cell, output."""
    forget = np.log(np.random.default_rng(seed).uniform(1, longest - 1, units))
    return np.concatenate([-forget, forget, np.zeros(2 * units)]).astype(np.float32)


def _drawn_fans(initializer, shape: tuple) -> tuple[int, int]:
    """The fans `initializer(shape)` computes: the einsum axes it was given (a model's own attention
    initializers), else Keras's shape rule."""
    input_axes, output_axes = getattr(initializer, "input_axes", None), getattr(initializer, "output_axes", None)
    if input_axes is not None and output_axes is not None:
        return math.prod(shape[a] for a in input_axes), math.prod(shape[a] for a in output_axes)
    return fans.keras_fans(shape)


def _reseeded(initializer, seed: int):
    config = initializer.get_config()
    if "seed" in config:
        config = {**config, "seed": seed}
    return type(initializer).from_config(config)


def _record(weight, shape, label, values, fan_in=None, fan_out=None) -> dict:
    return {"layer": weight.layer, "weight": weight.variable.path, "role": weight.role, "shape": "x".join(map(str, shape)),
            "initializer": label, "fan_in": fan_in, "fan_out": fan_out, "std": float(np.std(values))}


def compile(model, train, loss: str, task: str, saved: dict | None = None) -> dict:
    """Compile with the config's optimizer, learning rate and loss, and the task's metric; where the config's `train`
    leaves the optimizer or the loss out, a .keras file's own compile settings (`saved`) come first. Returns what
    was used: {optimizer, learning_rate, loss, from}."""
    given = train.model_fields_set
    optimizer, origin = None, "the config"
    if saved and saved.get("optimizer") and "optimizer" not in given:
        try:
            optimizer, origin = keras().optimizers.deserialize(saved["optimizer"]), "the saved model"
        except (TypeError, ValueError):  # a custom optimizer this process does not know: the config's
            optimizer = None
        if optimizer is not None and "learning_rate" in given:
            optimizer.learning_rate = train.learning_rate
    if optimizer is None:
        optimizer = keras().optimizers.get(train.optimizer)
        optimizer = optimizer.__class__(learning_rate=train.learning_rate)
    if saved and isinstance(saved.get("loss"), str) and "loss" not in given:
        loss = saved["loss"]
    model.compile(optimizer=optimizer, loss=loss, metrics=[model_module.metric_name(task)])
    return {"optimizer": type(optimizer).__name__, "learning_rate": float(optimizer.learning_rate.numpy()), "loss": loss,
            "from": origin}
