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
