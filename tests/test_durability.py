"""Issue 9, items 5-6: damaged run folders, unwritable outputs, signals, a killed writer, two sweeps at once.

Damage and full disks are tested in this process (typer's CliRunner); signals and concurrency with real
`initlab` processes and real signals, waiting for training to have started, never sleeping blindly."""

import contextlib
import errno
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml
from typer.testing import CliRunner

from initlab.cli import app
from initlab.lab import runs
from initlab.output import run_folder

from tests.conftest import initlab_command, make_config, raw_config
from tests.test_sweep_execution import assert_clean, complete_runs, listed, run_sweep, sweep_command, write_sweep

runner = CliRunner()


def one_line_error(result, *fragments: str) -> str:
    message = result.stderr.strip()
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.exc_info[0] is SystemExit, result.output
    assert message.startswith("error: ") and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---- what makes a run folder complete ------------------------------------------------------------------------------
def test_a_folder_is_complete_only_when_its_files_match_the_summary(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "metrics.csv").write_text("epoch,loss\n1,0.5\n")
    (folder / "sub").mkdir()
    (folder / "sub" / "events").write_bytes(b"x" * 10)
    run_folder.seal(folder, {"status": "ok"})
    assert run_folder.read_summary(folder)["files"] == {"metrics.csv": 17, "sub/events": 10}
    assert run_folder.is_complete(folder) and run_folder.problems(folder) == {}

    (folder / "sub" / "events").write_bytes(b"x" * 9 + b"y")  # same size, other bytes: the digest tells
    assert run_folder.problems(folder) == {"sub/events": "has other bytes than were written (same size)"}
    (folder / "sub" / "events").write_bytes(b"x" * 9)
    assert run_folder.problems(folder) == {"sub/events": "has 9 bytes, 10 were written"}
    (folder / "sub" / "events").unlink()
    assert run_folder.problems(folder) == {"sub/events": "is missing"}
    assert not run_folder.is_complete(folder)

    text = (folder / run_folder.SUMMARY).read_text()
    (folder / run_folder.SUMMARY).write_text(text[: len(text) // 2])
    assert "cut short" in run_folder.problems(folder)[run_folder.SUMMARY]
    (folder / run_folder.SUMMARY).write_text('{"status": "ok"}')  # an older initlab's summary: no list to check
    assert "no list of files" in run_folder.problems(folder)[run_folder.SUMMARY]
    (folder / run_folder.SUMMARY).unlink()
    assert run_folder.problems(folder) == {run_folder.SUMMARY: "is missing"}


def test_a_sealed_file_that_grew_is_damaged_for_every_reader(tmp_path):
    """Bytes appended to a sealed run's metrics.csv: `initlab runs` lists the folder as damaged with both sizes, and
    the commands that read its records (plot, diagnose) refuse it in one line instead of reading the extra rows."""
    folder = runs.run(make_config(train={"epochs": 2}), tmp_path / "out")
    assert run_folder.is_complete(folder)
    metrics = folder / "metrics.csv"
    sealed = metrics.stat().st_size
    assert run_folder.read_summary(folder)["files"]["metrics.csv"] == sealed
    with metrics.open("a") as grown:
        grown.write("3,0.1,1.0,0.1,1.0\n")
    grew = f"metrics.csv has {metrics.stat().st_size} bytes, {sealed} were written"
    assert run_folder.problems_text(run_folder.problems(folder)) == grew
    assert not run_folder.is_complete(folder)

    listing = runner.invoke(app, ["runs", str(tmp_path / "out")])
    assert listing.exit_code == 0 and "Traceback" not in listing.output, listing.output
    assert f"damaged: {folder}: {grew}; " in listing.stdout and "1 run under" in listing.stdout
    assert "1 damaged" in listing.stdout, listing.stdout
    one_line_error(runner.invoke(app, ["plot", str(folder)]), str(folder), "damaged run folder", grew)
    one_line_error(runner.invoke(app, ["diagnose", str(folder)]), str(folder), "damaged run folder", grew)


def test_a_killed_writer_leaves_nothing_that_blocks_or_counts(tmp_path):
    """SIGKILL while holding an experiment folder's lock: the kernel releases it; the next writer clears the
    staging folder left behind and puts back a complete folder that was set aside to be replaced."""
    experiment = tmp_path / "exp"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from initlab.output import run_folder\n"
         f"with run_folder.holding({str(experiment)!r}):\n print('held', flush=True); time.sleep(600)"],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1])
    try:
        assert holder.stdout.readline().strip() == "held"
        with open(experiment / run_folder.LOCK) as lock:
            with pytest.raises(BlockingIOError):
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        (experiment / ".run-a.1234abcd.tmp").mkdir()  # what a writer killed mid-write leaves
        (experiment / ".run-a.1234abcd.tmp" / "metrics.csv").write_text("epoch\n")
        (experiment / ".run-b.5678abcd.old").mkdir()  # killed between setting run-b aside and renaming its new one
        (experiment / ".run-b.5678abcd.old" / "summary.json").write_text("{}")
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    waited = []
    with run_folder.holding(experiment, on_wait=waited.append):
        assert sorted(p.name for p in experiment.iterdir()) == [run_folder.LOCK, "run-b"]
    assert waited == [] and [p.name for p in experiment.iterdir()] == ["run-b"]  # the lock file goes too


