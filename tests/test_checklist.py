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
