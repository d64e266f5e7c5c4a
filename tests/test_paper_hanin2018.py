"""Hanin and Rolnick 2018 at the draw: the batched draws are the lab's own (each member equal to its solo Keras
model), E[M_d] = M_0 under He's 2/fan_in, beta's properties, and the brief replay's verdict with its numbers."""

import re

import numpy as np
import pytest
from typer.testing import CliRunner

from initlab.cli import app
from initlab.config.experiment import Config
from initlab.lab import paper_hanin2018
from initlab.train import batched_draws, model as model_module

runner = CliRunner()


def _config(hidden, seed=0, **model):
    return Config.model_validate({"name": "hanin", "seed": seed, "model": {
        "hidden": hidden, "activation": "relu", "kernel_initializer": "he_normal", **model}})


def test_batched_draws_are_the_solo_models_weights_and_forward_pass():
    x = np.random.default_rng(1).normal(size=12).astype(np.float32)
    seeds = [0, 3, 11]
    lengths = batched_draws.squared_lengths(_config([8, 16, 4]), x, seeds)
    drawn = batched_draws.hidden_weights(_config([8, 16, 4], bias_initializer="random_normal"), 12, seeds)
    for member, seed in enumerate(seeds):
        model = model_module.build(_config([8, 16, 4], seed), 12, "multiclass", 10)  # the oracle: Keras's own draw
        a, expected = x[None], []
        for layer in model.layers[:-1]:
            a = layer(a).numpy()
            expected.append(float(np.mean(a.astype(np.float64) ** 2)))
        np.testing.assert_allclose(lengths[member], expected, rtol=1e-5)
        solo = model_module.build(_config([8, 16, 4], seed, bias_initializer="random_normal"), 12, "multiclass", 10)
        for (kernels, biases), layer in zip(drawn, solo.layers[:-1]):
            assert np.array_equal(kernels[member], layer.kernel.numpy()) and np.array_equal(biases[member], layer.bias.numpy())


def test_he_keeps_the_mean_squared_length_and_its_spread_follows_beta():
    x = np.random.default_rng(2).normal(size=16).astype(np.float32)
    ratio = batched_draws.squared_lengths(_config([32, 32, 32]), x, list(range(3000)))[:, -1] / np.mean(x.astype(float) ** 2)
    # Var ~ 0.5 (Gaussian weights: prod(1 + 5/n) - 1 = 0.55; truncated normal: a little less): SE of the mean 0.013
    assert ratio.mean() == pytest.approx(1, abs=0.05)
    assert 0.3 < ratio.var() < 0.6


def test_beta_sums_reciprocal_widths_whatever_their_order():
    assert paper_hanin2018.beta([16] * 8) == 0.5
    widening, rng = [8, 16, 32, 64, 128], np.random.default_rng(3)
    assert paper_hanin2018.beta(widening) == pytest.approx(paper_hanin2018.beta(rng.permutation(widening)))
    for widths in ([4], [8, 8], [100, 3, 7]):
        assert paper_hanin2018.beta([*widths, 50]) > paper_hanin2018.beta(widths)  # a layer more: beta grows
        assert paper_hanin2018.beta([2 * n for n in widths]) == pytest.approx(paper_hanin2018.beta(widths) / 2)


def test_r_squared_is_one_on_a_line_and_small_on_noise():
    x = np.log([0.1, 0.2, 0.3, 0.5])
    assert paper_hanin2018.r_squared(x, 2 * x + 1) == pytest.approx(1)
    assert paper_hanin2018.r_squared(x, np.array([1.0, -1.0, -1.0, 1.0])) < 0.1


def test_the_brief_replay_gives_a_verdict_with_its_numbers(tmp_path):
    result = runner.invoke(app, ["reproduce", "--papers", "--only", "hanin2018", "--quick",
                                 "--docs", str(tmp_path / "docs"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("hanin2018: holds") and "250 draws each" in line
    low, high = map(float, re.search(r"Var\(M_d / M_0\) from ([\d.]+) \(beta [\d.]+\) to ([\d.]+)", line).groups())
    assert 0.2 < low < 0.5 and high > 3 * low  # constant 128 (beta 1/16) against constant 16 (beta 1/2)
    r2 = float(re.search(r"R\^2 = ([\d.]+)", line).group(1))
    assert r2 > 0.5
    assert (tmp_path / "docs" / "figures" / "papers_hanin2018.png").stat().st_size > 10_000
    assert not (tmp_path / "out" / "hanin2018").exists()  # drawn, never trained: no run folders