# ---- damaged folders: runs, plot, sweep ------------------------------------------------------------------------
@pytest.mark.slow
def test_damaged_folders_are_listed_refused_and_retrained(tmp_path):
    sweep = write_sweep(tmp_path, "damage", {}, seeds=range(5))
    out = tmp_path / "out"
    first = runner.invoke(app, ["sweep", str(sweep), "--out", str(out), "--no-pictures"])
    assert first.exit_code == 0, first.output
    folders = complete_runs(out / "damage")
    assert len(folders) == 5
    cut, no_metrics, cut_npz, no_model, intact = folders
    summary = (cut / "summary.json").read_text()
    (cut / "summary.json").write_text(summary[: len(summary) // 2])
    (no_metrics / "metrics.csv").unlink()
    npz = (cut_npz / "weights_final.npz").read_bytes()
    (cut_npz / "weights_final.npz").write_bytes(npz[:-100])
    assert not (no_model / "model.keras").exists()  # a sweep's runs get model.keras on demand, then it is sealed
    runs.ensure_model(no_model)
    assert "model.keras" in run_folder.read_summary(no_model)["files"] and run_folder.is_complete(no_model)
    (no_model / "model.keras").unlink()
    kept = snapshot(intact)

    listing = runner.invoke(app, ["runs", str(out)])
    assert listing.exit_code == 0 and "Traceback" not in listing.output, listing.output
    damaged = {line.split(": ")[1]: line for line in listing.stdout.splitlines() if line.startswith("damaged: ")}
    assert sorted(Path(f).name for f in damaged) == sorted(f.name for f in folders[:4])
    assert "summary.json cannot be read" in damaged[str(cut)]
    assert "metrics.csv is missing" in damaged[str(no_metrics)]
    assert f"weights_final.npz has {len(npz) - 100} bytes, {len(npz)} were written" in damaged[str(cut_npz)]
    assert "model.keras is missing" in damaged[str(no_model)]
    assert "5 runs under" in listing.stdout and "4 damaged" in listing.stdout

    one_line_error(runner.invoke(app, ["plot", str(no_metrics)]), str(no_metrics), "metrics.csv is missing")
    one_line_error(runner.invoke(app, ["plot", str(no_model)]), "model.keras is missing")
    drawn = runner.invoke(app, ["plot", str(intact)])  # pictures drawn later are listed in its summary too
    assert drawn.exit_code == 0, drawn.output
    assert "history.png" in run_folder.read_summary(intact)["files"] and run_folder.is_complete(intact)

    again = runner.invoke(app, ["sweep", str(sweep), "--out", str(out), "--no-pictures"])
    assert again.exit_code == 0, again.output
    for folder in folders[:4]:
        assert f"{folder.name}: damaged (" in again.stderr and "training it again" in again.stderr, again.stderr
    assert "trained 4 runs (0 failed); 1 already complete" in again.stderr, again.stderr
    assert all(run_folder.is_complete(f) for f in folders) and listed(out / "damage") == {f.name for f in folders}
    assert_clean(out / "damage")
    # plot added its pictures and the model.keras it drew from; the records are untouched
    assert {k: v for k, v in snapshot(intact).items() if not k.endswith((".png", ".json", ".keras"))} == \
        {k: v for k, v in kept.items() if not k.endswith(".json")}


def test_arrays_corrupted_at_their_size_are_damage_runs_and_plot_report(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(raw_config(train={"epochs": 1})))
    out = tmp_path / "out"
    assert runner.invoke(app, ["run", str(config), "--out", str(out)]).exit_code == 0
    (folder,) = complete_runs(out / "test")
    npz = bytearray((folder / "weights_final.npz").read_bytes())
    npz[len(npz) // 2] ^= 0xFF  # one flipped byte inside the arrays: the size still matches the seal
    (folder / "weights_final.npz").write_bytes(bytes(npz))
    listing = runner.invoke(app, ["runs", str(out)])
    assert listing.exit_code == 0 and f"damaged: {folder}" in listing.stdout, listing.output
    assert "weights_final.npz has other bytes than were written (same size)" in listing.stdout
    one_line_error(runner.invoke(app, ["plot", str(folder)]), str(folder), "weights_final.npz has other bytes")


# ---- outputs that cannot be written ------------------------------------------------------------------------------
def test_out_under_a_regular_file_is_a_user_error(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(raw_config(train={"epochs": 1})))
    one_line_error(runner.invoke(app, ["run", str(config), "--out", str(tmp_path / "file" / "out")]),
                   "--out", "Not a directory")
    sweep = write_sweep(tmp_path, "under", {})
    one_line_error(runner.invoke(app, ["sweep", str(sweep), "--out", str(tmp_path / "file" / "out")]),
                   "--out", "Not a directory")
    assert (tmp_path / "file").read_text() == "not a folder"


def test_an_out_folder_name_longer_than_the_file_system_allows_is_a_user_error(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(raw_config(train={"epochs": 1})))
    too_long = tmp_path / ("b" * 300)  # NAME_MAX is 255 on common file systems
    one_line_error(runner.invoke(app, ["run", str(config), "--out", str(too_long)]), "--out", "File name too long")
    sweep = write_sweep(tmp_path, "long", {})
    one_line_error(runner.invoke(app, ["sweep", str(sweep), "--out", str(too_long / "inner")]), "--out",
                   "File name too long")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.yaml", "c.yaml", "long.yaml"]  # nothing written


@contextlib.contextmanager
def tmpfs(path: Path, size: str):
    """A small real file system (root only): fills up for real, can be made read-only."""
    path.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root (CAP_SYS_ADMIN); the full-disk test cannot run here")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def fill(folder: Path, leave: int = 0) -> None:
    """Fill the file system of `folder` until a write fails for lack of space, then free `leave` bytes."""
    with open(folder / "filler", "wb", buffering=0) as filler:
        with pytest.raises(OSError) as full:
            while True:
                filler.write(b"\0" * 4096)
    assert full.value.errno == errno.ENOSPC
    os.truncate(folder / "filler", max(0, (folder / "filler").stat().st_size - leave))


@pytest.mark.slow
@pytest.mark.parametrize("leave", [0, 40_000], ids=["full", "nearly-full"])
def test_full_disk_is_a_user_error_and_earlier_runs_are_untouched(tmp_path, leave):
    """Full: the first write fails; nearly full: the small records fit and a later file (weights, model) does not."""
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(raw_config(train={"epochs": 2})))
    with tmpfs(tmp_path / "disk", "2m") as disk:
        out = disk / "out"
        earlier = runner.invoke(app, ["run", str(config), "--out", str(out)])
        assert earlier.exit_code == 0, earlier.output
        before = snapshot(out)
        fill(disk, leave)
        message = one_line_error(runner.invoke(app, ["run", str(config), "--out", str(out), "--set", "seed=1"]),
                                 "--out", "No space left on device")
        print(message)
        one_line_error(runner.invoke(app, ["run", str(config), "--out", str(out)]), "No space left on device")
        (disk / "filler").unlink()
        assert snapshot(out) == before  # the same config's earlier folder, the lock and staging gone
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        one_line_error(runner.invoke(app, ["run", str(config), "--out", str(out), "--set", "seed=1"]),
                       "--out", "Read-only file system")
        assert snapshot(out) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes whatever the permissions say")
def test_permission_denied_is_a_user_error(tmp_path):
    sweep = write_sweep(tmp_path, "locked", {}, seeds=[0])
    out = tmp_path / "out"
    assert runner.invoke(app, ["sweep", str(sweep), "--out", str(out), "--no-pictures"]).exit_code == 0
    before = snapshot(out)
    (out / "locked").chmod(0o555)
    try:
        one_line_error(runner.invoke(app, ["sweep", str(sweep), "--out", str(out), "--rerun"]),
                       "--out", "Permission denied")
    finally:
        (out / "locked").chmod(0o755)
    assert snapshot(out) == before


# ---- signals, with real processes ----------------------------------------------------------------------------------
LONG_ENOUGH = 1000  # epochs of a sweep's run that a signal must catch in the middle of the sweep (~1 s a run)


def wait_for(condition, process: subprocess.Popen, what: str, limit: float = 240) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{what} did not happen"
        time.sleep(0.05)


def stop(process: subprocess.Popen, signum: int) -> tuple[str, float]:
    """Send a real signal; the stderr and the seconds it took to exit (printed: the README quotes them)."""
    sent = time.monotonic()
    process.send_signal(signum)
    try:
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    took = time.monotonic() - sent
    print(f"{signal.Signals(signum).name}: exit {process.returncode} after {took:.2f} s")
    return stderr, took


@pytest.mark.slow
def test_sigterm_during_run_writes_nothing(tmp_path):
    config = tmp_path / "long.yaml"
    config.write_text(yaml.safe_dump(raw_config(name="long", train={"epochs": 200_000})))
    out = tmp_path / "out"
    process = subprocess.Popen([*initlab_command(), "run", str(config), "--out", str(out)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    # the staging folder is made once the model is built, before the first epoch
    wait_for(lambda: list((out / "long").glob(".*.tmp")) if (out / "long").is_dir() else [], process, "training")
    stderr, _ = stop(process, signal.SIGTERM)
    assert process.returncode == 143, stderr
    assert stderr.strip().splitlines()[-1].startswith("interrupted (SIGTERM): nothing was written"), stderr
    assert "Traceback" not in stderr
    assert not out.exists()  # no run folder, staging, lock or empty folder left


def children_of(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


@pytest.mark.slow
def test_sigterm_during_a_sweep_with_workers_then_resume(tmp_path):
    """--workers 2: the parent stops, its spawned workers with it; the next call trains only what is missing and
    clears what a killed writer left."""
    rates = list(range(8, 16))  # batch sizes: eight groups that cannot share a graph (learning rates now can)
    # runs of ~1 s: with 3 epochs a fast machine finished all 8 between two looks for the first complete one
    sweep = write_sweep(tmp_path, "workers", {"train.batch_size": rates, "train.epochs": [LONG_ENOUGH]})
    out = tmp_path / "out"
    sweep_dir = out / "workers"
    process = subprocess.Popen(sweep_command(sweep, out, "--workers", "2", "--no-pictures"), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    wait_for(lambda: sweep_dir.is_dir() and complete_runs(sweep_dir), process, "a complete run")
    workers = children_of(process.pid)
    assert len(workers) >= 2
    stderr, _ = stop(process, signal.SIGTERM)
    assert process.returncode == 143, stderr
    assert "interrupted (SIGTERM):" in stderr and "Traceback" not in stderr, stderr
    _, alive = psutil.wait_procs(workers, timeout=30)
    assert alive == [], f"workers outlived the sweep: {alive}"
    assert_clean(sweep_dir)
    first = {d.name: (d / "summary.json").stat().st_mtime_ns for d in complete_runs(sweep_dir)}
    assert 1 <= len(first) < len(rates), f"the signal came too late to test resuming: {len(first)} complete"
    (sweep_dir / ".gone.0badc0de.tmp").mkdir()  # what a SIGKILL mid-write leaves behind
    (sweep_dir / run_folder.LOCK).write_text("12345\n")

    again = run_sweep(sweep, out, "--workers", "2", "--no-pictures")
    assert again.returncode == 0, again.stderr
    assert f"trained {len(rates) - len(first)} runs" in again.stderr, again.stderr
    assert_clean(sweep_dir)
    assert not (sweep_dir / run_folder.LOCK).exists()
    assert len(complete_runs(sweep_dir)) == len(rates) and listed(sweep_dir) == {d.name for d in complete_runs(sweep_dir)}
    assert {name: (sweep_dir / name / "summary.json").stat().st_mtime_ns for name in first} == first


@pytest.mark.slow
def test_sigint_during_a_sweep_on_dask(tmp_path):
    distributed = pytest.importorskip("distributed")
    rates = list(range(8, 16))  # batch sizes: eight groups that cannot share a graph (learning rates now can)
    sweep = write_sweep(tmp_path, "dask", {"train.batch_size": rates, "train.epochs": [LONG_ENOUGH]})
    out = tmp_path / "out"
    sweep_dir = out / "dask"
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None)
    try:
        process = subprocess.Popen(sweep_command(sweep, out, "--no-pictures", "--scheduler", cluster.scheduler_address),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
        wait_for(lambda: sweep_dir.is_dir() and complete_runs(sweep_dir), process, "a complete run")
        stderr, _ = stop(process, signal.SIGINT)
    finally:
        cluster.close()
    assert process.returncode == 130, stderr
    assert "interrupted (SIGINT):" in stderr and "Traceback" not in stderr, stderr
    assert_clean(sweep_dir)
    done = complete_runs(sweep_dir)
    assert 1 <= len(done) < len(rates), f"the signal came too late: {len(done)} complete"
    assert listed(sweep_dir) == {d.name for d in done}


# ---- two sweeps at once ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_two_sweeps_at_once_train_each_run_once(tmp_path):
    sweep = write_sweep(tmp_path, "twice", {"train.learning_rate": [0.01, 0.02]}, seeds=[0, 1])
    out = tmp_path / "out"
    processes = [subprocess.Popen(sweep_command(sweep, out, "--no-pictures"), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, cwd=tmp_path) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in processes]
    for process, (_, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr
    trained = [int(m.group(1)) if (m := re.search(r"trained (\d+) runs", stderr)) else 0 for _, stderr in outputs]
    print("trained by each:", trained, [e.strip().splitlines()[0] for _, e in outputs])
    assert sum(trained) == 4, [e for _, e in outputs]
    done = complete_runs(out / "twice")
    assert len(done) == 4 and listed(out / "twice") == {d.name for d in done}
    assert_clean(out / "twice")
    assert all(json.loads((d / "summary.json").read_text())["status"] == "ok" for d in done)
