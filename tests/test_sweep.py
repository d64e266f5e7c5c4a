"""Issue 4, sweep files and grouping: expansion, labels, bad input, which runs share a population, and a tiny
real sweep end to end through the CLI (tables, pictures, skipping complete runs, --rerun, --dry-run)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from initlab.cli import app
from initlab.lab import sweep
from initlab.train import model as model_module

from tests.conftest import make_config, raw_config
from tests.test_cli_errors import assert_user_error

runner = CliRunner()
WIDE = {"COLUMNS": "300"}  # Rich tables shorten cells to the terminal's width; run ids must show whole
BASE = raw_config(name="base", model={"hidden": [4]}, train={"epochs": 50})


def write_sweep(folder: Path, body: dict | str, name: str = "sweep.yaml") -> Path:
    """A sweep file (a mapping, or raw YAML text) beside base.yaml."""
    (folder / "base.yaml").write_text(yaml.safe_dump(BASE))
    path = folder / name
    path.write_text(body if isinstance(body, str) else yaml.safe_dump(body, sort_keys=False))
    return path


def invoke(path: Path, out: Path, *extra: str):
    return runner.invoke(app, ["sweep", str(path), "--out", str(out), *extra], env=WIDE)


def dry_run_rows(result) -> list[list[str]]:
    """The --dry-run table's body rows as lists of cells."""
    return [[cell.strip() for cell in line.split("│")[1:-1]] for line in result.stdout.splitlines() if line.startswith("│")]


# ---- expansion -------------------------------------------------------------------------------------------------
def test_expansion_is_cases_times_grid_times_seeds(tmp_path):
    path = write_sweep(tmp_path, {
        "name": "expand",
        "base": "base.yaml",
        "set": {"model.hidden": [6], "train.learning_rate": 0.01},
        "grid": {"model.kernel_initializer": ["he_normal", {"name": "random_normal", "stddev": 0.01}],
                 "model.activation": ["relu", "tanh", "sigmoid"]},
        "cases": [{"label": "shallow"}, {"label": "deep", "model.hidden": [3, 3], "train.optimizer": "sgd"}],
        "seeds": [0, 1, 7],
    })
    the_sweep, planned = sweep.load_sweep(path, ["train.epochs=4", "train.batch_size=16"])
    assert the_sweep.name == "expand" and len(planned) == 2 * 2 * 3 * 3
    combos = [(run.case, run.config.model.kernel_initializer.raw, run.config.model.activation, run.seed) for run in planned]
    assert len(set(map(json.dumps, combos))) == 36  # every combination once
    for run in planned:
        config = run.config
        assert config.name == "expand" and config._source == (tmp_path / "base.yaml").resolve()
        assert (config.train.epochs, config.train.batch_size) == (4, 16)  # --set reaches every run
        assert config.train.learning_rate == 0.01  # the file's set: too
        assert config.model.hidden == ([3, 3] if run.case == "deep" else [6])  # a case's keys beat set:
        assert config.train.optimizer == ("sgd" if run.case == "deep" else "adam")
        assert run.grid == {"model.kernel_initializer": sweep._label(config.model.kernel_initializer.raw),
                            "model.activation": config.model.activation}
    assert [run.seed for run in planned[:3]] == [0, 1, 7]  # seeds vary fastest, then the grid, then the cases
    assert {run.grid["model.kernel_initializer"] for run in planned} == {"he_normal", "random_normal(stddev=0.01)"}
    assert planned[0].describe() == "case shallow, model.kernel_initializer=he_normal, model.activation=relu, seed=0"


def test_a_sweep_without_grid_or_cases_is_its_seeds(tmp_path):
    _, planned = sweep.load_sweep(write_sweep(tmp_path, {"name": "seeds", "base": "base.yaml", "seeds": [3, 4]}))
    assert [(run.seed, run.grid, run.case) for run in planned] == [(3, {}, None), (4, {}, None)]
    _, planned = sweep.load_sweep(write_sweep(tmp_path, {"name": "one", "base": "base.yaml"}))
    assert [run.seed for run in planned] == [0]


