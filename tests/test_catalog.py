"""The lessons shipped in the package: `initlab lessons [show|copy]`, and run/validate/diagnose/sweep by a lesson's name."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from initlab.cli import app
from initlab.config import catalog

ROOT = Path(__file__).parents[1]
runner = CliRunner()


def test_every_config_in_configs_is_a_packaged_lesson_with_an_index_entry():
    assert (ROOT / "configs").resolve() == catalog.folder().resolve()  # one copy: configs/ is the package's folder
    files = sorted(p.stem for p in (ROOT / "configs").glob("*.yaml") if p.name != catalog.INDEX)
    assert catalog.lesson_names() == files and len(files) > 30
    assert set(catalog.index()) == set(files)  # no lesson without its line in `initlab lessons`, no stale line


def test_lessons_lists_name_what_it_shows_expectation_and_epochs(monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # rich sizes tables from it: one row per lesson
    result = runner.invoke(app, ["lessons"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for lesson in catalog.lessons():
        line = next(line for line in lines if f" {lesson.name} " in line)
        assert lesson.shows[:20] in line and lesson.expect[:20] in line and f" {lesson.epochs} " in line
    he = next(lesson for lesson in catalog.lessons() if lesson.name == "relu_he")
    assert (he.kind, he.epochs) == ("run", 3000)
    digits = next(lesson for lesson in catalog.lessons() if lesson.name == "digits_initializers")
    assert (digits.kind, digits.epochs) == ("sweep", 20)  # a sweep's epochs come from its base config


def test_show_prints_the_lessons_yaml_and_a_typo_suggests_the_nearest():
    result = runner.invoke(app, ["lessons", "show", "relu_zero"])
    assert result.exit_code == 0 and result.stdout == (ROOT / "configs" / "relu_zero.yaml").read_text()
    typo = runner.invoke(app, ["lessons", "show", "relu_zreo"])
    assert typo.exit_code == 2 and "did you mean 'relu_zero'" in typo.stderr and "Traceback" not in typo.output


def test_copy_writes_an_editable_copy_and_never_overwrites(tmp_path):
    result = runner.invoke(app, ["lessons", "copy", "qa_compare_learnable", str(tmp_path / "mine")])
    assert result.exit_code == 0, result.output
    copied = tmp_path / "mine" / "qa_compare_learnable.yaml"
    assert result.stdout.strip() == str(copied)
    assert copied.read_text() == (ROOT / "configs" / "qa_compare_learnable.yaml").read_text()
    assert (tmp_path / "mine" / "qa_script_learnable.yaml").is_file()  # the sweep's base beside it: the copy runs
    dry = runner.invoke(app, ["sweep", str(copied), "--dry-run", "--out", str(tmp_path / "out")])
    assert dry.exit_code == 0, dry.output
    before = copied.read_text()
    copied.write_text(before + "# my edit\n")
    again = runner.invoke(app, ["lessons", "copy", "qa_compare_learnable", str(tmp_path / "mine")])
    assert again.exit_code == 2 and "already exists" in again.stderr
    assert copied.read_text() == before + "# my edit\n"


def test_run_by_name_from_an_empty_folder_writes_to_its_outputs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["run", "relu_zero", "--set", "train.epochs=2"])
    assert result.exit_code == 0, result.output
    folder = Path(result.stdout.strip().splitlines()[-1])
    assert folder.parent == Path("outputs") / "relu_zero" and (tmp_path / folder / "summary.json").is_file()


def test_a_file_of_that_name_wins_and_a_typo_suggests_the_nearest_lesson(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("relu_zero").write_text("name: mine\ntrain: {epochs: 3}\n")
    assert "name: mine" in runner.invoke(app, ["validate", "relu_zero"]).stdout
    assert "name: relu_zero" in runner.invoke(app, ["validate", "relu_zero.yaml"]).stdout  # no such file: the lesson
    typo = runner.invoke(app, ["run", "relu_constnt"])
    assert typo.exit_code == 2 and "did you mean 'relu_constant'" in typo.stderr
    missing = runner.invoke(app, ["run", "somewhere/relu_constant.yaml"])  # a path is never a lesson
    assert missing.exit_code == 2 and "no such file" in missing.stderr
    assert not Path("outputs").exists()


def test_diagnose_and_sweep_take_a_lessons_name(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    assert runner.invoke(app, ["diagnose", "digits_he_relu"]).exit_code == 0
    assert runner.invoke(app, ["diagnose", "digits_large_tanh"]).exit_code == 1  # saturated: a problem
    # the sweep's relative `base` resolves inside the package
    dry = runner.invoke(app, ["sweep", "digits_initializers", "--dry-run", "--out", str(tmp_path)])
    assert dry.exit_code == 0, dry.output
    assert "digits_initializers: 30 runs" in dry.stdout


@pytest.mark.slow
def test_the_wheel_carries_the_lessons_and_runs_them_from_an_empty_folder(tmp_path):
    """A real wheel of this tree, installed without its dependencies into a folder put first on the path (the venv's
    editable initlab comes after it), runs `initlab lessons` and a lesson by name from an empty folder."""
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels),
                    str(ROOT)], check=True, cwd=tmp_path)
    wheel = next(wheels.glob("initlab-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        shipped = [n for n in archive.namelist() if n.startswith("initlab/lessons/") and n.endswith(".yaml")]
    assert {Path(n).stem for n in shipped if n.count("/") == 2} == set(catalog.lesson_names()) | {"index"}
    papers = {p.name for p in (catalog.folder() / "papers").glob("*.yaml")}
    assert {Path(n).name for n in shipped if n.startswith("initlab/lessons/papers/")} == papers and len(papers) > 5
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)], check=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "COLUMNS": "300"}

    def initlab(*args):
        return subprocess.run([str(site / "bin" / "initlab"), *args], cwd=empty, env=env, capture_output=True, text=True)

    where = subprocess.run([sys.executable, "-c", "import initlab; print(initlab.__file__)"], cwd=empty, env=env,
                           capture_output=True, text=True)
    assert where.stdout.startswith(str(site))
    listed = initlab("lessons")
    assert listed.returncode == 0 and "relu_constant" in listed.stdout and "digits_he_relu" in listed.stdout
    ran = initlab("run", "digits_he_relu", "--set", "train.epochs=1", "--set", "data.n_samples=200")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip().startswith("outputs/digits_he_relu/")
    assert (empty / ran.stdout.strip() / "summary.json").is_file()


@pytest.mark.slow
def test_reproduce_reads_the_packaged_lessons_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["reproduce", "--quick", "--only", "relu_zero", "--only", "digits_he_relu"])
    assert result.exit_code == 0, result.output
    assert {p.name for p in Path("docs/figures").iterdir()} == {
        "relu_zero_gradients.png", "digits_he_relu_activations.png", "digits_he_relu_history.png"}
    assert (Path("outputs") / "digits_he_relu").is_dir()
