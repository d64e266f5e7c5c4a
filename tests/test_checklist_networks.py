"""The checklist on small hand-built networks: roles from the graph, the training-mode view with every variable
left as it was, broken copies flagged at the right layers, recurrent and attention layers reported, and the
`diagnose` command's files, formats and refusals."""

import json
import zipfile

import numpy as np
import pytest
from typer.testing import CliRunner

import initlab
from initlab.base.backend import keras as _keras
from initlab.cli import app
from initlab.keras import InitDiagnostics

runner = CliRunner()


def _conv_net(kernel_initializer="he_normal"):
    """Conv -> BN -> ReLU layer, a residual block, Dropout, Dense: the shapes the checklist must follow."""
    keras = _keras()
    layers = keras.layers
    x = inputs = keras.Input((12, 12, 3))
    x = layers.Conv2D(8, 3, padding="same", kernel_initializer=kernel_initializer, name="stem")(x)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    branch = layers.Conv2D(8, 3, padding="same", kernel_initializer=kernel_initializer, name="branch")(x)
    branch = layers.BatchNormalization(name="branch_bn")(branch)
    x = layers.ReLU(name="after_add")(layers.Add(name="add")([x, branch]))
    x = layers.Dropout(0.5)(layers.GlobalAveragePooling2D()(x))
    outputs = layers.Dense(3, activation="softmax", name="head")(x)
    return keras.Model(inputs, outputs)


def _mlp(initializer="glorot_uniform", activation="tanh"):
    keras = _keras()
    return keras.Sequential([keras.Input((20,)), *[keras.layers.Dense(32, activation=activation,
                             kernel_initializer=initializer, name=f"hidden_{i}") for i in (1, 2, 3)],
                             keras.layers.Dense(1, name="output")])


def _lstm(vocabulary=50):
    keras = _keras()
    return keras.Sequential([keras.Input((30,), dtype="int32"), keras.layers.Embedding(vocabulary, 16, name="embed"),
                             keras.layers.LSTM(24, name="lstm"), keras.layers.Dense(1, activation="sigmoid", name="out")])


def _transformer():
    keras = _keras()
    layers = keras.layers
    x = inputs = keras.Input((10, 32))
    attention = layers.MultiHeadAttention(num_heads=4, key_dim=8, name="attention")(x, x)
    x = layers.LayerNormalization(name="norm_1")(layers.Add()([x, layers.Dropout(0.1)(attention)]))
    feed = layers.Dense(64, activation="relu", name="ffn_1")(x)
    feed = layers.Dense(32, name="ffn_2")(feed)
    x = layers.LayerNormalization(name="norm_2")(layers.Add()([x, feed]))
    outputs = layers.Dense(2, activation="softmax", name="head")(layers.GlobalAveragePooling1D()(x))
    return keras.Model(inputs, outputs)


def _variables(model) -> list[np.ndarray]:
    return [np.array(v.numpy(), copy=True) for v in model.variables]


def _same(before, model) -> bool:
    return all(np.array_equal(a, v.numpy()) for a, v in zip(before, model.variables))


def test_roles_follow_the_graph_to_the_nonlinearity():
    table = initlab.diagnose(_conv_net()).set_index("layer")
    assert table.loc["stem", "nonlinearity"] == "relu"  # a separate ReLU layer, through the BatchNormalization
    assert table.loc["stem", "normalization"] == "BatchNormalization"
    assert table.loc["branch", "residual"] == "add" and table.loc["stem", "residual"] == ""
    assert table.loc["head", "nonlinearity"] == "softmax"
    # the dead-unit check reads the ReLU's output, not the convolution's: after the ReLU about half is zero
    assert 0.3 < table.loc["stem", "activation_std"] < 0.8
    assert (table["verdict"] == "ok").all(), table[["verdict", "findings"]]


def test_every_weight_and_moving_statistic_is_bit_identical_after_diagnose_and_the_callback(tmp_path):
    model = _conv_net()
    model.compile("adam", "sparse_categorical_crossentropy")
    before = _variables(model)
    table = initlab.diagnose(model)
    assert _same(before, model)
    # measured in training mode: normalized outputs, not the identity a fresh BatchNormalization is in inference
    assert table.set_index("layer").loc["stem", "activation_std"] > 0.3
    x = np.random.default_rng(0).standard_normal((64, 12, 12, 3)).astype("float32")
    callback = InitDiagnostics(x, np.zeros(64), out=tmp_path / "diag", verbose=False)
    callback.set_model(model)
    callback.on_train_begin()
    assert _same(before, model)
    assert (tmp_path / "diag" / "diagnose.csv").exists()


