"""Time the commands that train nothing (issue 8, point 5): each a fresh process, beside importing TensorFlow alone.

Run from anywhere: python benchmarks/commands_benchmark.py [--repeats 5] [--trained DIR]. The 400-run sweep
(benchmarks/sweep_400.yaml) is trained once first, outside the timing (into DIR, kept for the next call when given).
Writes or replaces its own section of benchmarks/results.md.
"""

import argparse
import datetime
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results_page  # noqa: E402  (beside this script: one section of results.md per benchmark)

REPO = Path(__file__).resolve().parent.parent
SWEEP_40 = "configs/compare_initializers_relu.yaml"
SWEEP_400 = "benchmarks/sweep_400.yaml"  # the same 8 initializers x 50 seeds
TARGET = 1.5  # seconds, each command (issue 8)
HEADING = "# Benchmark: commands that train nothing"


def initlab_command() -> str:
    """The `initlab` script of the running interpreter's environment (else the one on PATH)."""
    beside = Path(sys.executable).parent / "initlab"
    return str(beside) if beside.exists() else shutil.which("initlab")


def commands(trained: Path, empty: Path) -> dict[str, tuple[list[str], str | None]]:
    """name -> (argv, a text its output must hold, to be sure it did the work and not fail early)."""
    initlab = initlab_command()
    return {
        "import tensorflow, keras, initlab (the floor)": ([sys.executable, "-c", "import tensorflow, keras, initlab"], None),
        "initlab --help": ([initlab, "--help"], "validate"),
        "initlab validate configs/relu_constant.yaml": ([initlab, "validate", "configs/relu_constant.yaml"],
                                                        "binary_crossentropy"),
        "initlab sweep --dry-run, 40 runs": ([initlab, "sweep", SWEEP_40, "--dry-run", "--out", str(empty)],
                                             "40 runs, 0 complete"),
        "initlab sweep --dry-run, 400 runs (all complete)": ([initlab, "sweep", SWEEP_400, "--dry-run", "--out",
                                                              str(trained)], "400 runs, 400 complete"),
        "initlab runs, 400 finished runs": ([initlab, "runs", str(trained)], "400 runs under"),
        "initlab sweep, 400 runs, skip-only rerun": ([initlab, "sweep", SWEEP_400, "--out", str(trained)],
                                                     "nothing to do"),
    }


def time_once(argv: list[str], expect: str | None) -> tuple[float, float]:
    """(wall-clock, CPU) seconds of one fresh process; CPU (user + system) is what other load disturbs least."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0 or (expect is not None and expect not in done.stdout + done.stderr):
        sys.exit(f"{' '.join(argv)} failed ({done.returncode}) or lacks {expect!r}:\n{(done.stdout + done.stderr)[-2000:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def machine() -> str:
    import keras
    import tensorflow

    return (f"nproc {os.cpu_count()}, {platform.platform()}, python {platform.python_version()}, "
            f"tensorflow {tensorflow.__version__}, keras {keras.__version__}")


def section(times: dict[str, list[float]], cpu: dict[str, list[float]], repeats: int, load: str, about: str) -> str:
    lines = [
        HEADING, "",
        f"- command: `python benchmarks/commands_benchmark.py --repeats {repeats}` (from the repo root)",
        f"- date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}",
        f"- machine: {about}",
        f"- 1-minute load average before / after: {load} (above 0: other work competed for the cores)",
        f"- each command {repeats} times in a fresh process, round-robin; the 400-run sweep ({SWEEP_400}: 8 "
        "initializers x 50 seeds, 100 epochs) was trained once before the timing; none of the initlab commands "
        "imports TensorFlow (tests/test_light_commands.py)",
        "",
        "| command | median s | min s | repeats s | CPU s (median) | target (on the median) |",
        "| --- | ---: | ---: | --- | ---: | --- |",
    ]
    for name, values in times.items():
        median = statistics.median(values)
        verdict = "-" if name.startswith("import") else f"<= {TARGET}: {'met' if median <= TARGET else 'missed'}"
        lines.append(f"| {name} | {median:.2f} | {min(values):.2f} | {', '.join(f'{v:.2f}' for v in values)} | "
                     f"{statistics.median(cpu[name]):.2f} | {verdict} |")
    return "\n".join(lines) + "\n"


def write_section(text: str) -> None:
    """Replace this benchmark's section of results.md, or append it."""
    results_page.update(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--trained", type=Path, help="where the 400-run sweep is (trained there first if it is not)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        trained = (args.trained or Path(scratch) / "trained").resolve()
        empty = Path(scratch) / "empty"
        print(f"training {SWEEP_400} into {trained} (once, not timed) ...", file=sys.stderr)
        subprocess.run([initlab_command(), "sweep", SWEEP_400, "--out", str(trained)], cwd=REPO, check=True,
                       capture_output=True)
        todo = commands(trained, empty)
        load_before = os.getloadavg()[0]
        times: dict[str, list[float]] = {name: [] for name in todo}
        cpu: dict[str, list[float]] = {name: [] for name in todo}
        for _ in range(args.repeats):
            for name, (argv, expect) in todo.items():
                wall, used = time_once(argv, expect)
                times[name].append(wall)
                cpu[name].append(used)
        load = f"{load_before:.2f} / {os.getloadavg()[0]:.2f}"
    text = section(times, cpu, args.repeats, load, machine())
    print(text)
    write_section(text)


if __name__ == "__main__":
    main()
