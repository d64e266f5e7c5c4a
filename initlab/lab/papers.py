"""`initlab reproduce --papers`: published initialization results replayed from the sweeps in initlab/lessons/papers/,
each measured number set beside the published one with a verdict (holds / holds qualitatively / differs)."""

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from initlab.config import catalog, experiment as config_module
from initlab.lab import (
    paper_de2020,
    paper_hanin2018,
    paper_lu2019,
    paper_pennington2017,
    paper_yang2022,
    sweep as sweep_module,
)
from initlab.output import plots, run_folder, sweep_report as report_module
from initlab.train import propagation
from initlab.train.probes import PROBE_ROWS

LN10 = math.log(10)  # the loss of a 10-class net that has learned nothing
STALLED, TRAINS = 0.98 * LN10, 0.9 * LN10  # final training loss: at least this is stalled, below this it learns


@dataclass
class Measured:
    """One claim's row of docs/tables/papers.md, and the figure drawn beside it."""
    measured: str
    verdict: str  # holds | holds qualitatively | differs
    why: str = ""
    baseline: str = ""  # the simplest rule that ignores the claim, and how it scores on the same runs


def _apart(a, b) -> bool:
    """Two cases' values over seeds told apart beyond seed noise: Welch's test at p < 0.05, with at least
    MIN_SEEDS seeds a side (below that the seeds' spread is not measured)."""
    least = min(int(np.isfinite(np.asarray(v, float)).sum()) for v in (a, b))  # welch_p leaves out what is not finite
    return least >= report_module.MIN_SEEDS and report_module.welch_p(a, b) < report_module.ALPHA


def _log_error(measured: dict, predicted: dict) -> float:
    """How far measured factors fall from predicted ones: the mean |log10(measured / predicted)| over the keys."""
    return float(np.mean([abs(math.log10(measured[k] / predicted[k])) for k in measured]))


def _one_for_all(measured: dict) -> dict:
    """The rule that ignores the initializer: every case predicted at the cases' geometric mean."""
    pooled = float(np.exp(np.mean(np.log(list(measured.values())))))
    return {k: pooled for k in measured}


def _times(error: float) -> str:
    return f"x{10 ** error:.2f}"


def _verdict(within_margin: bool, beats_baseline: bool, measured: str, baseline: str, missed: str, lost: str) -> Measured:
    """holds: inside the published margin and beating the baseline; holds qualitatively: beating the baseline only;
    differs: not beating the baseline (whatever the margin)."""
    if beats_baseline and within_margin:
        return Measured(measured, "holds", baseline=baseline)
    if beats_baseline:
        return Measured(measured, "holds qualitatively", missed, baseline)
    return Measured(measured, "differs", lost, baseline)


def sweep_file(name: str, out: Path, quick: bool) -> Path:
    """The claim's sweep, or with --quick its smaller twin (the index's `quick` keys replaced) written under out/."""
    path = catalog.papers_folder() / f"{name}.yaml"
    if not quick:
        return path
    raw = config_module.read_yaml(path)
    changes = catalog.papers()[name].get("quick", {})
    raw = {**raw, **{k: v for k, v in changes.items() if k not in ("set", "draws")},
           "set": {**raw.get("set", {}), **changes.get("set", {})}}
    raw["name"] = f"{raw['name']}_quick"
    raw["base"] = str((catalog.papers_folder() / raw["base"]).resolve())
    target = out / "papers_quick" / f"{name}.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(raw, sort_keys=False))
    return target


def train_claim(name: str, out: Path, quick: bool = False) -> sweep_module.Plan:
    """Train the claim's sweep (populations where its runs fit together); runs already complete are kept."""
    the_plan = sweep_module.plan(sweep_file(name, out, quick), [], out)
    sweep_module.execute(the_plan, pictures=False)
    return the_plan


def _runs(the_plan: sweep_module.Plan):
    """(planned run, its folder) for every run of a finished sweep."""
    return list(zip(the_plan.planned, the_plan.folders))


def _hidden(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["layer"] != "output"]


def _per_layer(values: np.ndarray) -> float:
    """The geometric mean factor from one layer to the next."""
    return float((values[-1] / values[0]) ** (1 / (len(values) - 1)))


