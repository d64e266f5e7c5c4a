"""Lu et al. 2019 at the draw: RAI against its definition (one Beta(2, 1) entry per unit among its weights and bias,
the rest N(0, 0.6007^2 / fan_in)), the lab's batched RAI draws equal to solo Keras models, born-dead probabilities
against closed forms (a width-1 net; the two-ray bounds), the probe's exactness without biases, Wilson intervals
inside [0, 1], and bad input in one line."""

import subprocess
import sys

import numpy as np
import pytest
import yaml
from scipy import stats
from typer.testing import CliRunner

from initlab.base.errors import UserError
from initlab.cli import app
from initlab.config import initializers
from initlab.config.experiment import Config
from initlab.lab import paper_lu2019
from initlab.train import batched_draws, initializer_factory, model as model_module, population

runner = CliRunner()


def _config(widths, init="he_normal", seed=0):
    bias = "randomized_asymmetric" if init == "randomized_asymmetric" else "zeros"
    return Config.model_validate({"name": "lu", "seed": seed, "model": {
        "hidden": widths, "activation": "relu", "kernel_initializer": init, "bias_initializer": bias}})


def _augmented(seed, fan_in, units, **params):
    """[W; b] as a Dense layer draws them: the kernel and the bias from their own initializer calls."""
    spec = {"name": "rai", **params}
    kernel = initializer_factory.make(spec, seed)((fan_in, units))
    bias = initializer_factory.make(spec, seed, fan_in)((units,))
    return np.vstack([np.asarray(kernel, np.float64), np.asarray(bias, np.float64)[None]])


def test_rai_has_one_beta_entry_per_unit_among_its_weights_and_bias_the_rest_symmetric():
    fan_in, units = 4, 40_000
    tiny = _augmented(5, fan_in, units, sigma=1e-7)  # the symmetric entries all but vanish: the Beta one stands out
    asymmetric = np.abs(tiny) > 1e-4
    assert (asymmetric.sum(axis=0) == 1).all()  # exactly one per unit, counting the bias
    position = np.bincount(asymmetric.argmax(axis=0), minlength=fan_in + 1) / units
    assert np.abs(position - 1 / (fan_in + 1)).max() < 0.01  # uniform over the 4 weights and the bias
    beta = tiny[asymmetric]
    assert beta.min() > 0 and beta.max() <= 1
    assert beta.mean() == pytest.approx(2 / 3, abs=0.005) and (beta**2).mean() == pytest.approx(0.5, abs=0.005)
    assert stats.kstest(beta, stats.beta(2, 1).cdf).pvalue > 1e-3
    drawn = _augmented(5, fan_in, units)  # the default sigma, same seed: the same positions and Beta values
    assert np.allclose(drawn[asymmetric], beta, atol=1e-6)
    symmetric = drawn[~asymmetric]
    assert symmetric.mean() == pytest.approx(0, abs=0.005)
    assert symmetric.std() == pytest.approx(0.6007 / fan_in**0.5, rel=0.01)
    assert abs(stats.skew(symmetric)) < 0.03 and abs(stats.kurtosis(symmetric)) < 0.06  # normal: 0 and 0


def test_rai_kernel_variance_is_the_registrys_formula():
    kernel = _augmented(9, 10, 20_000)[:10]
    assert kernel.var() == pytest.approx(initializers.expected_variance("rai", 10, 7), rel=0.02)
    assert initializers.expected_variance("rai", 1, 1) == pytest.approx((0.6007**2 + 0.5) / 2 - (1 / 3) ** 2)


def test_rai_draws_in_a_model_a_population_and_a_batch_are_the_same():
    widths, seeds = [3, 5, 2], [0, 4]
    drawn = batched_draws.hidden_weights(_config(widths, "randomized_asymmetric"), 2, seeds)
    for member, seed in enumerate(seeds):
        model = model_module.build(_config(widths, "randomized_asymmetric", seed), 2, "binary", 2)
        weights, _ = population.initial_weights(_config(widths, "randomized_asymmetric", seed), 2, "binary", 2)
        for (kernels, biases), layer, (kernel, bias) in zip(drawn, model.layers[:-1], weights):
            assert np.array_equal(kernels[member], layer.kernel.numpy()) and np.array_equal(biases[member], layer.bias.numpy())
            assert np.array_equal(kernel, layer.kernel.numpy()) and np.array_equal(bias, layer.bias.numpy())
        both = np.vstack([model.layers[1].kernel.numpy(), model.layers[1].bias.numpy()[None]])
        assert ((both > 0) & (both <= 1)).any(axis=0).all()  # every unit has its positive entry somewhere


def test_a_width_one_net_is_born_dead_as_the_closed_form_says():
    draws = 4000
    dead = paper_lu2019.born_dead(_config([1] * 8), draws)
    depths = np.arange(1, 9)
    exact = paper_lu2019.width_one(depths)  # 1 - (1/2)^(L - 1): 0 at depth 1
    assert dead[:, 0].sum() == 0
    assert np.all(np.abs(dead.mean(axis=0) - exact) <= 4 * np.sqrt(exact * (1 - exact) / draws) + 1e-9)
    low, high = paper_lu2019.bounds(1, depths)
    assert np.allclose(low, exact) and np.all(high >= exact)  # the lower bound is exact at width 1


