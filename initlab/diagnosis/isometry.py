"""`initlab diagnose --jacobian`: the input-output Jacobian's spectrum of any Keras model at the weights judged, exact
where it fits walk.MEMORY_BOUND, by the randomized estimate where only that fits, refused where neither does."""

import numpy as np

from initlab.base.backend import keras as _keras, tf as _tf
from initlab.base.errors import UserError
from initlab.diagnosis import roles, walk
from initlab.train import jacobian

EXACT_ROWS, ESTIMATE_ROWS = 8, 4  # probe rows: each exact row costs one SVD, each estimated one `STARTS` chains
STARTS, STEPS = 8, 32             # the estimate's start vectors per row and Lanczos steps (jacobian.estimate)
FLAG = "--jacobian"


def spectrum(model, seed: int = 0) -> dict:
    """The spectrum's summaries (jacobian.SUMMARY) with what was measured: `of` (which output), `method` (exact or
    estimate), `inputs` and `outputs` (values per sample); on standard-normal probe rows (walk.probe_inputs), the
    model in inference mode (normalization with its moving statistics, no dropout): the function of one input."""
    fn = roles.graph(model)
    if fn is None:
        raise UserError("needs a model whose graph diagnose can read (Sequential or functional), to bound the "
                        "memory its Jacobian takes", f"model {model.name!r}", FLAG)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UserError(f"measures a model of one input and one output; this one has {len(model.inputs)} and "
                        f"{len(model.outputs)}", f"model {model.name!r}", FLAG)
    if not np.issubdtype(np.dtype(str(model.inputs[0].dtype)), np.floating):
        raise UserError(f"needs a float input: token ids ({model.inputs[0].dtype}) have no derivative",
                        f"model {model.name!r}", FLAG)
    logits, of = _logits(model)
    n, m = (int(np.prod([walk.UNKNOWN_LENGTH if d is None else d for d in t.shape[1:]]))
            for t in (model.inputs[0], model.outputs[0]))
    tape = walk.all_bytes_per_sample(fn)
    k = min(m, n)
    exact_row = m * tape + 3 * m * n * 8  # batch_jacobian runs m backward passes at once; J and the SVD in float64
    chain = 2 * tape + (STEPS + 4) * (m + n) * 8  # a JVP and a VJP of one copy of the row; the Lanczos basis
    with walk.untouched(model):
        if exact_row <= walk.MEMORY_BOUND:
            rows = int(min(EXACT_ROWS, walk.MEMORY_BOUND // exact_row))
            x = walk.probe_inputs(model, rows, seed)[0]
            found = jacobian.summary(jacobian.exact(logits, _tf().constant(x)))
            return {"of": of, "method": "exact", "inputs": n, "outputs": m, **found}
        if chain > walk.MEMORY_BOUND:
            raise _too_large(model, m, n, exact_row, chain)
        x = walk.probe_inputs(model, ESTIMATE_ROWS, seed)[0]
        found = jacobian.estimate(logits, _tf().constant(x), STARTS, STEPS, seed=seed,
                                  per_call=int(walk.MEMORY_BOUND // chain))
    return {"of": of, "method": f"estimate (stochastic Lanczos quadrature: {STARTS} start vectors a row, "
                                f"{min(STEPS, k)} steps)", "inputs": n, "outputs": m, **found}


def _too_large(model, m: int, n: int, exact_row: int, estimate_row: int) -> UserError:
    gib = 2 ** 30
    return UserError(f"the Jacobian of {m:,} outputs by {n:,} inputs needs {exact_row / gib:.1f} GiB per probe row "
                     f"exactly and {estimate_row / gib:.1f} GiB estimated, over the {walk.MEMORY_BOUND / gib:g} GiB "
                     f"diagnose measures within; an input about {estimate_row / walk.MEMORY_BOUND:.1f} times smaller "
                     f"would fit the estimate", f"model {model.name!r}", FLAG)


def _logits(model):
    """(fn: inputs -> the model's output before a final softmax or sigmoid, in inference mode; what it is)."""
    keras = _keras()
    operation, node_index, _ = model.outputs[0]._keras_history
    name = getattr(operation, "name", type(operation).__name__)
    squash = roles.activation_of(operation)
    if squash in ("softmax", "sigmoid"):  # an activation of its own (layer or op): the tensor it reads
        inner = keras.Model(model.inputs, operation._inbound_nodes[node_index].input_tensors[0])
        return (lambda x: inner(x, training=False)), f"the logits: the input of layer {name!r} (a {squash})"
    own = getattr(getattr(operation, "activation", None), "__name__", None)
    if own not in ("softmax", "sigmoid"):
        return (lambda x: model(x, training=False)), f"the output of layer {name!r}"

    def logits(x):
        saved, operation.activation = operation.activation, keras.activations.linear
        try:
            return model(x, training=False)
        finally:
            operation.activation = saved

    return logits, f"the logits: layer {name!r} before its {own}"
