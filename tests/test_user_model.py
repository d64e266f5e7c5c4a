"""A user's own model and data: `model: {file | factory}`, `data: {npz | csv | images}`, `init` by role, trained with
model.fit into a sealed run folder; every bad input one line, exit 2, nothing written."""

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from initlab.base.backend import keras as _keras
from initlab.cli import app
from initlab.output import run_folder

runner = CliRunner()

MODELS = textwrap.dedent('''
    import keras

    def cnn(width=4, momentum=0.99):
        inputs = keras.Input((8, 8, 1))
        x = keras.layers.Conv2D(width, 3, padding="same", activation="relu")(inputs)
        x = keras.layers.DepthwiseConv2D(3, padding="same")(x)
        x = keras.layers.BatchNormalization(momentum=momentum)(x)
        x = keras.layers.ReLU()(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))

    def lstm():
        inputs = keras.Input((12, 3))
        return keras.Model(inputs, keras.layers.Dense(1)(keras.layers.LSTM(6)(inputs)))

    def broken():
        raise RuntimeError("no GPU here")
''')


def digits_npz(path: Path, rows: int = 300) -> Path:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images[:rows] / 16.0).astype("float32")[..., None]
    np.savez(path, x_train=x[:240], y_train=digits.target[:240], x_val=x[240:], y_val=digits.target[240:rows])
    return path


def write_config(folder: Path, **sections) -> Path:
    (folder / "mymodels.py").write_text(MODELS)
    if not (folder / "digits.npz").exists():
        digits_npz(folder / "digits.npz")
    raw = {"name": "mine", "model": {"factory": "mymodels:cnn"}, "data": {"npz": "digits.npz"},
           "train": {"epochs": 2, "batch_size": 32}}
    for key, value in sections.items():
        raw[key] = value
    path = folder / "mine.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def run(config: Path, out: Path, *extra: str):
    return runner.invoke(app, ["run", str(config), "--out", str(out), *extra])


def one_line_error(result, *fragments: str) -> str:
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in result.output, result.output
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_a_factory_model_on_npz_data_trains_into_a_sealed_run_folder(tmp_path):
    config = write_config(tmp_path, init={"kernel": "he_normal"})
    result = run(config, tmp_path / "out")
    assert result.exit_code == 0, result.output
    folder = Path(result.stdout.strip())
    assert run_folder.is_complete(folder)
    assert {"config.yaml", "metrics.csv", "init_layers.csv", "summary.json", "weights_initial.npz", "weights_final.npz",
            "model.keras", "history.png", "histograms.npz", "activations.png", "gradient_histograms.png"} <= \
        {p.name for p in folder.iterdir()}
    with np.load(folder / "histograms.npz") as samples:  # every kernel layer, at initialization and each epoch
        assert {f"epoch_{e}/{layer}{part}" for e in (0, 1, 2) for layer in ("conv2d", "depthwise_conv2d", "dense")
                for part in ("", "/gradient")} == set(samples.files)
        assert samples["epoch_0/dense"].size == 240 * 10 and np.all(samples["epoch_0/dense"] >= 0)  # 240 probe rows
    metrics = run_folder.read_metrics(folder)
    assert list(metrics["epoch"]) == [1, 2]
    assert {"accuracy", "val_accuracy", "inference_accuracy"} <= set(metrics.columns)
    summary = run_folder.read_summary(folder)
    assert summary["status"] == "ok" and summary["rows"] == {"train": 240, "validation": 60}
    assert set(summary["at_init"]) == {"conv2d", "depthwise_conv2d", "batch_normalization", "dense"}
    assert summary["at_init"]["depthwise_conv2d"]["verdict"] == "note"  # Keras's fans for a depthwise kernel
    kernels = [summary["at_init"][name] for name in ("conv2d", "depthwise_conv2d", "dense")]
    assert all(layer["grad_rms"] > 0 and layer["activation_std"] > 0 for layer in kernels)
    assert summary["views"]["training_mode"] == pytest.approx(metrics["accuracy"].iloc[-1])
    # the trained model.keras holds weights_final.npz
    trained = _keras().saving.load_model(folder / "model.keras")
    with np.load(folder / "weights_final.npz") as final:
        for variable in trained.weights:
            np.testing.assert_array_equal(variable.numpy(), final[variable.path])


