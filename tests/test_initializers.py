"""Initializers: every Keras name builds, seeds behave, and the draws match the closed-form variances."""

import inspect
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, strategies as st
from keras.src.initializers import ALL_OBJECTS_DICT

from initlab.base.errors import UserError
from initlab.config import experiment as config_module, initializers
from initlab.train import initializer_factory

from tests.conftest import raw_config


def _class(entry):
    """The class an entry builds: Keras's, or initlab's own (randomized_asymmetric)."""
    own = initializer_factory.OWN.get(entry.class_name)
    return own() if own else ALL_OBJECTS_DICT[entry.class_name]


def test_every_name_builds_the_class_it_names():
    for name in initializers.initializer_names():
        instance = initializer_factory.make(name, seed=1)
        assert type(instance) is _class(initializers.REGISTRY[initializers.canonical_name(name)])


def test_registry_holds_every_name_keras_knows_or_says_why_not_and_initlabs_own():
    own = {alias for alias, canonical in initializers.ALIASES.items()
           if initializers.REGISTRY[canonical].class_name in initializer_factory.OWN}
    assert own == {"randomized_asymmetric", "RandomizedAsymmetric", "rai"} and not own & set(ALL_OBJECTS_DICT)
    assert set(ALL_OBJECTS_DICT) == set(initializers.ALIASES) - own | set(initializers.EXCLUDED)
    assert not set(initializers.ALIASES) & set(initializers.EXCLUDED)
    for alias, canonical in initializers.ALIASES.items():
        if alias not in own:
            assert ALL_OBJECTS_DICT[alias].__name__ == initializers.REGISTRY[canonical].class_name


def test_registry_parameters_and_defaults_are_the_constructors():
    for canonical, entry in initializers.REGISTRY.items():
        signature = inspect.signature(_class(entry).__init__).parameters
        # fan_in: the lab hands it to a bias drawn with its kernel; never a config's parameter
        keras_params = {k: p.default for k, p in signature.items() if k not in ("self", "args", "kwargs", "fan_in")}
        assert keras_params == {k: p.default for k, p in entry.params.items()}, canonical


CANDIDATES = [-1e10, -1e9, -1.0, -1e-3, 0, 1e-3, 0.5, 1, 2, 1e9, 1e10, 1e39, math.inf, -math.inf, math.nan, "abc",
              None, True, [1, 2], *initializers.MODES, *initializers.DISTRIBUTIONS, "Normal"]


def _keras_draws_finite(cls, params: dict) -> bool:
    """Whether Keras builds the initializer and draws a finite float32 kernel with it."""
    try:
        values = np.asarray(cls(**params)((4, 3), dtype="float32"))
    except Exception:  # noqa: BLE001 - Keras and TensorFlow refuse bad values with many kinds of errors
        return False
    return bool(np.isfinite(values).all())


def _accepted(spec) -> bool:
    try:
        initializers.parse_spec(spec)
        return True
    except ValueError:
        return False


def test_every_value_the_registry_accepts_keras_accepts_and_draws_finite():
    refused_but_keras_drew = []
    for canonical, entry in initializers.REGISTRY.items():
        cls = _class(entry)
        assert _keras_draws_finite(cls, {}), canonical
        trials = [{key: value} for key in entry.params for value in CANDIDATES]
        if canonical == "random_uniform":
            trials += [{"minval": low, "maxval": high} for low in CANDIDATES[:12] for high in CANDIDATES[:12]]
        for params in trials:
            if _accepted({"name": canonical, **params}):
                assert _keras_draws_finite(cls, params), (canonical, params)
            elif params in ({"stddev": -1.0}, {"minval": 2, "maxval": 1}, {"gain": -1.0}) and _keras_draws_finite(cls, params):
                refused_but_keras_drew.append((canonical, params))
    # the registry is stricter than Keras where Keras draws nonsense without a word
    assert ("random_normal", {"stddev": -1.0}) in refused_but_keras_drew
    assert ("random_uniform", {"minval": 2, "maxval": 1}) in refused_but_keras_drew
    assert ("orthogonal", {"gain": -1.0}) in refused_but_keras_drew


