"""A sweep's tables and comparison pictures, always rebuilt from its run folders (never out of step with them)."""

import functools
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from initlab.output import (  # plots (matplotlib, 0.3 s) only where a picture is drawn: often in a painter
    plot_workers,
    run_folder,
)

METRICS = ["loss", "accuracy", "val_loss", "val_accuracy", "mae", "val_mae"]
REPORTED = ["loss", "accuracy", "val_accuracy", "mae", "val_mae"]  # report.md's columns (all of them in summary.csv)
CONFIDENCE = 0.95  # the t-interval of each cell's mean over seeds
MIN_SEEDS = 3  # below this many seeds in a cell its t-interval is not meaningful (t(0.975, 1) = 12.7): none is given
RANGES = {"accuracy": (0.0, 1.0), "val_accuracy": (0.0, 1.0)}  # the others (losses, mae) are >= 0
ALPHA = 0.05  # a difference between two cells is beyond noise when its tests give p < ALPHA


def complete_summaries(folders: list[Path]) -> list[dict | None]:
    """Each folder's summary.json, None where the run is not complete."""
    return [run_folder.read_summary(folder) if run_folder.is_complete(folder) else None for folder in folders]


class FolderRecords:
    """A sweep's per-run records read from its run folders (sweep_table.Records reads them from its table)."""

    def summaries(self, folders: list[Path]) -> list[dict | None]:
        return complete_summaries(folders)

    def has_metrics(self, folder: Path) -> bool:
        return run_folder.is_complete(folder) and (folder / "metrics.csv").exists()

    def losses(self, folders: list[Path]) -> pd.DataFrame:
        """The runs' training loss by epoch, one column per run."""
        return pd.concat([run_folder.read_metrics(f).set_index("epoch")["loss"] for f in folders], axis=1)

    def initial_layers(self, folders: list[Path]) -> pd.DataFrame:
        """The epoch-0 rows of the runs' layers.csv (none for a user's model: it has no layers.csv)."""
        if not (folders[0] / "layers.csv").exists():
            return pd.DataFrame()
        layers = pd.concat([run_folder.read_layers(f) for f in folders])
        return layers[layers["epoch"] == 0]


def collect(planned: list, folders: list[Path], summaries: list[dict | None]) -> pd.DataFrame:
    """sweep.csv: one row per complete planned run (summaries: complete_summaries(folders)), with its labels,
    status and final metrics."""
    rows = []
    for run, folder, summary in zip(planned, folders, summaries):
        if summary is None:
            continue
        row = {"run_id": folder.name}
        if run.case is not None:
            row["case"] = run.case
        row.update(run.grid)
        row.update({"seed": run.seed, "status": summary["status"]})
        row.update({k: v for k, v in (summary.get("final") or {}).items()})
        row.update({"epochs_run": summary.get("epochs_run"), "diverged_at_epoch": summary.get("diverged_at_epoch")})
        for target, epoch in (summary.get("epochs_to") or {}).items():
            row[f"epochs_to_{target}"] = epoch
        row["error"] = summary.get("error")
        measured_on = summary.get("rows") or {}
        row["train_rows"], row["val_rows"] = measured_on.get("train"), measured_on.get("validation")
        rows.append(row)
    return pd.DataFrame(rows)


def cell_keys(frame: pd.DataFrame, planned: list) -> list[str]:
    keys = (["case"] if planned and planned[0].case is not None else []) + list(planned[0].grid if planned else [])
    return [k for k in keys if k in frame.columns]