def test_init_draws_each_role_as_named_and_keeps_the_rest_as_built(tmp_path):
    config = write_config(tmp_path, init={"kernel": {"name": "random_normal", "stddev": 0.5}, "bias": {"name": "constant", "value": 0.1}})
    folder = Path(run(config, tmp_path / "out").stdout.strip())
    drawn = pd.read_csv(folder / "init_layers.csv").set_index("weight")
    assert drawn.loc["conv2d/kernel", "initializer"] == "random_normal(stddev=0.5)"
    assert drawn.loc["conv2d/kernel", "role"] == "kernel" and drawn.loc["dense/kernel", "role"] == "kernel"
    assert drawn.loc["depthwise_conv2d/kernel", "role"] == "depthwise"
    assert drawn.loc["depthwise_conv2d/kernel", "initializer"] == "glorot_uniform"  # not named: as the model was built
    assert drawn.loc["batch_normalization/gamma", "role"] == "norm_scale"
    with np.load(folder / "weights_initial.npz") as initial:
        assert np.std(initial["dense/kernel"]) == pytest.approx(0.5, rel=0.2)  # 40 values
        np.testing.assert_array_equal(initial["conv2d/bias"], np.full(4, 0.1, np.float32))
        np.testing.assert_array_equal(initial["batch_normalization/gamma"], np.ones(4, np.float32))
        # glorot_uniform with Keras's fans for a (3, 3, 4, 1) kernel: limit sqrt(6 / (36 + 9))
        assert np.abs(initial["depthwise_conv2d/kernel"]).max() <= np.sqrt(6 / 45)


def test_honest_fans_redraw_a_depthwise_kernel_at_the_std_its_initializer_means(tmp_path):
    """glorot_uniform on a 3x3 depthwise kernel over 32 channels: Keras's fans (288, 9) give std 0.082; the honest
    fans (9 in, 9 out) give sqrt(2 / 18) = 0.333, the std glorot means for a window of 9 inputs."""
    config = write_config(tmp_path, model={"factory": "mymodels:cnn", "args": {"width": 32}},
                          init={"honest_fans": True})
    folder = Path(run(config, tmp_path / "out").stdout.strip())
    drawn = pd.read_csv(folder / "init_layers.csv").set_index("weight")
    assert (drawn.loc["depthwise_conv2d/kernel", "fan_in"], drawn.loc["depthwise_conv2d/kernel", "fan_out"]) == (9, 9)
    with np.load(folder / "weights_initial.npz") as initial:
        assert np.std(initial["depthwise_conv2d/kernel"]) == pytest.approx(np.sqrt(2 / 18), rel=0.1)  # 288 values
    plain = write_config(tmp_path, model={"factory": "mymodels:cnn", "args": {"width": 32}}, init={"honest_fans": False})
    folder = Path(run(plain, tmp_path / "plain").stdout.strip())
    with np.load(folder / "weights_initial.npz") as initial:
        assert np.std(initial["depthwise_conv2d/kernel"]) == pytest.approx(np.sqrt(2 / (288 + 9)), rel=0.1)