@pytest.mark.parametrize("width", [2, 3])
def test_he_nets_fall_between_the_two_ray_bounds_and_the_two_end_probe_is_exact(width):
    config, draws = _config([width] * 12), 2000
    dead = paper_lu2019.born_dead(config, draws)
    low, high = paper_lu2019.wilson(dead.sum(axis=0), draws)
    lower, upper = paper_lu2019.bounds(width, np.arange(1, 13))
    assert np.all(high >= lower) and np.all(low <= upper)
    assert dead.mean(axis=0)[-1] > dead.mean(axis=0)[2]  # deeper: more often dead
    # without biases a layer zero at both ends of the domain is zero on all of it: two points call it as 101 do
    assert np.array_equal(paper_lu2019.born_dead(config, 500, points=2), dead[:500])


def test_rai_is_born_dead_less_often_than_he_in_a_narrow_deep_net():
    he = paper_lu2019.born_dead(_config([2] * 20), 1000).mean(axis=0)[-1]
    rai = paper_lu2019.born_dead(_config([2] * 20, "randomized_asymmetric"), 1000).mean(axis=0)[-1]
    assert he > 0.95 and rai < 0.7


def test_the_denser_probe_check_counts_disagreements_on_the_same_draws():
    checked = paper_lu2019.denser(_config([2] * 10, "randomized_asymmetric"), 100)
    assert checked["cells"] == 1000 and 0 <= checked["disagree"] <= checked["dead"]


def test_wilson_intervals_stay_inside_zero_and_one_at_both_ends():
    low, high = paper_lu2019.wilson(np.array([0, 1, 50, 99, 100]), 100)
    assert low[0] == 0 and 0 < high[0] < 0.05 and high[-1] == 1 and 0.95 < low[-1] < 1
    assert np.all((0 <= low) & (low <= np.array([0, 1, 50, 99, 100]) / 100) & (high <= 1))
    assert low[2] == pytest.approx(0.404, abs=0.001) and high[2] == pytest.approx(0.596, abs=0.001)


def test_a_depth_or_a_draw_count_past_the_limits_is_one_line():
    with pytest.raises(UserError, match=r"hidden layers: 1,001, over the limit of 1,000"):
        paper_lu2019.check(1001, 10)
    over = paper_lu2019.MAX_DRAWS + 1
    with pytest.raises(UserError, match=rf"initializations per cell: {over:,}, over the limit of {over - 1:,}"):
        paper_lu2019.check(50, over)
    with pytest.raises(UserError, match="at least 1"):
        paper_lu2019.check(50, 0)


def test_the_lesson_refuses_a_depth_past_the_limit_in_one_line(tmp_path):
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "born_dead_base.yaml").write_text(
        "name: deep\ndata: {dataset: gaussian, n_features: 1}\nmodel: {hidden: [" + ", ".join(["2"] * 1001) + "]}\n")
    (configs / "born_dead_grid.yaml").write_text("name: born_dead_grid\nbase: born_dead_base.yaml\nseeds: [0]\n")
    result = runner.invoke(app, ["reproduce", "--only", "born_dead_grid", "--configs", str(configs),
                                 "--docs", str(tmp_path / "docs"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1 and "1,001" in result.stderr
    assert not (tmp_path / "docs" / "figures" / "born_dead_grid.png").exists()


def test_a_model_drawn_with_rai_loads_from_its_keras_file_in_a_fresh_process(tmp_path):
    model = model_module.build(_config([3, 3], "randomized_asymmetric"), 1, "binary", 2)
    model.save(tmp_path / "rai.keras")
    script = ("import sys, numpy as np\nfrom initlab.train import keras_file\n"
              "model = keras_file.load(__import__('pathlib').Path(sys.argv[1]))\n"
              "print(type(model.layers[0].kernel_initializer).__name__, float(np.abs(model.layers[0].kernel.numpy()).sum()))")
    found = subprocess.run([sys.executable, "-c", script, str(tmp_path / "rai.keras")], capture_output=True, text=True)
    assert found.returncode == 0, found.stderr[-2000:]
    name, total = found.stdout.split()
    assert name == "RandomizedAsymmetric" and float(total) == pytest.approx(float(np.abs(model.layers[0].kernel.numpy()).sum()))


def test_a_rai_bias_beside_another_kernel_is_refused_in_one_line(tmp_path):
    """RAI draws a bias as the last row of one [W; b] with its kernel: beside another kernel it would reuse that
    kernel's seed for an unrelated draw. Refused at validation, model-wide and per layer."""
    from typer.testing import CliRunner

    from initlab.cli import app

    for model, key in (({"hidden": [4], "kernel_initializer": "he_normal", "bias_initializer": "rai"}, "model.bias_initializer"),
                       ({"layers": [{"units": 4, "bias_initializer": "rai"}], "kernel_initializer": "rai",
                         "bias_initializer": "zeros"}, None),
                       ({"layers": [{"units": 4, "kernel_initializer": "glorot_uniform", "bias_initializer": "rai"}],
                         "kernel_initializer": "rai"}, "model.layers.0.bias_initializer")):
        path = tmp_path / "c.yaml"
        path.write_text(yaml.safe_dump({"name": "c", "data": {"dataset": "ushape"}, "model": model, "train": {"epochs": 1}}))
        result = CliRunner().invoke(app, ["validate", str(path)])
        if key is None:
            assert result.exit_code == 0, result.output
            continue
        assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
        assert f"{key}: 'rai' draws a bias together with its layer's kernel" in result.output