def _state(model) -> dict[str, bytes]:
    """Every variable a training step or a probe could move, as bytes: the model's (weights, moving statistics,
    dropout seed states), its optimizer's and its metrics', and the process's Python and numpy random states."""
    import pickle
    import random

    variables = {f"model/{v.path}": v for v in model.variables}
    variables.update({f"optimizer/{v.path}": v for v in model.optimizer.variables})
    variables.update({f"metrics/{v.path}": v for v in model.metrics_variables})
    state = {name: np.asarray(v.numpy()).tobytes() for name, v in variables.items()}
    state["random"] = pickle.dumps(random.getstate())
    state["numpy"] = pickle.dumps(np.random.get_state())
    return state


def test_the_gradient_pass_and_the_callback_leave_every_variable_byte_identical(tmp_path):
    """A model with BatchNormalization and Dropout that has trained a step (its optimizer built, its moments and
    loss tracker moved): diagnose's pass with gradients, and the callback's probe, change no byte of any variable."""
    from initlab.diagnosis import checklist

    model = _conv_net()
    model.compile("adam", "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).standard_normal((16, 12, 12, 3)).astype("float32")
    y = np.arange(16) % 3
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    before = _state(model)
    assert any(name.endswith("seed_generator_state") for name in before) and any("momentum" in n for n in before)
    assert any("moving_mean" in name for name in before) and any(name.startswith("metrics/") for name in before)
    table = checklist.diagnose(model, gradients=True)
    kernels = table[table["kind"] != "BatchNormalization"]
    assert list(kernels["layer"]) == ["stem", "branch", "head"] and (kernels["grad_rms"] > 0).all()  # it ran
    after = _state(model)
    assert [name for name in before if after[name] != before[name]] == []
    callback = InitDiagnostics(x, y, out=tmp_path / "diag", verbose=False)
    callback.set_model(model)
    callback.on_train_begin()
    after = _state(model)
    assert [name for name in before if after[name] != before[name]] == []


def test_callback_prints_the_same_report_without_the_cli(tmp_path, capsys):
    import sys

    model = _mlp()
    model.compile("sgd", "mse")
    callback = InitDiagnostics(np.ones((8, 20), "float32"), np.zeros(8), out=tmp_path / "d")
    callback.set_model(model)
    callback.on_train_begin()
    printed = capsys.readouterr().out
    assert "initialization checklist" in printed and "weights: as this fit starts" in printed
    source = open(sys.modules["initlab.keras"].__file__).read()
    assert "from .cli" not in source and "import cli" not in source


def test_a_plain_mlp_scaled_down_is_flagged_at_every_layer():
    model = _mlp()
    for layer in model.layers:
        layer.kernel.assign(layer.kernel * 0.01)
    table = initlab.diagnose(model).set_index("layer")
    assert (table["verdict"] == "problem").all()
    assert table["problems"].str.contains("weights too small").all()
    # glorot_uniform is in use: the suggestion says the weights are not its draw, not "use glorot_uniform"
    assert table["suggestion"].str.contains(r"are 0.0\d+x what glorot_uniform draws").all()


def test_constant_conv_kernels_are_flagged_at_the_convolutions():
    model = _conv_net()
    for name in ("stem", "branch"):
        kernel = model.get_layer(name).kernel
        kernel.assign(np.full(kernel.shape, 0.05, "float32"))
    table = initlab.diagnose(model).set_index("layer")
    assert table.loc[["stem", "branch"], "verdict"].eq("problem").all()
    assert table.loc[["stem", "branch"], "problems"].str.contains("symmetric").all()
    assert table.loc["head", "verdict"] == "ok"


def test_a_recurrent_kernel_times_five_is_flagged_at_the_lstm_and_every_layer_is_reported():
    model = _lstm()
    healthy = initlab.diagnose(model)
    assert healthy["layer"].tolist() == ["embed", "lstm", "out"]
    assert (healthy["verdict"] != "problem").all(), healthy[["layer", "findings"]]
    lstm = model.get_layer("lstm")
    lstm.cell.recurrent_kernel.assign(lstm.cell.recurrent_kernel * 5)
    table = initlab.diagnose(model).set_index("layer")
    assert table.loc["lstm", "verdict"] == "problem"
    assert table.loc[["embed", "out"], "verdict"].ne("problem").all()
    assert table.loc["lstm", "problems"].startswith("expansive recurrence")
    assert any(w["weight"].endswith("recurrent_kernel") for w in table.loc["lstm", "weights"])


def test_a_transformer_block_reports_attention_and_layer_normalization():
    table = initlab.diagnose(_transformer())
    assert set(table["layer"]) == {"attention", "norm_1", "norm_2", "ffn_1", "ffn_2", "head"}
    assert (table["verdict"] != "problem").all(), table[["layer", "findings"]]
    attention = table.set_index("layer").loc["attention"]
    assert [w["weight"] for w in attention["weights"]] == ["query/kernel", "key/kernel", "value/kernel",
                                                           "attention_output/kernel"]
    assert "logits_std" in attention["details"]  # the attention check ran on the batch the layer receives
    assert attention["residual"] != ""


def test_a_subclassed_model_keeps_every_layer_and_says_what_it_did_not_measure():
    keras = _keras()

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.a, self.b = keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)

        def call(self, x):
            return self.b(self.a(x))

    model = Net()
    model(np.zeros((1, 4), "float32"))
    table = initlab.diagnose(model)
    assert len(table) == 2
    assert table["findings"].map(lambda f: any("signal not measured" in t for t in f)).all()


