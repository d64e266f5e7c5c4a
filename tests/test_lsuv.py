"""model.data_init: lsuv (Mishkin and Matas 2016): each layer's output variance on the probe batch is 1 within the
tolerance, solo runs and populations start from the same rescaled weights, summary.json says what was done, and
`diagnose` sees the rescaled model. Bad values are refused with one line."""

import json

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from initlab.cli import app
from initlab.lab import runs
from initlab.train import model as model_module, population
from initlab.train.probes import PROBE_ROWS

from tests.conftest import make_config, raw_config

runner = CliRunner()
DEEP = dict(data={"dataset": "digits", "n_samples": 300},  # the same rows whatever the seed: one population
            model={"hidden": [32, 32, 32, 32], "activation": "tanh", "data_init": "lsuv",
                   "kernel_initializer": {"name": "random_normal", "stddev": 0.01}},
            train={"epochs": 2})


def _output_variances(weights: dict, x: np.ndarray, activations: list) -> list[float]:
    """Each Dense layer's pre-activation variance on x, recomputed in numpy from saved weights."""
    from initlab.base.backend import keras

    a, found = x.astype(np.float64), []
    names = sorted({key.split("/")[0] for key in weights}, key=lambda n: (n == "output", n))
    for name, activation in zip(names, activations):
        z = a @ weights[f"{name}/kernel"] + weights[f"{name}/bias"]
        found.append(float(z.var()))
        a = np.asarray(keras().activations.get(activation)(z.astype(np.float32)), np.float64)
    return found


@pytest.mark.slow
def test_every_layers_output_variance_is_one_within_tol_on_the_probe_batch(tmp_path):
    path = tmp_path / "lsuv.yaml"
    path.write_text(yaml.safe_dump(raw_config(**DEEP)))
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "out" / "test" / result.stdout.strip().split("/")[-1]
    summary = json.loads((folder / "summary.json").read_text())
    done = summary["data_init"]
    assert done["method"] == "lsuv" and done["rows"] == min(PROBE_ROWS, 240) and len(done["iterations"]) == 5
    assert all(abs(v - 1) < 0.1 for v in done["variance"]) and done["iterations"][0] >= 1  # N(0, 0.01^2) is far off
    data = runs.load_data(make_config(**DEEP))
    with np.load(folder / "weights_initial.npz") as saved:
        measured = _output_variances(dict(saved), data.x_train[:PROBE_ROWS], ["tanh"] * 4 + ["softmax"])
    np.testing.assert_allclose(measured, done["variance"], rtol=1e-4)
    assert all(abs(v - 1) < 0.1 for v in measured)


def test_without_data_init_nothing_is_rescaled_and_summary_says_none(tmp_path):
    config = make_config(train={"epochs": 1})
    prepared = runs.prepare(config)
    built = model_module.build(prepared[0], 2, "binary", 2).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(prepared[2].get_weights(), built))
    assert runs.summary_of(runs.train(config, prepared=prepared), "x")["data_init"] is None


def test_a_tighter_tolerance_takes_more_rounds_and_lands_closer():
    # with zero biases one rescaling lands on 1 exactly; random biases add variance the kernel's scale does not
    # move, so the rounds converge geometrically
    biased = {**DEEP["model"], "bias_initializer": {"name": "random_normal", "stddev": 0.3}}
    loose = runs.prepare(make_config(**{**DEEP, "model": biased})).data_init
    tight = runs.prepare(make_config(**{**DEEP, "model": {**biased, "data_init_tol": 0.001}})).data_init
    assert sum(tight["iterations"]) > sum(loose["iterations"]) >= 5
    assert all(abs(v - 1) < 0.1 for v in loose["variance"]) and all(abs(v - 1) < 0.001 for v in tight["variance"])
    capped = runs.prepare(make_config(**{**DEEP, "model": {**biased, "data_init_iters": 1}})).data_init
    assert capped["iterations"] == [1] * 5 and max(abs(v - 1) for v in capped["variance"]) >= 0.001


def test_kernels_default_to_orthogonal_under_lsuv_unless_the_user_chose_one():
    raw = raw_config(model={"data_init": "lsuv"})
    del raw["model"]["kernel_initializer"]
    from initlab.config.experiment import validate

    assert validate(raw).model.kernel_initializer.raw == "orthogonal"
    assert make_config(model={"data_init": "lsuv"}).model.kernel_initializer.raw == "glorot_uniform"  # raw_config sets it
    del raw["model"]["data_init"]
    assert validate(raw).model.kernel_initializer.raw == "glorot_uniform"


@pytest.mark.slow
def test_solo_and_population_start_from_the_same_lsuv_weights():
    configs = [make_config(**{**DEEP, "seed": seed}) for seed in (0, 1)]
    data = runs.load_data(configs[0])
    for config in configs:
        config = model_module.with_task_defaults(config, data.task)
        solo = runs.prepare(config)
        drawn, data_init = population.initial_weights(config, data.n_features, data.task, data.n_classes,
                                                      data.x_train[:PROBE_ROWS])
        for got, want in zip([w for pair in drawn for w in pair], solo.model.get_weights()):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        assert data_init["iterations"] == solo.data_init["iterations"]
    members = population.train_population([model_module.with_task_defaults(c, data.task) for c in configs], data)
    solos = [runs.train(c) for c in configs]
    for member, solo in zip(members, solos):
        for key, value in solo.weights_initial.items():
            np.testing.assert_allclose(member.weights_initial[key], value, rtol=1e-5, atol=1e-6)
        assert runs.summary_of(member, "m")["data_init"]["iterations"] == runs.summary_of(solo, "s")["data_init"]["iterations"]


def test_diagnose_reports_the_lsuv_weights(tmp_path):
    path = tmp_path / "lsuv.yaml"
    path.write_text(yaml.safe_dump(raw_config(**DEEP)))
    result = runner.invoke(app, ["diagnose", str(path), "--json"])
    assert result.exit_code in (0, 1), result.output
    rows = json.loads(result.stdout)
    hidden = [row for row in rows if row["layer"].startswith("hidden")]
    stds = [row["activation_std"] for row in hidden]
    # N(0, 0.01^2) without LSUV: tanh activations ~0.06, then ~0.004, ... ; with it each layer's z has variance 1
    assert all(0.5 < s < 0.8 for s in stds), stds


@pytest.mark.parametrize("key, value, allowed", [
    ("data_init", "lsvu", "allowed: lsuv"),
    ("data_init_tol", 0, "greater than 0"),
    ("data_init_tol", 1.5, "less than 1"),
    ("data_init_iters", 0, "greater than or equal to 1"),
    ("data_init_iters", "many", "valid integer"),
])
def test_bad_values_are_refused_with_one_line_naming_the_key(tmp_path, key, value, allowed):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw_config(model={"data_init": "lsuv", key: value})))
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert f"model.{key}" in result.stderr and allowed in result.stderr and str(value) in result.stderr
    assert not (tmp_path / "out").exists()
