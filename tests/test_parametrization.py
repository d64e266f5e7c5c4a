"""muP (model.parametrization: mup): each layer's initial variance and effective learning rate against Yang et al.
2022's Table 3, the standard network at the base width, and populations whose members carry their own learning
rate equal to the same runs trained alone."""

import math

import numpy as np
import pytest

from initlab.base.backend import tf as _tf
from initlab.lab import runs
from initlab.train import model as model_module, parametrization

from tests.conftest import make_config
from tests.test_population import _assert_same_run, _population

FEATURES, CLASSES = 2, 1  # the U-shape: two features, one sigmoid output


def _mup(optimizer="adam", hidden=(64, 256), base=16, **model):
    return make_config(model={"hidden": list(hidden), "parametrization": "mup", "base_width": base, **model},
                       train={"optimizer": optimizer, "learning_rate": 0.01, "epochs": 2})


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd"])
def test_factors_follow_table_3(optimizer):
    """Input, hidden and output rows of Table 3, with fan_in and fan_out as ratios to the base width."""
    config = _mup(optimizer, hidden=(64, 256), base=16)
    first, hidden, output = parametrization.factors(config, FEATURES, CLASSES)
    assert [f.role for f in (first, hidden, output)] == ["input", "hidden", "output"]
    assert (first.fan_in_ratio, first.fan_out_ratio) == (1.0, 4.0)  # 2 features do not grow; 64 = 4 x 16
    assert (hidden.fan_in_ratio, hidden.fan_out_ratio) == (4.0, 16.0)
    assert (output.fan_in_ratio, output.fan_out_ratio) == (16.0, 1.0)
    assert (first.init_std, hidden.init_std) == (1.0, 1.0)
    assert output.init_std == pytest.approx(1 / math.sqrt(16))  # variance 1/fan_in^2: SP's 1/fan_in divided by fan_in
    if optimizer == "sgd":  # eta * fan_out for input weights and all biases, eta for hidden, eta / fan_in for output
        assert [f.kernel_rate for f in (first, hidden, output)] == [4.0, 1.0, 1 / 16]
        assert [f.bias_rate for f in (first, hidden, output)] == [4.0, 16.0, 1.0]
    else:  # eta for input weights and all biases, eta / fan_in for hidden and output weights
        assert [f.kernel_rate for f in (first, hidden, output)] == [1.0, 1 / 4, 1 / 16]
        assert [f.bias_rate for f in (first, hidden, output)] == [1.0, 1.0, 1.0]


def test_at_the_base_width_mup_is_the_standard_network():
    mup = _mup(hidden=(16, 16), base=16)
    standard = make_config(model={"hidden": [16, 16]}, train={"learning_rate": 0.01, "epochs": 2})
    assert all(f.init_std == f.kernel_rate == f.bias_rate == 1.0 for f in parametrization.factors(mup, 2, 1))
    a, b = runs.train(mup), runs.train(standard)
    for key, weights in b.weights_final.items():
        np.testing.assert_array_equal(a.weights_final[key], weights, err_msg=key)
    assert a.history == b.history


