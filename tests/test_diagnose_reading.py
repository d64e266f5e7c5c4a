"""`initlab diagnose` read as a user reads it (issue 22, item 4): a run folder judged at the weights it started
from (its trained ones on request, said so), layer names that tell the layers apart in 80 columns with no figure
cut, gradients in --json and --csv, MultiHeadAttention's Keras fans as Keras drew them, a LayerScale branch's note,
counts that agree with their nouns and fans as integers."""

import csv
import json
import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import initlab
from initlab.base.backend import keras as _keras
from initlab.cli import app
from initlab.diagnosis import report
from initlab.lab import runs
from initlab.train import model as model_module

from tests.conftest import make_config

runner = CliRunner()


def _cli(*args):
    return runner.invoke(app, ["diagnose", *map(str, args)])


def _rms(array) -> float:
    return float(np.sqrt(np.mean(np.asarray(array, np.float64) ** 2)))


# ---- a run folder: the initial weights by default, the trained ones with --trained ------------------------------

@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A run whose weights moved far from their start: 60 epochs at learning rate 0.05."""
    config = make_config(model={"hidden": [16, 16], "kernel_initializer": "he_normal"},
                         train={"epochs": 60, "learning_rate": 0.05})
    # as a sweep writes its runs: no model.keras until one is asked for (--trained writes it)
    return runs.write_run(runs.train(config), tmp_path_factory.mktemp("runs"), pictures=False, model_file=False)


def test_a_run_folder_is_judged_at_the_weights_it_started_from(trained_run):
    with np.load(trained_run / "weights_initial.npz") as initial, np.load(trained_run / "weights_final.npz") as final:
        initial, final = dict(initial), dict(final)
    assert abs(_rms(final["hidden_2/kernel"]) / _rms(initial["hidden_2/kernel"]) - 1) > 0.2  # training moved them

    had_model = (trained_run / "model.keras").exists()
    judged = json.loads(_cli(trained_run, "--json").stdout)
    for row in judged:
        assert row["weight_rms"] == pytest.approx(_rms(initial[f"{row['layer']}/kernel"]), rel=1e-6)
    # weights_initial.npz is the start: layers.csv's epoch 0 and a fresh build of the run's config draw the same
    layers = pd.read_csv(trained_run / "layers.csv")
    for row in layers[layers["epoch"] == 0].itertuples():
        assert row.weight_std == pytest.approx(np.std(initial[f"{row.layer}/kernel"]), rel=1e-5)
    fresh = model_module.weights_by_name(runs.prepare(initlab.load_config(trained_run / "config.yaml")).model)
    assert fresh.keys() == initial.keys()
    for name, array in fresh.items():
        np.testing.assert_array_equal(array, initial[name])

    text = _cli(trained_run)
    assert text.exit_code == 0, text.output
    assert "weights: at initialization, the run's weights_initial.npz" in text.stdout
    assert "trained" not in text.stdout
    assert (trained_run / "model.keras").exists() == had_model  # the initial weights need no model file


def test_trained_judges_the_final_weights_and_says_so(trained_run):
    with np.load(trained_run / "weights_final.npz") as final:
        final = dict(final)
    judged = json.loads(_cli(trained_run, "--json", "--trained").stdout)
    for row in judged:
        assert row["weight_rms"] == pytest.approx(_rms(final[f"{row['layer']}/kernel"]), rel=1e-6)
    text = _cli(trained_run, "--trained").stdout
    heading = " ".join(" ".join(text.splitlines()[1:4]).split())
    assert "weights: trained, after 60 epochs (weights_final.npz)" in heading
    assert "findings about scale describe training, not initialization" in heading


def test_trained_is_refused_where_there_are_no_trained_weights(tmp_path):
    result = _cli("relu_he", "--trained")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.strip().count("\n") == 0 and "--trained" in result.stderr and "run folder" in result.stderr


# ---- layer names in 80 columns ----------------------------------------------------------------------------------

NASNET_LIKE = [f"separable_conv_{conv}_reduction_{side}_stem_{cell}"
               for cell in (1, 2, 3) for conv in (1, 2) for side in ("left1", "right1", "left2", "right2")]


def _long_names_net():
    """24 7x7 depthwise layers on 32 channels named as NASNet names its cells: long names, alike at the start;
    findings ('4.1x small, Keras fans 1568/49') longer than what 80 columns leave them."""
    keras = _keras()
    layers = [keras.layers.DepthwiseConv2D(7, padding="same", name=name) for name in NASNET_LIKE]
    return keras.Sequential([keras.Input((4, 4, 32)), *layers])


def table_rows(text: str) -> list[tuple[str, str]]:
    """(layer cell, finding with its wrapped lines joined) of each row of a report's table."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("layer "))
    kind_at, finding_at = lines[start].index("kind"), lines[start].index("finding")
    rows = []
    for line in lines[start + 1:]:
        if not line or line.startswith("... "):
            break
        if line[0] != " ":
            rows.append([line[:kind_at].strip(), line[finding_at:]])
        else:
            rows[-1][1] += " " + line[finding_at:].strip()
    return [(layer, finding) for layer, finding in rows]


