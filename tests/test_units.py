"""What a layer's units do: dead, saturated, distinct."""

import numpy as np

from initlab.train import units


def test_distinct_units():
    kernel = np.full((3, 4), 0.5)
    assert units.distinct_units(kernel, np.full(4, 0.5)) == 1
    assert units.distinct_units(np.zeros((3, 4)), np.zeros(4)) == 1
    kernel[:, 2] += 1e-3
    assert units.distinct_units(kernel, np.full(4, 0.5)) == 2
    assert units.distinct_units(np.full((3, 4), 0.5), np.array([0.1, 0.2, 0.1, 0.3])) == 3
    assert units.distinct_units(np.random.default_rng(0).normal(size=(3, 6)), np.zeros(6)) == 6


def test_within_relative_tolerance_counts_once():
    kernel = np.full((2, 2), 100.0)
    kernel[0, 1] += 1e-5  # 1e-7 relative to the largest weight
    assert units.distinct_units(kernel, np.zeros(2)) == 1


def test_dead_and_saturated_fractions():
    a = np.array([[0.0, 1.0, 0.0], [0.0, 2.0, 0.5]])
    assert units.dead_fraction("relu", a) == 1 / 3
    assert units.dead_fraction("tanh", a) == 0.0
    assert units.saturated_fraction("tanh", np.array([0.995, -0.999, 0.2, 0.0])) == 0.5
    assert units.saturated_fraction("sigmoid", np.array([0.005, 0.5, 0.995, 0.3])) == 0.5
    assert units.saturated_fraction("relu", a) == 0.0


def _brute_force_distinct(kernel, bias, rtol=1e-6):
    units = np.concatenate([kernel, bias.reshape(1, -1)]).T
    tolerance = rtol * np.abs(units).max(initial=0.0)
    reps = []
    for unit in units:
        if not any(np.abs(unit - rep).max() <= tolerance for rep in reps):
            reps.append(unit)
    return len(reps)


def test_distinct_units_matches_pairwise_comparison():
    rng = np.random.default_rng(1)
    for _ in range(200):
        fan_in, n_unique = rng.integers(1, 6), rng.integers(1, 6)
        base = rng.normal(size=(fan_in + 1, n_unique))
        columns = base[:, rng.integers(0, n_unique, size=rng.integers(1, 12))]
        columns = columns + rng.choice([0, 1e-9, 1e-3], size=columns.shape[1])  # within, or beyond, the tolerance
        kernel, bias = columns[:-1], columns[-1]
        assert units.distinct_units(kernel, bias) == _brute_force_distinct(kernel, bias)
