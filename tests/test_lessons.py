"""The lesson's claims, each from its config in configs/, measured."""

from pathlib import Path

import numpy as np
import pytest

import initlab
import initlab.lab.runs

CONFIGS = Path(__file__).parents[1] / "configs"


def _run(name, tmp_path, *overrides):
    folder = initlab.run(initlab.load_config(CONFIGS / f"{name}.yaml", overrides), out=tmp_path)
    return folder, initlab.summary(folder)


@pytest.mark.slow
def test_constant_init_is_one_neuron_stuck_at_one_class(tmp_path):
    folder, summary = _run("relu_constant", tmp_path)
    assert summary["final"]["accuracy"] == 0.5 and summary["final"]["val_accuracy"] == 0.5
    assert summary["distinct_units"] == [1]
    assert len(initlab.metrics(folder)) == 100
    with np.load(folder / "weights_initial.npz") as start, np.load(folder / "weights_final.npz") as end:
        kernel = end["hidden_1/kernel"]
        assert not np.allclose(kernel, start["hidden_1/kernel"])  # the weights moved...
        np.testing.assert_array_equal(kernel[:, 0], kernel[:, 1])  # ...and the two hidden units stayed identical
        assert end["hidden_1/bias"][0] == end["hidden_1/bias"][1]


@pytest.mark.slow
def test_zero_init_no_gradient_reaches_the_hidden_layer(tmp_path):
    folder, summary = _run("relu_zero", tmp_path)
    with np.load(folder / "weights_final.npz") as end:
        assert np.all(end["hidden_1/kernel"] == 0) and np.all(end["hidden_1/bias"] == 0)
    layers = initlab.layers(folder)
    assert (layers[layers.layer == "hidden_1"]["grad_norm"] == 0).all()
    assert summary["final"]["accuracy"] == 0.5


@pytest.mark.slow
def test_constant_init_trained_long_is_a_straight_line(tmp_path):
    from sklearn.linear_model import LogisticRegression

    folder, summary = _run("relu_constant_long", tmp_path)
    assert summary["distinct_units"] == [1]
    data = initlab.lab.runs.load_data(initlab.load_config(CONFIGS / "relu_constant_long.yaml"))
    logistic = LogisticRegression(C=1e6).fit(data.x_train, data.y_train.ravel()).score(data.x_train, data.y_train.ravel())
    assert logistic == pytest.approx(0.85)
    assert logistic - 0.05 <= summary["final"]["accuracy"] <= logistic + 1e-6  # float32 accuracy


@pytest.mark.slow
def test_he_init_bends_around_the_u(tmp_path):
    _, summary = _run("relu_he", tmp_path)
    assert summary["final"]["accuracy"] >= 0.9
    assert summary["distinct_units"] == [10]


@pytest.mark.slow
def test_he_init_learns_in_the_tutorial_s_100_epochs(tmp_path):
    accuracies = [
        _run("relu_constant", tmp_path, "model.set_weights=null", "model.kernel_initializer=he_normal",
             "model.hidden=[10]", f"seed={seed}")[1]["final"]["accuracy"]
        for seed in range(5)
    ]
    assert np.median(accuracies) >= 0.7
