"""A long run: the 15000-epoch circles experiment (benchmarks/circles_long.yaml) with the default records
(`record.every: auto`), with minimal records (`record.every: 15000`) and as plain `model.fit`, whole processes.

python benchmarks/long_run_benchmark.py [--repeats 3] [--fit-repeats 1] [--append]
Prints a markdown section; --append adds it to benchmarks/results.md.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results_page  # noqa: E402  (beside this script: one section of results.md per benchmark)

REPO = Path(__file__).resolve().parent.parent
CONFIG = "benchmarks/circles_long.yaml"
TARGET_RATIO, TARGET_RECORDS = 1.5, 50  # default records / minimal records; recorded epochs by default


def initlab_run(out: str, *settings: str) -> list[str]:
    command = [str(Path(sys.executable).parent / "initlab"), "run", CONFIG, "--out", out]
    for setting in settings:
        command += ["--set", setting]
    return command


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def recorded_epochs(out: str) -> tuple[int, float]:
    """(recorded epochs, training seconds in summary.json) of the one run folder under out."""
    folder = next(Path(out).glob("circles_long/*/"))
    epochs = {line.split(",")[0] for line in (folder / "layers.csv").read_text().splitlines()[1:]}
    return len(epochs), json.loads((folder / "summary.json").read_text())["duration_s"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fit-repeats", type=int, default=1, help="plain model.fit takes minutes: fewer repeats")
    parser.add_argument("--append", action="store_true")
    args = parser.parse_args()
    rows = {"initlab run, default records (record.every: auto)": ("record.every=auto",),
            "initlab run, minimal records (record.every: 15000)": ("record.every=15000",)}
    times = {name: [] for name in rows}
    training = {name: [] for name in rows}
    records = {}
    load = os.getloadavg()[0]
    for _ in range(args.repeats):  # round-robin: machine drift hits both alike
        for name, settings in rows.items():
            with tempfile.TemporaryDirectory() as out:
                times[name].append(timed(initlab_run(out, *settings)))
                records[name], duration = recorded_epochs(out)
                training[name].append(duration)
    fit = [timed([sys.executable, "benchmarks/plain_keras_circles.py"]) for _ in range(args.fit_repeats)]
    median = {name: statistics.median(t) for name, t in times.items()}
    default, minimal = median.values()
    ratio = default / minimal
    lines = [
        "# Benchmark: a long run (15000 full-batch epochs of the circles experiment)", "",
        f"- command: `python benchmarks/long_run_benchmark.py --repeats {args.repeats} --fit-repeats {args.fit_repeats}`",
        f"- date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}",
        f"- machine: nproc {os.cpu_count()}, {platform.platform()}, python {platform.python_version()}",
        f"- 1-minute load average before / after: {load:.2f} / {os.getloadavg()[0]:.2f} (other engineers' work shared the cores)",
        f"- setup: `{CONFIG}`: circles, 300 points, two hidden layers [10, 5] relu, sigmoid output, He normal, SGD lr 0.01, "
        "batch 300; whole processes (imports, training, records, pictures, writes); median of the repeats",
        "", "| what | median s | repeats s | training s (summary.json) | recorded epochs |", "| --- | ---: | --- | ---: | ---: |",
    ]
    for name in rows:
        lines.append(f"| {name} | {median[name]:.2f} | {', '.join(f'{t:.2f}' for t in times[name])} | "
                     f"{statistics.median(training[name]):.2f} | {records[name]} |")
    if fit:  # --fit-repeats 0: not measured (15000 epochs of model.fit take many minutes)
        lines.append(f"| plain model.fit, same network (benchmarks/plain_keras_circles.py) | {statistics.median(fit):.2f} | "
                     f"{', '.join(f'{t:.2f}' for t in fit)} | - | - |")
    default_records = records[next(iter(rows))]
    lines += ["", "| ratio | of medians | target |", "| --- | ---: | --- |",
              f"| default records / minimal records | {ratio:.2f}x | <= {TARGET_RATIO}: {'met' if ratio <= TARGET_RATIO else 'missed'} |",
              f"| recorded epochs by default | {default_records} | >= {TARGET_RECORDS}: "
              f"{'met' if default_records >= TARGET_RECORDS else 'missed'} |",
              *([f"| plain model.fit / default records | {statistics.median(fit) / default:.2f}x | - |"] if fit else []), ""]
    text = "\n".join(lines)
    print(text)
    if args.append:
        results_page.update(text)


if __name__ == "__main__":
    main()
