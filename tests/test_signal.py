"""Signal propagation at initialization, measured against the closed-form variance recursions."""

import numpy as np
import pytest

from initlab.train import model as model_module, propagation

from tests.conftest import make_config

SEEDS = 4
WIDTH = 256
DEPTH = 8


def _frames(activation, initializer, widths=None, seeds=SEEDS):
    widths = widths or [WIDTH] * DEPTH
    frames = []
    for seed in range(seeds):
        config = make_config(seed=seed, model={"hidden": widths, "activation": activation, "kernel_initializer": initializer})
        config = model_module.with_task_defaults(config, "binary")
        model = model_module.build(config, WIDTH, "binary", 2)
        x = np.random.default_rng(seed).standard_normal((256, WIDTH)).astype(np.float32)
        frames.append(propagation.signal_frame(model, x, seed).iloc[:-1])  # hidden layers
    return frames


def _log_ratio(frames, column):
    return np.mean([np.log(f[column] / f[f"{column}_predicted"]).to_numpy() for f in frames], axis=0)


def _tolerance(widths, seeds=SEEDS):
    """The log of a squared signal norm after l random layers of width n fluctuates with variance about
    5 * sum(1/n) (Hanin & Rolnick 2018, ReLU; tanh fluctuates less); 4 standard errors of the seed mean."""
    return 4 * np.sqrt(5 * np.cumsum(1 / np.asarray(widths, float)) / seeds)


def test_expectations_have_their_closed_forms():
    assert propagation.mean_square_activation("relu", 3.0) == 1.5
    assert propagation.mean_square_activation("tanh", 1e-4) == pytest.approx(1e-4, rel=1e-3)  # tanh(z) ~ z near 0
    assert propagation.mean_square_activation("sigmoid", 0.0) == pytest.approx(0.25)
    # a saturated tanh: E[sech^4 z] -> (4/3) / sqrt(2 pi v) for large v
    assert propagation.mean_square_slope("tanh", 400.0) == pytest.approx(4 / 3 / np.sqrt(2 * np.pi * 400), rel=1e-3)
    rng = np.random.default_rng(0)
    z = rng.normal(0, np.sqrt(2.0), 2_000_000)
    assert propagation.mean_square_activation("tanh", 2.0) == pytest.approx(np.mean(np.tanh(z) ** 2), rel=2e-3)


@pytest.mark.parametrize("activation, initializer", [
    ("relu", "lecun_normal"),  # Var(W) = 1/n: the ReLU signal halves at every layer
    ("relu", "he_normal"),  # Var(W) = 2/n: it holds
    ("tanh", "glorot_uniform"),
    ("tanh", {"name": "variance_scaling", "scale": 1 / 3, "mode": "fan_in", "distribution": "uniform"}),  # U[-1/sqrt(n), 1/sqrt(n)]
])
def test_forward_and_backward_match_theory(activation, initializer):
    frames = _frames(activation, initializer)
    bound = _tolerance([WIDTH] * DEPTH)
    assert np.all(np.abs(_log_ratio(frames, "z_mean_square")) <= bound)
    assert np.all(np.abs(_log_ratio(frames, "grad_mean_square"))[::-1] <= bound)  # errors grow from the top down


def test_relu_halves_with_one_over_n_and_holds_with_two_over_n():
    lecun = np.mean([f["z_mean_square"].to_numpy() for f in _frames("relu", "lecun_normal")], axis=0)
    he = np.mean([f["z_mean_square"].to_numpy() for f in _frames("relu", "he_normal")], axis=0)
    per_layer = (lecun[-1] / lecun[0]) ** (1 / (DEPTH - 1))
    assert per_layer == pytest.approx(0.5, abs=0.05)
    assert (he[-1] / he[0]) ** (1 / (DEPTH - 1)) == pytest.approx(1.0, abs=0.05)


