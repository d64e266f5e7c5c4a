"""Resource limits (initlab/config/limits.py): each one refused just above, accepted at the limit, lifted by --allow-large
where it may be, and checked before anything large is allocated."""

import pytest
import yaml
from typer.testing import CliRunner

from initlab.base.errors import UserError
from initlab.cli import app
from initlab.config import experiment as config_module, limits
from initlab.lab import sweep as sweep_module

from tests.conftest import raw_config
from tests.test_cli_errors import assert_user_error

runner = CliRunner()

# (changes to the tutorial's config at the limit, the same just above it, the key, the limit as printed)
LIMITS = {
    "parameters": ({"model": {"hidden": [3000, 3000]}}, {"model": {"hidden": [3162, 3162]}}, "model.hidden",
                   "parameters in the model: 10,014,055, over the limit of 10,000,000"),
    # digits: 64 pixel features and 10 classes, counted as such (they were counted as 2 features and 1 output)
    "digits_parameters": ({"data": {"dataset": "digits"}, "model": {"hidden": [133333]}},
                          {"data": {"dataset": "digits"}, "model": {"hidden": [133334]}}, "model.hidden",
                          "parameters in the model: 10,000,060, over the limit of 10,000,000"),
    "layers": ({"model": {"hidden": [1] * 1000}}, {"model": {"hidden": [1] * 1001}}, "model.hidden",
               "hidden layers: 1,001, over the limit of 1,000"),
    "batch_activations": (
        {"data": {"dataset": "moons", "n_samples": 10**6}, "train": {"batch_size": 10**6}, "model": {"hidden": [260]}},
        {"data": {"dataset": "moons", "n_samples": 10**6}, "train": {"batch_size": 10**6}, "model": {"hidden": [300]}},
        "train.batch_size",
        "activations of one batch (1,000,000 rows x 303 units x 4 bytes): 1,212,000,000 bytes, over the limit of "
        "1,073,741,824 bytes",
    ),
    "rows": ({"data": {"dataset": "moons", "n_samples": 10**6}}, {"data": {"dataset": "moons", "n_samples": 10**6 + 1}},
             "data.n_samples", "rows asked of the generator: 1,000,001, over the limit of 1,000,000"),
    "values": ({"data": {"dataset": "gaussian", "n_samples": 10**5, "n_features": 1000}},
               {"data": {"dataset": "gaussian", "n_samples": 10**5, "n_features": 1001}}, "data.n_features",
               "values asked of the generator (100,000 rows x 1,001 features): 100,100,000, over the limit of 100,000,000"),
    "epochs": ({"train": {"epochs": 10**6}}, {"train": {"epochs": 10**6 + 1}}, "train.epochs",
               "epochs: 1,000,001, over the limit of 1,000,000"),
}


@pytest.mark.parametrize("case", LIMITS)
def test_each_limit_both_sides(case):
    at_limit, above, key, message = LIMITS[case]
    assert config_module.validate(raw_config(**at_limit)).name == "test"
    with pytest.raises(UserError) as caught:
        config_module.validate(raw_config(**above), "exp.yaml")
    assert caught.value.key == key
    assert message in str(caught.value) and "--allow-large" in str(caught.value)
    assert config_module.validate(raw_config(**above), allow_large=True).name == "test"


def test_the_issue_s_examples_are_refused_before_anything_is_allocated(tmp_path):
    # 10^8 x 10^8 weights (40 PB) and 10^10 generated rows: the CLI answers at once instead of crashing in NumPy
    for changes, fragment in [({"model": {"hidden": [10**8, 10**8]}}, "parameters in the model: 10,000,000,500,000,001"),
                              ({"data": {"dataset": "gaussian", "n_samples": 10**10}}, "rows asked of the generator")]:
        config = tmp_path / "big.yaml"
        config.write_text(yaml.safe_dump(raw_config(**changes)))
        out = tmp_path / "outputs"
        for command in (["validate", str(config)], ["run", str(config), "--out", str(out)]):
            assert_user_error(runner.invoke(app, command), out, str(config), fragment, "--allow-large")


