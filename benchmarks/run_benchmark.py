"""Time the tutorial's experiment: plain Keras vs `initlab run` and `initlab sweep` (whole processes), model.fit vs the fast engine.

Run from anywhere: python benchmarks/run_benchmark.py [--repeats N]. Writes benchmarks/results.md.
"""

import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results_page  # noqa: E402  (beside this script)

REPO = Path(__file__).resolve().parent.parent
CONFIG = "configs/relu_constant.yaml"
SWEEP = "configs/compare_initializers_relu.yaml"  # the same network with 10 hidden units, 40 runs
TARGET_RUN, TARGET_SWEEP = 0.45, 0.6  # initlab run / plain script, 40-run sweep / one plain run (issue 8)
# TensorFlow and Keras imported as initlab's own processes import them: without Keras's scikit-learn, pandas and
# pyplot integrations (initlab.base.backend.KERAS_EXTRAS), which `import keras` loads whenever they are installed
LEAN_FLOOR = "initlab's import floor: TensorFlow and Keras without Keras's extras"
LEAN_FLOOR_COMMAND = [sys.executable, "-c", "from initlab.base import backend; backend.own_process(); backend.keras()"]
TITLE = "# Benchmark: the tutorial's experiment (configs/relu_constant.yaml) and a 40-run sweep"


def initlab_command() -> str:
    """The `initlab` script of the running interpreter's environment (else the one on PATH)."""
    beside = Path(sys.executable).parent / "initlab"
    return str(beside) if beside.exists() else shutil.which("initlab")


def process_commands() -> dict[str, list[str]]:
    """The whole-process commands to time; `<out>` is replaced by a fresh temporary folder each time."""
    initlab = initlab_command()
    return {
        "plain Keras script": [sys.executable, "benchmarks/plain_keras.py"],
        "plain Keras script, 10 units, he_normal": [sys.executable, "benchmarks/plain_keras.py", "--units", "10",
                                                    "--initializer", "he_normal"],
        "initlab run, keras engine": [initlab, "run", CONFIG, "--set", "train.engine=keras", "--out", "<out>"],
        "initlab run, fast engine": [initlab, "run", CONFIG, "--out", "<out>"],
        "initlab sweep, 40 runs (8 initializers x 5 seeds)": [initlab, "sweep", SWEEP, "--out", "<out>"],
        "import-only floor: import tensorflow, keras, initlab": [sys.executable, "-c", "import tensorflow, keras, initlab"],
        LEAN_FLOOR: LEAN_FLOOR_COMMAND,
    }


def time_process(command: list[str]) -> float:
    """Wall-clock seconds of one fresh process running `command` in the repo root."""
    with tempfile.TemporaryDirectory() as out:
        argv = [out if part == "<out>" else part for part in command]
        started = time.perf_counter()
        done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed


def time_processes(repeats: int) -> dict[str, list[float]]:
    """Each command `repeats` times, round-robin so that machine drift hits all of them alike."""
    commands = process_commands()
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, command in commands.items():
            times[name].append(time_process(command))
            print(f"  {name}: {times[name][-1]:.2f} s", file=sys.stderr)
    return times


def tutorial_config(every):
    """configs/relu_constant.yaml as `initlab run` reads it, with record.every set."""
    from initlab.config import experiment as config_module

    return config_module.load_config(REPO / CONFIG, [f"record.every={every}"])


def fit_seconds(epochs: int = 100) -> float:
    """Seconds of model.fit: the tutorial's 100 epochs, batch 32, with the validation rows."""
    from initlab.lab import runs

    config, data, model, _ = runs.prepare(tutorial_config(epochs))
    started = time.perf_counter()
    model.fit(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val),
              epochs=epochs, batch_size=config.train.batch_size, verbose=0)
    return time.perf_counter() - started


def train_seconds(every) -> float:
    """Seconds of runs.train (initlab's whole training of one run: engine, per-layer records, signal, frames;
    a new graph each time, so tracing included), nothing written."""
    from initlab.lab import runs

    prepared = runs.prepare(tutorial_config(every))
    started = time.perf_counter()
    runs.train(prepared[0], prepared=prepared)
    return time.perf_counter() - started


