"""Issue 4, how a sweep executes: resuming after Ctrl-C, failed runs, spawned worker processes and a Dask cluster.

Every sweep here really trains (tiny: a few epochs on the U-shape set) in a real `initlab sweep` process."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from initlab.cli import app

from tests.conftest import initlab_command, raw_config

RECORDS = ["metrics.csv", "layers.csv", "weights_initial.npz", "weights_final.npz"]
BASE = raw_config(name="base", model={"hidden": [4]}, train={"epochs": 3})


def write_sweep(folder: Path, name: str, grid: dict, seeds=(0,)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "base.yaml").write_text(yaml.safe_dump(BASE))
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "base": "base.yaml", "grid": grid, "seeds": list(seeds)}))
    return path


def sweep_command(sweep: Path, out: Path, *extra: str) -> list[str]:
    return [*initlab_command(), "sweep", str(sweep), "--out", str(out), *extra]


def run_sweep(sweep: Path, out: Path, *extra: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(sweep_command(sweep, out, *extra), capture_output=True, text=True, timeout=timeout,
                          cwd=sweep.parent)


def complete_runs(sweep_dir: Path) -> list[Path]:
    return sorted(d for d in sweep_dir.iterdir() if d.is_dir() and not d.name.startswith(".") and (d / "summary.json").is_file())


def run_folders(sweep_dir: Path) -> list[Path]:
    return sorted(d for d in sweep_dir.iterdir() if d.is_dir() and not d.name.startswith("."))


def listed(sweep_dir: Path) -> set[str]:
    text = (sweep_dir / "sweep.csv").read_text()
    return set() if not text.strip() else set(pd.read_csv(sweep_dir / "sweep.csv")["run_id"])


def assert_clean(sweep_dir: Path) -> None:
    """No half-written run folder counts as complete: every visible folder has its summary, no staging is left."""
    for folder in run_folders(sweep_dir):
        assert (folder / "summary.json").is_file(), f"{folder.name} is visible without its summary.json"
    hidden = [d.name for d in sweep_dir.iterdir() if d.name.startswith(".")]
    assert not [n for n in hidden if n.endswith(".tmp") or n.endswith(".old")], hidden


# ---- 1. Ctrl-C, then the same command again ------------------------------------------------------------------
@pytest.mark.slow
def test_interrupted_sweep_resumes_where_it_stopped(tmp_path):
    # Eight batch sizes: eight groups that cannot share a graph, each trained alone (and drawn: <= 12 runs).
    rates = list(range(8, 16))
    sweep = write_sweep(tmp_path, "resume", {"train.batch_size": rates})
    out = tmp_path / "out"
    sweep_dir = out / "resume"
    process = subprocess.Popen(sweep_command(sweep, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=tmp_path)
    try:
        deadline = time.monotonic() + 180
        while not (sweep_dir.is_dir() and complete_runs(sweep_dir)):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no run completed in time"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr, stderr
    assert_clean(sweep_dir)
    first = {d.name: (d / "summary.json").stat().st_mtime_ns for d in complete_runs(sweep_dir)}
    assert 1 <= len(first) < len(rates), f"the interrupt came too late to test resuming: {len(first)} complete"
    assert listed(sweep_dir) == set(first)

    again = run_sweep(sweep, out)
    assert again.returncode == 0, again.stderr
    assert_clean(sweep_dir)
    done = complete_runs(sweep_dir)
    assert len(done) == len(rates)
    # only the missing runs trained: the earlier folders were not touched
    assert {name: (sweep_dir / name / "summary.json").stat().st_mtime_ns for name in first} == first
    assert listed(sweep_dir) == {d.name for d in done}
    assert all(json.loads((d / "summary.json").read_text())["status"] == "ok" for d in done)


COMPANY_GRID = {"model.kernel_initializer": ["he_normal", "glorot_uniform", "zeros", {"name": "random_normal", "stddev": 0.3}]}


@pytest.mark.slow
def test_a_resumed_sweep_writes_the_bytes_of_an_uninterrupted_one(tmp_path):
    """Runs lost to an interruption or damage train again in their whole population, not in a smaller one of their
    own, so their files are the bytes the uninterrupted sweep wrote (a run's float32 numbers depend on its company in
    the last bits: measured up to ~1e-7); the runs that were done are not written again."""
    sweep = write_sweep(tmp_path, "company", COMPANY_GRID, seeds=(0, 1, 2))
    raw = yaml.safe_load(sweep.read_text())
    sweep.write_text(yaml.safe_dump({**raw, "set": {"model.hidden": [10], "train.epochs": 25}}))
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    first = CliRunner().invoke(app, ["sweep", str(sweep), "--out", str(whole), "--no-pictures"])
    assert first.exit_code == 0, first.output
    shutil.copytree(whole, resumed)
    folders = run_folders(resumed / "company")
    assert len(folders) == 12 and {json.loads((f / "summary.json").read_text())["population"] for f in folders} == {12}
    lost = folders[::3]
    for folder in lost:
        shutil.rmtree(folder)
    kept = {f.name: (f / "summary.json").stat().st_mtime_ns for f in folders if f not in lost}
    again = CliRunner().invoke(app, ["sweep", str(sweep), "--out", str(resumed), "--no-pictures"])
    assert again.exit_code == 0, again.output
    assert "trained 4 runs" in again.output
    for folder in lost:
        for name in RECORDS:
            assert (folder / name).read_bytes() == (whole / "company" / folder.name / name).read_bytes(), name
    assert {name: (resumed / "company" / name / "summary.json").stat().st_mtime_ns for name in kept} == kept


# ---- 2. failed runs --------------------------------------------------------------------------------------------
# A real training-time failure that passes validation and planning (plan loads the data but builds no model):
# sparse categorical cross-entropy on the binary U-shape: the one sigmoid unit makes the label 1 an out-of-range
# class index (TensorFlow's GatherV2 fails when the loss is computed). Its population fails, then each member
# alone. (A population with one bad member among healthy ones cannot be written as a config any more: the
# initializer registry refuses the list-valued constant that used to fail only when drawn. The fall-back to
# training members alone is covered by test_failed_group_in_process.)
# A loss that does not fit the task fails when its run is prepared, with initlab's own one-line reason (runs.check);
# if sweep planning ever checks it, this sweep exits 2 instead and these tests need another failure
# (test_failed_group_in_process does not depend on it).
FAILING_GRID = {
    "train.loss": ["binary_crossentropy", "sparse_categorical_crossentropy"],
    "model.kernel_initializer": ["glorot_uniform", "he_uniform"],
}


@pytest.mark.slow
def test_failed_runs_are_recorded_and_the_sweep_goes_on(tmp_path):
    sweep = write_sweep(tmp_path, "failing", FAILING_GRID)
    out = tmp_path / "out"
    done = run_sweep(sweep, out, "--no-pictures")
    assert done.returncode == 0, done.stderr  # failures are recorded, not fatal without --fail-fast
    sweep_dir = out / "failing"
    assert_clean(sweep_dir)
    table = pd.read_csv(sweep_dir / "sweep.csv")
    assert len(table) == 4
    for _, row in table.iterrows():
        summary = json.loads((sweep_dir / row["run_id"] / "summary.json").read_text())
        assert row["status"] == summary["status"]
        if row["train.loss"] == "sparse_categorical_crossentropy":
            assert summary["status"] == "failed"
            assert "does not fit a binary task" in summary["error"] and "{{function_node" not in summary["error"]
            assert sorted(os.listdir(sweep_dir / row["run_id"])) == ["config.yaml", "summary.json"]
        else:  # the healthy population trained together
            assert summary["status"] == "ok" and summary["error"] is None and summary["population"] == 2
            assert all((sweep_dir / row["run_id"] / name).is_file() for name in RECORDS)
    assert (table["status"] == "failed").sum() == 2

    # the failed runs are not complete for a rerun: they train again (and fail again); the healthy ones are kept
    healthy = {r: (sweep_dir / r / "summary.json").stat().st_mtime_ns for r in table.loc[table.status == "ok", "run_id"]}
    again = run_sweep(sweep, out, "--no-pictures")
    assert again.returncode == 0, again.stderr
    assert {r: (sweep_dir / r / "summary.json").stat().st_mtime_ns for r in healthy} == healthy


@pytest.mark.slow
def test_fail_fast_stops_after_the_first_failure(tmp_path):
    sweep = write_sweep(tmp_path, "failing", {**FAILING_GRID, "train.loss": FAILING_GRID["train.loss"][::-1]})
    out = tmp_path / "out"
    done = run_sweep(sweep, out, "--no-pictures", "--fail-fast")
    assert done.returncode == 1, done.stderr
    assert "a run failed" in done.stderr and "does not fit a binary task" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    sweep_dir = out / "failing"
    assert_clean(sweep_dir)
    # the first group (sparse categorical cross-entropy: both runs fail) is written whole; the binary
    # cross-entropy group never trained
    table = pd.read_csv(sweep_dir / "sweep.csv")
    assert sorted(table["status"]) == ["failed", "failed"]
    assert set(table["train.loss"]) == {"sparse_categorical_crossentropy"}
    assert len(run_folders(sweep_dir)) == len(table) == 2


@pytest.mark.slow
def test_a_sweep_whose_runs_all_failed_still_reports(tmp_path):
    sweep = write_sweep(tmp_path, "allfail", {"train.loss": ["sparse_categorical_crossentropy"]})
    done = run_sweep(sweep, tmp_path / "out", "--no-pictures")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert list(pd.read_csv(tmp_path / "out" / "allfail" / "sweep.csv")["status"]) == ["failed"]


def test_failed_group_in_process(tmp_path, config_factory):
    """A csv data set that is fine at plan time and gone when the group trains: every run of the group fails
    (population and alone), with the missing file in its error, and nothing is raised."""
    from initlab.lab import dispatch, sweep as sweep_module

    csv = tmp_path / "points.csv"
    shutil.copy(Path(__file__).parents[1] / "initlab" / "datasets" / "ushape.csv", csv)
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({**BASE, "data": {"dataset": "csv", "path": "points.csv",
                                                                       "features": ["X", "Y"], "target": "class"}}))
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({"name": "gone", "base": "base.yaml", "seeds": [0, 1],
                                                     "grid": {"model.kernel_initializer": ["he_normal", "glorot_uniform"]}}))
    plan = sweep_module.plan(tmp_path / "s.yaml", [], tmp_path / "out")
    groups = sweep_module.groups(plan.resolved)
    assert [len(g) for g in groups] == [4]
    csv.unlink()
    for group in ([plan.resolved[i] for i in groups[0]], [plan.resolved[0]]):
        results = dispatch.train_group(group)
        assert len(results) == len(group)
        assert all(r.error and "points.csv" in r.error for r in results), [r.error for r in results]


# ---- 3. local worker processes ---------------------------------------------------------------------------------
# Four populations of two (activation x batch size; initializers share a graph): four groups for the pool.
PARALLEL_GRID = {
    "model.activation": ["relu", "tanh"],
    "train.batch_size": [16, 32],
    "model.kernel_initializer": ["glorot_uniform", "he_normal"],
}


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    """The parallel sweep trained in one process: the reference for workers and Dask."""
    folder = tmp_path_factory.mktemp("local")
    sweep = write_sweep(folder, "parallel", PARALLEL_GRID)
    started = time.perf_counter()
    done = run_sweep(sweep, folder / "out", "--no-pictures", "--workers", "1")
    assert done.returncode == 0, done.stderr
    print(f"--workers 1: {time.perf_counter() - started:.1f} s")
    return sweep, folder / "out" / "parallel"


def assert_same_records(reference: Path, other: Path) -> None:
    names = [d.name for d in complete_runs(reference)]
    assert len(names) == 8 and [d.name for d in complete_runs(other)] == names
    for name in names:
        for record in RECORDS:
            assert (reference / name / record).read_bytes() == (other / name / record).read_bytes(), f"{name}/{record}"
        summary = json.loads((other / name / "summary.json").read_text())
        assert summary["status"] == "ok" and summary["population"] == 2
    assert listed(other) == set(names)


@pytest.mark.slow
def test_workers_give_the_same_bytes(local_sweep, tmp_path):
    sweep, reference = local_sweep
    started = time.perf_counter()
    done = run_sweep(sweep, tmp_path / "out", "--no-pictures", "--workers", "2")
    assert done.returncode == 0, done.stderr
    print(f"--workers 2: {time.perf_counter() - started:.1f} s")
    assert_same_records(reference, tmp_path / "out" / "parallel")


# ---- 4. Dask -------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_dask_cluster_gives_the_same_bytes(local_sweep, tmp_path):
    distributed = pytest.importorskip("distributed")
    sweep, reference = local_sweep
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None)
    try:
        started = time.perf_counter()
        # the workers' current folder is this test process's; --out is relative to the client's: only the
        # client (the initlab process) can put the folders there
        done = subprocess.run(sweep_command(sweep, Path("out"), "--no-pictures", "--scheduler", cluster.scheduler_address),
                              capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        print(f"--scheduler (2 Dask workers): {time.perf_counter() - started:.1f} s")
        with distributed.Client(cluster) as client:
            worker_dirs = set(client.run(os.getcwd).values())
    finally:
        cluster.close()
    assert str(tmp_path) not in worker_dirs
    assert not any((Path(d) / "out").exists() for d in worker_dirs)  # nothing written where the workers run
    assert_same_records(reference, tmp_path / "out" / "parallel")


# ---- 5. --scheduler without the distributed extra -------------------------------------------------------------------
def test_scheduler_without_distributed_is_a_user_error(tmp_path, monkeypatch):
    sweep = write_sweep(tmp_path, "nodask", {"model.kernel_initializer": ["he_normal", "glorot_uniform"]})
    out = tmp_path / "out"
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` raises ImportError
    result = CliRunner().invoke(app, ["sweep", str(sweep), "--out", str(out), "--scheduler", "tcp://127.0.0.1:8786"])
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert message.startswith("error: --scheduler:") and "pip install 'initlab[distributed]'" in message, message
    assert not out.exists()
