"""Bad input: one clear message naming the file, the key and what is allowed; exit code 2; nothing written."""

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from initlab.cli import app

from tests.conftest import initlab_command

runner = CliRunner()
COMMANDS = ["validate", "run"]


def invoke(command: str, config: Path, out: Path, *extra: str):
    args = [command, str(config), *extra]
    return runner.invoke(app, args + (["--out", str(out)] if command == "run" else []))


def assert_user_error(result, out: Path, *fragments: str) -> str:
    """The result is one clean exit-2 message holding every fragment, with nothing written under `out`."""
    message = result.stderr.strip()
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.exc_info[0] is SystemExit
    assert result.stdout == ""
    assert message.startswith("error: ") and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert not out.exists() or not any(out.iterdir())
    return message


@pytest.fixture
def out(tmp_path):
    return tmp_path / "outputs"


def write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# ---- the config file ------------------------------------------------------------------------------------------------
CONFIGS = {  # YAML text, fragments the message must hold (besides the file's path)
    # reading
    "yaml_syntax": ("name: a\nmodel: [1,\n", ["invalid YAML", "line 3"]),
    "yaml_bad_indent": ("name: a\n  seed: 1\n", ["invalid YAML", "line 2"]),
    "empty_file": ("", ["the file is empty"]),
    "only_comments": ("# nothing here\n", ["the file is empty"]),
    "top_level_list": ("- a\n- b\n", ["expected a mapping of keys at the top level", "list", "[a, b]"]),
    "top_level_scalar": ("hello\n", ["expected a mapping of keys at the top level", "'hello'"]),
    "duplicate_key": ("seed: 1\nseed: 2\n", ["duplicate key 'seed'", "line 2"]),
    "custom_tag": ("name: !foo bar\n", ["not allowed", "!foo"]),
    "deep_nesting": ("model: " + "[" * 5000 + "]" * 5000 + "\n", ["YAML refused: nested deeper than 100 levels"]),
    "recursive_alias": ("model: &a {hidden: *a}\n", ["YAML refused: an alias refers to a value that contains it"]),
    "control_character": ("name: a\x07b\n", ["invalid YAML", "special characters are not allowed"]),
    "long_name": ("name: " + "a" * 500_000 + "\n", ["name", "at most 100 characters", "(500,002 characters)"]),
    # unknown keys
    "unknown_top": (
        "modle: {}\n",
        ["modle", "did you mean 'model'", "allowed: name, seed, data, model, train, record"],
    ),
    "unknown_nested": (
        "train: {epoch: 3}\n",
        ["train.epoch", "did you mean 'epochs'", "allowed: optimizer, learning_rate"],
    ),
    "unknown_record": ("record: {evry: 2}\n", ["record.evry", "did you mean 'every'", "tensorboard"]),
    "unknown_for_dataset": (
        "data: {dataset: moons, n_sample: 50}\n",
        ["data.n_sample", "did you mean 'n_samples'", "noise"],
    ),
    "generator_key_on_ushape": (
        "data: {dataset: ushape, noise: 0.1}\n",
        ["data.noise", "allowed: validation_split, standardize, split, split_seed, dataset"],
    ),
    "unknown_in_layers": (
        "model: {layers: [{units: 2, activaton: relu}]}\n",
        ["model.layers.0.activaton", "did you mean 'activation'", "units"],
    ),
    # types
    "mup_without_base_width": ("model: {hidden: [64], parametrization: mup}\n",
                               ["model.base_width", "required with parametrization: mup"]),
    "mup_base_wider_than_a_layer": ("model: {hidden: [64, 32], parametrization: mup, base_width: 48}\n",
                                    ["model.base_width", "48 is wider than the narrowest hidden layer (32 units)",
                                     "allowed: 1 to 32"]),
    "mup_optimizer_not_in_table": ("model: {hidden: [64], parametrization: mup, base_width: 16}\ntrain: {optimizer: rmsprop}\n",
                                   ["model.parametrization", "allowed with mup: sgd, adam, adamw", "'rmsprop'"]),
    "mup_with_set_weights": ("model: {hidden: [64], parametrization: mup, base_width: 16, set_weights: 0.5}\n",
                             ["model.set_weights", "cannot be combined with parametrization: mup"]),
    "parametrization_unknown": ("model: {parametrization: ntk}\n", ["model.parametrization", "standard, mup"]),
    "base_width_zero": ("model: {base_width: 0}\n", ["model.base_width", "greater than or equal to 1"]),
    "epochs_text": ("train: {epochs: many}\n", ["train.epochs", "valid integer", "'many'"]),
    "epochs_fraction": ("train: {epochs: 2.5}\n", ["train.epochs", "valid integer", "2.5"]),
    "epochs_bool": ("train: {epochs: true}\n", ["train.epochs", "expected a number", "true"]),
    "hidden_scalar": ("model: {hidden: 3}\n", ["model.hidden", "valid list", "got 3"]),
    "section_scalar": ("train: 3\n", ["train", "expected a mapping of keys", "epochs", "got 3"]),
    "section_null": ("model: null\n", ["model", "expected a mapping of keys", "hidden", "got null"]),
    "data_scalar": ("data: 3\n", ["data", "expected a mapping of keys (dataset", "got 3"]),
    "set_weights_text": ("model: {set_weights: half}\n", ["model.set_weights", "valid number", "'half'"]),
    "shuffle_text": ("train: {shuffle: sometimes}\n", ["train.shuffle", "valid boolean", "'sometimes'"]),
    "initializer_list": (
        "model: {kernel_initializer: [1, 2]}\n",
        ["model.kernel_initializer", "expected an initializer name", "[1, 2]"],
    ),
    "bias_initializer_null": (
        "model: {bias_initializer: null}\n",
        ["model.bias_initializer", "expected an initializer name", "null"],
    ),
    "learning_rate_inf": ("train: {learning_rate: .inf}\n", ["train.learning_rate", "finite number"]),
    # ranges
    "epochs_negative": ("train: {epochs: -1}\n", ["train.epochs", "greater than or equal to 0", "got -1"]),
    "learning_rate_zero": ("train: {learning_rate: 0}\n", ["train.learning_rate", "greater than 0", "got 0"]),
    "learning_rate_negative": ("train: {learning_rate: -0.1}\n", ["train.learning_rate", "greater than 0", "got -0.1"]),
    "split_one": ("data: {dataset: ushape, validation_split: 1}\n", ["data.validation_split", "less than 1", "got 1"]),
    "split_negative": (
        "data: {dataset: ushape, validation_split: -0.1}\n",
        ["data.validation_split", "greater than or equal to 0"],
    ),
    "hidden_units_zero": ("model: {hidden: [2, 0]}\n", ["model.hidden.1", "greater than or equal to 1", "got 0"]),
    "layer_units_zero": (
        "model: {layers: [{units: 0}]}\n",
        ["model.layers.0.units", "greater than or equal to 1", "got 0"],
    ),
    "layer_units_missing": (
        "model: {layers: [{activation: tanh}]}\n",
        ["model.layers.0.units", "required key is missing"],
    ),
    "seed_negative": ("seed: -1\n", ["seed", "greater than or equal to 0", "got -1"]),
    "batch_size_zero": ("train: {batch_size: 0}\n", ["train.batch_size", "greater than or equal to 1"]),
    # names
    "initializer_name": (
        "model: {kernel_initializer: glorot_unifrom}\n",
        ["model.kernel_initializer", "did you mean 'glorot_uniform'", "initlab initializers"],
    ),
    "layer_initializer_name": (
        "model: {layers: [{units: 2, kernel_initializer: he_nromal}]}\n",
        ["model.layers.0.kernel_initializer", "did you mean 'he_normal'"],
    ),
    "activation_name": ("model: {activation: rleu}\n", ["model.activation", "did you mean 'relu'", "allowed:", "tanh"]),
    "layer_activation_name": (
        "model: {layers: [{units: 2, activation: tnah}]}\n",
        ["model.layers.0.activation", "did you mean 'tanh'"],
    ),
    "output_activation_name": (
        "model: {output_activation: sigmod}\n",
        ["model.output_activation", "did you mean 'sigmoid'"],
    ),
    "optimizer_name": ("train: {optimizer: adma}\n", ["train.optimizer", "did you mean 'adam'", "allowed:", "sgd"]),
    "loss_name": (
        "train: {loss: binary_crossentropi}\n",
        ["train.loss", "did you mean 'binary_crossentropy'", "allowed:"],
    ),
    "dataset_name": (
        "data: {dataset: moon}\n",
        ["data.dataset", "did you mean 'moons'", "allowed: ushape, moons, circles"],
    ),
    "dataset_missing": (
        "data: {validation_split: 0.2}\n",
        ["data.dataset", "required key is missing", "allowed: ushape"],
    ),
    "engine_name": ("train: {engine: fsat}\n", ["train.engine", "did you mean 'fast'", "allowed: fast, keras"]),
    # initializer parameters
    "initializer_param": (
        "model: {kernel_initializer: {name: random_normal, stdev: 0.01}}\n",
        ["model.kernel_initializer", "'stdev'", "did you mean 'stddev'", "allowed: mean, stddev"],
    ),
    "keras_style_param": (
        "model: {kernel_initializer: {class_name: RandomNormal, config: {stdev: 1}}}\n",
        ["model.kernel_initializer", "did you mean 'stddev'"],
    ),
    "initializer_no_name": (
        "model: {kernel_initializer: {stddev: 1}}\n",
        ["model.kernel_initializer", "{name: ..., <params>}"],
    ),
    "initializer_bad_mode": (
        "model: {kernel_initializer: {name: variance_scaling, mode: fan_sum}}\n",
        ["model.kernel_initializer", "fan_in"],
    ),
    # parameters out of their registry range (Keras would take the first four silently)
    "normal_negative_std": (
        "model: {kernel_initializer: {name: random_normal, stddev: -1}}\n",
        ["model.kernel_initializer.stddev", "random_normal stddev must be a finite number > 0", "got -1"],
    ),
    "uniform_reversed": (
        "model: {kernel_initializer: {name: random_uniform, minval: 1, maxval: 0}}\n",
        ["model.kernel_initializer.maxval", "maxval must be greater than minval (1)", "got 0"],
    ),
    "truncated_nan": (
        "model: {kernel_initializer: {name: truncated_normal, stddev: .nan}}\n",
        ["model.kernel_initializer.stddev", "finite number > 0", "got .nan"],
    ),
    "constant_inf": (
        "model: {kernel_initializer: {name: constant, value: .inf}}\n",
        ["model.kernel_initializer.value", "constant value must be a finite number", "got .inf"],
    ),
    "constant_text": (
        "model: {kernel_initializer: {name: constant, value: abc}}\n",
        ["model.kernel_initializer.value", "finite number", "'abc'"],
    ),
    "scaling_negative": (
        "model: {kernel_initializer: {name: variance_scaling, scale: -2, mode: fan_in}}\n",
        ["model.kernel_initializer.scale", "variance_scaling scale must be a finite number > 0", "got -2"],
    ),
    "scaling_distribution": (
        "model: {kernel_initializer: {name: variance_scaling, distribution: gamma}}\n",
        ["model.kernel_initializer.distribution", "one of truncated_normal, normal", "'gamma'"],
    ),
    "orthogonal_gain_text": (
        "model: {kernel_initializer: {name: orthogonal, gain: big}}\n",
        ["model.kernel_initializer.gain", "orthogonal gain must be a finite number > 0", "'big'"],
    ),
    "identity_gain_zero": (
        "model: {kernel_initializer: {class_name: Identity, config: {gain: 0}}}\n",
        ["model.kernel_initializer.gain", "identity gain must be", "got 0"],
    ),
    "orthogonal_bias": (
        "model: {bias_initializer: orthogonal}\n",
        ["model.bias_initializer", "'orthogonal' cannot draw a bias"],
    ),
    "stft_refused": ("model: {kernel_initializer: stft}\n", ["model.kernel_initializer", "not for Dense layers"]),
    "layer_uniform_reversed": (
        "model: {layers: [{units: 2}, {units: 2, kernel_initializer: {name: uniform, minval: 3}}]}\n",
        ["model.layers.1.kernel_initializer.maxval", "greater than minval (3)", "got 0.05"],
    ),
    "layer_constant_text": (
        "model: {layers: [{units: 2, bias_initializer: {name: constant, value: abc}}]}\n",
        ["model.layers.0.bias_initializer.value", "finite number"],
    ),
    "set_weights_huge": ("model: {set_weights: 1.0e+300}\n", ["model.set_weights", "less than or equal to 1000000000"]),
    "noise_huge": ("data: {dataset: moons, noise: 1.0e+300}\n", ["data.noise", "less than or equal to"]),
    "learning_rate_huge": ("train: {learning_rate: 1.0e+40}\n", ["train.learning_rate", "less than or equal to"]),
    "glu_odd_width": ("model: {hidden: [3], activation: glu}\n", ["model", "'glu' fails on hidden layer 1", "3 units"]),
    "threshold_needs_arguments": ("model: {activation: threshold}\n",
                                  ["model", "'threshold' fails on hidden layer 1", "missing 2 required positional"]),
    "glu_output": ("model: {output_activation: glu}\n",
                   ["model.output_activation", "'glu' fails on the output layer (1 unit)", "divisible by 2"]),
    "loss_of_another_task": ("data: {dataset: blobs, centers: 3}\ntrain: {loss: mse}\n",
                             ["train.loss", "'mse' does not fit a multiclass task", "use sparse_categorical_crossentropy"]),
    "sparse_loss_on_one_column": ("train: {loss: sparse_categorical_crossentropy}\n",
                                  ["train.loss", "does not fit a binary task", "it fits multiclass tasks"]),
    "loss_base_class": ("train: {loss: Loss}\n", ["train.loss", "unknown loss 'Loss'"]),
    # the run folder's name
    "name_slash": ("name: a/b\n", ["name", "'a/b' is not a plain folder name", "no path separators"]),
    "name_absolute": ("name: /tmp/x\n", ["name", "not a plain folder name"]),
    "name_parent": ("name: ..\n", ["name", "not a plain folder name", "no '..'"]),
    "name_dots_inside": ("name: a..b\n", ["name", "not a plain folder name"]),
    "name_backslash": ("name: 'a\\b'\n", ["name", "not a plain folder name"]),
    "name_number": ("name: 3\n", ["name", "valid string", "got 3"]),
    # data that leaves nothing to train on
    "no_training_rows": (
        "data: {dataset: moons, n_samples: 2, validation_split: 0.6}\n",
        ["data.validation_split", "0.6 of 2 rows leaves no training rows"],
    ),
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", CONFIGS)
def test_bad_config(tmp_path, out, command, case):
    text, fragments = CONFIGS[case]
    config = write(tmp_path, text)
    assert_user_error(invoke(command, config, out), out, str(config), *fragments)


@pytest.mark.parametrize("command", COMMANDS)
def test_python_object_tags_are_refused_and_not_run(tmp_path, out, command):
    marker = tmp_path / "marker"
    config = write(tmp_path, f"name: !!python/object/apply:os.system ['touch {marker}']\n")
    assert_user_error(invoke(command, config, out), out, str(config), "not allowed", "!!python/object/apply:os.system")
    assert not marker.exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_missing_config_file(tmp_path, out, command):
    config = tmp_path / "nope.yaml"
    assert_user_error(invoke(command, config, out), out, str(config), "no such file")


@pytest.mark.parametrize("command", COMMANDS)
def test_config_path_is_a_folder(tmp_path, out, command):
    assert_user_error(invoke(command, tmp_path, out), out, str(tmp_path), "is a folder")


HOSTILE_FILES = {  # bytes on disk, fragments: for run, validate and sweep files alike
    "binary": (b"\xff\xfe\x00\x81" * 64, ["not a UTF-8 text file (byte 0xff at offset 0)"]),
    "latin1": ("name: café\n".encode("latin-1"), ["not a UTF-8 text file (byte 0xe9 at offset 9)"]),
    "nul_byte": (b"name: a\x00b\n", ["invalid YAML", "special characters are not allowed"]),
    "very_long_line": (b"name: " + b"a" * 2**21 + b"\n", ["2,097,159 bytes, over the limit of 1,048,576"]),
    "laughs": ("".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}' if i else 'lol'] * 10)}]\n" for i in range(9)).encode(),
               ["YAML refused: aliases expand it to more than 1,000,000 values"]),
}


