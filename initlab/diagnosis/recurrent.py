"""Recurrent, embedding and attention layers at initialization: what their first forward and backward pass sees.

Each check returns (figures, findings): figures a flat dict of plain numbers (None where not applicable), findings
a list of Finding (initlab/diagnosis/findings.py), each with its own code. A check never suggests the initializer
already in use as if it were new.
"""

import math
from dataclasses import replace

import numpy as np

from initlab.base import keras_private
from initlab.base.backend import keras as _keras, tf as _tf
from initlab.config import initializers
from initlab.diagnosis import fans
from initlab.diagnosis.findings import Finding

ROWS = 64  # sequences the recurrent check runs: the horizon and the saturation are per-step averages
# Orthogonal recurrent kernels have every singular value 1 (Saxe et al. 2014) and identity ones a radius of exactly 1
# (Le et al. 2015): 1 is the designed edge. Well above it the recurrence expands: radius > 1.5 is flagged.
RADIUS_MAX = 1.5
GROWTH_MAX = 10.0  # the first input moving the final state 10x more than the last one: gradients explode in time
FORGET_HORIZON = 1e-3  # an input whose influence on the final state is < 1e-3 of the last input's is forgotten
SATURATED = 0.25  # a quarter of the states or gates pinned (tanh' or sigmoid' < 0.02): that share learns ~nothing
# Jozefowicz et al. 2015: a forget-gate bias of 1.0 (Keras's unit_forget_bias) lets gradients through early on;
# a bias near 0 leaves f = sigmoid(0) = 0.5, which halves the cell every step.
FORGET_BIAS_MIN = 0.5
UNIT_SCALE = 1.0  # Glorot, He and LeCun draw for unit-variance inputs; embeddings feed such kernels
EMBEDDING_LOW, EMBEDDING_HIGH = 0.1, 10.0  # a row std 10x off unit scale either way is noted
# Vaswani et al. 2017 divide q.k by sqrt(head_dim) so that, for unit-scale inputs, logits have unit variance.
LOGITS_LOW, LOGITS_HIGH = 0.1, 5.0
LOGITS_KEPT = 8_000_000  # logits held at once by the attention check (64 MB in float64)
COLLAPSED = 0.5  # mean softmax entropy below half of log(keys): most queries attend to a few keys at init


def check_recurrent(layer, inputs) -> tuple[dict, list[dict]]:
    """layer: a built SimpleRNN, LSTM or GRU (or a Bidirectional wrapping one: both directions, figures prefixed
    forward_/backward_); inputs: the float batch [batch, time, features] the layer receives (first ROWS rows used).

    Figures: input_fan_in, input_std (of the inputs), input_weight_std, input_target_std (Glorot with per-gate
    fans), recurrent_sv_min / recurrent_sv_max (singular values of each gate's [units, units] block of the recurrent
    kernel, the smallest and largest over all gates), spectral_radius (the largest |eigenvalue| of any gate's block),
    state_std, saturated_fraction (states with |h| > 0.99), gates_saturated_fraction (sigmoid gate values < 0.01 or
    > 0.99; None for SimpleRNN), memory_horizon (how many steps back from the last input the influence
    ||d h_T / d x_t|| first falls below 1e-3 of the last input's; None when it never does within the sequence),
    influence_first (that ratio for the first input), forget_bias (LSTM: the mean of the forget gate's bias slice).
    The influence is measured with a GradientTape for a random projection of h_T (its squared norm estimates the
    Jacobian's squared Frobenius norm), in the order the layer reads the steps (reversed for go_backwards). Masks are
    not applied: every step counts."""
    x = np.asarray(inputs, np.float32)[:ROWS]
    if isinstance(layer, _keras().layers.Bidirectional):
        figures, findings = {}, []
        for direction, one in (("forward", layer.forward_layer), ("backward", layer.backward_layer)):
            part, found = _check_one_direction(one, x)
            figures.update({f"{direction}_{key}": value for key, value in part.items()})
            findings += [replace(item, text=f"{direction} direction: {item.text}") for item in found]
        return figures, findings
    return _check_one_direction(layer, x)


