"""Yang et al. 2022 ("Tensor Programs V", arXiv 2203.03466), Figures 1 and 3: under the standard parametrization
the loss-minimizing learning rate moves with width; under muP it stays. Measured on a sweep of learning rates per
(parametrization, width), from the runs' final training loss; shared by the claim (papers.py) and the lesson
digits_wider (reproduce.py)."""

import math
from pathlib import Path

import numpy as np
import pandas as pd

from initlab.output import learning_rate_plots, run_folder, sweep_report as report_module

PUBLISHED = {128: 9.77e-4, 1024: 1.22e-4}  # a public replay's SP optima with Adam (the numbers)
SLOPE_MARGIN = 0.5  # SP's slope of log2(lr*) against log2(width) within this of -1 (halving per doubling)


def losses(runs) -> pd.DataFrame:
    """One row per run: parametrization, width, seed, learning_rate, loss (the final training loss; +inf where the
    run diverged or its loss is not finite). runs: (planned run, its folder)."""
    rows = []
    for run, path in runs:
        summary = run_folder.read_summary(path)
        loss = (summary.get("final") or {}).get("loss")
        finite = loss is not None and math.isfinite(loss) and summary.get("diverged_at_epoch") is None
        model = run.config.model
        rows.append({"parametrization": model.parametrization, "width": model.hidden[0], "seed": run.seed,
                     "learning_rate": run.config.train.learning_rate, "loss": loss if finite else math.inf})
    return pd.DataFrame(rows)


def optimum(log2_rates: np.ndarray, loss: np.ndarray) -> tuple[float, bool]:
    """(log2 of the loss-minimizing learning rate, whether it is interior): the grid's argmin, moved to the vertex
    of the parabola through it and its two neighbours (in log2(lr)) when both are finite; at the grid's edge or
    beside a diverged run, the grid point itself."""
    order = np.argsort(log2_rates)
    x, y = np.asarray(log2_rates, float)[order], np.asarray(loss, float)[order]
    i = int(np.argmin(y))
    if i == 0 or i == len(y) - 1:
        return float(x[i]), False
    left, mid, right = y[i - 1], y[i], y[i + 1]
    curvature = left - 2 * mid + right
    if not (math.isfinite(left) and math.isfinite(right)) or curvature <= 0:
        return float(x[i]), True
    step = (x[i + 1] - x[i - 1]) / 2
    return float(x[i] + step * (left - right) / (2 * curvature)), True  # within half a step of x[i]


def optima(table: pd.DataFrame) -> pd.DataFrame:
    """Per (parametrization, width, seed): log2_optimum and interior."""
    rows = []
    for (parametrization, width, seed), runs in table.groupby(["parametrization", "width", "seed"]):
        best, interior = optimum(np.log2(runs["learning_rate"].to_numpy()), runs["loss"].to_numpy())
        rows.append({"parametrization": parametrization, "width": width, "seed": seed, "log2_optimum": best,
                     "interior": interior})
    return pd.DataFrame(rows)


def by_width(found: pd.DataFrame) -> pd.DataFrame:
    """Per (parametrization, width): the mean log2 optimum over seeds with its 95% t-interval (none below
    MIN_SEEDS seeds), and how many seeds' optima are interior."""
    rows = []
    for (parametrization, width), seeds in found.groupby(["parametrization", "width"]):
        values = seeds["log2_optimum"].to_numpy()
        low, high = report_module.t_interval(values) if len(values) >= report_module.MIN_SEEDS else (math.nan,) * 2
        rows.append({"parametrization": parametrization, "width": width, "seeds": len(values),
                     "mean": float(values.mean()), "low": low, "high": high, "interior": int(seeds["interior"].sum())})
    return pd.DataFrame(rows)


def slope(widths, log2_optima) -> float:
    """The least-squares slope of log2(lr*) against log2(width): -1 is a halving per doubling."""
    return float(np.polyfit(np.log2(np.asarray(widths, float)), np.asarray(log2_optima, float), 1)[0])


def seed_slopes(found: pd.DataFrame) -> dict[str, list[float]]:
    """Per parametrization, one slope per seed (over that seed's optima at every width)."""
    return {parametrization: [slope(runs["width"], runs["log2_optimum"]) for _, runs in rows.groupby("seed")]
            for parametrization, rows in found.groupby("parametrization")}


def interval(values) -> tuple[float, float, float]:
    """(mean, low, high): the 95% t-interval over seeds; NaN bounds below MIN_SEEDS values."""
    values = np.asarray(values, float)
    low, high = report_module.t_interval(values) if len(values) >= report_module.MIN_SEEDS else (math.nan,) * 2
    return float(values.mean()), low, high


def grid_step(table: pd.DataFrame) -> float:
    """The learning-rate grid's step in log2 (the median gap)."""
    return float(np.median(np.diff(np.log2(np.sort(table["learning_rate"].unique())))))


def _rate(log2_value: float) -> str:
    return f"{2 ** log2_value:.2e}"


def _with_interval(row) -> str:
    shown = _rate(row["mean"])
    return shown if math.isnan(row["low"]) else f"{shown} [{_rate(row['low'])}, {_rate(row['high'])}]"