@pytest.mark.parametrize("command", [*COMMANDS, "sweep"])
@pytest.mark.parametrize("case", HOSTILE_FILES)
def test_hostile_yaml_file(tmp_path, out, command, case):
    content, fragments = HOSTILE_FILES[case]
    path = tmp_path / "hostile.yaml"
    path.write_bytes(content)
    extra = ["--out", str(out)] if command in ("run", "sweep") else []
    assert_user_error(runner.invoke(app, [command, str(path), *extra]), out, str(path), *fragments)


def test_sweep_path_is_a_folder(tmp_path, out):
    assert_user_error(runner.invoke(app, ["sweep", str(tmp_path), "--out", str(out)]), out, str(tmp_path), "is a folder")


def test_bad_name_from_the_file_name(tmp_path, out):
    config = write(tmp_path, "seed: 1\n", "my exp.yaml")
    assert_user_error(invoke("run", config, out), out, str(config), "name", "'my exp'", "taken from the file name")


def test_brackets_in_a_message_are_printed_verbatim(tmp_path, out):
    # Rich would read '[/x]' as closing markup (and raise), '[b]' as bold
    config = write(tmp_path, "train: {optimizer: '[/x][b]'}\n")
    assert_user_error(invoke("validate", config, out), out, "'[/x][b]'")