def test_the_same_config_and_seed_give_the_same_bytes_and_another_seed_other_weights(tmp_path):
    config = write_config(tmp_path)
    first = Path(run(config, tmp_path / "a").stdout.strip())
    second = Path(run(config, tmp_path / "b").stdout.strip())
    for name in ("metrics.csv", "weights_initial.npz", "weights_final.npz", "init_layers.csv"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    other = Path(run(config, tmp_path / "c", "--set", "seed=1").stdout.strip())
    assert (first / "weights_initial.npz").read_bytes() != (other / "weights_initial.npz").read_bytes()


def test_a_saved_keras_file_is_read_in_safe_mode_and_its_weights_are_redrawn(tmp_path):
    k = _keras()
    inputs = k.Input((2,))
    hidden = k.layers.Dense(8, activation="relu", name="hidden")(inputs)
    model = k.Model(inputs, k.layers.Dense(1, activation="sigmoid", name="out")(hidden))
    for variable in model.weights:
        variable.assign(np.full(variable.shape, 7.0, np.float32))  # "trained" weights the run must not start from
    model.save(tmp_path / "mlp.keras")
    pd.read_csv(Path(__file__).parents[2] / "shared" / "data" / "ushape.csv").to_csv(tmp_path / "u.csv", index=False)
    config = tmp_path / "file.yaml"
    config.write_text(yaml.safe_dump({"name": "file", "model": {"file": "mlp.keras"},
                                      "data": {"csv": "u.csv", "features": ["X", "Y"], "target": "class"},
                                      "train": {"epochs": 2}}))
    result = run(config, tmp_path / "out")
    assert result.exit_code == 0, result.output
    folder = Path(result.stdout.strip())
    with np.load(folder / "weights_initial.npz") as initial:
        assert not any(np.all(initial[key] == 7.0) for key in initial)
        assert np.all(initial["hidden/bias"] == 0)  # zeros, as the file's layers were built
    assert run_folder.read_summary(folder)["task"] == "binary"
    assert (folder / "boundary.png").is_file()  # two features: the final weights' view of the plane
    with np.load(folder / "boundary.npz") as view:
        assert int(view["final_epoch"]) == 2 and view["final_value"].shape == view["final_value"].shape[:1] * 2


def test_a_folder_of_images_per_class_is_read_with_keras_loader(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for label, brightness in (("dark", 40), ("light", 210)):
        (tmp_path / "pictures" / label).mkdir(parents=True)
        for i in range(10):
            pixels = np.clip(rng.normal(brightness, 20, (8, 8, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "pictures" / label / f"{i}.png")
    (tmp_path / "conv.py").write_text(textwrap.dedent('''
        import keras
        def build():
            inputs = keras.Input((8, 8, 3))
            x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
            return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    '''))
    config = tmp_path / "img.yaml"
    config.write_text(yaml.safe_dump({"name": "img", "model": {"factory": "conv:build"},
                                      "data": {"images": "pictures", "image_size": [8, 8]}, "train": {"epochs": 1}}))
    result = run(config, tmp_path / "out")
    assert result.exit_code == 0, result.output
    summary = run_folder.read_summary(Path(result.stdout.strip()))
    assert summary["task"] == "multiclass" and summary["rows"] == {"train": 16, "validation": 4}
    assert not (Path(result.stdout.strip()) / "boundary.png").exists()  # images are no plane
    (tmp_path / "pictures" / "light").rename(tmp_path / "light")  # one class left
    one_line_error(run(config, tmp_path / "out2"), "data.images", "1 class folder(s)")
    assert not (tmp_path / "out2").exists()


@pytest.mark.parametrize("change, fragments", [
    ({"model": {"factory": "nowhere:build"}}, ["model.factory", "cannot import 'nowhere'"]),
    ({"model": {"factory": "mymodels:missing"}}, ["model.factory", "has no function 'missing'"]),
    ({"model": {"factory": "mymodels:broken"}}, ["model.factory", "RuntimeError: no GPU here"]),
    ({"model": {"factory": "mymodels:lstm"}}, ["data", "inputs of shape (12, 3)", "rows are (8, 8, 1)"]),
    ({"init": {"recurrent": "orthogonal"}}, ["init.recurrent", "no recurrent weights", "its roles: kernel, depthwise"]),
    ({"init": {"kernel": "he_norml"}}, ["init.kernel", "did you mean 'he_normal'"]),
    ({"init": {"norm_scale": "orthogonal"}}, ["init.norm_scale", "'orthogonal' cannot draw a norm_scale"]),
    ({"init": {"bias": "rai"}}, ["init.bias", "'rai' draws a vector only as a bias drawn together with its layer's kernel"]),
    ({"data": {"npz": "absent.npz"}}, ["data.npz", "no such file"]),
    ({"model": {"file": "a.keras", "factory": "mymodels:cnn"}}, ["model", "exactly one of file, factory"]),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, change, fragments):
    config = write_config(tmp_path, **change)
    one_line_error(run(config, tmp_path / "out"), str(config), *fragments)
    assert not (tmp_path / "out").exists()


def test_data_with_nan_or_a_wrong_number_of_classes_is_refused(tmp_path):
    config = write_config(tmp_path)
    with np.load(tmp_path / "digits.npz") as stored:
        arrays = dict(stored)
    arrays["x_train"][3, 0, 0, 0] = np.nan
    np.savez(tmp_path / "digits.npz", **arrays)
    one_line_error(run(config, tmp_path / "out"), "NaN or infinite values (1 of them)")
    arrays["x_train"][3, 0, 0, 0] = 0
    arrays["y_train"] = arrays["y_train"] % 3  # 3 classes against 10 softmax outputs
    arrays["y_val"] = arrays["y_val"] % 3
    np.savez(tmp_path / "digits.npz", **arrays)
    one_line_error(run(config, tmp_path / "out"), "the data have 3 classes; the model has 10 outputs")
    assert not (tmp_path / "out").exists()


def test_a_keras_file_holding_a_lambda_is_refused_never_run(tmp_path):
    k = _keras()
    inputs = k.Input((2,))
    k.Model(inputs, k.layers.Lambda(lambda x: x * 2)(inputs)).save(tmp_path / "lam.keras")
    config = write_config(tmp_path, model={"file": "lam.keras"})
    one_line_error(run(config, tmp_path / "out"), "refused", "safe_mode")


def test_validate_checks_a_user_config_and_its_data_without_training(tmp_path):
    config = write_config(tmp_path, init={"kernel": "he_normal", "honest_fans": True})
    result = runner.invoke(app, ["validate", str(config)])
    assert result.exit_code == 0, result.output
    resolved = yaml.safe_load(result.stdout)
    assert resolved["init"]["kernel"] == "he_normal" and resolved["init"]["honest_fans"] is True
    assert resolved["train"]["epochs"] == 2 and resolved["model"]["factory"] == "mymodels:cnn"
    assert json.loads(json.dumps(resolved))  # plain data


def test_a_sweep_over_roles_and_seeds_reports_intervals_and_the_signal_at_initialization(tmp_path):
    write_config(tmp_path, init={"kernel": "he_normal"}, train={"epochs": 1, "batch_size": 64})
    sweep = tmp_path / "roles.yaml"
    sweep.write_text(yaml.safe_dump({"name": "roles", "base": "mine.yaml", "grid": {"init.honest_fans": [False, True]},
                                     "seeds": [0, 1, 2]}))
    result = runner.invoke(app, ["sweep", str(sweep), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    sweep_dir = tmp_path / "out" / "roles"
    table = pd.read_csv(sweep_dir / "sweep.csv")
    assert len(table) == 6 and set(table["status"]) == {"ok"}
    summary = pd.read_csv(sweep_dir / "summary.csv")
    assert len(summary) == 2 and (summary["runs"] == 3).all()
    assert ((summary["val_accuracy_ci95_low"] >= 0) & (summary["val_accuracy_ci95_high"] <= 1)).all()
    scale = pd.read_csv(sweep_dir / "init_scale.csv")
    assert set(scale["layer"]) == {"conv2d", "depthwise_conv2d", "batch_normalization", "dense"} and len(scale) == 8
    honest = scale[scale["init.honest_fans"]].set_index("layer")
    keras_fans = scale[~scale["init.honest_fans"]].set_index("layer")
    # the depthwise kernel drawn with its honest fans is larger: so is the signal after it, before BatchNorm restores it
    assert honest.loc["depthwise_conv2d", "activation_std"] != keras_fans.loc["depthwise_conv2d", "activation_std"]
    report = (sweep_dir / "report.md").read_text()
    assert "## The signal at initialization" in report and "gradient rms at init" in report
    again = runner.invoke(app, ["sweep", str(sweep), "--out", str(tmp_path / "out")])  # resumes: nothing to train
    assert again.exit_code == 0 and "nothing to do: every run is complete" in again.stderr, again.output


def test_compare_from_a_notebook_returns_the_summary_and_the_sweep_folder(tmp_path):
    import initlab

    k = _keras()
    inputs = k.Input((2,))
    hidden = k.layers.Dense(8, activation="relu", name="hidden")(inputs)
    model = k.Model(inputs, k.layers.Dense(1, activation="sigmoid", name="out")(hidden))
    table = pd.read_csv(Path(__file__).parents[2] / "shared" / "data" / "ushape.csv")
    x, y = table[["X", "Y"]].to_numpy("float32"), table["class"].to_numpy()
    summary, folder = initlab.compare(model, (x, y), init={"kernel": ["glorot_uniform", "he_normal"]}, seeds=3,
                                      train={"epochs": 2}, out=tmp_path / "out")
    assert folder == tmp_path / "out" / "compare" and (folder / "report.md").is_file()
    assert list(summary["init.kernel"]) == ["glorot_uniform", "he_normal"] and list(summary["runs"]) == [3, 3]
    assert {"val_accuracy_mean", "val_accuracy_ci95_low", "val_accuracy_ci95_high"} <= set(summary.columns)
    assert len(pd.read_csv(folder / "sweep.csv")) == 6


def test_chrono_biases_and_the_adding_problem_with_the_memory_horizon_beside_the_outcome(tmp_path):
    base = tmp_path / "adding.yaml"
    base.write_text(yaml.safe_dump({"name": "adding", "model": {"factory": "initlab.train.architectures:lstm_regressor",
                                                                "args": {"units": 8, "length": 12}},
                                    "data": {"builtin": "adding", "length": 12, "n_samples": 200},
                                    "train": {"epochs": 1, "batch_size": 50}}))
    sweep = tmp_path / "memory.yaml"
    sweep.write_text(yaml.safe_dump({"name": "memory", "base": "adding.yaml",
                                     "cases": [{"label": "keras"}, {"label": "chrono", "init.chrono": 12}],
                                     "seeds": [0, 1, 2]}))
    result = runner.invoke(app, ["sweep", str(sweep), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    folders = {run_folder.read_summary(f)["run_id"]: f for f in (tmp_path / "out" / "memory").iterdir() if f.is_dir()}
    chrono = next(f for name, f in folders.items() if "chrono12" in name)
    drawn = pd.read_csv(chrono / "init_layers.csv").set_index("weight")
    assert drawn.loc["lstm/lstm_cell/bias", "initializer"] == "chrono(T_max=12)"
    with np.load(chrono / "weights_initial.npz") as initial:
        bias = initial["lstm/lstm_cell/bias"].reshape(4, 8)  # Keras's gate order: input, forget, cell, output
    assert np.all((bias[1] >= 0) & (bias[1] <= np.log(11))) and np.array_equal(bias[0], -bias[1])
    assert not bias[2:].any()
    assert run_folder.read_summary(chrono)["task"] == "regression"
    report = (tmp_path / "out" / "memory" / "report.md").read_text()
    assert "memory horizon at init (steps)" in report and "first step's influence on the last state" in report
    scale = pd.read_csv(tmp_path / "out" / "memory" / "init_scale.csv").set_index(["case", "layer"])
    # chrono's long forget gates carry the first step further than Keras's bias of 1
    assert scale.loc[("chrono", "lstm"), "influence_first"] > scale.loc[("keras", "lstm"), "influence_first"]


def test_chrono_on_a_model_without_an_lstm_is_refused(tmp_path):
    config = write_config(tmp_path, init={"chrono": 20})
    one_line_error(run(config, tmp_path / "out"), "init.chrono", "the model has no LSTM")


def test_batchnorm_views_that_disagree_are_said_in_the_report():
    from initlab.output import sweep_report

    class Run:
        def __init__(self, seed):
            self.seed = seed

        def describe(self):
            return f"seed={self.seed}"

    summaries = [{"views": {"training_mode": 0.96, "inference": 0.098, "disagree": True}},
                 {"views": {"training_mode": 0.95, "inference": 0.94, "disagree": False}}, None]
    text = sweep_report.views_text([Run(0), Run(1), Run(2)], summaries)
    assert "BatchNorm's two views disagree** in 1 of 2 runs" in text and "seed=0: 0.960 against 0.098" in text
    assert sweep_report.views_text([Run(1)], summaries[1:2]) == ""


def test_a_trained_user_run_leaves_no_traced_step_registered(tmp_path):
    """Keras's optimizer registers a tf.custom_gradient in every traced training step, and TensorFlow keeps it with
    its whole graph in a process-wide registry: a sweep of a user's model would grow by one graph per run."""
    from tensorflow.python.framework import ops

    from initlab.config.experiment import load_config
    from initlab.lab import user_runs

    def registered() -> int:
        return sum(name.startswith("CustomGradient-") for name in ops._gradient_registry._registry)

    config = load_config(write_config(tmp_path, train={"epochs": 1, "batch_size": 64}))
    before = registered()
    result = user_runs.train(config)
    assert result.history and registered() == before


def test_runs_plot_and_diagnose_read_a_user_run_folder(tmp_path):
    config = write_config(tmp_path, train={"epochs": 1, "batch_size": 64})
    folder = Path(run(config, tmp_path / "out").stdout.strip())
    listed = runner.invoke(app, ["runs", str(tmp_path / "out")])
    assert listed.exit_code == 0 and folder.name in listed.stdout and "Traceback" not in listed.output
    (folder / "history.png").unlink()
    redrawn = runner.invoke(app, ["plot", str(folder)])
    assert redrawn.exit_code == 0 and (folder / "history.png").is_file() and run_folder.is_complete(folder)
    initial = runner.invoke(app, ["diagnose", str(folder), "--json"])
    assert initial.exit_code in (0, 1), initial.output
    rows = {row["layer"]: row for row in json.loads(initial.stdout)}
    with np.load(folder / "weights_initial.npz") as weights:  # the checklist judged the run's first weights
        assert rows["conv2d"]["weight_rms"] == pytest.approx(float(np.sqrt(np.mean(weights["conv2d/kernel"] ** 2))),
                                                             rel=1e-5)
    trained = runner.invoke(app, ["diagnose", str(folder), "--trained"])
    assert trained.exit_code in (0, 1) and "weights: trained, after 1 epoch" in trained.stdout, trained.output


def test_lsuv_on_a_users_model_sets_every_kernel_layers_output_variance_to_one(tmp_path):
    config = write_config(tmp_path, model={"factory": "mymodels:cnn", "args": {"width": 8}},
                          init={"kernel": "orthogonal", "depthwise": "orthogonal", "data_init": "lsuv"},
                          train={"epochs": 1, "batch_size": 64})
    folder = Path(run(config, tmp_path / "out").stdout.strip())
    report = run_folder.read_summary(folder)["data_init"]
    assert report["layers"] == ["conv2d", "depthwise_conv2d", "dense"]
    assert all(abs(v - 1) < 0.1 for v in report["variance"]) and report["rows"] == 240
    drawn = pd.read_csv(folder / "init_layers.csv").set_index("weight")
    assert drawn.loc["conv2d/kernel", "initializer"] == "orthogonal + lsuv"
    # the check, by hand: the first convolution's output before its ReLU on the same rows has variance 1
    k = _keras()
    with np.load(folder / "weights_initial.npz") as initial, np.load(tmp_path / "digits.npz") as data:
        z = k.ops.conv(data["x_train"][:256], initial["conv2d/kernel"], padding="same") + initial["conv2d/bias"]
    assert float(np.var(np.asarray(z, np.float64))) == pytest.approx(1.0, abs=0.1)


def test_a_saved_models_compile_settings_train_it_unless_the_config_says_otherwise(tmp_path):
    k = _keras()
    inputs = k.Input((2,))
    model = k.Model(inputs, k.layers.Dense(1, activation="sigmoid", name="out")(k.layers.Dense(4, name="h")(inputs)))
    model.compile(optimizer=k.optimizers.SGD(0.05, momentum=0.9), loss="binary_crossentropy")
    model.save(tmp_path / "compiled.keras")
    pd.read_csv(Path(__file__).parents[2] / "shared" / "data" / "ushape.csv").to_csv(tmp_path / "u.csv", index=False)

    def compiled(**train) -> dict:
        config = tmp_path / "c.yaml"
        config.write_text(yaml.safe_dump({"name": "c", "model": {"file": "compiled.keras"},
                                          "data": {"csv": "u.csv", "features": ["X", "Y"], "target": "class"},
                                          "train": {"epochs": 1, **train}}))
        result = run(config, tmp_path / "out")
        assert result.exit_code == 0, result.output
        return run_folder.read_summary(Path(result.stdout.strip()))["compiled"]

    saved = compiled()
    assert (saved["optimizer"], saved["from"], saved["loss"]) == ("SGD", "the saved model", "binary_crossentropy")
    assert saved["learning_rate"] == pytest.approx(0.05)
    assert compiled(learning_rate=0.2)["learning_rate"] == pytest.approx(0.2)  # the saved SGD at the config's rate
    chosen = compiled(optimizer="adam")
    assert (chosen["optimizer"], chosen["from"], chosen["learning_rate"]) == ("Adam", "the config", pytest.approx(0.001))


def test_the_packaged_lessons_on_users_models_run_by_name(tmp_path):
    for lesson, epochs in (("yours_mobilenet_digits", 1), ("yours_lstm_adding", 1)):
        result = runner.invoke(app, ["run", lesson, "--out", str(tmp_path / "out"), "--set", f"train.epochs={epochs}",
                                     *(["--set", "data.n_samples=200"] if "lstm" in lesson else [])])
        assert result.exit_code == 0, result.output
        summary = run_folder.read_summary(Path(result.stdout.strip()))
        assert summary["status"] == "ok" and summary["epochs_run"] == epochs
    assert summary["task"] == "regression"  # the adding problem


def test_an_image_folder_with_an_unreadable_file_is_one_line(tmp_path):
    from PIL import Image

    for label in ("a", "b"):
        (tmp_path / "pictures" / label).mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "pictures" / label / "0.png")
    (tmp_path / "pictures" / "b" / "1.png").write_bytes(b"not a png at all")
    (tmp_path / "conv.py").write_text("import keras\ndef build():\n    i = keras.Input((8, 8, 3))\n"
                                      "    return keras.Model(i, keras.layers.Dense(2, activation='softmax')("
                                      "keras.layers.Flatten()(i)))\n")
    config = tmp_path / "img.yaml"
    config.write_text(yaml.safe_dump({"name": "img", "model": {"factory": "conv:build"},
                                      "data": {"images": "pictures", "image_size": [8, 8]}}))
    one_line_error(run(config, tmp_path / "out"), "data.images", "cannot read the images")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_sweep_of_a_users_model_gives_the_same_runs_on_two_workers_and_on_dask(tmp_path):
    """The same draws byte for byte; the trained numbers within what rounding makes of them: a worker's TensorFlow
    runs on its share of the cores, and oneDNN's convolutions sum in an order that follows the thread count."""
    import subprocess

    from tests.conftest import initlab_command

    write_config(tmp_path, model={"factory": "mymodels:cnn", "args": {"width": 2}}, train={"epochs": 1, "batch_size": 64})
    sweep = tmp_path / "w.yaml"
    sweep.write_text(yaml.safe_dump({"name": "w", "base": "mine.yaml", "grid": {"init.kernel": ["glorot_uniform", "he_normal"]},
                                     "seeds": [0, 1]}))

    def swept(out: str, *extra: str) -> Path:
        done = subprocess.run([*initlab_command(), "sweep", str(sweep), "--out", out, *extra], capture_output=True,
                              text=True, timeout=600, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return tmp_path / out / "w"

    def records(folder: Path) -> dict:
        found = {}
        for run in sorted(p for p in folder.iterdir() if run_folder.is_complete(p)):
            with np.load(run / "weights_final.npz") as final:
                found[run.name] = ((run / "init_layers.csv").read_bytes(), (run / "weights_initial.npz").read_bytes(),
                                   run_folder.read_metrics(run).to_numpy(), {k: final[k] for k in final.files})
        return found

    def assert_same_runs(other: dict, reference: dict) -> None:
        assert sorted(other) == sorted(reference) and len(reference) == 4
        for name, (drawn, initial, metrics, final) in reference.items():
            assert other[name][:2] == (drawn, initial), name  # the draws: the same bytes
            # Adam turns ~1e-7 apart gradients of near-zero weights into steps ~1e-5 apart; an accuracy may move by
            # one of the 240 rows
            np.testing.assert_allclose(other[name][2], metrics, rtol=1e-4, atol=1 / 240)
            for key, value in final.items():
                np.testing.assert_allclose(other[name][3][key], value, rtol=1e-3, atol=1e-3)

    alone = records(swept("one"))
    assert_same_runs(records(swept("two", "--workers", "2")), alone)
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None)
    try:
        assert_same_runs(records(swept("dask", "--scheduler", cluster.scheduler_address)), alone)
    finally:
        cluster.close()


@pytest.mark.parametrize("data_form", ["digits", "ushape", "adding"])
def test_the_inference_view_is_what_model_evaluate_gives_on_the_same_rows(tmp_path, data_form):
    """metrics.csv's inference_* columns are computed without model.evaluate's per-call set-up: checked against it on
    the trained model.keras, for a softmax, a sigmoid and a regression."""
    if data_form == "digits":
        config = write_config(tmp_path, train={"epochs": 2, "batch_size": 64})
    elif data_form == "ushape":
        pd.read_csv(Path(__file__).parents[2] / "shared" / "data" / "ushape.csv").to_csv(tmp_path / "u.csv", index=False)
        (tmp_path / "m.py").write_text("import keras\ndef build():\n    i = keras.Input((2,))\n    return keras.Model(i, "
                                       "keras.layers.Dense(1, activation='sigmoid')(keras.layers.Dense(8, "
                                       "activation='relu')(i)))\n")
        config = tmp_path / "u.yaml"
        config.write_text(yaml.safe_dump({"name": "u", "model": {"factory": "m:build"}, "train": {"epochs": 3},
                                          "data": {"csv": "u.csv", "features": ["X", "Y"], "target": "class"}}))
    else:
        config = tmp_path / "a.yaml"
        config.write_text(yaml.safe_dump({"name": "a", "model": {"factory": "initlab.train.architectures:lstm_regressor",
                                                                 "args": {"units": 4, "length": 6}},
                                          "data": {"builtin": "adding", "length": 6, "n_samples": 100},
                                          "train": {"epochs": 2}}))
    result = run(config, tmp_path / "out")
    assert result.exit_code == 0, result.output
    folder = Path(result.stdout.strip())
    last = run_folder.read_metrics(folder).iloc[-1]
    from initlab.config.experiment import load_config
    from initlab.train import user_data

    loaded = load_config(config)
    data = user_data.load(loaded.data, tmp_path, str(config))
    model = _keras().saving.load_model(folder / "model.keras")
    scores = model.evaluate(data.x_train[:1024], data.y_train[:1024], verbose=0, return_dict=True)
    metric = "mae" if "inference_mae" in last else "accuracy"
    assert last[f"inference_{metric}"] == pytest.approx(scores[metric], abs=1e-6)
    assert last["inference_loss"] == pytest.approx(scores["loss"], rel=1e-5)
