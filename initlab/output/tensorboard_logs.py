"""`initlab tensorboard`: TensorBoard event files written from records, without TensorFlow: a sweep's runs as
HParams trials (their grid settings, case and seed; their final metrics), each with its per-epoch scalars
(metrics.csv) and, where the run recorded them, per-layer activation and gradient histograms (histograms.npz).
Populations appear as every other run does: from files."""

import math
import re
from pathlib import Path

import numpy as np

from initlab.output import run_folder

FILE = "events.out.tfevents.0.initlab"  # TensorBoard reads any file whose name holds "tfevents"
FINAL = ("loss", "accuracy", "val_loss", "val_accuracy", "mae", "val_mae")  # summary.json's final metrics shown
BUCKETS = 30


def write(folder: Path, logdir: Path) -> list[Path]:
    """TensorBoard logs of a run folder, a sweep's folder (its sweep.csv: an HParams experiment, one trial per
    complete run) or a folder of runs, under logdir; returns the run folders written. A UserError when it holds no
    complete run."""
    from initlab.base.errors import UserError

    folder = Path(folder)
    if (folder / "sweep.csv").is_file():
        return write_sweep(folder, logdir)
    if run_folder.is_complete(folder):
        write_run(folder, logdir)
        return [folder]
    runs = [path for path, found in run_folder.listing(folder) if isinstance(found, dict)]
    if not runs:
        raise UserError("holds no complete run folder (initlab runs lists what is there)", str(folder))
    for run in runs:
        write_run(run, logdir / run.relative_to(folder))
    return runs


def write_sweep(sweep_dir: Path, logdir: Path) -> list[Path]:
    """logdir/ with the HParams experiment of a sweep (its grid keys, case and seed as hparams; the final metrics
    as metrics) and one subfolder per complete run, its trial."""
    import pandas as pd
    from tensorboard.plugins.hparams import (
        summary_v2 as hp,  # not hparams.api: it imports TensorFlow (its Keras callback)
    )

    table = pd.read_csv(sweep_dir / "sweep.csv", dtype=str, keep_default_na=False)
    settings = [c for c in table.columns if c not in {"run_id", "status", "error", "train_rows", "val_rows",
                                                      "epochs_run", "diverged_at_epoch", *FINAL}
                and not c.startswith("epochs_to_")]
    runs = [(sweep_dir / row["run_id"], {name: row[name] for name in settings}) for row in table.to_dict("records")
            if run_folder.is_complete(sweep_dir / row["run_id"])]
    finals = [m for m in FINAL if m in table.columns]
    hparams = [hp.HParam(name, hp.Discrete(sorted(set(table[name])))) for name in settings]
    logdir.mkdir(parents=True, exist_ok=True)
    _write(logdir, [_summary_event(hp.hparams_config_pb(hparams, [hp.Metric(f"final/{m}") for m in finals]))])
    for folder, values in runs:
        write_run(folder, logdir / folder.name, values)
    return [folder for folder, _ in runs]


def write_run(folder: Path, logdir: Path, hparams: dict | None = None) -> None:
    """A run folder's records as one TensorBoard run: scalars per epoch, activation histograms per recorded epoch,
    the final metrics, and (in a sweep) its HParams trial."""
    from tensorboard.compat.proto import summary_pb2

    events = []
    if hparams is not None:
        from tensorboard.plugins.hparams import summary_v2

        events.append(_summary_event(summary_v2.hparams_pb(hparams, trial_id=folder.name)))
    metrics = run_folder.read_metrics(folder)
    for row in metrics.to_dict("records"):
        values = [summary_pb2.Summary.Value(tag=f"epoch/{name}", simple_value=float(value))
                  for name, value in row.items() if name != "epoch" and _finite(value)]
        events.append(_summary_event(summary_pb2.Summary(value=values), int(row["epoch"])))
    for epoch, values in _histograms(folder):
        events.append(_summary_event(summary_pb2.Summary(value=values), epoch))
    final = run_folder.read_summary(folder).get("final") or {}
    last = int(metrics["epoch"].max()) if len(metrics) else 0
    values = [summary_pb2.Summary.Value(tag=f"final/{name}", simple_value=float(final[name]))
              for name in FINAL if _finite(final.get(name))]
    events.append(_summary_event(summary_pb2.Summary(value=values), last))
    logdir.mkdir(parents=True, exist_ok=True)
    _write(logdir, events)


def _histograms(folder: Path):
    """(epoch, [Summary.Value]) per recorded epoch of histograms.npz ('epoch_<k>/<layer>' activations and
    'epoch_<k>/<layer>/gradient' kernel gradients)."""
    from tensorboard.compat.proto import summary_pb2

    path = folder / "histograms.npz"
    if not path.is_file():
        return []
    by_epoch: dict[int, list] = {}
    with np.load(path) as samples:
        for key in samples.files:
            found = re.fullmatch(r"epoch_(\d+)/([^/]+)(/gradient)?", key)
            if found:
                values = samples[key].astype(np.float64).ravel()
                values = values[np.isfinite(values)]
                if len(values):
                    what = "gradients" if found.group(3) else "activations"
                    by_epoch.setdefault(int(found.group(1)), []).append(
                        summary_pb2.Summary.Value(tag=f"{what}/{found.group(2)}", histo=_histogram(values)))
    return sorted(by_epoch.items())


def _histogram(values: np.ndarray):
    from tensorboard.compat.proto import summary_pb2

    counts, edges = np.histogram(values, bins=BUCKETS)
    return summary_pb2.HistogramProto(min=float(values.min()), max=float(values.max()), num=float(len(values)),
                                      sum=float(values.sum()), sum_squares=float(np.sum(values**2)),
                                      bucket_limit=[float(e) for e in edges[1:]], bucket=[float(c) for c in counts])


def _finite(value) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _summary_event(summary, step: int = 0):
    from tensorboard.compat.proto import event_pb2

    return event_pb2.Event(wall_time=float(step), step=step, summary=summary)  # wall time: the step, so bytes repeat


def _write(logdir: Path, events: list) -> None:
    """One event file: the version record TensorBoard expects first, then the events (the TFRecord framing)."""
    from tensorboard.compat.proto import event_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter

    with open(logdir / FILE, "wb") as handle:
        writer = RecordWriter(handle)
        writer.write(event_pb2.Event(wall_time=0.0, file_version="brain.Event:2").SerializeToString())
        for event in events:
            writer.write(event.SerializeToString())
