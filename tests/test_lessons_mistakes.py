"""The four classic initialization mistakes (zero, constant 0.5, small N(0, 0.01^2), large U[0, 1]), each with ReLU,
tanh and sigmoid hidden layers (configs/mistake_*.yaml), and the lesson's salary regression example, each run briefly
and measured from its run folder.

Every number asserted here was measured first on the config's full-length run over seeds 0-2 (see each config's
header comment); the brief runs shrink epochs and rows where the claim does not need them.
"""

import math
from pathlib import Path

import numpy as np
import pytest

import initlab
import initlab.lab.runs

CONFIGS = Path(__file__).parents[1] / "configs"
LN2 = math.log(2)
HIDDEN = ["hidden_1", "hidden_2", "hidden_3", "hidden_4"]
# The four mistakes train 1000 rows x 500 features for 50 epochs; their claims show in 300 rows and a few epochs.
BRIEF = ["data.n_samples=300", "train.epochs=3"]


def _run(name, tmp_path, *overrides):
    folder = initlab.run(initlab.load_config(CONFIGS / f"{name}.yaml", list(overrides)), out=tmp_path)
    return folder, initlab.summary(folder), initlab.metrics(folder), initlab.layers(folder)


def _at(layers, epoch):
    """layers.csv rows of one epoch, indexed by layer name."""
    return layers[layers.epoch == epoch].set_index("layer")


def _hidden(layers):
    return layers[layers.layer.str.startswith("hidden")]


def _weights(folder, which="final"):
    with np.load(folder / f"weights_{which}.npz") as weights:
        return dict(weights)


def _same_columns(kernel, bias, rtol=1e-6):
    """Every unit (kernel column and its bias) equal to the first, relative to the layer's largest weight."""
    units = np.vstack([kernel, bias[None, :]]).astype(np.float64)
    return np.abs(units - units[:, :1]).max() <= rtol * np.abs(units).max()


# ---- mistake 1: zero init ------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_zero_init_no_gradient_reaches_a_hidden_layer(tmp_path, activation):
    folder, summary, metrics, layers = _run(f"mistake_zero_{activation}", tmp_path, *BRIEF)
    weights = _weights(folder)
    for name in HIDDEN:
        assert np.all(weights[f"{name}/kernel"] == 0) and np.all(weights[f"{name}/bias"] == 0)
    hidden = _hidden(layers)
    assert (hidden.grad_norm == 0).all() and (hidden.activation_std == 0).all() and (hidden.distinct_units == 1).all()
    assert summary["distinct_units"] == [1, 1, 1, 1]
    # only the output bias learns: one prediction for every row
    output = layers[layers.layer == "output"]
    assert (output.activation_std == 0).all()
    assert weights["output/bias"][0] != 0 and np.all(weights["output/kernel"] == 0)
    assert abs(metrics.loss.iloc[-1] - LN2) < 0.01


@pytest.mark.slow
def test_zero_init_sigmoid_moves_but_stays_symmetric(tmp_path):
    """sigmoid(0) = 0.5, unlike relu(0) = tanh(0) = 0: gradient reaches the hidden layers, from the top down,
    and each layer's units move together."""
    folder, summary, metrics, layers = _run("mistake_zero_sigmoid", tmp_path, *BRIEF)
    start = _at(layers, 0)
    assert (start.loc[HIDDEN, "grad_norm"] == 0).all() and start.loc["output", "grad_norm"] > 0
    assert (start.loc[HIDDEN, "activation_mean"] == 0.5).all()
    weights = _weights(folder)
    size = [np.abs(weights[f"{name}/kernel"]).max() for name in HIDDEN]
    assert size[3] > 0  # the hidden kernels left zero, the last hidden layer first...
    assert size[3] > size[2] > size[1] >= size[0]  # ...the gradient shrinks on every step back
    assert (_hidden(layers).distinct_units == 1).all() and summary["distinct_units"] == [1, 1, 1, 1]
    for name in HIDDEN:
        assert _same_columns(weights[f"{name}/kernel"], weights[f"{name}/bias"])
    assert summary["final"]["accuracy"] < 0.6  # plain SGD: no learning in this time


