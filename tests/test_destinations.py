"""Where a command is asked to write, and cannot: one line, exit 2, nothing left behind (lessons copy, diagnose's
--csv and --plot)."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from initlab.cli import app
from initlab.config import catalog

from tests.test_cli_errors import assert_user_error

runner = CliRunner()


def _copy(destination) -> object:
    return runner.invoke(app, ["lessons", "copy", "relu_he", str(destination)], env={"COLUMNS": "400"})


def test_lessons_copy_refuses_every_kind_of_bad_destination(tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    nothing = tmp_path / "nothing"  # assert_user_error checks it stays empty
    assert_user_error(_copy(a_file), nothing, "notes.txt", "is a file")
    assert_user_error(_copy(a_file / "sub"), nothing, "cannot write there", "Not a directory")
    assert_user_error(_copy(catalog.folder()), nothing, "the folder the lessons ship in")
    too_long = tmp_path / ("a" * 300)
    assert_user_error(_copy(too_long), nothing, "cannot write there", "File name too long")
    assert a_file.read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
def test_a_full_device_is_an_error_not_a_silent_success(tmp_path):
    result = runner.invoke(app, ["diagnose", "relu_constant", "--plot", "/dev/full"])
    assert_user_error(result, tmp_path / "nothing", "/dev/full", "No space left on device")


def test_a_picture_format_matplotlib_cannot_write_is_refused_before_any_work(tmp_path):
    result = runner.invoke(app, ["diagnose", "relu_constant", "--plot", str(tmp_path / "depth.xyz")])
    assert_user_error(result, tmp_path / "nothing", "cannot draw a .xyz picture", "allowed: ", "png", "svg")
    assert not (tmp_path / "depth.xyz").exists()
    drawn = runner.invoke(app, ["diagnose", "relu_constant", "--plot", str(tmp_path / "depth.svg")])
    assert drawn.exit_code == 1 and (tmp_path / "depth.svg").read_text().lstrip().startswith("<?xml")


def test_two_outputs_asked_to_one_path_are_refused(tmp_path):
    same = tmp_path / "both.png"
    result = runner.invoke(app, ["diagnose", "relu_constant", "--csv", str(same), "--plot", str(same)])
    assert_user_error(result, tmp_path / "nothing", "--csv and --plot name the same file")
    assert not same.exists()
