"""De and Smith 2020 (SkipInit) with Fixup (Zhang, Dauphin and Ma 2019) replayed on the lab's residual MLP: the
stream's variance by block at initialization over many draws (He branches double it, batch-normalized ones add
about one a block, SkipInit's and Fixup's start every block at the identity), and which of the deep nets train."""

import math

import numpy as np
import pandas as pd

from initlab.base.backend import keras as _keras, tf as _tf
from initlab.config import initializers
from initlab.output import plots
from initlab.train import batched_draws, residual

EPSILON = 1e-3  # Keras's BatchNormalization and LayerNormalization default epsilon
SLOPE_MARGIN = 0.1  # He's log2 variance per block may be off 1 by this much
ADDED_MARGIN = 0.2  # a batch-normalized He block adds a variance of 1 (2 E[relu(z)^2], z standardized): +- this much
LINEAR = 0.98  # R^2 a line in the block index must reach for the batch-normalized stream's variance
FLAT = 1e-6  # |log2 Var_L / Var_0| below this counts as flat


def _normalized(h, normalization: str):
    """A fresh BatchNormalization (batch statistics over the rows, as in training) or LayerNormalization (over the
    units of each row): gamma 1, beta 0."""
    tf = _tf()
    mean, var = tf.nn.moments(h, axes=[1] if normalization == "batch" else [2], keepdims=True)
    return (h - mean) / tf.sqrt(var + EPSILON)


def _variance(a) -> np.ndarray:
    """Each member's variance over its rows and units."""
    return _tf().math.reduce_variance(a, axis=[1, 2]).numpy()


def _drawn(spec, shape: tuple, seeds: list[int], index: int, which: int, fan_in: int | None = None):
    """[K, *shape] float64: layer `index`'s kernel (which 0) or bias (1, of a layer of this fan-in) as the runs with
    these seeds draw it (a bias's seed: initializers.bias_seed, as residual.blocks takes it)."""
    seeds = [initializers.bias_seed(spec, s, index) if which else initializers.layer_seed(s, index, 0) for s in seeds]
    return _tf().constant(batched_draws.draw(spec, shape, seeds, fan_in if which else None), _tf().float64)


def stream_variances(config, x: np.ndarray, seeds: list[int]) -> np.ndarray:
    """[len(seeds), blocks + 1]: the variance (over rows and units) of the residual stream after the stem and after
    each block, of the runs with these seeds on the rows x, with the weights those runs draw (model.build and
    residual.blocks: the same initializer calls and layer seeds) and normalization in training mode (batch
    statistics), computed in float64 (He's stream grows as 2^blocks)."""
    tf, keras = _tf(), _keras()
    spec, res = config.model, config.model.residual
    act = keras.activations.get(spec.activation)
    width, n_hidden, m = spec.hidden[-1], len(spec.hidden), res.branch_layers
    found = []
    for start in range(0, len(seeds), batched_draws.CHUNK):
        part = list(seeds[start : start + batched_draws.CHUNK])
        a = tf.tile(tf.constant(x, tf.float64)[None], [len(part), 1, 1])
        for (kernel, bias), layer in zip(batched_draws.hidden_weights(config, x.shape[1], part), spec.hidden_layers()):
            a = keras.activations.get(layer.activation)(tf.matmul(a, tf.constant(kernel, tf.float64))
                                                        + tf.constant(bias, tf.float64)[:, None, :])
        variances = [_variance(a)]
        for b in range(1, res.blocks + 1):
            h = a
            for j in range(1, m + 1):
                if res.normalization != "none":
                    h = _normalized(h, res.normalization)
                index = residual.layer_index(n_hidden, b, j, m)
                if res.branch_init == "fixup" and j == m:
                    kernel = tf.zeros([len(part), width, width], tf.float64)
                else:
                    kernel = _drawn(spec.kernel_initializer, (width, width), part, index, 0)
                    if res.branch_init == "fixup":  # residual.apply_fixup's float32 factor
                        kernel = kernel * float(np.float32(residual.fixup_factor(res.blocks, m)))
                h = tf.matmul(act(h), kernel) + _drawn(spec.bias_initializer, (width,), part, index, 1, width)[:, None, :]
            if res.branch_init != "skipinit":  # SkipInit's alpha starts at 0: the block adds nothing
                a = a + h
            variances.append(_variance(a))
        found.append(np.stack(variances, axis=1))
    return np.concatenate(found)