# ---- the claims ----------------------------------------------------------------------------------------------
GLOROT_PREDICTED = {"standard": 1 / 3, "normalized": 1.0}  # n Var(W) per layer, their analysis


def glorot2010(the_plan, figure: Path) -> Measured:
    """Per-layer factors of activation variance (forward) and back-propagated gradient variance (going down),
    layers 2 to 5 (layer 1 sees the 64 pixels, not 256 units), averaged over seeds."""
    stds, grads = {}, {}
    for run, path in _runs(the_plan):
        layers = _hidden(run_folder.read_layers(path))
        stds.setdefault(run.case, []).append(layers[layers["epoch"] == 0]["activation_std"].to_numpy())
        grads.setdefault(run.case, []).append(_hidden(pd.read_csv(path / "signal.csv"))["grad_mean_square"].to_numpy())
    std = {case: np.mean(v, axis=0) for case, v in stds.items()}
    grad = {case: np.exp(np.mean(np.log(v), axis=0)) for case, v in grads.items()}
    forward = {case: _per_layer(s[1:] ** 2) for case, s in std.items()}
    backward = {case: 1 / _per_layer(g[1:]) for case, g in grad.items()}  # going down: lower over upper
    depth = np.arange(1, len(std["standard"]) + 1)
    plots.paper_lines([
        {"title": "activation std by layer (Figure 6)", "xlabel": "hidden layer", "log": True,
         "series": {case: (depth, s) for case, s in std.items()}},
        {"title": "back-propagated gradient variance (Figure 7)", "xlabel": "hidden layer", "log": True,
         "series": {case: (depth, g) for case, g in grad.items()}},
    ], figure, "Glorot and Bengio 2010 on digits: tanh, 5 x 256, at initialization")
    factors = {**{("forward", c): f for c, f in forward.items()}, **{("backward", c): f for c, f in backward.items()}}
    predicted = {key: GLOROT_PREDICTED[key[1]] for key in factors}
    one_factor = {"forward": _one_for_all(forward), "backward": _one_for_all(backward)}
    pooled = {(direction, case): one_factor[direction][case] for direction, case in factors}
    claim_error, baseline_error = _log_error(factors, predicted), _log_error(factors, pooled)
    per_seed = {case: [_per_layer(s[1:] ** 2) for s in v] for case, v in stds.items()}
    apart = _apart(per_seed["standard"], per_seed["normalized"])
    within = all(1 / 4.5 <= f <= 1 / 2 for f in (forward["standard"], backward["standard"])) and \
        all(f >= 1 / 1.5 for f in (forward["normalized"], backward["normalized"]))
    measured = (f"variance factor per layer, forward / backward: standard {forward['standard']:.2f} / "
                f"{backward['standard']:.2f}, normalized {forward['normalized']:.2f} / {backward['normalized']:.2f}; "
                f"the published factors (1/3, 1) are off by {_times(claim_error)} on average")
    baseline = (f"one factor for both initializers (forward {pooled[('forward', 'standard')]:.2f}, backward "
                f"{pooled[('backward', 'standard')]:.2f}): off by {_times(baseline_error)}; the two forward factors "
                + ("differ beyond seed noise" if apart else f"not told apart over {len(per_seed['standard'])} seed(s)"))
    return _verdict(within, claim_error < baseline_error and apart, measured, baseline,
                    "outside a factor 1.5 of the published factors",
                    "the published factors predict no better than one factor for both, or the seeds do not tell them apart")


HE_PREDICTED = {"glorot": 0.5, "he": 1.0}  # E[z^2] factor per ReLU layer: n Var(W) / 2