def time_training(repeats: int) -> dict[str, list[float]]:
    """Training calls inside this process, after one untimed warm-up of each so no variant pays TF's first use."""
    variants = {
        "model.fit (100 epochs, val data)": fit_seconds,
        "initlab training, default records (record.every: auto)": lambda: train_seconds("auto"),
        "initlab training, records at epoch 0 and 100 only": lambda: train_seconds(100),
    }
    fit_seconds(epochs=1)
    train_seconds(100)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, variant in variants.items():
            times[name].append(variant())
            print(f"  {name}: {times[name][-1]:.2f} s", file=sys.stderr)
    return times


def machine() -> str:
    """nproc, CPU, python, tensorflow and keras versions."""
    from initlab.base.backend import keras, tf

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return (f"nproc {os.cpu_count()} ({cpu}), {platform.system()} {platform.release()}, python {platform.python_version()}, "
            f"tensorflow {tf().__version__}, keras {keras().__version__}")


def report(process: dict[str, list[float]], training: dict[str, list[float]], repeats: int, load: str) -> str:
    """The markdown section: medians with every repeat, the ratios and whether issue 8's targets are met."""
    med = {name: statistics.median(values) for name, values in {**process, **training}.items()}
    low = {name: min(values) for name, values in {**process, **training}.items()}
    lines = [
        TITLE, "",
        f"- command: `python benchmarks/run_benchmark.py --repeats {repeats}` (from the repo root)",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- machine: {machine()}",
        f"- 1-minute load average before / after: {load} (above 0: other work competed for the cores)",
        f"- {repeats} wall-clock repeats each (round-robin); whole processes are fresh subprocesses; the minimum is the least disturbed by other load", "",
        "| what | median s | min s | repeats s |", "| --- | ---: | ---: | --- |",
    ]
    lines += [f"| {name} | {med[name]:.2f} | {low[name]:.2f} | {', '.join(f'{t:.2f}' for t in values)} |"
              for name, values in {**process, **training}.items()]
    plain, plain10 = "plain Keras script", "plain Keras script, 10 units, he_normal"
    floor = "import-only floor: import tensorflow, keras, initlab"
    fit = "model.fit (100 epochs, val data)"
    ratios = [("process: initlab run (fast engine) / plain script", "initlab run, fast engine", plain, f"<= {TARGET_RUN:g}", TARGET_RUN),
              ("process: import-only floor / plain script", floor, plain, "- (the floor)", None),
              ("process: initlab's import floor / plain script", LEAN_FLOOR, plain, "- (initlab's own imports)", None),
              ("process: initlab run, keras engine / plain script", "initlab run, keras engine", plain, "-", None),
              ("process: 40-run sweep / one plain run (10 units, he_normal)",
               "initlab sweep, 40 runs (8 initializers x 5 seeds)", plain10, f"<= {TARGET_SWEEP:g}", TARGET_SWEEP)]
    lines += ["", "| ratio | of medians | of minima | target (on medians) |", "| --- | ---: | ---: | --- |"]
    for label, top, bottom, shown, target in ratios:
        value = med[top] / med[bottom]
        verdict = shown if target is None else f"{shown}: {'met' if value <= target else 'MISSED'}"
        lines.append(f"| {label} | {value:.2f} | {low[top] / low[bottom]:.2f} | {verdict} |")
    for label, base in (("the import-only floor", floor), ("initlab's import floor", LEAN_FLOOR)):
        beyond = med["initlab run, fast engine"] - med[base]
        lines.append(f"| seconds of `initlab run` beyond {label} | {beyond:.2f} s | "
                     f"{low['initlab run, fast engine'] - low[base]:.2f} s | - |")
    for name in training:
        if name != fit:
            value = med[fit] / med[name]
            lines.append(f"| training: model.fit / initlab's whole training, {name.split(', ', 1)[1]} | {value:.1f}x | "
                         f"{low[fit] / low[name]:.1f}x | - (tracing, records, signal and frames included) |")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Parse --repeats, time everything, print the table and write benchmarks/results.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="repeats per measurement; the median is reported")
    repeats = parser.parse_args().repeats
    load_before = os.getloadavg()[0]
    print("whole processes:", file=sys.stderr)
    process = time_processes(repeats)
    print("training alone (one process):", file=sys.stderr)
    training = time_training(repeats)
    page = report(process, training, repeats, f"{load_before:.2f} / {os.getloadavg()[0]:.2f}")
    results_page.update(page)
    print(page)


if __name__ == "__main__":
    main()