def test_backward_depends_on_fan_out_where_widths_change():
    """Widths 256 -> 64 -> 256 -> 64: He (fan_in) keeps the forward signal but not the backward one; the
    recursion with the next layer's width predicts what is measured."""
    widths = [64, 256, 64, 256, 64]
    frames = _frames("relu", "he_normal", widths=widths)
    assert np.all(np.abs(_log_ratio(frames, "grad_mean_square"))[::-1] <= _tolerance(widths[::-1]))
    grads = np.mean([f["grad_mean_square"].to_numpy() for f in frames], axis=0)
    # going down through a 64 -> 256 step multiplies the gradient by 0.5 * 256 * 2/64 = 4, the other way by 1/4
    assert grads[1] / grads[2] == pytest.approx(0.25, rel=0.3)
    assert grads[0] / grads[1] == pytest.approx(4.0, rel=0.3)


def test_layers_the_theory_does_not_cover_give_no_prediction_and_no_crash():
    config = make_config(model={"hidden": [16, 16], "layers": [{"units": 16, "activation": "elu"}, {"units": 16, "activation": "tanh"}]})
    model = model_module.build(model_module.with_task_defaults(config, "binary"), 8, "binary", 2)
    frame = propagation.signal_frame(model, np.random.default_rng(0).standard_normal((64, 8)).astype(np.float32))
    assert np.isfinite(frame["z_mean_square"]).all()
    assert np.isfinite(frame["z_mean_square_predicted"].iloc[0])  # the first layer only needs the input
    assert np.isnan(frame["z_mean_square_predicted"].iloc[1:]).all()


def test_random_biases_enter_the_forward_recursion_as_sigma_b_squared():
    """tanh with N(0, 0.5^2) biases: q_l = sigma_w^2 E[tanh(z)^2] + sigma_b^2, measured within the finite-width spread;
    leaving sigma_b^2 out would miss by far more than that spread."""
    frames = []
    for seed in range(SEEDS):
        config = make_config(seed=seed, model={"hidden": [WIDTH] * DEPTH, "activation": "tanh", "kernel_initializer": "glorot_normal",
                                               "bias_initializer": {"name": "random_normal", "stddev": 0.5}})
        model = model_module.build(model_module.with_task_defaults(config, "binary"), WIDTH, "binary", 2)
        x = np.random.default_rng(seed).standard_normal((256, WIDTH)).astype(np.float32)
        frames.append(propagation.signal_frame(model, x, seed).iloc[:-1])
    assert np.all(np.abs(_log_ratio(frames, "z_mean_square")) <= _tolerance([WIDTH] * DEPTH))
    frame = frames[0]
    assert frame["bias_mean_square"].to_numpy() == pytest.approx(0.25, rel=0.3)
    without = [propagation.predict(f.assign(bias_mean_square=0.0)) for f in frames]
    assert np.all((_log_ratio(without, "z_mean_square") > _tolerance([WIDTH] * DEPTH))[1:])  # layer 1: 1 against 0.25
    # the closed form, layer by layer, from the measured input and each layer's drawn weights and biases
    q = frame["fan_in"].iloc[0] * frame["weight_var"].iloc[0] * frame["input_mean_square"].iloc[0] + frame["bias_mean_square"].iloc[0]
    for i in range(1, DEPTH):
        q = frame["fan_in"].iloc[i] * frame["weight_var"].iloc[i] * propagation.gaussian_expectation(lambda z: np.tanh(z) ** 2, q) \
            + frame["bias_mean_square"].iloc[i]
        assert frame["z_mean_square_predicted"].iloc[i] == pytest.approx(q, rel=1e-9)


