"""Figures per weighted layer from one bounded training-mode pass: signal scale before and after the nonlinearity
that follows, dead and saturated units, a residual branch's share, the recurrent and attention checks, and (on
request) the gradient scale of each kernel."""

import math

import numpy as np

from initlab.base import keras_private
from initlab.base.backend import keras as _keras, tf as _tf
from initlab.diagnosis import roles, walk
from initlab.train.units import dead_fraction, saturated_fraction

try:  # the recurrent, embedding and attention checks live in their own module
    from initlab.diagnosis import recurrent
except ImportError:  # pragma: no cover - only while that module is missing
    recurrent = None

RECURRENT_KINDS = ("LSTM", "GRU", "SimpleRNN", "Bidirectional")


def _weighted_nodes(fn):
    """(graph, node) for every node of a leaf layer holding weights, nested models opened, in the order they run."""
    for node in roles.nodes(fn):
        operation = node.operation
        inner = roles.graph(operation) if isinstance(operation, _keras().Model) else None
        if inner is not None:
            yield from _weighted_nodes(inner)
        elif getattr(operation, "weights", None):  # `x + y`, keras.ops: an Operation, no weights
            yield fn, node


def weighted_layers(model) -> list:
    """Every leaf layer holding weights, in the order the graph runs them (nested models opened), then any that
    the graph never reaches."""
    fn = roles.graph(model)
    found = list({id(node.operation): node.operation for _, node in (_weighted_nodes(fn) if fn else ())}.values())
    seen = {id(layer) for layer in found}
    for layer in keras_private.sublayers(model):
        if layer.weights and id(layer) not in seen and not isinstance(layer, _keras().Model) and not _inside(layer, found):
            seen.add(id(layer))
            found.append(layer)
    return found


def _inside(layer, layers) -> bool:
    """A sublayer of a listed layer (an RNN's cell, an attention layer's projections) is reported with it."""
    return any(layer is sub for owner in layers for sub in keras_private.sublayers(owner))


def layer_roles(model) -> dict:
    """id(layer) -> (its first node, its Role), across the model's graph and the graphs of nested models."""
    fn = roles.graph(model)
    found, readers = {}, {}
    for graph, node in _weighted_nodes(fn) if fn else ():
        if id(node.operation) not in found:
            if id(graph) not in readers:
                readers[id(graph)] = roles.consumers(graph)
            found[id(node.operation)] = (node, roles.role(node, readers[id(graph)]))
    return found


def std(x) -> float:
    """The std of a tensor over every axis, in float32 (float64 when that overflows)."""
    tf = _tf()
    if not x.dtype.is_floating:
        return math.nan
    value = float(tf.math.reduce_std(tf.cast(x, tf.float32)))
    if not math.isfinite(value):  # float32 squares overflow when a signal explodes
        value = float(np.std(np.asarray(x, np.float64)))
    return value


class Recorder:
    """The observer of walk.walk: reduces each watched tensor to its figures the moment it exists."""

    def __init__(self, found: dict, layers: list):
        self.figures: dict[int, dict] = {id(layer): {} for layer in layers}
        self.layer_of = {id(node): layer for layer in layers if id(layer) in found for node in [found[id(layer)][0]]}
        self.after, self.adds = {}, {}
        for layer in layers:
            if id(layer) not in found:
                continue
            role = found[id(layer)][1]
            self.after.setdefault(id(role.applied_by), []).append((layer, role.nonlinearity))
            if role.residual is not None:
                self.adds.setdefault(id(role.residual), []).append((layer, role.branch_input))

    def __call__(self, node, args, kwargs, outputs):
        if not outputs:
            return
        layer = self.layer_of.get(id(node))
        if layer is not None:
            figures = self.figures[id(layer)]
            inputs = walk.flat(args, {})
            figures["input_std"] = std(inputs[0]) if inputs else math.nan
            figures["output_std"] = std(outputs[0])
            figures.update(self._special(layer, args, kwargs, inputs))
        for layer, nonlinearity in self.after.get(id(node), []):
            a = np.asarray(outputs[0])
            flat = a.reshape(-1, a.shape[-1]) if a.ndim > 1 else a.reshape(-1, 1)
            self.figures[id(layer)].update({
                "activation_std": std(outputs[0]),
                "dead_fraction": dead_fraction(nonlinearity, flat),
                "saturated_fraction": saturated_fraction(nonlinearity, flat),
            })
        for layer, index in self.adds.get(id(node), []):
            branch = std(kwargs_inputs(args, kwargs)[index])
            self.figures[id(layer)]["branch_share"] = branch / max(std(outputs[0]), 1e-30)

    def _special(self, layer, args, kwargs, inputs) -> dict:
        """The recurrent and attention checks need the batch the layer receives: they run here."""
        kind = type(layer).__name__
        if recurrent is None or kind not in RECURRENT_KINDS + ("MultiHeadAttention",):
            return {}
        try:
            if kind == "MultiHeadAttention":
                query = args[0] if args else kwargs["query"]
                value = args[1] if len(args) > 1 else kwargs.get("value")
                key = args[2] if len(args) > 2 else kwargs.get("key")
                figures, findings = recurrent.check_attention(layer, query, value, key)
            else:
                figures, findings = recurrent.check_recurrent(layer, inputs[0])
        except Exception as error:  # noqa: BLE001 - one layer's check must not sink the whole report
            return {"special_error": f"{type(error).__name__}: {error}"}
        return {"special": figures, "special_findings": findings}


