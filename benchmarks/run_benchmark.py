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

REPO = Path(__file__).resolve().parent.parent
CONFIG = "configs/relu_constant.yaml"
SWEEP = "configs/compare_initializers_relu.yaml"  # the same network with 10 hidden units, 40 runs
TARGET_PROCESS, TARGET_TRAINING, TARGET_SWEEP = 2.0, 10.0, 1.0  # plain / initlab fast, fit / fast, plain / sweep
MAX_RECORDING_SLOWDOWN = 2.0  # per-layer records at every epoch may slow the fast engine by at most this


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
        "import tensorflow alone": [sys.executable, "-c", "import tensorflow"],
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


def tutorial_model(every: int):
    """(compiled model, data, config) for configs/relu_constant.yaml, built as `initlab run` builds it."""
    from initlab import config as config_module, model as model_module, runs
    from initlab.backend import keras

    config = config_module.load(REPO / CONFIG, [f"record.every={every}"])
    data = runs.load_data(config)
    config = model_module.with_task_defaults(config, data.task)
    keras().utils.set_random_seed(config.seed)
    model = model_module.build(config, data.n_features, data.task, data.n_classes)
    model_module.compile(model, config, data.task)
    return model, data, config


def fit_seconds(epochs: int = 100) -> float:
    """Seconds of model.fit: the tutorial's 100 epochs, batch 32, with the validation rows."""
    model, data, config = tutorial_model(every=epochs)
    started = time.perf_counter()
    model.fit(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val),
              epochs=epochs, batch_size=config.train.batch_size, verbose=0)
    return time.perf_counter() - started


def fast_seconds(every: int, probe: bool) -> float:
    """Seconds of initlab's engine.train_fast (a new tf.function, so tracing included), recording or not."""
    from initlab import engine, model as model_module
    from initlab.probes import Probe

    model, data, config = tutorial_model(every)
    on_record = Probe(model, data.x_train, data.y_train).measure if probe else (lambda epoch: None)
    started = time.perf_counter()
    engine.train_fast(model, data, config, data.task, model_module.metric_name(data.task), on_record)
    return time.perf_counter() - started


def time_training(repeats: int) -> dict[str, list[float]]:
    """Training calls inside this process, after one untimed warm-up of each so no variant pays TF's first use."""
    variants = {
        "model.fit (100 epochs, val data)": fit_seconds,
        "train_fast, no-op on_record, record.every=100 (one graph call)": lambda: fast_seconds(100, False),
        "train_fast, no-op on_record, record.every=1 (100 graph calls)": lambda: fast_seconds(1, False),
        "train_fast, Probe recording, record.every=1 (as `initlab run`)": lambda: fast_seconds(1, True),
    }
    fit_seconds(epochs=1)
    fast_seconds(100, True)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, variant in variants.items():
            times[name].append(variant())
            print(f"  {name}: {times[name][-1]:.2f} s", file=sys.stderr)
    return times


def machine() -> str:
    """nproc, CPU, python, tensorflow and keras versions."""
    from initlab.backend import keras, tf

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return (f"nproc {os.cpu_count()} ({cpu}), {platform.system()} {platform.release()}, python {platform.python_version()}, "
            f"tensorflow {tf().__version__}, keras {keras().__version__}")


def report(process: dict[str, list[float]], training: dict[str, list[float]], repeats: int, load: str) -> str:
    """The markdown page: medians with every repeat, the ratios and whether the issue's targets are met."""
    med = {name: statistics.median(values) for name, values in {**process, **training}.items()}
    low = {name: min(values) for name, values in {**process, **training}.items()}
    lines = [
        "# Benchmark: the tutorial's experiment (configs/relu_constant.yaml) and a 40-run sweep", "",
        f"- command: `python benchmarks/run_benchmark.py --repeats {repeats}` (from the repo root)",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- machine: {machine()}",
        f"- 1-minute load average before / after: {load} (above 0: other work competed for the cores)",
        f"- {repeats} wall-clock repeats each (round-robin); whole processes are fresh subprocesses; the minimum is the least disturbed by other load", "",
        "| what | median s | min s | repeats s |", "| --- | ---: | ---: | --- |",
    ]
    lines += [f"| {name} | {med[name]:.2f} | {low[name]:.2f} | {', '.join(f'{t:.2f}' for t in values)} |"
              for name, values in {**process, **training}.items()]
    plain, fit = "plain Keras script", "model.fit (100 epochs, val data)"
    ratios = [("process: plain / initlab fast", plain, "initlab run, fast engine", TARGET_PROCESS),
              ("process: plain / initlab keras", plain, "initlab run, keras engine", None),
              ("process: one plain run (10 units, he_normal) / 40-run sweep", "plain Keras script, 10 units, he_normal",
               "initlab sweep, 40 runs (8 initializers x 5 seeds)", TARGET_SWEEP)]
    ratios += [(f"training: fit / {name.split(', ', 1)[1]}", fit, name, TARGET_TRAINING)
               for name in training if name.startswith("train_fast, no-op")]
    recording = [name for name in training if "Probe" in name][0]
    no_recording = [name for name in training if "record.every=1" in name and "no-op" in name][0]
    lines += ["", "| ratio | of medians | of minima | target (on medians) |", "| --- | ---: | ---: | --- |"]
    for label, top, bottom, target in ratios:
        value = med[top] / med[bottom]
        verdict = "-" if target is None else f">= {target:g}: {'met' if value >= target else 'MISSED'}"
        lines.append(f"| {label} | {value:.2f}x | {low[top] / low[bottom]:.2f}x | {verdict} |")
    slowdown = med[recording] / med[no_recording]
    lines.append(f"| recording cost: Probe every epoch / no recording (fast engine) | {slowdown:.2f}x | "
                 f"{low[recording] / low[no_recording]:.2f}x | <= {MAX_RECORDING_SLOWDOWN:g}: "
                 f"{'met' if slowdown <= MAX_RECORDING_SLOWDOWN else 'MISSED'} |")
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
    (REPO / "benchmarks" / "results.md").write_text(page)
    print(page)


if __name__ == "__main__":
    main()
