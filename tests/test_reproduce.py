"""`initlab reproduce`: the README's figures and tables from the configs."""

from pathlib import Path

from typer.testing import CliRunner

from initlab.cli import app

CONFIGS = Path(__file__).parents[1] / "configs"
runner = CliRunner()


def test_quick_reproduce_writes_figures_and_table(tmp_path):
    args = ["reproduce", "--quick", "--only", "relu_constant", "--only", "signal",
            "--configs", str(CONFIGS), "--docs", str(tmp_path / "docs"), "--out", str(tmp_path / "outputs")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    figures = {p.name for p in (tmp_path / "docs" / "figures").iterdir()}
    assert figures == {"relu_constant_boundary.png", "relu_constant_history.png", "signal_comparison.png"}
    table = (tmp_path / "docs" / "tables" / "lessons.md").read_text()
    assert "`relu_constant.yaml`" in table and "| 20 |" in table


def test_unknown_entry_exits_2(tmp_path):
    result = runner.invoke(app, ["reproduce", "--only", "relu_constnt", "--docs", str(tmp_path / "docs")])
    assert result.exit_code == 2
    assert "did you mean 'relu_constant'" in result.stderr
    assert not (tmp_path / "docs").exists()
