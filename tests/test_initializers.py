"""Initializers: every Keras name builds, seeds behave, and the draws match the closed-form variances."""

import numpy as np
import pytest

from initlab import initializers


def test_every_keras_name_builds():
    for name in initializers.names():
        if initializers.canonical_name(name) in ("stft",):
            continue
        instance = initializers.build(name, seed=1)
        assert instance.get_config() is not None


@pytest.mark.parametrize("spec", [
    "he_normal", "HeNormal", {"name": "random_normal", "stddev": 0.01},
    {"class_name": "RandomUniform", "config": {"minval": 0.0, "maxval": 1.0}},
])
def test_spec_forms_and_get_config_round_trip(spec):
    instance = initializers.build(spec, seed=3)
    again = type(instance).from_config(instance.get_config())
    assert np.array_equal(np.asarray(instance((4, 3))), np.asarray(again((4, 3))))


def test_same_seed_same_values_other_seed_other_values():
    a = np.asarray(initializers.build("glorot_uniform", seed=5)((6, 4)))
    b = np.asarray(initializers.build("glorot_uniform", seed=5)((6, 4)))
    c = np.asarray(initializers.build("glorot_uniform", seed=6)((6, 4)))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_layer_seeds_are_distinct():
    seeds = {initializers.layer_seed(run, layer, role) for run in range(20) for layer in range(10) for role in (0, 1)}
    assert len(seeds) == 400


@pytest.mark.parametrize("name", ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform",
                                  "lecun_normal", {"name": "random_normal", "stddev": 0.01},
                                  {"name": "random_uniform", "minval": 0.0, "maxval": 1.0}])
def test_sample_variance_matches_formula(name):
    fan_in, fan_out = 400, 300
    w = np.asarray(initializers.build(name, seed=11)((fan_in, fan_out)), dtype=np.float64)
    expected = initializers.expected_variance(name, fan_in, fan_out)
    # The variance of a sample variance of N draws is about 2 var^2 / N (normal) and smaller for uniform:
    # 5 of those standard errors is a bound that a correct initializer essentially never crosses.
    assert abs(w.var() - expected) <= 5 * expected * np.sqrt(2 / w.size)


def test_he_formulas_are_keras_s_not_the_popular_mistake():
    fan_in, fan_out = 500, 20
    w = np.asarray(initializers.build("he_uniform", seed=2)((fan_in, fan_out)))
    limit = np.sqrt(6 / fan_in)
    assert w.max() <= limit and w.max() > 0.95 * limit  # not sqrt(6 / (fan_in + fan_out)) = 0.107
    normal = np.asarray(initializers.build("he_normal", seed=2)((fan_in, fan_out)))
    assert abs(normal.std() - np.sqrt(2 / fan_in)) < 0.05 * np.sqrt(2 / fan_in)


def test_unknown_name_and_parameter_suggest():
    with pytest.raises(ValueError, match="did you mean 'he_normal'"):
        initializers.build("he_normall")
    with pytest.raises(ValueError, match="did you mean 'stddev'"):
        initializers.build({"name": "random_normal", "stdev": 0.1})


def test_table_lists_formulas():
    rows = {name: formula for name, _, formula in initializers.table()}
    assert "sqrt(6 / n_in)" in rows["he_uniform"] and "sqrt(2 / n_in)" in rows["he_normal"]
    assert "sqrt(6 / (n_in + n_out))" in rows["glorot_uniform"]