def test_initial_weights_are_the_standard_draw_with_the_output_scaled():
    """The same seeded draw as standard; the output kernel times 1/sqrt(fan_in/base), so its variance is the
    initializer's 1/fan_in over fan_in/base (measured on 256 x 2000 weights: within 5% of the closed form)."""
    mup = _mup(hidden=(64, 256), base=16, kernel_initializer="he_normal")
    standard = make_config(model={"hidden": [64, 256], "kernel_initializer": "he_normal"})
    a = model_module.weights_by_name(model_module.build(mup, FEATURES, "binary", 2))
    b = model_module.weights_by_name(model_module.build(standard, FEATURES, "binary", 2))
    for key in ("hidden_1/kernel", "hidden_2/kernel", "output/bias"):
        np.testing.assert_array_equal(a[key], b[key])
    np.testing.assert_array_equal(a["output/kernel"], b["output/kernel"] * np.float32(0.25))
    wide = _mup(hidden=(64, 2000), base=16, kernel_initializer={"name": "random_normal", "stddev": 1.0})
    output = model_module.weights_by_name(model_module.build(wide, FEATURES, "binary", 2))["output/kernel"]
    assert output.var() == pytest.approx(1.0 * 16 / 2000, rel=0.05)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_one_step_moves_each_layer_by_its_tables_rate(optimizer):
    """The compiled model's first optimizer step, against the closed form: SGD moves W by -eta * factor * g; Adam's
    first step by -eta * factor * g / (|g| + eps / sqrt(1 - beta_2)) (Keras's bias correction of one gradient)."""
    tf = _tf()
    config = _mup(optimizer, hidden=(32, 64), base=8)
    data = runs.load_data(config)
    config = model_module.with_task_defaults(config, data.task)
    model = model_module.build(config, data.n_features, data.task, data.n_classes)
    model_module.compile(model, config, data.task)
    x, y = data.x_train[:32], data.y_train[:32]
    with tf.GradientTape() as tape:
        loss = model.compute_loss(x=x, y=y, y_pred=model(x, training=True), training=True)
    grads = {v.path.split("/", 1)[1]: g.numpy() for v, g in zip(model.trainable_variables,
                                                                 tape.gradient(loss, model.trainable_variables))}
    before = model_module.weights_by_name(model)
    model.optimizer.apply_gradients(zip([tf.constant(grads[v.path.split("/", 1)[1]]) for v in model.trainable_variables],
                                        model.trainable_variables))
    after = model_module.weights_by_name(model)
    factors = parametrization.factors(config, data.n_features, 1)
    eps = model.optimizer.epsilon / math.sqrt(1 - model.optimizer.beta_2) if optimizer == "adam" else None
    for name, f in zip(model_module.layer_names(2), factors):
        for part, rate in (("kernel", f.kernel_rate), ("bias", f.bias_rate)):
            g = grads[f"{name}/{part}"]
            direction = g if optimizer == "sgd" else g / (np.abs(g) + eps)
            moved = before[f"{name}/{part}"] - after[f"{name}/{part}"]
            rounding = 2 * np.spacing(np.abs(before[f"{name}/{part}"]).max())  # float32 weights, subtracted
            np.testing.assert_allclose(moved, 0.01 * rate * direction, rtol=1e-3, atol=rounding, err_msg=f"{name}/{part}")


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "adamw"])
def test_a_population_of_learning_rates_equals_solo_runs(optimizer):
    """Members with their own learning rate (and muP's per-layer factors) train in one graph as they train alone."""
    model = {"hidden": [8, 24], "parametrization": "mup", "base_width": 8}
    configs = [make_config(seed=seed, model=model, train={"optimizer": optimizer, "learning_rate": rate, "epochs": 3})
               for seed, rate in zip([0, 1, 2, 0], [0.003, 0.01, 0.03, 0.1])]
    members = _population(configs)
    for member, config in zip(members, configs):
        _assert_same_run(member, runs.train(config), f"{optimizer} at {config.train.learning_rate}")


def test_mup_trains_alike_with_model_fit_and_the_fast_loop():
    """The keras engine (model.fit with the per-variable optimizer) is the reference the fast loop must equal (rows
    in order: fit's shuffle is not the fast loop's)."""
    model = {"hidden": [8, 24], "parametrization": "mup", "base_width": 8}
    fast, reference = (runs.train(make_config(model=model, train={"learning_rate": 0.01, "epochs": 2, "shuffle": False,
                                                                  "engine": engine}))
                       for engine in ("fast", "keras"))
    for key, weights in reference.weights_final.items():
        np.testing.assert_allclose(fast.weights_final[key], weights, rtol=1e-5, atol=1e-6, err_msg=key)


def test_a_mup_runs_model_file_loads_with_its_rates(tmp_path):
    """model.keras keeps the per-layer rates; a fresh process loads it after importing initlab.train.layer_rates."""
    import subprocess
    import sys

    path = runs.write_run(runs.train(_mup(hidden=(32, 64), base=8)), tmp_path / "out", pictures=False) / "model.keras"
    code = ("import initlab.train.layer_rates, keras; m = keras.saving.load_model(%r); "
            "print(type(m.optimizer).__name__, sorted(m.optimizer.rates.items()))" % str(path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "PerVariableAdam [('hidden_2/kernel', 0.25), ('output/kernel', 0.125)]"