@pytest.mark.parametrize("value, label", [
    ("he_normal", "he_normal"),
    ({"name": "random_normal", "stddev": 0.01}, "random_normal(stddev=0.01)"),
    ({"name": "random_uniform", "minval": 0.0, "maxval": 1.0}, "random_uniform(minval=0.0, maxval=1.0)"),
    ([8, 8], "[8, 8]"),
    (0.001, "0.001"),
    (None, "null"),
    (True, "true"),
])
def test_labels(value, label):
    assert sweep._label(value) == label


def test_values_reach_the_runs_as_written(tmp_path):
    """1e-05 is a float in the sweep file and must stay one (JSON text parsed again as YAML made it the string
    '1e-05', and the initializer failed)."""
    path = write_sweep(tmp_path, "name: tiny\nbase: base.yaml\nset: {model.bias_initializer: {name: constant, value: 0.00001}}\n"
                                 "grid:\n  model.kernel_initializer: [{name: random_normal, stddev: 0.00001}]\n"
                                 "  train.learning_rate: [0.00001]\n")
    (run,) = sweep.load_sweep(path)[1]
    assert run.config.model.kernel_initializer.raw == {"name": "random_normal", "stddev": 1e-05}
    assert run.config.model.bias_initializer.raw == {"name": "constant", "value": 1e-05}
    assert run.config.train.learning_rate == 1e-05


# ---- bad input -----------------------------------------------------------------------------------------------------
BASE_SWEEP = "name: bad\nbase: base.yaml\n"
BAD = {  # the sweep file's text, --set options, fragments the one-line message must hold (besides the file)
    "unknown_key": (BASE_SWEEP + "grdi: {model.hidden: [[2]]}\n", [], ["grdi", "did you mean 'grid'", "allowed: name, base"]),
    "missing_base": ("name: bad\nbase: nowhere.yaml\n", [], ["base", "no such run config", "nowhere.yaml"]),
    "missing_name": ("base: base.yaml\n", [], ["name", "missing"]),
    "bad_run": (BASE_SWEEP + "grid: {model.kernel_initializer: [he_normal, he_nromal]}\nseeds: [0, 1]\n", [],
                ["(run model.kernel_initializer=he_nromal, seed=0)", "model.kernel_initializer",
                 "unknown initializer 'he_nromal'", "did you mean 'he_normal'"]),
    "bad_case": (BASE_SWEEP + "cases: [{label: ok}, {label: wide, model.hidden: many}]\n", [],
                 ["(run case wide, seed=0)", "model.hidden", "'many'"]),
    "unknown_run_key": (BASE_SWEEP + "grid: {model.hiden: [[2]]}\n", [], ["model.hiden", "did you mean 'hidden'"]),
    "empty_grid_list": (BASE_SWEEP + "grid: {model.kernel_initializer: []}\n", [],
                        ["grid.model.kernel_initializer", "at least 1 item", "got []"]),
    "grid_not_mapping": (BASE_SWEEP + "grid: model.hidden\n", [], ["grid", "valid dictionary", "'model.hidden'"]),
    "grid_value_not_list": (BASE_SWEEP + "grid: {model.hidden: 4}\n", [], ["grid.model.hidden", "valid list", "got 4"]),
    "grid_path_through_a_list": (BASE_SWEEP + "grid: {model.hidden.units: [1]}\n", [],
                                 ["grid.model.hidden.units", "'model.hidden' is [4], not a mapping"]),
    "grid_seed": (BASE_SWEEP + "grid: {seed: [1, 2]}\n", [], ["grid", "'seed' cannot be set here", "seeds"]),
    "case_name": (BASE_SWEEP + "cases: [{label: a, name: other}]\n", [], ["cases", "'name' cannot be set here"]),
    "case_without_label": (BASE_SWEEP + "cases: [{label: a}, {model.hidden: [3]}]\n", [],
                           ["cases", "distinct `label`", "case 1 has none"]),
    "case_labels_repeat": (BASE_SWEEP + "cases: [{label: a}, {label: b}, {label: a, model.hidden: [3]}]\n", [],
                           ["cases", "distinct `label`", "'a' is given twice"]),
    "seeds_not_a_list": (BASE_SWEEP + "seeds: x\n", [], ["seeds", "valid integer", "got 'x'"]),
    "seeds_count_0": (BASE_SWEEP + "seeds: 0\n", [], ["seeds", "greater than or equal to 1", "got 0"]),
    "seeds_empty": (BASE_SWEEP + "seeds: []\n", [], ["seeds", "at least 1 item"]),
    "seed_text": (BASE_SWEEP + "seeds: [0, x]\n", [], ["seeds.1", "valid integer", "'x'"]),
    "seed_fraction": (BASE_SWEEP + "seeds: [0, 1.5]\n", [], ["seeds.1", "fractional part", "1.5"]),
    "seed_bool": (BASE_SWEEP + "seeds: [true]\n", [], ["seeds.0", "expected a number, got true"]),
    "seed_negative": (BASE_SWEEP + "seeds: [-1]\n", [], ["seeds.0", "greater than or equal to 0"]),
    "yaml_syntax": (BASE_SWEEP + "grid: {model.hidden: [[2], [3]\n", [], ["invalid YAML", "line 4"]),
    "same_run_twice": (BASE_SWEEP + "grid: {model.kernel_initializer: [he_normal, zeros, he_normal]}\n", [],
                       ["runs model.kernel_initializer=he_normal, seed=0 and model.kernel_initializer=he_normal, seed=0",
                        "same config"]),
    "bad_cli_set": (BASE_SWEEP + "grid: {model.kernel_initializer: [zeros]}\n", ["--set", "train.epochs=-1"],
                    ["(run model.kernel_initializer=zeros, seed=0)", "(--set train.epochs)", "train.epochs",
                     "greater than or equal to 0"]),
    "cli_set_syntax": (BASE_SWEEP, ["--set", "train.epochs"], ["--set", "expected KEY.PATH=VALUE"]),
    "cli_set_on_a_grid_key": (BASE_SWEEP + "grid: {model.activation: [relu, tanh]}\n", ["--set", "model.activation=selu"],
                              ["--set", "model.activation", "the sweep varies this key"]),
}


