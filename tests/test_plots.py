"""Pictures from awkward records: they must be drawn, not crash the run that made the records."""

import numpy as np
import pandas as pd

from initlab import plots


def test_activation_histograms_of_saturated_float32_and_non_finite_values(tmp_path):
    saturated = np.array([0.99999994, 1.0] * 50, dtype=np.float32)  # fewer float32 steps than bins
    samples = {"epoch_0/hidden_1": saturated, "epoch_0/output": np.array([np.inf, np.nan, 0.5], np.float32),
               "epoch_5/hidden_1": saturated, "epoch_5/output": np.array([np.nan], np.float32)}
    plots.activations(samples, tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 0


def test_gradients_of_a_run_where_every_gradient_is_zero(tmp_path):
    layers = pd.DataFrame({"epoch": [0, 0, 1, 1], "layer": ["hidden_1", "output"] * 2, "units": [2, 1, 2, 1],
                           "grad_norm": [0.0] * 4, "distinct_units": [1, 1, 1, 1]})
    plots.gradients(layers, tmp_path / "g.png")
    assert (tmp_path / "g.png").stat().st_size > 0


def test_signal_plot_of_a_zero_initialized_network(tmp_path):
    frame = pd.DataFrame({"layer": ["hidden_1", "output"], "z_mean_square": [0.0, 0.0],
                          "z_mean_square_predicted": [0.0, 0.0], "grad_mean_square": [0.0, 1.0],
                          "grad_mean_square_predicted": [0.0, 1.0]})
    plots.signal(frame, tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 0


def _spills(fig) -> list[float]:
    """How far (inches) what was drawn reaches past each edge of the picture: left, bottom, right, top; all <= 0
    when nothing is cut off."""
    fig.canvas.draw()
    drawn = fig.get_tightbbox(fig.canvas.get_renderer())
    width, height = fig.get_size_inches()
    return [round(v, 3) for v in (-drawn.x0, -drawn.y0, drawn.x1 - width, drawn.y1 - height)]


def test_per_run_pictures_keep_every_label_inside_their_fixed_layout(tmp_path, monkeypatch):
    drawn = []
    monkeypatch.setattr(plots.plt, "close", drawn.append)  # keep each figure to inspect what was drawn
    title = "mistake_constant_sigmoid: random_uniform(maxval=1.0,minval=0.0)-sigmoid-64x64x64x64-s0-0123456789"
    epochs = np.arange(0, 301)
    metrics = pd.DataFrame({"epoch": epochs, "loss": 1e6 / (epochs + 1), "accuracy": 0.5, "val_loss": 2.0,
                            "val_accuracy": 0.5})
    layers = pd.DataFrame([{"epoch": e, "layer": name, "units": 64, "grad_norm": 10.0 ** -(e % 9),
                            "distinct_units": 1} for e in epochs for name in ("hidden_1", "hidden_2", "output")])
    samples = {f"epoch_{e}/{name}": np.random.default_rng(e).normal(size=256) * 1e5
               for e in (0, 300) for name in ("hidden_1", "hidden_2", "output")}
    signal = pd.DataFrame({"layer": ["hidden_1", "hidden_2", "hidden_3", "output"],
                           "z_mean_square": [1e-3, 1e-6, 1e-9, 1e-12], "z_mean_square_predicted": [1e-3, 1e-6, 1e-9, 1e-12],
                           "grad_mean_square": [1e-9, 1e-6, 1e-3, 1.0], "grad_mean_square_predicted": [1e-9, 1e-6, 1e-3, 1.0]})
    x = np.random.default_rng(0).normal(size=(80, 2)) * 1000
    y = (x[:, 0] > 0).astype(float)
    plots.history(metrics, tmp_path / "history.png", title)
    plots.gradients(layers, tmp_path / "gradients.png", title)
    plots.activations(samples, tmp_path / "activations.png", title)
    plots.signal(signal, tmp_path / "signal.png", title)
    plots.boundary(lambda g: 1 / (1 + np.exp(-g[:, :1] / 500)), x[:60], y[:60], x[60:], y[60:], tmp_path / "boundary.png",
                   title)
    assert len(drawn) == 5
    for fig in drawn:
        assert max(_spills(fig)) <= 0.02, (_spills(fig), fig.axes[0].get_ylabel())