def test_mean_field_fixed_point_and_depth_scale():
    """q* solves its own recursion and a deep random tanh net's E[z^2] settles on it; chi_1 = 1 at sigma_w^2 = 1
    without biases, and xi_c peaks at the order-to-chaos line (sigma_b^2 = 0.05: sigma_w^2 ~ 1.76, as in the paper)."""
    point = propagation.depth_scale("tanh", 2.5, 0.05)
    q = point["q_star"]
    assert q == pytest.approx(2.5 * propagation.mean_square_activation("tanh", q) + 0.05, rel=1e-9)
    assert 0 < point["c_star"] < 1 and point["chi_1"] > 1  # chaotic: nearby inputs decorrelate
    width, depth = 400, 20
    config = make_config(model={"hidden": [width] * depth, "activation": "tanh",
                                "kernel_initializer": {"name": "random_normal", "stddev": float(np.sqrt(2.5 / width))},
                                "bias_initializer": {"name": "random_normal", "stddev": float(np.sqrt(0.05))}})
    model = model_module.build(model_module.with_task_defaults(config, "binary"), width, "binary", 2)
    x = np.random.default_rng(0).standard_normal((128, width)).astype(np.float32)
    measured = propagation.signal_frame(model, x)["z_mean_square"].iloc[10:-1]
    assert measured.mean() == pytest.approx(q, rel=0.1)
    assert propagation.depth_scale("tanh", 1.0, 0.0)["chi_1"] == pytest.approx(1.0, abs=0.01)
    grid = np.linspace(1.0, 3.0, 21)
    xi = [propagation.depth_scale("tanh", w, 0.05)["xi_c"] for w in grid]
    assert grid[int(np.argmax(xi))] == pytest.approx(1.76, abs=0.1) and max(xi) > 10 * min(xi)


def test_signal_csv_holds_the_bytes_pandas_writes_of_the_measured_frame(tmp_path):
    """A run writes signal.csv from rows, without pandas; read back, predict gives the same predictions."""
    import pandas as pd

    from initlab.output import run_folder

    config = model_module.with_task_defaults(make_config(model={"hidden": [5, 3], "activation": "elu"}), "binary")
    model = model_module.build(config, 4, "binary", 2)  # elu: no theory, so predictions are NaN
    x = np.random.default_rng(0).standard_normal((32, 4)).astype(np.float32)
    rows = propagation.signal_rows(model, x, seed=3)
    run_folder.write_rows(rows, list(rows[0]), tmp_path / "signal.csv")
    frame = propagation.signal_frame(model, x, seed=3)
    assert frame.isna().any().any()
    assert (tmp_path / "signal.csv").read_bytes() == frame.to_csv(index=False).encode()
    pd.testing.assert_frame_equal(propagation.predict(pd.read_csv(tmp_path / "signal.csv")), frame, check_exact=True)


def test_the_critical_weight_variance_is_where_chi_1_crosses_one():
    critical = propagation.critical_weight_var("tanh", 0.05)
    assert critical == pytest.approx(1.76, abs=0.01)  # Schoenholz et al. 2017: sigma_w^2 ~ 1.76 at sigma_b^2 = 0.05
    assert propagation.depth_scale("tanh", critical - 0.01, 0.05)["chi_1"] < 1 < \
        propagation.depth_scale("tanh", critical + 0.01, 0.05)["chi_1"]
    # no bias: q* -> 0 and chi_1 -> sigma_w^2, so the line is at 1; the iterates of the length map creep to 0 near it
    # (500 of them stop at ~1e-3, which moved the crossing by 1%): the fixed point they approach is solved for
    assert propagation.critical_weight_var("tanh", 0.0) == pytest.approx(1.0, abs=1e-6)


# ---- the mean-field fixed points against their own maps, integrated here by scipy (not the module's quadrature) --
_PHI = {"tanh": np.tanh, "linear": lambda z: z, "relu": lambda z: np.maximum(z, 0.0), "sigmoid": lambda z: 1 / (1 + np.exp(-z))}


def _normal_mean(h) -> float:
    """E[h(z)], z ~ N(0, 1), by adaptive quadrature."""
    from scipy import integrate

    return integrate.quad(lambda z: h(z) * np.exp(-z * z / 2) / np.sqrt(2 * np.pi), -14, 14, epsabs=1e-14,
                          epsrel=1e-13, limit=400, points=[0.0])[0]


def _length_map(activation, weight_var, bias_var, q) -> float:
    """q -> sigma_w^2 E[phi(sqrt(q) z)^2] + sigma_b^2."""
    return weight_var * _normal_mean(lambda z: _PHI[activation](np.sqrt(q) * z) ** 2) + bias_var


