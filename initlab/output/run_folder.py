"""A run folder on disk: written aside, renamed into place and sealed by its summary.json, written last, which lists
the size of every other file. A folder whose files do not match that list is damaged, never complete."""

import contextlib
import csv
import errno
import fcntl
import hashlib
import json
import math
import os
import shutil
import uuid
from pathlib import Path

import numpy as np

from initlab.base.errors import UserError
from initlab.config.columns import LAYER_COLUMNS

SUMMARY = "summary.json"
LOCK = ".lock"  # in an experiment folder (<out>/<name>/) while a process writes there
# what a file system says when a folder cannot be written: full, read-only, not allowed, a file in the way
WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST,
                errno.EISDIR, errno.ENAMETOOLONG}
_held: dict[Path, int] = {}  # experiment folders this process holds the lock of -> the lock file's descriptor


@contextlib.contextmanager
def writing(where: Path, key: str | None = "--out"):
    """Turn a file system's refusal (full disk, read-only, permission denied, a file in the way) into a UserError."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in WRITE_ERRORS:
            raise
        raise UserError(f"cannot write there ({exc.strerror}); nothing in it was changed", key, str(where)) from None


@contextlib.contextmanager
def holding(folder: Path, on_wait=None):
    """Hold an experiment folder's lock: one writer at a time. flock, so the kernel releases it when its holder dies,
    however it dies; stale staging folders (a killed writer's) are cleared on entry. Re-entrant in a process;
    on_wait(text) is told when another process holds it, before waiting for it."""
    folder = Path(folder).absolute()
    if folder in _held:
        yield
        return
    with writing(folder):  # exists() too can fail: a name longer than the file system allows
        created = [p for p in (folder, *folder.parents) if not p.exists()]
        fd = _lock(folder / LOCK, on_wait)
    _held[folder] = fd
    try:
        _clear_stale(folder)
        yield
    finally:
        del _held[folder]
        # unlinked while still held: a process waiting on this file sees it is gone and locks a new one (see _lock)
        with contextlib.suppress(OSError):
            (folder / LOCK).unlink()
        os.close(fd)
        for parent in created:  # a run or sweep that wrote nothing leaves no empty folders behind
            with contextlib.suppress(OSError):
                parent.rmdir()


def _lock(path: Path, on_wait) -> int:
    while True:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if on_wait is not None:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                    on_wait(f"waiting for another initlab process (pid {holder}) writing {path.parent}")
                fcntl.flock(fd, fcntl.LOCK_EX)
            with contextlib.suppress(FileNotFoundError):
                if os.stat(path).st_ino == os.fstat(fd).st_ino:  # still the lock file, not one its holder removed
                    with contextlib.suppress(OSError):  # who holds it, for a waiter to tell; not on a full disk
                        os.ftruncate(fd, 0)
                        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
                    return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def _clear_stale(folder: Path) -> None:
    """Staging folders a killed writer left: '.<run>.<id>.tmp' are removed; '.<run>.<id>.old' is a complete folder
    set aside to be replaced, put back if its replacement never arrived."""
    for path in sorted(folder.glob(".*.old")) + sorted(folder.glob(".*.tmp")):
        final = folder / path.name[1:].rsplit(".", 2)[0]
        if path.suffix == ".old" and not final.exists():
            os.replace(path, final)
        else:
            shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def staged(final: Path):
    """Yield a hidden folder beside `final`, holding the experiment folder's lock; on success it replaces `final`
    (the old one goes only after). Fails as a UserError if the file system refuses the writes."""
    final = Path(final)
    with holding(final.parent), writing(final.parent):
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


def write_metrics(history: list[dict], path: Path, metric: str) -> None:
    write_rows(history, ["epoch", "loss", metric, "val_loss", f"val_{metric}"], path)


def write_layers(rows: list[dict], path: Path) -> None:
    write_rows(rows, LAYER_COLUMNS, path)


def write_rows(rows: list[dict], columns: list[str], path: Path) -> None:
    """A CSV file of rows, the bytes pandas' to_csv writes (floats as repr, NaN and None empty) in a quarter of its
    time: a sweep writes two per run."""
    with open(path, "w", newline="") as out:
        lines = csv.writer(out, lineterminator="\n")
        lines.writerow(columns)
        lines.writerows([_cell(row.get(column)) for column in columns] for row in rows)


def _cell(value):
    value = float(value) if isinstance(value, np.floating) else value
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else value


def write_weights(weights: dict[str, np.ndarray], path: Path) -> None:
    np.savez(path, **weights)


def seal(folder: Path, summary: dict) -> None:
    """Write summary.json last, listing the size and SHA-256 of every other file: what makes a run folder complete."""
    paths = {p.relative_to(folder).as_posix(): p for p in sorted(Path(folder).rglob("*"))
             if p.is_file() and p.name != SUMMARY and not p.name.startswith(".")}
    files = {name: p.stat().st_size for name, p in paths.items()}
    digests = {name: _digest(p) for name, p in paths.items()}
    write_summary({**summary, "files": files, "sha256": digests}, Path(folder) / SUMMARY)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def reseal(folder: Path) -> None:
    """List a complete folder's files again after its pictures were redrawn."""
    seal(folder, {k: v for k, v in read_summary(folder).items() if k not in ("files", "sha256")})


def write_summary(summary: dict, path: Path) -> None:
    staging = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}"  # replaced whole: never half a summary
    try:
        staging.write_text(json.dumps(summary, indent=2, default=_plain) + "\n")
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)


