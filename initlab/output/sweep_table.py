"""A big sweep's records in one table (`<sweep>/table/part-*.npz`) instead of a folder per run: each run's summary
fields and its metrics.csv and layers.csv rows, column by column, compressed. NumPy only: no new dependency.

A part holds the runs written together (up to PART_RUNS); it is written aside and renamed into place, so a part is
whole or absent, and an interrupted sweep keeps every part it finished. A run written twice (a rerun) is read from
its newest part. Values keep their bits: a float column is stored as float32 only where that loses nothing."""

import json
import math
import os
import time
import uuid
import zipfile
from pathlib import Path

import numpy as np

from initlab.config.columns import LAYER_COLUMNS

TABLE = "table"  # the folder in the sweep's folder
PART_RUNS = 1024  # runs buffered before a part is written (an interrupt writes what is buffered)
SKIPPED_KEYS = ("files", "sha256")  # a run folder's seal: nothing to seal in a table


def folder(sweep_dir: Path) -> Path:
    return Path(sweep_dir) / TABLE


def parts(sweep_dir: Path) -> list[Path]:
    """The table's parts, oldest first (their names start with the time they were written)."""
    where = folder(sweep_dir)
    return sorted(where.glob("part-*.npz")) if where.is_dir() else []


def tabled(where: Path) -> list[tuple[Path, int]]:
    """(sweep folder, runs in its table) for `where` if it is a sweep's folder with a table, and for the sweeps'
    folders right below it (outputs/<sweep>/): the runs that have no folder of their own to list."""
    found = []
    for table_dir in sorted({*Path(where).glob(TABLE), *Path(where).glob(f"*/{TABLE}")}):
        runs = len(Table(table_dir.parent)) if table_dir.is_dir() else 0
        if runs:
            found.append((table_dir.parent, runs))
    return found


class Writer:
    """Runs added one by one, written a part at a time; leaving the `with` block writes what is left. A run waits
    as NumPy columns (about 20 KiB for 100 epochs of a 2-layer net), not as its rows' dicts (ten times that)."""

    def __init__(self, sweep_dir: Path):
        self.where = folder(sweep_dir)
        self.runs: list[tuple] = []

    def add(self, run_id: str, summary: dict, metric_columns: list[str], history: list[dict],
            layer_rows: list[dict]) -> None:
        """A run: its summary.json's dict, its metrics.csv's columns and rows, and its layers.csv's rows."""
        summary = json.loads(json.dumps({k: v for k, v in summary.items() if k not in SKIPPED_KEYS}, default=_plain))
        metrics = {c: _column([row.get(c) for row in history]) for c in dict.fromkeys(k for row in history for k in row)}
        names = list(dict.fromkeys(row["layer"] for row in layer_rows))
        layers = {c: _column([row.get(c) for row in layer_rows]) for c in LAYER_COLUMNS if c != "layer"}
        layers["layer"] = (np.array([names.index(row["layer"]) for row in layer_rows], np.int64), "int")
        self.runs.append((run_id, summary, list(metric_columns), len(history), metrics, len(layer_rows), layers, names))
        if len(self.runs) >= PART_RUNS:
            self.flush()

    def flush(self) -> None:
        if not self.runs:
            return
        arrays = _part(self.runs)
        self.where.mkdir(parents=True, exist_ok=True)
        name = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        staging = self.where / f".{name}.tmp.npz"
        try:
            np.savez_compressed(staging, **arrays)
            os.replace(staging, self.where / f"{name}.npz")
        finally:
            staging.unlink(missing_ok=True)
        self.runs = []

    def __enter__(self):
        return self

    def __exit__(self, *_) -> None:
        self.flush()  # interrupted too: the runs trained so far are kept