def test_validation_needs_no_tensorflow():
    code = ("import sys; from initlab.config import initializers; "
            "initializers.parse_spec({'name': 'variance_scaling', 'scale': 2.0, 'mode': 'fan_out'}); "
            "initializers.expected_variance('he_normal', 10, 5); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize("spec", [
    "he_normal", "HeNormal", {"name": "random_normal", "stddev": 0.01},
    {"class_name": "RandomUniform", "config": {"minval": 0.0, "maxval": 1.0}},
])
def test_spec_forms_and_get_config_round_trip(spec):
    instance = initializer_factory.make(spec, seed=3)
    again = type(instance).from_config(instance.get_config())
    assert np.array_equal(np.asarray(instance((4, 3))), np.asarray(again((4, 3))))


def test_same_seed_same_values_other_seed_other_values():
    a = np.asarray(initializer_factory.make("glorot_uniform", seed=5)((6, 4)))
    b = np.asarray(initializer_factory.make("glorot_uniform", seed=5)((6, 4)))
    c = np.asarray(initializer_factory.make("glorot_uniform", seed=6)((6, 4)))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_layer_seeds_are_distinct():
    seeds = {initializers.layer_seed(run, layer, role) for run in range(20) for layer in range(10) for role in (0, 1)}
    assert len(seeds) == 400


@pytest.mark.parametrize("name", ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform",
                                  "lecun_normal", {"name": "random_normal", "stddev": 0.01},
                                  {"name": "random_uniform", "minval": 0.0, "maxval": 1.0},
                                  {"name": "truncated_normal", "mean": 1.0, "stddev": 0.3},
                                  {"name": "variance_scaling", "scale": 3.0, "mode": "fan_out", "distribution": "uniform"},
                                  {"name": "variance_scaling", "mode": "fan_avg", "distribution": "untruncated_normal"},
                                  {"name": "variance_scaling", "scale": 0.5},
                                  {"name": "orthogonal", "gain": 2.0}])
def test_sample_variance_matches_formula(name):
    fan_in, fan_out = 400, 300
    w = np.asarray(initializer_factory.make(name, seed=11)((fan_in, fan_out)), dtype=np.float64)
    expected = initializers.expected_variance(name, fan_in, fan_out)
    # The variance of a sample variance of N draws is about 2 var^2 / N (normal) and smaller for uniform:
    # 5 of those standard errors is a bound that a correct initializer essentially never crosses.
    assert abs(w.var() - expected) <= 5 * expected * np.sqrt(2 / w.size)


def test_he_formulas_are_keras_s_not_the_popular_mistake():
    fan_in, fan_out = 500, 20
    w = np.asarray(initializer_factory.make("he_uniform", seed=2)((fan_in, fan_out)))
    limit = np.sqrt(6 / fan_in)
    assert w.max() <= limit and w.max() > 0.95 * limit  # not sqrt(6 / (fan_in + fan_out)) = 0.107
    normal = np.asarray(initializer_factory.make("he_normal", seed=2)((fan_in, fan_out)))
    assert abs(normal.std() - np.sqrt(2 / fan_in)) < 0.05 * np.sqrt(2 / fan_in)


def test_unknown_name_and_parameter_suggest():
    with pytest.raises(ValueError, match="not for Dense layers"):
        initializer_factory.make("stft")
    with pytest.raises(ValueError, match="did you mean 'he_normal'"):
        initializer_factory.make("he_normall")
    with pytest.raises(ValueError, match="did you mean 'stddev'"):
        initializer_factory.make({"name": "random_normal", "stdev": 0.1})


def test_table_lists_formulas():
    rows = {name: formula for name, _, formula in initializers.table()}
    assert "sqrt(6 / n_in)" in rows["he_uniform"] and "sqrt(2 / n_in)" in rows["he_normal"]
    assert "sqrt(6 / (n_in + n_out))" in rows["glorot_uniform"]


@given(st.integers(1, 100_000), st.integers(1, 100_000))
def test_std_of_gives_the_closed_forms_to_the_bit(fan_in, fan_out):
    assert initializers.std_of("glorot_uniform", fan_in, fan_out) == math.sqrt(2 / (fan_in + fan_out))
    assert initializers.std_of("he_normal", fan_in, fan_out) == math.sqrt(2 / fan_in)
    assert initializers.std_of("LecunNormal", fan_in, fan_out) == math.sqrt(1 / fan_in)