def he2015(the_plan, figure: Path) -> Measured:
    signal_by, losses, curves = {}, {}, {}
    for run, path in _runs(the_plan):
        frame = _hidden(pd.read_csv(path / "signal.csv"))
        signal_by.setdefault(run.case, []).append(frame["z_mean_square"].to_numpy())
        metrics = run_folder.read_metrics(path)
        losses.setdefault(run.case, []).append(float(metrics["loss"].iloc[-1]))
        curves[f"{run.case}, seed {run.seed}"] = (metrics["epoch"].to_numpy(), metrics["loss"].to_numpy())
    z = {case: np.exp(np.mean(np.log(v), axis=0)) for case, v in signal_by.items()}
    factor = {case: _per_layer(v) for case, v in z.items()}
    depth = np.arange(1, len(z["he"]) + 1)
    plots.paper_lines([
        {"title": "E[z^2] by layer at initialization", "xlabel": "hidden layer", "log": True,
         "series": {f"{case} (1/n)" if case == "glorot" else f"{case} (2/n)": (depth, v) for case, v in z.items()}},
        {"title": "training loss", "xlabel": "epoch", "log": False, "series": curves},
    ], figure, f"He et al. 2015 on digits: {len(depth)} ReLU layers of 64, SGD")
    claim_error = _log_error(factor, HE_PREDICTED)
    baseline_error = _log_error(factor, _one_for_all(factor))
    # training: the claim says which nets stall; the rule that ignores the initializer says all of them do the same
    stalled = {case: [loss >= STALLED for loss in v] for case, v in losses.items()}
    claim_right = np.mean(stalled["glorot"] + [not s for s in stalled["he"]])
    everything = stalled["glorot"] + stalled["he"]
    same_for_all = max(np.mean(everything), 1 - np.mean(everything))
    apart = _apart(losses["glorot"], losses["he"])
    within = abs(factor["glorot"] - 0.5) <= 0.1 and abs(factor["he"] - 1) <= 0.1 and \
        min(losses["glorot"]) >= STALLED and max(losses["he"]) < TRAINS
    seeds = len(losses["he"])
    measured = (f"E[z^2] factor per layer {factor['glorot']:.2f} (Glorot, 1/n) and {factor['he']:.2f} (He); final "
                f"training loss Glorot {np.mean(losses['glorot']):.3f}, He {np.mean(losses['he']):.3f} (ln 10 = {LN10:.3f}); "
                f"the published factors are off by {_times(claim_error)}, {claim_right:.0%} of {len(everything)} runs "
                f"stall or train as the claim says")
    baseline = (f"one factor for both ({_one_for_all(factor)['he']:.2f}): off by {_times(baseline_error)}; every net "
                f"of this depth stalls alike or trains alike: {same_for_all:.0%} of the runs; the final losses "
                + ("differ beyond seed noise" if apart else f"not told apart over {seeds} seed(s)"))
    return _verdict(within, claim_error < baseline_error and claim_right > same_for_all and apart, measured, baseline,
                    "outside the published margins",
                    "the claim predicts no better than the rule that ignores the initializer, or the seeds do not tell "
                    "the losses apart")


def _norm_ratios(path: Path, x: np.ndarray) -> np.ndarray:
    """||x W_1 ... W_L|| / ||x|| per probe row, through the hidden layers of a linear net (biases are zero)."""
    with np.load(path / "weights_initial.npz") as weights:
        a = x.astype(np.float64)
        for name in sorted({k.split("/")[0] for k in weights if k.startswith("hidden_")}, key=lambda n: int(n.split("_")[1])):
            a = a @ weights[f"{name}/kernel"].astype(np.float64)
    return np.linalg.norm(a, axis=1) / np.linalg.norm(x, axis=1)


def _epochs_to_loss(path: Path, target: float) -> int | None:
    metrics = run_folder.read_metrics(path)
    reached = metrics[metrics["loss"] <= target]
    return int(reached["epoch"].iloc[0]) if len(reached) else None


SAXE_TARGET = 0.3  # the training loss whose first epoch counts as learned


