"""Issue 22, item 5: the conventions users expect of a command-line tool. Shell completion (commands and lesson
names), `initlab runs --json / --csv`, tables that keep every name whole at 80 columns and in a pipe, `validate` on
a sweep file, the papers listed by `initlab lessons` and run by name, `plot` on a folder of runs."""

import csv
import io
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from initlab.cli import app
from initlab.config import catalog

from tests.conftest import initlab_command

REPO = Path(__file__).parents[1]
runner = CliRunner()
NARROW = {"COLUMNS": "80"}
LONG_NAME = "a_sweep_whose_name_is_long_enough_to_crowd_eighty_columns"
CUT = "…"  # what Rich puts where it cut a cell short


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A sweep with a long name, trained once (2 initializers, one with a parameter, x 2 seeds, 2 epochs): its file,
    its --out folder, its run folders, and what it printed at 80 columns."""
    folder = tmp_path_factory.mktemp("conventions")
    (folder / "base.yaml").write_text((REPO / "configs" / "relu_constant.yaml").read_text())
    sweep = folder / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({
        "name": LONG_NAME, "base": "base.yaml", "set": {"model.set_weights": None, "train.epochs": 2},
        "grid": {"model.kernel_initializer": ["he_normal", {"name": "random_normal", "stddev": 0.01}]},
        "seeds": [0, 1]}))
    out = folder / "out"
    result = runner.invoke(app, ["sweep", str(sweep), "--out", str(out), "--no-pictures"], env=NARROW)
    assert result.exit_code == 0, result.output
    runs = sorted(p for p in (out / LONG_NAME).iterdir() if p.is_dir() and not p.name.startswith("."))
    assert len(runs) == 4
    return sweep, out, runs, result.stdout


# ---- shell completion ------------------------------------------------------------------------------------------------
def test_help_offers_to_install_and_show_shell_completion():
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--install-completion" in result.stdout and "--show-completion" in result.stdout


def test_bash_completes_commands_and_lesson_names():
    """Typer's bash script, sourced in a real bash and asked as bash asks it (COMP_WORDS, COMP_CWORD)."""
    command = initlab_command()
    if Path(command[0]).name != "initlab":
        pytest.skip("no `initlab` console script in this environment")
    script = """
        eval "$(initlab --show-completion)"
        ask() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _initlab_completion initlab; echo "${COMPREPLY[*]}"; }
        ask initlab ru
        ask initlab run relu_c
        ask initlab sweep he
        ask initlab lessons show schoen
        ask initlab validate digits_i
        ask initlab run configs/
    """
    env = {**os.environ, "PATH": f"{Path(command[0]).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "run runs",
        "relu_constant relu_constant_long",
        "he2015",  # a paper's sweep runs by name too
        "schoenholz2017",
        "digits_initializers",
        "",  # no lesson is named so: bash's own file-name completion takes over (complete -o default)
    ]
    source = subprocess.run([*command], env={**env, "_INITLAB_COMPLETE": "source_bash"}, capture_output=True,
                            text=True, timeout=120)
    assert source.returncode == 0 and "complete -o default -F _initlab_completion initlab" in source.stdout


