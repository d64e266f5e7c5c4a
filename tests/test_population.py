"""Populations: a run's numbers do not depend on its company. Members trained together in one graph equal the same
configs trained alone (runs.train), draw exactly the initial weights model.build draws, repeat byte for byte, and a
member that diverges stops alone while the others go on."""

import gc

import numpy as np
import pandas as pd
import pytest

from initlab.lab import runs, sweep
from initlab.train import model as model_module, population

from tests.conftest import make_config

# A batched matmul ([K, B, d] x [K, d, u]) may sum in another order than the solo run's matmul, so float32 results
# can differ in the last bits, and training carries such differences forward. Measured over these groups (4-5
# epochs, widths <= 10): at most 2e-7 (relative, or absolute below 1) in metrics, layers.csv and final weights;
# DESIGN.md saw ~5e-5 at fan_in 500. 1e-5 leaves room for other CPUs and BLAS builds, yet a real mistake (another
# shuffle order, another member's seed, a shared optimizer step, a loss averaged over members) moves these numbers
# by far more within one epoch (each of those fails this file).
TOL = dict(rtol=1e-5, atol=1e-5)

INITIALIZERS = [
    "zeros",
    {"name": "constant", "value": 0.5},
    {"name": "random_normal", "stddev": 0.01},
    {"name": "random_uniform", "minval": 0.0, "maxval": 1.0},
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
]
# Not constant for multiclass: with equal output kernels the softmax sends the hidden layer a gradient that is 0
# up to rounding, and Adam divides that rounding by its own size into full learning-rate steps. Solo and
# population round differently there, so such a member's weights differ by up to 9e-5 after 5 epochs: noise, not company.
MULTICLASS_INITIALIZERS = ["zeros", "glorot_uniform", "he_normal", {"name": "random_normal", "stddev": 0.3}]


def _configs(initializers, seeds, **sections) -> list:
    """One config per (initializer, seed), the rest shared: a group that may train as one population."""
    return [make_config(seed=seed, **{**sections, "model": {**sections.get("model", {}), "kernel_initializer": init}})
            for init, seed in zip(initializers, seeds)]


def _population(configs) -> list:
    """Train configs as one population, checking first that the sweep would group them so."""
    data = runs.load_data(configs[0])
    resolved = [model_module.with_task_defaults(c, data.task) for c in configs]
    assert sweep.groups(resolved) == [list(range(len(configs)))]
    return population.train_population(resolved, data)


def _assert_rows_close(got: list[dict], want: list[dict], what: str, **tol) -> None:
    assert len(got) == len(want), what
    for row_got, row_want in zip(got, want):
        assert row_got.keys() == row_want.keys(), what
        for key, value in row_want.items():
            if value is None or isinstance(value, (str, int)) and not isinstance(value, bool):  # None: a block's sum
                assert row_got[key] == value, f"{what}: {key} at {row_want}"  # epoch, layer, units, distinct_units
            else:
                np.testing.assert_allclose(row_got[key], value, **tol, err_msg=f"{what}: {key} at {row_want}")


def _assert_same_run(member, solo, what: str) -> None:
    """Everything a run folder is made of agrees: exactly at initialization, within TOL after training."""
    assert member.config == solo.config and member.task == solo.task and member.metric == solo.metric, what
    assert member.weights_initial.keys() == solo.weights_initial.keys(), what
    for key, weights in solo.weights_initial.items():
        assert np.array_equal(member.weights_initial[key], weights), f"{what}: initial {key}"
    pd.testing.assert_frame_equal(pd.DataFrame(member.signal), pd.DataFrame(solo.signal), check_exact=True)
    assert (member.jacobian or {}).keys() == (solo.jacobian or {}).keys(), what
    for key, values in (solo.jacobian or {}).items():
        assert np.array_equal(member.jacobian[key], values), f"{what}: jacobian {key}"
    assert member.diverged_at == solo.diverged_at, what
    _assert_rows_close(member.history, solo.history, f"{what}: metrics", **TOL)
    _assert_rows_close(member.layer_rows, solo.layer_rows, f"{what}: layers", **TOL)
    assert member.weights_final.keys() == solo.weights_final.keys(), what
    for key, weights in solo.weights_final.items():
        np.testing.assert_allclose(member.weights_final[key], weights, **TOL, err_msg=f"{what}: final {key}")
    assert member.final.keys() == solo.final.keys(), what
    for key, value in solo.final.items():
        np.testing.assert_allclose(member.final[key], value, **TOL, err_msg=f"{what}: final {key}")
    assert member.samples.keys() == solo.samples.keys(), what
    for key, samples in solo.samples.items():
        np.testing.assert_allclose(member.samples[key], samples, **TOL, err_msg=f"{what}: samples {key}")


