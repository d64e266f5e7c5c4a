"""Config loading: overrides, the resolved round trip, unknown keys, name rules, defaults."""

import math
import string
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from initlab.base.errors import UserError, did_you_mean, edits
from initlab.config import experiment as config_module
from initlab.config.experiment import apply_overrides, load_config, parse_override, validate


def write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# ---- --set parsing -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, key, value",
    [
        ("train.epochs=200", "train.epochs", 200),
        ("model.hidden=[8,8]", "model.hidden", [8, 8]),
        ("model.set_weights=null", "model.set_weights", None),
        ("train.learning_rate=0.01", "train.learning_rate", 0.01),
        ("train.shuffle=false", "train.shuffle", False),
        (" seed = 3 ", "seed", 3),
        ("name=a=b", "name", "a=b"),  # only the first '=' splits
        (
            "model.kernel_initializer={name: random_normal, stddev: 0.01}",
            "model.kernel_initializer",
            {"name": "random_normal", "stddev": 0.01},
        ),
    ],
)
def test_parse_override(text, key, value):
    assert parse_override(text) == (key, value)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("train.epochs", "expected KEY.PATH=VALUE"),
        ("=3", "expected KEY.PATH=VALUE"),
        ("train..epochs=3", "expected KEY.PATH=VALUE"),
        ("train.=3", "expected KEY.PATH=VALUE"),
        ("train.epochs=[1,", "invalid YAML"),
        ("name=!!python/object/apply:os.system ['true']", "not allowed"),
    ],
)
def test_parse_override_refuses(text, fragment):
    with pytest.raises(UserError) as caught:
        parse_override(text)
    assert caught.value.source == "--set"
    assert fragment in str(caught.value)


keys = st.lists(st.text(string.ascii_letters + string.digits + "_", min_size=1, max_size=8), min_size=1, max_size=4)
scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(string.ascii_letters, min_size=1, max_size=5), inner, max_size=3),
    max_leaves=8,
)


def as_yaml(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10**6).removesuffix("\n...\n").rstrip("\n")


@settings(max_examples=200, deadline=None)
@given(keys, values)
def test_override_round_trip(parts, value):
    key = ".".join(parts)
    assert parse_override(f"{key}={as_yaml(value)}") == (key, value)


@settings(max_examples=100, deadline=None)
@given(keys, values)
def test_apply_overrides_sets_the_path_and_leaves_the_input_alone(parts, value):
    raw = {"train": {"epochs": 1}}
    updated = apply_overrides(raw, [f"{'.'.join(parts)}={as_yaml(value)}"])
    node = updated
    for part in parts:
        node = node[part]
    assert node == value
    assert raw == {"train": {"epochs": 1}}


def test_apply_overrides_refuses_a_key_under_a_non_mapping():
    with pytest.raises(UserError) as caught:
        apply_overrides({"train": {"epochs": 1}}, ["train.epochs.x=3"])
    assert "'train.epochs' is 1, not a mapping" in str(caught.value)
    assert caught.value.key == "train.epochs.x"


def test_set_weights_null_override(tmp_path):
    path = write(tmp_path, "name: c\nmodel: {set_weights: 0.5}\n")
    assert load_config(path).model.set_weights == 0.5
    assert load_config(path, ["model.set_weights=null"]).model.set_weights is None


def test_initializer_mapping_override(tmp_path):
    path = write(tmp_path, "name: c\n")
    cfg = load_config(path, ["model.kernel_initializer={name: random_normal, stddev: 0.01}"])
    assert cfg.model.kernel_initializer.raw == {"name": "random_normal", "stddev": 0.01}


def test_override_error_names_the_set_key(tmp_path):
    path = write(tmp_path, "name: c\n")
    with pytest.raises(UserError) as caught:
        load_config(path, ["train.epochs=-1"])
    assert caught.value.key == "train.epochs"
    assert caught.value.source == f"{path} (--set train.epochs)"


# ---- the resolved config --------------------------------------------------------------------------------------
ROUND_TRIP = {
    "defaults": "name: d\n",
    "constant": "name: c\nmodel: {hidden: [2], set_weights: 0.5}\ntrain: {epochs: 3}\n",
    "layers": (
        "name: l\nseed: 7\nmodel:\n  layers:\n"
        "    - {units: 4, activation: tanh, kernel_initializer: {name: random_normal, stddev: 0.01}}\n"
        "    - {units: 3}\n  bias_initializer: {class_name: Constant, config: {value: 0.1}}\n"
    ),
    "generator": "name: g\ndata: {dataset: circles, n_samples: 64, noise: 0.05, factor: 0.3, standardize: true}\n",
    "csv": "name: f\ndata: {dataset: csv, path: points.csv, features: [a, b], target: y, validation_split: 0.25}\n",
}


@pytest.mark.parametrize("text", ROUND_TRIP.values(), ids=ROUND_TRIP.keys())
def test_round_trip_keeps_the_digest(tmp_path, text):
    first = load_config(write(tmp_path, text))
    second = load_config(write(tmp_path, config_module.dump(first), "resolved.yaml"))
    assert second.resolved() == first.resolved()
    assert second.digest() == first.digest()
    assert config_module.dump(second) == config_module.dump(first)


def test_digest_follows_the_content():
    base = validate({"name": "x"})
    assert validate({"name": "x", "seed": 1}).digest() != base.digest()
    assert validate({"name": "x", "seed": 0}).digest() == base.digest()


