"""Hanin and Rolnick 2018 replayed at the draw: the normalized squared length M_d of one fixed input after the last
hidden layer of ReLU nets with He's 2/fan_in, over many initializations of width profiles of one depth; its mean
against M_0 and its variance against beta = sum 1/n_j, beside the rules that ignore beta."""

import numpy as np

from initlab.output import plots
from initlab.train import batched_draws

BOOTSTRAP = 400  # resamples of each profile's draws: the intervals of every number below
MEAN_MARGIN = 0.1  # E[M_d] / M_0 may be off 1 by this much
EXPLAINED = 0.9  # the share of the spread of log Var(M_d) that log beta must explain


def beta(widths) -> float:
    """sum 1/n_j over the hidden widths (every hidden layer up to the one M_d is read after)."""
    return float(sum(1 / n for n in widths))


def r_squared(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The share of y's spread a least-squares line in x explains; y [..., profiles] gives one per row."""
    x = x - x.mean()
    y = y - y.mean(axis=-1, keepdims=True)
    slope = (y @ x) / (x @ x)
    residual = y - slope[..., None] * x
    return 1 - (residual**2).sum(axis=-1) / (y**2).sum(axis=-1)


def _interval(values: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def measure(configs: dict, x: np.ndarray, draws: int, seed: int = 0) -> dict:
    """Per profile {label: config}: M_d / M_0 of `draws` run seeds, its mean and variance, each with a bootstrap
    interval; and R^2 of log Var(M_d) on log beta and on log(1/min width), with the interval of their difference."""
    m0 = float(np.mean(np.asarray(x, np.float64) ** 2))
    rng = np.random.default_rng(seed)
    rows, boot_var = {}, []
    for label, config in configs.items():
        ratio = batched_draws.squared_lengths(config, x, list(range(draws)))[:, -1] / m0
        resampled = ratio[rng.integers(0, draws, size=(BOOTSTRAP, draws))]
        variances = resampled.var(axis=1, ddof=1)
        widths = [layer.units for layer in config.model.hidden_layers()]
        rows[label] = {"beta": beta(widths), "narrowest": min(widths), "mean": float(ratio.mean()),
                       "mean_interval": _interval(resampled.mean(axis=1)), "var": float(ratio.var(ddof=1)),
                       "var_interval": _interval(variances)}
        boot_var.append(variances)
    log_beta = np.log([row["beta"] for row in rows.values()])
    log_narrow = np.log([1 / row["narrowest"] for row in rows.values()])
    log_var = np.log([row["var"] for row in rows.values()])
    boot_log_var = np.log(np.stack(boot_var, axis=1))  # [BOOTSTRAP, profiles]
    by_beta, by_narrow = r_squared(log_beta, boot_log_var), r_squared(log_narrow, boot_log_var)
    return {"profiles": rows, "m0": m0, "draws": draws,
            "r2_beta": float(r_squared(log_beta, log_var)), "r2_beta_interval": _interval(by_beta),
            "r2_narrowest": float(r_squared(log_narrow, log_var)), "r2_narrowest_interval": _interval(by_narrow),
            "r2_gain_interval": _interval(by_beta - by_narrow)}


def figure(found: dict, path, title: str) -> None:
    """log Var(M_d) and E[M_d] / M_0 against beta, one point per profile with its interval."""
    def point(row, key):
        low, high = row[f"{key}_interval"]
        return np.array([row["beta"]]), np.array([row[key]]), np.array([low]), np.array([high])

    rows = found["profiles"]
    plots.paper_lines([
        {"title": "Var(M_d / M_0) over initializations", "xlabel": "beta = sum 1/n_j", "log": True,
         "series": {label: point(row, "var") for label, row in rows.items()}},
        {"title": "E[M_d] / M_0 (He: 1)", "xlabel": "beta = sum 1/n_j", "log": False,
         "series": {label: point(row, "mean") for label, row in rows.items()}},
    ], path, title)