@pytest.mark.parametrize("case", BAD)
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry_run", "train"])
def test_bad_sweep_is_one_clear_message_and_writes_nothing(tmp_path, case, dry_run):
    text, extra, fragments = BAD[case]
    path = write_sweep(tmp_path, text, "bad_sweep.yaml")
    out = tmp_path / "outputs"
    result = invoke(path, out, *extra, *(["--dry-run"] if dry_run else []))
    message = assert_user_error(result, out, *fragments)
    if case not in ("cli_set_syntax", "cli_set_on_a_grid_key"):
        assert message.startswith(f"error: {path}"), message  # names the sweep file first


def test_missing_sweep_file(tmp_path):
    out = tmp_path / "outputs"
    assert_user_error(invoke(tmp_path / "nope.yaml", out, "--dry-run"), out, "nope.yaml", "no such file")


# ---- grouping --------------------------------------------------------------------------------------------------
def _resolved(**sections):
    return model_module.with_task_defaults(make_config(**sections), "binary")


def test_initializers_seeds_and_set_weights_share_a_group():
    configs = [
        _resolved(model={"kernel_initializer": "he_normal"}),
        _resolved(model={"kernel_initializer": "zeros", "bias_initializer": "ones"}, seed=3),
        _resolved(model={"set_weights": 0.5}, seed=9),
        _resolved(model={"kernel_initializer": {"name": "random_normal", "stddev": 0.01}}, seed=1),
        # per-layer initializers are initializers too
        _resolved(model={"layers": [{"units": 2, "kernel_initializer": "orthogonal", "bias_initializer": "ones"}]}),
    ]
    assert sweep.groups(configs[:4]) == [[0, 1, 2, 3]]
    layered = [configs[4], _resolved(model={"layers": [{"units": 2, "kernel_initializer": "lecun_normal"}]}, seed=2)]
    assert sweep.groups(layered) == [[0, 1]]