def names_one(cell: str, every_name: list[str]) -> list[str]:
    """The layer names a table cell can be: '…' stands for any text."""
    pattern = re.compile(".*".join(map(re.escape, cell.split("…"))) + r"\Z")
    return [name for name in every_name if pattern.match(name)]


def assert_readable(text: str, table: pd.DataFrame) -> None:
    """Each row names one layer, its own; every finding whole; nothing past 80 columns."""
    every_name = list(table["layer"])
    rows = table_rows(text)
    shown = table if len(table) <= report.FULL_TABLE else table[table["verdict"] != "ok"]
    assert [names_one(cell, every_name) for cell, _ in rows] == [[name] for name in shown["layer"]]
    assert [finding for _, finding in rows] == list(shown["summary"])
    assert max(map(len, text.splitlines())) <= 80


def test_long_alike_names_stay_apart_in_80_columns_and_no_figure_is_cut(tmp_path):
    model = _long_names_net()
    table = initlab.diagnose(model)
    assert (table["summary"] == "4.1x small, Keras fans 1568/49").all()  # the figures the table must not cut
    assert_readable(report.render(table, "cells"), table)

    model.save(tmp_path / "cells.keras")
    full = _cli(tmp_path / "cells.keras", "--full-names").stdout
    assert [cell for cell, _ in table_rows(full)] == NASNET_LIKE
    assert [finding for _, finding in table_rows(full)] == list(table["summary"])


def test_names_no_cut_tells_apart_are_wrapped_whole():
    keras = _keras()
    names = ["a" * 40 + "1" + "b" * 40, "a" * 40 + "2" + "b" * 40]  # alike for 40 characters on either side
    model = keras.Sequential([keras.Input((4,)), *[keras.layers.Dense(4, name=name) for name in names]])
    text = report.render(initlab.diagnose(model), "alike")
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("layer "))
    kind_at = lines[header].index("kind")
    cells = []
    for line in lines[header + 1:]:
        if not line:
            break
        if line[kind_at:].strip():  # a row starts where its kind is; below it, the rest of its name
            cells.append("")
        cells[-1] += line[:kind_at].strip()
    assert cells == names and max(map(len, lines)) <= 80


@pytest.mark.slow
def test_nasnet_mobile_names_stay_apart_in_80_columns():
    model = _keras().applications.NASNetMobile(weights=None)
    table = initlab.diagnose(model)
    assert (table["verdict"] != "ok").sum() > 100
    assert_readable(report.render(table, "nasnet_mobile"), table)


# ---- gradients in --json and --csv ------------------------------------------------------------------------------

def test_json_and_csv_hold_gradients_without_plot(tmp_path):
    path = tmp_path / "mlp.keras"
    keras = _keras()
    keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)]).save(path)
    rows = json.loads(_cli(path, "--json").stdout)
    assert all(row["grad_rms"] > 0 for row in rows)
    assert _cli(path, "--csv", tmp_path / "d.csv").exit_code == 0
    assert (pd.read_csv(tmp_path / "d.csv")["grad_rms"] > 0).all()


# ---- MultiHeadAttention: the fans Keras drew with ---------------------------------------------------------------

def test_attention_keras_fans_are_the_ones_keras_drew_with():
    keras = _keras()
    x = keras.Input((10, 64))
    attention = keras.layers.MultiHeadAttention(num_heads=4, key_dim=16, name="attention")(x, x)
    model = keras.Model(x, keras.layers.Dense(1)(keras.layers.GlobalAveragePooling1D()(attention)))
    row = json.loads(report.to_json(initlab.diagnose(model)))[0]
    assert row["layer"] == "attention"
    kernels = {w["weight"]: w for w in row["weights"]}
    layer = model.get_layer("attention")
    for name, variable in (("query/kernel", layer._query_dense.kernel),
                           ("attention_output/kernel", layer._output_dense.kernel)):
        figures = kernels[name]
        assert (figures["keras_fan_in"], figures["keras_fan_out"]) == (64, 64)  # the shape rule says 256/1024, 64/256
        assert (figures["fan_in"], figures["fan_out"]) == (64, 64)
        # glorot_uniform, Keras's default, drew with these fans: std sqrt(2 / (fan_in + fan_out))
        drawn = np.std(variable.numpy())
        assert drawn == pytest.approx(np.sqrt(2 / (figures["keras_fan_in"] + figures["keras_fan_out"])), rel=0.05)
    assert (row["keras_fan_in"], row["keras_fan_out"]) == (64, 64)