def test_allow_large_reaches_validate(tmp_path):
    config = tmp_path / "long.yaml"
    config.write_text(yaml.safe_dump(raw_config(train={"epochs": 10**6 + 1})))
    assert runner.invoke(app, ["validate", str(config)]).exit_code == 2
    result = runner.invoke(app, ["validate", str(config), "--allow-large"])
    assert result.exit_code == 0, result.output
    assert "epochs: 1000001" in result.stdout


def test_classes_of_a_csv_count_in_the_parameters(tmp_path):
    # 10,001 integer classes make the output layer 10,001 wide: known only once the file is read
    rows = "\n".join(f"{i % 7},{i % 5},{i}" for i in range(10_001))
    (tmp_path / "many.csv").write_text("a,b,y\n" + rows + "\n")
    data = {"dataset": "csv", "path": "many.csv", "features": ["a", "b"], "target": "y", "validation_split": 0.0}
    config = tmp_path / "many.yaml"
    config.write_text(yaml.safe_dump(raw_config(data=data, model={"hidden": [1000]})))
    out = tmp_path / "outputs"
    assert_user_error(runner.invoke(app, ["validate", str(config)]), out, str(config), "model.hidden",
                      "parameters in the model: 10,014,001")


# ---- sweeps ----------------------------------------------------------------------------------------------------
def write_sweep(tmp_path, grid: dict, seeds: list) -> str:
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(raw_config(name="base")))
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({"name": "big", "base": "base.yaml", "grid": grid, "seeds": seeds}))
    return path


def test_sweep_size_is_refused_before_expanding(tmp_path):
    # 10 keys x 10 values = 10^10 combinations: counted from the lengths, never listed
    grid = {f"model.layers.{i}.units": list(range(1, 11)) for i in range(10)}
    path = write_sweep(tmp_path, grid, [0])
    out = tmp_path / "outputs"
    assert_user_error(runner.invoke(app, ["sweep", str(path), "--out", str(out), "--dry-run"]), out, str(path),
                      "grid", "runs in the sweep (cases x grid combinations x seeds): 10,000,000,000", "--allow-large")


def test_sweep_size_both_sides(tmp_path):
    # 100,000 runs pass the size check and go on to validate runs: the first run is bad, so it stops there
    path = write_sweep(tmp_path, {"model.hidden": [[0]] + [[n] for n in range(1, 100)]}, list(range(1000)))
    with pytest.raises(UserError) as caught:
        sweep_module.load_sweep(path)
    assert "model.hidden.0" in str(caught.value) and "(run model.hidden=[0], seed=0)" in str(caught.value)
    path = write_sweep(tmp_path, {"model.hidden": [[0]] + [[n] for n in range(1, 100)]}, list(range(1001)))
    with pytest.raises(UserError, match="runs in the sweep .*: 100,100, over the limit of 100,000") as caught:
        sweep_module.load_sweep(path)
    assert caught.value.key == "seeds"  # the key that multiplies the size most
    with pytest.raises(UserError) as caught:
        sweep_module.load_sweep(path, allow_large=True)
    assert "model.hidden.0" in str(caught.value)


def test_sweep_runs_are_checked_against_the_model_limits(tmp_path):
    path = write_sweep(tmp_path, {"model.hidden": [[4], [4000, 4000]]}, [0])
    out = tmp_path / "outputs"
    assert_user_error(runner.invoke(app, ["sweep", str(path), "--out", str(out), "--dry-run"]), out,
                      "(run model.hidden=[4000, 4000], seed=0)", "parameters in the model")
    result = runner.invoke(app, ["sweep", str(path), "--out", str(out), "--dry-run", "--allow-large"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert "2 runs, 0 complete" in result.stdout


# ---- YAML and files --------------------------------------------------------------------------------------------
def laughs(levels: int, fan: int = 10) -> str:
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * fan)}]" for i in range(1, levels)]
    return "\n".join(lines) + f"\nmodel: {{hidden: *l{levels - 1}}}\n"


