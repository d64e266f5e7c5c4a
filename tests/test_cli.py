"""The command line as a user types it (success paths; errors are in test_cli_errors.py)."""

import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from initlab.cli import app

from tests.conftest import initlab_command

CONFIGS = Path(__file__).parents[1] / "configs"
runner = CliRunner()


def _run(tmp_path, *extra):
    result = runner.invoke(app, ["run", str(CONFIGS / "relu_constant.yaml"), "--out", str(tmp_path), *extra])
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip().splitlines()[-1])


def test_run_prints_the_folder_and_applies_overrides(tmp_path):
    folder = _run(tmp_path, "--set", "train.epochs=3", "--set", "model.hidden=[4]", "--set", "model.set_weights=null")
    assert folder.is_dir() and folder.parent == tmp_path / "relu_constant"
    resolved = yaml.safe_load((folder / "config.yaml").read_text())
    assert resolved["train"]["epochs"] == 3 and resolved["model"]["hidden"] == [4]
    assert resolved["model"]["set_weights"] is None and resolved["train"]["loss"] == "binary_crossentropy"


def test_validate_prints_the_resolved_config_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["validate", str(CONFIGS / "relu_he.yaml"), "--set", "train.epochs=7"])
    assert result.exit_code == 0, result.output
    resolved = yaml.safe_load(result.stdout)
    assert resolved["train"]["epochs"] == 7 and resolved["model"]["kernel_initializer"] == "he_normal"
    assert resolved["model"]["output_activation"] == "sigmoid" and resolved["data"]["dataset"] == "ushape"
    assert list(tmp_path.iterdir()) == []


def test_initializers_lists_names_and_formulas():
    result = runner.invoke(app, ["initializers"], env={"COLUMNS": "220"})
    assert result.exit_code == 0
    for text in ("he_normal", "glorot_uniform", "random_normal", "sqrt(6 / n_in)", "sqrt(2 / n_in)",
                 "U[minval, maxval]", "stddev: a finite number > 0"):
        assert text in result.stdout


def test_runs_lists_and_plot_redraws(tmp_path):
    folder = _run(tmp_path, "--set", "train.epochs=2")
    listing = runner.invoke(app, ["runs", str(tmp_path)], env={"COLUMNS": "250"})
    assert listing.exit_code == 0 and folder.name in listing.stdout and "ok" in listing.stdout
    (folder / "boundary.png").unlink()
    (folder / "history.png").unlink()
    result = runner.invoke(app, ["plot", str(folder)])
    assert result.exit_code == 0, result.output
    assert (folder / "boundary.png").stat().st_size > 10_000 and (folder / "history.png").exists()


@pytest.mark.slow
def test_real_process_from_another_folder_is_quiet(tmp_path):
    """As a user runs it: a fresh process, a named data set found from any folder, no TensorFlow noise."""
    config = tmp_path / "mine.yaml"
    config.write_text((CONFIGS / "relu_constant.yaml").read_text().replace("epochs: 100", "epochs: 5"))
    process = subprocess.run([*initlab_command(), "run", str(config)], cwd=tmp_path, capture_output=True, text=True,
                             timeout=300)
    assert process.returncode == 0, process.stderr
    folder = tmp_path / process.stdout.strip()
    assert (folder / "summary.json").exists()
    assert process.stderr.count("\n") == 1 and process.stderr.startswith("ok:"), process.stderr


@pytest.mark.slow
def test_csv_run_and_redraw_from_another_folder(tmp_path, monkeypatch):
    """A user's CSV is found relative to the config file, at training time and again by `initlab plot`."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "points.csv").write_text((Path(__file__).parents[1] / "data" / "ushape.csv").read_text())
    (folder / "mine.yaml").write_text(
        "name: mine\ndata: {dataset: csv, path: points.csv, features: [X, Y], target: class}\n"
        "model: {hidden: [4]}\ntrain: {epochs: 2}\n"
    )
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["run", "project/mine.yaml", "--out", "outputs"])
    assert result.exit_code == 0, result.output
    run_folder = tmp_path / result.stdout.strip()
    (run_folder / "boundary.png").unlink()
    assert runner.invoke(app, ["plot", str(run_folder)]).exit_code == 0
    assert (run_folder / "boundary.png").exists()


def test_version_and_an_empty_runs_folder_answer_plainly(tmp_path):
    from importlib.metadata import version

    shown = runner.invoke(app, ["--version"])
    assert shown.exit_code == 0 and shown.stdout.strip() == f"initlab {version('initlab')}"
    empty = runner.invoke(app, ["runs", str(tmp_path)])
    assert empty.exit_code == 0 and "no runs under" in empty.stdout and "initlab run CONFIG" in empty.stdout