def test_defaults_filled():
    resolved = validate({"name": "x"}).resolved()
    assert resolved["seed"] == 0
    assert resolved["data"] == {"dataset": "ushape", "validation_split": 0.2, "standardize": False, "split": "last",
                                "split_seed": 42}
    model, train = resolved["model"], resolved["train"]
    assert (model["hidden"], model["activation"], model["set_weights"]) == ([2], "relu", None)
    assert (model["kernel_initializer"], model["bias_initializer"]) == ("glorot_uniform", "zeros")
    assert train == {
        "optimizer": "adam", "learning_rate": 0.001, "loss": None, "epochs": 100, "batch_size": 32,
        "shuffle": True, "engine": "fast",
    }
    assert resolved["record"] == {"every": "auto", "tensorboard": False, "targets": [0.8, 0.9], "jacobian": False}


def test_generator_defaults_filled():
    resolved = validate({"name": "x", "data": {"dataset": "moons"}}).resolved()
    expected = {"dataset": "moons", "validation_split": 0.2, "standardize": False, "split": "last", "split_seed": 42,
                "n_samples": 100, "noise": 0.3}
    assert resolved["data"] == expected


def test_name_defaults_to_the_file_stem(tmp_path):
    assert load_config(write(tmp_path, "seed: 1\n", "relu_he.yaml")).name == "relu_he"


def test_layers_set_hidden():
    cfg = validate({"name": "x", "model": {"layers": [{"units": 4}, {"units": 3, "activation": "tanh"}]}})
    assert cfg.model.hidden == [4, 3]
    assert [layer.activation for layer in cfg.model.hidden_layers()] == ["relu", "tanh"]


# ---- refusals ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw, key, fragment",
    [
        ({"trian": {}}, "trian", "did you mean 'train'"),
        ({"train": {"epoch": 3}}, "train.epoch", "did you mean 'epochs'"),
        ({"model": {"layers": [{"units": 2, "init": "zeros"}]}}, "model.layers.0.init", "allowed: units, activation"),
        ({"data": {"dataset": "ushape", "n_samples": 5}}, "data.n_samples", "allowed: validation_split, standardize"),
        ({"data": {"dataset": "csv", "path": "a.csv", "features": ["a"], "target": "y", "noise": 1}}, "data.noise", "target"),
    ],
)
def test_unknown_keys_refused(raw, key, fragment):
    with pytest.raises(UserError) as caught:
        validate({"name": "x", **raw}, "exp.yaml")
    assert caught.value.key == key
    assert caught.value.source == "exp.yaml"
    assert "unknown key" in str(caught.value) and fragment in str(caught.value)


@pytest.mark.parametrize("name", ["a", "relu_constant", "He-uniform.v2", "_x", "0"])
def test_plain_names_accepted(name):
    assert validate({"name": name}).name == name


@pytest.mark.parametrize(
    "name", ["a/b", "/abs", "a\\b", "..", ".", "a..b", "../x", "", ".hidden", "-x", "a b", "x" * 101, 3]
)
def test_names_with_paths_refused(name):
    with pytest.raises(UserError) as caught:
        validate({"name": name})
    assert caught.value.key == "name"


def test_bad_name_from_the_file_name_says_so(tmp_path):
    with pytest.raises(UserError) as caught:
        load_config(write(tmp_path, "seed: 1\n", "my exp.yaml"))
    assert "taken from the file name" in str(caught.value)


@pytest.mark.parametrize(
    "raw, key",
    [
        ({"train": {"epochs": True}}, "train.epochs"),  # pydantic alone would read true as 1
        ({"train": {"learning_rate": math.inf}}, "train.learning_rate"),
        ({"model": {"set_weights": math.nan}}, "model.set_weights"),
        ({"model": {"hidden": [2, False]}}, "model.hidden.1"),
    ],
)
def test_booleans_and_non_finite_numbers_refused(raw, key):
    with pytest.raises(UserError) as caught:
        validate({"name": "x", **raw})
    assert caught.value.key == key


def test_initializer_parameter_keras_takes_but_cannot_draw_is_refused_by_its_range():
    with pytest.raises(UserError) as caught:
        validate({"name": "x", "model": {"kernel_initializer": {"name": "constant", "value": "abc"}}})
    assert caught.value.key == "model.kernel_initializer.value"
    assert "constant value must be a finite number" in str(caught.value) and "'abc'" in str(caught.value)


def test_read_yaml_refuses_duplicate_keys(tmp_path):
    with pytest.raises(UserError, match="duplicate key 'seed'"):
        config_module.read_yaml(write(tmp_path, "seed: 1\nseed: 2\n"))


# ---- did you mean ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "given_name, allowed, suggestion",
    [
        ("adma", ["adam", "adamax", "adagrad"], "adam"),  # a swap beats difflib's longer favourite
        ("glorot_unifrom", ["glorot_uniform", "glorot_normal"], "glorot_uniform"),
        ("zzz", ["adam", "sgd"], None),
    ],
)
def test_did_you_mean(given_name, allowed, suggestion):
    assert did_you_mean(given_name, allowed) == (f" (did you mean '{suggestion}'?)" if suggestion else "")


@pytest.mark.parametrize(
    "a, b, distance", [("adma", "adam", 1), ("kitten", "sitting", 3), ("", "ab", 2), ("same", "same", 0)]
)
def test_edits(a, b, distance):
    assert edits(a, b) == distance


@pytest.mark.parametrize("text", ["a: !!timestamp hello", "train: {epochs: !!int abc}", "seed: !!float x"])
def test_a_standard_tag_on_a_value_it_cannot_build_is_one_line(tmp_path, text):
    """PyYAML raises AttributeError and ValueError from these, not a YAMLError."""
    path = tmp_path / "tagged.yaml"
    path.write_text(text + "\n")
    with pytest.raises(UserError, match="a tagged value that its tag cannot build"):
        load_config(path)
    with pytest.raises(UserError, match="--set: train.epochs: the value"):
        apply_overrides({}, [f"train.epochs={text.split(': ', 1)[1].strip('{}').split(': ')[-1]}"])