@pytest.mark.parametrize("change", [
    dict(train={"optimizer": "sgd"}),
    dict(model={"parametrization": "mup", "base_width": 2}),
    dict(model={"hidden": [3]}),
    dict(model={"hidden": [2, 2]}),
    dict(model={"activation": "tanh"}),
    dict(model={"output_activation": "linear"}),
    dict(train={"epochs": 6}),
    dict(train={"batch_size": 16}),
    dict(train={"shuffle": False}),
    dict(train={"loss": "mean_squared_error"}),
    dict(data={"validation_split": 0.3}),
    dict(data={"standardize": True}),
    dict(data={"dataset": "moons"}),
    dict(record={"every": 2}),
])
def test_anything_else_makes_another_group(change):
    base = [_resolved(), _resolved(seed=1, model={"kernel_initializer": "he_normal"})]
    other = _resolved(**change)
    twin = other.model_copy(update={"model": other.model.model_copy(update={"kernel_initializer": "he_normal"})})
    assert sweep.groups(base + [other, twin]) == [[0, 1], [2, 3]]


@pytest.mark.parametrize("change", [
    dict(train={"engine": "keras"}),
    dict(record={"tensorboard": True}),
    dict(train={"optimizer": "adafactor"}),
])
def test_keras_engine_tensorboard_and_non_elementwise_optimizers_run_alone(change):
    configs = [_resolved(), _resolved(**change), _resolved(seed=1), _resolved(**change, seed=1), _resolved(**change, seed=2)]
    assert sweep.groups(configs) == [[0, 2], [1], [3], [4]]


def test_a_learning_rate_grid_trains_as_one_population_per_width():
    """Members carry their own learning rate: 13 rates x 3 seeds are one group (one compiled loop) per width."""
    rates = [10 ** (-4 + k / 4) for k in range(13)]
    configs = [_resolved(seed=seed, model={"hidden": [width]}, train={"learning_rate": rate})
               for width in (8, 32) for rate in rates for seed in range(3)]
    assert sweep.groups(configs) == [list(range(39)), list(range(39, 78))]


def test_data_generated_from_the_seed_splits_by_seed():
    moons = [_resolved(data={"dataset": "moons"}, seed=s, model={"kernel_initializer": k})
             for s in (0, 1) for k in ("he_normal", "zeros")]
    assert sweep.groups(moons) == [[0, 1], [2, 3]]  # seed 0's two initializers, seed 1's two
    ushape = [_resolved(seed=s, model={"kernel_initializer": k}) for s in (0, 1) for k in ("he_normal", "zeros")]
    assert sweep.groups(ushape) == [[0, 1, 2, 3]]


def test_groups_are_bounded_and_deterministic():
    config = _resolved()
    configs = [config.model_copy(update={"seed": seed}) for seed in range(2 * sweep.MAX_POPULATION + 5)]
    configs.insert(10, _resolved(train={"engine": "keras"}))
    groups = sweep.groups(configs)
    assert [len(g) for g in groups] == [sweep.MAX_POPULATION, sweep.MAX_POPULATION, 5, 1]
    assert groups[-1] == [10] and sorted(sum(groups, [])) == list(range(len(configs)))
    assert all(g == sorted(g) for g in groups)  # in the sweep's order
    assert sweep.groups(configs) == groups
    assert sweep.groups([c.model_copy() for c in configs]) == groups  # follows the configs, not the objects


# ---- real sweeps -----------------------------------------------------------------------------------------------
INITIALIZERS = ["zeros", "he_normal", {"name": "random_normal", "stddev": 0.01}]
LABELS = ["zeros", "he_normal", "random_normal(stddev=0.01)"]
METRICS = ["loss", "accuracy", "val_loss", "val_accuracy"]


