"""The AI Note's lessons on scikit-learn's 8x8 digits (configs/digits_*.yaml): five hidden layers of 64 units, zeros,
too small, too large, Glorot and He, each claim measured on a brief run of the shipped lesson."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import initlab
from initlab.cli import app
from initlab.config import experiment as config_module
from initlab.train import data as data_module

CONFIGS = Path(__file__).parents[1] / "configs"
HIDDEN = [f"hidden_{i}" for i in range(1, 6)]


def _run(name, tmp_path, *overrides):
    folder = initlab.run(initlab.load_config(CONFIGS / f"{name}.yaml", list(overrides)), out=tmp_path)
    layers = initlab.layers(folder)
    start = layers[(layers.epoch == 0) & layers.layer.isin(HIDDEN)].set_index("layer").loc[HIDDEN]
    return folder, initlab.summary(folder), initlab.metrics(folder), start


def test_digits_is_sklearns_bundled_set_standardized_with_a_fixed_shuffled_split():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    cfg = config_module.load_config(CONFIGS / "digits_he_relu.yaml")
    data = data_module.load_dataset(cfg.data, seed=cfg.seed)
    assert (data.task, data.n_classes, data.n_features) == ("multiclass", 10, 64)
    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.2, random_state=42)
    np.testing.assert_array_equal(data.y_train, y_train)
    np.testing.assert_array_equal(data.y_val, y_val)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    scale = np.where(std > 0, std, 1.0)
    np.testing.assert_allclose(data.x_train, (x_train - mean) / scale, atol=1e-5)  # the training part's statistics
    np.testing.assert_allclose(data.x_val, (x_val - mean) / scale, atol=1e-5)
    other_seed = data_module.load_dataset(cfg.data, seed=7)  # the run seed never changes the split
    np.testing.assert_array_equal(other_seed.y_val, data.y_val)
    subset = data_module.load_dataset(config_module.load_config(CONFIGS / "digits_he_relu.yaml", ["data.n_samples=100"]).data, seed=0)
    assert len(subset.x_train) + len(subset.x_val) == 100


@pytest.mark.slow
def test_zero_init_no_gradient_reaches_the_five_hidden_layers(tmp_path):
    folder, summary, metrics, start = _run("digits_zero_relu", tmp_path, "train.epochs=2")
    with np.load(folder / "weights_final.npz") as end:
        assert all(np.all(end[f"{layer}/kernel"] == 0) for layer in HIDDEN)
    layers = initlab.layers(folder)
    assert (layers[layers.layer.isin(HIDDEN)]["grad_norm"] == 0).all()
    assert summary["final"]["accuracy"] < 0.2 and summary["distinct_units"] == [1] * 5
    assert metrics["loss"].iloc[-1] == pytest.approx(np.log(10), abs=0.01)  # softmax over 10 classes, nothing learnt


@pytest.mark.slow
def test_too_small_shrinks_the_signal_layer_by_layer_and_learns_slowly(tmp_path):
    folder, summary, _, start = _run("digits_small_tanh", tmp_path, "train.epochs=3")
    std = start["activation_std"].to_numpy()
    assert np.all(std[1:] < std[:-1] / 5)  # ~0.08 per layer: sqrt(64) * 0.01
    assert (start["grad_norm"] < 1e-4).all()
    with np.load(folder / "histograms.npz") as samples:  # the per-layer histograms' samples narrow to a spike at 0
        spread = [np.abs(samples[f"epoch_0/{layer}"]).max() for layer in HIDDEN]
    assert all(deeper < shallower / 5 for shallower, deeper in zip(spread, spread[1:]))
    assert summary["final"]["accuracy"] < 0.5


@pytest.mark.slow
def test_too_large_saturates_tanh_in_every_layer_and_generalizes_badly(tmp_path):
    folder, summary, metrics, start = _run("digits_large_tanh", tmp_path, "train.epochs=3")
    assert (start["saturated_fraction"] > 0.5).all()
    with np.load(folder / "histograms.npz") as samples:  # the per-layer histograms pile up at -1 and +1
        assert all(np.mean(np.abs(samples[f"epoch_0/{layer}"]) > 0.99) > 0.5 for layer in HIDDEN)
    assert metrics["loss"].iloc[0] > 2 * np.log(10)


@pytest.mark.slow
def test_glorot_on_tanh_and_he_on_relu_hold_the_signal_and_learn_in_three_epochs(tmp_path):
    for name in ("digits_glorot_tanh", "digits_he_relu"):
        _, summary, _, start = _run(name, tmp_path, "train.epochs=3")
        std = start["activation_std"].to_numpy()
        assert std[-1] > 0.4 * std[0] and (start["saturated_fraction"] < 0.05).all(), name
        assert summary["final"]["accuracy"] > 0.9 and summary["epochs_to"]["0.9"] <= 3, name


@pytest.mark.slow
def test_the_digits_sweep_orders_the_initializers_beyond_seed_noise(tmp_path):
    """Brief: 2 epochs on 400 images. Zeros stay at chance for both activations, far below Glorot and He, and the report
    says so with its rule; summary.csv gives every cell's 95% interval."""
    result = CliRunner().invoke(app, ["sweep", "digits_initializers", "--out", str(tmp_path), "--set", "train.epochs=2",
                                      "--set", "data.n_samples=400"])
    assert result.exit_code == 0, result.output
    sweep_dir = tmp_path / "digits_initializers"
    summary = pd.read_csv(sweep_dir / "summary.csv")
    assert len(summary) == 10 and (summary["runs"] == 3).all()
    assert (summary["accuracy_ci95_low"] <= summary["accuracy_mean"]).all()
    assert (summary["accuracy_mean"] <= summary["accuracy_ci95_high"]).all()
    pairs = pd.read_csv(sweep_dir / "differences.csv")
    for activation in ("tanh", "relu"):
        row = pairs[(pairs["model.activation"] == activation) & (pairs["a"] == "zeros") & (pairs["b"] == "he_normal")]
        assert len(row) == 1 and row["accuracy_diff"].iloc[0] < -0.2 and row["accuracy_beyond_noise"].iloc[0] == "yes"
    assert "two-proportion test" in (sweep_dir / "report.md").read_text()