def _check_one_direction(layer, x) -> tuple[dict, list[dict]]:
    cell = layer.cell
    kind = type(cell).__name__.removesuffix("Cell")
    kernel, recurrent = cell.kernel.numpy(), cell.recurrent_kernel.numpy()
    units = cell.units
    blocks = [recurrent[:, g * units : (g + 1) * units] for g in range(recurrent.shape[1] // units)]
    singular = np.concatenate([np.linalg.svd(b, compute_uv=False) for b in blocks])
    fan_in, fan_out = fans.honest_fans(layer, cell.kernel)
    x = x[:, ::-1] if layer.go_backwards else x  # from here on, steps in the order the layer reads them
    states, influence, gates = _run(cell, x)
    horizon = _horizon(influence)
    figures = {
        "units": units,
        "steps": x.shape[1],
        "input_fan_in": fan_in,
        "input_std": float(x.std()),
        "input_weight_std": float(kernel.std()),
        "input_target_std": initializers.std_of("glorot_uniform", fan_in, fan_out),
        "recurrent_sv_min": float(singular.min()),
        "recurrent_sv_max": float(singular.max()),
        "spectral_radius": float(max(np.abs(np.linalg.eigvals(b)).max() for b in blocks)),
        "state_std": float(states.std()),
        "saturated_fraction": float(np.mean(np.abs(states) > 0.99)),
        "gates_saturated_fraction": None if gates is None else float(np.mean((gates < 0.01) | (gates > 0.99))),
        "memory_horizon": horizon,
        "influence_first": float(influence[0] / influence[-1]) if influence[-1] > 0 else None,
        "forget_bias": _forget_bias(cell) if kind == "LSTM" else None,
    }
    return figures, _recurrent_findings(layer, kind, figures)


def _run(cell, x):
    """(states [batch, time, units], influence per step [time], sigmoid gate values or None) for inputs x, through
    the layer's own cell (wrapped, not copied: no variable is written)."""
    keras, tf = _keras(), _tf()
    rnn = keras.layers.RNN(cell, return_sequences=True)
    x = tf.constant(np.ascontiguousarray(x))
    with tf.GradientTape() as tape:
        tape.watch(x)
        states = rnn(x, training=False)
        direction = np.random.default_rng(0).standard_normal(states.shape[::2]).astype(np.float32)
        projected = tf.reduce_sum(states[:, -1] * direction)
    grad = np.asarray(tape.gradient(projected, x), np.float64)
    influence = np.sqrt((grad**2).sum(axis=-1).mean(axis=0))
    states = np.asarray(states)
    return states, influence, _gates(cell, np.asarray(x), states)


def _horizon(influence) -> int | None:
    """Steps back from the last input at which the influence first falls below FORGET_HORIZON of the last one's."""
    last = influence[-1]
    if last == 0:
        return 0  # not even the last input moves the state
    for back in range(1, len(influence)):
        if influence[-1 - back] < FORGET_HORIZON * last:
            return back
    return None


def _gates(cell, x, states):
    """The sigmoid gates' values along the trajectory (LSTM: input, forget, output; GRU: update, reset)."""
    kind = type(cell).__name__
    if kind not in ("LSTMCell", "GRUCell"):
        return None
    units = cell.units
    previous = np.concatenate([np.zeros_like(states[:, :1]), states[:, :-1]], axis=1)
    pre = x @ cell.kernel.numpy() + previous @ cell.recurrent_kernel.numpy()
    if cell.use_bias:
        bias = cell.bias.numpy()
        pre = pre + (bias.sum(axis=0) if bias.ndim == 2 else bias)  # GRU reset_after: input + recurrent bias
    slices = (0, 1, 3) if kind == "LSTMCell" else (0, 1)
    gates = np.concatenate([pre[..., g * units : (g + 1) * units] for g in slices], axis=-1)
    return np.asarray(cell.recurrent_activation(gates))


def _forget_bias(cell) -> float:
    if not cell.use_bias:
        return 0.0  # no bias: the forget gate sits where a zero bias puts it
    units = cell.units
    return float(cell.bias.numpy()[units : 2 * units].mean())


def _initializer(owner, weight: str):
    return fans.initializer_of(fans.owner_of(owner, weight)[0], weight.rsplit("/", 1)[-1])


def _in_use(owner, weight: str) -> str:
    initializer = _initializer(owner, weight)
    return fans.initializer_name(initializer) if initializer is not None else ""


def _recurrent_findings(layer, kind: str, f: dict) -> list[Finding]:
    found = []
    recurrent_init = _in_use(layer, "recurrent_kernel")
    growth = f["influence_first"]
    if f["spectral_radius"] > RADIUS_MAX or (growth is not None and growth > GROWTH_MAX):
        grown = f"; the first of {f['steps']} inputs moves the final state {growth:.3g}x more than the last" if (
            growth is not None and growth > 1) else ""
        found.append(Finding(
            "problem", "expansive_recurrence",
            f"expansive recurrence: the recurrent kernel's largest gate block has spectral radius "
            f"{f['spectral_radius']:.3g} (singular values up to {f['recurrent_sv_max']:.3g}){grown}; "
            f"states and gradients through time grow with each step",
            _redraw_recurrent(layer, f),
        ))
    if f["saturated_fraction"] > SATURATED:
        found.append(Finding(
            "problem", "saturated_state",
            f"saturated state: {f['saturated_fraction']:.0%} of the {kind} states sit at |h| > 0.99 at "
            f"initialization, where tanh passes back under 2% of the gradient",
            _calm_inputs(layer, f),
        ))
    gates = f["gates_saturated_fraction"]
    if gates is not None and gates > SATURATED:
        found.append(Finding(
            "problem", "saturated_gates",
            f"saturated gates: {gates:.0%} of the {kind} sigmoid gate values are below 0.01 or above 0.99 at "
            f"initialization: those gates are stuck shut or open and learn almost nothing",
            _calm_inputs(layer, f),
        ))
    if f["forget_bias"] is not None and f["forget_bias"] < FORGET_BIAS_MIN:
        found.append(Finding(
            "note", "forget_bias",
            f"forget-gate bias {f['forget_bias']:.3g}: the forget gate starts near sigmoid(0) = 0.5 and halves the "
            f"cell state every step (Jozefowicz et al. 2015 recommend a bias of 1.0)",
            "unit_forget_bias=True (forget-gate bias 1.0)" if layer.cell.use_bias else
            "use_bias=True with unit_forget_bias=True (forget-gate bias 1.0)",
        ))
    if f["memory_horizon"] is not None and not found:
        found.append(Finding(
            "note", "short_memory",
            f"short memory at initialization: an input {f['memory_horizon']} steps before the last moves the "
            f"final state under 1e-3 as much as the last one (the first of {f['steps']}: "
            f"{_ratio(f['influence_first'])}); long-range dependencies must be learned against that decay",
            _longer_memory(layer, kind, recurrent_init, f),
        ))
    return found


def _ratio(value) -> str:
    return "not at all" if value is None else f"{value:.2g}x"


def _redraw_recurrent(layer, f: dict) -> str:
    initializer = _initializer(layer, "recurrent_kernel")
    gain = getattr(initializer, "gain", 1.0)
    if _in_use(layer, "recurrent_kernel") in ("orthogonal", "identity") and gain > 1:
        return f"recurrent_initializer={type(initializer).__name__}(gain=1.0) (in use with gain {gain:.3g})"
    if _in_use(layer, "recurrent_kernel") == "orthogonal":
        return (f"draw the recurrent kernel again: orthogonal (in use) gives singular values <= 1, these reach "
                f"{f['recurrent_sv_max']:.3g}: were the weights scaled after initialization?")
    return "recurrent_initializer='orthogonal' (singular values 1: neither growing nor fading, Saxe et al. 2014)"


def _calm_inputs(layer, f: dict) -> str:
    """Saturation comes from the input kernel, the inputs or the recurrence: point at the one that is off."""
    if f["spectral_radius"] > RADIUS_MAX:
        return _redraw_recurrent(layer, f)
    ratio = f["input_weight_std"] / f["input_target_std"]
    if ratio > 2:
        redraw = "again (in use: the weights are not its draw)" if _in_use(layer, "kernel") == "glorot_uniform" else ""
        return (f"the input kernel is {ratio:.3g}x Glorot's per-gate std {f['input_target_std']:.3g}: draw it with "
                f"glorot_uniform {redraw}".rstrip())
    return f"scale the inputs down (std {f['input_std']:.3g}): a LayerNormalization or standardized features"


def _longer_memory(layer, kind: str, recurrent_init: str, f: dict) -> str:
    if kind == "LSTM":
        if f["forget_bias"] < FORGET_BIAS_MIN:
            return "unit_forget_bias=True (forget-gate bias 1.0, Jozefowicz et al. 2015)"
        return (f"a larger forget-gate bias (now {f['forget_bias']:.2g}): set bias[units:2*units] to 2-3 after "
                f"building, as chrono initialization does for memory over ~{f['steps']} steps (Tallec & Ollivier 2018)")
    if kind == "GRU":
        where = "bias[0, :units]" if getattr(layer.cell, "reset_after", False) else "bias[:units]"
        return (f"an update-gate bias of 1-3 ({where} after building): Keras's GRU keeps z * h, so z = sigmoid(b) "
                f"near 1 holds the state (chrono initialization, Tallec & Ollivier 2018)")
    if recurrent_init != "identity":
        return "recurrent_initializer='identity' with activation='relu' (IRNN, Le et al. 2015), or an LSTM"
    return "an LSTM or GRU with gated memory"


def check_embedding(layer) -> tuple[dict, list[dict]]:
    """Row std and norm of the embedding table against unit scale, the scale the input kernels after it assume
    (Glorot, He and LeCun draw for unit-variance inputs). Keras's default uniform(-0.05, 0.05) gives std ~0.029."""
    table = np.asarray(layer.embeddings.numpy(), np.float64)
    row_std = float(np.sqrt(np.mean(table.var(axis=1))))
    figures = {
        "vocabulary": table.shape[0],
        "output_dim": table.shape[1],
        "row_std": row_std,
        "row_norm": float(np.linalg.norm(table, axis=1).mean()),
        "target_std": UNIT_SCALE,
        "scale_ratio": row_std / UNIT_SCALE,
    }
    in_use = _in_use(layer, "embeddings")
    unit = "RandomNormal(stddev=1.0) (unit-scale rows)"
    if row_std < EMBEDDING_LOW * UNIT_SCALE:
        text = (f"tiny embeddings: row std {row_std:.3g}, {UNIT_SCALE / max(row_std, 1e-30):.3g}x below the unit "
                f"scale the next layer's kernel is drawn for, so the signal after it starts that much smaller "
                f"(a normalization layer right after the embedding would restore it)")
        fix = f"embeddings_initializer={unit}" if in_use != "random_normal" else \
            f"embeddings_initializer={unit}, or scale the rows by sqrt(output_dim) as Vaswani et al. 2017 do"
        return figures, [Finding("note", "tiny_embeddings", text, fix)]
    if row_std > EMBEDDING_HIGH * UNIT_SCALE:
        text = (f"large embeddings: row std {row_std:.3g}, {row_std / UNIT_SCALE:.3g}x above unit scale; the "
                "layers after it saturate or blow up")
        return figures, [Finding("note", "large_embeddings", text, f"embeddings_initializer={unit}")]
    return figures, []


def check_attention(layer, query, value, key=None) -> tuple[dict, list[dict]]:
    """layer: a built keras.layers.MultiHeadAttention; query/value/key: the batches it receives in the model.

    Figures: logits_std (the within-row std of q.k / sqrt(key_dim), computed with Keras's own equation),
    entropy_fraction (the mean softmax entropy over the attended positions as a fraction of log(positions): 1 is
    uniform attention, 0 collapsed), per projection (query, key, value, output) its kernel std, its target (Glorot
    with honest fans, fans.py) and their ratio, and output_gain (output std / query std)."""
    keras = _keras()
    ops = keras.ops
    key = value if key is None else key
    kept = _attention_rows(layer, query, key)
    query, value, key = (np.asarray(t, np.float32)[:kept] for t in (query, value, key))
    q = layer.query_dense(query)
    k = layer.key_dense(key)
    # Keras scales the query by 1/sqrt(key_dim), then contracts with this einsum
    logits = ops.einsum(keras_private.attention_equation(layer), k, ops.multiply(q, 1.0 / math.sqrt(layer.key_dim)))
    logits = np.asarray(logits, np.float64)
    attended = len(keras_private.attention_axes(layer))
    rows = logits.reshape(*logits.shape[: logits.ndim - attended], -1)  # one row of logits per query and head
    positions = rows.shape[-1]
    probabilities = np.asarray(ops.softmax(rows, axis=-1), np.float64)
    entropy = -(probabilities * np.log(np.clip(probabilities, 1e-30, None))).sum(axis=-1)
    output = np.asarray(layer(query, value, key, training=False))
    figures = {
        "heads": layer.num_heads,
        "key_dim": layer.key_dim,
        "positions": positions,
        "query_std": float(np.std(np.asarray(query))),
        "logits_std": float(np.sqrt(rows.var(axis=-1).mean())),
        "entropy_fraction": float(entropy.mean() / math.log(positions)) if positions > 1 else None,
        "output_gain": float(output.std() / max(np.std(np.asarray(query)), 1e-30)),
    }
    for name, dense in (("query", layer.query_dense), ("key", layer.key_dense), ("value", layer.value_dense),
                        ("output", layer.output_dense)):
        fan_in, fan_out = fans.honest_fans(dense, dense.kernel)
        std, target = float(np.std(dense.kernel.numpy())), initializers.std_of("glorot_uniform", fan_in, fan_out)
        figures.update({f"{name}_weight_std": std, f"{name}_target_std": target, f"{name}_scale_ratio": std / target})
    return figures, _attention_findings(layer, figures)


def _attention_rows(layer, query, key) -> int:
    """Rows of the batch whose logits fit in LOGITS_KEPT numbers (at most ROWS)."""
    per_row = layer.num_heads * math.prod(query.shape[1:-1]) * math.prod(key.shape[1:-1])
    return max(1, min(ROWS, LOGITS_KEPT // max(per_row, 1)))


def _attention_findings(layer, f: dict) -> list[Finding]:
    found = []
    if f["logits_std"] > LOGITS_HIGH or f["logits_std"] < LOGITS_LOW:
        large = f["logits_std"] > LOGITS_HIGH
        effect = ("softmax starts near one-hot, its gradient near zero" if large else
                  "every query starts averaging all positions, and as logits are a product of query and key, "
                  "their gradients start as small as each other")
        found.append(Finding(
            "note", "attention_logits_scale",
            f"attention logits' std {f['logits_std']:.3g} at initialization, {'above' if large else 'below'} the "
            f"unit scale the 1/sqrt(key_dim) factor aims for (Vaswani et al. 2017): {effect}",
            _attention_fix(layer, f),
        ))
    if f["entropy_fraction"] is not None and f["entropy_fraction"] < COLLAPSED:
        found.append(Finding(
            "note", "collapsed_attention",
            f"collapsed attention: the mean softmax entropy is {f['entropy_fraction']:.2f} of uniform's over "
            f"{f['positions']} positions; most queries look at a few keys before learning anything",
            _attention_fix(layer, f),
        ))
    return found


def _attention_fix(layer, f: dict) -> str:
    """Inputs off unit scale: normalize them; else the query/key projections off their target: redraw them."""
    if not 1 / 3 < f["query_std"] < 3:
        return (f"a LayerNormalization before the attention (pre-LN): its inputs have std {f['query_std']:.3g}, "
                f"the 1/sqrt(key_dim) scale assumes unit-scale ones")
    in_use = _in_use(layer, "query/kernel")
    worst = max(("query", "key"), key=lambda p: abs(math.log(f[f"{p}_scale_ratio"])))
    target = f[f"{worst}_target_std"]
    if in_use == "glorot_uniform":
        return (f"draw the query and key kernels again with glorot_uniform (in use; std {target:.3g}): the {worst} "
                f"kernel is {f[f'{worst}_scale_ratio']:.3g}x that, changed after initialization?")
    return f"kernel_initializer='glorot_uniform' (std {target:.3g} for the {worst} projection's honest fans)"
