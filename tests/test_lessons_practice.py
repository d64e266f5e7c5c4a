"""Initialization in practice, each claim from its config in configs/, run (briefly where it can be) and measured:
zero init without a hidden layer, random biases on constant weights, small init and depth, per-layer initializers,
the learning rate, and convergence speed.

Every number asserted here was measured first on the config's full-length run over seeds 0-2 (see each config's
header comment).
"""

import math
from pathlib import Path

import numpy as np
import pytest

import initlab
import initlab.lab.runs

CONFIGS = Path(__file__).parents[1] / "configs"


def _run(name, tmp_path, *overrides):
    folder = initlab.run(initlab.load_config(CONFIGS / f"{name}.yaml", list(overrides)), out=tmp_path)
    return folder, initlab.summary(folder), initlab.metrics(folder), initlab.layers(folder)


def test_zero_init_is_harmless_without_a_hidden_layer(tmp_path):
    from sklearn.linear_model import LogisticRegression

    folder, summary, _, _ = _run("logreg_zero", tmp_path)
    with np.load(folder / "weights_initial.npz") as start, np.load(folder / "weights_final.npz") as end:
        assert np.all(start["output/kernel"] == 0)
        assert np.all(end["output/kernel"] != 0)  # both input weights learned from zero
    data = initlab.lab.runs.load_data(initlab.load_config(CONFIGS / "logreg_zero.yaml"))
    x, y = data.x_train, data.y_train.ravel()
    logistic = LogisticRegression(C=1e6).fit(x, y).score(x, y)
    assert summary["final"]["accuracy"] >= 0.8
    assert summary["final"]["accuracy"] >= logistic - 0.025  # measured 0.85, the same as scikit-learn's


@pytest.mark.slow
def test_random_biases_break_the_symmetry_of_constant_weights(tmp_path):
    folder, summary, _, layers = _run("constant_kernel_random_bias", tmp_path, "train.epochs=1000", "record.every=100")
    hidden = layers[layers.layer == "hidden_1"]
    assert hidden.distinct_units.iloc[0] == 10 and summary["distinct_units"] == [10]  # different from epoch 0 ...
    with np.load(folder / "weights_initial.npz") as start, np.load(folder / "weights_final.npz") as end:
        assert np.all(start["hidden_1/kernel"] == 0.5)  # ... though every unit starts looking the same way
        kernel = end["hidden_1/kernel"].astype(np.float64)
    columns = kernel / np.linalg.norm(kernel, axis=0)
    assert (columns.T @ columns).min() < 0.2  # the columns drift apart: measured -0.08 to -0.18 after 1000 epochs
    singular = np.linalg.svd(kernel, compute_uv=False)
    assert singular[1] / singular[0] > 0.2  # no longer one direction (rank 1): measured 0.31-0.46


@pytest.mark.slow
def test_small_init_trains_a_shallow_net_but_stalls_a_deep_one(tmp_path):
    _, shallow, _, _ = _run("small_init_shallow", tmp_path, "train.epochs=100")
    _, deep, deep_metrics, _ = _run("small_init_deep", tmp_path, "train.epochs=100")
    assert shallow["final"]["accuracy"] >= 0.95 and shallow["epochs_to"]["0.9"] is not None  # 0.9 at epoch 27-31
    assert deep["final"]["accuracy"] < 0.6 and deep["epochs_to"]["0.8"] is None
    assert np.all(np.abs(deep_metrics.loss - math.log(2)) < 0.01)  # the loss never leaves ln 2


@pytest.mark.slow
def test_each_layer_draws_from_its_own_initializer(tmp_path):
    folder, _, _, _ = _run("per_layer_init", tmp_path, "data.n_samples=300", "train.epochs=1")
    # (layer, std formula from the fans, largest |w| the distribution allows as a multiple of that std)
    truncated = 2 / 0.87962566103423978  # Keras: a normal cut at 2 stddev, stddev raised so the std is the formula's
    expected = [
        ("hidden_1", lambda n_in, n_out: math.sqrt(2 / n_in), truncated),           # he_normal
        ("hidden_2", lambda n_in, n_out: math.sqrt(2 / (n_in + n_out)), math.sqrt(3)),  # glorot_uniform
        ("hidden_3", lambda n_in, n_out: math.sqrt(1 / n_in), truncated),           # lecun_normal
        ("hidden_4", lambda n_in, n_out: math.sqrt(2 / n_in), math.sqrt(3)),        # he_uniform
    ]
    with np.load(folder / "weights_initial.npz") as start:
        for layer, formula, bound in expected:
            kernel = start[f"{layer}/kernel"].astype(np.float64)
            std = formula(*kernel.shape)
            assert kernel.std() == pytest.approx(std, rel=0.02), layer  # measured within 0.4%
            assert abs(kernel.mean()) < 0.05 * std, layer
            assert np.abs(kernel).max() <= bound * std * (1 + 1e-6), layer
            assert np.all(start[f"{layer}/bias"] == 0)
        output = start["output/kernel"]  # glorot_normal from model.kernel_initializer; only 64 draws
        assert output.std() == pytest.approx(math.sqrt(2 / (64 + 1)), rel=0.3)
    layers = initlab.load_config(CONFIGS / "per_layer_init.yaml").model.layers
    names = [layer.kernel_initializer.raw for layer in layers]
    assert names == ["he_normal", "glorot_uniform", "lecun_normal", "he_uniform"]


@pytest.mark.slow
def test_the_learning_rate_decides_whether_the_same_init_learns(tmp_path):
    _, small, _, _ = _run("lr_too_small", tmp_path, "train.epochs=100")
    _, good, _, _ = _run("lr_well_chosen", tmp_path, "train.epochs=100")
    assert good["epochs_to"]["0.9"] is not None and good["epochs_to"]["0.9"] <= 60  # measured 22-39
    assert small["epochs_to"] == {"0.8": None, "0.9": None}
    assert small["final"]["accuracy"] < 0.7 and good["final"]["accuracy"] >= 0.9


@pytest.mark.slow
def test_he_init_converges_many_times_faster(tmp_path):
    _, he, _, _ = _run("convergence_he", tmp_path, "train.epochs=150")
    _, bad, _, _ = _run("convergence_random_normal", tmp_path, "train.epochs=150")
    assert he["epochs_to"]["0.9"] is not None and he["epochs_to"]["0.9"] <= 30  # measured 16-20
    assert bad["epochs_to"]["0.9"] is None  # measured 239-372: more than 5x He's