@pytest.mark.slow
def test_zero_init_sigmoid_with_adam_learns_as_one_neuron_per_layer(tmp_path):
    """Adam's rescaled steps turn the tiny, symmetric gradients into real moves: the chain of one-neuron layers fits
    this linearly separable task, and the units never become different."""
    _, summary, _, layers = _run("mistake_zero_sigmoid", tmp_path, "train.optimizer=adam", "train.learning_rate=0.001",
                                 "train.epochs=40", "record.every=10")
    assert summary["final"]["accuracy"] >= 0.95  # measured 0.98-1.0 after 50 epochs, seeds 0-2
    assert (_hidden(layers).distinct_units == 1).all()


# ---- mistake 2: constant init (every weight and bias 0.5) -----------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_constant_init_units_stay_identical(tmp_path, activation):
    folder, summary, metrics, layers = _run(f"mistake_constant_{activation}", tmp_path, *BRIEF)
    assert (_hidden(layers).distinct_units == 1).all()  # every hidden layer, every recorded epoch
    assert summary["distinct_units"] == [1, 1, 1, 1]
    start, end = _weights(folder, "initial"), _weights(folder)
    for name in HIDDEN:
        assert np.all(start[f"{name}/kernel"] == 0.5) and np.all(start[f"{name}/bias"] == 0.5)
        assert _same_columns(end[f"{name}/kernel"], end[f"{name}/bias"])
    if activation == "relu":
        assert not np.allclose(end["hidden_1/kernel"], 0.5)  # the weights moved, together
    else:
        # 0.5 on 500 inputs also saturates tanh and sigmoid: no gradient, the hidden weights never leave 0.5
        assert _at(layers, 0).loc["hidden_4", "saturated_fraction"] == 1.0
        assert (_hidden(layers).grad_norm == 0).all()
        assert all(np.all(end[f"{name}/kernel"] == 0.5) for name in HIDDEN)


# ---- mistake 3: small random init N(0, 0.01^2) -----------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_small_init_signal_shrinks_layer_by_layer(tmp_path, activation):
    folder, summary, metrics, layers = _run(f"mistake_small_{activation}", tmp_path, *BRIEF)
    std = _at(layers, 0).loc[HIDDEN, "activation_std"].to_numpy()
    assert np.all(std[1:] / std[:-1] < 0.15)  # measured ~0.06 (relu), ~0.08 (tanh) per layer
    assert std[3] < 1e-3
    assert _at(layers, 0).grad_norm.max() < 1e-3  # and the gradients are as small
    assert np.all(np.abs(metrics.loss - LN2) < 0.005)  # plain SGD: the loss does not move from ln 2


@pytest.mark.slow
def test_small_init_sigmoid_signal_shrinks_behind_a_constant_offset(tmp_path):
    folder, summary, metrics, layers = _run("mistake_small_sigmoid", tmp_path, *BRIEF)
    start = _at(layers, 0)
    pooled = start.loc[HIDDEN, "activation_std"].to_numpy()
    assert np.all(pooled[1:] < pooled[0] / 3)  # pooled std falls after hidden_1, then holds at ~0.01 ...
    with np.load(folder / "histograms.npz") as samples:  # ... while each unit's dependence on the input keeps falling
        signal = [samples[f"epoch_0/{name}"].std(axis=0).mean() for name in HIDDEN]
    assert np.all(np.array(signal[1:]) / np.array(signal[:-1]) < 0.1)  # measured ~0.02-0.04 per layer
    grads = start.loc[HIDDEN + ["output"], "grad_norm"].to_numpy()
    assert np.all(np.diff(grads) > 0) and grads[0] < 1e-5  # the gradient vanishes on the way back
    assert np.all(np.abs(metrics.loss - LN2) < 0.01)