GROUPS = {
    # 8 initializers x 8 seeds (one each), the tutorial's data, 10 hidden ReLU units, shuffled batches
    "ushape": dict(initializers=INITIALIZERS, seeds=range(8), model={"hidden": [10]}, train={"epochs": 4}),
    # generated data follow the seed, so one seed: only initializers differ
    "multiclass": dict(initializers=MULTICLASS_INITIALIZERS, seeds=[0] * 4, model={"hidden": [6]}, train={"epochs": 4},
                       data={"dataset": "blobs", "centers": 3, "n_samples": 90}),
    "regression": dict(initializers=INITIALIZERS[2:6], seeds=[0] * 4, model={"hidden": [4]}, train={"epochs": 4},
                       data={"dataset": "salary", "standardize": True, "n_samples": 60}),
    # deep tanh, records every 2 epochs: chunks of epochs in one graph call; and the Jacobian's spectrum
    "tanh_deep": dict(initializers=INITIALIZERS[2:5] + ["lecun_normal"], seeds=[3, 4, 5, 6], train={"epochs": 5},
                      model={"hidden": [8, 8, 8], "activation": "tanh"}, record={"every": 2, "jacobian": True}),
    # logistic regression (no hidden layer), no validation part, uneven last batch, no shuffling
    "edge": dict(initializers=["zeros", "he_normal", "glorot_uniform"], seeds=[0, 1, 2], model={"hidden": []},
                 data={"validation_split": 0.0}, train={"epochs": 3, "batch_size": 7, "shuffle": False}),
}


@pytest.fixture(scope="module")
def ushape_population():
    spec = GROUPS["ushape"]
    configs = _configs(spec["initializers"], spec["seeds"], model=spec["model"], train=spec["train"])
    return configs, _population(configs)


@pytest.mark.parametrize("group", GROUPS)
def test_population_equals_solo_runs(group, ushape_population):
    spec = dict(GROUPS[group])
    configs = _configs(spec.pop("initializers"), spec.pop("seeds"), **spec)
    members = ushape_population[1] if group == "ushape" else _population(configs)
    solos = [runs.train(config) for config in configs]
    for member, solo in zip(members, solos):
        assert member.company == len(configs) and solo.company == 1
        assert solo.diverged_at is None and len(member.history) == configs[0].train.epochs
        assert (solo.jacobian is not None) == solo.config.record.jacobian
        _assert_same_run(member, solo, f"{group}: {runs.run_id(solo.config)}")