def _correlation_map(activation, weight_var, bias_var, q, c) -> float:
    """c -> (sigma_w^2 E[phi(u1) phi(u2)] + sigma_b^2) / q for u1, u2 ~ N(0, q) with correlation c."""
    from scipy import integrate

    phi, s = _PHI[activation], np.sqrt(1 - c * c)

    def integrand(z2, z1):
        return np.exp(-(z1 * z1 + z2 * z2) / 2) / (2 * np.pi) * phi(np.sqrt(q) * z1) * phi(np.sqrt(q) * (c * z1 + s * z2))

    pair = integrate.dblquad(integrand, -12, 12, -12, 12, epsabs=1e-12, epsrel=1e-12)[0]
    return (weight_var * pair + bias_var) / q


@pytest.mark.parametrize("activation, weight_var, bias_var", [
    ("tanh", 0.5, 0.05), ("tanh", 1.0, 0.3), ("tanh", 1.5, 0.0), ("tanh", 1.77, 0.05), ("tanh", 1.8, 0.05),
    ("tanh", 2.5, 0.05), ("tanh", 4.0, 0.3), ("tanh", 8.0, 0.05), ("linear", 0.5, 0.3), ("linear", 0.9, 0.05),
])
def test_mean_field_fixed_points_satisfy_their_own_maps(activation, weight_var, bias_var):
    """q* = q_map(q*) and c* = c_map(c*), the maps integrated here: on both sides of the order-to-chaos line and
    close to it (sigma_w^2 = 1.77 and 1.8 at sigma_b^2 = 0.05, where the correlation map converges slowly)."""
    point = propagation.depth_scale(activation, weight_var, bias_var)
    q, c = point["q_star"], point["c_star"]
    assert q > 0 and _length_map(activation, weight_var, bias_var, q) == pytest.approx(q, rel=1e-9)
    assert 0 <= c <= 1 and _correlation_map(activation, weight_var, bias_var, q, c) == pytest.approx(c, abs=1e-8)
    slope = {"tanh": lambda u: 1 - np.tanh(u) ** 2, "linear": lambda u: np.ones_like(u)}[activation]
    chi_1 = weight_var * _normal_mean(lambda z: slope(np.sqrt(q) * z) ** 2)
    assert point["chi_1"] == pytest.approx(chi_1, rel=1e-9)
    assert (c < 1) == (chi_1 > 1)  # chaotic: nearby inputs decorrelate to c* < 1; ordered: they align, c* = 1


@pytest.mark.parametrize("activation, weight_var, bias_var, expected", [
    ("tanh", 1.0, 0.0, 0.0),  # at the line without bias the map touches the diagonal at 0: the iterates creep
    ("tanh", 0.5, 0.0, 0.0),
    ("relu", 1.5, 0.1, 0.1 / (1 - 1.5 / 2)),
    ("linear", 0.5, 0.3, 0.3 / (1 - 0.5)),
    ("linear", 1.0, 0.0, 1.0),  # every q is a fixed point: a linear net at sigma_w^2 = 1 keeps the input's
    ("relu", 2.0, 0.0, 1.0),
    ("linear", 1.0, 0.05, np.inf),  # no fixed point: the signal grows without bound
    ("linear", 1.5, 0.0, np.inf),
    ("relu", 2.5, 0.05, np.inf),
])
def test_length_fixed_point_where_the_iteration_creeps_or_runs_away(activation, weight_var, bias_var, expected):
    assert propagation.length_fixed_point(activation, weight_var, bias_var) == pytest.approx(expected, rel=1e-9,
                                                                                             abs=1e-12)


@pytest.mark.parametrize("activation, weight_var, bias_var", [
    ("tanh", 1.000001, 0.0), ("tanh", 1.2, 0.0), ("sigmoid", 1.0, 0.05), ("sigmoid", 4.0, 0.0), ("relu", 1.0, 0.05),
])
def test_length_fixed_point_satisfies_its_map_for_every_activation(activation, weight_var, bias_var):
    q = propagation.length_fixed_point(activation, weight_var, bias_var)
    assert q > 0 and _length_map(activation, weight_var, bias_var, q) == pytest.approx(q, rel=1e-9)
