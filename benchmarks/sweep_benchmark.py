"""Sweeps of 40 to 10^4 runs against one plain model.fit: wall time, time per run, peak memory, disk per run.

python benchmarks/sweep_benchmark.py [--repeats N] [--sizes 40 400 2000 10000] [--init-only 10000] [--append]

Every sweep is configs/compare_initializers_relu.yaml (8 initializers, 10 ReLU units, 100 epochs on the U-shape)
with more seeds: 5, 50, 250 and 1250 (up to 1000 runs a sweep writes a run folder each, above it the sweep's table,
keeping the first seed's folders); --init-only sizes run the same sweep with `train.epochs: 0`. Each command is a
fresh process; its peak memory is the child's ru_maxrss; disk per run is everything in the sweep's folder (run
folders, table, reports) over its runs. One plain fit is `python benchmarks/plain_keras.py --units 10 --initializer
he_normal` (one run of the sweep), timed in the same session, round-robin with the sweeps, as is the floor every
process pays: importing TensorFlow, Keras, initlab.
"""

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results_page  # noqa: E402  (beside this script: one section of results.md per benchmark)
from run_benchmark import LEAN_FLOOR_COMMAND  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SWEEP = REPO / "configs/compare_initializers_relu.yaml"
PLAIN = [sys.executable, "benchmarks/plain_keras.py", "--units", "10", "--initializer", "he_normal"]
FLOOR = [sys.executable, "-c", "import tensorflow, keras, initlab"]
TARGETS = {40: 0.6, 400: 2.0, 10000: 10.0}  # sweep wall time / one plain fit, at most
PEAK_TARGET = {400: 1024, 10000: 1024}  # MiB
DISK_TARGET = {10000: 10 * 1024}  # bytes per run


def initlab_command() -> str:
    beside = Path(sys.executable).parent / "initlab"
    return str(beside) if beside.exists() else "initlab"


def sweep_file(folder: Path, runs: int, init_only: bool = False) -> Path:
    """The benchmark sweep with runs / 8 seeds (with init_only: train.epochs 0), its base config found where the
    original's is."""
    sweep = yaml.safe_load(SWEEP.read_text())
    sweep["base"] = str((SWEEP.parent / sweep["base"]).resolve())
    sweep["name"] = name(runs, init_only)
    sweep["seeds"] = runs // len(sweep["grid"]["model.kernel_initializer"])
    if init_only:
        sweep["set"]["train.epochs"] = 0
    path = folder / f"{sweep['name']}.yaml"
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))
    return path


def measure(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak resident MiB) of one fresh child process run from the repo root."""
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({child.returncode}):\n{stderr.decode()[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024  # Linux: kilobytes


def name(runs: int, init_only: bool = False) -> str:
    return f"bench_{runs}" + ("_init" if init_only else "")


def disk_per_run(sweep_dir: Path, runs: int) -> tuple[float, float, int]:
    """(bytes of files, bytes of disk blocks) per run, of everything in the sweep's folder; and its entries."""
    files = [p.stat() for p in sweep_dir.rglob("*") if p.is_file()]
    return (sum(s.st_size for s in files) / runs, sum(s.st_blocks * 512 for s in files) / runs,
            len(list(sweep_dir.iterdir())))


def run(sizes: list[int], init_only: list[int], repeats: int) -> dict:
    """Round-robin: each repeat times the plain fit, the import floor and every sweep once (a fresh output folder)."""
    sweeps = [*((n, False) for n in sizes), *((n, True) for n in init_only)]
    times = {"plain": [], "floor": [], "lean floor": [], **{s: [] for s in sweeps}}
    peaks = {"plain": [], "floor": [], "lean floor": [], **{s: [] for s in sweeps}}
    disk = {}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        files = {s: sweep_file(scratch, *s) for s in sweeps}
        for repeat in range(repeats):
            for what in ["plain", "floor", "lean floor", *sweeps]:
                out = scratch / f"out-{repeat}"
                command = {"plain": PLAIN, "floor": FLOOR, "lean floor": LEAN_FLOOR_COMMAND}.get(what) or \
                    [initlab_command(), "sweep", str(files[what]), "--out", str(out)]
                seconds, peak = measure(command)
                times[what].append(seconds)
                peaks[what].append(peak)
                print(f"  {what}: {seconds:.2f} s, peak {peak:.0f} MiB", file=sys.stderr)
                if what in sweeps:
                    disk[what] = disk_per_run(out / name(*what), what[0])
                    subprocess.run(["rm", "-rf", str(out)], check=True)
    return {"times": times, "peaks": peaks, "disk": disk, "sweeps": sweeps}


