"""The initialization checklist on any Keras model: every weighted layer's kernels judged with honest fans against
the nonlinearity that really follows it, and its signal measured as the first training step sees it."""

import math

import numpy as np
import pandas as pd

from initlab.config import initializers
from initlab.config.initializers import expected_variance
from initlab.diagnosis import fans, first_step
from initlab.diagnosis.findings import Finding
from initlab.train.units import distinct_units

RELU_LIKE = {"relu", "relu6", "leaky_relu", "prelu", "elu", "gelu", "silu", "swish", "mish", "softplus",
             "hard_silu", "celu"}
TOO_SMALL, TOO_LARGE = 0.5, 2.0  # a weight scale outside [0.5, 2] x its target range is off
VANISHED = 1e-3                  # activation std below this (inputs of std 1) is a lost signal
SMALL_BRANCH = 0.05              # a residual branch below this share of the sum starts nearly switched off
NORMALIZATION_KINDS = ("BatchNormalization", "LayerNormalization", "GroupNormalization", "RMSNormalization")
SCALE_KINDS = ("LayerScale",  # x * gamma, one learned factor per channel (ConvNeXt, CaiT), often ending a branch
               "SkipInitScale")  # x * alpha, one learned scalar (initlab.train.residual: SkipInit, ReZero)
KNOWN_KINDS = ("Dense", "EinsumDense", "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose",
               "Conv3DTranspose", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D",
               "Embedding", "SimpleRNN", "LSTM", "GRU", "Bidirectional", "MultiHeadAttention")


def target(activation: str, fan_in: int, fan_out: int) -> tuple[str, float, float, float]:
    """The initializer that suits an activation, the weight std it draws for these fans (the forward signal's
    target), and the range of stds that keep either the forward or the backward signal (He et al. 2015: either
    fan is enough)."""
    if activation in RELU_LIKE:
        forward, backward, name = math.sqrt(2 / fan_in), math.sqrt(2 / fan_out), "he_normal"
    elif activation == "selu":
        forward, backward, name = math.sqrt(1 / fan_in), math.sqrt(1 / fan_out), "lecun_normal"
    else:
        forward, backward, name = math.sqrt(1 / fan_in), math.sqrt(1 / fan_out), "glorot_uniform"
        return name, initializers.std_of(name, fan_in, fan_out), min(forward, backward), max(forward, backward)
    return name, forward, min(forward, backward), max(forward, backward)


EMPTY_COLUMNS = ["depth", "layer", "kind", "verdict", "findings", "suggestion", "probe_batch"]  # no weights
COUNTS = ("fan_in", "fan_out", "keras_fan_in", "keras_fan_out", "distinct_units", "units")  # whole numbers, or none


