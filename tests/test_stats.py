"""In-graph records (initlab.stats) against their definitions: units.distinct_units counted exactly, statistics in
float64, and the chunks a long run is cut into. Equality with probes.Probe on the same runs: test_engine.py (solo)
and test_population.py (members)."""

import numpy as np
from hypothesis import given, settings, strategies as st

from initlab.base.backend import tf as _tf
from initlab.train import engine, stats, units

TOLERANCE_STEPS = [0.0, 0.5, 0.99, 1.0, 1.01, 2.0, 1e3]  # perturbations in units of the layer's tolerance


@st.composite
def layer(draw, fan_in, width):
    """A kernel [fan_in, width] and bias [width] of one kind: random, zeros, one value, tied or near-tied columns."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["random", "zeros", "one value", "tied", "near-tied"]))
    scale = draw(st.sampled_from([1e-3, 0.5, 1.0, 30.0]))
    if kind == "random":
        units_ = rng.normal(0, scale, size=(fan_in + 1, width))
    elif kind == "zeros":
        units_ = np.zeros((fan_in + 1, width))
    elif kind == "one value":
        units_ = np.full((fan_in + 1, width), scale)
    else:
        prototypes = rng.normal(0, scale, size=(fan_in + 1, draw(st.integers(1, 3))))
        units_ = prototypes[:, rng.integers(0, prototypes.shape[1], size=width)]
        if kind == "near-tied":  # move single weights by about the tolerance, either way
            tolerance = 1e-6 * np.abs(units_).max()
            steps = rng.choice(TOLERANCE_STEPS, size=units_.shape) * rng.choice([-1, 1], size=units_.shape)
            units_ = units_ + steps * tolerance * (rng.random(units_.shape) < 0.3)
    units_ = units_.astype(np.float32)
    return units_[:-1], units_[-1]


@settings(max_examples=40)
@given(data=st.data(), members=st.integers(1, 3), shapes=st.lists(st.tuples(st.integers(1, 6), st.integers(1, 9)),
                                                                  min_size=1, max_size=3))
def test_distinct_units_in_graph_count_exactly_as_units_does(data, members, shapes):
    """Several layers of different shapes at once (padded to the widest), each member its own weights."""
    tf = _tf()
    drawn = [[data.draw(layer(fan_in, width)) for fan_in, width in shapes] for _ in range(members)]
    kernels = [tf.constant(np.stack([m[i][0] for m in drawn])) for i in range(len(shapes))]
    biases = [tf.constant(np.stack([m[i][1] for m in drawn])) for i in range(len(shapes))]
    got = stats.distinct_units(kernels, biases).numpy()
    want = [[units.distinct_units(kernel, bias) for kernel, bias in member] for member in drawn]
    assert got.tolist() == want


def test_distinct_units_of_symmetric_and_zero_layers():
    tf = _tf()
    kernels = [tf.fill([2, 3, 4], 0.5), tf.zeros([2, 4, 2])]
    biases = [tf.fill([2, 4], 0.5), tf.zeros([2, 2])]
    assert stats.distinct_units(kernels, biases).numpy().tolist() == [[1, 1], [1, 1]]


def test_statistics_are_taken_in_float64():
    """Activations near float32's largest value: a float32 sum overflows to inf, the statistics stay finite."""
    tf = _tf()
    a = np.full((1, 4, 3), 3e38, np.float32)
    a[0, :2] = -3e38
    kernel = np.full((1, 2, 3), 3e38, np.float32)
    assert not np.isfinite(tf.reduce_sum(tf.constant(kernel)).numpy())
    values = stats.layer_statistics("linear", tf.constant(a), tf.constant(kernel), tf.constant(kernel)).numpy()[0]
    want = dict(activation_mean=a.astype(np.float64).mean(), activation_std=a.astype(np.float64).std(),
                weight_mean=kernel.astype(np.float64).mean(), weight_std=0.0, grad_norm=np.linalg.norm(kernel.astype(np.float64)))
    for name, value in want.items():
        np.testing.assert_allclose(values[stats.STATISTICS.index(name)], value, rtol=1e-12, err_msg=name)


def test_dead_and_saturated_fractions_follow_units():
    tf = _tf()
    rng = np.random.default_rng(0)
    a = rng.choice([0.0, 0.005, 0.5, 0.995, -0.999], size=(2, 6, 4)).astype(np.float32)
    a[0, :, 1] = 0.0  # a dead unit
    kernel = tf.zeros([2, 3, 4])
    for activation in ("relu", "tanh", "sigmoid", "linear"):
        values = stats.layer_statistics(activation, tf.constant(a), kernel, kernel).numpy()
        for m in range(2):
            assert values[m, 2] == units.dead_fraction(activation, a[m].astype(np.float64)), activation
            assert values[m, 3] == units.saturated_fraction(activation, a[m].astype(np.float64)), activation


def test_chunks_end_at_the_epochs_asked_and_cut_long_stretches():
    assert engine.chunks([0, 10, 5000], {10}, 2000) == [
        (0, [0, 10], [True, True]), (10, [2010], [False]), (2010, [4010], [False]), (4010, [5000], [True])]
    assert engine.chunks([0, 1, 2, 3], {0}, 100) == [(0, [0], [True]), (0, [1, 2, 3], [True] * 3)]
    planned = engine.chunks(list(range(0, 301)), set(), 1000)
    assert [len(stops) for _, stops, _ in planned] == [engine.CHUNK_RECORDS] * 4 + [301 - 4 * engine.CHUNK_RECORDS]
    assert all(first == previous[1][-1] for (first, _, _), previous in zip(planned[1:], planned))


def test_distinct_units_of_a_wide_random_layer_skip_the_greedy_pass():
    """No two units' projections within the window: every unit counts, without the pass over width^2 pairs (at
    width 2048 that pass takes minutes; the answer is the same)."""
    import time

    tf = _tf()
    rng = np.random.default_rng(0)
    kernels = [tf.constant(rng.normal(size=(2, 2048, 2048)).astype(np.float32))]
    biases = [tf.zeros([2, 2048])]
    start = time.perf_counter()
    assert stats.distinct_units(kernels, biases).numpy().tolist() == [[2048], [2048]]
    assert time.perf_counter() - start < 20
