"""Cost of comparing initializers on a user's model: `initlab sweep` over a small CNN on digits (4 initializers x 5
seeds, 5 epochs; the keras engine's model.fit, plus the checklist at initialization and the run folders) against the
same 20 runs as plain model.fit calls in one loop (benchmarks/plain_fit_loop.py), with one and two workers, the
import-only floor measured in the same run, and the peak memory of a training process as the sweep grows.

    python benchmarks/yours_benchmark.py            # prints the section
    python benchmarks/yours_benchmark.py --append   # and writes it to benchmarks/results.md
"""

import argparse
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results_page  # noqa: E402  (beside this script)

REPO = Path(__file__).resolve().parent.parent
INITIALIZERS = ["glorot_uniform", "he_normal", "orthogonal", "lecun_normal"]
SEEDS, EPOCHS = [0, 1, 2, 3, 4], 5
GOAL = 1.1  # initlab sweep / plain loop, one worker (issue 23)


def sweep_files(folder: Path, seeds: list[int]) -> Path:
    base = {"name": "cnn", "model": {"factory": "initlab.train.architectures:small_cnn"}, "data": {"builtin": "digits"},
            "train": {"epochs": EPOCHS, "batch_size": 64, "learning_rate": 0.001}}
    (folder / "cnn.yaml").write_text(yaml.safe_dump(base))
    sweep = {"name": f"cnn_{len(seeds)}", "base": "cnn.yaml", "grid": {"init.kernel": INITIALIZERS}, "seeds": seeds}
    (folder / f"sweep_{len(seeds)}.yaml").write_text(yaml.safe_dump(sweep))
    return folder / f"sweep_{len(seeds)}.yaml"


MEASURE = ("import resource, subprocess, sys\n"
           "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
           "sys.stderr.write(done.stderr[-2000:]) if done.returncode else None\n"
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
           "sys.exit(done.returncode)\n")


def timed(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, the largest resident set of any process it started, in MiB) of one fresh process tree; each
    is measured by a wrapper process of its own, so the peaks of earlier lines do not count."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", MEASURE, *argv], cwd=REPO, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr}")
    return elapsed, int(done.stdout.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--append", action="store_true", help="write the section to benchmarks/results.md")
    args = parser.parse_args()
    initlab = str(Path(sys.executable).parent / "initlab")
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        twenty, forty = sweep_files(folder, SEEDS), sweep_files(folder, list(range(10)))
        floor = timed([sys.executable, "-c", "import tensorflow, keras, initlab"])
        plain = timed([sys.executable, "benchmarks/plain_fit_loop.py", "--initializers", *INITIALIZERS,
                       "--seeds", *map(str, SEEDS), "--epochs", str(EPOCHS)])
        one = timed([initlab, "sweep", str(twenty), "--out", str(folder / "one"), "--no-pictures"])
        two = timed([initlab, "sweep", str(twenty), "--out", str(folder / "two"), "--no-pictures", "--workers", "2"])
        grown = timed([initlab, "sweep", str(forty), "--out", str(folder / "grown"), "--no-pictures"])
    rows = [("import-only floor: import tensorflow, keras, initlab", floor, "-"),
            ("plain loop: 20 model.fit calls in one process", plain, "1.00"),
            ("initlab sweep, 20 runs, 1 worker", one, f"{one[0] / plain[0]:.2f}"),
            ("initlab sweep, 20 runs, --workers 2", two, f"{two[0] / plain[0]:.2f}"),
            ("initlab sweep, 40 runs, 1 worker (memory as the sweep grows)", grown, f"{grown[0] / plain[0]:.2f}")]
    import keras
    import tensorflow

    section = "\n".join([
        "", "# Benchmark: comparing initializers on a user's model (a small CNN on digits, 4 initializers x 5 seeds)",
        "", "- command: `python benchmarks/yours_benchmark.py --append` (from the repo root)",
        f"- date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}",
        f"- machine: nproc {os.cpu_count()}, {platform.platform()}, python {platform.python_version()}, "
        f"tensorflow {tensorflow.__version__}, keras {keras.__version__}",
        f"- 1-minute load average before / after: {load:.2f} / {os.getloadavg()[0]:.2f}",
        f"- each line one fresh process tree, timed whole (imports included); {EPOCHS} epochs, batch 64; an initlab "
        "run also takes the checklist at initialization (a training-mode pass with gradients), evaluates the "
        "training rows in inference mode after each epoch, and writes its sealed run folder and model.keras; "
        f"goal: at most {GOAL}x the plain loop with one worker",
        "", "| what | seconds | x plain loop | peak RSS of a process (MiB) |", "|---|---:|---:|---:|",
        *[f"| {label} | {seconds:.1f} | {ratio} | {peak:.0f} |" for label, (seconds, peak), ratio in rows], "",
    ])
    print(section)
    if args.append:
        results_page.update(section)


if __name__ == "__main__":
    main()