# ---- LayerScale on a residual branch ----------------------------------------------------------------------------

@pytest.mark.parametrize("drop_path_rate", [0.0, 0.1])
def test_a_convnext_layer_scale_branch_gets_the_residual_branch_note(drop_path_rate):
    from keras.src.applications.convnext import ConvNeXtBlock

    keras = _keras()
    x = keras.Input((8, 8, 16))
    y = ConvNeXtBlock(16, drop_path_rate=drop_path_rate, layer_scale_init_value=1e-6, name="block")(x)
    table = initlab.diagnose(keras.Model(x, y)).set_index("layer")
    scale = table.loc["block_layer_scale"]
    assert scale["kind"] == "LayerScale" and scale["residual"]
    assert scale["verdict"] == "note" and "small_branch" in scale["finding_codes"]
    assert scale["weight_rms"] == pytest.approx(1e-6)
    assert "residual branch adds" in report.render(table.reset_index(), "block")


def test_a_layer_scale_of_zeros_off_a_residual_branch_is_a_problem():
    from keras.src.applications.convnext import LayerScale

    keras = _keras()
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, activation="relu"),
                              LayerScale(0.0, 8, name="scale"), keras.layers.Dense(1)])
    scale = initlab.diagnose(model).set_index("layer").loc["scale"]
    assert scale["verdict"] == "problem" and "zero_gamma" in scale["finding_codes"]


@pytest.mark.slow
def test_every_convnext_tiny_layer_scale_is_a_small_branch_note():
    table = initlab.diagnose(_keras().applications.ConvNeXtTiny(input_shape=(32, 32, 3), weights=None))
    scales = table[table["kind"] == "LayerScale"]
    assert len(scales) == 18 and (scales["verdict"] == "note").all()
    assert scales["finding_codes"].map(lambda codes: "small_branch" in codes).all()


# ---- counts agree with their nouns ------------------------------------------------------------------------------

def test_one_of_a_kind_is_said_in_the_singular():
    keras = _keras()
    one = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, kernel_initializer="zeros", name="only")])
    text = report.render(initlab.diagnose(one), "one")
    assert "1 problem (1 layer with weights)" in text

    # 51 layers: 50 problems listed, the one ok layer summed up; two depthwise layers share one note
    layers = [keras.layers.Dense(4, kernel_initializer="zeros") for _ in range(50)] + [keras.layers.Dense(1)]
    many = report.render(initlab.diagnose(keras.Sequential([keras.Input((4,)), *layers])), "many")
    assert "1 ok, 50 problems (51 layers with weights)" in many and "... and 1 more layer ok" in many
    x = keras.Input((6, 6, 32))
    y = keras.layers.DepthwiseConv2D(3, name="dw_1")(x)
    y = keras.layers.BatchNormalization()(y)
    y = keras.layers.DepthwiseConv2D(3, name="dw_2")(y)
    y = keras.layers.BatchNormalization()(y)
    notes = report.render(initlab.diagnose(keras.Model(x, y)), "notes")
    assert "(and 1 more layer like it)" in notes and "2 notes" in notes


# ---- fans as integers -------------------------------------------------------------------------------------------

def test_fans_are_integers_in_json_and_csv(tmp_path):
    keras = _keras()
    path = tmp_path / "bn.keras"
    keras.Sequential([keras.Input((8,)), keras.layers.Dense(64), keras.layers.BatchNormalization(),
                      keras.layers.ReLU(), keras.layers.Dense(1)]).save(path)
    rows = json.loads(_cli(path, "--json").stdout)
    columns = ("fan_in", "fan_out", "keras_fan_in", "keras_fan_out", "units", "distinct_units")
    assert [[row[c] for c in columns] for row in rows] == [[8, 64, 8, 64, 64, 64], [None] * 6, [64, 1, 64, 1, 1, 1]]
    assert all(type(row[c]) is int for row in (rows[0], rows[2]) for c in columns)
    _cli(path, "--csv", tmp_path / "bn.csv")
    with open(tmp_path / "bn.csv", newline="") as file:
        cells = list(csv.reader(file))
    at = [cells[0].index(c) for c in columns]
    assert [[row[i] for i in at] for row in cells[1:]] == [["8", "64", "8", "64", "64", "64"], [""] * 6,
                                                           ["64", "1", "64", "1", "1", "1"]]


def test_the_run_commands_count_in_the_singular_too(tmp_path, capsys):
    from initlab.cli import _print_run_summary

    folder = runs.write_run(runs.train(make_config(train={"epochs": 1})), tmp_path, pictures=False)
    listing = runner.invoke(app, ["runs", str(tmp_path)], env={"COLUMNS": "250"})
    assert f"1 run under {tmp_path}" in listing.stdout
    _print_run_summary(folder)
    assert "; 1 epoch in " in capsys.readouterr().err
