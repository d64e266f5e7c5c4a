"""A sweep's table (store: table): the runs' records in <sweep>/table/ instead of a folder each, read back by the
report, resume and `keep` exactly as the folders are; train.epochs: 0; the sweep-size limit."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from initlab.cli import app
from initlab.config import limits
from initlab.lab import runs, sweep as sweep_module
from initlab.output import run_folder, sweep_table

from tests.conftest import raw_config

BASE = raw_config(name="base", model={"hidden": [4]}, train={"epochs": 3})
GRID = {"model.kernel_initializer": ["zeros", "he_normal", "glorot_uniform"]}
REPORT = ["sweep.csv", "summary.csv", "differences.csv", "report.md", "loss_curves.png", "activation_std.png",
          "boundaries.png"]
runner = CliRunner()


def write_sweep(folder: Path, name: str, base: dict = BASE, file: str | None = None, **keys) -> Path:
    """A sweep file named `file` (default: the sweep's name) beside its base config."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "base.yaml").write_text(yaml.safe_dump(base))
    path = folder / f"{file or name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "base": "base.yaml", "grid": GRID, "seeds": [0, 1, 2], **keys}))
    return path


def sweep(path: Path, out: Path, on_result=None) -> sweep_module.Plan:
    the_plan = sweep_module.plan(path, [], out)
    sweep_module.execute(the_plan, pictures=False, on_result=on_result)
    return the_plan


def run_dirs(sweep_dir: Path) -> list[str]:
    return sorted(d.name for d in sweep_dir.iterdir() if d.is_dir() and d.name != sweep_table.TABLE)


def without_timing(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k not in ("duration_s", "files", "sha256")}


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """The same 9-run sweep recorded as folders and as a table (the table keeping the first seed's folders)."""
    root = tmp_path_factory.mktemp("both")
    folders = sweep(write_sweep(root, "s", file="f", store="folders"), root / "folders")
    table = sweep(write_sweep(root, "s", file="t", store="table"), root / "table")
    return folders, table


def test_a_table_gives_the_report_of_the_folders_byte_for_byte(both):
    folders, table = both
    assert not folders.table and table.table
    for name in REPORT:
        assert (folders.sweep_dir / name).read_bytes() == (table.sweep_dir / name).read_bytes(), name
    assert len(pd.read_csv(table.sweep_dir / "sweep.csv")) == 9


def test_the_table_holds_each_run_s_records_as_its_folder_does(both):
    folders, table = both
    read = sweep_table.Table(table.sweep_dir)
    assert len(read) == 9 and read.unreadable == []
    for folder in folders.folders:
        pd.testing.assert_frame_equal(read.metrics(folder.name), run_folder.read_metrics(folder), check_exact=True)
        pd.testing.assert_frame_equal(read.layers(folder.name), run_folder.read_layers(folder), check_exact=True)
        expected = without_timing(run_folder.read_summary(folder))
        assert without_timing(read.summary(folder.name)) == expected
        assert list(read.summary(folder.name)) == [k for k in run_folder.read_summary(folder) if k not in ("files", "sha256")]


def test_by_default_the_table_keeps_the_first_seed_of_every_cell(both):
    folders, table = both
    first = sorted(f.name for run, f in zip(table.planned, table.folders) if run.seed == 0)
    assert run_dirs(table.sweep_dir) == first
    assert len(run_dirs(folders.sweep_dir)) == 9


def test_runs_and_tensorboard_say_how_many_runs_live_in_a_table_not_in_folders(both):
    from initlab.cli import app

    _, table = both
    outputs = table.sweep_dir.parent
    listed = runner.invoke(app, ["runs", str(outputs)])
    assert listed.exit_code == 0 and "3 runs under" in listed.stdout  # the kept first seeds
    note = f"9 runs of the sweep in {table.sweep_dir} live in its table ({table.sweep_dir / 'table'}), not in run folders"
    assert note in " ".join(listed.stderr.split()) and "`initlab sweep FILE` prints their report" in listed.stderr
    assert note in " ".join(runner.invoke(app, ["runs", str(table.sweep_dir)]).stderr.split())
    assert sweep_table.tabled(table.sweep_dir.parent.parent) == []  # only a sweep's folder and the ones right below
    logs = runner.invoke(app, ["tensorboard", str(table.sweep_dir), "--logdir", str(outputs.parent / "logs")])
    assert logs.exit_code == 0 and "3 runs written" in logs.stderr
    assert note in " ".join(logs.stderr.split()) and "have no logs here" in logs.stderr


@pytest.mark.slow
def test_keep_writes_exactly_the_asked_run_folders_with_a_folder_sweep_s_bytes(both, tmp_path):
    folders, _ = both
    keep = [{"model.kernel_initializer": "he_normal", "seed": 1}, {"seed": 2}]
    kept = sweep(write_sweep(folders.sweep_dir.parent.parent, "s", file="k", store="table", keep=keep), tmp_path / "out")
    asked = sorted(f.name for run, f in zip(kept.planned, kept.folders)
                   if run.seed == 2 or (run.seed == 1 and run.grid["model.kernel_initializer"] == "he_normal"))
    assert run_dirs(kept.sweep_dir) == asked and len(asked) == 4
    for name in asked:
        mine, theirs = kept.sweep_dir / name, folders.sweep_dir / name
        assert sorted(p.name for p in mine.iterdir()) == sorted(p.name for p in theirs.iterdir())
        records = [p.name for p in theirs.iterdir() if p.name != "summary.json"]
        assert {"metrics.csv", "layers.csv", "weights_final.npz", "signal.csv"} <= set(records)
        for record in records:
            assert (mine / record).read_bytes() == (theirs / record).read_bytes(), f"{name}/{record}"
        assert without_timing(run_folder.read_summary(mine)) == without_timing(run_folder.read_summary(theirs))
        assert run_folder.read_summary(mine)["sha256"] == run_folder.read_summary(theirs)["sha256"]


def test_keep_a_count_keeps_that_many_seeds_of_every_cell(tmp_path):
    path = write_sweep(tmp_path, "s", store="table", keep=2)
    the_plan = sweep_module.plan(path, [], tmp_path / "out")
    assert [run.seed for run, kept in zip(the_plan.planned, the_plan.kept) if kept] == [0, 1] * 3
    the_plan = sweep_module.plan(write_sweep(tmp_path, "s", store="table", keep=0), [], tmp_path / "out")
    assert not any(the_plan.kept)


@pytest.mark.parametrize("keys, key, fragment", [
    ({"store": "table", "keep": [{"model.kernel_init": "zeros"}]}, "keep.0.model.kernel_init",
     "did you mean 'model.kernel_initializer'"),
    ({"store": "table", "keep": [{"seed": 7}]}, "keep.0", "matches no run of the sweep"),
    ({"store": "folders", "keep": 1}, "keep", "with `store: folders` every run has one"),
    ({"store": "tables"}, "store", "'auto', 'folders' or 'table'"),
])
def test_bad_store_and_keep_are_one_line_and_write_nothing(tmp_path, keys, key, fragment):
    path = write_sweep(tmp_path, "s", **keys)
    out = tmp_path / "out"
    result = runner.invoke(app, ["sweep", str(path), "--out", str(out)])
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert "\n" not in line and str(path) in line and key in line and fragment in line, line
    assert not out.exists()


def test_a_big_sweep_goes_to_the_table_unless_told(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep_module, "TABLE_ABOVE", 8)
    assert sweep_module.plan(write_sweep(tmp_path, "s"), [], tmp_path / "out").table  # 9 runs
    assert not sweep_module.plan(write_sweep(tmp_path, "s", store="folders"), [], tmp_path / "out").table
    monkeypatch.setattr(sweep_module, "TABLE_ABOVE", 9)
    assert not sweep_module.plan(write_sweep(tmp_path, "s"), [], tmp_path / "out").table


@pytest.mark.slow
def test_an_interrupted_table_sweep_resumes_without_training_its_complete_runs(both, tmp_path):
    # two training groups (batch sizes): interrupted once the first group is written, the second call trains only
    # the second group, and the report is the uninterrupted one's
    grid = {**GRID, "train.batch_size": [16, 32]}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(BASE))
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"name": "s", "base": "base.yaml", "grid": grid, "seeds": [0, 1, 2],
                                    "store": "table", "keep": 0}))
    seen = []

    def stop_after_one_group(result):
        seen.append(result.config.train.batch_size)
        if len(seen) == 9:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep(path, tmp_path / "resumed", on_result=stop_after_one_group)
    first = sweep_module.plan(path, [], tmp_path / "resumed")
    assert sum(first.done) == 9 and len(sweep_table.parts(first.sweep_dir)) == 1
    trained = []
    sweep_module.execute(first, pictures=False, on_result=lambda result: trained.append(result.config.train.batch_size))
    assert len(trained) == 9 and set(trained) != set(seen)
    whole = sweep(path, tmp_path / "whole")
    for name in ["sweep.csv", "summary.csv", "differences.csv", "report.md"]:
        assert (first.sweep_dir / name).read_bytes() == (whole.sweep_dir / name).read_bytes(), name
    # all done: the next call trains nothing and rewrites nothing
    again = sweep_module.plan(path, [], tmp_path / "resumed")
    assert all(again.done) and sweep_module.current_summary(again) is not None