def _t_interval(values) -> tuple[float, float]:
    values = np.asarray(values, float)
    if len(values) < 2 or values.std() == 0:
        return float(values.mean()), float(values.mean())
    from scipy import special  # scipy.stats costs 0.5 s to import

    half = special.stdtrit(len(values) - 1, 0.975) * values.std(ddof=1) / math.sqrt(len(values))
    return float(values.mean() - half), float(values.mean() + half)


def _percentiles(values) -> tuple[float, float]:
    low, high = np.percentile(np.asarray(values, float), [2.5, 97.5])
    return float(low), float(high)


def fits(variances: np.ndarray) -> dict:
    """Per draw (row): the least-squares slope of log2 Var_l on the block index l (He: 1), log2 Var_L / Var_0 (the
    growth in bits), and the line Var_l / Var_0 = 1 + added * l / Var_0: its slope `added` (the variance a block
    adds; a batch-normalized He block: about 1) and R^2."""
    blocks = np.arange(variances.shape[1], dtype=float)
    centred = blocks - blocks.mean()
    log2 = np.log2(variances)
    slope = (log2 - log2.mean(axis=1, keepdims=True)) @ centred / (centred @ centred)
    deviation = variances - variances.mean(axis=1, keepdims=True)
    added = deviation @ centred / (centred @ centred)
    residual_sum = ((deviation - added[:, None] * centred) ** 2).sum(axis=1)
    total = (deviation**2).sum(axis=1)
    r2 = np.where(total > 0, 1 - residual_sum / np.where(total > 0, total, 1), 1.0)
    return {"slope": slope, "growth": log2[:, -1] - log2[:, 0], "added": added, "r2": r2}


def kind(config) -> str:
    """What the claim predicts for a residual config: 'normalized' (a normalization in the branch), else its
    branch_init (standard, skipinit, fixup)."""
    res = config.model.residual
    return "normalized" if res.normalization != "none" else res.branch_init


def predicted_growth(kind_: str, blocks: int, stem_variance: float) -> float:
    """The claim's log2 Var_L / Var_0: He doubles per block (L bits), a normalized branch adds 1 a block
    (log2(1 + L / Var_0)), SkipInit and Fixup keep it (0)."""
    return {"standard": float(blocks), "normalized": math.log2(1 + blocks / stem_variance)}.get(kind_, 0.0)


def at_initialization(configs: dict, x: np.ndarray, draws: int) -> dict:
    """Per case {label: config}: the stream's variances of `draws` run seeds, their fits, means and intervals over
    the draws (t intervals for the unbounded slopes, percentiles of the draws for R^2 in [0, 1])."""
    rows = {}
    for label, config in configs.items():
        variances = stream_variances(config, x, list(range(draws)))
        fitted = fits(variances)
        blocks = config.model.residual.blocks
        rows[label] = {"blocks": blocks, "kind": kind(config), "variances": variances, **fitted,
                       "predicted": predicted_growth(kind(config), blocks, float(variances[:, 0].mean())),
                       **{f"{key}_mean": float(np.mean(fitted[key])) for key in fitted},
                       **{f"{key}_interval": _t_interval(fitted[key]) for key in ("slope", "growth", "added")},
                       "r2_interval": _percentiles(fitted["r2"])}
    return rows


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion: inside [0, 1]."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def variance_panel(init: dict) -> dict:
    """The stream's variance by block at the draw, the geometric mean over the draws of each case (log scale)."""
    return {"title": "stream variance by block at initialization (0: the stem)", "xlabel": "block", "log": True,
            "series": {label: (np.arange(row["variances"].shape[1]), np.exp(np.log(row["variances"]).mean(axis=0)))
                       for label, row in init.items()}}