# ---- mistake 4: large random init U[0, 1] ----------------------------------------------------------------------------
@pytest.mark.slow
def test_large_init_relu_explodes_then_dies(tmp_path):
    folder, summary, metrics, layers = _run("mistake_large_relu", tmp_path, *BRIEF)
    std = _at(layers, 0).loc[HIDDEN + ["output"], "activation_std"].to_numpy()
    assert np.all(std[1:] / std[:-1] > 10)  # measured ~30x per layer
    assert metrics.loss.iloc[0] > 1e9  # measured 3e12-5e12
    assert summary["status"] == "ok"  # ReLU does not overflow to NaN ...
    end = _at(layers, layers.epoch.max())
    assert (end.loc[["hidden_2", "hidden_3", "hidden_4"], "dead_fraction"] == 1.0).all()  # ... its units die
    _, he, he_metrics, _ = _run("mistake_large_relu", tmp_path, *BRIEF, "model.kernel_initializer=he_normal")
    assert he["status"] == "ok" and he_metrics.loss.iloc[0] < 10


@pytest.mark.slow
@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_large_init_saturates_and_diverges(tmp_path, activation):
    name = f"mistake_large_{activation}"
    folder, summary, metrics, layers = _run(name, tmp_path, "train.epochs=3")  # all 1000 rows: 25 steps an epoch
    saturated = _at(layers, 0).loc[HIDDEN, "saturated_fraction"]
    assert saturated["hidden_1"] > 0.6 and saturated["hidden_4"] > 0.99  # measured 0.83-0.85 (tanh), 0.72-0.73; 1.0
    if activation == "sigmoid":  # every unit at 0 or 1: no gradient gets through (tanh: a few units, seed-dependent)
        assert (_at(layers, 0).loc[HIDDEN, "grad_norm"] == 0).all()
    assert summary["status"] == "diverged" and summary["diverged_at_epoch"] == 2  # measured: seeds 0-2
    assert metrics.loss.iloc[0] > 1e15  # measured 2e22-3e23 (tanh), 7e23-9e23 (sigmoid)
    assert not np.isfinite(metrics.loss.iloc[-1])
    # the same training from Glorot init stays finite
    _, glorot, glorot_metrics, _ = _run(name, tmp_path, "train.epochs=3", "model.kernel_initializer=glorot_uniform")
    assert glorot["status"] == "ok" and glorot_metrics.loss.max() < 10
    # with a sigmoid output, the output unit is saturated too
    _, _, _, sigmoid_out = _run(name, tmp_path, *BRIEF, "model.output_activation=sigmoid")
    assert _at(sigmoid_out, 0).loc["output", "saturated_fraction"] > 0.99


# ---- the lesson's regression example: CGPA and IQ -> salary, 2 hidden ReLU units -------------------------------------
def test_salary_zero_init_predicts_the_mean(tmp_path):
    config = initlab.load_config(CONFIGS / "salary_zero_relu.yaml")
    folder, summary, _, layers = _run("salary_zero_relu", tmp_path)
    weights = _weights(folder)
    assert np.all(weights["hidden_1/kernel"] == 0) and np.all(weights["hidden_1/bias"] == 0)
    assert (layers[layers.layer == "hidden_1"].grad_norm == 0).all()
    salaries = initlab.lab.runs.load_data(config).y_train
    assert summary["final"]["loss"] == pytest.approx(float(np.var(salaries)), rel=0.01)  # the mean, for everyone


def test_salary_constant_init_is_one_neuron_which_is_enough_here(tmp_path):
    folder, summary, _, layers = _run("salary_constant_relu", tmp_path)
    assert (layers[layers.layer == "hidden_1"].distinct_units == 1).all() and summary["distinct_units"] == [1]
    weights = _weights(folder)
    assert not np.allclose(weights["hidden_1/kernel"], 0.5)
    np.testing.assert_array_equal(weights["hidden_1/kernel"][:, 0], weights["hidden_1/kernel"][:, 1])
    assert weights["hidden_1/bias"][0] == weights["hidden_1/bias"][1]
    assert summary["final"]["loss"] < 2.0  # measured 0.9-1.3: the noise variance is 1; the mean alone gives ~10