def saxe2014(the_plan, figure: Path) -> Measured:
    x = the_plan.data_for(the_plan.resolved[0]).x_train[:PROBE_ROWS]
    spread, epochs = {}, {}
    last = max(the_plan.resolved[0].train.epochs, 1)
    for run, path in _runs(the_plan):
        init = "orthogonal" if "orthogonal" in run.grid["model.kernel_initializer"] else "scaled Gaussian"
        depth = len(run.config.model.hidden)
        ratios = _norm_ratios(path, x)
        spread[(init, depth)] = max(spread.get((init, depth), 0.0), float(np.max(np.abs(ratios - 1))))
        reached = _epochs_to_loss(path, SAXE_TARGET)
        epochs.setdefault(init, {}).setdefault(depth, []).append(last + 1 if reached is None else reached)
    depths = sorted(epochs["orthogonal"])
    mean = {init: {d: float(np.mean(e[d])) for d in depths} for init, e in epochs.items()}
    plots.paper_lines([
        {"title": f"epochs to training loss {SAXE_TARGET} (mean over seeds; {last + 1}: not reached)",
         "xlabel": "depth (hidden layers)", "log": False,
         "series": {init: (np.array(depths), np.array([m[d] for d in depths])) for init, m in mean.items()}},
    ], figure, "Saxe et al. 2014 on digits: deep linear nets, learning rate 0.04 / depth")
    ratio = {init: m[depths[-1]] / m[depths[0]] for init, m in mean.items()}
    exact = max(v for (init, _), v in spread.items() if init == "orthogonal")
    loose = max(v for (init, _), v in spread.items() if init != "orthogonal")
    deepest = {init: e[depths[-1]] for init, e in epochs.items()}
    slower = np.mean(deepest["scaled Gaussian"]) > np.mean(deepest["orthogonal"])
    apart = slower and _apart(deepest["scaled Gaussian"], deepest["orthogonal"])
    seeds = len(deepest["orthogonal"])
    by_depth = {init: ", ".join(f"{m[d]:.1f}" for d in depths) for init, m in mean.items()}
    measured = (f"largest |norm ratio - 1| at init: {exact:.1e} orthogonal, {loose:.2f} Gaussian; epochs to loss "
                f"{SAXE_TARGET} at depth {', '.join(map(str, depths))} (mean of {seeds} seed(s)): orthogonal "
                f"{by_depth['orthogonal']}, Gaussian {by_depth['scaled Gaussian']}")
    baseline = (f"depth slows every initializer alike: at depth {depths[-1]} the Gaussian nets are "
                + (f"slower beyond seed noise ({ratio['scaled Gaussian']:.2f}x their depth-{depths[0]} time against "
                   f"{ratio['orthogonal']:.2f}x)" if apart else f"not told apart from the orthogonal ones over {seeds} seed(s)"))
    within = exact <= 1e-4 and ratio["orthogonal"] <= 1.5 and ratio["scaled Gaussian"] >= 2
    return _verdict(within, exact <= 1e-4 < loose and apart, measured, baseline,
                    "the Gaussian nets slow with depth, by less than the margin",
                    "norms not preserved" if exact > 1e-4 else "no slow-down with depth beyond seed noise")


def mishkin2016(the_plan, figure: Path) -> Measured:
    """LSUV against N(0, 0.01^2) (the init it rescues) and against He's 2/n (the rule that needs no data)."""
    variances, he_spread, losses, curves = [], [], {}, {}
    for run, path in _runs(the_plan):
        summary = run_folder.read_summary(path)
        if summary["data_init"]:
            variances.append(summary["data_init"]["variance"])
        if run.case == "he":
            he_spread.append(float(np.max(np.abs(pd.read_csv(path / "signal.csv")["z_mean_square"] - 1))))
        metrics = run_folder.read_metrics(path)
        losses.setdefault(run.case, []).append(float(metrics["loss"].iloc[-1]))
        curves[f"{run.case}, seed {run.seed}"] = (metrics["epoch"].to_numpy(), metrics["loss"].to_numpy())
    worst = float(np.max(np.abs(np.asarray(variances) - 1)))
    he_worst = float(np.max(he_spread))
    plots.paper_lines([
        {"title": "output variance per layer after LSUV", "xlabel": "layer (output last)", "log": False,
         "series": {f"seed {i}": (np.arange(1, len(v) + 1), np.asarray(v)) for i, v in enumerate(variances)}},
        {"title": "training loss", "xlabel": "epoch", "log": False, "series": curves},
    ], figure, "Mishkin and Matas 2016 on digits: 16 ReLU layers of 32, SGD")
    small, lsuv, he = losses["N(0, 0.01^2)"], losses["lsuv"], losses["he"]
    rescues = min(small) >= STALLED and max(lsuv) < TRAINS and _apart(small, lsuv)
    beats_he = np.mean(lsuv) < np.mean(he) and _apart(lsuv, he)
    measured = (f"largest |variance - 1| after LSUV {worst:.3f}; final training loss N(0, 0.01^2) {np.mean(small):.3f}, "
                f"LSUV {np.mean(lsuv):.3f} (ln 10 = {LN10:.3f}; {len(lsuv)} seeds)")
    baseline = (f"He's 2/n, which needs no data: largest |E[z^2] - 1| {he_worst:.2f}, final training loss "
                f"{np.mean(he):.3f}, " + ("above LSUV's beyond seed noise" if beats_he else "not beaten by LSUV's beyond seed noise"))
    if worst >= 0.1 or not rescues or worst >= he_worst:
        return Measured(measured, "differs", "variance off" if worst >= 0.1 else
                        "the small init did not stall or LSUV did not train, beyond seed noise", baseline)
    if beats_he:
        return Measured(measured, "holds", baseline=baseline)
    return Measured(measured, "holds qualitatively", "LSUV sets the variance to 1 and rescues the net N(0, 0.01^2) "
                    "stalls, but He's data-free init trains it as well", baseline)


