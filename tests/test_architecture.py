"""The house's layers as import-linter checks them: the contracts in pyproject.toml, run with the tests."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[1]
LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """`lint-imports` in `root`: the initlab folder there is the one read (the working folder comes first)."""
    return subprocess.run([sys.executable, "-c", LINT, "--no-cache"], cwd=root, capture_output=True, text=True,
                          timeout=300)


def test_the_package_keeps_every_contract():
    done = lint_imports(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout and "6 kept" in done.stdout


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("house")
    shutil.copytree(REPO / "initlab", root / "initlab", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root)
    return root


@pytest.mark.parametrize("module, line, broken", [
    ("config/limits.py", "from initlab.lab import runs", "Arrows only point down the layers"),
    ("train/data.py", "from initlab.output import run_folder", "Training never knows run folders"),
    ("config/names.py", "from initlab.base import backend", "A config validates without TensorFlow"),
    ("output/run_folder.py", "import keras", "Records, reports and pictures never need a live model"),
    ("keras.py", "from initlab import cli", "The callback never imports the CLI"),
    ("output/plots.py", "from initlab.output import sweep_report", "No import circles"),
    ("diagnosis/walk.py", "from initlab.output import plots", "Arrows only point down the layers"),
])
def test_an_import_against_the_house_breaks_a_contract(copy, module, line, broken):
    path = copy / "initlab" / module
    source = path.read_text()
    path.write_text(source + f"\n\ndef _against_the_house():\n    {line}  # noqa\n")
    try:
        done = lint_imports(copy)
    finally:
        path.write_text(source)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{broken}" in done.stdout.split("Broken contracts")[1], done.stdout


def test_a_new_top_level_module_must_take_a_place(copy):
    stray = copy / "initlab" / "helpers.py"
    stray.write_text('"""Nowhere in the house."""\n')
    try:
        done = lint_imports(copy)
    finally:
        stray.unlink()
    assert done.returncode == 1 and "helpers" in done.stdout, done.stdout + done.stderr