def _mtimes(sweep_dir: Path) -> dict[str, int]:
    return {d.name: (d / "summary.json").stat().st_mtime_ns for d in sweep_dir.iterdir() if d.is_dir()}


def test_dry_run_marks_the_complete_runs(tmp_path):
    small = write_sweep(tmp_path, {"name": "marks", "base": "base.yaml",
                                   "grid": {"model.kernel_initializer": INITIALIZERS[:2]}}, "small.yaml")
    out = tmp_path / "out"
    done = invoke(small, out, "--set", "train.epochs=2", "--no-pictures")
    assert done.exit_code == 0, done.output
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    bigger = write_sweep(tmp_path, {"name": "marks", "base": "base.yaml",
                                    "grid": {"model.kernel_initializer": INITIALIZERS}}, "bigger.yaml")
    listing = invoke(bigger, out, "--set", "train.epochs=2", "--dry-run")
    assert listing.exit_code == 0, listing.output
    assert "marks: 3 runs, 2 complete" in listing.stdout
    rows = dry_run_rows(listing)
    assert [row[1:] for row in rows] == [[LABELS[0], "0", "yes"], [LABELS[1], "0", "yes"], [LABELS[2], "0", "no"]]
    assert {row[0] for row in rows[:2]} == {d.name for d in (out / "marks").iterdir() if d.is_dir()}
    # another --set is another config: nothing of it is complete
    other = invoke(bigger, out, "--set", "train.epochs=3", "--dry-run")
    assert "marks: 3 runs, 0 complete" in other.stdout and [r[-1] for r in dry_run_rows(other)] == ["no"] * 3
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before  # a dry run writes nothing


@pytest.mark.slow
def test_tiny_sweep_end_to_end(tmp_path):
    from PIL import Image

    path = write_sweep(tmp_path, {"name": "tiny", "base": "base.yaml",
                                  "grid": {"model.kernel_initializer": INITIALIZERS}, "seeds": [0, 1]})
    out = tmp_path / "out"
    first = invoke(path, out, "--set", "train.epochs=3")
    assert first.exit_code == 0, first.output
    sweep_dir = out / "tiny"
    assert first.stdout.strip().splitlines()[-1] == str(sweep_dir)
    folders = sorted(d for d in sweep_dir.iterdir() if d.is_dir())
    assert len(folders) == 6 and not [p for p in sweep_dir.iterdir() if p.name.startswith(".")]

    # sweep.csv: one row per run, its labels, seed, status and the final metrics of its summary.json
    table = pd.read_csv(sweep_dir / "sweep.csv")
    assert list(table.columns[:4]) == ["run_id", "model.kernel_initializer", "seed", "status"]
    assert set(METRICS) <= set(table.columns)
    assert sorted(table["run_id"]) == [d.name for d in folders]
    assert sorted(zip(table["model.kernel_initializer"], table["seed"])) == sorted((l, s) for l in LABELS for s in (0, 1))
    for row in table.itertuples(index=False):
        summary = json.loads((sweep_dir / row.run_id / "summary.json").read_text())
        assert row.status == summary["status"] == "ok" and summary["epochs_run"] == 3
        assert summary["population"] == 6  # differ only in initializer and seed: one graph
        assert all(np.isclose(getattr(row, m), summary["final"][m], rtol=1e-9) for m in METRICS)
        assert len(pd.read_csv(sweep_dir / row.run_id / "metrics.csv")) == 3  # --set reached every run

    # summary.csv: one row per grid cell, mean/std/min/max over the seeds
    summary = pd.read_csv(sweep_dir / "summary.csv")
    assert list(summary["model.kernel_initializer"]) == LABELS and list(summary["runs"]) == [2, 2, 2]
    assert list(summary["ok"]) == [2, 2, 2]
    for metric in METRICS:
        for stat in ("mean", "std", "min", "max"):
            by_cell = table.groupby("model.kernel_initializer")[metric].agg(stat)
            np.testing.assert_allclose(summary[f"{metric}_{stat}"], by_cell[LABELS].to_numpy(), rtol=1e-9)
    report = (sweep_dir / "report.md").read_text()
    assert report.startswith("# tiny") and all(f"| {label} |" in report for label in LABELS)
    for picture in ("loss_curves.png", "activation_std.png", "boundaries.png"):
        assert (sweep_dir / picture).stat().st_size > 0, picture
    with Image.open(sweep_dir / "boundaries.png") as image:  # one key's three boundaries side by side, not a column
        assert image.width > 2 * image.height, image.size
    # at most 12 runs: each run folder has its pictures too
    assert all((d / "history.png").is_file() and (d / "boundary.png").is_file() for d in folders)

    # the same command again trains nothing
    mtimes = _mtimes(sweep_dir)
    again = invoke(path, out, "--set", "train.epochs=3")
    assert again.exit_code == 0, again.output
    assert "nothing to do" in again.stderr
    assert _mtimes(sweep_dir) == mtimes
    pd.testing.assert_frame_equal(pd.read_csv(sweep_dir / "sweep.csv"), table)

    # --rerun trains every run again (to the same numbers); --no-pictures skips the per-run pictures
    metrics = {d.name: (d / "metrics.csv").read_bytes() for d in folders}
    rerun = invoke(path, out, "--set", "train.epochs=3", "--rerun", "--no-pictures")
    assert rerun.exit_code == 0, rerun.output
    after = _mtimes(sweep_dir)
    assert after.keys() == mtimes.keys() and all(after[name] != mtimes[name] for name in mtimes)
    assert {d.name: (d / "metrics.csv").read_bytes() for d in folders} == metrics
    assert not any((d / "history.png").exists() or (d / "boundary.png").exists() for d in folders)
    assert (sweep_dir / "loss_curves.png").is_file()  # the sweep's own pictures are always drawn


