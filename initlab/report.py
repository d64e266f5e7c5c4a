"""A sweep's tables and comparison pictures, always rebuilt from its run folders (never out of step with them)."""

from pathlib import Path

import numpy as np
import pandas as pd

from . import plots, records

METRICS = ["loss", "accuracy", "val_loss", "val_accuracy", "mae", "val_mae"]


def collect(planned: list, folders: list[Path]) -> pd.DataFrame:
    """sweep.csv: one row per planned run whose folder exists, with its labels, status and final metrics."""
    rows = []
    for run, folder in zip(planned, folders):
        if not records.is_complete(folder):
            continue
        summary = records.read_summary(folder)
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
    table.insert(0, "runs", grouped.size())
    table.insert(1, "ok", grouped["status"].apply(lambda s: int((s == "ok").sum())))
    return table.reset_index()


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


def write(sweep_name: str, planned: list, folders: list[Path], sweep_dir: Path, boundary_model=None,
          figures: bool = True) -> pd.DataFrame:
    """sweep.csv, summary.csv, report.md and (with figures) the comparison pictures in sweep_dir; returns the summary."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    frame = collect(planned, folders)
    _atomic_csv(frame, sweep_dir / "sweep.csv")
    if frame.empty:
        return frame
    keys = cell_keys(frame, planned)
    summary = summarize(frame, keys)
    _atomic_csv(summary, sweep_dir / "summary.csv")
    shown = [c for c in summary.columns if c in keys or c in ("runs", "ok") or c.split("_")[0] in ("accuracy", "loss", "mae")
             and not c.startswith("val_")]
    text = (f"# {sweep_name}\n\n{len(frame)} runs of {len(planned)} planned; mean, std, min and max over seeds of the\n"
            f"final training metrics (validation in summary.csv).\n\n{markdown(summary[shown])}")
    (sweep_dir / "report.md").write_text(text)
    if not figures:
        return summary
    cells = _cells(planned, folders, keys)
    if cells:  # failed runs have no records to draw
        _loss_curves(cells, sweep_dir / "loss_curves.png", sweep_name)
        _activation_std(cells, sweep_dir / "activation_std.png", sweep_name)
    if boundary_model is not None:
        _boundaries(planned, folders, keys, sweep_dir / "boundaries.png", sweep_name, boundary_model)
    return summary


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


def _cells(planned, folders, keys) -> dict[str, dict[str, list[Path]]]:
    """panel -> line label -> the run folders (one per seed)."""
    cells: dict[str, dict[str, list[Path]]] = {}
    for run, folder in zip(planned, folders):
        if records.is_complete(folder) and (folder / "metrics.csv").exists():
            panel, label = _panel_and_label(run, keys)
            cells.setdefault(panel, {}).setdefault(label, []).append(folder)
    return cells


def _loss_curves(cells, path, title) -> None:
    curves = {panel: {label: pd.concat([records.read_metrics(f).set_index("epoch")["loss"] for f in folders], axis=1)
                      for label, folders in lines.items()} for panel, lines in cells.items()}
    plots.bands(curves, path, f"{title}: training loss, mean and min-max over seeds", "loss")


def _activation_std(cells, path, title) -> None:
    def profile(folders):
        layers = pd.concat([records.read_layers(f) for f in folders])
        return layers[layers["epoch"] == 0].groupby("layer", sort=False)["activation_std"].mean()

    profiles = {panel: {label: profile(folders) for label, folders in lines.items()} for panel, lines in cells.items()}
    plots.profiles(profiles, path, f"{title}: activation std per layer at initialization (mean over seeds)")


def _boundaries(planned, folders, keys, path, title, boundary_model) -> None:
    """The first seed's decision boundary for each cell: rows by the first key, columns by the others together."""
    first_seed = min(run.seed for run in planned)
    chosen = [(run, folder) for run, folder in zip(planned, folders)
              if run.seed == first_seed and records.is_complete(folder) and (folder / "weights_final.npz").exists()]
    if not chosen:
        return
    value = lambda run, key: run.case if key == "case" else run.grid[key]  # noqa: E731
    row = lambda run: value(run, keys[0]) if keys else ""  # noqa: E731
    col = lambda run: " / ".join(value(run, key) for key in keys[1:])  # noqa: E731
    rows = list(dict.fromkeys(row(run) for run, _ in chosen))
    cols = list(dict.fromkeys(col(run) for run, _ in chosen))
    panels = {(rows.index(row(run)), cols.index(col(run))): boundary_model(run, folder) for run, folder in chosen}
    plots.boundary_grid(panels, rows, cols, path, f"{title}: decision boundaries (seed {first_seed})")
