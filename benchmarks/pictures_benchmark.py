"""What each picture of a run costs to draw, from that run's records (the fixed layouts against tight_layout).

Run from the repository: python benchmarks/pictures_benchmark.py [--config configs/mistake_small_tanh.yaml] [--repeats 5]
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import initlab  # noqa: E402
from initlab import plots, records  # noqa: E402


def jobs(folder: Path) -> dict:
    """Each picture `initlab run` draws, as a function of an output path (the boundary from a fixed smooth rule,
    so that only drawing is timed, not the model)."""
    metrics, layers = records.read_metrics(folder), records.read_layers(folder)
    samples, signal = dict(np.load(folder / "histograms.npz")), pd.read_csv(folder / "signal.csv")
    x = np.random.default_rng(0).normal(size=(100, 2))
    y = (x[:, 0] > x[:, 1]).astype(float)
    title = f"{folder.parent.name}: {folder.name}"
    return {
        "history.png": lambda p: plots.history(metrics, p, title),
        "gradients.png": lambda p: plots.gradients(layers, p, title),
        "activations.png": lambda p: plots.activations(samples, p, title),
        "signal.png": lambda p: plots.signal(signal, p, title),
        "boundary.png": lambda p: plots.boundary(lambda g: 1 / (1 + np.exp(g[:, :1] - g[:, 1:])), x[:80], y[:80],
                                                 x[80:], y[80:], p, title),
    }


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
    parser.add_argument("--config", default="configs/mistake_small_tanh.yaml")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = initlab.run(initlab.load_config(REPO / args.config, ["train.epochs=20"]), Path(scratch) / "out")
        fixed_save = plots._save
        rows = []
        for name, job in jobs(folder).items():
            fixed = timed(job, Path(scratch) / name, args.repeats)
            plots._save = lambda fig, path, margins=None, gap=0.8: fixed_save(fig, path)  # tight_layout, as before
            tight = timed(job, Path(scratch) / name, args.repeats)
            plots._save = fixed_save
            rows.append((name, tight, fixed))
    print(f"| picture ({args.config}, median of {args.repeats}) | tight_layout (s) | fixed layout (s) | ratio |")
    print("|---|---:|---:|---:|")
    for name, tight, fixed in rows:
        print(f"| {name} | {tight:.3f} | {fixed:.3f} | {tight / fixed:.2f}x |")
    total_tight, total_fixed = sum(r[1] for r in rows), sum(r[2] for r in rows)
    print(f"| all five | {total_tight:.3f} | {total_fixed:.3f} | {total_tight / total_fixed:.2f}x |")


if __name__ == "__main__":
    main()