# ---- report pieces -------------------------------------------------------------------------------------------------
def test_summary_of_runs_that_all_failed_has_the_counts():
    from initlab.output import sweep_report

    frame = pd.DataFrame({"run_id": ["a", "b", "c"], "model.activation": ["relu", "relu", "tanh"], "seed": [0, 1, 0],
                          "status": ["failed"] * 3, "error": ["boom"] * 3})
    summary = sweep_report.summarize(frame, ["model.activation"])
    assert summary.to_dict("list") == {"model.activation": ["relu", "tanh"], "runs": [2, 1], "ok": [0, 0]}


def test_boundaries_get_a_panel_per_cell_with_three_keys(tmp_path):
    """Rows by the first key, columns by the others together: no cell overwrites another."""
    from initlab.output import sweep_report

    path = write_sweep(tmp_path, {"name": "three", "base": "base.yaml", "seeds": [0, 1], "grid": {
        "model.activation": ["relu", "tanh"], "model.hidden": [[2], [3]], "train.learning_rate": [0.01, 0.1]}})
    planned = sweep.load_sweep(path)[1]
    folders = []
    for number, run in enumerate(planned):
        folder = tmp_path / "out" / f"run{number}"
        folder.mkdir(parents=True)
        (folder / "summary.json").write_text('{"files": {"weights_final.npz": 0}}')  # complete: lists its one file
        (folder / "weights_final.npz").write_bytes(b"")
        folders.append(folder)
    panels, rows, cols, title = sweep_report._boundaries(planned, folders, list(planned[0].grid), "three",
                                                   lambda run, folder: folder.name)
    assert rows == ["relu", "tanh"]
    assert cols == ["[2] / 0.01", "[2] / 0.1", "[3] / 0.01", "[3] / 0.1"]
    assert len(panels) == 8  # one per cell, the first seed's run
    assert sorted(panels.values()) == sorted(f.name for f, run in zip(folders, planned) if run.seed == 0)
    assert title == "three: decision boundaries (seed 0)"


# ---- a sweep's run folders: no model.keras until asked ---------------------------------------------------------------
RUN_RECORDS = {"config.yaml", "metrics.csv", "layers.csv", "summary.json", "weights_initial.npz", "weights_final.npz",
               "signal.csv", "histograms.npz"}


