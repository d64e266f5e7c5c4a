"""model.residual: the config's keys and refusals, the built blocks and their names, the variance of the stream by
block at initialization against the closed form (He, unnormalized: x2 per block; SkipInit: flat), Fixup's exact
initial weights, a run's layers.csv rows for the blocks, diagnose's branch shares and a safe-mode load of model.keras."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from initlab.cli import app
from initlab.config import initializers
from initlab.lab import runs
from initlab.train import initializer_factory, population, residual

from tests.conftest import make_config, raw_config

runner = CliRunner()


def _residual(blocks=3, branch_layers=1, normalization="none", branch_init="standard", hidden=(8,), **model):
    return {"hidden": list(hidden), "kernel_initializer": "he_normal", **model,
            "residual": {"blocks": blocks, "branch_layers": branch_layers, "normalization": normalization,
                         "branch_init": branch_init}}


def _write(tmp_path, **sections):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw_config(**sections)))
    return path


def test_defaults_and_contract():
    config = make_config(model={"hidden": [32], "residual": {"blocks": 16, "branch_layers": 1, "normalization": "none",
                                                             "branch_init": "standard"}})
    assert config.model.residual.blocks == 16 and config.model.residual.branch_width is None
    assert population.can_join(config)  # without normalization residual runs join populations (test_population)
    normalized = config.model.residual.model_copy(update={"normalization": "batch"})
    assert not population.can_join(config.model_copy(update={"model": config.model.model_copy(update={"residual": normalized})}))
    assert population.can_join(make_config())


@pytest.mark.parametrize("residual, fragments", [
    ({"blocks": 4, "branch_width": 16}, ["model.residual.branch_width", "no projection", "allowed: 8 or null"]),
    ({"blocks": 0}, ["model.residual.blocks"]),
    ({"blocks": 2, "branch_layers": 3}, ["model.residual.branch_layers"]),
    ({"blocks": 2, "branch_init": "rezero"}, ["model.residual.branch_init"]),
    ({"blocks": 2, "normalization": "group"}, ["model.residual.normalization"]),
    ({"blocks": 2, "depth": 3}, ["depth"]),
    ({"blocks": 1001}, ["model.residual.blocks", "over the limit of 1,000", "--allow-large"]),
])
def test_bad_input_is_one_line_exit_2(tmp_path, residual, fragments):
    path = _write(tmp_path, model={"hidden": [8], "residual": residual})
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output, result.output
    for fragment in fragments:
        assert fragment in result.output


@pytest.mark.parametrize("model, key", [({"hidden": []}, "model.residual"),
                                        ({"data_init": "lsuv"}, "model.data_init")])
def test_refused_combinations(tmp_path, model, key):
    path = _write(tmp_path, model={**_residual(), **model})
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2 and key in result.output, result.output


def _built(**kwargs):
    seed = kwargs.pop("seed", 0)
    data = kwargs.pop("data", None)
    config = make_config(seed=seed, model=_residual(**kwargs), **({"data": data} if data else {}))
    return runs.prepare(config)


def test_structure_and_names():
    _, _, model, _ = _built(blocks=2, branch_layers=2, normalization="layer", branch_init="skipinit")
    assert [layer.name for layer in model.layers] == [
        "features", "hidden_1",
        "block_01_norm_1", "block_01_act_1", "block_01_dense_1", "block_01_norm_2", "block_01_act_2",
        "block_01_dense_2", "block_01_scale", "block_01_sum",
        "block_02_norm_1", "block_02_act_1", "block_02_dense_1", "block_02_norm_2", "block_02_act_2",
        "block_02_dense_2", "block_02_scale", "block_02_sum", "output"]
    assert type(model.get_layer("block_01_norm_1")).__name__ == "LayerNormalization"
    assert model.get_layer("block_01_dense_2").activation.__name__ == "linear"  # pre-activation: the sum is linear
    assert [w.name for w in model.get_layer("block_01_scale").weights] == ["alpha"]
    assert float(model.get_layer("block_01_scale").weights[0].numpy()) == 0.0


def _stream(model, x, blocks) -> list[np.ndarray]:
    """The stem's output and each block's sum on x."""
    from initlab.base.backend import keras

    names = ["hidden_1"] + [residual.block_name(b, "sum") for b in range(1, blocks + 1)]
    outputs = keras().Model(model.inputs, [model.get_layer(n).output for n in names])(x, training=False)
    return [np.asarray(o, np.float64) for o in outputs]


def test_variance_by_block_doubles_with_he_and_stays_with_skipinit():
    """Pre-activation with He (Var(W_ij) = 2/n, zero biases): E[(x + W relu(x))^2] = q + 2 E[relu(x)^2], which is 2q
    for a symmetric x; the stream keeps some of the stem's positive mean, so the ratio starts above 2 and falls to it."""
    data = {"dataset": "gaussian", "n_samples": 256, "n_features": 64}
    blocks = 8
    for init in ("standard", "skipinit"):
        _, prepared_data, model, _ = _built(blocks=blocks, branch_init=init, hidden=(512,), data=data)
        stream = _stream(model, prepared_data.x_train, blocks)
        q = np.array([np.mean(a**2) for a in stream])
        if init == "standard":
            predicted = q[:-1] + 2 * np.array([np.mean(np.maximum(a, 0) ** 2) for a in stream[:-1]])
            np.testing.assert_allclose(q[1:], predicted, rtol=0.1)
            assert np.all((q[2:] / q[1:-1] > 1.8) & (q[2:] / q[1:-1] < 2.6)), q[1:] / q[:-1]
            assert q[-1] / q[0] > 2**blocks
        else:
            assert np.array_equal(q, np.full_like(q, q[0]))  # every block adds alpha * f(x) = 0: the stem's output


