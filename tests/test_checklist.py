"""`initlab diagnose`, initlab.diagnose(model) and the InitDiagnostics callback."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import initlab
from initlab.base.backend import keras as _keras
from initlab.cli import app
from initlab.diagnosis import checklist

CONFIGS = Path(__file__).parents[1] / "configs"
runner = CliRunner()


def _mlp(initializer, activation="relu", width=64, depth=3, inputs=100):
    keras = _keras()
    layers = [keras.layers.Dense(width, activation=activation, kernel_initializer=initializer) for _ in range(depth)]
    return keras.Sequential([keras.Input((inputs,)), *layers, keras.layers.Dense(1, activation="sigmoid")])


def _diagnose(path):
    return runner.invoke(app, ["diagnose", str(path)], env={"COLUMNS": "250"})


@pytest.mark.parametrize("config, code, words", [
    ("relu_constant.yaml", 1, "symmetric: all 2 units compute one function"),
    ("relu_zero.yaml", 1, "all weights zero"),
    ("relu_he.yaml", 0, "ok"),
])
def test_diagnose_configs(config, code, words):
    result = _diagnose(CONFIGS / config)
    assert result.exit_code == code, result.output
    assert words in result.stdout


def test_diagnose_saved_models(tmp_path):
    bad = _mlp(_keras().initializers.RandomUniform(0.0, 1.0, seed=1), activation="tanh", inputs=500)
    bad.save(tmp_path / "bad.keras")
    result = _diagnose(tmp_path / "bad.keras")
    assert result.exit_code == 1
    assert "weights too large" in result.stdout and "saturated" in result.stdout
    good = _mlp(_keras().initializers.HeNormal(seed=1))
    good.save(tmp_path / "good.keras")
    assert _diagnose(tmp_path / "good.keras").exit_code == 0


def test_small_init_flags_a_vanishing_signal():
    table = initlab.diagnose(_mlp(_keras().initializers.RandomNormal(stddev=0.01, seed=0), depth=6))
    assert not checklist.healthy(table)
    assert table["activation_std"].iloc[0] > table["activation_std"].iloc[5] * 100  # shrinks layer by layer
    assert table["problems"].str.contains("weights too small").iloc[:6].all()
    assert table["suggestion"].iloc[0].startswith("he_normal:")  # what to use, then why


def test_conv_fans_follow_keras():
    keras = _keras()
    model = keras.Sequential([
        keras.Input((12, 12, 8)),
        keras.layers.Conv2D(16, 3, activation="relu", kernel_initializer=keras.initializers.HeNormal(seed=0)),
        keras.layers.Flatten(),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    table = initlab.diagnose(model)
    assert checklist.fans.keras_fans((3, 3, 8, 16)) == (72, 144)
    assert (table["fan_in"].iloc[0], table["fan_out"].iloc[0]) == (72, 144)
    assert table["verdict"].iloc[0] == "ok"
    assert table["target_std"].iloc[0] == pytest.approx(np.sqrt(2 / 72))


@pytest.mark.parametrize("content", [None, b"not a zip file"])
def test_diagnose_bad_model_files_exit_2(tmp_path, content):
    path = tmp_path / "model.keras"
    if content is not None:
        path.write_bytes(content)
    result = _diagnose(path)
    assert result.exit_code == 2
    assert str(path) in result.stderr and "Traceback" not in result.output


@pytest.mark.slow
def test_callback_in_a_plain_user_script(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(
        "import numpy as np, keras\n"
        "from initlab.keras import InitDiagnostics\n"
        "rng = np.random.default_rng(0)\n"
        "x = rng.standard_normal((200, 20)).astype('float32'); y = (x[:, 0] > 0).astype('float32')\n"
        "model = keras.Sequential([keras.Input((20,)), keras.layers.Dense(8, activation='relu', kernel_initializer='zeros'),\n"
        "                          keras.layers.Dense(1, activation='sigmoid')])\n"
        "model.compile('adam', 'binary_crossentropy', metrics=['accuracy'])\n"
        "diagnostics = InitDiagnostics(x[:128], y[:128], out='diag', every=2, verbose=False)\n"
        "model.fit(x, y, epochs=5, batch_size=32, verbose=0, callbacks=[diagnostics])\n"
        "print('healthy' if diagnostics.healthy else 'problem')\n"
    )
    process = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr
    assert process.stdout.strip().splitlines()[-1] == "problem"
    out = tmp_path / "diag"
    assert {"diagnose.csv", "layers.csv", "histograms.npz", "activations.png", "gradients.png",
            "gradient_histograms.png"} <= {p.name for p in out.iterdir()}
    layers = initlab.layers(out)
    assert layers["epoch"].unique().tolist() == [0, 2, 4, 5]
    hidden = layers[layers.layer == "dense"]
    assert (hidden["grad_norm"] == 0).all() and (hidden["weight_std"] == 0).all()  # zero init: nothing reaches it


# ---- a suggestion never offers the initializer a layer already uses as the fix --------------------------------------
def _flagged(model, inputs=None) -> dict:
    """layer -> (the initializer in use, the suggestion) for every layer with a problem."""
    table = checklist.diagnose(model, inputs=inputs)
    return {row.layer: (row.initializer, row.suggestion) for row in table.itertuples() if row.verdict == "problem"}


def _dense_net(activation, first, second=None, inputs=20):
    keras = _keras()
    hidden = [keras.layers.Dense(32, activation=activation, name=f"h{i}", **kwargs)
              for i, kwargs in enumerate([first, second] if second is not None else [first], start=1)]
    return keras.Sequential([keras.Input((inputs,)), *hidden, keras.layers.Dense(1, name="out")])


def _normal(rows, columns, std=1.0):
    """Standard-normal draws scaled to this std exactly."""
    z = np.random.default_rng(0).standard_normal((rows, columns))
    return (z / z.std() * std).astype("float32")


def test_a_saturated_layer_with_the_suitable_initializer_is_told_what_else_saturates_it():
    """tanh and sigmoid layers drawn with glorot_uniform, saturated by inputs of std 50 or by biases of 5: the fix is
    the inputs' scale or the biases, not glorot_uniform again."""
    constant = _keras().initializers.Constant
    for activation, model, inputs, cause in (
        ("tanh", _dense_net("tanh", {}), _normal(128, 20, 50.0), "inputs of unit scale (these have std 50"),
        ("sigmoid", _dense_net("sigmoid", {}), _normal(128, 20, 50.0), "inputs of unit scale (these have std 50"),
        ("tanh", _dense_net("tanh", {"bias_initializer": constant(5.0)}), None, "zero biases (now rms 5)"),
    ):
        flagged = _flagged(model, inputs)
        assert list(flagged) == ["h1"], flagged
        in_use, suggestion = flagged["h1"]
        assert in_use == "glorot_uniform" and not suggestion.startswith("glorot_uniform"), suggestion
        assert cause in suggestion and f"glorot_uniform suits {activation} already" in suggestion, suggestion