TRAINABLE = 0.5  # training accuracy at which a cell of the phase diagram counts as trained (chance: 0.1)
XI_MULTIPLE = 6  # Schoenholz et al.: trainable up to about 6 xi_c


def schoenholz2017(the_plan, figure: Path) -> Measured:
    bias_var = 0.05
    cells = []
    for run, path in _runs(the_plan):
        weight_var = float(run.config.model.kernel_initializer.given["scale"])
        depth = len(run.config.model.hidden)
        cells.append({"weight_var": weight_var, "depth": depth,
                      "accuracy": run_folder.read_summary(path)["final"]["accuracy"]})
    frame = pd.DataFrame(cells)
    grid = frame.pivot_table(index="depth", columns="weight_var", values="accuracy")
    xi = {w: propagation.depth_scale("tanh", w, bias_var)["xi_c"] for w in grid.columns}
    fine = np.linspace(grid.columns.min(), grid.columns.max(), 60)
    curve = np.array([propagation.depth_scale("tanh", w, bias_var)["xi_c"] for w in fine])
    plots.phase_diagram(grid, fine, curve, XI_MULTIPLE, figure,
                        f"Schoenholz et al. 2017 on digits: tanh, width 32, sigma_b^2 = {bias_var}: training accuracy")
    predicted = frame["depth"] <= XI_MULTIPLE * frame["weight_var"].map(xi)
    trained = frame["accuracy"] >= TRAINABLE
    agree = float((predicted == trained).mean())
    # the simplest rule that ignores the theory: every net up to some depth trains, whatever its sigma_w^2
    baseline_depth, baseline = max(((d, float(((frame["depth"] <= d) == trained).mean()))
                                    for d in [0, *sorted(frame["depth"].unique())]), key=lambda pair: pair[1])
    deepest = {w: max([d for d, a in grid[w].items() if a >= TRAINABLE], default=0) for w in grid.columns}
    critical_var = propagation.critical_weight_var("tanh", bias_var)
    critical = min(grid.columns, key=lambda w: abs(w - critical_var))
    on_the_line = deepest[critical] > max([d for w, d in deepest.items() if w != critical], default=0)
    measured = (f"{agree:.0%} of {len(frame)} cells on the side of 6 xi_c it predicts; critical "
                f"sigma_w^2 (chi_1 = 1) computed {critical_var:.3f}; deepest trained net per sigma_w^2: "
                + ", ".join(f"{w:g}: {d}" for w, d in deepest.items()))
    rule = f"every net up to depth {baseline_depth} trains, whatever its sigma_w^2: {baseline:.0%} of the cells"
    if agree >= 0.8 and agree > baseline and on_the_line:
        return Measured(measured, "holds", baseline=rule)
    if agree > baseline or on_the_line:
        return Measured(measured, "holds qualitatively",
                        "the theory beats the depth-only rule" if agree > baseline else
                        "the deepest net trains only on the order-to-chaos line, but depth alone predicts as well", rule)
    return Measured(measured, "differs", "the depth-only rule predicts which nets train at least as well, and the "
                                         "deepest trained net is not only on the order-to-chaos line", rule)


