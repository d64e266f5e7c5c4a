"""Pennington, Schoenholz and Ganguli 2017 ("Resurrecting the sigmoid in deep learning through dynamical isometry",
arXiv 1711.04735) replayed: the squared singular values of the input-output Jacobian at initialization by depth, for
orthogonal and Gaussian weights with tanh at the critical point (chi = 1) of a small q* and with ReLU at its only
critical point (sigma_w^2 = 2, no bias), beside the free-probability variance of their spread; and the training
losses of the same nets on digits. Shared by the claim (papers.py) and the lesson jacobian_depth (reproduce.py)."""

import math
import warnings

import numpy as np

from initlab.config import initializers
from initlab.output import plots, run_folder
from initlab.train import batched_draws, jacobian, propagation

Q_STAR = 1 / 64  # the tanh nets' fixed point of the pre-activations' variance (the paper's small-q* setting)
DEPTHS = (2, 4, 8, 16, 32, 64, 128)  # where the spectrum is read: the Jacobian of hidden layer L's pre-activation
PROBE_ROWS = 16  # digits images a draw's spectrum is measured at
FLAT_SLOPE = 0.02  # orthogonal tanh: the variance may grow at most this much per layer (Gaussian tanh's: about 1)
SLOPE_MARGIN = 1.5  # the growing cases' measured slope within this factor of the free-probability one
LOSS_TARGET = 0.5  # the training loss whose first epoch the measured text reports, beside the average loss
LESSON_DEPTHS = (2, 8, 32, 128)  # the paper's Figure 2


def slope_moments(activation: str, q_star: float) -> tuple[float, float]:
    """(mu_1, mu_2) = (E[phi'(h)^2], E[phi'(h)^4]) for h ~ N(0, q*): the moments of D^2 the spectrum depends on."""
    if activation == "relu":
        return 0.5, 0.5
    slope = {"tanh": lambda z: 1 - np.tanh(z) ** 2, "linear": np.ones_like}[activation]
    return (propagation.gaussian_expectation(lambda z: slope(z) ** 2, q_star),
            propagation.gaussian_expectation(lambda z: slope(z) ** 4, q_star))


def critical_point(q_star: float = Q_STAR) -> tuple[float, float]:
    """(sigma_w^2, sigma_b^2) of a tanh net whose pre-activations sit at variance q* with chi = sigma_w^2 mu_1 = 1."""
    weight_var = 1 / slope_moments("tanh", q_star)[0]
    return weight_var, q_star - weight_var * propagation.mean_square_activation("tanh", q_star)


def predicted_slope(activation: str, orthogonal: bool, q_star: float = Q_STAR) -> float:
    """The growth per layer of the variance of J J^T's eigenvalues at chi = 1 (m_1 = 1), free probability:
    sigma^2 = L (mu_2 / mu_1^2 - 1 - s_1), s_1 = 0 for orthogonal weights and -1 for Gaussian ones (ReLU: 1 and 2;
    tanh at q* -> 0: 0 and 1)."""
    mu_1, mu_2 = slope_moments(activation, q_star)
    return mu_2 / mu_1**2 - 1 + (0.0 if orthogonal else 1.0)


def is_orthogonal(config) -> bool:
    return initializers.parse(config.model.kernel_initializer).canonical == "orthogonal"


def probe_rows(config, x: np.ndarray, q_star: float = Q_STAR) -> np.ndarray:
    """The first PROBE_ROWS inputs scaled so that the first layer's pre-activations start at variance q*, where the
    theory has every layer's (each row alone: sigma_w^2 ||x||^2 / n + sigma_b^2 = q*)."""
    x = np.asarray(x[:PROBE_ROWS], np.float64)
    layer = config.model.hidden_layers()[0]
    weight_var = initializers.expected_variance(layer.kernel_initializer, x.shape[1], layer.units) * x.shape[1]
    bias_var = initializers.expected_variance(layer.bias_initializer, 1, layer.units) or 0.0
    wanted = max(q_star - bias_var, 0.0) / weight_var
    return x * np.sqrt(wanted / np.mean(x**2, axis=1, keepdims=True))


def spectra(config, x: np.ndarray, seeds: list[int], depths=DEPTHS) -> dict[int, np.ndarray]:
    """{depth: [draws, rows * k]}: the squared singular values of the Jacobian of hidden layer `depth`'s
    pre-activation with respect to the input, at each probe row, for the lab's own draws of `config` with these
    run seeds (its hidden layers: at least max(depths) of them), exactly in float64 (jacobian.layer_spectra)."""
    activations = [layer.activation for layer in config.model.hidden_layers()]
    names = [f"hidden_{i + 1}" for i in range(max(depths))]
    weights = batched_draws.hidden_weights(config, x.shape[1], seeds)[: max(depths)]
    found = {depth: [] for depth in depths}
    for member in range(len(seeds)):
        layers = [(name, kernel[member], bias[member], activation)
                  for name, (kernel, bias), activation in zip(names, weights, activations)]
        by_layer = jacobian.layer_spectra(layers, x, {names[d - 1] for d in depths})
        for depth in depths:
            found[depth].append(by_layer[names[depth - 1]].ravel())
    return {depth: np.stack(values) for depth, values in found.items()}