def _cli(*args):
    return runner.invoke(app, ["diagnose", *map(str, args)])


def test_diagnose_json_csv_and_plot(tmp_path):
    path = tmp_path / "net.keras"
    _conv_net().save(path)
    before = path.read_bytes()
    result = _cli(path, "--json", "--csv", tmp_path / "d.csv", "--plot", tmp_path / "d.png")
    assert result.exit_code == 0, result.output
    layers = json.loads(result.stdout)
    assert [item["layer"] for item in layers] == ["stem", "stem_bn", "branch", "branch_bn", "head"]
    for item in layers:
        assert {"layer", "kind", "verdict", "findings", "suggestion", "activation_std", "dead_fraction",
                "saturated_fraction"} <= set(item)
    stem = layers[0]
    assert stem["fan_in"] == 27 and stem["target_std"] == pytest.approx(np.sqrt(2 / 27))
    assert stem["grad_rms"] > 0  # --plot measures gradients
    import pandas as pd

    assert pd.read_csv(tmp_path / "d.csv")["layer"].tolist() == [item["layer"] for item in layers]
    assert (tmp_path / "d.png").read_bytes()[:4] == b"\x89PNG"
    assert path.read_bytes() == before  # the model file is unchanged


def test_diagnose_table_fits_80_columns_without_framework_warnings(tmp_path):
    path = tmp_path / "net.keras"
    model = _mlp(initializer=_keras().initializers.RandomNormal(stddev=0.01, seed=0))
    model.save(path)
    result = _cli(path)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= 80
    assert "weights too small" in result.stdout and "Warning" not in result.output


def test_diagnose_refuses_code_stored_in_a_model_file(tmp_path):
    keras = _keras()
    marker = tmp_path / "code_ran"
    function = eval(f"lambda x: (open({str(marker)!r}, 'w').close(), x)[0] or x")  # leaves a file when it runs
    model = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(function), keras.layers.Dense(2)])
    path = tmp_path / "lambda.keras"
    model.save(path)
    marker.unlink()
    result = _cli(path)
    assert result.exit_code == 2, result.output
    assert "refused" in result.stderr and str(path) in result.stderr and "Traceback" not in result.output
    assert not marker.exists()


def test_diagnose_bad_model_files_are_one_line_errors(tmp_path):
    keras = _keras()
    good = tmp_path / "good.keras"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save(good)
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    folder = tmp_path / "folder.keras"
    folder.mkdir()
    not_a_model = tmp_path / "other.keras"
    with zipfile.ZipFile(not_a_model, "w") as archive:
        archive.writestr("hello.txt", "not a model")
    for path, words in ((truncated, "not a zip archive"), (folder, "is a folder"), (not_a_model, "not a loadable")):
        result = _cli(path)
        assert result.exit_code == 2, (path, result.output)
        assert words in result.stderr and "Traceback" not in result.output
        assert len(result.stderr.strip().splitlines()) <= 2  # one message (rich may wrap it once)