def hanin2018(the_plan, figure: Path, draws: int) -> Measured:
    """M_d / M_0 of one fixed input over `draws` initializations of each width profile (the sweep's cases), at the
    draw: its mean against 1, log Var against log beta and against log(1/min width)."""
    x = the_plan.data_for(the_plan.resolved[0]).x_train[0]
    found = paper_hanin2018.measure({run.case: config for run, config in zip(the_plan.planned, the_plan.resolved)},
                                    x, draws)
    rows = found["profiles"]
    depth = len(the_plan.resolved[0].model.hidden_layers())
    paper_hanin2018.figure(found, figure, f"Hanin and Rolnick 2018: ReLU, He normal, {depth} hidden layers, one digits "
                                          f"image, {draws} draws a profile (95% intervals)")
    lowest, highest = min(rows.values(), key=lambda r: r["var"]), max(rows.values(), key=lambda r: r["var"])
    apart = lowest["var_interval"][1] < highest["var_interval"][0]  # the depth-only rule fails beyond seed noise
    gain_low, gain_high = found["r2_gain_interval"]
    beats = gain_low > 0 and apart
    means = [r["mean"] for r in rows.values()]
    within = (max(abs(m - 1) for m in means) <= paper_hanin2018.MEAN_MARGIN
              and found["r2_beta"] >= paper_hanin2018.EXPLAINED)

    def interval(pair):
        return f"[{pair[0]:.2f}, {pair[1]:.2f}]"

    measured = (f"{len(rows)} profiles, {draws} draws each: Var(M_d / M_0) from {lowest['var']:.2f} (beta "
                f"{lowest['beta']:.3f}) to {highest['var']:.2f} (beta {highest['beta']:.3f}); log beta explains "
                f"R^2 = {found['r2_beta']:.2f} {interval(found['r2_beta_interval'])} of log Var; E[M_d] / M_0 from "
                f"{min(means):.2f} to {max(means):.2f}")
    baseline = (f"the narrowest layer (log 1/min width): R^2 = {found['r2_narrowest']:.2f} "
                f"{interval(found['r2_narrowest_interval'])}, beta's gain {interval((gain_low, gain_high))}; depth "
                "only (one depth here, every profile alike): R^2 = 0, the profiles' variances "
                + ("differ beyond seed noise" if apart else "not told apart"))
    return _verdict(within, beats, measured, baseline,
                    f"log beta explains less than {paper_hanin2018.EXPLAINED:.0%} of the spread of log Var, or a mean "
                    f"ratio is off 1 by more than {paper_hanin2018.MEAN_MARGIN}",
                    "beta explains log Var no better than the narrowest layer beyond seed noise, or the profiles' "
                    "variances are not told apart")


def yang2022(the_plan, figure: Path) -> Measured:
    """SP's loss-minimizing learning rate moves with width, muP's stays (measured in initlab/lab/paper_yang2022.py)."""
    found = paper_yang2022.claim(_runs(the_plan), figure, _apart)
    return _verdict(found["within"], found["beats"], found["measured"], found["baseline"], found["missed"], found["lost"])


def lu2019(the_plan, figure: Path, draws: int) -> Measured:
    """Born-dead probability by width and depth, He (zero biases) against RAI, `draws` initializations per case at
    the draw (measured in initlab/lab/paper_lu2019.py)."""
    found = paper_lu2019.claim(the_plan, figure, draws)
    return _verdict(found["within"], found["beats"], found["measured"], found["baseline"], found["missed"], found["lost"])