@pytest.mark.slow
def test_a_damaged_part_is_passed_over_and_its_runs_train_again(both, tmp_path):
    path = write_sweep(tmp_path, "s", store="table", keep=0)
    the_plan = sweep(path, tmp_path / "out")
    (part,) = sweep_table.parts(the_plan.sweep_dir)
    part.write_bytes(part.read_bytes()[:100])  # cut short
    again = sweep_module.plan(path, [], tmp_path / "out")
    assert not any(again.done)
    trained = []
    sweep_module.execute(again, pictures=False, on_result=trained.append)
    assert len(trained) == 9 and len(sweep_table.Table(again.sweep_dir)) == 9


@pytest.mark.slow
def test_epochs_0_measures_the_initialization_alone(tmp_path):
    # a run of 0 epochs: layers.csv's epoch 0 rows are those of the same run trained, metrics.csv has no row, and
    # summary.json's final figures are the initial weights' loss and accuracy
    for engine in ("fast", "keras"):
        trained = runs.run(runs_config(tmp_path, engine, epochs=3), tmp_path / "out")
        measured = runs.run(runs_config(tmp_path, engine, epochs=0), tmp_path / "out")
        layers = run_folder.read_layers(measured)
        assert set(layers["epoch"]) == {0}
        before = run_folder.read_layers(trained)
        pd.testing.assert_frame_equal(layers, before[before["epoch"] == 0].reset_index(drop=True), rtol=1e-6)
        assert (measured / "metrics.csv").read_text().splitlines() == ["epoch,loss,accuracy,val_loss,val_accuracy"]
        summary = run_folder.read_summary(measured)
        assert summary["epochs_run"] == 0 and summary["status"] == "ok"
        model = runs.initial_model(measured)
        data = runs.load_data(runs.saved_config(measured, "config.yaml"))
        loss, accuracy = model.evaluate(data.x_train, data.y_train, verbose=0)[:2]
        assert summary["final"]["loss"] == pytest.approx(loss, rel=1e-5)
        assert summary["final"]["accuracy"] == pytest.approx(accuracy, abs=1e-6)
        with np.load(measured / "weights_initial.npz") as start, np.load(measured / "weights_final.npz") as end:
            assert all(np.array_equal(start[k], end[k]) for k in start)