def added_panel(init: dict) -> dict:
    """Var_l - Var_0 by block on a linear scale, for the cases that do not double (a line of slope about 1 for a
    normalized branch; 0 for SkipInit and Fixup, whose lines coincide)."""
    def added(row):
        if row["kind"] == "standard":  # drawn as nothing, so that every case keeps its colour across the panels
            return np.full(row["variances"].shape[1], np.nan)
        return (row["variances"] - row["variances"][:, :1]).mean(axis=0)

    return {"title": "variance added to the stem's: Var_l - Var_0 (linear scale)", "xlabel": "block", "log": False,
            "series": {label + (": off this scale" if row["kind"] == "standard" else ""):
                       (np.arange(row["variances"].shape[1]), added(row)) for label, row in init.items()}}


def variance_table(init: dict) -> pd.DataFrame:
    """One row per case: its fits' means with their intervals over the draws."""
    def interval(pair, digits):
        return f"[{pair[0]:.{digits}f}, {pair[1]:.{digits}f}]"

    return pd.DataFrame([{
        "case": label, "draws": len(row["growth"]), "blocks": row["blocks"],
        "Var after the stem": f"{row['variances'][:, 0].mean():.3f}",
        "log2 variance per block": f"{row['slope_mean']:.3f} {interval(row['slope_interval'], 3)}",
        "log2 Var_L / Var_0 (bits)": f"{row['growth_mean']:.2f} {interval(row['growth_interval'], 2)}",
        "claimed bits": f"{row['predicted']:.2f}",
        "variance added a block (line)": f"{row['added_mean']:.3g}",
        "R^2 of the line": f"{row['r2_mean']:.3f} {interval(row['r2_interval'], 3)}"} for label, row in init.items()])


def figure(init: dict, finals: dict, path, title: str) -> None:
    """The stream's variance by block at the draw, and each trained run's final training loss by seed."""
    plots.paper_lines([variance_panel(init), added_panel(init),
                       {"title": "final training loss of each run (ln 10 = 2.30: learned nothing)", "xlabel": "seed",
                        "log": True, "series": finals}], path, title)


def trained(runs, stalled: float, trains: float) -> dict:
    """Per case: each run's final training loss (of its last finite weights), accuracy, whether it diverged, and
    its outcome: 'failed' (diverged, or the loss at least `stalled`), 'trained' (below `trains`) or 'between'."""
    from initlab.output import run_folder

    cases = {}
    for run, path in runs:
        summary = run_folder.read_summary(path)
        final = summary.get("final") or {}
        loss = final.get("loss")
        loss = math.inf if loss is None or not math.isfinite(loss) else float(loss)
        diverged = summary.get("diverged_at_epoch") is not None
        outcome = "failed" if diverged or loss >= stalled else "trained" if loss < trains else "between"
        accuracy = final.get("accuracy")  # None where the run's figures were not finite (diverged)
        accuracy = math.nan if accuracy is None else float(accuracy)
        cases.setdefault(run.case, []).append({"seed": run.seed, "loss": loss, "accuracy": accuracy,
                                               "diverged": diverged, "outcome": outcome})
    return cases


CLAIMED = {"standard": "failed", "skipinit": "trained", "fixup": "trained"}  # at 64 blocks and more


