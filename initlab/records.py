"""A run folder on disk: written aside, then renamed into place, so it appears only when complete."""

import contextlib
import json
import os
import shutil
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from .probes import COLUMNS

SUMMARY = "summary.json"


@contextlib.contextmanager
def staged(final: Path):
    """Yield a hidden folder beside `final`; on success it replaces `final` (the old one goes only after)."""
    created = [p for p in (final.parent, *final.parent.parents) if not p.exists()]
    final.parent.mkdir(parents=True, exist_ok=True)
    stage = final.parent / f".{final.name}.{uuid.uuid4().hex[:8]}.tmp"
    stage.mkdir()
    try:
        yield stage
        old = final.parent / f".{final.name}.{uuid.uuid4().hex[:8]}.old"
        if final.exists():
            os.replace(final, old)
        os.replace(stage, final)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        for folder in created:  # a failed run leaves no empty folders behind
            with contextlib.suppress(OSError):
                folder.rmdir()


def write_metrics(history: list[dict], path: Path, metric: str) -> None:
    columns = ["epoch", "loss", metric, "val_loss", f"val_{metric}"]
    pd.DataFrame(history, columns=columns).to_csv(path, index=False)


def write_layers(rows: list[dict], path: Path) -> None:
    pd.DataFrame(rows, columns=COLUMNS).to_csv(path, index=False)


def write_weights(weights: dict[str, np.ndarray], path: Path) -> None:
    np.savez(path, **weights)


def write_summary(summary: dict, path: Path) -> None:
    path.write_text(json.dumps(summary, indent=2, default=_plain) + "\n")


def _plain(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def read_summary(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / SUMMARY).read_text())


def read_metrics(run_dir: Path) -> pd.DataFrame:
    return pd.read_csv(Path(run_dir) / "metrics.csv")


def read_layers(run_dir: Path) -> pd.DataFrame:
    return pd.read_csv(Path(run_dir) / "layers.csv")


def is_complete(run_dir: Path) -> bool:
    run_dir = Path(run_dir)
    return not run_dir.name.startswith(".") and (run_dir / SUMMARY).is_file()