def diagnose(model, inputs=None, seed: int = 0, batch: int | None = None, gradients: bool = False,
             by_design: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per layer with weights: figures, findings, a verdict (ok, note, problem, not checked) and a
    suggestion. `inputs`: a batch of the model's own data (default: standard-normal values). `by_design`: layer
    name -> why its kernel is deliberately smaller than its initializer draws (muP's readout): a note, not a problem."""
    measured = first_step.measure_layers(model, inputs, seed, batch, gradients)
    layers = measured["layers"]
    rows = []
    for depth, layer in enumerate(layers, start=1):
        node_role = measured["roles"].get(id(layer))
        row = judge(layer, node_role[1] if node_role else None, measured["figures"][id(layer)],
                    last=depth == len(layers), graph=node_role is not None, small_by_design=(by_design or {}).get(layer.name))
        rows.append({"depth": depth, **row, "probe_batch": measured["batch"]})
    if not rows:
        return pd.DataFrame(columns=EMPTY_COLUMNS)  # a model without weights
    table = pd.DataFrame(rows)
    # a layer without a kernel has no fans: pandas would make the column float (64.0), Int64 keeps 64 and <NA>
    return table.astype({column: "Int64" for column in COUNTS if column in table})


def judge(layer, role, figures: dict, last: bool, graph: bool, small_by_design: str | None = None) -> dict:
    """One layer's row: its figures, its findings (texts, codes and severities) and its verdict."""
    kind = type(layer).__name__
    nonlinearity = role.nonlinearity if role else "unknown"
    row = {"layer": layer.name, "kind": kind, "nonlinearity": nonlinearity,
           "normalization": (role.normalization or "") if role else "",
           "residual": role.residual.operation.name if role and role.residual is not None else "",
           **_signal(figures)}
    findings: list[Finding] = []
    kernels = first_step.kernels_of(layer)
    if kind in NORMALIZATION_KINDS:
        findings += _normalization(layer, role)
    elif kind in SCALE_KINDS and len(layer.weights) == 1:
        findings += _layer_scale(layer, row, role, last, graph)
    elif not kernels or kind not in KNOWN_KINDS:
        held = ", ".join(v.path.rsplit("/", 1)[-1] for v in layer.weights)
        reason = (f"initlab does not know how {kind} uses its weights ({held})" if kernels
                  else f"{kind} holds no kernel ({held})")
        findings.append(Finding("not checked", "unknown_kind", reason, "",
                                 "kind unknown" if kernels else "no kernel"))
    else:
        weights = [_kernel_figures(layer, v, nonlinearity if v is kernels[-1] else "linear") for v in kernels]
        row.update({k: weights[-1][k] for k in ("fan_in", "fan_out", "keras_fan_in", "keras_fan_out", "weight_rms",
                                              "target_std", "scale_ratio", "initializer", "distinct_units", "units")})
        row["weights"] = weights
        for w in weights:
            findings += _weight_findings(layer, w, role, last, small_by_design if w["weight"] == "kernel" else None)
        findings += _signal_findings(row, role, last, graph, _rms(getattr(layer, "bias", None)))
        findings += _special_findings(layer, figures)
    row["findings"] = [f.text for f in findings]
    severities = {f.severity for f in findings}
    row["verdict"] = next((s for s in ("problem", "not checked", "note") if s in severities), "ok")
    if row["verdict"] == "not checked" and "problem" not in severities and kernels and kind in KNOWN_KINDS:
        row["verdict"] = "note" if "note" in severities else "ok"  # a part unchecked; the rest was judged
    row["summary"] = next((f.headline for f in findings if f.severity == row["verdict"]),
                          findings[0].headline if findings else "")
    row["finding_codes"] = [f.code for f in findings]
    row["severities"] = [f.severity for f in findings]
    row["problems"] = "; ".join(f.text for f in findings if f.severity == "problem")
    row["suggestion"] = "; ".join(dict.fromkeys(f.suggestion for f in findings if f.suggestion
                                                and f.severity == "problem")) or \
        "; ".join(dict.fromkeys(f.suggestion for f in findings if f.suggestion))
    return row


def _signal(figures: dict) -> dict:
    keys = ("input_std", "output_std", "activation_std", "dead_fraction", "saturated_fraction", "branch_share",
            "grad_rms")
    signal = {k: float(figures.get(k, math.nan)) for k in keys}
    if "special" in figures:
        signal["details"] = figures["special"]
    return signal


def _kernel_figures(layer, variable, nonlinearity: str) -> dict:
    """Fans (honest and as Keras drew them), the weight scale against its target, symmetry."""
    name = variable.path.rsplit("/", 1)[-1]
    fan_in, fan_out = fans.honest_fans(layer, variable)
    keras_in, keras_out = fans.keras_drawn_fans(layer, variable)
    w = np.asarray(variable.numpy(), np.float64)
    units = w.shape[-1] if w.ndim > 1 else 1
    rms = float(np.sqrt(np.mean(w**2)))  # the scale of zero-mean draws and of constants alike
    suggested, target_std, low, high = target(nonlinearity, fan_in, fan_out)
    initializer = fans.initializer_of(fans.owner_of(layer, variable)[0], name)
    in_use = fans.initializer_name(initializer) if initializer is not None else ""
    mismatch = fans.fan_mismatch(layer, variable)
    # without a mismatch Keras's fans give the same std as the honest ones
    drawn = mismatch["drawn_std"] if mismatch else _drawn_std(initializer, fan_in, fan_out)
    flat = w.reshape(-1, units)
    return {
        "weight": variable.path.removeprefix(layer.path + "/"), "shape": list(w.shape), "fan_in": fan_in, "fan_out": fan_out, "keras_fan_in": keras_in,
        "keras_fan_out": keras_out, "weight_rms": rms, "target_std": target_std, "target_low": low,
        "target_high": high, "scale_ratio": rms / target_std, "initializer": in_use, "suggested": suggested,
        "drawn_std": drawn, "all_zero": bool(not w.any()),
        "one_value": bool(w.size > 1 and np.all(w == w.flat[0])),
        "distinct_units": distinct_units(flat, np.zeros(units)) if units > 1 and flat.shape[0] > 1 else units,
        "units": units, "mismatch": mismatch, "nonlinearity": nonlinearity,
        "embedding": name == "embeddings", "recurrent": name == "recurrent_kernel",
    }


def _drawn_std(initializer, fan_in: int, fan_out: int) -> float | None:
    """The std an initializer draws for these fans, when it has a closed form."""
    if initializer is None:
        return None
    try:
        variance = expected_variance(fans.initializer_spec(initializer), fan_in, fan_out)
    except ValueError:
        return None
    return None if variance is None else math.sqrt(variance)


def _weight_findings(layer, w: dict, role, last: bool, small_by_design: str | None = None) -> list[Finding]:
    found = []
    which = "" if w["weight"] == "kernel" else f"{w['weight']}: "
    if w["all_zero"]:
        if small_by_design and role and role.residual is not None:  # Fixup's last layer of a branch
            return [Finding("note", "zero_by_design", f"{which}all weights zero, ending a residual branch; "
                             f"{small_by_design}", "", "zero branch end, by design")]
        text = f"{which}all weights zero" + ("" if last else ": no gradient reaches the layers below")
        return [Finding("problem", "zero", text, _redraw(w), "all weights zero")]
    if w["units"] > 1 and w["distinct_units"] == 1:
        found.append(Finding("problem", "symmetric", f"{which}symmetric: all {w['units']} units compute one "
                              "function (the layer is one unit wide)", _redraw(w),
                              f"symmetric: 1 of {w['units']} units"))
    elif w["one_value"]:
        found.append(Finding("problem", "one_value", f"{which}every weight has one value", _redraw(w),
                              "every weight one value"))
    if w["embedding"]:
        return found  # an embedding's scale is judged by the embedding check
    ratio_low, ratio_high = w["weight_rms"] / w["target_low"], w["weight_rms"] / w["target_high"]
    off = "small" if ratio_low < TOO_SMALL else "large" if ratio_high > TOO_LARGE else ""
    if w["recurrent"] and (off == "small" or first_step.recurrent is not None):
        off = ""  # judged by its spectral radius (orthogonal kernels sit at 1/sqrt(gates) of the per-gate target)
    mismatch = w["mismatch"]
    if mismatch:
        (kin, kout), (hin, hout) = mismatch["keras_fans"], mismatch["honest_fans"]
        factor = mismatch["factor"]
        size = f"{1 / factor:.3g}x too small" if factor < 1 else f"{factor:.3g}x too large"
        text = (f"{which}Keras drew {mismatch['initializer']} with fans {kin}/{kout}, honest fans are {hin}/{hout}: "
                f"std {mismatch['drawn_std']:.3g} instead of {mismatch['intended_std']:.3g} ({size})")
        severity = "problem" if off and not (role and role.normalization) else "note"
        if severity == "note" and role and role.normalization and off:
            text += f"; the {role.normalization} after it restores the scale"
        short = f"{max(factor, 1 / factor):.2g}x {'small' if factor < 1 else 'large'}, Keras fans {kin}/{kout}"
        found.append(Finding(severity, "fan_mismatch", text, mismatch["fix"], short))
        if severity == "note" or not off:
            return found
        off = ""  # the mismatch finding already says it, with its fix
    if off:
        scale = (f"{which}weights too {off}: rms {w['weight_rms']:.3g}, target std {w['target_std']:.3g} "
                 f"({w['scale_ratio']:.2g}x) for {w['nonlinearity']} with fans {w['fan_in']}/{w['fan_out']}")
        if role and role.normalization:
            found.append(Finding("note", "scale_normalized", f"{scale}; the {role.normalization} after it sets "
                                  "the signal's scale", "", f"weights {w['scale_ratio']:.2g}x, normalized"))
        elif small_by_design and off == "small":
            found.append(Finding("note", "small_by_design", f"{scale}; {small_by_design}", "",
                                  f"weights {w['scale_ratio']:.2g}x, by design"))
        elif role and role.residual is not None and off == "small":
            found.append(Finding("note", "small_branch", f"{scale}; it ends a residual branch, where a small start "
                                  "can be by design (ReZero, LayerScale)", "", "small residual branch"))
        else:
            found.append(Finding("problem", f"too_{off}", scale, _rescale(w),
                                  f"weights too {off}: {w['scale_ratio']:.2g}x"))
    return found


def _redraw(w: dict) -> str:
    """Symmetric or zero weights: a random draw of the right scale."""
    if w["suggested"] != w["initializer"]:
        return f"{w['suggested']} (random, std {w['target_std']:.3g} for these fans)"
    return f"draw the weights again with {w['initializer']} (they are not what it draws: set after initialization?)"


def _rescale(w: dict) -> str:
    """What to change when the scale is off, never the initializer already in use as if it were new."""
    drawn = w["drawn_std"]
    if drawn and abs(w["weight_rms"] / drawn - 1) > 0.2:
        return (f"the weights are {w['weight_rms'] / drawn:.3g}x what {w['initializer']} draws (std {drawn:.3g}): "
                f"were they changed after initialization? draw them again")
    if w["suggested"] != w["initializer"]:
        return (f"{w['suggested']}: std {w['target_std']:.3g} for {w['nonlinearity']} with fans "
                f"{w['fan_in']}/{w['fan_out']} (now {w['initializer'] or 'custom'}, std {w['weight_rms']:.3g})")
    return (f"VarianceScaling(scale={(w['target_std'] / w['weight_rms'])**2:.3g} x its scale) keeps "
            f"{w['initializer']}'s form at std {w['target_std']:.3g}")


def _normalization(layer, role) -> list[Finding]:
    gamma = getattr(layer, "gamma", None)
    if gamma is None or np.any(np.asarray(gamma.numpy())):
        return []
    if role and role.residual is not None:
        return [Finding("note", "zero_gamma", "scale gamma starts at 0: the residual branch starts switched off "
                         "(by design in zero-init residual nets)")]
    drawn = fans.initializer_name(getattr(layer, "gamma_initializer", None))
    return [Finding("problem", "zero_gamma", "scale gamma is all zero: only beta passes, no signal",
                     "set gamma back to ones (its gamma_initializer is 'ones' already: zeroed after initialization)"
                     if drawn == "ones" else "gamma_initializer='ones'")]


def _rms(variable) -> float:
    return float(np.sqrt(np.mean(np.asarray(variable.numpy(), np.float64) ** 2))) if variable is not None else 0.0


def _signal_fix(row: dict, bias_rms: float, dead: bool) -> str:
    """Dead or saturated units: the initializer that suits the nonlinearity when another is in use; with that one in
    use already, what else sets the pre-activations' scale (the biases, the inputs), never that initializer again."""
    suited = "he_normal" if dead else "glorot_uniform"
    if row.get("initializer") != suited:
        return "he_normal with zero biases" if dead else \
            "glorot_uniform (smaller weights keep tanh/sigmoid off their flat ends)"
    causes = [f"zero biases (now rms {bias_rms:.3g})"] if bias_rms > 1 else []
    if math.isfinite(row["input_std"]) and not 0.5 <= row["input_std"] <= 2:
        causes.append(f"inputs of unit scale (these have std {row['input_std']:.3g}: the data's scale or the layers "
                      "before)")
    what = " and ".join(causes) or "inputs of unit scale and zero biases"
    return f"{what}: {suited} suits {row['nonlinearity']} already"


def _layer_scale(layer, row: dict, role, last: bool, graph: bool) -> list[Finding]:
    """A LayerScale multiplies its input by gamma: gamma's size, and the signal it lets through (ending a residual
    branch, the branch's share of the sum: small by design)."""
    gamma = np.asarray(layer.weights[0].numpy(), np.float64)
    row["weight_rms"] = float(np.sqrt(np.mean(gamma**2)))
    found = _signal_findings(row, role, last, graph, bias_rms=0.0)  # a LayerScale has no bias
    if not gamma.any() and not (role and role.residual is not None):
        found.insert(0, Finding("problem", "zero_gamma", "scale gamma is all zero: no signal passes",
                                "a small nonzero start (init_values 1e-6 to 0.1 on a residual branch, else 1)"))
    return found


def _signal_findings(row: dict, role, last: bool, graph: bool, bias_rms: float) -> list[Finding]:
    if not graph:
        return [Finding("not checked", "no_graph", "signal not measured: a subclassed model has no graph to walk")]
    found = []
    nonlinearity = row["nonlinearity"]
    if row["dead_fraction"] > 0.5:
        found.append(Finding("problem", "dead", f"{row['dead_fraction']:.0%} of units dead after {nonlinearity} "
                              "(output 0 for every probe input)", _signal_fix(row, bias_rms, dead=True),
                              f"{row['dead_fraction']:.0%} of units dead"))
    if row["saturated_fraction"] > 0.5:
        found.append(Finding("problem", "saturated", f"{row['saturated_fraction']:.0%} of {nonlinearity} outputs "
                              "saturated", _signal_fix(row, bias_rms, dead=False),
                              f"{row['saturated_fraction']:.0%} saturated"))
    vanished = row["activation_std"] < VANISHED
    if vanished and not last and not (role and role.residual is not None) and row.get("weight_rms", 1) > 0:
        found.append(Finding("problem", "vanished", f"signal vanished: activation std {row['activation_std']:.2g} "
                              f"after {nonlinearity}", "", f"signal vanished: {row['activation_std']:.1g}"))
    share = row["branch_share"]
    if role and role.residual is not None and share < SMALL_BRANCH:
        found.append(Finding("note", "small_branch", f"residual branch adds {share:.2g} of the sum's std at "
                              f"{row['residual']}: it starts nearly switched off (by design in ReZero, LayerScale)", "",
                              "small residual branch"))
    return found


def _special_findings(layer, figures: dict) -> list[Finding]:
    kind = type(layer).__name__
    if "special_error" in figures:
        return [Finding("not checked", "special_error", f"{kind} check failed: {figures['special_error']}")]
    if "special_findings" in figures:
        return list(figures["special_findings"])
    if kind in first_step.RECURRENT_KINDS + ("Embedding", "MultiHeadAttention") and first_step.recurrent is None:
        what = {"Embedding": "embedding scale", "MultiHeadAttention": "attention logits"}.get(kind, "recurrence")
        return [Finding("not checked", "no_special", f"{what} not checked: initlab.diagnosis.recurrent is not available")]
    return []


def healthy(table: pd.DataFrame) -> bool:
    return bool((table["verdict"] != "problem").all())