def claim(runs, init: dict, figure_path, apart, stalled: float, trains: float) -> dict:
    """The claim's numbers, its baseline (depth alone decides: every branch initialization of one depth grows alike
    at the draw, and trains or fails alike), whether it holds within the margins and beats the baseline."""
    cases = trained(runs, stalled, trains)
    blocks = init["standard"]["blocks"]
    seeds = min(len(v) for v in cases.values())
    figure(init, {case: (np.array([r["seed"] for r in rs]), np.array([min(r["loss"], 1e30) for r in rs]))
                  for case, rs in cases.items()},
           figure_path, f"De and Smith 2020 with Fixup on digits: {blocks} residual blocks of "
                        f"{runs[0][0].config.model.hidden[-1]} ReLU units, He branches")
    # at the draw: the claim's growth in bits against one growth for every case (depth alone)
    measured_growth = {case: row["growth_mean"] for case, row in init.items()}
    claim_error = float(np.mean([abs(row["growth_mean"] - row["predicted"]) for row in init.values()]))
    pooled = float(np.mean(list(measured_growth.values())))
    baseline_error = float(np.mean([abs(g - pooled) for g in measured_growth.values()]))
    draws_apart = all(apart(init["standard"]["growth"], init[case]["growth"]) for case in init if case != "standard")
    within_init = (abs(init["standard"]["slope_mean"] - 1) <= SLOPE_MARGIN
                   and abs(init["batch norm"]["added_mean"] - 1) <= ADDED_MARGIN and init["batch norm"]["r2_mean"] >= LINEAR
                   and all(abs(init[case]["growth_mean"]) <= FLAT for case in ("skipinit", "fixup")))
    # training at depth: the claim's outcome per case against every run alike
    outcomes = [(case, r["outcome"]) for case, rs in cases.items() for r in rs]
    right = sum(CLAIMED[case] == outcome for case, outcome in outcomes)
    share_low, share_high = wilson(right, len(outcomes))
    alike = max(sum(o == outcome for _, o in outcomes) for outcome in ("failed", "trained", "between"))
    alike_low, alike_high = wilson(alike, len(outcomes))
    accuracy = {case: [r["accuracy"] for r in rs] for case, rs in cases.items()}
    # apart beyond seed noise, and the way the claim says: SkipInit and Fixup above the standard net (a diverged
    # run's accuracy, not finite, counts as chance's 0.1)
    accuracy = {case: [0.1 if math.isnan(a) else a for a in values] for case, values in accuracy.items()}
    trains_apart = all(apart(accuracy["standard"], accuracy[case]) and np.mean(accuracy[case]) > np.mean(accuracy["standard"])
                       for case in ("skipinit", "fixup"))
    within_train = right == len(outcomes)

    def interval(pair, digits=2):
        return f"[{pair[0]:.{digits}f}, {pair[1]:.{digits}f}]"

    s, b = init["standard"], init["batch norm"]
    draws = len(s["growth"])
    losses = {case: ", ".join(f"{r['loss']:.3g}" + (" (diverged)" if r["diverged"] else "") for r in rs)
              for case, rs in cases.items()}
    measured = (f"at the draw ({draws} draws a case, {blocks} blocks): He's log2 variance per block "
                f"{s['slope_mean']:.3f} {interval(s['slope_interval'], 3)}, log2 Var_L / Var_0 {s['growth_mean']:.1f} "
                f"bits (claim {s['predicted']:.0f}); batch-normalized adds {b['added_mean']:.3f} "
                f"{interval(b['added_interval'], 3)} a block, linear R^2 {b['r2_mean']:.3f} {interval(b['r2_interval'], 3)}, "
                f"{b['growth_mean']:.2f} bits (claim {b['predicted']:.2f}); SkipInit {init['skipinit']['growth_mean']:.2g} "
                f"and Fixup {init['fixup']['growth_mean']:.2g} bits (each block starts as the identity: 0 by construction, "
                f"as the built Keras models agree in tests/test_paper_de2020.py); the claim's growth is off by {claim_error:.2f} bits "
                f"on average. Trained {seeds} seeds: final training loss standard {losses['standard']}; SkipInit "
                f"{losses['skipinit']}; Fixup {losses['fixup']} (ln 10 = {math.log(10):.3f}); {right} of {len(outcomes)} "
                f"runs fail or train as the claim says {interval((share_low, share_high))}")
    baseline = (f"depth alone decides: one growth for every branch ({pooled:.1f} bits) is off by {baseline_error:.1f} "
                f"bits, the growths " + ("differ beyond draw noise" if draws_apart else "are not told apart")
                + f"; every run of this depth alike: {alike} of {len(outcomes)} {interval((alike_low, alike_high))}; "
                "the final accuracies " + ("differ beyond seed noise" if trains_apart else
                                           f"not told apart over {seeds} seed(s)"))
    return {"within": within_init and within_train,
            "beats": claim_error < baseline_error and draws_apart and right > alike and trains_apart,
            "measured": measured, "baseline": baseline, "cases": cases, "init": init,
            "missed": "outside the published margins (He's slope, the normalized line, the flat starts, or a run "
                      "that did not fail or train as claimed)",
            "lost": "the branch initialization predicts the growth or the training no better than depth alone, or "
                    "the seeds do not tell the cases apart"}
