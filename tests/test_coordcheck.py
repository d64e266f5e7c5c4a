"""Issue 24: `initlab coordcheck CONFIG --widths ...`, a coordinate check as a user types it: the files it writes, the
slopes it reports against an oracle computed from its CSV, the output layer measured before its sigmoid, bad input,
and what standard parametrization with Adam does to the hidden layers after one step."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from initlab.cli import app
from initlab.output import plots

from tests.test_cli_errors import assert_user_error

runner = CliRunner()
# 32 wide Gaussian inputs, two ReLU layers, Adam at 0.05: after one step the second hidden layer's coordinates grow
# with width (slope 0.41 at seeds 0-2 over widths 16-256), the first's (its fan-in is the 32 inputs) do not
TINY = {
    "name": "tiny",
    "data": {"dataset": "gaussian", "n_samples": 64, "n_features": 32},
    "model": {"hidden": [8, 8], "activation": "relu", "kernel_initializer": "he_normal"},
    "train": {"optimizer": "adam", "learning_rate": 0.05, "batch_size": 32, "epochs": 1},
}
WIDTHS = [16, 64, 256]


def write_config(folder: Path, **changes) -> Path:
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump({**TINY, **changes}))
    return path


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    """The tiny config checked at widths 16, 64 and 256 (given out of order), 2 steps, 3 seeds: its folder and what
    the command printed."""
    folder = tmp_path_factory.mktemp("coordcheck")
    result = runner.invoke(app, ["coordcheck", str(write_config(folder)), "--widths", "256,16,64", "--steps", "2",
                                 "--out", str(folder / "out")], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    return folder / "out" / "coordcheck" / "tiny", result.stdout


def slopes_in_report(folder: Path) -> pd.DataFrame:
    """The table of coordcheck.md, read back."""
    lines = [line for line in (folder / "coordcheck.md").read_text().splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
    frame = pd.DataFrame(rows, columns=header)
    return frame.astype({"step": int, "slope": float})


def test_writes_the_csv_the_picture_and_the_report_in_the_config_s_folder(checked):
    folder, printed = checked
    assert printed.splitlines()[-1] == str(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["coordcheck.csv", "coordcheck.md", "coordcheck.png"]
    assert (folder / "coordcheck.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    frame = pd.read_csv(folder / "coordcheck.csv")
    assert list(frame.columns) == ["width", "step", "layer", "mean_abs"]
    assert sorted(frame["width"].unique()) == WIDTHS and sorted(frame["step"].unique()) == [0, 1, 2]
    assert list(frame["layer"][:3]) == ["hidden_1", "hidden_2", "output"]  # named as in layers.csv, output last
    assert len(frame) == 3 * 3 * 3 and (frame["mean_abs"] > 0).all() and np.isfinite(frame["mean_abs"]).all()


def test_slopes_are_those_of_the_csv_on_log_axes(checked):
    """The oracle: least squares of log mean_abs on log width, from coordcheck.csv alone (its values are the
    geometric means over seeds, so this slope is the mean of the seeds' slopes the report gives)."""
    folder, printed = checked
    frame = pd.read_csv(folder / "coordcheck.csv")
    reported = slopes_in_report(folder)
    assert len(reported) == 3 * 3
    for row in reported.itertuples():
        line = frame[(frame["step"] == row.step) & (frame["layer"] == row.layer)].sort_values("width")
        oracle = np.polyfit(np.log(line["width"]), np.log(line["mean_abs"]), 1)[0]
        assert row.slope == pytest.approx(oracle, abs=1e-3), (row.step, row.layer)
        assert float(row.ci95_low) < row.slope < float(row.ci95_high)
        assert re.search(rf"│ {row.step} +│ {row.layer} +│ {oracle:.2f} ", printed), (row.step, row.layer)


def test_standard_parametrization_with_adam_grows_the_hidden_layers_after_one_step(checked):
    """At initialization every hidden layer keeps its scale whatever the width (He init); one Adam step later the
    second hidden layer's coordinates grow with width, and the logits faster; the first layer's fan-in is the
    inputs, which do not widen: it stays flat."""
    folder, _ = checked
    verdicts = {(row.step, row.layer): row for row in slopes_in_report(folder).itertuples()}
    assert verdicts[0, "hidden_1"].verdict == verdicts[0, "hidden_2"].verdict == "flat"
    assert verdicts[1, "hidden_1"].verdict == "flat"
    assert verdicts[1, "hidden_2"].verdict == "grows with width" and verdicts[1, "hidden_2"].slope > 0.3
    assert verdicts[1, "output"].verdict == "grows with width" and verdicts[1, "output"].slope > 1
    assert "After 2 steps, output grows with width." in (folder / "coordcheck.md").read_text()


def test_mup_with_adam_keeps_the_hidden_layers_flat_after_one_step(tmp_path):
    """The same network under muP (base width 16; Yang et al. 2022, Table 3): after one Adam step every hidden
    layer's slope is flat (standard: hidden_2 0.41, output 1.30); the logits start 1/sqrt(width) small (slope -0.5 in
    theory, the output kernel's std scaled by sqrt(16/width)) and after the step no longer grow as standard's do."""
    result = runner.invoke(app, ["coordcheck", str(write_config(tmp_path)), "--widths", "16,64,256", "--steps", "1",
                                 "--set", "model.parametrization=mup", "--set", "model.base_width=16",
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "out" / "coordcheck" / "tiny"
    verdicts = {(row.step, row.layer): row for row in slopes_in_report(folder).itertuples()}
    assert verdicts[1, "hidden_1"].verdict == verdicts[1, "hidden_2"].verdict == "flat"
    assert abs(verdicts[1, "hidden_2"].slope) < 0.1
    assert verdicts[0, "output"].slope < -0.3 and verdicts[1, "output"].slope < 0.5
    assert "muP (base width 16), adam at learning rate 0.05" in (folder / "coordcheck.md").read_text()
    assert "After 1 step, no layer grows with width." in (folder / "coordcheck.md").read_text()


def test_a_base_width_wider_than_a_width_is_told_with_that_width(tmp_path):
    """The config's own hidden widths (8) never count: base_width 32 is fine at 64 and 256, refused at 16."""
    out = tmp_path / "out"
    config = write_config(tmp_path)
    result = runner.invoke(app, ["coordcheck", str(config), "--widths", "16,64,256", "--set",
                                 "model.parametrization=mup", "--set", "model.base_width=32", "--out", str(out)])
    assert_user_error(result, out, "model.base_width: 32 is wider than the narrowest hidden layer (16 units)",
                      "(every hidden layer 16 wide, from --widths)")
    result = runner.invoke(app, ["coordcheck", str(config), "--widths", "16,64", "--set", "model.parametrization=mup",
                                 "--set", "model.base_width=8", "--set", "model.set_weights=1", "--out", str(out)])
    message = assert_user_error(result, out, "model.set_weights: cannot be combined with parametrization: mup")
    assert "wide, from --widths" not in message  # the same at every width: the config's own problem


def test_the_output_layer_is_measured_before_its_sigmoid(config_factory):
    """Against numpy on the model's own weights: the logits' mean |z|, not the probabilities'."""
    from initlab.lab import runs
    from initlab.train import coordinates

    config = config_factory(model={"hidden": [5], "activation": "tanh"})
    prepared = runs.prepare(config)
    x = prepared.data.x_train[:32]
    found = coordinates.mean_abs(prepared.model, x)
    (w1, b1), (w2, b2) = [layer.get_weights() for layer in prepared.model.layers]
    hidden = np.tanh(x @ w1 + b1)
    assert found["hidden_1"] == pytest.approx(np.abs(hidden).mean(), rel=1e-5)
    assert found["output"] == pytest.approx(np.abs(hidden @ w2 + b2).mean(), rel=1e-5)
    assert prepared.model.layers[-1].activation.__name__ == "sigmoid"  # put back after the measurement


def test_fewer_than_three_seeds_give_no_interval_and_no_verdict(checked, tmp_path):
    """--seeds 2 on a fresh folder: slopes without an interval, every verdict unclear; a second check of the same
    config replaces the first."""
    config = write_config(tmp_path)
    for seeds in ("2", "2"):
        result = runner.invoke(app, ["coordcheck", str(config), "--widths", "16,64", "--steps", "1", "--seeds", seeds,
                                     "--out", str(tmp_path / "out")])
        assert result.exit_code == 0, result.output
    reported = slopes_in_report(tmp_path / "out" / "coordcheck" / "tiny")
    assert set(reported["verdict"]) == {"unclear"} and set(reported["ci95_low"]) == {""}
    assert [p.name for p in (tmp_path / "out" / "coordcheck").iterdir()] == ["tiny"]  # no staging folder left


BAD = {  # arguments after the config, fragments of the one line
    "zero": (["--widths", "0,64"], ["--widths", "0 is not a width"]),
    "negative": (["--widths", "-8,64"], ["--widths", "-8 is not a width"]),
    "not_whole": (["--widths", "16,2.5"], ["'2.5' is not a whole number", "such as 64,256,1024"]),
    "word": (["--widths", "16,wide"], ["'wide' is not a whole number"]),
    "empty": (["--widths", ""], ["--widths: no widths given"]),
    "empty_item": (["--widths", "16,,64"], ["'' is not a whole number"]),
    "duplicate": (["--widths", "16,64,16"], ["16 is given twice"]),
    "one_width": (["--widths", "64"], ["a slope needs at least two widths"]),
    "no_steps": (["--widths", "16,64", "--steps", "0"], ["--steps: 0 is out of range; allowed: 1 to 10"]),
    "many_steps": (["--widths", "16,64", "--steps", "11"], ["--steps: 11 is out of range"]),
    "no_seeds": (["--widths", "16,64", "--seeds", "0"], ["--seeds: 0 is out of range; allowed: 1 to 20"]),
    "over_limit": (["--widths", "16,4096"], ["model.hidden", "parameters in the model", "over the limit",
                                             "(every hidden layer 4096 wide, from --widths)"]),
    "no_hidden": (["--widths", "16,64", "--set", "model.hidden=[]"], ["model.hidden", "no hidden layer"]),
    "bad_set": (["--widths", "16,64", "--set", "model.hiden=[4]"], ["did you mean 'hidden'"]),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_one_line_exit_2_and_nothing_written(case, tmp_path):
    arguments, fragments = BAD[case]
    out = tmp_path / "out"
    result = runner.invoke(app, ["coordcheck", str(write_config(tmp_path)), *arguments, "--out", str(out)])
    assert_user_error(result, out, *fragments)
    assert not out.exists()


def test_a_width_an_activation_fails_on_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["coordcheck", str(write_config(tmp_path)), "--widths", "16,63", "--set",
                                 "model.activation=glu", "--out", str(out)])
    assert_user_error(result, out, "activation 'glu' fails on hidden layer 1", "(every hidden layer 63 wide")
    assert not out.exists()


def test_residual_blocks_are_refused_in_one_line(tmp_path):
    path = tmp_path / "res.yaml"
    path.write_text("name: res\nmodel: {hidden: [8], residual: {blocks: 2}}\n")
    result = CliRunner().invoke(app, ["coordcheck", str(path), "--widths", "16,32", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "\n" not in result.stderr.strip(), result.output
    assert "model.residual: a coordinate check measures a plain chain" in result.stderr
    assert not (tmp_path / "out").exists()


def test_the_picture_draws_the_csv_s_values_one_panel_a_step_one_line_a_layer(checked):
    folder, _ = checked
    frame = pd.read_csv(folder / "coordcheck.csv")
    figure = plots.coordinates_figure(frame, "tiny")
    panels = [ax for ax in figure.axes if ax.get_lines()]
    assert [ax.get_title() for ax in panels] == ["initialization", "after step 1", "after step 2"]
    for step, ax in enumerate(panels):
        drawn = {line.get_label(): line for line in ax.get_lines()}
        assert list(drawn) == ["hidden_1", "hidden_2", "output"]
        for layer, line in drawn.items():
            expected = frame[(frame["step"] == step) & (frame["layer"] == layer)].sort_values("width")
            np.testing.assert_array_equal(line.get_xdata(), expected["width"])
            np.testing.assert_allclose(line.get_ydata(), expected["mean_abs"], rtol=0)
        assert ax.get_xscale() == "log" and panels[0].get_yscale() == "log"
