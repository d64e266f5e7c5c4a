"""Issue 8, point 5: commands that train nothing answer without importing TensorFlow or Keras. Each runs in a fresh
interpreter (this one has TensorFlow already) that records who first asks for either; its output is checked too."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from initlab.cli import app

REPO = Path(__file__).parents[1]
runner = CliRunner()
WIDE = {"COLUMNS": "300"}

# Runs `initlab ARGS...` (or, with no ARGS, the Python code in INITLAB_CODE) as the console script does, and ends
# stderr with one JSON line: the stack of the first import of a package in INITLAB_WATCHED, or null.
WATCHED = """
import json, os, sys, traceback
first = []
watched = os.environ["INITLAB_WATCHED"].split(",")
class Watch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in watched and not first:
            first.append(name + " imported from:\\n" + "".join(traceback.format_stack(limit=15)))
        return None
sys.meta_path.insert(0, Watch())
code = 0
try:
    if sys.argv[1:]:
        from initlab.cli import app
        app(sys.argv[1:], prog_name="initlab")
    else:
        exec(os.environ["INITLAB_CODE"])
except SystemExit as done:
    code = done.code or 0
sys.stdout.flush()
heavy = first[0] if first else ("imported, unseen" if set(watched) & set(sys.modules) else None)
print(json.dumps(heavy), file=sys.stderr)
sys.exit(code)
"""


def light(*args: str, code: str = "", cwd: Path = REPO, watched=("tensorflow", "keras")) -> subprocess.CompletedProcess:
    """Run in a fresh interpreter; fail the test if TensorFlow or Keras (or another package `watched`) got imported."""
    env = {**os.environ, **WIDE, "INITLAB_CODE": code, "INITLAB_WATCHED": ",".join(watched)}
    done = subprocess.run([sys.executable, "-c", WATCHED, *args], cwd=cwd, env=env, capture_output=True, text=True)
    *stderr, verdict = done.stderr.rstrip("\n").split("\n")
    heavy = json.loads(verdict)
    assert heavy is None, heavy
    done.stderr = "\n".join(stderr)
    return done


def test_help_and_every_subcommands_help():
    top = light("--help")
    assert top.returncode == 0 and all(name in top.stdout for name in ("run", "sweep", "validate", "runs", "diagnose"))
    commands = [[name, "--help"] for name in ("run", "sweep", "validate", "initializers", "diagnose", "lessons",
                                               "reproduce", "plot", "runs")] + [["lessons", "show", "--help"],
                                                                                 ["lessons", "copy", "--help"]]
    code = ("from typer.testing import CliRunner\nfrom initlab.cli import app\n"
            f"for args in {commands!r}:\n"
            "    result = CliRunner().invoke(app, args)\n"
            "    assert result.exit_code == 0 and 'Usage' in result.stdout, (args, result.output)\n"
            "    print(args[0], 'ok')\n")
    helps = light(code=code)
    assert helps.returncode == 0, helps.stderr
    assert helps.stdout.split() == [word for args in commands for word in (args[0], "ok")]


def test_validate_prints_the_resolved_config():
    done = light("validate", "configs/relu_constant.yaml")
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)
    assert resolved["model"]["set_weights"] == 0.5 and resolved["model"]["output_activation"] == "sigmoid"
    assert resolved["train"]["loss"] == "binary_crossentropy"  # the task's default, known from the data


def test_a_config_validates_without_tensorflow_and_bad_names_are_told_as_before(tmp_path):
    code = ("from initlab.config import experiment\nfrom initlab.base.errors import UserError\n"
            "for text in ['model: {activation: rleu}', 'train: {optimizer: adma}', 'train: {loss: binary_crossentropi}',"
            " 'model: {hidden: [3], activation: glu}', 'model: {hidden: [4], activation: glu}']:\n"
            "    open('c.yaml', 'w').write('name: c\\n' + text + '\\n')\n"
            "    try:\n"
            "        experiment.load_config('c.yaml')\n"
            "        print('valid')\n"
            "    except UserError as error:\n"
            "        print(error.render())\n")
    done = light(code=code, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "model.activation: unknown activation 'rleu' (did you mean 'relu'?); allowed: " in lines[0]
    assert "train.optimizer: unknown optimizer 'adma' (did you mean 'adam'?)" in lines[1]
    assert "train.loss: unknown loss 'binary_crossentropi' (did you mean 'binary_crossentropy'?)" in lines[2]
    assert "activation 'glu' fails on hidden layer 1 (hidden.0, 3 units): axis size must be divisible by 2" in lines[3]
    assert lines[4] == "valid"


def test_initializers_and_lessons():
    table = light("initializers")
    assert table.returncode == 0 and "he_normal" in table.stdout and "sqrt(2 / n_in)" in table.stdout
    lessons = light("lessons")
    assert lessons.returncode == 0 and "relu_constant" in lessons.stdout and "compare_initializers" in lessons.stdout


@pytest.fixture(scope="module")
def trained_sweep(tmp_path_factory):
    """A tiny sweep (2 initializers x 2 seeds, 2 epochs) trained once here: (sweep file, --out folder, its stdout)."""
    folder = tmp_path_factory.mktemp("light")
    (folder / "base.yaml").write_text((REPO / "configs" / "relu_constant.yaml").read_text())
    sweep = folder / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({
        "name": "light", "base": "base.yaml", "set": {"model.set_weights": None, "train.epochs": 2},
        "grid": {"model.kernel_initializer": ["zeros", "he_normal"]}, "seeds": [0, 1]}))
    out = folder / "out"
    trained = runner.invoke(app, ["sweep", str(sweep), "--out", str(out), "--no-pictures"], env=WIDE)
    assert trained.exit_code == 0, trained.output
    return sweep, out, trained.stdout


@pytest.mark.slow
def test_sweep_dry_run_lists_the_runs_and_which_are_complete(trained_sweep):
    sweep, out, _ = trained_sweep
    done = light("sweep", str(sweep), "--out", str(out), "--dry-run")
    assert done.returncode == 0, done.stderr
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in done.stdout.splitlines() if line.startswith("│")]
    folders = sorted(p.name for p in (out / "light").iterdir() if p.is_dir())
    assert "light: 4 runs, 4 complete" in done.stdout and sorted(row[0] for row in rows) == folders
    assert [row[-1] for row in rows] == ["yes"] * 4


def test_runs_lists_the_finished_runs(trained_sweep):
    _, out, _ = trained_sweep
    done = light("runs", str(out))
    assert done.returncode == 0, done.stderr
    assert f"4 runs under {out}" in done.stdout
    assert all(p.name in done.stdout for p in (out / "light").iterdir() if p.is_dir())


def test_validate_a_sweep_and_runs_as_data(trained_sweep):
    sweep, out, _ = trained_sweep
    done = light("validate", str(sweep))  # every run checked with its data, and grouped
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("# a sweep of 4 runs (2 model.kernel_initializer x 2 seeds)")
    listed = light("runs", str(out), "--json", watched=("tensorflow", "keras", "pandas"))
    assert listed.returncode == 0 and len(json.loads(listed.stdout)) == 4


def _snapshot(folder: Path) -> dict:
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_rerun_that_finds_every_run_complete_trains_and_writes_nothing(trained_sweep):
    sweep, out, first_stdout = trained_sweep
    before = _snapshot(out)
    # nor pandas (~0.5 s to import): planning reads the U-shape file with numpy, the report's rows with csv
    done = light("sweep", str(sweep), "--out", str(out), watched=("tensorflow", "keras", "pandas"))
    assert done.returncode == 0, done.stderr
    assert "nothing to do: every run is complete" in done.stderr
    assert "mean (std) over seeds" in done.stdout and "he_normal" in done.stdout and "zeros" in done.stdout
    assert done.stdout == first_stdout  # the same table, read back from summary.csv
    assert _snapshot(out) == before  # not one file written again, the report's included


def test_a_stale_report_is_written_again(trained_sweep, tmp_path):
    sweep, out, _ = trained_sweep
    report = out / "light" / "report.md"
    (out / "light" / "loss_curves.png").unlink()  # as an interrupted report leaves it
    again = runner.invoke(app, ["sweep", str(sweep), "--out", str(out)], env=WIDE)
    assert again.exit_code == 0, again.output
    assert (out / "light" / "loss_curves.png").is_file()
    fewer = sweep.with_name("fewer.yaml")  # the same sweep with one seed: every run complete, the report is not
    fewer.write_text(sweep.read_text().replace("- 1\n", ""))
    again = runner.invoke(app, ["sweep", str(fewer), "--out", str(out)], env=WIDE)
    assert again.exit_code == 0, again.output
    assert "2 runs of 2 planned" in report.read_text()


def test_a_long_table_keeps_each_run_on_one_line(tmp_path):
    (tmp_path / "base.yaml").write_text((REPO / "configs" / "relu_constant.yaml").read_text())
    sweep = tmp_path / "long.yaml"
    sweep.write_text(yaml.safe_dump({"name": "long", "base": "base.yaml", "set": {"model.set_weights": None},
                                     "grid": {"model.kernel_initializer": ["zeros", "he_normal"]},
                                     "seeds": list(range(30))}))
    listing = runner.invoke(app, ["sweep", str(sweep), "--out", str(tmp_path / "out"), "--dry-run"])  # 80 columns
    assert listing.exit_code == 0, listing.output
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in listing.stdout.splitlines() if line.startswith("│")]
    assert "long: 60 runs, 0 complete" in listing.stdout and len(rows) == 60  # wider than 80 columns, never wrapped
    assert rows[0][1:] == ["zeros", "0", "no"] and rows[0][0].startswith("zeros-relu-2-s0-")
    assert rows[-1][1:] == ["he_normal", "29", "no"] and not (tmp_path / "out").exists()