@pytest.mark.parametrize("branch_layers", [1, 2])
def test_fixup_zero_last_layer_and_scaled_others(branch_layers):
    blocks, seed, width = 4, 3, 8
    config, _, model, _ = _built(blocks=blocks, branch_layers=branch_layers, branch_init="fixup", seed=seed)
    factor = residual.fixup_factor(blocks, branch_layers)
    assert factor == (1.0 if branch_layers == 1 else 0.5)  # 4^(-1/2)
    for b in range(1, blocks + 1):
        assert not model.get_layer(residual.block_name(b, f"dense_{branch_layers}")).kernel.numpy().any()
        for j in range(1, branch_layers):
            index = residual.layer_index(1, b, j, branch_layers)
            drawn = initializer_factory.make(config.model.kernel_initializer,
                                             initializers.layer_seed(seed, index, 0))((width, width), dtype="float32")
            got = model.get_layer(residual.block_name(b, f"dense_{j}")).kernel.numpy()
            np.testing.assert_array_equal(got, np.asarray(drawn) * np.float32(factor))


def test_run_writes_block_rows_diagnose_shares_and_safe_mode_load(tmp_path):
    path = _write(tmp_path, name="res", model=_residual(blocks=2, branch_init="skipinit", normalization="batch"),
                  train={"epochs": 2, "batch_size": 16})
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    folder = next((out / "res").iterdir())
    layers = pd.read_csv(folder / "layers.csv")
    at_start = layers[layers["epoch"] == 0]
    assert list(at_start["layer"]) == ["hidden_1", "block_01_dense_1", "block_01_sum", "block_02_dense_1",
                                       "block_02_sum", "output"]
    sums = at_start[at_start["layer"].str.contains("block") & at_start["layer"].str.endswith("_sum")]
    stem = at_start[at_start["layer"] == "hidden_1"]
    assert np.allclose(sums["activation_std"], stem["activation_std"].iloc[0])  # SkipInit: the identity at init
    assert sums["weight_std"].isna().all() and sums["distinct_units"].isna().all()
    assert sorted(layers["epoch"].unique()) == [0, 1, 2]
    assert not (folder / "signal.csv").exists()
    shares = tmp_path / "shares.csv"
    for target in (path, folder):
        result = runner.invoke(app, ["diagnose", str(target), "--csv", str(shares)])
        assert result.exit_code == 0, result.output
        table = pd.read_csv(shares).set_index("layer")
        assert list(table.loc[["block_01_scale", "block_02_scale"], "branch_share"]) == [0.0, 0.0]
        assert list(table.loc[["block_01_scale", "block_02_scale"], "residual"]) == ["block_01_sum", "block_02_sum"]
    load = ("import sys; from pathlib import Path; from initlab.train import keras_file; "
            "m = keras_file.load(Path(sys.argv[1])); print(type(m.get_layer('block_01_scale')).__name__)")
    loaded = subprocess.run([sys.executable, "-c", load, str(folder / "model.keras")], capture_output=True, text=True)
    assert loaded.returncode == 0 and loaded.stdout.strip() == "SkipInitScale", loaded.stderr[-2000:]


def test_diagnose_reports_standard_branch_shares(tmp_path):
    path = _write(tmp_path, model=_residual(blocks=2))
    shares = tmp_path / "shares.csv"
    result = runner.invoke(app, ["diagnose", str(path), "--csv", str(shares)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(shares).set_index("layer")
    assert 0 < table.loc["block_01_dense_1", "branch_share"] < 1.5
    assert table.loc["block_02_dense_1", "residual"] == "block_02_sum"


def test_recording_the_jacobian_of_residual_blocks_is_refused_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from initlab.cli import app

    path = tmp_path / "res.yaml"
    path.write_text("name: res\nmodel: {hidden: [8], residual: {blocks: 2}}\nrecord: {jacobian: true}\n")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2 and "record.jacobian: cannot be combined with model.residual" in result.stderr