def test_a_nested_model_is_opened_layer_by_layer():
    keras = _keras()
    layers = keras.layers
    x = inputs = keras.Input((12, 12, 3))
    x = layers.ReLU(name="base_relu")(layers.BatchNormalization(name="base_bn")(layers.Conv2D(8, 3, name="base_conv")(x)))
    base = keras.Model(inputs, layers.GlobalAveragePooling2D()(x), name="base")
    model = keras.Sequential([keras.Input((12, 12, 3)), base, layers.Dense(2, activation="softmax", name="head")])
    before = _variables(model)
    table = initlab.diagnose(model).set_index("layer")
    assert table.index.tolist() == ["base_conv", "base_bn", "head"]
    assert table.loc["base_conv", "nonlinearity"] == "relu" and table["activation_std"].notna().all()
    assert _same(before, model)


def test_a_graph_with_keras_ops_in_it_is_read_through_them(tmp_path):
    """`x + y` and keras.ops.relu in a functional model are Operations, not layers: no weights to report, but the
    roles follow them (they used to end diagnose with a traceback)."""
    keras = _keras()
    layers = keras.layers
    inputs = keras.Input((16, 16, 3))
    x = keras.ops.relu(layers.BatchNormalization(name="stem_bn")(layers.Conv2D(8, 3, padding="same", use_bias=False,
                                                                                name="stem")(inputs)))
    y = layers.BatchNormalization(name="branch_bn")(layers.Conv2D(8, 3, padding="same", use_bias=False,
                                                                  name="branch")(x))
    x = keras.ops.relu(x + y)
    tokens = keras.ops.reshape(x, (-1, 256, 8))
    attended = layers.MultiHeadAttention(2, 4, name="attention")(tokens, tokens)
    x = layers.LayerNormalization(name="norm")(tokens + attended)
    outputs = layers.Dense(3, name="head")(layers.GlobalAveragePooling1D()(x))
    path = tmp_path / "ops.keras"
    keras.Model(inputs, outputs).save(path)
    result = _cli(path, "--json")
    assert result.exit_code == 0, result.output
    layers_found = {item["layer"]: item for item in json.loads(result.stdout)}
    assert list(layers_found) == ["stem", "stem_bn", "branch", "branch_bn", "attention", "norm", "head"]
    stem, branch = layers_found["stem"], layers_found["branch"]
    assert stem["nonlinearity"] == branch["nonlinearity"] == "relu"
    assert stem["residual"] == "" and branch["residual"] != "" and branch["branch_share"] > 0
    assert branch["fan_in"] == 3 * 3 * 8 and branch["target_std"] == pytest.approx(np.sqrt(2 / 72))  # He for ReLU
    assert branch["scale_ratio"] == pytest.approx(branch["weight_rms"] / branch["target_std"])


def test_a_residual_branch_share_is_its_std_over_the_sums_measured_by_hand():
    """branch_share, as the finding words it ('adds 0.14 of the sum's std'): std(branch) / std(branch + skip) over
    the probe batch in training mode, for a branch on either side of its Add; measured here with Keras's own
    functional model of the same tensors."""
    keras = _keras()
    layers = keras.layers
    inputs = keras.Input((32,))
    skip = layers.Dense(16, activation="relu", name="stem")(inputs)
    branch = layers.Dense(16, activation="relu", name="inner")(skip)
    branch = layers.Dense(16, name="last", kernel_initializer=keras.initializers.RandomNormal(stddev=0.05, seed=1))(branch)
    total = layers.Add(name="add")([skip, branch])  # the branch second ...
    second = layers.BatchNormalization(name="bn")(layers.Dense(16, name="first_in_add")(total))
    total_2 = layers.Add(name="add2")([second, total])  # ... and first
    model = keras.Model(inputs, layers.Dense(1, name="head")(layers.ReLU()(total_2)))
    x = np.random.default_rng(0).standard_normal((64, 32)).astype("float32")
    table = initlab.diagnose(model, inputs=x).set_index("layer")
    measured = [np.asarray(t, np.float64) for t in keras.Model(inputs, [branch, total, second, total_2])(x, training=True)]
    by_hand = {"last": measured[0].std() / measured[1].std(), "first_in_add": measured[2].std() / measured[3].std()}
    assert table.loc["last", "residual"] == "add" and table.loc["first_in_add", "residual"] == "add2"
    assert table.loc["last", "branch_share"] == pytest.approx(by_hand["last"], rel=1e-5)
    assert table.loc["first_in_add", "branch_share"] == pytest.approx(by_hand["first_in_add"], rel=1e-5)
    assert table.loc["bn", "branch_share"] == table.loc["first_in_add", "branch_share"]  # the same branch's last layers
    assert by_hand["last"] < 0.3 < by_hand["first_in_add"]  # a small branch and a normalized one: not one number
    assert np.isnan(table.loc["stem", "branch_share"]) and np.isnan(table.loc["inner", "branch_share"])