def optima_table(table: pd.DataFrame) -> pd.DataFrame:
    """The lesson's and the claim's table: per width, each parametrization's optimum with its interval, the best
    final training loss (mean over seeds at the optimum's grid point) and its training accuracy."""
    summary = by_width(optima(table))
    rows = []
    for width in sorted(summary["width"].unique()):
        row = {"width": int(width)}
        for parametrization, name in (("standard", "SP"), ("mup", "muP")):
            found = summary[(summary["width"] == width) & (summary["parametrization"] == parametrization)].iloc[0]
            cells = table[(table["width"] == width) & (table["parametrization"] == found["parametrization"])]
            mean_loss = cells.groupby("learning_rate")["loss"].mean()
            row[f"{name} optimum lr [95%]"] = _with_interval(found)
            row[f"{name} best loss"] = f"{mean_loss.min():.3f}"
            row[f"{name} interior seeds"] = f"{found['interior']}/{found['seeds']}"
        rows.append(row)
    return pd.DataFrame(rows)


def figure(table: pd.DataFrame, path: Path, title: str) -> None:
    """TP5's picture: final training loss against log2(learning rate), one curve per width (mean over seeds), SP
    and muP side by side, each width's optimum marked with its interval."""
    summary = by_width(optima(table))
    panels = {}
    for parametrization, name in (("standard", "standard parametrization (SP)"), ("mup", "muP")):
        curves = {}
        for width, cells in table[table["parametrization"] == parametrization].groupby("width"):
            mean = cells.groupby("learning_rate")["loss"].mean()
            found = summary[(summary["parametrization"] == parametrization) & (summary["width"] == width)].iloc[0]
            curves[int(width)] = (np.log2(mean.index.to_numpy()), mean.to_numpy(),
                                  (found["mean"], found["low"], found["high"]))
        panels[name] = curves
    learning_rate_plots.learning_rate_curves(panels, path, title)


def measure(table: pd.DataFrame) -> dict:
    """Every number the verdict needs, from the loss table."""
    found = optima(table)
    summary = by_width(found)
    slopes = seed_slopes(found)
    step = grid_step(table)
    mup = summary[summary["parametrization"] == "mup"]["mean"]
    return {"summary": summary, "slopes": slopes, "step": step, "mup_range": float(mup.max() - mup.min()),
            "sp": interval(slopes["standard"]), "mup": interval(slopes["mup"]),
            "edge": int((~found["interior"]).sum()), "runs": len(found)}


def claim(runs, figure_path: Path, apart) -> dict:
    """The claim's numbers and words: within (SP's optimum moves about -1 per doubling, its interval clear of 0,
    muP's within one grid step, every optimum interior), beats (the two slopes apart beyond seed noise, by
    `apart`: papers._apart), and the measured and baseline texts."""
    table = losses(runs)
    found = measure(table)
    summary, step = found["summary"], found["step"]
    figure(table, figure_path, f"Yang et al. 2022 on digits: 2 ReLU layers of width w, Adam, "
                               f"{table['seed'].nunique()} seeds: final training loss by learning rate")
    beats = found["sp"][0] < found["mup"][0] and apart(found["slopes"]["standard"], found["slopes"]["mup"])
    sp_mean, _, sp_high = found["sp"]
    within = (sp_high < 0 and abs(sp_mean + 1) <= SLOPE_MARGIN and found["mup_range"] <= step and found["edge"] == 0)
    optima_text = "; ".join(
        f"{name} " + ", ".join(f"{int(r['width'])}: {_with_interval(r)}"
                               for _, r in summary[summary["parametrization"] == p].iterrows())
        for p, name in (("standard", "SP"), ("mup", "muP")))
    slopes = {p: found[key] for p, key in (("SP", "sp"), ("muP", "mup"))}
    slope_text = ", ".join(f"{p} {m:.2f} [{lo:.2f}, {hi:.2f}]" for p, (m, lo, hi) in slopes.items())
    edge = f"; {found['edge']} of {found['runs']} seed optima at the grid's edge" if found["edge"] else ""
    published = ", ".join(f"{_rate(math.log2(v))} at {w}" for w, v in PUBLISHED.items())
    measured = (f"loss-minimizing learning rate per width (mean of log2 over seeds, 95% interval): {optima_text}; "
                f"slope of log2(lr*) per doubling of width: {slope_text}; muP's optima span "
                f"{found['mup_range'] / step:.2f} grid steps{edge} (a public replay, SP: {published})")
    told = "apart beyond seed noise" if beats else "not told apart beyond seed noise"
    baseline = (f"the optimum moves alike under both parametrizations: the per-seed slopes (SP "
                f"{', '.join(f'{v:.2f}' for v in found['slopes']['standard'])}; muP "
                f"{', '.join(f'{v:.2f}' for v in found['slopes']['mup'])}) are {told}")
    return {"within": within, "beats": beats, "measured": measured, "baseline": baseline,
            "missed": "SP's optimum moves and muP's stays, outside the margin (slope -1 +- 0.5, muP within one "
                      "grid step, every optimum interior)",
            "lost": "the optimum does not move differently under SP and muP beyond seed noise"}
