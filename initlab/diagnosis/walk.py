"""One forward pass as the first training step sees it (normalization with batch statistics), layer by layer in
bounded memory, leaving every variable of the model as it was."""

import contextlib
import math
import warnings

import numpy as np

from initlab.base import keras_private
from initlab.base.backend import keras as _keras
from initlab.base.errors import UserError
from initlab.diagnosis.roles import graph, nodes

MEMORY_BOUND = 1 << 30  # bytes of activations alive at once during the probe pass (README: 1 GiB)
TEMPORARIES = 3         # a layer in training mode holds about this many output-sized buffers while it runs
WORK_BOUND = 1 << 25    # 32 MiB for the work: statistics pool over positions, so big inputs need few samples
MIN_BATCH, MAX_BATCH = 8, 256
UNKNOWN_LENGTH = 32     # the size given to an input axis the model leaves open (sequence length, image side)


@contextlib.contextmanager
def untouched(model):
    """Every non-trainable variable (moving statistics, dropout seed states) put back bit for bit afterwards, and
    framework warnings kept out of the report."""
    saved = [(v, np.array(v.numpy(), copy=True)) for v in model.non_trainable_variables]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for variable, value in saved:
            variable.assign(value)


def _bytes(tensor) -> int:
    """Bytes per sample of a symbolic tensor (open axes counted as UNKNOWN_LENGTH)."""
    dims = [UNKNOWN_LENGTH if d is None else int(d) for d in tuple(tensor.shape)[1:]]
    try:
        itemsize = np.dtype(str(tensor.dtype)).itemsize
    except TypeError:
        itemsize = 4
    return math.prod(dims) * itemsize


def peak_bytes_per_sample(fn) -> int:
    """The most activation bytes alive at once per sample when tensors are dropped as soon as no later node
    reads them (the walk's own schedule, nested models included)."""
    uses = _uses(fn)
    live = {id(t): _bytes(t) for t in fn.inputs}
    peak = sum(live.values())
    for node in nodes(fn):
        inner = graph(node.operation) if _is_model(node.operation) else None
        now = sum(live.values())
        outputs = sum(_bytes(t) for t in node.outputs)
        peak = max(peak, now + (peak_bytes_per_sample(inner) if inner is not None else 0) + outputs * TEMPORARIES)
        live.update({id(t): _bytes(t) for t in node.outputs})
        for tensor in node.input_tensors:
            uses[id(tensor)] -= 1
            if uses[id(tensor)] == 0:
                live.pop(id(tensor), None)
    return max(1, peak)


def all_bytes_per_sample(fn) -> int:
    """Every node output of the graph, as a gradient tape keeps them."""
    total = 0
    for node in nodes(fn):
        inner = graph(node.operation) if _is_model(node.operation) else None
        total += sum(_bytes(t) for t in node.outputs) + (all_bytes_per_sample(inner) if inner is not None else 0)
    return max(1, total)


def batch_size(bytes_per_sample: int, bound: int = WORK_BOUND, smallest: int = MIN_BATCH,
               largest: int = MAX_BATCH) -> int:
    """As many samples as fit the bound, at least `smallest`, and never more than fit MEMORY_BOUND: 0 when not
    even one sample does."""
    fits = MEMORY_BOUND // bytes_per_sample
    return int(min(largest, fits, max(smallest, min(bound, MEMORY_BOUND) // bytes_per_sample)))


def too_large(bytes_per_sample: int, model_name: str) -> UserError:
    """The refusal when one sample's activations alone exceed MEMORY_BOUND, with the sizes."""
    return UserError(f"one sample needs {bytes_per_sample / 2 ** 30:.1f} GiB of activations alive at once, over the "
                     f"{MEMORY_BOUND / 2 ** 30:g} GiB diagnose measures within (an open axis counts as "
                     f"{UNKNOWN_LENGTH}); give the model a smaller input shape", f"model {model_name!r}")


def _uses(fn) -> dict[int, int]:
    uses: dict[int, int] = {}
    for node in nodes(fn):
        for tensor in node.input_tensors:
            uses[id(tensor)] = uses.get(id(tensor), 0) + 1
    for tensor in fn.outputs:
        uses[id(tensor)] = uses.get(id(tensor), 0) + 1
    return uses


def _is_model(operation) -> bool:
    return isinstance(operation, _keras().Model)


def probe_inputs(model, batch: int, seed: int = 0, given=None) -> list:
    """One array per model input: the caller's data when given (its first `batch` rows), else standard-normal
    values (token ids below the smallest Embedding's vocabulary for integer inputs), undone through a Rescaling
    layer that reads the input directly (EfficientNet expects pixels in [0, 255]: it sees unit scale after it)."""
    if given is not None:
        given = list(given) if isinstance(given, (list, tuple)) else [given]
        return [np.asarray(x)[:batch] for x in given]
    rng = np.random.default_rng(seed)
    arrays = []
    for tensor in model.inputs:
        shape = (batch, *[UNKNOWN_LENGTH if d is None else int(d) for d in tuple(tensor.shape)[1:]])
        dtype = np.dtype(str(tensor.dtype))
        if np.issubdtype(dtype, np.integer):
            vocabulary = [layer.input_dim for layer in keras_private.sublayers(model, include_self=True) if hasattr(layer, "input_dim")]
            arrays.append(rng.integers(0, min(vocabulary, default=2), size=shape).astype(dtype))
        else:
            arrays.append(_before_rescaling(model, tensor, rng.standard_normal(shape)).astype(dtype))
    return arrays


def _before_rescaling(model, tensor, z: np.ndarray) -> np.ndarray:
    fn = graph(model)
    readers = [node.operation for node in nodes(fn) if any(t is tensor for t in node.input_tensors)] if fn else []
    if len(readers) == 1 and type(readers[0]).__name__ == "Rescaling":
        scale, offset = np.asarray(readers[0].scale, np.float64), np.asarray(readers[0].offset, np.float64)
        return (z - offset) / np.where(scale == 0, 1.0, scale)
    return z


def walk(fn, inputs: list, observe) -> list:
    """Run the graph node by node in training mode; observe(node, args, kwargs, outputs) sees every node as it
    runs (a nested model's own nodes included); a tensor is dropped once no later node reads it. Returns the
    graph's outputs."""
    uses = _uses(fn)
    tensors = {id(t): x for t, x in zip(fn.inputs, inputs)}
    for node in nodes(fn):
        if any(id(t) not in tensors for t in node.input_tensors):
            continue  # not computable from these inputs (an unused branch)
        args, kwargs = node.arguments.fill_in(tensors)
        operation = node.operation
        inner = graph(operation) if _is_model(operation) else None
        if inner is not None:
            outputs = walk(inner, flat(args, kwargs), observe)
        else:
            if "training" in getattr(operation, "_call_context_args", ()):
                kwargs["training"] = True
            outputs = operation(*args, **kwargs)
        outputs = flat(outputs, {})
        observe(node, args, kwargs, outputs)
        for tensor, value in zip(node.outputs, outputs):
            tensors[id(tensor)] = value
        del args, kwargs, outputs
        for tensor in node.input_tensors:
            uses[id(tensor)] -= 1
            if uses[id(tensor)] == 0:
                tensors.pop(id(tensor), None)
    return [tensors[id(t)] for t in fn.outputs if id(t) in tensors]


def flat(args, kwargs) -> list:
    """Every tensor in a call's arguments (or a layer's outputs), in order."""
    return [x for x in _keras().tree.flatten((args, kwargs)) if x is not None]
