"""De and Smith 2020 with Fixup (initlab/lab/paper_de2020.py): the stream's variance by block at the draw equal to
the lab's Keras model in training mode, against the closed forms (He doubles a block's variance, a batch-normalized
branch adds 1, SkipInit and Fixup add nothing), the fits, the Wilson interval and the outcome of a trained run."""

import json
import math

import numpy as np
import pytest

from initlab.base.backend import keras
from initlab.lab import paper_de2020, papers, runs
from initlab.train import residual

from tests.conftest import make_config

GAUSSIAN = {"dataset": "gaussian", "n_samples": 160, "n_features": 16}


def _config(blocks=4, branch_layers=1, normalization="none", branch_init="standard", width=16, seed=3, data=GAUSSIAN,
            bias="zeros"):
    return make_config(seed=seed, data=data, model={
        "hidden": [width], "kernel_initializer": "he_normal", "bias_initializer": bias,
        "residual": {"blocks": blocks, "branch_layers": branch_layers, "normalization": normalization,
                     "branch_init": branch_init}})


@pytest.mark.parametrize("normalization", ["none", "batch", "layer"])
@pytest.mark.parametrize("branch_init, branch_layers", [("standard", 1), ("standard", 2), ("skipinit", 2), ("fixup", 2)])
def test_stream_variances_equal_the_keras_model_in_training_mode(normalization, branch_init, branch_layers):
    """The lab's own model, built as a run builds it (random biases so that they are checked too), its block sums
    read with training=True (BatchNormalization's batch statistics): the batched float64 replay matches it."""
    config, data, model, _ = runs.prepare(_config(4, branch_layers, normalization, branch_init,
                                                  bias={"name": "random_normal", "stddev": 0.1}))
    x = data.x_train[:64]
    names = ["hidden_1"] + [residual.block_name(b, "sum") for b in range(1, 5)]
    outputs = keras().Model(model.inputs, [model.get_layer(n).output for n in names])(x, training=True)
    expected = np.array([np.asarray(o, np.float64).var() for o in outputs])
    got = paper_de2020.stream_variances(config, x, [config.seed, 0])[0]
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    if branch_init == "skipinit":
        assert np.all(got == got[0])  # alpha = 0: every block starts as the identity (Fixup's adds its bias here)


def test_closed_forms_he_doubles_batch_norm_adds_one():
    """Over many draws, He (Var(W) = 2/n) on a pre-activation block: E[(x + W relu(x))^2] = q + 2 E[relu(x)^2], so
    the variance doubles for a symmetric x; with batch statistics the branch sees z standardized per unit and adds
    2 E[relu(z)^2] = Var(z) = 1 for a symmetric z. The ReLU stem's output is not symmetric (its mean stays in the
    stream, and the first blocks add more: x3.9, then 2.7, ... for He; +1.47, then +1.09, ... batch-normalized), so
    the closed forms are checked where the blocks' own sums dominate, the last blocks of ten."""
    data = {"dataset": "gaussian", "n_samples": 320, "n_features": 64}
    x = runs.prepare(_config(data=data, width=128))[1].x_train[:256]
    standard = paper_de2020.stream_variances(_config(10, data=data, width=128), x, list(range(40)))
    ratios = (standard[:, 1:] / standard[:, :-1]).mean(axis=0)
    assert ratios[0] > 3 and np.mean(ratios[-4:]) == pytest.approx(2, abs=0.1)
    normalized = paper_de2020.stream_variances(_config(10, normalization="batch", data=data, width=128), x,
                                               list(range(40)))
    added = np.diff(normalized, axis=1).mean(axis=0)
    assert added[0] > 1.3 and np.mean(added[-5:]) == pytest.approx(1, abs=0.1)
    fitted = paper_de2020.fits(normalized)
    assert np.all(fitted["r2"] > 0.98) and np.mean(fitted["added"]) == pytest.approx(1, abs=0.1)


def test_fits_of_exact_lines():
    blocks = np.arange(9, dtype=float)
    doubling = 3.0 * 2**blocks
    linear = 0.5 + 1.0 * blocks
    flat = np.full(9, 0.7)
    fitted = paper_de2020.fits(np.stack([doubling, linear, flat]))
    np.testing.assert_allclose(fitted["slope"][0], 1.0)
    np.testing.assert_allclose(fitted["growth"], [8.0, math.log2(8.5 / 0.5), 0.0])
    np.testing.assert_allclose(fitted["added"][1:], [1.0, 0.0])
    np.testing.assert_allclose(fitted["r2"][1:], [1.0, 1.0])
    assert paper_de2020.predicted_growth("standard", 64, 0.7) == 64
    assert paper_de2020.predicted_growth("normalized", 64, 0.5) == pytest.approx(math.log2(129))
    assert paper_de2020.predicted_growth("skipinit", 64, 0.5) == paper_de2020.predicted_growth("fixup", 64, 0.5) == 0


def test_wilson_interval_stays_inside_zero_one():
    assert paper_de2020.wilson(9, 9) == pytest.approx((0.701, 1.0), abs=1e-3)
    assert paper_de2020.wilson(0, 9)[0] == 0.0
    low, high = paper_de2020.wilson(5, 10)
    assert 0 < low < 0.5 < high < 1 and low == pytest.approx(1 - high)


class _Run:
    def __init__(self, case, seed):
        self.case, self.seed = case, seed


def test_outcomes_of_trained_runs(tmp_path):
    """A diverged run fails whatever its last finite loss, a loss near ln 10 stalls, a low one trains."""
    cases = []
    for i, (case, loss, diverged) in enumerate([("standard", 5.6e9, 1), ("standard", 2.29, None),
                                                ("skipinit", 0.5, None), ("fixup", 2.2, None)]):
        (tmp_path / str(i)).mkdir()
        (tmp_path / str(i) / "summary.json").write_text(json.dumps(
            {"final": {"loss": loss, "accuracy": 0.5}, "diverged_at_epoch": diverged}))
        cases.append((_Run(case, i), tmp_path / str(i)))
    found = paper_de2020.trained(cases, papers.STALLED, papers.TRAINS)
    assert [r["outcome"] for r in found["standard"]] == ["failed", "failed"]
    assert [r["outcome"] for r in found["skipinit"] + found["fixup"]] == ["trained", "between"]


def test_reproduce_draws_the_residual_variance_lesson(tmp_path):
    """`initlab reproduce --quick --only digits_resnet_variance`: 20 draws of each of the lesson's four branches, its
    figure and table; nothing trained."""
    from typer.testing import CliRunner

    from initlab.cli import app

    docs = tmp_path / "docs"
    result = CliRunner().invoke(app, ["reproduce", "--quick", "--only", "digits_resnet_variance", "--docs", str(docs),
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert (docs / "figures" / "digits_resnet_variance.png").stat().st_size > 20_000
    rows = (docs / "tables" / "digits_resnet_variance.md").read_text().splitlines()[2:]
    cells = {row.split(" | ")[0].strip("| "): row.split(" | ") for row in rows}
    assert list(cells) == ["standard (He)", "batch norm + He", "SkipInit", "Fixup"]
    he_slope = float(cells["standard (He)"][4].split()[0])
    added = float(cells["batch norm + He"][7])
    assert abs(he_slope - 1) < 0.1 and abs(added - 1) < 0.2
    assert all(cells[case][5].startswith("0.00 ") for case in ("SkipInit", "Fixup"))
    assert not (tmp_path / "out" / "digits_resnet_variance").exists() or \
        not any((tmp_path / "out" / "digits_resnet_variance").rglob("summary.json"))  # drawn, never trained