def report(measured: dict, sizes: list[int], repeats: int, load: str) -> str:
    import keras
    import tensorflow

    times, peaks, disk = measured["times"], measured["peaks"], measured["disk"]
    plain, floor = statistics.median(times["plain"]), statistics.median(times["floor"])
    lines = [
        "", "# Benchmark: sweeps of 40 to 10^4 runs against one plain `model.fit`", "",
        f"- command: `python benchmarks/sweep_benchmark.py --repeats {repeats} --append` (from the repo root)",
        f"- date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}",
        f"- machine: nproc {os.cpu_count()}, {platform.platform()}, python {platform.python_version()}, "
        f"tensorflow {tensorflow.__version__}, keras {keras.__version__}",
        f"- 1-minute load average before / after: {load} (above 2: other engineers' work shared the 2 cores)",
        "- the sweep: `configs/compare_initializers_relu.yaml` (8 initializers x 10 ReLU units x 100 epochs, "
        "populations of up to 64 runs) with runs / 8 seeds; `initlab sweep` as a user runs it (up to 1000 runs a "
        "run folder each, without per-run pictures or model.keras; above, the sweep's table and the first seed's "
        "folders; the sweep's tables and pictures; `init` rows: `train.epochs: 0`); each a fresh process, "
        f"{repeats} round-robin repeats, medians; peak memory is the child's ru_maxrss",
        f"- one plain fit (`{' '.join(PLAIN[1:])}`): {plain:.2f} s, peak {statistics.median(peaks['plain']):.0f} MiB; "
        f"import floor (`python -c \"import tensorflow, keras, initlab\"`): {floor:.2f} s "
        f"({floor / plain:.2f} of a plain fit); initlab's import floor (TensorFlow and Keras without Keras's "
        f"extras, as initlab's processes import them): {statistics.median(times['lean floor']):.2f} s",
        "",
        "| runs | wall s | repeats s | per run s | x one plain fit | target | peak MiB | disk per run (files / blocks) "
        "| entries in the sweep's folder |",
        "| ---: | ---: | --- | ---: | ---: | --- | ---: | --- | ---: |",
    ]
    for n, init_only in measured["sweeps"]:
        what = (n, init_only)
        wall, peak = statistics.median(times[what]), statistics.median(peaks[what])
        ratio = wall / plain
        goals = []
        if n in TARGETS and not init_only:
            goals.append(f"<= {TARGETS[n]}: {'met' if ratio <= TARGETS[n] else 'missed'}")
        if n in PEAK_TARGET:
            goals.append(f"peak <= {PEAK_TARGET[n]} MiB: {'met' if peak <= PEAK_TARGET[n] else 'missed'}")
        files, blocks, entries = disk[what]
        if n in DISK_TARGET:
            goals.append(f"<= {DISK_TARGET[n] // 1024} KiB a run: {'met' if files <= DISK_TARGET[n] else 'missed'}")
        lines.append(f"| {n}{' init' if init_only else ''} | {wall:.2f} | {', '.join(f'{t:.2f}' for t in times[what])} "
                     f"| {wall / n:.4f} | {ratio:.2f} | {'; '.join(goals) or '-'} | {peak:.0f} | {files / 1024:.1f} KiB / "
                     f"{blocks / 1024:.1f} KiB | {entries} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--sizes", type=int, nargs="+", default=[40, 400, 2000, 10000],
                        help="runs per sweep (multiples of 8)")
    parser.add_argument("--init-only", type=int, nargs="*", default=[10000],
                        help="runs per sweep of `train.epochs: 0` (multiples of 8)")
    parser.add_argument("--append", action="store_true", help="append the section to benchmarks/results.md")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    measured = run(args.sizes, args.init_only, args.repeats)
    section = report(measured, args.sizes, args.repeats, f"{load_before:.2f} / {os.getloadavg()[0]:.2f}")
    print(section)
    if args.append:
        results_page.update(section)


if __name__ == "__main__":
    main()