@pytest.mark.parametrize("spec", [
    dict(model={"hidden": [10], "kernel_initializer": "he_normal"}),
    dict(model={"hidden": [3, 5], "activation": "tanh", "kernel_initializer": "orthogonal",
                "bias_initializer": {"name": "random_normal", "stddev": 0.5}}),
    dict(model={"hidden": [4], "kernel_initializer": {"name": "truncated_normal", "stddev": 2.0}}, seed=12345),
    dict(model={"hidden": [4], "kernel_initializer": {"name": "variance_scaling", "scale": 3.0, "mode": "fan_avg",
                                                      "distribution": "uniform"}}),
    dict(model={"hidden": [2], "set_weights": 0.5}),
    dict(model={"hidden": [], "kernel_initializer": "glorot_normal"}),
    dict(model={"layers": [{"units": 6, "kernel_initializer": "lecun_uniform"},
                           {"units": 3, "kernel_initializer": {"class_name": "RandomUniform", "config": {"maxval": 2.0}},
                            "bias_initializer": "ones"}]}),
    dict(model={"hidden": [7], "kernel_initializer": "he_uniform"}, data={"dataset": "blobs", "centers": 4}),
    dict(model={"hidden": [5], "kernel_initializer": "glorot_uniform"}, data={"dataset": "gaussian", "n_features": 50},
         seed=7),
])
def test_initial_weights_are_drawn_exactly_as_model_build_draws_them(spec):
    config = make_config(**spec)
    data = runs.load_data(config)
    config = model_module.with_task_defaults(config, data.task)
    drawn, _ = population.initial_weights(config, data.n_features, data.task, data.n_classes)
    built = model_module.build(config, data.n_features, data.task, data.n_classes).get_weights()
    assert len(built) == 2 * len(drawn)
    for got, want in zip([w for pair in drawn for w in pair], built):
        assert got.dtype == want.dtype and got.shape == want.shape
        assert np.array_equal(got, want)


def _assert_identical(first: list, second: list) -> None:
    for a, b in zip(first, second, strict=True):
        assert a.config == b.config
        assert a.history == b.history and a.layer_rows == b.layer_rows and a.final == b.final
        for part in ("weights_initial", "weights_final", "samples"):
            one, two = getattr(a, part), getattr(b, part)
            assert one.keys() == two.keys() and all(np.array_equal(one[k], two[k]) for k in one), part
        pd.testing.assert_frame_equal(pd.DataFrame(a.signal), pd.DataFrame(b.signal), check_exact=True)


def test_population_is_byte_identical_run_to_run(ushape_population):
    configs, first = ushape_population
    population.forget_compiled()
    _assert_identical(first, _population(configs))


@pytest.mark.slow
@pytest.mark.parametrize("data", [{}, {"dataset": "blobs", "centers": 3, "n_samples": 90}])
def test_a_reused_compiled_loop_gives_the_bytes_of_a_fresh_one(data):
    """The next group of the same shape reloads the kept population (its traced loop): every member's numbers are
    byte for byte those of a population traced for it. Blobs follow the seed: the second group has other data."""
    first = _configs(INITIALIZERS[:4], [0] * 4 if data else range(4), model={"hidden": [4]}, train={"epochs": 3}, data=data)
    second = _configs(INITIALIZERS[4:], [1] * 4 if data else range(4, 8), model={"hidden": [4]}, train={"epochs": 3},
                      data=data)
    population.forget_compiled()
    fresh = _population(second)
    population.forget_compiled()
    _population(first)
    kept = population._kept[1]
    reused = _population(second)
    assert population._kept[1] is kept  # traced for the first group, reloaded for the second
    _assert_identical(reused, fresh)
    _assert_identical(_population(first), _population(first))  # and back


def test_another_shape_traces_anew_and_keeps_one():
    configs = _configs(INITIALIZERS[:2], range(2), model={"hidden": [4]}, train={"epochs": 1})
    _population(configs)
    kept = population._kept[1]
    _population(_configs(INITIALIZERS[:2], range(2), model={"hidden": [5]}, train={"epochs": 1}))
    assert population._kept[1] is not kept and population._kept[1].kernel_shapes[0] == (2, 5)


# Unscaled salary data (IQ ~ 100) with linear units and plain SGD: large initial weights overflow within a few
# epochs, zeros keep training (only the output bias moves; the rest gets no gradient). Seed fixed: the data follow it.
DIVERGING = dict(data={"dataset": "salary", "n_samples": 60}, model={"hidden": [8], "activation": "linear"},
                 train={"optimizer": "sgd", "learning_rate": 0.001, "epochs": 8}, record={"every": 3})
DIVERGING_INITIALIZERS = ["zeros", {"name": "random_uniform", "minval": 0, "maxval": 1},
                          {"name": "random_normal", "stddev": 0.01}]