def runs_config(tmp_path, engine: str, epochs: int):
    from initlab.config import experiment as config_module

    raw = raw_config(name=f"init_{engine}", model={"hidden": [4], "kernel_initializer": "he_normal"},
                     train={"epochs": epochs, "engine": engine})
    return config_module.validate(raw)


@pytest.mark.slow
def test_an_epochs_0_sweep_reports_from_its_table(tmp_path):
    base = raw_config(name="base", model={"hidden": [4]}, train={"epochs": 0})
    measured = sweep(write_sweep(tmp_path, "s", base=base, file="t", store="table", keep=0), tmp_path / "out")
    folders = sweep(write_sweep(tmp_path, "s", base=base, file="f", store="folders"), tmp_path / "out_f")
    for name in REPORT[:-1]:  # boundaries.png: drawn from kept folders, and none is kept here
        assert (measured.sweep_dir / name).read_bytes() == (folders.sweep_dir / name).read_bytes(), name
    frame = pd.read_csv(measured.sweep_dir / "sweep.csv")
    assert set(frame["epochs_run"]) == {0} and frame["loss"].notna().all()
    zeros = frame[frame["model.kernel_initializer"] == "zeros"]
    assert np.allclose(zeros["loss"], np.log(2), atol=1e-6)  # all-zero weights: sigmoid(0) = 0.5 everywhere