# ---- runs --json and --csv -------------------------------------------------------------------------------------------
def test_runs_as_json_and_csv_are_the_tables_runs_with_stable_keys(trained, tmp_path):
    _, out, runs, _ = trained
    shown = runner.invoke(app, ["runs", str(out), "--json"])
    assert shown.exit_code == 0, shown.output
    rows = json.loads(shown.stdout)
    keys = ["experiment", "run", "folder", "status", "epochs", "loss", "accuracy", "val_loss", "val_accuracy",
            "distinct_units", "problem"]
    assert [list(row) for row in rows] == [keys] * 4
    assert [row["folder"] for row in rows] == [str(p) for p in runs]
    assert {row["experiment"] for row in rows} == {LONG_NAME}
    assert all(row["status"] == "ok" and row["epochs"] == 2 and row["problem"] is None for row in rows)
    assert all(0 < row["loss"] < 10 and 0 <= row["val_accuracy"] <= 1 and row["distinct_units"] for row in rows)

    table = runner.invoke(app, ["runs", str(out), "--csv"])
    assert table.exit_code == 0, table.output
    read = list(csv.DictReader(io.StringIO(table.stdout)))
    assert [list(row) for row in read] == [keys] * 4
    assert [row["run"] for row in read] == [row["run"] for row in rows] == [p.name for p in runs]
    assert [float(row["loss"]) for row in read] == [row["loss"] for row in rows]
    assert [json.loads(row["distinct_units"]) for row in read] == [row["distinct_units"] for row in rows]

    assert json.loads(runner.invoke(app, ["runs", str(tmp_path), "--json"]).stdout) == []
    assert runner.invoke(app, ["runs", str(tmp_path), "--csv"]).stdout.splitlines() == [
        "experiment,run,folder,status,epochs,distinct_units,problem"]
    both = runner.invoke(app, ["runs", str(out), "--json", "--csv"])
    assert both.exit_code == 2 and "give --json or --csv, not both" in both.stderr


# ---- tables --------------------------------------------------------------------------------------------------------
def _table_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line[:1] in "┏┃┡│└"]


def test_tables_keep_every_name_whole_at_80_columns_and_in_a_pipe(trained):
    sweep, out, runs, summary = trained
    names = [LONG_NAME, *(p.name for p in runs)]
    piped = {key: value for key, value in os.environ.items() if key != "COLUMNS"}  # Rich's default: 80 in a pipe
    for env in ({**os.environ, **NARROW}, piped):
        done = subprocess.run([*initlab_command(), "runs", str(out)], env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        assert CUT not in done.stdout and all(name in done.stdout for name in names), done.stdout
    plan = runner.invoke(app, ["sweep", str(sweep), "--out", str(out), "--dry-run"], env=NARROW)
    assert plan.exit_code == 0 and CUT not in plan.stdout
    assert all(p.name in plan.stdout for p in runs) and "random_normal(stddev=0.01)" in plan.stdout
    assert CUT not in summary and "random_normal(stddev=0.01)" in summary and "he_normal" in summary

    lessons = runner.invoke(app, ["lessons"], env=NARROW)
    assert lessons.exit_code == 0 and CUT not in lessons.stdout
    cells = [cell.strip() for line in _table_lines(lessons.stdout) for cell in line.split("│")]
    assert set(catalog.names()) <= set(cells)  # each name whole in its cell
    assert max(map(len, _table_lines(lessons.stdout))) == 80  # the descriptions give way, the names do not

    initializers = runner.invoke(app, ["initializers"], env=NARROW)
    assert initializers.exit_code == 0 and CUT not in initializers.stdout
    assert max(map(len, _table_lines(initializers.stdout))) == 80
    for word in ("truncated_normal", "variance_scaling", "OrthogonalInitializer", "IdentityInitializer"):
        assert word in initializers.stdout


# ---- validate on a sweep ---------------------------------------------------------------------------------------------
def test_validate_checks_every_run_of_a_sweep_and_counts_them(trained, tmp_path):
    sweep, _, _, _ = trained
    result = runner.invoke(app, ["validate", str(sweep)])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.stdout)["grid"] == yaml.safe_load(sweep.read_text())["grid"]
    assert result.stdout.splitlines()[-1] == (
        f"# a sweep of 4 runs (2 model.kernel_initializer x 2 seeds), each valid with its data; 1 training group; "
        f"`initlab sweep {sweep} --dry-run` lists them")
    paper = runner.invoke(app, ["validate", "schoenholz2017"])
    assert paper.exit_code == 0
    assert "# a sweep of 30 runs (5 cases x 6 model.kernel_initializer x 1 seed)" in paper.stdout
    # a mistake only the data shows (a 10-class loss on the two-class U), in one of the runs: named, exit 2
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(sweep.read_text().replace("seeds:", "cases:\n- {label: fine}\n- {label: wrong, train.loss: "
                                                        "sparse_categorical_crossentropy}\nseeds:"))
    (tmp_path / "base.yaml").write_text((sweep.parent / "base.yaml").read_text())
    refused = runner.invoke(app, ["validate", str(wrong)])
    assert refused.exit_code == 2 and "Traceback" not in refused.output
    assert f"{wrong} (run case wrong, model.kernel_initializer=he_normal, seed=0): train.loss: loss " \
           "'sparse_categorical_crossentropy' does not fit a binary task" in refused.stderr