def test_a_diverging_member_stops_alone():
    configs = _configs(DIVERGING_INITIALIZERS, [0] * 3, **DIVERGING)
    members = _population(configs)
    solos = [runs.train(config) for config in configs]
    healthy, uniform, normal = members
    # measured: U[0, 1] overflows in epoch 2, N(0, 0.01^2) in epoch 4 (between records at 3 and 6)
    assert (uniform.diverged_at, normal.diverged_at) == (solos[1].diverged_at, solos[2].diverged_at) == (2, 4)
    for member, solo in zip((uniform, normal), solos[1:]):
        what = runs.run_id(solo.config)
        assert len(member.history) == member.diverged_at == len(solo.history)
        last, solo_last = member.history[-1], solo.history[-1]
        assert not np.isfinite(last["loss"]) and not np.isfinite(solo_last["loss"])  # inf or nan, either way
        _assert_rows_close(member.history[:-1], solo.history[:-1], f"{what}: metrics", **TOL)
        # records stop with the last record epoch before the divergence
        assert sorted({row["epoch"] for row in member.layer_rows}) == [0, 3][: 1 + (member.diverged_at > 3)]
        _assert_rows_close(member.layer_rows, solo.layer_rows, f"{what}: layers", **TOL)
        for key, weights in solo.weights_final.items():
            assert np.all(np.isfinite(member.weights_final[key])), key
            np.testing.assert_allclose(member.weights_final[key], weights, **TOL, err_msg=f"{what}: final {key}")
        for key, value in solo.final.items():
            np.testing.assert_allclose(member.final[key], value, **TOL, err_msg=f"{what}: final {key}")
    assert healthy.diverged_at is None and len(healthy.history) == 8
    assert healthy.history[-1]["loss"] < healthy.history[0]["loss"]  # it went on learning after the others stopped
    _assert_same_run(healthy, solos[0], "zeros beside diverging members")


def test_can_join_only_elementwise_optimizers():
    assert population.can_join(make_config(train={"optimizer": "adam"}))
    assert population.can_join(make_config(train={"optimizer": "SGD"}))
    assert not population.can_join(make_config(train={"optimizer": "adafactor"}))
    assert not population.can_join(make_config(train={"optimizer": "muon"}))


def test_in_graph_member_records_equal_the_probe_on_the_same_run():
    """Chunks ending at every record: each member's in-graph records equal probes.Probe's measurement of a Keras
    model holding that member's weights after the chunk (distinct units exactly), its kept samples alike."""
    from initlab.config import cadence
    from initlab.train import engine
    from initlab.train.probes import Probe
    from initlab.train.run_result import histogram_epochs

    configs = _configs(["he_normal", {"name": "constant", "value": 0.5}, {"name": "random_normal", "stddev": 1.5}],
                       [0, 1, 2], model={"hidden": [4, 3], "activation": "tanh"}, train={"epochs": 4})
    data = runs.load_data(configs[0])
    configs = [model_module.with_task_defaults(c, data.task) for c in configs]
    members = population.Population(configs, data)
    models = [model_module.build(c, data.n_features, data.task, data.n_classes) for c in configs]
    for model, config in zip(models, configs):
        model_module.compile(model, config, data.task)
    probes = [Probe(model, data.x_train, data.y_train) for model in models]
    old_rows, old_samples = [[] for _ in configs], [{} for _ in configs]

    def on_chunk(epoch):
        for m, (model, probe) in enumerate(zip(models, probes)):
            model.set_weights([members.weights()[m][name] for name in model_module.weights_by_name(model)])
            rows, samples = probe.measure(epoch)
            old_rows[m].extend(rows)
            old_samples[m].update({f"epoch_{epoch}/{name}": value for name, value in samples.items()})

    recorded = cadence.record_epochs(4)
    outcomes = [engine.Outcome() for _ in configs]
    engine.train_chunks(members, outcomes, "accuracy", recorded, set(recorded), histogram_epochs(recorded), on_chunk)
    for outcome, rows, samples in zip(outcomes, old_rows, old_samples):
        assert [r["epoch"] for r in rows][:: len(members.names)] == recorded
        _assert_rows_close(outcome.layer_rows, rows, "in graph vs Probe", rtol=1e-6, atol=1e-9)
        assert outcome.samples.keys() <= samples.keys() and len(outcome.samples) > 0
        for key, value in outcome.samples.items():
            # the Probe runs each member's Keras model (one matmul), the population a batched matmul: float32 rounding
            # differs in the last bits (seen: 2.2e-7 on one of 240 values), so the population's own tolerance
            np.testing.assert_allclose(value, samples[key], **TOL, err_msg=key)
    assert {row["distinct_units"] for row in outcomes[1].layer_rows if row["layer"] != "output"} == {1}