# ---- every range of the registry at both of its ends, generated from the registry: a new entry is covered too -----
def _ends(param) -> list[tuple[object, bool]]:
    """(value, accepted) pairs: just inside and just outside each end of a parameter's range, and values of the
    wrong kind. An end at infinity has no outside: an integer too long for a float stands inside it."""
    ok = param.ok
    if isinstance(ok, initializers.Choice):
        return [*((option, True) for option in ok.options),
                *((f"{option}_" if isinstance(option, str) else 0, False) for option in ok.options), ([None], False)]
    ends = [(None, ok.none), (True, False), (math.nan, False), ("1", False), ([1], False)]
    step = 1 if ok.integer else None
    for end, direction, is_open in ((ok.low, -math.inf, ok.low_open), (ok.high, math.inf, False)):
        if math.isinf(end):
            ends.append((10**400 if end > 0 else -10**400, True))
            continue
        beyond = (int(end) + int(math.copysign(1, direction))) if step else math.nextafter(end, direction)
        within = (int(end) - int(math.copysign(1, direction))) if step else math.nextafter(end, -direction)
        ends += [(within if is_open else end, True), (end if is_open else beyond, False),
                 (10**400 if direction > 0 else -10**400, False), (direction, False)]
    if ok.integer:
        ends.append((float(ok.low + 1), False))  # a whole float is not an integer
    return ends


PARAMETERS = [(canonical, key) for canonical, entry in initializers.REGISTRY.items() for key in entry.params]


def _partners(canonical: str, key: str) -> dict:
    """The entry's other parameters at the far end of their ranges, so a joint rule (minval < maxval) leaves room
    for `key`'s own ends where any room is left."""
    entry = initializers.REGISTRY[canonical]
    if entry.together is None:
        return {}
    far = {}
    for other, param in entry.params.items():
        if other != key and isinstance(param.ok, initializers.Range) and not param.ok.integer:
            far[other] = param.ok.high if key < other else param.ok.low  # minval probed: maxval at 1e9, and back
    return far


@pytest.mark.parametrize("canonical, key", PARAMETERS, ids=[f"{c}.{k}" for c, k in PARAMETERS])
def test_every_parameter_range_holds_at_both_ends(canonical, key):
    param = initializers.REGISTRY[canonical].params[key]
    partners = _partners(canonical, key)
    for value, accepted in _ends(param):
        spec = {"name": canonical, **partners, key: value}
        if accepted:
            problem = initializers.REGISTRY[canonical].together
            joint = problem({**partners, key: value}) if problem else None
            if joint is None:
                assert initializers.parse(spec).params[key] == value or value is None, spec
                continue
            expected = f"{canonical} {joint[1]}"  # no partner value can satisfy the joint rule: refused by it
        else:
            expected = f"{canonical} {key} must be {param.allowed}, got "
        with pytest.raises(ValueError) as refused:
            initializers.parse(spec)
        message = str(refused.value)
        assert message.startswith(expected) and "\n" not in message, (spec, message)
        with pytest.raises(UserError) as error:  # through the config: the key path of the parameter itself
            config_module.validate(raw_config(model={"kernel_initializer": spec}))
        assert error.value.key == f"model.kernel_initializer.{joint[0] if accepted else key}", error.value.render()


SPREADS = ("stddev", "scale", "gain")  # a spread of 0 draws one value; a negative one is Keras's silent nonsense


@pytest.mark.parametrize("canonical, key", [(c, k) for c, k in PARAMETERS if k in SPREADS])
def test_every_spread_is_positive(canonical, key):
    ok = initializers.REGISTRY[canonical].params[key].ok
    assert ok.low == 0 and ok.low_open and ok.high == initializers.LARGEST, (canonical, key)


def test_an_out_of_range_parameter_is_one_line_and_exit_2_from_the_command_line(tmp_path):
    from typer.testing import CliRunner

    from initlab.cli import app

    for stddev in ("0", "-0.5", "1e400", "1" + "0" * 400):
        path = tmp_path / "exp.yaml"
        path.write_text(f"name: a\nmodel: {{kernel_initializer: {{name: truncated_normal, stddev: {stddev}}}}}\n")
        result = CliRunner().invoke(app, ["validate", str(path)])
        assert result.exit_code == 2 and result.stdout == "" and "Traceback" not in result.output, result.output
        message = result.stderr.strip()
        assert message.startswith(f"error: {path}: model.kernel_initializer.stddev: truncated_normal stddev must be "
                                  "a finite number > 0 and at most 1e9, got ") and "\n" not in message, message