def test_a_sweep_run_gets_its_model_on_demand(tmp_path):
    from initlab.base.backend import keras
    from initlab.lab import runs
    from initlab.output import run_folder

    grid = {"model.kernel_initializer": INITIALIZERS[:2]}
    path = write_sweep(tmp_path, {"name": "lazy", "base": "base.yaml", "grid": grid})
    out = tmp_path / "out"
    assert invoke(path, out, "--set", "train.epochs=2", "--no-pictures").exit_code == 0
    first, second = sorted(d for d in (out / "lazy").iterdir() if d.is_dir())
    for folder in (first, second):  # the records, sealed, and no Keras model was built to write them
        assert {p.name for p in folder.iterdir()} == RUN_RECORDS
        assert set(run_folder.read_summary(folder)["files"]) == RUN_RECORDS - {"summary.json"}

    diagnosed = runner.invoke(app, ["diagnose", str(first), "--json"])  # its initial weights: no model file needed
    assert diagnosed.exit_code in (0, 1), diagnosed.output
    assert [row["layer"] for row in json.loads(diagnosed.stdout)] == ["hidden_1", "output"]
    assert not (first / "model.keras").exists()
    diagnosed = runner.invoke(app, ["diagnose", str(first), "--json", "--trained"])  # its trained ones: written
    assert diagnosed.exit_code in (0, 1), diagnosed.output
    assert [row["layer"] for row in json.loads(diagnosed.stdout)] == ["hidden_1", "output"]
    assert "model.keras" in run_folder.read_summary(first)["files"] and run_folder.is_complete(first)
    written = (first / "model.keras").stat().st_mtime_ns
    assert runs.ensure_model(first) == first / "model.keras" and (first / "model.keras").stat().st_mtime_ns == written

    # the file holds the trained weights: it predicts what they predict, and scores the summary's final loss
    model = keras().saving.load_model(first / "model.keras")
    data = runs.load_data(make_config())
    with np.load(first / "weights_final.npz") as weights:
        hidden = np.maximum(data.x_train @ weights["hidden_1/kernel"] + weights["hidden_1/bias"], 0)
        expected = 1 / (1 + np.exp(-(hidden @ weights["output/kernel"] + weights["output/bias"])))
    np.testing.assert_allclose(model.predict(data.x_train, verbose=0), expected, rtol=1e-5, atol=1e-6)
    scores = model.evaluate(data.x_train, data.y_train, batch_size=32, verbose=0, return_dict=True)
    assert abs(scores["loss"] - run_folder.read_summary(first)["final"]["loss"]) < 1e-5

    drawn = runner.invoke(app, ["plot", str(second)])  # pictures of a folder that had no model.keras
    assert drawn.exit_code == 0, drawn.output
    assert {"model.keras", "history.png", "boundary.png"} <= set(run_folder.read_summary(second)["files"])
    assert run_folder.is_complete(second) and not [p for p in second.iterdir() if p.name.startswith(".")]


def test_write_behind_finishes_what_it_was_given_and_raises_its_errors():
    written = []

    def write(results):
        if results == ["full"]:
            raise OSError(28, "No space left on device")
        written.extend(results)

    with sweep.WriteBehind(threaded=True) as behind:
        behind.submit(write, [1, 2])
        behind.submit(write, [3])
    assert written == [1, 2, 3]
    with pytest.raises(OSError, match="No space left"), sweep.WriteBehind(threaded=True) as behind:
        behind.submit(write, ["full"])
        behind.submit(write, [4])  # the error of the group before is raised here, before this one is written
    assert written == [1, 2, 3]
    with pytest.raises(KeyboardInterrupt), sweep.WriteBehind(threaded=True) as behind:
        behind.submit(write, [5])
        raise KeyboardInterrupt  # Ctrl-C while the next group trains: the group given is still written
    assert written == [1, 2, 3, 5]