# ---- --set ------------------------------------------------------------------------------------------------
SETS = {  # the --set text, fragments; the file's path is expected only where the file's content is at fault
    "no_equals": ("train.epochs", ["--set", "expected KEY.PATH=VALUE", "'train.epochs'"]),
    "empty_key": ("=3", ["--set", "expected KEY.PATH=VALUE", "'=3'"]),
    "empty_part": ("train..epochs=3", ["--set", "expected KEY.PATH=VALUE"]),
    "bad_yaml": ("train.epochs=[1,", ["--set", "train.epochs", "invalid YAML"]),
    "python_tag": ("name=!!python/object/apply:os.system ['true']", ["--set", "name", "not allowed"]),
    "under_a_number": ("train.epochs.x=3", ["--set", "train.epochs.x", "'train.epochs' is 1, not a mapping"]),
    "under_a_list": ("model.hidden.x=3", ["--set", "model.hidden.x", "'model.hidden' is [2], not a mapping"]),
    "out_of_range": ("train.epochs=-1", ["(--set train.epochs)", "train.epochs", "greater than or equal to 0"]),
    "unknown_key": ("train.epoch=3", ["(--set train.epoch)", "did you mean 'epochs'"]),
    "bad_name": ("name=../x", ["(--set name)", "not a plain folder name"]),
    "bad_initializer": (
        "model.kernel_initializer={name: random_normal, stdev: 0.01}",
        ["(--set model.kernel_initializer)", "did you mean 'stddev'"],
    ),
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", SETS)
def test_bad_set(tmp_path, out, command, case):
    override, fragments = SETS[case]
    config = write(tmp_path, "name: ok\nmodel: {hidden: [2]}\ntrain: {epochs: 1}\n")
    assert_user_error(invoke(command, config, out, "--set", override), out, *fragments)


def test_set_with_a_good_file_names_the_file(tmp_path, out):
    config = write(tmp_path, "name: ok\n")
    assert_user_error(invoke("run", config, out, "--set", "seed=-1"), out, f"{config} (--set seed)", "seed")


@pytest.mark.parametrize(
    "override, expected",
    [
        ("model.set_weights=null", "set_weights: null"),
        (
            "model.kernel_initializer={name: random_normal, stddev: 0.01}",
            "kernel_initializer: {name: random_normal, stddev: 0.01}",
        ),
        ("model.hidden=[8, 8]", "hidden: [8, 8]"),
    ],
)
def test_good_set_validates(tmp_path, override, expected):
    config = write(tmp_path, "name: ok\nmodel: {set_weights: 0.5}\n")
    result = runner.invoke(app, ["validate", str(config), "--set", override])
    assert result.exit_code == 0, result.output
    assert expected in result.stdout


# ---- dataset: csv ------------------------------------------------------------------------------------------------
GOOD_CSV = "a,b,y\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n"
CSVS = {  # file content (None: no file), data keys beyond the defaults, fragments
    "missing_file": (None, {}, ["data.path", "no such file", "points.csv", "relative to the config file's folder"]),
    "empty_file": ("", {}, ["data.path", "points.csv is empty"]),
    "header_only": ("a,b,y\n", {}, ["data.path", "points.csv has 0 data rows; at least 2 are needed"]),
    "one_row": ("a,b,y\n1,2,0\n", {}, ["data.path", "has 1 data rows"]),
    "text_cell": (
        "a,b,y\n1,x,0\n3,4,1\n5,6,0\n",
        {},
        ["data.path", "column 'b' is not numeric: 'x' on line 2 of points.csv"],
    ),
    "text_target": ("a,b,y\n1,2,cat\n3,4,dog\n", {}, ["data.path", "column 'y' is not numeric: 'cat'"]),
    "empty_cell": ("a,b,y\n1,2,0\n3,,1\n5,6,0\n", {}, ["data.path", "column 'b' has an empty cell on line 3"]),
    "short_row": ("a,b,y\n1,2\n3,4,1\n5,6,0\n", {}, ["data.path", "column 'y' has an empty cell on line 2"]),
    "long_row": ("a,b,y\n1,2,0,9,9\n3,4,1\n5,6,0\n", {}, ["data.path", "line 2 has more cells than the header"]),
    "infinite_cell": ("a,b,y\n1,inf,0\n3,4,1\n5,6,0\n", {}, ["data.path", "column 'b' is not finite"]),
    "nan_feature": ("a,b,y\n1,2,0\n3,NaN,1\n5,6,0\n", {}, ["data.path", "column 'b' is not finite: 'NaN' on line 3"]),
    "inf_target": ("a,b,y\n1,2,0\n3,4,-inf\n5,6,0\n", {}, ["data.path", "column 'y' is not finite: '-inf' on line 3"]),
    "na_text": ("a,b,y\n1,NA,0\n3,4,1\n5,6,0\n", {}, ["data.path", "column 'b' is not numeric: 'NA' on line 2"]),
    "beyond_float32": ("a,b,y\n1,1e39,0\n3,4,1\n5,6,0\n", {}, ["data.path", "column 'b' is beyond float32's range"]),
    "one_class": ("a,b,y\n1,2,1\n3,4,1\n5,6,1\n", {}, ["data.target", "the target has one class only (1)"]),
    "garbage": (bytes(range(256)) * 8, {}, ["data.path", "not a readable CSV"]),
    "nul_bytes": (b"a,b,y\n1,\x00,0\n3,4,1\n5,6,0\n", {}, ["data.path", "column 'b' is not numeric: '\\x00'"]),
    "utf16": ("a,b,y\n1,2,0\n3,4,1\n".encode("utf-16"), {}, ["data.path", "not a readable CSV"]),
    "unclosed_quote": ('a,b,y\n"1,2,0\n3,4,1\n', {}, ["data.path", "not a readable CSV", "EOF inside string"]),
    "very_long_line": ("a,b,y\n" + "1," * 100_000 + "0\n3,4,1\n5,6,0\n", {},
                       ["data.path", "line 2 has more cells than the header"]),
    "very_long_later_line": ("a,b,y\n1,2,0\n" + "1," * 100_000 + "0\n5,6,0\n", {},
                             ["data.path", "not a readable CSV", "Expected 3 fields in line 3, saw 100001"]),
    "very_long_cell": ("a,b,y\n" + "x" * 100_000 + ",2,0\n3,4,1\n5,6,0\n", {},
                       ["data.path", "column 'a' is not numeric: 'xxxx", "(100,002 characters) on line 2"]),
    "not_utf8": (b"a,b,y\n\xff\xfe,1,0\n", {}, ["data.path", "not a readable CSV"]),
    "feature_misspelled": (
        GOOD_CSV,
        {"features": ["a", "bb"]},
        ["data.features", "no column 'bb'", "did you mean 'b'", "columns: a, b, y"],
    ),
    "target_misspelled": (
        GOOD_CSV,
        {"target": "Y"},
        ["data.target", "no column 'Y'", "did you mean 'y'", "columns: a, b, y"],
    ),
    "no_features": (GOOD_CSV, {"features": []}, ["data.features", "at least 1 item"]),
    "features_not_a_list": (GOOD_CSV, {"features": "a"}, ["data.features", "valid list", "'a'"]),
    "no_training_rows": (
        GOOD_CSV,
        {"validation_split": 0.8},
        ["data.validation_split", "0.8 of 4 rows leaves no training rows"],
    ),
    "path_missing": (GOOD_CSV, {"path": None}, ["data.path", "required key is missing"]),
    "path_is_a_folder": (GOOD_CSV, {"path": "."}, ["data.path", "is a folder"]),
    "generator_key": (
        GOOD_CSV,
        {"noise": 0.1},
        ["data.noise", "unknown key", "allowed: validation_split, standardize, split, split_seed, dataset, path, features, target"],
    ),
}


def csv_config(tmp_path: Path, content, keys: dict) -> Path:
    if content is not None:
        (tmp_path / "points.csv").write_bytes(content.encode() if isinstance(content, str) else content)
    spec = {"dataset": "csv", "path": "points.csv", "features": ["a", "b"], "target": "y", **keys}
    spec = {k: v for k, v in spec.items() if v is not None}
    return write(tmp_path, yaml.safe_dump({"name": "csv_case", "data": spec}, default_flow_style=None))


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", CSVS)
def test_bad_csv(tmp_path, out, command, case):
    content, keys, fragments = CSVS[case]
    config = csv_config(tmp_path, content, keys)
    assert_user_error(invoke(command, config, out), out, str(config), *fragments)


def test_csv_path_is_relative_to_the_config_not_the_cwd(tmp_path, monkeypatch):
    (tmp_path / "exp").mkdir()
    config = csv_config(tmp_path / "exp", GOOD_CSV, {})
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["validate", str(config)])
    assert result.exit_code == 0, result.output
    assert "features: [a, b]" in result.stdout  # printed verbatim, not read as markup


# ---- the real command ------------------------------------------------------------------------------------------------
def test_real_process_prints_one_clean_line(tmp_path, out):
    # an unknown activation is only found after TensorFlow starts: its start-up noise must not show
    config = write(tmp_path, "name: bad\nmodel: {activation: rleu}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "FORCE_COLOR"))}
    done = subprocess.run(
        [*initlab_command(), "run", str(config), "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.endswith("\n") and done.stderr.count("\n") == 1, done.stderr
    expected = f"error: {config}: model.activation: unknown activation 'rleu' (did you mean 'relu'?); allowed: "
    assert done.stderr.startswith(expected)
    assert "Traceback" not in done.stderr and "\x1b[" not in done.stderr
    assert not out.exists()
