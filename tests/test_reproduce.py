"""`initlab reproduce`: the README's figures and tables from the configs."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from initlab.cli import app
from initlab.lab import papers, reproduce

CONFIGS = Path(__file__).parents[1] / "configs"
runner = CliRunner()


def _reproduce(tmp_path, *names):
    args = ["reproduce", "--quick", *[arg for name in names for arg in ("--only", name)],
            "--configs", str(CONFIGS), "--docs", str(tmp_path / "docs"), "--out", str(tmp_path / "outputs")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return tmp_path / "docs"


@pytest.mark.slow
def test_every_lesson_quickly_gives_its_figures_and_the_table(tmp_path):
    docs = _reproduce(tmp_path, *reproduce.RUNS, "signal")
    expected = {target for run in reproduce.RUNS.values() for target in run.figures.values()} | {"signal_comparison.png"}
    assert {p.name for p in (docs / "figures").iterdir()} == expected
    table = (docs / "tables" / "lessons.md").read_text().splitlines()
    assert len(table) == 2 + len(reproduce.RUNS)
    assert any(line.startswith("| `relu_constant.yaml` |") and "| 20 |" in line for line in table)


def test_a_partial_run_leaves_the_lesson_table_alone(tmp_path):
    docs = _reproduce(tmp_path, "relu_constant")
    assert {p.name for p in (docs / "figures").iterdir()} == {"relu_constant_boundary.png", "relu_constant_history.png"}
    assert not (docs / "tables" / "lessons.md").exists()


@pytest.mark.slow
def test_a_sweep_is_trained_afresh_not_taken_from_earlier_outputs(tmp_path):
    """outputs/ may hold complete runs made by another version or on another CPU: the docs must not show them."""
    _reproduce(tmp_path, "qa_compare_random_labels")
    sweep_dir = tmp_path / "outputs" / "qa_compare_random_labels"
    summaries = sorted(sweep_dir.glob("*/summary.json"))
    first = {path: path.stat().st_mtime_ns for path in summaries}
    assert len(first) == 40
    _reproduce(tmp_path, "qa_compare_random_labels")
    assert all(path.stat().st_mtime_ns != written for path, written in first.items())


def test_unknown_entry_exits_2(tmp_path):
    result = runner.invoke(app, ["reproduce", "--only", "relu_constnt", "--docs", str(tmp_path / "docs")])
    assert result.exit_code == 2
    assert "did you mean 'relu_constant'" in result.stderr
    assert not (tmp_path / "docs").exists()


def test_every_picture_the_pages_show_is_one_reproduce_entry(tmp_path):
    """The README and docs/ show pictures from docs/figures/ only, and `initlab reproduce` (every entry) writes each:
    the lessons, the signal comparison, the sweeps, the papers and MobileNetV2's checklist picture."""
    import re

    root = Path(__file__).parents[1]
    shown = {name for page in [root / "README.md", *(root / "docs").glob("*.md")]
             for name in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page.read_text())}
    assert shown and all(Path(name).parent.name == "figures" for name in shown), shown
    written = {target for run in reproduce.RUNS.values() for target in run.figures.values()}
    written |= {target for _, pictures in reproduce.SWEEPS.values() for target in pictures.values()}
    written |= {picture for _, picture in reproduce.LEARNING_RATES.values()}
    written |= {picture for _, picture in reproduce.BORN_DEAD.values()}
    written |= {picture for _, picture in reproduce.JACOBIANS.values()}
    written |= {f"{name}.png" for name in reproduce.RESIDUAL_VARIANCE}
    written |= {"signal_comparison.png", reproduce.DIAGNOSED[2]} | {f"papers_{claim}.png" for claim in papers.CLAIMS}
    written |= {f"coordcheck_{label}.png" for label in reproduce.COORDCHECK[1]}
    assert {Path(name).name for name in shown} <= written
    assert {"papers", "diagnose", "coordcheck"} <= set(reproduce.NAMES)


def test_the_checklist_picture_of_mobilenet_v2_is_drawn_by_reproduce(tmp_path):
    docs = _reproduce(tmp_path, "diagnose")
    picture = docs / "figures" / reproduce.DIAGNOSED[2]
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and {p.name for p in (docs / "figures").iterdir()} == {picture.name}


def test_the_coordinate_checks_are_drawn_by_reproduce(tmp_path):
    """--quick: the lesson at widths 64 and 128 under both parametrizations; both pictures and the slopes' table."""
    docs = _reproduce(tmp_path, "coordcheck")
    assert {p.name for p in (docs / "figures").iterdir()} == {"coordcheck_standard.png", "coordcheck_mup.png"}
    table = (docs / "tables" / "coordcheck.md").read_text()
    assert "## standard:" in table and "## mup:" in table and "model.base_width=64" in table
    assert table.count("| 3 | output |") == 2  # the last step's row of each check