def summarize(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """summary.csv: per grid cell, mean, std, min and max over seeds of every final metric, and the run counts."""
    metrics = [m for m in METRICS if m in frame.columns]
    grouped = frame.groupby(keys, sort=False, dropna=False) if keys else frame.groupby(lambda _: "all")
    if metrics:
        table = grouped[metrics].agg(["mean", "std", "min", "max"])
    else:  # every run failed: no final metrics to aggregate, only the counts
        table = pd.DataFrame(index=grouped.size().index)
    table.columns = [f"{metric}_{stat}" for metric, stat in table.columns]
    for metric in metrics:
        low, high = zip(*grouped[metric].apply(lambda v: seed_interval(v, metric))) if len(table) else ((), ())
        table[f"{metric}_ci95_low"], table[f"{metric}_ci95_high"] = low, high
    table.insert(0, "runs", grouped.size())
    table.insert(1, "ok", grouped["status"].apply(lambda s: int((s == "ok").sum())))
    return table.reset_index()


def t_interval(values) -> tuple[float, float]:
    """The 95% t-interval of the mean of `values` (NaNs dropped): mean -+ t(0.975, n-1) * std / sqrt(n); NaN below 2.
    The t quantile is scipy.special's, which scipy.stats.t.ppf calls: importing scipy.stats costs 0.5 s."""
    from scipy import special

    values = np.asarray(values, float)
    values = values[~np.isnan(values)]
    if len(values) < 2:
        return float("nan"), float("nan")
    mean = values.mean()
    half = special.stdtrit(len(values) - 1, 0.5 + CONFIDENCE / 2) * values.std(ddof=1) / np.sqrt(len(values))
    return float(mean - half), float(mean + half)


def seed_interval(values, metric: str) -> tuple[float, float]:
    """A cell's 95% interval of its mean over seeds as summary.csv and report.md give it: the t-interval, inside the
    metric's range (accuracies in [0, 1], losses and errors >= 0); NaN below MIN_SEEDS seeds."""
    values = np.asarray(values, float)
    if np.count_nonzero(~np.isnan(values)) < MIN_SEEDS:
        return float("nan"), float("nan")
    low, high = t_interval(values)
    floor, ceiling = RANGES.get(metric, (0.0, np.inf))
    return float(np.clip(low, floor, ceiling)), float(np.clip(high, floor, ceiling))


def welch_p(a, b) -> float:
    """Welch's two-sided t-test p-value for two cells' values over seeds; NaN below 2 values a side. Two cells
    without any spread differ exactly (p 0) or not at all (p 1), where the test itself is undefined. Computed as
    scipy.stats.ttest_ind(equal_var=False) computes it, from scipy.special (importing scipy.stats costs 0.5 s)."""
    from scipy import special

    a, b = np.asarray(a, float), np.asarray(b, float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    if a.std() == 0 and b.std() == 0:
        return 0.0 if a.mean() != b.mean() else 1.0
    spread_a, spread_b = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    t = (a.mean() - b.mean()) / np.sqrt(spread_a + spread_b)
    df = (spread_a + spread_b) ** 2 / (spread_a ** 2 / (len(a) - 1) + spread_b ** 2 / (len(b) - 1))
    return float(2 * special.stdtr(df, -abs(t)))


def paired_p(a, b) -> float:
    """The paired t-test's two-sided p-value for two cells run on the same seeds (a[i] and b[i] share seed i: the
    same data order); NaN below 2 pairs. Differences without any spread are exact (p 0) or none (p 1)."""
    from scipy import special

    d = np.asarray(a, float) - np.asarray(b, float)
    d = d[~np.isnan(d)]
    if len(d) < 2:
        return float("nan")
    if d.std() == 0:
        return 0.0 if d.mean() != 0 else 1.0
    t = d.mean() / (d.std(ddof=1) / np.sqrt(len(d)))
    return float(2 * special.stdtr(len(d) - 1, -abs(t)))


def rows_p(mean_a: float, mean_b: float, rows: int, sampled: bool = True) -> float:
    """Whether two accuracies measured on the same `rows` examples differ beyond those examples' own sampling noise:
    the two-proportion z-test's two-sided p-value; 1 when they differ by less than one example. `sampled` False (the
    training rows, the very set both fits were judged on): only that one-example rule, p 0 beyond it."""
    from scipy import special

    if not rows or np.isnan(mean_a) or np.isnan(mean_b):
        return float("nan")
    if abs(mean_a - mean_b) < 1 / rows - 1e-9:  # float32 accuracies: k / rows is stored to ~1e-8
        return 1.0
    if not sampled:
        return 0.0
    spread = np.sqrt((mean_a * (1 - mean_a) + mean_b * (1 - mean_b)) / rows)
    if spread == 0:
        return 0.0
    return float(2 * special.ndtr(-abs(mean_a - mean_b) / spread))


def seeds_needed(a, b) -> float:
    """About how many seeds per cell would show a difference of this size beyond seed noise (two-sided 5%, power
    80%): 2 (1.96 + 0.84)^2 s^2 / d^2 with s^2 the cells' pooled seed variance; NaN where either is undefined."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) < 2 or len(b) < 2 or a.mean() == b.mean():
        return float("nan")
    pooled = (a.var(ddof=1) + b.var(ddof=1)) / 2
    return float(max(2, np.ceil(2 * (1.959964 + 0.841621) ** 2 * pooled / (a.mean() - b.mean()) ** 2)))


def _same_seeds(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    return "seed" in a and len(a) == len(b) and sorted(a["seed"]) == sorted(b["seed"]) and a["seed"].is_unique


# the examples each accuracy was measured on, and whether they stand for unseen data (the held-out rows do)
ROWS_OF = {"accuracy": ("train_rows", False), "val_accuracy": ("val_rows", True)}


def differences(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """differences.csv: every pair of cells that differ only in the first key (the initializer in the lessons),
    with each final metric's difference of means and whether it is beyond noise: beyond the seed noise (a paired
    t-test over seeds where both cells ran the same seeds, Welch's test otherwise, p < ALPHA) and, for an accuracy,
    beyond the sampling noise of the examples it was measured on (rows_p < ALPHA, and at least one example)."""
    metrics = [m for m in ("accuracy", "val_accuracy", "mae", "val_mae") if m in frame.columns and frame[m].notna().any()]
    if not keys or not metrics:
        return pd.DataFrame()
    compared, others = keys[0], keys[1:]
    ok = frame[frame["status"] == "ok"]
    rows = []
    for context, part in (ok.groupby(others, sort=False) if others else [((), ok)]):
        context = context if isinstance(context, tuple) else (context,)
        cells = list(part.groupby(compared, sort=False))
        for i, (a, values_a) in enumerate(cells):
            for b, values_b in cells[i + 1:]:
                row = {**dict(zip(others, context)), "compared": compared, "a": a, "b": b}
                paired = _same_seeds(values_a, values_b)
                if paired:
                    values_a, values_b = values_a.sort_values("seed"), values_b.sort_values("seed")
                for metric in metrics:
                    a_values, b_values = values_a[metric].to_numpy(), values_b[metric].to_numpy()
                    p = paired_p(a_values, b_values) if paired else welch_p(a_values, b_values)
                    mean_a, mean_b = np.nanmean(a_values), np.nanmean(b_values)
                    rows_column, sampled = ROWS_OF.get(metric, (None, False))
                    counted = part[rows_column].dropna() if rows_column in part else pd.Series(dtype=float)
                    examples = rows_p(mean_a, mean_b, int(counted.min()), sampled) if len(counted) else float("nan")
                    row[f"{metric}_diff"] = mean_a - mean_b
                    row[f"{metric}_p"] = p
                    row[f"{metric}_rows_p"] = examples
                    row[f"{metric}_seeds_needed"] = seeds_needed(a_values, b_values)
                    beyond = p < ALPHA and not (examples >= ALPHA)  # NaN rows_p: the rows were not recorded
                    row[f"{metric}_beyond_noise"] = "" if np.isnan(p) else ("yes" if beyond else "no")
                row["test"] = "paired" if paired else "Welch"
                row["seeds"] = min(len(values_a), len(values_b))
                rows.append(row)
    return pd.DataFrame(rows)


def readable(summary: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """The summary as a reader wants it: labels, counts, and each metric's mean with its 95% interval."""
    labels = list(summary.columns[: list(summary.columns).index("ok") + 1])
    table = summary[labels].copy()
    for metric in metrics:
        if f"{metric}_mean" in summary.columns:
            table[f"{metric} mean [95% CI]"] = [
                _with_interval(m, lo, hi) for m, lo, hi in
                zip(summary[f"{metric}_mean"], summary[f"{metric}_ci95_low"], summary[f"{metric}_ci95_high"])]
            table[f"{metric} std"] = summary[f"{metric}_std"]
    return table


def _with_interval(mean, low, high) -> str:
    if np.isnan(mean):
        return "-"
    return f"{mean:.3f}" if np.isnan(low) else f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def intervals_text(summary: pd.DataFrame) -> str:
    """What the intervals are, and why a cell has none."""
    text = (" The intervals are clipped to each metric's range (accuracies\nin [0, 1], losses and errors at least 0)"
            f" and given only for cells of at least {MIN_SEEDS} seeds.")
    few = int((summary["ok"] < MIN_SEEDS).sum()) if "ok" in summary else 0
    if few:
        text += (f" {few} of {len(summary)} cells have fewer complete runs: their\nmeans stand without an interval, "
                 f"which below {MIN_SEEDS} seeds would not be meaningful (with 2 seeds the t quantile is 12.7).")
    return text


def differences_text(pairs: pd.DataFrame) -> str:
    """report.md's section on which differences exceed the seed noise, with the rule stated."""
    if pairs.empty:
        return ""
    rule = (f"Differences beyond noise: pairs of cells that differ only in `{pairs['compared'].iloc[0]}`. A "
            f"difference is beyond noise when it is beyond the seed noise, by a two-sided t-test over seeds at p < "
            f"{ALPHA} (paired by seed where both cells ran the same seeds, and so saw the data in the same order; "
            "Welch's test otherwise; cells without any spread compare exactly; no correction for the number of "
            "pairs), and, for an accuracy, at least one example apart; a held-out accuracy must also be beyond the "
            f"sampling noise of the rows it was measured on (a two-proportion test over them, p < {ALPHA}). "
            "`seeds needed`: "
            "about how many seeds per cell would show a difference of this size beyond seed noise (power 80%)."
            f"{_luck_text(pairs)}")
    shown = [c for c in pairs.columns if c != "compared" and not c.endswith("_p")]
    table = pairs[shown].copy()
    for column in [c for c in shown if c.endswith("_seeds_needed")]:
        table[column] = [("" if np.isnan(v) else f"{int(v)}") for v in table[column]]
    table = table.rename(columns={c: c.replace("_seeds_needed", " seeds needed") for c in shown})
    return f"\n{rule}\n\n{markdown(table)}"


def _luck_text(pairs: pd.DataFrame) -> str:
    """The chance that every run of one cell lands above every run of another by luck alone: 1 in C(2n, n)."""
    if "seeds" not in pairs or pairs["seeds"].isna().all():
        return ""
    seeds = int(pairs["seeds"].min())
    odds = math.comb(2 * seeds, seeds)
    return (f" With {seeds} seeds per cell, every run of one cell lands above every run of another 1 time in "
            f"{odds} by chance alone, so across many pairs some such wins are luck.")


def markdown(frame: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub table of a DataFrame (floats rounded), without the tabulate dependency."""
    def cell(value):
        if value is None:
            return "-"
        if isinstance(value, float):
            return "" if np.isnan(value) else f"{value:.{digits}f}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def write_report(sweep_name: str, planned: list, folders: list[Path], sweep_dir: Path, boundary_view=None,
          figures: bool = True, painters: plot_workers.Painters | None = None, records=None) -> pd.DataFrame:
    """sweep.csv, summary.csv, report.md and (with figures) the comparison pictures in sweep_dir, drawn by `painters`
    if given; returns the summary. boundary_view(run, folder) -> (a frames.still view of its plane, caption).
    `records`: where the runs' records are read (FolderRecords, the default, or a sweep_table.Records)."""
    records = records or FolderRecords()
    sweep_dir.mkdir(parents=True, exist_ok=True)
    summaries = records.summaries(folders)
    frame = collect(planned, folders, summaries)
    _atomic_csv(frame, sweep_dir / "sweep.csv")
    if frame.empty:
        return frame
    keys = cell_keys(frame, planned)
    summary = summarize(frame, keys)
    _atomic_csv(summary, sweep_dir / "summary.csv")
    pairs = differences(frame, keys)
    if not pairs.empty:
        _atomic_csv(pairs, sweep_dir / "differences.csv")
    scale = init_scale(planned, summaries, keys)
    if not scale.empty:
        _atomic_csv(scale, sweep_dir / "init_scale.csv")
    text = (f"# {sweep_name}\n\n{len(frame)} runs of {len(planned)} planned; mean with its 95% t-interval and std over "
            f"seeds of the\nfinal metrics (min and max in summary.csv).{intervals_text(summary)}\n\n"
            f"{markdown(readable(summary, REPORTED))}"
            f"{differences_text(pairs)}{init_scale_text(scale, summary, keys)}{views_text(planned, summaries)}"
            f"{setups_text(summaries)}")
    (sweep_dir / "report.md").write_text(text)
    if not figures:
        return summary
    painters = painters or plot_workers.Painters(0)
    cells = _cells(planned, folders, keys, records)
    if cells:  # failed runs have no records to draw
        painters.submit(functools.partial(_loss_curves, cells, sweep_dir / "loss_curves.png", sweep_name, records))
        painters.submit(functools.partial(_activation_std, cells, sweep_dir / "activation_std.png", sweep_name, records))
    try:
        if boundary_view is not None:  # the views are taken here, while the painters draw
            grid = _boundaries(planned, folders, keys, sweep_name, boundary_view)
            if grid is not None:
                painters.submit(functools.partial(_boundary_grid, *grid[:3], sweep_dir / "boundaries.png",
                                                  grid[3]))
    finally:
        painters.wait()
    return summary


def setups_text(summaries: list[dict | None]) -> str:
    """A paragraph for report.md when the trained runs were not all made with the same versions, numerics and
    commit (a sweep resumed after an upgrade, or on another machine); empty when they were. A failed run records
    the writer's, if any: it is left out."""
    made = [{**summary.get("versions", {}), **summary.get("numerics", {}), "git commit": summary.get("git_commit")}
            for summary in summaries if summary is not None and summary.get("status") != "failed"]
    differing = []
    for key in sorted({key for setup in made for key in setup}):
        counts = Counter(str(setup.get(key, "not recorded")) for setup in made)
        if len(counts) > 1:
            runs = [f"{value} ({n} run{'s' * (n > 1)})" for value, n in counts.most_common()]
            differing.append(f"{key} {', '.join(runs)}")
    if not differing:
        return ""
    return ("\n**Not every run was made alike**: " + "; ".join(differing) + ". Runs made with other versions or "
            "numerics can differ in their last bits, and more where training is chaotic; `initlab sweep --rerun` "
            "trains every run again here.\n")


def _atomic_csv(frame: pd.DataFrame, path: Path) -> None:
    staging = path.with_suffix(".csv.tmp")
    try:
        frame.to_csv(staging, index=False)
        staging.replace(path)
    finally:  # a full disk or an interrupt leaves the earlier table, and no half-written one beside it
        staging.unlink(missing_ok=True)


def _panel_and_label(run, keys) -> tuple[str, str]:
    """With two or more keys, the last one picks the panel and the others label the line."""
    values = [run.case if key == "case" else run.grid[key] for key in keys]
    if len(values) >= 2:
        return f"{keys[-1]} = {values[-1]}", " / ".join(values[:-1])
    return "", " / ".join(values) or "all"


def _cells(planned, folders, keys, records) -> dict[str, dict[str, list[Path]]]:
    """panel -> line label -> the run folders (one per seed)."""
    cells: dict[str, dict[str, list[Path]]] = {}
    for run, folder in zip(planned, folders):
        if records.has_metrics(folder):
            panel, label = _panel_and_label(run, keys)
            cells.setdefault(panel, {}).setdefault(label, []).append(folder)
    return cells


def at_init(summary: dict) -> list[dict]:
    """A user's run's checklist at initialization (summary.json's at_init): one row per layer with weights, its
    verdict, activation std and kernel gradient rms."""
    return [{"layer": layer, **figures} for layer, figures in (summary.get("at_init") or {}).items()]


def init_scale(planned: list, summaries: list[dict | None], keys: list[str]) -> pd.DataFrame:
    """init_scale.csv: per cell and layer, the mean over seeds of the activation std and kernel gradient rms the
    checklist measured at initialization (a user's model; empty for initlab's own networks). `summaries`:
    complete_summaries(folders), read once for the whole report."""
    rows = []
    for run, summary in zip(planned, summaries):
        if summary is not None:
            cell = {key: run.case if key == "case" else run.grid[key] for key in keys}
            rows += [{**cell, **row} for row in at_init(summary)]
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows)
    figures = [c for c in ("activation_std", "grad_rms", "memory_horizon", "influence_first") if c in frame.columns]
    return frame.groupby([*keys, "layer"], sort=False)[figures].mean().reset_index()


def init_scale_text(scale: pd.DataFrame, summary: pd.DataFrame, keys: list[str]) -> str:
    """report.md's paragraph: per cell, how level the signal was at initialization beside how it trained."""
    if scale.empty:
        return ""
    rows = []
    for cell, layers in scale.groupby(keys, sort=False) if keys else [("all", scale)]:
        acts, grads = layers["activation_std"].dropna(), layers["grad_rms"].dropna()
        grads = grads[grads > 0]
        row = dict(zip(keys, cell if isinstance(cell, tuple) else (cell,)))
        row["activation std at init, min - max over layers"] = f"{acts.min():.3g} - {acts.max():.3g}" if len(acts) else "-"
        row["gradient rms at init, max / min over layers"] = f"{grads.max() / grads.min():.3g}" if len(grads) else "-"
        if "influence_first" in layers and layers["influence_first"].notna().any():  # recurrent layers
            first = layers.dropna(subset=["influence_first"]).iloc[0]
            horizon = first.get("memory_horizon")
            row["memory horizon at init (steps)"] = "beyond the sequence" if pd.isna(horizon) else f"{horizon:.3g}"
            row["first step's influence on the last state at init"] = f"{first['influence_first']:.2g}"
        rows.append(row)
    table = pd.DataFrame(rows)
    outcome = [m for m in ("val_accuracy_mean", "accuracy_mean", "val_mae_mean", "loss_mean") if m in summary.columns][:1]
    if outcome and keys:
        table = table.merge(summary[[*keys, *outcome]], on=keys, how="left")
    return ("\n\n## The signal at initialization\n\nWhat the checklist measured on each cell's fresh weights (means over "
            "seeds; per layer in init_scale.csv), beside the outcome: a level signal keeps the activation std of "
            "every layer close and the gradient rms ratio near 1.\n\n" + markdown(table))


def views_text(planned: list, summaries: list[dict | None]) -> str:
    """report.md's warning when BatchNorm's two views of a run disagree at its end: the training accuracy as fit
    reported it (batch statistics) against the same rows in inference mode (moving statistics)."""
    apart = [(run, summary["views"]) for run, summary in zip(planned, summaries)
             if summary is not None and (summary.get("views") or {}).get("disagree")]
    if not apart:
        return ""
    shown = "; ".join(f"{run.describe()}: {views['training_mode']:.3f} against {views['inference']:.3f}"
                      for run, views in apart[:5])
    more = f"; and {len(apart) - 5} more" if len(apart) > 5 else ""
    return (f"\n\n**BatchNorm's two views disagree** in {len(apart)} of {sum(s is not None for s in summaries)} runs: the "
            f"training accuracy fit reports (batch statistics) against the same rows in inference mode (moving "
            f"statistics), at the last epoch: {shown}{more}. Held-out figures use the moving statistics: a "
            "comparison of them measures how far those statistics lag, not only the initialization (a lower "
            "BatchNormalization momentum, or more epochs, lets them follow).")


def _boundary_grid(*args) -> None:
    from initlab.output import plots

    plots.boundary_grid(*args)


def _curve(frame: pd.DataFrame) -> pd.DataFrame:
    """A cell's loss curves; a sweep of `train.epochs: 0` has none, drawn as an empty panel (numbers, not text)."""
    return frame if len(frame) else pd.DataFrame(index=pd.Index([], dtype=float, name="epoch"), dtype=float)


def _loss_curves(cells, path, title, records) -> None:
    curves = {panel: {label: _curve(records.losses(folders)) for label, folders in lines.items()}
              for panel, lines in cells.items()}
    from initlab.output import plots

    plots.bands(curves, path, f"{title}: training loss, mean and min-max over seeds", "loss")


def _activation_std(cells, path, title, records) -> None:
    def profile(folders):
        layers = records.initial_layers(folders)
        if layers.empty:  # a user's model: the checklist's figures at initialization
            rows = [row for summary in records.summaries(folders) for row in at_init(summary)]
            return pd.DataFrame(rows).groupby("layer", sort=False)["activation_std"].mean()
        return layers.groupby("layer", sort=False)["activation_std"].mean()

    profiles = {panel: {label: profile(folders) for label, folders in lines.items()} for panel, lines in cells.items()}
    from initlab.output import plots

    plots.profiles(profiles, path, f"{title}: activation std per layer at initialization (mean over seeds)")


def _boundaries(planned, folders, keys, title, boundary_view) -> tuple | None:
    """The first seed's decision boundary for each cell, as plots.boundary_grid draws them: (panels, rows, columns,
    title), rows by the first key, columns by the others together; None without a complete run to show."""
    first_seed = min(run.seed for run in planned)
    chosen = [(run, folder) for run, folder in zip(planned, folders)
              if run.seed == first_seed and run_folder.is_complete(folder) and (folder / "weights_final.npz").exists()]
    if not chosen:
        return None
    value = lambda run, key: run.case if key == "case" else run.grid[key]  # noqa: E731
    row = lambda run: value(run, keys[0]) if keys else ""  # noqa: E731
    col = lambda run: " / ".join(value(run, key) for key in keys[1:])  # noqa: E731
    rows = list(dict.fromkeys(row(run) for run, _ in chosen))
    cols = list(dict.fromkeys(col(run) for run, _ in chosen))
    panels = {(rows.index(row(run)), cols.index(col(run))): boundary_view(run, folder) for run, folder in chosen}
    return panels, rows, cols, f"{title}: decision boundaries (seed {first_seed})"