# ---- the papers --------------------------------------------------------------------------------------------------
def test_lessons_lists_the_papers_and_each_is_shown_copied_and_planned_by_name(tmp_path):
    from initlab.lab import papers

    assert list(catalog.papers()) == list(papers.CLAIMS)
    listing = runner.invoke(app, ["lessons"], env={"COLUMNS": "400"})
    assert listing.exit_code == 0 and "initlab reproduce --papers --only NAME" in listing.stdout
    for name, note in catalog.papers().items():
        row = next(line for line in listing.stdout.splitlines() if f" {name} " in line)
        assert " paper " in row and note["claim"] in row and note["published"] in row
    shown = runner.invoke(app, ["lessons", "show", "he2015"])
    assert shown.exit_code == 0 and shown.stdout == (catalog.papers_folder() / "he2015.yaml").read_text()
    copied = runner.invoke(app, ["lessons", "copy", "he2015", str(tmp_path / "mine")])
    assert copied.exit_code == 0, copied.output
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["he2015.yaml", "he2015_base.yaml"]
    planned = runner.invoke(app, ["sweep", "he2015", "--dry-run", "--out", str(tmp_path / "out")], env=NARROW)
    assert planned.exit_code == 0 and "he2015: 6 runs, 0 complete" in planned.stdout  # 2 cases x 3 seeds
    typo = runner.invoke(app, ["reproduce", "--papers", "--only", "he2016"])
    assert typo.exit_code == 2 and "did you mean 'he2015'" in typo.stderr


@pytest.mark.slow
def test_a_paper_runs_by_name_and_says_its_verdict(tmp_path):
    """About 10 s: Glorot and Bengio's claim on its smaller sweep."""
    result = runner.invoke(app, ["reproduce", "--papers", "--only", "glorot2010", "--quick",
                                 "--docs", str(tmp_path / "docs"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    said = result.stderr.strip().splitlines()
    assert len(said) == 1 and said[0].startswith("glorot2010: holds (measured: variance factor per layer")
    assert said[0].endswith(f"published: {catalog.papers()['glorot2010']['published']})")
    assert (tmp_path / "docs" / "figures" / "papers_glorot2010.png").stat().st_size > 10_000


# ---- plot on a folder of runs ------------------------------------------------------------------------------------
def test_plot_on_a_folder_of_runs_names_them_and_draws_nothing(trained, tmp_path):
    _, out, runs, _ = trained
    before = sorted(p for p in out.rglob("*"))
    result = runner.invoke(app, ["plot", str(out)])
    assert result.exit_code == 2 and result.stdout == "" and len(result.stderr.strip().splitlines()) == 1
    first = runs[0].relative_to(out).as_posix()
    assert f"{out}: is not a run folder; it holds 4 runs: {first}, " in result.stderr
    assert "and 1 more (`initlab runs" in result.stderr and f"`initlab plot {runs[0]}` draws one" in result.stderr
    assert sorted(p for p in out.rglob("*")) == before
    empty = runner.invoke(app, ["plot", str(tmp_path)])
    assert empty.exit_code == 2
    assert "is not a run folder (it has no summary.json) and no run folder is under it" in empty.stderr