def kwargs_inputs(args, kwargs) -> list:
    """A merge layer's input list, however it was passed."""
    first = args[0] if args else next(iter(kwargs.values()))
    return list(first) if isinstance(first, (list, tuple)) else walk.flat(args, {})


def measure_layers(model, inputs=None, seed: int = 0, batch: int | None = None, gradients: bool = False) -> dict:
    """{"figures": id(layer) -> its figures, "roles": id(layer) -> (node, Role), "layers": the weighted layers in
    graph order, "batch": the probe batch walked (0: a subclassed model, nothing walked), "gradient_batch"}."""
    layers = weighted_layers(model)
    found = layer_roles(model)
    recorder = Recorder(found, layers)
    fn = roles.graph(model)
    result = {"figures": recorder.figures, "roles": found, "layers": layers, "batch": 0, "gradient_batch": 0}
    for layer in layers:
        if type(layer).__name__ == "Embedding" and recurrent is not None:
            try:
                figures, findings = recurrent.check_embedding(layer)
                recorder.figures[id(layer)].update({"special": figures, "special_findings": findings})
            except Exception as error:  # noqa: BLE001
                recorder.figures[id(layer)]["special_error"] = f"{type(error).__name__}: {error}"
    if fn is None:
        return result
    peak = walk.peak_bytes_per_sample(fn)
    size = batch or walk.batch_size(peak)
    if size == 0:
        raise walk.too_large(peak, model.name)
    arrays = walk.probe_inputs(model, size, seed, inputs)
    result["batch"] = len(arrays[0])
    with walk.untouched(model):
        walk.walk(fn, [_tf().constant(a) for a in arrays], recorder)
    if gradients:
        size = min(result["batch"], walk.batch_size(2 * walk.all_bytes_per_sample(fn), smallest=2))
        result["gradient_batch"] = size
        if size == 0:  # a gradient tape keeps every activation: no gradient figures rather than memory past the bound
            return result
        for layer, value in zip(layers, gradient_scales(model, layers, [a[:size] for a in arrays], seed)):
            recorder.figures[id(layer)]["grad_rms"] = value
    return result


def gradient_scales(model, layers, arrays, seed: int) -> list[float]:
    """The rms gradient of each layer's last kernel for a loss that sends standard-normal errors back from every
    output (training mode, variables restored)."""
    tf = _tf()
    kernels = [kernels_of(layer)[-1] if kernels_of(layer) else None for layer in layers]
    watched = [k for k in kernels if k is not None]
    with walk.untouched(model):
        with tf.GradientTape() as tape:
            outputs = model([tf.constant(a) for a in arrays] if len(arrays) > 1 else tf.constant(arrays[0]), training=True)
            outputs = walk.flat(outputs, {})
            rng = np.random.default_rng(seed)
            loss = sum(tf.reduce_sum(tf.cast(y, tf.float32) * rng.standard_normal(tuple(y.shape)).astype(np.float32))
                       for y in outputs) / len(arrays[0])
        grads = iter(tape.gradient(loss, watched))
    scales = []
    for kernel in kernels:
        g = next(grads) if kernel is not None else None
        scales.append(math.nan if g is None else float(tf.sqrt(tf.reduce_mean(tf.square(tf.cast(g, tf.float32))))))
    return scales


def kernels_of(layer) -> list:
    """A layer's kernel-like weights (kernels, depthwise/pointwise/recurrent kernels, embeddings), not biases or
    normalization scales."""
    return [v for v in layer.weights if v.path.rsplit("/", 1)[-1].endswith("kernel")
            or v.path.rsplit("/", 1)[-1] == "embeddings"]
