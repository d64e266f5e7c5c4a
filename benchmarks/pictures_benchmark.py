"""What each picture of a run costs to draw from that run's records, today against the drawing code of an earlier
commit (by default the one before pictures were drawn from records alone), loaded beside today's.

Run from the repository: python benchmarks/pictures_benchmark.py [--config configs/relu_constant.yaml] [--repeats 5]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import initlab  # noqa: E402
from initlab.output import boundary_animation as animation, plots, run_folder, run_plots  # noqa: E402

BEFORE = "0eed3ae"


def plots_at(commit: str) -> types.ModuleType:
    """initlab/plots.py as it was at `commit`, as a module of the package: its one relative import, `from .data
    import plane`, resolves to today's initlab/train/data.py."""
    source = subprocess.run(["git", "show", f"{commit}:initlab/plots.py"], cwd=REPO, capture_output=True, text=True,
                            check=True).stdout
    module = types.ModuleType("initlab.train.plots_before")
    module.__package__ = "initlab.train"
    exec(compile(source, f"{commit}:initlab/plots.py", "exec"), module.__dict__)  # noqa: S102 - our own history
    return module


def jobs(folder: Path, old: types.ModuleType) -> dict:
    """Each picture `initlab run` draws, as (today's job, the earlier commit's job), each a function of an output
    path. The earlier boundary.png was drawn from the live model: its job calls the model, as it did."""
    from initlab.base.backend import keras

    metrics, layers = run_folder.read_metrics(folder), run_folder.read_layers(folder)
    samples, signal = dict(np.load(folder / "histograms.npz")), pd.read_csv(folder / "signal.csv")
    boundary = run_plots.recorded_boundary(folder)
    points = [boundary[key] for key in ("x_train", "y_train", "x_val", "y_val")]
    model = keras().saving.load_model(folder / "model.keras", compile=False)
    predict = lambda grid: model(grid, training=False).numpy()  # noqa: E731
    title = f"{folder.parent.name}: {folder.name}"
    found = {
        "history.png": (lambda p: plots.history(metrics, p, title), lambda p: old.history(metrics, p, title)),
        "gradients.png": (lambda p: plots.gradients(layers, p, title), lambda p: old.gradients(layers, p, title)),
        "activations.png": (lambda p: plots.activations(samples, p, title),
                            lambda p: old.activations(samples, p, title)),
        "gradient_histograms.png": (lambda p: plots.gradient_histograms(samples, p, title),
                                    lambda p: old.gradient_histograms(samples, p, title)),
        "signal.png": (lambda p: plots.signal(signal, p, title), lambda p: old.signal(signal, p, title)),
        "boundary.png": (lambda p: plots.boundary(boundary, p, title),
                         lambda p: old.boundary(predict, *points, p, title)),
        "boundary.gif": (lambda p: animation.write_gif(boundary, p, title),
                         lambda p: old.boundary_animation(boundary, *points, p, title)),
    }
    if len(signal) < 3:  # as a run draws it: only for two hidden layers or more
        del found["signal.png"]
    return found


def timed(job, path: Path, repeats: int) -> float:
    job(path)  # the first call pays for fonts and caches
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        job(path)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default="configs/relu_constant.yaml")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--before", default=BEFORE, help="the commit whose drawing code is timed beside today's")
    args = parser.parse_args()
    old = plots_at(args.before)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        folder = initlab.run(initlab.load_config(REPO / args.config), Path(scratch) / "out")
        rows = []
        for name, (today, before) in jobs(folder, old).items():
            then_path, now_path = Path(scratch) / f"before_{name}", Path(scratch) / name
            then, now = timed(before, then_path, args.repeats), timed(today, now_path, args.repeats)
            rows.append((name, then, now, then_path.stat().st_size, now_path.stat().st_size))
        started = time.perf_counter()
        run_plots.draw(folder, "all")
        whole = time.perf_counter() - started
    print(f"{args.config}, median of {args.repeats} after a first call; 1-minute load {load:.2f} -> "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores\n")
    print(f"| picture | {args.before} (s) | now (s) | faster | size {args.before} (KB) | size now (KB) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, then, now, then_size, now_size in rows:
        print(f"| {name} | {then:.3f} | {now:.3f} | {then / now:.1f}x | {then_size / 1e3:.0f} | {now_size / 1e3:.0f} |")
    then, now = sum(r[1] for r in rows), sum(r[2] for r in rows)
    print(f"| all {len(rows)} | {then:.3f} | {now:.3f} | {then / now:.1f}x | | |")
    print(f"\n`drawing.draw` of the whole run folder, once, fonts warm: {whole:.3f} s")


if __name__ == "__main__":
    main()