def pennington2017(the_plan, figure: Path) -> Measured:
    """The Jacobian's spread by depth at the draw (initlab/lab/paper_pennington2017.py; the index's `spectra`: draws
    per case, the deepest layer read and the width, --quick its own, told by the sweep's name) for every case of the
    sweep, and the trained nets' losses."""
    note = catalog.papers()["pennington2017"]["spectra"]
    quick = the_plan.sweep.name.endswith("_quick")
    settings = {"draws": note["quick_draws" if quick else "draws"], "depth": note["quick_depth" if quick else "depth"],
                "width": note["width"]}
    full = sweep_module.plan(catalog.papers_folder() / "pennington2017.yaml", [], the_plan.sweep_dir.parent)
    found = paper_pennington2017.claim(_runs(the_plan), full, settings, figure, _apart)
    return _verdict(found["within"], found["beats"], found["measured"], found["baseline"], found["missed"], found["lost"])


def de2020(the_plan, figure: Path, draws: int) -> Measured:
    """He branches double the stream's variance per block, batch-normalized ones add about 1 a block, SkipInit and
    Fixup keep it (over `draws` initializations, batch statistics as in training); at depth the standard net fails
    while SkipInit and Fixup train (measured in initlab/lab/paper_de2020.py)."""
    configs = {run.case: config for run, config in zip(the_plan.planned, the_plan.resolved)}
    standard = configs["standard"]
    normalized = standard.model.residual.model_copy(update={"normalization": "batch"})
    configs["batch norm"] = standard.model_copy(update={"model": standard.model.model_copy(update={"residual": normalized})})
    init = paper_de2020.at_initialization(configs, the_plan.data_for(standard).x_train[:PROBE_ROWS], draws)
    found = paper_de2020.claim(_runs(the_plan), init, figure, _apart, STALLED, TRAINS)
    return _verdict(found["within"], found["beats"], found["measured"], found["baseline"], found["missed"], found["lost"])


CLAIMS = {"glorot2010": glorot2010, "he2015": he2015, "saxe2014": saxe2014, "mishkin2016": mishkin2016,
          "schoenholz2017": schoenholz2017, "hanin2018": hanin2018, "yang2022": yang2022, "lu2019": lu2019,
          "pennington2017": pennington2017, "de2020": de2020}
AT_INITIALIZATION = {"hanin2018", "lu2019"}  # claims about the draw alone: their sweeps are planned, never trained
TRAINED_AND_DRAWN = {"de2020"}  # claims measured on their trained sweep and on `draws` initializations of its cases


def measure_claim(name: str, out: Path, figure: Path, quick: bool = False) -> Measured:
    """One claim: its sweep trained and measured, or (AT_INITIALIZATION) planned and drawn `draws` times, or
    (TRAINED_AND_DRAWN) both."""
    note = catalog.papers()[name]
    draws = note.get("quick", {}).get("draws", note.get("draws")) if quick else note.get("draws")
    if name in TRAINED_AND_DRAWN:
        return CLAIMS[name](train_claim(name, out, quick), figure, draws)
    if name not in AT_INITIALIZATION:
        return CLAIMS[name](train_claim(name, out, quick), figure)
    return CLAIMS[name](sweep_module.plan(sweep_file(name, out, quick), [], out), figure, draws)


def reproduce_papers(docs: Path, out: Path, quick: bool = False, only: list[str] | None = None, report=print) -> pd.DataFrame:
    """Every claim run and measured: docs/figures/papers_<claim>.png and (all claims) docs/tables/papers.md."""

    (docs / "figures").mkdir(parents=True, exist_ok=True)
    (docs / "tables").mkdir(parents=True, exist_ok=True)
    notes, rows = catalog.papers(), []
    for name in CLAIMS:
        if only and name not in only:
            continue
        found = measure_claim(name, out, docs / "figures" / f"papers_{name}.png", quick)
        note = notes[name]
        verdict = found.verdict + (f": {found.why}" if found.why else "")
        rows.append({"claim": note["claim"], "source": note["source"], "config": f"`papers/{name}.yaml`",
                     "published": note["published"], "measured": found.measured, "baseline": found.baseline,
                     "verdict": verdict})
        report(f"{name}: {verdict} (measured: {found.measured}; published: {note['published']})")
    table = pd.DataFrame(rows)
    if len(rows) == len(CLAIMS):
        (docs / "tables" / "papers.md").write_text(report_module.markdown(table))
    return table