def _plain(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def read_summary(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / SUMMARY).read_text())


def read_metrics(run_dir: Path):
    """metrics.csv as a DataFrame (pandas imported here: commands that train nothing import this module)."""
    import pandas as pd

    return pd.read_csv(Path(run_dir) / "metrics.csv")


def read_layers(run_dir: Path):
    """layers.csv as a DataFrame."""
    import pandas as pd

    return pd.read_csv(Path(run_dir) / "layers.csv")


def problems(run_dir: Path) -> dict[str, str]:
    """What is wrong with a run folder, file -> what: {} when its summary.json reads and lists every other file
    with the size and the SHA-256 it has (a run's files are small: hashing them all takes about a millisecond)."""
    run_dir = Path(run_dir)
    try:
        summary = json.loads((run_dir / SUMMARY).read_text())
    except FileNotFoundError:
        return {SUMMARY: "is missing"}
    except (OSError, ValueError) as exc:  # ValueError: invalid JSON or text, as a cut-short file is
        return {SUMMARY: f"cannot be read ({type(exc).__name__}: cut short or not JSON)"}
    files = summary.get("files") if isinstance(summary, dict) else None
    if not isinstance(files, dict):
        return {SUMMARY: "has no list of files (edited, or written by an older initlab)"}
    digests = summary.get("sha256") or {}  # folders sealed before initlab listed digests: sizes only
    found = {}
    for name, size in files.items():
        try:
            actual = (run_dir / name).stat().st_size
        except OSError:
            found[name] = "is missing"
            continue
        if actual != size:
            found[name] = f"has {actual} bytes, {size} were written"
        elif name in digests and _digest(run_dir / name) != digests[name]:
            found[name] = "has other bytes than were written (same size)"
    return found


def problems_text(found: dict[str, str]) -> str:
    """'metrics.csv is missing; weights_final.npz has 10 bytes, 1234 were written'."""
    return "; ".join(f"{name} {what}" for name, what in found.items())


def is_complete(run_dir: Path) -> bool:
    run_dir = Path(run_dir)
    return not run_dir.name.startswith(".") and run_dir.is_dir() and not problems(run_dir)


def listing(folder: Path) -> list[tuple[Path, dict | str]]:
    """Every run folder under `folder`, complete or not (those with a config.yaml or a summary.json, outside the
    hidden staging folders), with its summary.json, or what is wrong with it when it is damaged."""
    if not folder.is_dir():
        raise UserError("no such folder", str(folder))
    found = {path.parent for name in ("config.yaml", SUMMARY) for path in folder.rglob(name)}
    runs = sorted(f for f in found if not any(part.startswith(".") for part in f.relative_to(folder).parts))
    listed = []
    for run in runs:
        wrong = problems(run)
        listed.append((run, problems_text(wrong) if wrong else read_summary(run)))
    return listed


def overview(folder: Path) -> tuple[list[str], list[dict]]:
    """`initlab runs --json / --csv`: the columns, and one dict per run folder under `folder` with every column:
    experiment, run, folder, status (ok, diverged, failed, or damaged), epochs (run), the final metrics by name
    (None where a run has no such metric or it is not finite), distinct_units (per hidden layer), problem (what is
    wrong with a damaged folder, else None)."""
    listed = listing(folder)
    summaries = [found for _, found in listed if isinstance(found, dict)]
    metrics = list(dict.fromkeys(name for summary in summaries for name in summary.get("final") or {}))
    columns = ["experiment", "run", "folder", "status", "epochs", *metrics, "distinct_units", "problem"]
    rows = []
    for path, found in listed:
        summary = found if isinstance(found, dict) else {}
        final = {name: value for name, value in (summary.get("final") or {}).items()
                 if isinstance(value, (int, float)) and math.isfinite(value)}
        rows.append({"experiment": path.parent.name, "run": path.name, "folder": str(path),
                     "status": summary.get("status", "damaged"), "epochs": summary.get("epochs_run"),
                     **{name: final.get(name) for name in metrics},
                     "distinct_units": summary.get("distinct_units"),
                     "problem": found if isinstance(found, str) else None})
    return columns, rows