def variances(found: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """{depth: [draws]}: each draw's variance of the squared singular values over their mean squared (the paper's
    sigma^2_{JJ^T} / m_1^2: the spread whatever the overall scale, which the first layer's sigma_w^2 sets here)."""
    return {depth: values.var(axis=1) / values.mean(axis=1) ** 2 for depth, values in found.items()}


def deeper(config, depth: int, width: int):
    """The config with `depth` hidden layers of `width` units (its initializers and activation kept)."""
    return config.model_copy(update={"model": config.model.model_copy(update={"hidden": [width] * depth,
                                                                              "layers": None})})


def slopes(by_depth: dict[int, np.ndarray], first: int = 4, last: int = 32) -> np.ndarray:
    """[draws]: each draw's least-squares growth of the variance per layer, over the depths from `first` to `last`
    (at width 64 the free-probability limit, width first, holds up to about half the width; deeper, the spread of
    the growing cases rises faster than L)."""
    depths = np.array([d for d in by_depth if first <= d <= last], float)
    values = np.stack([by_depth[int(d)] for d in depths], axis=1)  # [draws, depths]
    centred = depths - depths.mean()
    return (values - values.mean(axis=1, keepdims=True)) @ centred / (centred @ centred)


def histogram_figure(panels: dict[str, dict[int, np.ndarray]], path, title: str) -> None:
    """One histogram panel per case, one outline per depth (docs/figures: the lesson and the claim)."""
    plots.jacobian_spectra({label: {f"L = {d}": values.ravel() for d, values in found.items()}
                            for label, found in panels.items()}, path, title)


def _case_spectra(the_plan, settings: dict) -> dict[str, dict[int, np.ndarray]]:
    """{case: {depth: [draws] sigma^2 / m_1^2}} for each case of the planned sweep, at the draw, deepened as
    `settings` say."""
    x = the_plan.data_for(the_plan.resolved[0]).x_train
    depths = [d for d in DEPTHS if d <= settings["depth"]]
    out = {}
    for run, config in zip(the_plan.planned, the_plan.resolved):
        if run.case in out:
            continue
        config = deeper(config, settings["depth"], settings["width"])
        out[run.case] = variances(spectra(config, probe_rows(config, x), list(range(settings["draws"])), depths))
    return out


def _losses(runs) -> tuple[dict, dict]:
    """({case: [mean training loss over the epochs, per seed]}, {case: (epochs, mean loss over seeds)}): the mean
    over the epochs is the area under the loss curve, lower for the net that learns faster."""
    average, curves = {}, {}
    for run, path in runs:
        loss = run_folder.read_metrics(path)["loss"].to_numpy(float)
        planned = run.config.train.epochs
        whole = len(loss) == planned and np.isfinite(loss).all()  # a diverged run stops early: no area, inf
        average.setdefault(run.case, []).append(float(loss.mean()) if whole else math.inf)
        curves.setdefault(run.case, []).append(np.pad(loss, (0, planned - len(loss)), constant_values=np.nan))
    epochs = np.arange(1, len(next(iter(curves.values()))[0]) + 1)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an epoch no seed reached: NaN, left out of the curve
        return average, {case: (epochs, np.nanmean(np.where(np.isfinite(c), c, np.nan), axis=0))
                         for case, c in curves.items()}


def _epochs_to(curve: np.ndarray, target: float) -> str:
    reached = np.flatnonzero(curve <= target)
    return str(reached[0] + 1) if len(reached) else f">{len(curve)}"


def claim(runs, full, settings: dict, figure, apart) -> dict:
    """The claim measured: the spread sigma^2 / m_1^2 by depth per case (median over draws; each draw's slope per
    layer), against free probability and against "it grows alike for every initializer" (log sigma^2 / m_1^2 at the
    deepest layer, orthogonal tanh against each other case, over draws); and the training loss averaged over the
    epochs of orthogonal against Gaussian tanh over seeds, against "they train alike". runs: the trained
    sweep's (planned run, folder); full: the whole sweep planned (its every case's spectra; --quick trains the two
    tanh cases only); settings: draws, depth, width; `apart` is papers._apart (Welch over seeds)."""
    by_case = _case_spectra(full, settings)
    configs = {run.case: config for run, config in zip(full.planned, full.resolved)}
    predicted = {case: predicted_slope(c.model.activation, is_orthogonal(c)) for case, c in configs.items()}
    measured_slope = {case: float(np.median(slopes(v))) for case, v in by_case.items()}
    deepest = settings["depth"]
    spread = {case: float(np.median(v[deepest])) for case, v in by_case.items()}
    average, curves = _losses(runs)
    depths = np.array(sorted(next(iter(by_case.values()))))
    plots.paper_lines([
        {"title": "sigma^2 / m_1^2 of J J^T by depth (median over draws) and free probability's",
         "xlabel": "depth L", "log": True,
         "series": {**{case: (depths, np.array([np.median(v[d]) for d in depths])) for case, v in by_case.items()},
                    **{f"{case}, theory": (depths, np.maximum(predicted[case] * depths, 1e-4)) for case in by_case}}},
        {"title": f"training loss (mean over {len(next(iter(average.values())))} seeds)", "xlabel": "epoch",
         "log": False, "series": curves},
    ], figure, f"Pennington et al. 2017: digits, Jacobian at the draw (width {settings['width']}, {settings['draws']} "
               f"draws a case), training at depth {len(configs[next(iter(configs))].model.hidden)}")
    flat, tanh_gauss = "orthogonal tanh", "Gaussian tanh"
    others = [case for case in by_case if case != flat]
    logs = {case: np.log(v[deepest]) for case, v in by_case.items()}
    spectra_apart = all(spread[flat] < spread[c] and apart(logs[flat], logs[c]) for c in others)
    train_apart = np.mean(average[flat]) < np.mean(average[tanh_gauss]) and apart(average[flat], average[tanh_gauss])
    growing_within = all(1 / SLOPE_MARGIN <= measured_slope[c] / predicted[c] <= SLOPE_MARGIN for c in others)
    within = measured_slope[flat] <= FLAT_SLOPE and growing_within
    slope_text = ", ".join(f"{case} {measured_slope[case]:.3g} ({predicted[case]:.3g})" for case in by_case)
    spread_text = ", ".join(f"{case} {spread[case]:.3g}" for case in by_case)
    epochs = len(next(iter(curves.values()))[1])
    loss_text = ", ".join(f"{case} {np.mean(v):.3f}" for case, v in average.items())
    speed = ", ".join(f"{case} {_epochs_to(curve, LOSS_TARGET)}" for case, (_, curve) in curves.items())
    seeds = len(average[flat])
    measured = (f"growth of sigma^2 / m_1^2 per layer (depths 4 to 32), median over {settings['draws']} draws "
                f"(free probability): {slope_text}; sigma^2 / m_1^2 at depth {deepest}: {spread_text}; training loss "
                f"averaged over the {epochs} epochs (mean of {seeds} seeds): {loss_text}; epochs to loss {LOSS_TARGET}: "
                f"{speed}")
    baseline = (f"the spread grows with depth alike for every initializer: at depth {deepest} orthogonal tanh's is "
                + ("below every other case's beyond draw noise" if spectra_apart else
                   f"not told apart from every other case's over {settings['draws']} draws")
                + "; orthogonal and Gaussian tanh train alike: their average losses "
                + ("differ beyond seed noise" if train_apart else f"not told apart over {seeds} seeds"))
    return {"within": within, "beats": spectra_apart and train_apart, "measured": measured, "baseline": baseline,
            "missed": "a measured growth per layer is outside the margin of the free-probability one (orthogonal tanh "
                      f"above {FLAT_SLOPE}, the others beyond a factor {SLOPE_MARGIN})",
            "lost": "orthogonal tanh's spread is not below every other case's beyond draw noise, or it does not train "
                    "faster than Gaussian tanh beyond seed noise"}


def lesson(the_plan, path, quick: bool = False) -> None:
    """The lesson jacobian_depth: each case's spectrum by depth at the draw (4 draws, --quick 1 and to depth 32) on
    digits images at q*, and orthogonal tanh's on the standardized pixels as record.jacobian measures it."""
    x = the_plan.data_for(the_plan.resolved[0]).x_train
    depths = [d for d in LESSON_DEPTHS if d <= (32 if quick else 128)]
    seeds = list(range(1 if quick else 4))
    panels = {}
    for run, config in zip(the_plan.planned, the_plan.resolved):
        panels[f"{run.case}, inputs at q* = 1/64"] = spectra(config, probe_rows(config, x), seeds, depths)
        if run.case == "orthogonal tanh":
            panels[f"{run.case}, standardized pixels"] = spectra(config, x[:PROBE_ROWS], seeds, depths)
    histogram_figure(panels, path, f"The input-output Jacobian's squared singular values by depth L at initialization "
                                   f"({len(seeds)} draws of 64 units a layer, {PROBE_ROWS} digits images each)")