def _plain(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def _part(runs: list[tuple]) -> dict[str, np.ndarray]:
    """One part's arrays: a JSON header (run ids, summaries: the fields all runs share once, the rest per run) and
    the metrics and layers rows as columns, with the position of their run in the part."""
    summaries = [run[1] for run in runs]
    order = list(dict.fromkeys(key for summary in summaries for key in summary))
    first = summaries[0]
    common = {k: first[k] for k in order if all(k in s and s[k] == first[k] for s in summaries)}
    names = list(dict.fromkeys(name for run in runs for name in run[7]))
    header = {"version": 1, "run_ids": [run[0] for run in runs], "order": order, "common": common,
              "own": [{k: v for k, v in s.items() if k not in common} for s in summaries],
              "metric_columns": [run[2] for run in runs], "layer_names": names, "nullable": []}
    recode = [np.array([names.index(name) for name in run[7]] or [0], np.int64) for run in runs]
    runs = [(*run[:6], {**run[6], "layer": (recode[i][run[6]["layer"][0]], "int")}) for i, run in enumerate(runs)]
    arrays = {}
    for kind, count, columns in (("metrics", 3, 4), ("layers", 5, 6)):
        arrays[f"{kind}.run"] = np.repeat(np.arange(len(runs), dtype=np.int32), [run[count] for run in runs])
        for column in dict.fromkeys(c for run in runs for c in run[columns]):
            parts = [run[columns].get(column, (np.full(run[count], np.nan), "float")) for run in runs]
            arrays[f"{kind}.{column}"], nullable = _joined(parts)
            if nullable and kind == "layers":
                header["nullable"].append(column)
    arrays["header"] = np.frombuffer(json.dumps(header, default=_plain).encode(), np.uint8)
    return arrays


def _column(values: list) -> tuple[np.ndarray, str]:
    """A column of one run and its kind: int (whole numbers), nullable (whole numbers and None: float64 with NaN,
    as a CSV reader gives them back) or float."""
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        return np.array(values, np.int64), "int"
    kind = "nullable" if all(v is None or isinstance(v, (int, np.integer)) for v in values) else "float"
    return np.array([math.nan if v is None else float(v) for v in values], np.float64), kind


def _joined(parts: list[tuple[np.ndarray, str]]) -> tuple[np.ndarray, bool]:
    """The runs' pieces of a column as one array: int64 where all are whole numbers; floats as float32 where every
    value survives it, else float64. And whether it holds whole numbers with gaps (a CSV reader's float column)."""
    kinds = {kind for _, kind in parts}
    if kinds == {"int"}:
        return np.concatenate([values for values, _ in parts]).astype(np.int64), False
    wide = np.concatenate([values.astype(np.float64) for values, _ in parts])
    narrow = wide.astype(np.float32)
    lossless = np.array_equal(narrow.astype(np.float64), wide, equal_nan=True)
    return (narrow if lossless else wide), kinds <= {"int", "nullable"}


class Table:
    """A sweep's table as read: run ids and summaries at once, metrics and layers rows when asked."""

    def __init__(self, sweep_dir: Path):
        self.parts: list[Path] = []
        self.headers: list[dict] = []
        self.where: dict[str, tuple[int, int]] = {}  # run id -> (part, position): the newest part that has it
        self.unreadable: list[Path] = []
        for path in parts(sweep_dir):
            try:
                with np.load(path) as arrays:
                    header = json.loads(arrays["header"].tobytes())
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # damaged: its runs train again
                self.unreadable.append(path)
                continue
            self.parts.append(path)
            self.headers.append(header)
            for position, run_id in enumerate(header["run_ids"]):
                self.where[run_id] = (len(self.parts) - 1, position)
        self._losses: dict[str, tuple[np.ndarray, np.ndarray]] | None = None

    def __contains__(self, run_id: str) -> bool:
        return run_id in self.where

    def __len__(self) -> int:
        return len(self.where)

    def summary(self, run_id: str) -> dict | None:
        """The run's summary.json as its folder would hold it (without the files' sizes and digests); None if absent."""
        if run_id not in self.where:
            return None
        part, position = self.where[run_id]
        header = self.headers[part]
        own = header["own"][position]
        return {k: own[k] if k in own else header["common"][k] for k in header["order"] if k in own or k in header["common"]}

    def newest_write_ns(self) -> int:
        return max((path.stat().st_mtime_ns for path in self.parts), default=0)

    def _rows(self, run_id: str, kind: str, columns: list[str]) -> dict[str, np.ndarray]:
        part, position = self.where[run_id]
        with np.load(self.parts[part]) as arrays:
            chosen = arrays[f"{kind}.run"] == position
            return {c: arrays[f"{kind}.{c}"][chosen] for c in columns if f"{kind}.{c}" in arrays}

    def metrics(self, run_id: str):
        """The run's metrics.csv as run_folder.read_metrics gives it."""
        import pandas as pd

        part, position = self.where[run_id]
        columns = self.headers[part]["metric_columns"][position]
        rows = self._rows(run_id, "metrics", columns)
        return pd.DataFrame({c: _as_read(rows.get(c, np.array([], np.float64))) for c in columns})

    def layers(self, run_id: str):
        """The run's layers.csv as run_folder.read_layers gives it."""
        import pandas as pd

        header = self.headers[self.where[run_id][0]]
        rows = self._rows(run_id, "layers", LAYER_COLUMNS)
        frame = {}
        for column in LAYER_COLUMNS:
            values = rows.get(column, np.array([], np.float64))
            if column == "layer":
                values = np.array([header["layer_names"][i] for i in values], object)
            elif column in header["nullable"] and not np.isnan(values).any():
                values = values.astype(np.int64)  # a CSV reader makes a column whole numbers when none is empty
            frame[column] = _as_read(values)
        return pd.DataFrame(frame)

    def losses(self, run_ids: list[str]):
        """The runs' training loss by epoch, one column per run (as the folders' metrics.csv give it)."""
        import pandas as pd

        chosen = [self._loaded_losses()[r] for r in run_ids if r in self._loaded_losses()]
        if not chosen:
            return pd.DataFrame()
        if all(np.array_equal(e, chosen[0][0]) for e, _ in chosen):
            return pd.DataFrame(np.column_stack([loss for _, loss in chosen]), index=pd.Index(chosen[0][0], name="epoch"),
                                columns=["loss"] * len(chosen))
        return pd.concat([pd.Series(loss, index=pd.Index(e, name="epoch"), name="loss") for e, loss in chosen], axis=1)

    def _loaded_losses(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """run id -> (epochs, training loss), read once from every part."""
        if self._losses is None:
            self._losses = {}
            for part, path in enumerate(self.parts):
                with np.load(path) as arrays:
                    if "metrics.loss" not in arrays or not len(arrays["metrics.run"]):
                        continue  # every run of this part failed before training
                    runs, epochs, loss = (arrays[f"metrics.{c}"] for c in ("run", "epoch", "loss"))
                cuts = np.flatnonzero(np.diff(runs)) + 1
                for run_rows, run_epochs, run_loss in zip(np.split(runs, cuts), np.split(epochs, cuts),
                                                          np.split(loss.astype(np.float64), cuts)):
                    run_id = self.headers[part]["run_ids"][run_rows[0]]
                    if self.where[run_id][0] == part:
                        self._losses[run_id] = (run_epochs.astype(np.int64), run_loss)
        return self._losses

    def has_metrics(self, run_id: str) -> bool:
        """Whether the run has records (as a run folder has a metrics.csv): it did not fail."""
        summary = self.summary(run_id)
        return summary is not None and summary["status"] != "failed"

    def initial_layers(self, run_ids: list[str]):
        """The epoch-0 rows of the runs' layers.csv, run after run."""
        import pandas as pd

        wanted = {}  # part -> (order in run_ids, position in the part)
        for order, run_id in enumerate(run_ids):
            if run_id in self.where:
                part, position = self.where[run_id]
                wanted.setdefault(part, []).append((order, position))
        frames = []
        for part, positions in wanted.items():
            with np.load(self.parts[part]) as arrays:
                at_zero = arrays["layers.epoch"] == 0
                runs = arrays["layers.run"][at_zero]
                columns = {c: arrays[f"layers.{c}"][at_zero] for c in LAYER_COLUMNS}
            names = np.array(self.headers[part]["layer_names"], object)
            frame = pd.DataFrame({**{c: _as_read(v) for c, v in columns.items()}, "layer": names[columns["layer"]]})
            rank = {position: order for order, position in positions}
            frame["_rank"] = [rank.get(r, -1) for r in runs.tolist()]
            frames.append(frame[frame["_rank"] >= 0])
        if not frames:
            return pd.DataFrame(columns=LAYER_COLUMNS)
        every = pd.concat(frames, ignore_index=True).sort_values("_rank", kind="stable")
        return every.drop(columns="_rank").reset_index(drop=True)


def _as_read(values: np.ndarray) -> np.ndarray:
    """A column as a CSV reader gives it back: floats as float64, whole numbers as int64."""
    return values.astype(np.float64) if values.dtype.kind == "f" else values


class Records:
    """A sweep's per-run records read from its table, as sweep_report.FolderRecords reads them from run folders
    (a run is named by its would-be folder, whose name is its run id)."""

    def __init__(self, table: Table):
        self.table = table

    def summaries(self, folders: list[Path]) -> list[dict | None]:
        return [self.table.summary(folder.name) for folder in folders]

    def has_metrics(self, folder: Path) -> bool:
        return self.table.has_metrics(folder.name)

    def losses(self, folders: list[Path]):
        return self.table.losses([folder.name for folder in folders])

    def initial_layers(self, folders: list[Path]):
        return self.table.initial_layers([folder.name for folder in folders])
