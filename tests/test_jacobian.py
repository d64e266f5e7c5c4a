"""The input-output Jacobian's spectrum at initialization: exact against closed forms, the randomized estimate against
the exact spectrum, the lab's records (record.jacobian) and `initlab diagnose --jacobian`."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from initlab.base.backend import keras as _keras
from initlab.cli import app
from initlab.config.columns import JACOBIAN_COLUMNS
from initlab.lab import runs
from initlab.output import plots
from initlab.train import jacobian

from tests.conftest import make_config

runner = CliRunner()


def _mlp(widths: list[int], activation: str, initializer, seed: int = 0, output: str = "linear"):
    keras = _keras()
    layers = [keras.layers.Dense(w, activation=activation if i < len(widths) - 1 else output,
                                 kernel_initializer=keras.initializers.get({"class_name": initializer,
                                                                            "config": {"seed": seed + i}}),
                                 bias_initializer="zeros") for i, w in enumerate(widths[1:], start=0)]
    return keras.Sequential([keras.Input((widths[0],)), *layers])


def test_a_linear_network_s_spectrum_is_the_product_of_its_kernels():
    """J = (W_1 W_2 W_3)^T for every row: its squared singular values, exactly, by the chain and by autodiff."""
    rng = np.random.default_rng(0)
    kernels = [rng.standard_normal(shape).astype(np.float32) for shape in ((6, 9), (9, 5), (5, 4))]
    x = rng.standard_normal((3, 6)).astype(np.float32)
    layers = [(f"l{i}", k, rng.standard_normal(k.shape[1]), "linear") for i, k in enumerate(kernels)]
    product = np.float64(kernels[0]) @ np.float64(kernels[1]) @ np.float64(kernels[2])
    closed = np.linalg.svd(product, compute_uv=False) ** 2
    spectra = jacobian.layer_spectra(layers, x)
    assert list(spectra) == ["l0", "l1", "l2"] and spectra["l2"].shape == (3, 4)
    np.testing.assert_allclose(spectra["l2"], np.tile(closed, (3, 1)), rtol=1e-12)
    np.testing.assert_allclose(spectra["l0"][0], np.linalg.svd(np.float64(kernels[0]), compute_uv=False) ** 2, rtol=1e-12)
    model = _mlp([6, 9, 5, 4], "linear", "glorot_normal")
    for layer, k in zip(model.layers, kernels):
        layer.kernel.assign(k)
    np.testing.assert_allclose(jacobian.exact(lambda z: model(z), x), np.tile(closed, (3, 1)), rtol=1e-4)
    summary = jacobian.summary(spectra["l2"])
    assert summary["count"] == 12 and summary["rows"] == 3 and summary["zero_fraction"] == 0
    assert summary["mean"] == pytest.approx(closed.mean()) and summary["max"] == pytest.approx(closed.max())
    assert summary["variance"] == pytest.approx(closed.var())


def test_the_lab_chain_equals_autodiff_on_the_logits_and_counts_lost_rank_as_zero():
    """The per-layer chain (float64) against batch_jacobian of the Keras model's output before its softmax; ReLU's
    dead units lose rank, exactly zero; the narrowest layer bounds the rank."""
    model = _mlp([5, 7, 3, 7, 4], "relu", "he_normal", output="softmax")
    x = np.random.default_rng(1).standard_normal((6, 5)).astype(np.float32)
    spectra = jacobian.layer_spectra(jacobian.dense_layers(model), x)
    def logits(z):
        for layer in model.layers[:-1]:
            z = layer(z)
        return z @ model.layers[-1].kernel + model.layers[-1].bias

    np.testing.assert_allclose(spectra[model.layers[-1].name], jacobian.exact(logits, x), rtol=1e-4,
                               atol=1e-6 * spectra[model.layers[-1].name].max())
    assert (spectra[model.layers[-1].name][:, 3:] == 0).all()  # 4 logits through 3 units: rank 3 at most


@pytest.mark.parametrize("initializer, activation", [("orthogonal", "tanh"), ("glorot_normal", "tanh"),
                                                     ("he_normal", "relu")])
def test_the_randomized_estimate_agrees_with_the_exact_spectrum(initializer, activation):
    """Stochastic Lanczos quadrature with 24 steps on a side of 64: the top within 1%, the mean within 5%, the
    variance within 30%; with as many steps as the side, the bottom too."""
    model = _mlp([64] * 6, activation, initializer)
    x = np.random.default_rng(0).standard_normal((4, 64)).astype(np.float32)
    fn = lambda z: model(z)  # noqa: E731
    exact = jacobian.summary(jacobian.exact(fn, x))
    estimated = jacobian.estimate(fn, x, steps=24)
    assert estimated["rows"] == 4 and estimated["count"] == exact["count"] == 256
    assert estimated["max"] == pytest.approx(exact["max"], rel=0.01)
    assert estimated["mean"] == pytest.approx(exact["mean"], rel=0.05)
    assert estimated["variance"] == pytest.approx(exact["variance"], rel=0.3)
    assert estimated["min"] >= exact["min"]  # Ritz values never pass the spectrum's ends
    full = jacobian.estimate(fn, x[:1], starts=1, steps=64, per_call=1)
    values = jacobian.exact(fn, x[:1])
    assert full["max"] == pytest.approx(values.max(), rel=1e-4)
    if initializer == "orthogonal":  # well conditioned: the bottom is within the estimate's float32 resolution
        assert full["min"] == pytest.approx(values.min(), rel=1e-2)


def _tanh_layers(depth: int, kind: str, width: int = 64) -> list[tuple]:
    rng = np.random.default_rng(0)
    draws = [rng.standard_normal((width, width)) for _ in range(depth)]
    kernels = [np.linalg.qr(g)[0] if kind == "orthogonal" else g / np.sqrt(width) for g in draws]
    return [(f"h{i}", k.astype(np.float32), np.zeros(width, np.float32), "tanh") for i, k in enumerate(kernels)]


def test_orthogonal_tanh_keeps_the_spectrum_narrow_with_depth_where_gaussian_widens_it():
    """Pennington et al. 2017 at criticality (sigma_w^2 = 1, no bias, small inputs: tanh near its linear regime):
    orthogonal weights keep every squared singular value below 1 and the variance near 0 at depth 32, Gaussian ones
    spread them over decades, the variance growing with depth (measured: 0.002 and 0.009 against 4.2 and 48)."""
    x = 0.1 * np.random.default_rng(1).standard_normal((32, 64)).astype(np.float32)
    found = {(kind, depth): jacobian.summary(jacobian.layer_spectra(_tanh_layers(depth, kind), x)[f"h{depth - 1}"])
             for kind in ("orthogonal", "gaussian") for depth in (4, 32)}
    assert found["orthogonal", 32]["max"] < 1 and found["orthogonal", 32]["variance"] < 0.05
    assert found["gaussian", 32]["variance"] > 5 * found["gaussian", 4]["variance"] > 5
    assert found["gaussian", 32]["max"] > 50 * found["orthogonal", 32]["max"]
    assert found["gaussian", 32]["log_std"] > 10 * found["orthogonal", 32]["log_std"]


def test_a_run_records_its_jacobian_on_request_and_draws_it(tmp_path):
    config = make_config(model={"hidden": [6, 6], "activation": "tanh"}, train={"epochs": 2},
                         record={"jacobian": True})
    folder = runs.run(config, tmp_path)
    table = pd.read_csv(folder / "jacobian.csv")
    assert list(table.columns) == JACOBIAN_COLUMNS and list(table["layer"]) == ["hidden_1", "hidden_2", "output"]
    with np.load(folder / "jacobian.npz") as recorded:
        spectra = dict(recorded)
    assert list(spectra) == ["hidden_1", "hidden_2", "output"]
    assert spectra["hidden_1"].shape == (32, 2) and spectra["output"].shape == (32, 1)  # 2 inputs, 1 logit
    with np.load(folder / "weights_initial.npz") as weights:
        kernel = np.float64(weights["hidden_1/kernel"])
    np.testing.assert_allclose(spectra["hidden_1"][0], np.linalg.svd(kernel, compute_uv=False) ** 2, rtol=1e-12)
    for row in table.to_dict("records"):
        assert row == pytest.approx({"layer": row["layer"], **jacobian.summary(spectra[row["layer"]])})
    assert (folder / "jacobian.png").stat().st_size > 0
    (folder / "jacobian.png").unlink()
    assert runner.invoke(app, ["plot", str(folder)]).exit_code == 0 and (folder / "jacobian.png").is_file()
    plain = runs.run(make_config(train={"epochs": 1}), tmp_path)
    assert not any((plain / name).exists() for name in ("jacobian.csv", "jacobian.npz", "jacobian.png"))


def _saved(tmp_path, build, name: str):
    keras = _keras()
    model = build(keras)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    return path


def test_diagnose_jacobian_reports_the_logits_spectrum_exactly_for_a_small_model(tmp_path):
    result = runner.invoke(app, ["diagnose", "digits_he_relu", "--jacobian", "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)[-1]["jacobian"]
    assert found["method"] == "exact" and found["of"] == "the logits: layer 'output' before its softmax"
    assert (found["inputs"], found["outputs"], found["rows"], found["count"]) == (64, 10, 8, 80)
    assert set(jacobian.SUMMARY) <= found.keys() and 0 < found["min"] <= found["mean"] <= found["max"]
    assert all("jacobian" not in item for item in json.loads(result.output)[:-1])
    text = runner.invoke(app, ["diagnose", "digits_he_relu", "--jacobian"])
    assert text.exit_code == 0 and "input-output Jacobian (the logits: layer 'output' before its softmax; exact" in text.output
    assert f"mean {found['mean']:.3g}," in " ".join(text.output.split())
    assert "Jacobian" not in runner.invoke(app, ["diagnose", "digits_he_relu"]).output


def test_diagnose_jacobian_estimates_where_the_exact_one_would_pass_the_bound(tmp_path):
    """16,384 outputs by 16,384 inputs: the exact Jacobian needs GiBs per row, the estimate a few MiB per chain."""
    path = _saved(tmp_path, lambda keras: keras.Sequential([
        keras.Input((128, 128, 1)), keras.layers.Conv2D(1, 3, padding="same", activation="tanh"),
        keras.layers.Conv2D(1, 3, padding="same"), keras.layers.Flatten()]), "wide")
    result = runner.invoke(app, ["diagnose", str(path), "--jacobian", "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)[-1]["jacobian"]
    assert found["method"].startswith("estimate (stochastic Lanczos quadrature") and found["rows"] == 4
    assert (found["inputs"], found["outputs"], found["count"]) == (16384, 16384, 4 * 16384)
    assert 0 < found["mean"] < found["max"]


def test_diagnose_jacobian_refuses_a_model_too_large_for_even_the_estimate_in_one_line(tmp_path):
    path = _saved(tmp_path, lambda keras: keras.Sequential([
        keras.Input((2048, 2048, 1)), keras.layers.Conv2D(1, 1), keras.layers.Flatten()]), "huge")
    result = runner.invoke(app, ["diagnose", str(path), "--jacobian"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "--jacobian" in lines[0] and "GiB estimated, over the 1 GiB" in lines[0]
    assert "times smaller would fit the estimate" in lines[0] and "Traceback" not in result.output


def test_diagnose_jacobian_goes_into_the_csv_s_last_row_and_under_the_plot(tmp_path):
    csv, png = tmp_path / "layers.csv", tmp_path / "layers.png"
    result = runner.invoke(app, ["diagnose", "digits_he_relu", "--jacobian", "--csv", str(csv), "--plot", str(png)])
    assert result.exit_code == 0, result.output
    found = json.loads(runner.invoke(app, ["diagnose", "digits_he_relu", "--jacobian", "--json"]).output)[-1]["jacobian"]
    table = pd.read_csv(csv)
    assert table["jacobian_method"].iloc[-1] == "exact" and table["jacobian_method"].iloc[:-1].isna().all()
    assert table["jacobian_mean"].iloc[-1] == pytest.approx(found["mean"], rel=1e-9)
    assert table["jacobian_count"].iloc[-1] == found["count"] == 80
    assert png.stat().st_size > 0
    figure = plots.checklist_by_depth_figure(table, "digits_he_relu", found)
    caption = figure.axes[1].get_xlabel()
    assert f"input-output Jacobian (exact): squared singular values mean {found['mean']:.3g}," in caption
    assert "Jacobian" not in plots.checklist_by_depth_figure(table, "digits_he_relu").axes[1].get_xlabel()
    without = tmp_path / "plain.csv"
    runner.invoke(app, ["diagnose", "digits_he_relu", "--csv", str(without)])
    assert not any(column.startswith("jacobian_") for column in pd.read_csv(without).columns)


def test_the_spectrum_picture_draws_each_depth_s_share_of_values_per_bin_and_counts_zeros_in_the_legend():
    rng = np.random.default_rng(0)
    narrow, wide = rng.uniform(0.5, 2.0, 400), np.concatenate([10 ** rng.uniform(-4, 2, 396), np.zeros(4)])
    figure = plots.jacobian_spectra_figure({"orthogonal": {"4": narrow, "32": narrow}, "gaussian": {"4": narrow, "32": wide}})
    drawn = [ax for ax in figure.axes if ax.patches]
    assert [ax.get_title() for ax in drawn] == ["orthogonal", "gaussian"]
    steps = {patch.get_label(): patch for patch in drawn[1].patches}
    assert list(steps) == ["4", "32 (4 at 0)"]
    heights, edges = steps["32 (4 at 0)"].get_data()[:2]
    assert heights.sum() == pytest.approx(396 / 400)  # the zeros have no place on a log axis
    np.testing.assert_allclose(heights, np.histogram(wide[wide > 0], bins=edges)[0] / 400)
    first = steps["4"].get_data()[0]
    assert first.sum() == pytest.approx(1.0)
    assert (edges[0], edges[-1]) == pytest.approx((wide[wide > 0].min(), wide.max()))  # the smallest and largest value
    np.testing.assert_array_equal(drawn[0].patches[0].get_data()[1], edges)  # bins shared by every panel
