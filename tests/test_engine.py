"""The fast engine against the oracle, Keras's own model.fit."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from initlab import data as data_module, engine, model as model_module
from initlab.backend import keras as _keras, tf as _tf
from tests.conftest import make_config


def _train(config, engine_name, initial=None):
    """(initial weights, history, final weights) of one engine on a config."""
    keras = _keras()
    data = data_module.load(config.data, config.seed)
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
    data = data_module.load(config.data, config.seed)
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


def test_record_epochs():
    assert engine.record_epochs(5, 1) == [0, 1, 2, 3, 4, 5]
    assert engine.record_epochs(25, 10) == [0, 10, 20, 25]
    assert engine.record_epochs(3, 10) == [0, 3]
