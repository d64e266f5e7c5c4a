"""A run folder end to end: the files, their columns, determinism, atomic replacement, the Python API."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import initlab
from initlab.base import backend
from initlab.lab import runs
from initlab.output import run_folder

from tests.conftest import make_config

FILES = {"config.yaml", "metrics.csv", "layers.csv", "summary.json", "weights_initial.npz", "weights_final.npz",
         "signal.csv",
         "model.keras", "histograms.npz", "boundary.png", "history.png", "activations.png", "gradients.png",
         "boundary.npz", "boundary.gif", "gradient_histograms.png"}


def test_deep_runs_get_a_signal_picture(tmp_path):
    assert (runs.run(make_config(model={"hidden": [4, 4]}, train={"epochs": 1}), tmp_path) / "signal.png").exists()


def test_run_folder_has_every_file_and_column(tmp_path):
    folder = runs.run(make_config(train={"epochs": 4}), tmp_path)
    assert folder.parent == tmp_path / "test"
    assert {p.name for p in folder.iterdir()} == FILES
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # nothing staged is left behind
    metrics = pd.read_csv(folder / "metrics.csv")
    assert list(metrics.columns) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
    assert metrics["epoch"].tolist() == [1, 2, 3, 4]
    layers = pd.read_csv(folder / "layers.csv")
    assert list(layers.columns) == ["epoch", "layer", "units", "activation_mean", "activation_std", "dead_fraction",
                                    "saturated_fraction", "weight_mean", "weight_std", "grad_norm", "distinct_units"]
    assert layers["epoch"].unique().tolist() == [0, 1, 2, 3, 4]
    assert layers[layers.epoch == 0]["layer"].tolist() == ["hidden_1", "output"]
    summary = run_folder.read_summary(folder)
    assert summary["status"] == "ok" and summary["epochs_run"] == 4 and summary["engine"] == "fast"
    assert set(summary["epochs_to"]) == {"0.8", "0.9"}
    assert set(summary["final"]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert set(summary["versions"]) == {"python", "tensorflow", "keras", "numpy", "initlab"}
    assert summary["numerics"] == {"onednn_max_cpu_isa": os.environ.get(backend.ONEDNN_ISA)}  # AVX2 unless set
    with np.load(folder / "weights_final.npz") as weights:
        assert sorted(weights) == ["hidden_1/bias", "hidden_1/kernel", "output/bias", "output/kernel"]


def test_final_metrics_are_the_final_weights_evaluated(tmp_path):
    from initlab.base.backend import keras

    folder = runs.run(make_config(train={"epochs": 3}), tmp_path)
    model = keras().saving.load_model(folder / "model.keras")
    data = runs.load_data(make_config())
    scores = model.evaluate(data.x_train, data.y_train, batch_size=32, verbose=0, return_dict=True)
    summary = run_folder.read_summary(folder)
    assert abs(summary["final"]["loss"] - scores["loss"]) < 1e-6
    assert abs(summary["final"]["accuracy"] - scores["accuracy"]) < 1e-6


@pytest.mark.slow
def test_same_config_gives_byte_identical_records(tmp_path):
    config = make_config(model={"hidden": [6], "kernel_initializer": "he_uniform"}, train={"epochs": 6})
    first = runs.run(config, tmp_path / "a")
    second = runs.run(config, tmp_path / "b")
    for name in ("metrics.csv", "layers.csv", "weights_initial.npz", "weights_final.npz", "config.yaml"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_rerun_replaces_the_folder(tmp_path):
    config = make_config(train={"epochs": 2})
    folder = runs.run(config, tmp_path)
    (folder / "stale.txt").write_text("from before")
    assert runs.run(config, tmp_path) == folder
    assert not (folder / "stale.txt").exists()
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]


def test_run_id_is_readable_and_follows_the_config():
    a = runs.run_id(make_config(model={"set_weights": 0.5}))
    b = runs.run_id(make_config(model={"set_weights": 0.5}, seed=1))
    assert a.startswith("set0.5-relu-2-s0-") and b.startswith("set0.5-relu-2-s1-")
    assert runs.run_id(make_config(model={"kernel_initializer": {"name": "random_normal", "stddev": 0.01}})).startswith(
        "random_normal_stddev_0.01_-relu-2-s0-")
    deep = runs.run_id(make_config(model={"hidden": [64] * 128 + [32, 32], "activation": "tanh"}))
    assert deep.startswith("glorot_uniform-tanh-64times128x32times2-s0-") and len(deep) < 80  # a folder name's 255 bytes
    assert runs.run_id(make_config(model={"hidden": [32] * 48})).startswith("glorot_uniform-relu-" + "x".join(["32"] * 48))


@pytest.mark.slow
def test_both_engines_record_the_same_layer_numbers(tmp_path):
    config = {"model": {"hidden": [4, 3], "activation": "tanh"}, "train": {"epochs": 3, "shuffle": False}}
    fast = pd.read_csv(runs.run(make_config(**config), tmp_path) / "layers.csv")
    keras = pd.read_csv(runs.run(make_config(**{**config, "train": {**config["train"], "engine": "keras"}}), tmp_path) / "layers.csv")
    pd.testing.assert_frame_equal(fast, keras, atol=1e-6, rtol=0)


def test_diverged_run_keeps_records_and_finite_weights(tmp_path):
    config = make_config(
        data={"dataset": "salary", "n_samples": 60},
        model={"hidden": [8], "activation": "linear", "kernel_initializer": {"name": "random_uniform", "minval": 0, "maxval": 1}},
        train={"optimizer": "sgd", "learning_rate": 0.5, "epochs": 50, "shuffle": False},
    )
    folder = runs.run(config, tmp_path)
    summary = run_folder.read_summary(folder)
    assert summary["status"] == "diverged"
    metrics = pd.read_csv(folder / "metrics.csv")
    assert len(metrics) == summary["diverged_at_epoch"] == summary["epochs_run"]
    with np.load(folder / "weights_final.npz") as weights:
        assert all(np.all(np.isfinite(weights[k])) for k in weights)
    assert (folder / "history.png").exists() and (folder / "layers.csv").exists()
    last_recorded = pd.read_csv(folder / "layers.csv")["epoch"].max()
    with np.load(folder / "histograms.npz") as samples:  # where the run ended is kept, not only the planned epochs
        assert f"epoch_{last_recorded}/hidden_1" in samples and "epoch_0/hidden_1" in samples


def test_python_api(tmp_path):
    config_path = Path(__file__).parents[1] / "configs" / "relu_constant.yaml"
    config = initlab.load_config(config_path, ["train.epochs=3"])
    folder = initlab.run(config, out=tmp_path)
    frame = initlab.metrics(folder)
    assert len(frame) == 3 and initlab.summary(folder)["distinct_units"] == [1]
    assert list(initlab.layers(folder)["epoch"].unique()) == [0, 1, 2, 3]


def test_record_every_and_tensorboard(tmp_path):
    folder = runs.run(make_config(train={"epochs": 7}, record={"every": 3, "tensorboard": True}), tmp_path)
    assert pd.read_csv(folder / "layers.csv")["epoch"].unique().tolist() == [0, 3, 6, 7]
    assert list((folder / "tensorboard").rglob("events.out.tfevents.*"))


def test_epochs_to_target_accuracy():
    history = [{"epoch": 1, "accuracy": 0.5}, {"epoch": 2, "accuracy": 0.8999999761581421}, {"epoch": 3, "accuracy": 0.95}]
    assert runs.epochs_to(history, "accuracy", [0.9, 0.99]) == {"0.9": 2, "0.99": None}
    assert runs.epochs_to([{"epoch": 1, "mae": 3.0}], "mae", [0.9]) == {}


def test_boundary_frames_show_the_weights_of_their_epochs(tmp_path):
    from PIL import Image

    from initlab.output import plots
    from initlab.train import data as data_module, model as model_module

    config = make_config(train={"epochs": 12})
    folder = runs.run(config, tmp_path)
    with np.load(folder / "boundary.npz") as recorded:
        frames = dict(recorded)
    assert frames["epoch"][0] == 0 and frames["epoch"][-1] == 12 and len(frames["epoch"]) == 13  # every early epoch
    data = runs.load_data(config)
    model = model_module.build(runs.prepare(config)[0], data.n_features, data.task, data.n_classes)
    xs, ys = data_module.plane(data.x_train, data.x_val, len(frames["x"]))
    gx, gy = np.meshgrid(xs, ys)
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
    for index, weights_file in ((0, "weights_initial.npz"), (-1, "weights_final.npz")):
        with np.load(folder / weights_file) as weights:
            model.set_weights([weights[name] for name in model_module.weights_by_name(model)])
        expected = model(grid, training=False).numpy()[:, 0].reshape(gx.shape)
        np.testing.assert_allclose(frames["value"][index], expected, atol=1e-3)  # stored as float16
        predicted = (model(data.x_train, training=False).numpy()[:, 0] > 0.5)
        assert frames["accuracy"][index] == np.mean(predicted == data.y_train.ravel().astype(bool))
    metrics = run_folder.read_metrics(folder)
    assert not np.allclose(frames["value"][0], frames["value"][-1])
    with Image.open(folder / "boundary.gif") as gif:
        assert gif.n_frames == len(frames["epoch"])
    fig, show, _ = plots.boundary_animation_figure(frames, data.x_train, data.y_train, data.x_val, data.y_val, "t")
    image = fig.axes[0].images[0]
    for i in (0, 5, len(frames["epoch"]) - 1):
        show(i)
        np.testing.assert_array_equal(image.get_array(), frames["value"][i].astype(np.float32))
        assert f"epoch {frames['epoch'][i]} " in fig.texts[-1].get_text()
        assert f"{frames['accuracy'][i]:.3f}" in fig.texts[-1].get_text()
    # fixed axes: every frame on the same plane, from the grid's first to its last point, each cell centred on its point
    assert fig.axes[0].get_xlim() == (xs[0], xs[-1]) and fig.axes[0].get_ylim() == (ys[0], ys[-1])
    left, right, bottom, top = image.get_extent()
    np.testing.assert_allclose([(left + right) / 2, (bottom + top) / 2], [(xs[0] + xs[-1]) / 2, (ys[0] + ys[-1]) / 2],
                               rtol=1e-5)
    np.testing.assert_allclose([(right - left) / len(xs), (top - bottom) / len(ys)], [xs[1] - xs[0], ys[1] - ys[0]],
                               rtol=1e-5)
    assert len(metrics) == 12
    plots.plt.close(fig)
    (folder / "boundary.gif").unlink()
    runs.redraw(folder)  # initlab plot draws it again from the records
    assert (folder / "boundary.gif").is_file()


def test_records_csv_files_are_the_bytes_pandas_writes(tmp_path):
    from initlab.config.columns import LAYER_COLUMNS

    result = runs.train(make_config(data={"validation_split": 0.0}, train={"epochs": 2}))
    assert all(np.isnan(row["val_loss"]) for row in result.history)  # empty cells, as pandas writes NaN
    odd = {"epoch": 3, "loss": float("inf"), "accuracy": np.float32(0.1), "val_loss": None, "val_accuracy": np.nan}
    metric_columns = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
    for rows, columns in ((result.history + [odd], metric_columns), (result.layer_rows, LAYER_COLUMNS)):
        run_folder.write_rows(rows, columns, tmp_path / "fast.csv")
        pd.DataFrame(rows, columns=columns).to_csv(tmp_path / "pandas.csv", index=False)
        assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()