def test_seeds_may_be_a_count(tmp_path):
    counted = sweep_module.load_sweep(write_sweep(tmp_path / "a", "s", seeds=3))[1]
    listed = sweep_module.load_sweep(write_sweep(tmp_path / "b", "s", seeds=[0, 1, 2]))[1]
    assert [(r.seed, r.grid) for r in counted] == [(r.seed, r.grid) for r in listed]


def test_a_seed_count_past_the_limit_is_one_line_exit_2_and_writes_nothing(tmp_path):
    path = write_sweep(tmp_path, "s", seeds=limits.MAX_SWEEP_RUNS)  # x 3 initializers
    out = tmp_path / "out"
    for command in (["sweep", str(path), "--out", str(out)], ["validate", str(path)]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, result.output
        line = result.stderr.strip()
        assert "\n" not in line and str(path) in line and "seeds" in line, line
        assert f"{3 * limits.MAX_SWEEP_RUNS:,}, over the limit of {limits.MAX_SWEEP_RUNS:,}" in line
        assert "--allow-large" in line
        assert not out.exists()


def test_the_limit_is_raised_to_what_the_table_keeps_bounded():
    assert limits.MAX_SWEEP_RUNS >= 10**5 > sweep_module.TABLE_ABOVE


def test_a_part_keeps_the_bits_of_every_value(tmp_path):
    # float64 statistics stay float64; float32 metrics are stored as float32 (nothing lost either way); whole
    # numbers with gaps come back as a CSV reader gives them (float), without gaps as whole numbers
    history = [{"epoch": 1, "loss": float(np.float32(0.1)), "accuracy": 0.5, "val_loss": float("nan"),
                "val_accuracy": float("inf")}]
    rows = [{"epoch": 0, "layer": "hidden_1", "units": 4, "activation_mean": 0.1, "activation_std": 1 / 3,
             "dead_fraction": 0.0, "saturated_fraction": 0.0, "weight_mean": 0.0, "weight_std": 1.0, "grad_norm": 2.0,
             "distinct_units": None},
            {"epoch": 0, "layer": "output", "units": 1, "activation_mean": 0.2, "activation_std": 0.5,
             "dead_fraction": 0.0, "saturated_fraction": 0.0, "weight_mean": 0.0, "weight_std": 1.0, "grad_norm": 2.0,
             "distinct_units": 1}]
    columns = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
    with sweep_table.Writer(tmp_path) as writer:
        writer.add("a", {"status": "ok", "final": {"loss": 0.25}}, columns, history, rows)
        writer.add("b", {"status": "ok", "final": {"loss": 0.5}}, columns, history, rows[1:])
    table = sweep_table.Table(tmp_path)
    pd.testing.assert_frame_equal(table.metrics("a"), pd.DataFrame(history), check_exact=True)
    assert table.layers("a")["activation_std"][0] == 1 / 3
    assert table.layers("a")["distinct_units"].dtype == np.float64 and table.layers("b")["distinct_units"].dtype == np.int64
    assert table.summary("b") == {"status": "ok", "final": {"loss": 0.5}}
    with np.load(sweep_table.parts(tmp_path)[0]) as part:
        assert part["metrics.loss"].dtype == np.float32 and part["layers.activation_std"].dtype == np.float64
        assert json.loads(part["header"].tobytes())["common"] == {"status": "ok"}


TABLE_ONLY_GROUPS = {  # (model keys, grid): plain initializers; RAI's [W; b] from the kernel's seed; residual blocks
    "plain": ({"hidden": [6, 3]},
              {"model.kernel_initializer": ["orthogonal", {"name": "random_uniform", "minval": 0.0, "maxval": 1.0},
                                            "he_normal"], "model.bias_initializer": ["zeros", "random_normal"]}),
    "rai": ({"hidden": [6, 3], "kernel_initializer": "rai"}, {"model.bias_initializer": ["rai", "zeros", "random_normal"]}),
    "residual": ({"hidden": [6], "residual": {"blocks": 2, "branch_init": "fixup"}},
                 {"model.kernel_initializer": ["he_normal", "glorot_uniform"]}),
}


@pytest.mark.slow
@pytest.mark.parametrize("group", list(TABLE_ONLY_GROUPS))
def test_a_table_only_group_draws_in_batches_the_bytes_of_solo_draws(tmp_path, group):
    # a big sweep's group (no run folder to write) draws each initializer's weights for all members at once: the
    # members' weights, records and final figures are the bytes of the group drawn member by member
    from initlab.train import population

    model, grid = TABLE_ONLY_GROUPS[group]
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(raw_config(name="base", model=model, train={"epochs": 2})))
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"name": "s", "base": "base.yaml", "grid": grid, "seeds": 2}))
    the_plan = sweep_module.plan(path, [], tmp_path / "out")
    data = the_plan.data_for(the_plan.resolved[0])
    population.forget_compiled()
    solo = population.train_population(the_plan.resolved, data, extras=True)
    population.forget_compiled()
    batched = population.train_population(the_plan.resolved, data, extras=False)
    assert population._kept[1].batched
    for one, other in zip(solo, batched):
        assert other.signal is None and one.signal is not None
        assert one.history == other.history and one.final == other.final
        assert pd.DataFrame(one.layer_rows).equals(pd.DataFrame(other.layer_rows))  # NaN (a block sum's weights) alike
        for name in one.weights_initial:
            assert np.array_equal(one.weights_initial[name], other.weights_initial[name])
            assert np.array_equal(one.weights_final[name], other.weights_final[name])


@pytest.mark.slow
def test_compare_on_a_user_s_model_reports_the_same_from_its_table(tmp_path):
    import keras

    from initlab.lab.compare import compare

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    found = {}
    for store in ("folders", "table"):
        summary, folder = compare(model, (x, y), {"kernel": ["glorot_uniform", "he_normal"]}, seeds=2,
                                  train={"epochs": 2}, out=tmp_path / store, store=store)
        found[store] = (summary, folder)
    (folders_summary, by_folders), (table_summary, by_table) = found["folders"], found["table"]
    pd.testing.assert_frame_equal(folders_summary, table_summary)
    assert (by_table / sweep_table.TABLE).is_dir() and len(sweep_table.Table(by_table)) == 4
    for name in ["sweep.csv", "summary.csv", "init_scale.csv", "report.md", "activation_std.png"]:
        assert (by_folders / name).read_bytes() == (by_table / name).read_bytes(), name
