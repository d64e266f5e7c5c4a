"""The fast engine against the oracle, Keras's own model.fit."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from initlab.base.backend import keras as _keras, tf as _tf
from initlab.config import cadence
from initlab.lab import runs
from initlab.train import data as data_module, engine, model as model_module
from initlab.train.probes import Probe
from initlab.train.run_result import histogram_epochs

from tests.conftest import make_config


def _train(config, engine_name, initial=None):
    """(initial weights, history, final weights) of one engine on a config."""
    keras = _keras()
    data = data_module.load_dataset(config.data, config.seed)
    config = model_module.with_task_defaults(config, data.task)
    keras.utils.set_random_seed(config.seed)
    model = model_module.build(config, data.n_features, data.task, data.n_classes)
    if initial is not None:
        model.set_weights(initial)
    model_module.compile(model, config, data.task)
    metric = model_module.metric_name(data.task)
    start = model.get_weights()
    if engine_name == "keras":
        outcome = engine.train_keras(model, data, config, metric, lambda epoch: None)
    else:
        outcome = engine.train_fast(model, data, config, data.task, metric, lambda epoch: None)
    return start, outcome, model.get_weights()


CASES = {
    "tutorial": dict(model={"set_weights": 0.5}),
    "he_relu_10": dict(model={"hidden": [10], "kernel_initializer": "he_normal"}),
    "deep_tanh_sgd": dict(model={"hidden": [8, 8, 8], "activation": "tanh"}, train={"optimizer": "sgd", "learning_rate": 0.1}),
    "multiclass": dict(data={"dataset": "blobs", "centers": 3, "n_samples": 90}, model={"hidden": [6]}),
    "regression": dict(data={"dataset": "salary", "standardize": True, "n_samples": 60}, model={"hidden": [4]}),
    "uneven_batches": dict(train={"batch_size": 7}, data={"validation_split": 0.0}),
}


@pytest.mark.parametrize("case", CASES)
def test_fast_matches_fit_without_shuffling(case):
    config = make_config(**{**CASES[case], "train": {"epochs": 8, "shuffle": False, **CASES[case].get("train", {})}})
    start_k, fit, weights_k = _train(config, "keras")
    start_f, fast, weights_f = _train(config, "fast", initial=start_k)
    assert all(np.array_equal(a, b) for a, b in zip(start_k, start_f))
    assert len(fit.history) == len(fast.history) == 8
    for row_k, row_f in zip(fit.history, fast.history):
        for key in row_k:
            np.testing.assert_allclose(row_f[key], row_k[key], atol=1e-6, rtol=0, err_msg=f"{case}: {key}")
    for a, b in zip(weights_k, weights_f):
        np.testing.assert_allclose(b, a, atol=1e-6, rtol=0)
    for key in fit.final:
        np.testing.assert_allclose(fast.final[key], fit.final[key], atol=1e-6, rtol=0, err_msg=key)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 300), seed=st.integers(0, 2**31 - 1), epoch=st.integers(1, 10_000))
def test_epoch_order_is_a_seeded_permutation(n, seed, epoch):
    order = engine.epoch_order(seed, epoch, n).numpy()
    assert sorted(order.tolist()) == list(range(n))
    assert np.array_equal(order, engine.epoch_order(seed, epoch, n).numpy())


def test_epoch_order_changes_between_epochs_and_seeds():
    orders = {tuple(engine.epoch_order(0, e, 80).numpy()) for e in range(1, 21)}
    assert len(orders) == 20
    assert tuple(engine.epoch_order(1, 1, 80).numpy()) not in orders


def test_shuffled_epoch_visits_every_row_once_in_batches():
    """The fast engine's own batch loop, fed one-hot rows: a step that counts the rows it sees and reports its
    batch size as the loss shows every row once, in batches of 5, 5, 5, 5 and 3."""
    tf = _tf()
    n, size = 23, 5
    config = make_config(data={"validation_split": 0.0}, train={"batch_size": size})
    data = data_module.load_dataset(config.data, config.seed)
    model = model_module.build(model_module.with_task_defaults(config, "binary"), 2, "binary", 2)
    model_module.compile(model, model_module.with_task_defaults(config, "binary"), "binary")
    loop = engine.FastLoop(model, data, config, "binary")
    visits = tf.Variable(tf.zeros([n]))

    def counting_step(xb, yb):
        visits.assign_add(tf.reduce_sum(xb, axis=0))
        return tf.cast(tf.shape(xb)[0], tf.float32), yb

    @tf.function(autograph=False)
    def one_epoch():
        order = engine.epoch_order(7, 3, n)
        return loop._mean_over_batches(tf.eye(n), tf.zeros([n, 1]), order, counting_step)

    mean_batch, _ = one_epoch()
    assert visits.numpy().tolist() == [1.0] * n
    assert mean_batch.numpy() == pytest.approx((4 * 5 * 5 + 3 * 3) / n)  # sum of size^2 / n


@pytest.mark.slow
def test_engines_learn_alike_with_shuffling():
    """Different shuffle streams, same learning: over 6 seeds the mean final losses agree closely.
    Deterministic (seeded), so never flaky; the bound is 4 standard errors of the per-seed differences."""
    finals = {"keras": [], "fast": []}
    for seed in range(6):
        config = make_config(seed=seed, model={"hidden": [10], "kernel_initializer": "he_normal"},
                             train={"epochs": 40, "learning_rate": 0.01})
        for name in finals:
            finals[name].append(_train(config, name)[1].final["loss"])
    diff = np.array(finals["fast"]) - np.array(finals["keras"])
    assert abs(diff.mean()) <= 4 * diff.std(ddof=1) / np.sqrt(len(diff)) + 0.01
    assert np.mean(finals["fast"]) < 0.45 and np.mean(finals["keras"]) < 0.45  # both learned (start ~0.69)


@pytest.mark.parametrize("engine_name", ["fast", "keras"])
def test_divergence_stops_with_last_finite_weights(engine_name):
    config = make_config(
        data={"dataset": "salary", "n_samples": 60}, model={"hidden": [8], "activation": "linear", "kernel_initializer": {"name": "random_uniform", "minval": 0, "maxval": 1}},
        train={"optimizer": "sgd", "learning_rate": 0.5, "epochs": 50, "shuffle": False},
    )
    _, outcome, weights = _train(config, engine_name)
    assert outcome.diverged_at is not None and outcome.diverged_at <= 50
    assert len(outcome.history) == outcome.diverged_at
    assert not np.isfinite(outcome.history[-1]["loss"]) or not np.isfinite(outcome.history[-1]["mae"])
    assert all(np.isfinite(row["loss"]) for row in outcome.history[:-1])
    assert all(np.all(np.isfinite(w)) for w in weights)


def test_record_every_n_is_exact():
    assert cadence.record_epochs(5, 1) == [0, 1, 2, 3, 4, 5]
    assert cadence.record_epochs(25, 10) == [0, 10, 20, 25]
    assert cadence.record_epochs(3, 10) == [0, 3]
    for name in ("fast", "keras"):
        config = make_config(train={"epochs": 10, "engine": name}, record={"every": 4})
        assert sorted({row["epoch"] for row in runs.train(config).layer_rows}) == [0, 4, 8, 10], name


def test_auto_cadence_records_every_early_epoch_then_log_spaced():
    assert cadence.record_epochs(150) == list(range(151))  # short runs: every epoch
    for epochs in (201, 3000, 10**6):
        recorded = cadence.record_epochs(epochs)
        assert recorded[: cadence.EARLY + 1] == list(range(cadence.EARLY + 1)) and recorded[-1] == epochs
        assert len(recorded) == cadence.POINTS + 1 and recorded == sorted(set(recorded))
    assert cadence.describe_cadence(3000) == "records: every epoch to 20, then 180 log-spaced to 3000, 201 in all"


@pytest.mark.slow
def test_default_cadence_on_a_long_run():
    """3000 full-batch epochs of the tutorial's data: epoch 0, every early epoch, about 200 points log-spaced
    (the gaps between records grow, each about the same factor past the last), and the last epoch."""
    config = make_config(train={"epochs": 3000, "batch_size": 100}, model={"hidden": [3]})
    result = runs.train(config)
    epochs = sorted({row["epoch"] for row in result.layer_rows})
    assert len(result.history) == 3000 and epochs[0] == 0 and epochs[-1] == 3000
    assert epochs[:21] == list(range(21)) and len(epochs) == 201
    later = np.array(epochs[21:])
    assert np.all(np.diff(np.diff(later)) >= -1)  # gaps never shrink (rounding aside): dense early
    ratios = later[1:] / later[:-1]
    assert ratios.max() < 1.06 and np.ptp(ratios[len(ratios) // 2 :]) < 0.01  # one factor apart: log-spaced
    kept = {int(key.split("/")[0].split("_")[1]) for key in result.samples}
    assert kept == histogram_epochs(epochs)


RECORD_CASES = {
    "tutorial": dict(model={"set_weights": 0.5}, train={"epochs": 6}),  # one distinct unit, dead ReLU units
    "deep_tanh": dict(model={"hidden": [6, 4], "activation": "tanh", "kernel_initializer": {"name": "random_normal", "stddev": 1.5}},
                      train={"epochs": 5, "batch_size": 7}),  # saturated units, uneven batches
    "multiclass": dict(data={"dataset": "blobs", "centers": 3, "n_samples": 90}, model={"hidden": [5]},
                       train={"epochs": 5}, record={"every": 2}),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", RECORD_CASES)
def test_in_graph_records_equal_the_probe_on_the_same_run(case):
    """The same run, chunks ending at every record: what the compiled loop records equals probes.Probe's
    measurement of the model after the chunk, distinct units exactly, and the kept raw samples alike."""
    config, data, model, _ = runs.prepare(make_config(**RECORD_CASES[case]))
    recorded = cadence.record_epochs(config.train.epochs, config.record.every)
    probe, old_rows, old_samples = Probe(model, data.x_train, data.y_train), [], {}

    def on_chunk(epoch):
        rows, samples = probe.measure(epoch)
        old_rows.extend(rows)
        old_samples.update({f"epoch_{epoch}/{name}": value for name, value in samples.items()})

    outcome = engine.train_fast(model, data, config, data.task, model_module.metric_name(data.task), on_chunk,
                                set(recorded), histogram_epochs(recorded))
    assert [(r["epoch"], r["layer"]) for r in outcome.layer_rows] == [(r["epoch"], r["layer"]) for r in old_rows]
    assert [r["epoch"] for r in old_rows][:: len(probe.layers)] == recorded
    for new, old in zip(outcome.layer_rows, old_rows):
        assert new.keys() == old.keys()
        assert (new["units"], new["distinct_units"], new["dead_fraction"], new["saturated_fraction"]) == \
            (old["units"], old["distinct_units"], old["dead_fraction"], old["saturated_fraction"]), new
        for key in ("activation_mean", "activation_std", "weight_mean", "weight_std", "grad_norm"):
            np.testing.assert_allclose(new[key], old[key], rtol=1e-6, atol=1e-9, err_msg=f"{key} at {old}")
    assert outcome.samples.keys() <= old_samples.keys() and len(outcome.samples) > 0
    for key, value in outcome.samples.items():
        np.testing.assert_allclose(value, old_samples[key], rtol=1e-6, atol=1e-9, err_msg=key)