def test_billion_laughs_is_refused_before_it_expands(tmp_path):
    # 9 levels of 10 aliases: 10^9 values once expanded, a few hundred bytes on disk
    config = tmp_path / "laughs.yaml"
    config.write_text(laughs(9))
    out = tmp_path / "outputs"
    for command in (["validate", str(config)], ["run", str(config), "--out", str(out)]):
        assert_user_error(runner.invoke(app, command), out, str(config),
                          "YAML refused: aliases expand it to more than 1,000,000 values", "line")
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(raw_config()))
    flow = ", ".join(["&l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
                     + [f"&l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 9)])
    assert_user_error(runner.invoke(app, ["validate", str(good), "--set", f"model.hidden=[{flow}]"]), out,
                      "--set", "model.hidden", "aliases expand it to more than 1,000,000 values")


def test_yaml_values_after_expansion_both_sides():
    # {a: [99 zeros], b: [k aliases of a]}: 1 + (1 + 100) + (1 + 1 + 100 k) values
    def document(k: int) -> str:
        return "a: &a [" + ", ".join(["0"] * 99) + "]\nb: [" + ", ".join(["*a"] * k) + "]\n"

    assert len(config_module._safe_load(document(9998))["b"]) == 9998  # 999,904 values
    with pytest.raises(yaml.YAMLError, match="more than 1,000,000 values"):
        config_module._safe_load(document(9999))  # 1,000,004 values


def test_yaml_nesting_both_sides():
    assert config_module._safe_load("model: " + "[" * 99 + "]" * 99) is not None  # 100 levels with the mapping
    with pytest.raises(yaml.YAMLError, match="nested deeper than 100 levels"):
        config_module._safe_load("model: " + "[" * 100 + "]" * 100)


def test_yaml_file_size_both_sides(tmp_path):
    config = tmp_path / "padded.yaml"
    head = "name: padded\n# "
    config.write_text(head + "x" * (limits.MAX_YAML_BYTES - len(head)))  # one very long comment line
    assert config_module.load_config(config).name == "padded"
    config.write_text(head + "x" * (limits.MAX_YAML_BYTES - len(head) + 1))
    out = tmp_path / "outputs"
    assert_user_error(runner.invoke(app, ["validate", str(config), "--allow-large"]), out, str(config),
                      "the file has 1,048,577 bytes, over the limit of 1,048,576 for a YAML file")


def test_csv_file_size_both_sides(tmp_path, monkeypatch):
    good = "a,b,y\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n"
    (tmp_path / "points.csv").write_text(good)
    data = {"dataset": "csv", "path": "points.csv", "features": ["a", "b"], "target": "y"}
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump(raw_config(data=data)))
    out = tmp_path / "outputs"
    monkeypatch.setattr(limits, "MAX_CSV_BYTES", len(good))
    assert runner.invoke(app, ["validate", str(config)]).exit_code == 0
    monkeypatch.setattr(limits, "MAX_CSV_BYTES", len(good) - 1)
    assert_user_error(runner.invoke(app, ["validate", str(config)]), out, "data.path",
                      f"bytes in points.csv: {len(good)}, over the limit of {len(good) - 1}", "--allow-large")
    assert runner.invoke(app, ["validate", str(config), "--allow-large"]).exit_code == 0
    monkeypatch.undo()
    with open(tmp_path / "points.csv", "r+b") as handle:  # 100 MiB + 1 without writing them: a sparse file
        handle.truncate(limits.MAX_CSV_BYTES + 1)
    assert_user_error(runner.invoke(app, ["run", str(config), "--out", str(out)]), out, "data.path",
                      "bytes in points.csv: 104,857,601, over the limit of 104,857,600")
