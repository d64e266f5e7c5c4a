"""Data sets: generators, the packaged U-shape, the Keras validation split, standardization, CSV files."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings, strategies as st

import initlab
from initlab.base.backend import keras
from initlab.config.experiment import validate
from initlab.train import data

REPO = Path(__file__).resolve().parents[1]


def data_config(**spec):
    return validate({"name": "t", "data": spec}).data


def load(seed=0, base_dir=Path("."), **spec) -> data.Dataset:
    return data.load_dataset(data_config(**spec), seed, base_dir, "exp.yaml")


def everything(ds: data.Dataset):
    return np.concatenate([ds.x_train, ds.x_val]), np.concatenate([ds.y_train, ds.y_val])


# ---- generators ------------------------------------------------------------------------------------------------
GENERATORS = {  # spec, n_features, task, exact class balance (None: not balanced by construction)
    "moons": ({"n_samples": 60}, 2, "binary", 0.5),
    "circles": ({"n_samples": 60}, 2, "binary", 0.5),
    "xor": ({"n_samples": 80}, 2, "binary", None),
    "spiral": ({"n_samples": 80}, 2, "binary", 0.5),
    "blobs": ({"n_samples": 60, "centers": 2, "n_features": 3}, 3, "binary", 0.5),
    "gaussian": ({"n_samples": 64, "n_features": 20}, 20, "binary", None),
    "salary": ({"n_samples": 50}, 2, "regression", None),
}


@pytest.mark.parametrize("dataset", GENERATORS)
def test_generator_shape_and_task(dataset):
    spec, n_features, task, _ = GENERATORS[dataset]
    ds = load(dataset=dataset, validation_split=0.25, **spec)
    n = spec["n_samples"]
    cut = int(np.floor(n * 0.75))
    assert ds.x_train.shape == (cut, n_features) and ds.x_val.shape == (n - cut, n_features)
    assert ds.x_train.dtype == np.float32
    assert ds.task == task and ds.n_features == n_features
    assert ds.y_train.shape == (cut, 1) and ds.y_train.dtype == np.float32
    assert np.isfinite(ds.x_train).all() and np.isfinite(ds.y_train).all()


@pytest.mark.parametrize("dataset", [d for d, (_, _, task, _) in GENERATORS.items() if task == "binary"])
def test_generator_class_balance(dataset):
    spec, _, _, balance = GENERATORS[dataset]
    _, y = everything(load(dataset=dataset, **spec))
    assert set(np.unique(y)) == {0.0, 1.0}
    if balance is not None:
        assert y.mean() == balance
    else:
        assert 0.2 < y.mean() < 0.8


def test_blobs_with_more_centers_is_multiclass():
    ds = load(dataset="blobs", n_samples=90, centers=3)
    _, y = everything(ds)
    assert ds.task == "multiclass" and ds.n_classes == 3
    assert y.dtype == np.int32 and y.ndim == 1
    assert np.bincount(y).tolist() == [30, 30, 30]


@pytest.mark.parametrize("dataset", GENERATORS)
def test_generator_deterministic_by_seed(dataset):
    spec = GENERATORS[dataset][0]
    first, again, other = (everything(load(seed=s, dataset=dataset, **spec)) for s in (3, 3, 4))
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])


def test_salary_follows_its_formula():
    ds = load(dataset="salary", n_samples=400, noise=0.0, validation_split=0.0)
    cgpa, iq = ds.x_train[:, 0], ds.x_train[:, 1]
    np.testing.assert_allclose(ds.y_train[:, 0], 2 * cgpa + 0.1 * iq - 10, rtol=1e-5, atol=1e-4)


# ---- the U-shape ------------------------------------------------------------------------------------------------
def test_ushape_is_make_moons_exactly():
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=100, noise=0.3, random_state=0)
    frame = pd.read_csv(data.ushape_path())
    assert list(frame.columns) == ["X", "Y", "class"]
    # The file was written elsewhere: sin/cos in another libm may differ in the last bit of a float64,
    # so the float64 values agree to 1 ulp and the float32 values the model sees agree exactly.
    np.testing.assert_allclose(frame[["X", "Y"]].to_numpy(), x, rtol=0, atol=4e-16)
    np.testing.assert_array_equal(frame["class"].to_numpy(), y)
    ds = load(dataset="ushape", validation_split=0.0)
    np.testing.assert_array_equal(ds.x_train, x.astype(np.float32))
    np.testing.assert_array_equal(ds.y_train[:, 0], y)
    assert ds.y_train.mean() == 0.5


def test_ushape_is_read_to_the_bits_pandas_reads():
    """The loader reads the file with numpy (planning a sweep must not pay pandas' import): the same float64 bits."""
    frame = pd.read_csv(data.ushape_path())
    ds = load(dataset="ushape", validation_split=0.0, standardize=False)
    x, y, names = data.GENERATORS["ushape"](None, None)
    assert names == ["X", "Y"] and x.dtype == np.float64
    assert x.tobytes() == frame[["X", "Y"]].to_numpy().tobytes()
    np.testing.assert_array_equal(y, frame["class"].to_numpy())
    np.testing.assert_array_equal(ds.x_train, frame[["X", "Y"]].to_numpy().astype(np.float32))


def test_ushape_loads_from_the_packaged_copy_anywhere(tmp_path, monkeypatch):
    packaged = data.ushape_path()
    assert packaged == Path(initlab.__file__).parent / "datasets" / "ushape.csv"
    assert packaged.read_bytes() == (REPO / "data" / "ushape.csv").read_bytes()
    monkeypatch.chdir(tmp_path)
    ds = load(dataset="ushape")
    assert ds.x_train.shape == (80, 2) and ds.x_val.shape == (20, 2)


def test_ushape_ignores_the_seed():
    first, other = (everything(load(seed=seed, dataset="ushape"))[0] for seed in (0, 9))
    np.testing.assert_array_equal(first, other)


# ---- validation split ------------------------------------------------------------------------------------------------
def keras_split(arrays, validation_split):
    keras()  # quiet TensorFlow start-up before reaching into keras.src
    from keras.src.trainers.data_adapters.array_slicing import train_validation_split

    return train_validation_split(arrays, validation_split=validation_split)


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 1000), st.floats(0.01, 0.99))
def test_split_at_matches_keras(n, split):
    assume(0 < data.split_at(n, split) < n)  # Keras refuses splits leaving either side empty
    (x_train,), (x_val,) = keras_split((np.arange(n),), split)
    assert data.split_at(n, split) == len(x_train)