def _live_graphs() -> int:
    from tensorflow.python.framework import ops

    gc.collect()
    return sum(isinstance(o, ops.Graph) for o in gc.get_objects())


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["population", "fast", "keras"])
def test_a_trained_run_leaves_no_graph_behind(engine):
    """A sweep's memory stays bounded however many runs it trains: once a population or run is done, none of the
    graphs traced for it stays alive. (TensorFlow's custom-gradient registry kept each one: ~15 MiB a population.)"""
    configs = _configs(INITIALIZERS[:4], range(4), model={"hidden": [4]}, train={"epochs": 2, "engine": "fast"})
    if engine == "population":
        train = lambda: _population(configs)  # noqa: E731
    else:
        config = make_config(model={"hidden": [4]}, train={"epochs": 2, "engine": engine})
        train = lambda: runs.train(config)  # noqa: E731
    train()  # the first one may leave process-wide caches (Keras's, TensorFlow's) filled once
    before = _live_graphs()
    for _ in range(2):
        train()
    assert _live_graphs() == before


RESIDUAL = {  # residual blocks without normalization join populations: one branch_init a group (seeds differ)
    "standard": dict(blocks=3, branch_layers=1, bias="zeros"),
    "skipinit": dict(blocks=2, branch_layers=2, bias={"name": "random_normal", "stddev": 0.1}),
    "fixup": dict(blocks=3, branch_layers=2, bias="zeros"),
    "rai": dict(blocks=2, branch_layers=1, bias="rai", kernel="rai", branch_init="standard"),  # [W; b] from one seed
}


@pytest.mark.parametrize("branch_init", RESIDUAL)
def test_residual_population_equals_solo_runs(branch_init):
    """The blocks' Dense layers, SkipInit's scalars (trained), Fixup's zero and scaled layers, the blocks' sums in
    layers.csv, histograms' samples and the final weights: a member equals its solo run, as a plain chain does."""
    spec = RESIDUAL[branch_init]
    configs = [make_config(seed=seed, train={"epochs": 3, "batch_size": 16}, record={"every": 1},  # the tutorial's data
                           model={"hidden": [6], "kernel_initializer": spec.get("kernel", "he_normal"),
                                  "bias_initializer": spec["bias"],
                                  "residual": {"blocks": spec["blocks"], "branch_layers": spec["branch_layers"],
                                               "branch_init": spec.get("branch_init", branch_init)}})
               for seed in (0, 1, 2)]
    assert all(population.can_join(c) for c in configs)
    members = _population(configs)
    for member, config in zip(members, configs):
        solo = runs.train(config)
        assert member.company == 3 and solo.company == 1 and solo.diverged_at is None
        assert any(row["layer"] == "block_01_sum" for row in member.layer_rows) and member.signal == []
        _assert_same_run(member, solo, f"{branch_init}: {runs.run_id(config)}")
    if branch_init == "skipinit":
        assert all(member.weights_final["block_01_scale/alpha"] != 0 for member in members)  # the scalars learn


def test_normalized_residual_blocks_train_alone():
    normalized = make_config(model={"hidden": [4], "residual": {"blocks": 2, "normalization": "batch"}})
    assert not population.can_join(normalized)
    assert population.can_join(make_config(model={"hidden": [4], "residual": {"blocks": 2}}))
