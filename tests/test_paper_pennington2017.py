"""Pennington, Schoenholz and Ganguli 2017 at the draw: the critical point of q* = 1/64, the free-probability growth
of the Jacobian's spread against its closed forms, the measured spread of orthogonal tanh near q* -> 0 (an isometry)
and of Gaussian tanh (about L), the SVD taken at chosen layers only, and the lesson's figure."""

import numpy as np
import pytest
from typer.testing import CliRunner

from initlab.cli import app
from initlab.config import catalog, experiment as config_module
from initlab.lab import paper_pennington2017 as pennington
from initlab.train import batched_draws, jacobian, propagation

runner = CliRunner()
DIGITS = np.random.default_rng(0).normal(size=(16, 64))  # 64 features, as digits: only the inputs' scale matters here


def _lesson(depth: int, **model):
    """The lesson's orthogonal tanh net (64 units a layer, chi = 1 at q* = 1/64), `depth` layers, `model` changed."""
    config = config_module.load_config(catalog.path("jacobian_orthogonal_tanh"))
    config = pennington.deeper(config, depth, 64)
    return config.model_copy(update={"model": config.model.model_copy(update=model)})


def test_the_critical_point_holds_the_pre_activations_at_q_star_with_chi_one():
    weight_var, bias_var = pennington.critical_point(1 / 64)
    assert (weight_var, bias_var) == (pytest.approx(1.0306, abs=1e-4), pytest.approx(4.65e-6, rel=1e-2))
    found = propagation.depth_scale("tanh", weight_var, bias_var)
    assert found["q_star"] == pytest.approx(1 / 64, rel=1e-6) and found["chi_1"] == pytest.approx(1, abs=1e-9)
    config = _lesson(2)  # the shipped configs carry these numbers: sigma_w = 1.01516, sigma_b = 0.002157
    assert config.model.kernel_initializer.given["gain"] ** 2 == pytest.approx(weight_var, rel=1e-4)
    assert config.model.bias_initializer.given["stddev"] ** 2 == pytest.approx(bias_var, rel=1e-3)


def test_the_free_probability_growth_matches_its_closed_forms():
    # ReLU (p = 1/2 of the units linear): Gaussian m_2 = m_1^2 (L + p) / p, so sigma^2 / m_1^2 = L / p = 2L;
    # orthogonal L (1 - p) / p = L (Depth First Learning's worked problems, from the paper's Section 2.5)
    assert pennington.predicted_slope("relu", orthogonal=False) == 2.0
    assert pennington.predicted_slope("relu", orthogonal=True) == 1.0
    assert pennington.predicted_slope("linear", orthogonal=True) == 0.0  # deep linear nets: Saxe et al.'s isometry
    # tanh: mu_2 / mu_1^2 - 1 -> 8 q*^2 as q* -> 0 (tanh'(h)^2 ~ 1 - 2 h^2); Gaussian weights add 1 whatever q*
    for q in (1e-3, 1 / 64):
        assert pennington.predicted_slope("tanh", True, q) == pytest.approx(8 * q**2, rel=0.2)
        assert pennington.predicted_slope("tanh", False, q) == pytest.approx(1 + pennington.predicted_slope("tanh", True, q))


def test_orthogonal_tanh_at_a_tiny_q_is_an_isometry_and_gaussian_tanh_spreads_as_depth():
    first = pennington.probe_rows(_lesson(2), DIGITS)  # each row at q* after the first layer
    assert np.mean(first**2, axis=1) * 1.01516**2 + 0.002157**2 == pytest.approx(np.full(16, 1 / 64), rel=1e-6)
    orthogonal = _lesson(16, bias_initializer="zeros")  # no bias to lift q from 1e-6 towards q* = 1/64
    x = pennington.probe_rows(orthogonal, DIGITS, q_star=1e-6)  # tanh' = 1 to 1e-6: a product of orthogonal matrices
    found = pennington.spectra(orthogonal, x, [0, 1], (2, 16))
    assert found[16].shape == (2, 16 * 64)
    assert np.all(pennington.variances(found)[16] < 1e-5)  # every squared singular value the same: sigma_w^(2 L)
    assert np.mean(found[16]) == pytest.approx(1.01516 ** (2 * 16), rel=1e-4)
    gaussian = _lesson(16, kernel_initializer={"name": "variance_scaling", "scale": 1.0306, "mode": "fan_in",
                                               "distribution": "untruncated_normal"})
    spread = pennington.variances(pennington.spectra(gaussian, pennington.probe_rows(gaussian, DIGITS), list(range(6)),
                                                     (4, 8, 16)))
    per_layer = {depth: np.median(values) / depth for depth, values in spread.items()}
    assert all(0.7 < value < 1.4 for value in per_layer.values()), per_layer  # free probability: 1.0017 per layer


def test_the_slope_is_the_least_squares_growth_per_layer_over_the_depths_asked():
    by_depth = {d: np.array([2.0 * d, 0.5 * d + 3]) for d in (2, 4, 8, 16, 32, 64)}
    assert pennington.slopes(by_depth) == pytest.approx([2.0, 0.5])  # depths 4 to 32
    assert pennington.slopes(by_depth, first=2, last=64) == pytest.approx([2.0, 0.5])


def test_layer_spectra_at_chosen_layers_equals_the_full_chain_there():
    config = _lesson(6)
    weights = batched_draws.hidden_weights(config, 64, [3])
    layers = [(f"hidden_{i + 1}", kernel[0], bias[0], "tanh") for i, (kernel, bias) in enumerate(weights)]
    every = jacobian.layer_spectra(layers, DIGITS[:4])
    chosen = jacobian.layer_spectra(layers, DIGITS[:4], {"hidden_2", "hidden_6"})
    assert set(chosen) == {"hidden_2", "hidden_6"} and len(every) == 6
    assert all(np.array_equal(chosen[name], every[name]) for name in chosen)


def test_the_lesson_draws_the_histograms_by_depth(tmp_path):
    result = runner.invoke(app, ["reproduce", "--quick", "--only", "jacobian_depth", "--docs", str(tmp_path / "docs"),
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "docs" / "figures").iterdir()] == ["jacobian_depth.png"]
    assert (tmp_path / "docs" / "figures" / "jacobian_depth.png").stat().st_size > 30_000
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("summary.json"))  # nothing trained