@pytest.mark.parametrize("split", [0.1, 0.2, 0.25, 0.3, 0.5])
def test_ushape_split_matches_keras(split):
    whole = load(dataset="ushape", validation_split=0.0)
    (x_train, y_train), (x_val, y_val) = keras_split((whole.x_train, whole.y_train), split)
    ds = load(dataset="ushape", validation_split=split)
    for ours, theirs in [(ds.x_train, x_train), (ds.y_train, y_train), (ds.x_val, x_val), (ds.y_val, y_val)]:
        np.testing.assert_array_equal(ours, np.asarray(theirs))
    assert len(ds.x_train) == int(np.floor(100 * (1 - split)))


# ---- standardization ------------------------------------------------------------------------------------------------
def test_standardize_uses_the_training_statistics():
    raw = load(dataset="moons", n_samples=100, validation_split=0.3)
    scaled = load(dataset="moons", n_samples=100, validation_split=0.3, standardize=True)
    train = raw.x_train.astype(np.float64)
    mean, std = train.mean(axis=0), train.std(axis=0)
    np.testing.assert_allclose(scaled.x_train.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(scaled.x_train.std(axis=0), 1, atol=1e-5)
    np.testing.assert_allclose(scaled.x_val, (raw.x_val - mean) / std, rtol=1e-5, atol=1e-5)
    # the validation part's own statistics are not used
    assert not np.allclose(scaled.x_val.mean(axis=0), 0, atol=1e-3)
    np.testing.assert_array_equal(scaled.y_val, raw.y_val)


# ---- csv ------------------------------------------------------------------------------------------------
def test_csv_loads_relative_to_the_config_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    pd.DataFrame({"a": [1, 2, 3, 4, 5], "b": [0.5, 1.5, 2.5, 3.5, 4.5], "label": [-1, 1, -1, 1, 1]}).to_csv(
        tmp_path / "sub" / "points.csv", index=False
    )
    ds = load(base_dir=tmp_path, dataset="csv", path="sub/points.csv", features=["b", "a"], target="label")
    assert ds.feature_names == ["b", "a"] and ds.task == "binary"
    np.testing.assert_array_equal(ds.x_train, [[0.5, 1], [1.5, 2], [2.5, 3], [3.5, 4]])
    np.testing.assert_array_equal(ds.x_val, [[4.5, 5]])
    np.testing.assert_array_equal(ds.y_train[:, 0], [0, 1, 0, 1])  # labels -1, 1 become 0, 1


def test_csv_with_a_real_valued_target_is_regression(tmp_path):
    (tmp_path / "r.csv").write_text("x,y\n1,0.5\n2,1.25\n3,2.0\n4,2.5\n5,3.1\n")
    ds = load(base_dir=tmp_path, dataset="csv", path="r.csv", features=["x"], target="y")
    assert ds.task == "regression" and ds.n_classes == 0
    np.testing.assert_allclose(ds.y_train[:, 0], [0.5, 1.25, 2.0, 2.5])