def test_a_dead_layer_drawn_with_he_normal_is_told_the_biases_or_the_layers_before():
    """He-drawn ReLU layers dead from biases of -10, and the layer after them, dead from inputs that carry no
    signal: never 'he_normal with zero biases' to a layer that has both."""
    model = _dense_net("relu", {"kernel_initializer": "he_normal",
                                "bias_initializer": _keras().initializers.Constant(-10.0)},
                       {"kernel_initializer": "he_normal"})
    flagged = _flagged(model)
    assert list(flagged) == ["h1", "h2"], flagged
    assert flagged["h1"][1].startswith("zero biases (now rms 10)") and "he_normal suits relu already" in flagged["h1"][1]
    assert flagged["h2"][1].startswith("inputs of unit scale (these have std 0"), flagged["h2"][1]
    assert "the layers before" in flagged["h2"][1]
    other = _flagged(_dense_net("relu", {"kernel_initializer": "glorot_uniform",
                                         "bias_initializer": _keras().initializers.Constant(-10.0)}))
    assert other["h1"][1] == "he_normal with zero biases"  # another initializer in use: the suitable one is news


def test_he_normal_drawn_with_the_wrong_fans_is_told_what_else_to_change():
    """A depthwise kernel drawn with he_normal and Keras's fans (8x too small, ReLU, no normalization after): the fix
    names HeNormal only with the axes that change it, or another initializer, and nothing else names he_normal."""
    keras = _keras()
    x = inputs = keras.Input((16, 16, 64))
    x = keras.layers.DepthwiseConv2D(3, padding="same", depthwise_initializer="he_normal", activation="relu",
                                     name="depthwise")(x)
    x = keras.layers.Conv2D(16, 1, kernel_initializer="he_normal", activation="relu", name="pointwise")(x)
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.GlobalAveragePooling2D()(x)))
    in_use, suggestion = _flagged(model)["depthwise"]
    assert in_use == "he_normal"
    fixes = suggestion.split("; ")
    assert len(fixes) == 1 and fixes[0].startswith("use "), suggestion
    assert "HeNormal(input_axes=[0, 1], output_axes=[0, 1, 3])" in fixes[0] and " or TruncatedNormal(" in fixes[0]
    assert "he_normal" not in fixes[0].split(" to draw what he_normal intends")[0]


def test_a_zeroed_gamma_drawn_with_ones_is_told_it_was_set_after_initialization():
    keras = _keras()
    x = inputs = keras.Input((20,))
    x = keras.layers.BatchNormalization(name="bn")(keras.layers.Dense(16, name="dense")(x))
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.ReLU()(x)))
    model.get_layer("bn").gamma.assign(np.zeros(16, "float32"))
    suggestion = _flagged(model)["bn"][1]
    assert suggestion.startswith("set gamma back to ones") and "gamma_initializer='ones'" not in suggestion
    zeros = keras.layers.BatchNormalization(gamma_initializer="zeros", name="bn")
    x = inputs = keras.Input((20,))
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.ReLU()(zeros(keras.layers.Dense(16)(x)))))
    assert _flagged(model)["bn"][1] == "gamma_initializer='ones'"