def test_recurrent_and_attention_findings_keep_their_own_codes():
    """Every check's findings come from one builder with a code of their own: a note of one kind is told once per
    layer kind in the report, and a different kind of note is not folded into it."""
    k = _keras()
    inputs = k.Input((12,), dtype="int32")
    embedded = k.layers.Embedding(50, 8, embeddings_initializer=k.initializers.RandomUniform(-0.01, 0.01),
                                  name="tiny")(inputs)
    state = k.layers.LSTM(8, unit_forget_bias=False, name="lstm")(embedded)
    table = initlab.diagnose(k.Model(inputs, k.layers.Dense(1, name="out")(state))).set_index("layer")
    assert "tiny_embeddings" in table.loc["tiny", "finding_codes"]
    assert "forget_bias" in table.loc["lstm", "finding_codes"]
    assert "special" not in {code for codes in table["finding_codes"] for code in codes}


def test_a_model_without_weights_is_told_in_one_line_and_returns_an_empty_table(tmp_path):
    k = _keras()
    model = k.Sequential([k.Input((3,)), k.layers.Activation("relu")])
    assert initlab.diagnose(model).empty  # the library: an empty table, not a KeyError
    model.save(tmp_path / "no_weights.keras")
    result = CliRunner().invoke(app, ["diagnose", str(tmp_path / "no_weights.keras")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.strip().startswith("error: ") and "has no layer with weights" in result.stderr


def test_a_saved_model_with_a_custom_layer_not_registered_here_names_the_class(tmp_path):
    """Saved in another process where the layer was registered; loaded here, where its code is not imported."""
    script = (
        "import keras, sys\n"
        "@keras.saving.register_keras_serializable(package='mine')\n"
        "class Scale(keras.layers.Layer):\n"
        "    def build(self, shape):\n"
        "        self.w = self.add_weight(shape=(shape[-1],), initializer='ones')\n"
        "    def call(self, x):\n"
        "        return x * self.w\n"
        "keras.Sequential([keras.Input((3,)), Scale(), keras.layers.Dense(2)]).save(sys.argv[1])\n"
    )
    import subprocess
    import sys

    subprocess.run([sys.executable, "-c", script, str(tmp_path / "custom.keras")], check=True, capture_output=True,
                   timeout=300)
    result = CliRunner().invoke(app, ["diagnose", str(tmp_path / "custom.keras")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "uses a class Keras cannot find here: 'Scale'" in result.stderr and "register" in result.stderr


def test_probe_batches_never_pass_the_memory_bound_even_below_the_smallest_batch():
    from initlab.diagnosis import walk

    assert walk.batch_size(1024) == walk.MAX_BATCH
    assert walk.batch_size(walk.MEMORY_BOUND // 3) == 3  # under MIN_BATCH (8): as many as fit, not 8 past the bound
    assert walk.batch_size(walk.MEMORY_BOUND + 1) == 0


def test_a_model_whose_one_sample_is_past_the_memory_bound_is_refused_with_the_sizes(tmp_path):
    from initlab.base.errors import UserError

    k = _keras()
    inputs = k.Input((2048, 2048, 80))  # 1.25 GiB a sample before any layer: never allocated here
    model = k.Model(inputs, k.layers.Conv2D(4, 3)(inputs), name="huge")
    with pytest.raises(UserError, match=r"model 'huge': one sample needs 1\.4 GiB .* over the 1 GiB"):
        initlab.diagnose(model)
    model.save(tmp_path / "huge.keras")
    result = CliRunner().invoke(app, ["diagnose", str(tmp_path / "huge.keras"), "--csv", str(tmp_path / "d.csv")])
    assert result.exit_code == 2 and "Traceback" not in result.output and not (tmp_path / "d.csv").exists()
    assert len(result.stderr.strip().splitlines()) == 1 and "GiB of activations alive at once" in result.stderr
