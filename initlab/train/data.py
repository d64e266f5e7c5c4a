"""Data sets: the U-shape file, scikit-learn generators, a user's CSV; split and scaled as Keras `fit` would see them."""

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from initlab.base.errors import UserError, did_you_mean, shown
from initlab.config import limits


@dataclass
class Dataset:
    x_train: np.ndarray  # float32 [n, features]
    y_train: np.ndarray  # float32 [n, 1] for binary and regression, int32 [n] for multiclass
    x_val: np.ndarray
    y_val: np.ndarray
    task: str  # binary | multiclass | regression
    n_classes: int  # 0 for regression
    feature_names: list[str]

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]

    @property
    def rows(self) -> dict:
        """summary.json's rows: the examples the final metrics are measured on (a difference in accuracy between
        runs is judged against their sampling noise)."""
        return {"train": int(len(self.x_train)), "validation": int(len(self.x_val))}


def plane(x_train: np.ndarray, x_val: np.ndarray, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """The x and y coordinates of a resolution x resolution grid around every point of a 2-D data set (15% margin):
    where decision boundaries are drawn."""
    points = np.concatenate([x_train, x_val]) if len(x_val) else x_train
    low, high = points.min(axis=0), points.max(axis=0)
    pad = 0.15 * (high - low) + 1e-3
    return tuple(np.linspace(low[i] - pad[i], high[i] + pad[i], resolution) for i in range(2))


def ushape_path() -> Path:
    """The packaged copy of data/ushape.csv (works from any folder and after a non-editable install)."""
    return Path(str(resources.files("initlab") / "datasets" / "ushape.csv"))


def _ushape(cfg, rng):
    # numpy, not pandas: planning a sweep loads its data, and pandas' import alone costs ~0.5 s; the floats are the
    # same bits (tests/test_data.py)
    table = np.loadtxt(ushape_path(), delimiter=",", skiprows=1)  # X, Y, class
    return table[:, :2], table[:, 2].astype(np.int64), ["X", "Y"]


def _moons(cfg, rng):
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=cfg.n_samples, noise=cfg.noise, random_state=_seed(rng))
    return x, y, ["x1", "x2"]


def _circles(cfg, rng):
    from sklearn.datasets import make_circles

    x, y = make_circles(n_samples=cfg.n_samples, noise=cfg.noise, factor=cfg.factor, random_state=_seed(rng))
    return x, y, ["x1", "x2"]


def _blobs(cfg, rng):
    from sklearn.datasets import make_blobs

    x, y = make_blobs(
        n_samples=cfg.n_samples, centers=cfg.centers, n_features=cfg.n_features,
        cluster_std=cfg.cluster_std, random_state=_seed(rng),
    )
    return x, y, [f"x{i + 1}" for i in range(cfg.n_features)]


def _xor(cfg, rng):
    """Points uniform in [-1, 1]^2, class 1 where the signs of the two coordinates differ."""
    clean = rng.uniform(-1, 1, size=(cfg.n_samples, 2))
    y = (clean[:, 0] * clean[:, 1] < 0).astype(int)
    return clean + rng.normal(0, cfg.noise, size=clean.shape), y, ["x1", "x2"]


def _spiral(cfg, rng):
    """Two interleaved arms r = t, angle = 2*pi*turns*t (+pi for class 1), t uniform in (0, 1]."""
    y = np.arange(cfg.n_samples) % 2
    t = rng.uniform(0.05, 1.0, size=cfg.n_samples)
    angle = 2 * np.pi * cfg.turns * t + np.pi * y
    x = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1)
    x += rng.normal(0, cfg.noise * 0.1, size=x.shape)
    order = rng.permutation(cfg.n_samples)
    return x[order], y[order], ["x1", "x2"]


def _gaussian(cfg, rng):
    """Standard-normal inputs, n_features wide; class = sign of a random projection; a `noise` fraction flipped."""
    x = rng.standard_normal((cfg.n_samples, cfg.n_features))
    projection = rng.standard_normal(cfg.n_features)
    y = (x @ projection > 0).astype(int)
    flip = rng.uniform(size=cfg.n_samples) < cfg.noise
    return x, np.where(flip, 1 - y, y), [f"x{i + 1}" for i in range(cfg.n_features)]


def _salary(cfg, rng):
    """salary (lakhs a year) = 2 * CGPA + 0.1 * IQ - 10 + N(0, noise^2), CGPA ~ U[5, 10], IQ ~ N(100, 15^2)."""
    cgpa = rng.uniform(5, 10, size=cfg.n_samples)
    iq = rng.normal(100, 15, size=cfg.n_samples)
    salary = 2 * cgpa + 0.1 * iq - 10 + rng.normal(0, cfg.noise, size=cfg.n_samples)
    return np.stack([cgpa, iq], axis=1), salary, ["cgpa", "iq"]


def _digits(cfg, rng):
    """scikit-learn's bundled 8x8 digits (no download): 64 pixel intensities 0-16, labels 0-9."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    n = cfg.n_samples or len(x)
    return x[:n], y[:n], [f"pixel_{i // 8}_{i % 8}" for i in range(64)]


def _uniform(cfg, rng):
    """The Q&A script's data, drawn as it draws them: np.random.seed(s); X = rand(n, f); y = randint(2, size=n).
    target learnable: y = 1 where the features sum to more than f / 2 instead (a line the net can find)."""
    legacy = np.random.RandomState(cfg.numpy_seed)  # the same stream as np.random.seed(s) then np.random.*
    x = legacy.rand(cfg.n_samples, cfg.n_features)
    y = legacy.randint(2, size=cfg.n_samples) if cfg.target == "random" else (x.sum(axis=1) > cfg.n_features / 2)
    return x, y.astype(int), [f"x{i + 1}" for i in range(cfg.n_features)]


def _csv(cfg, rng, base_dir: Path, source: str, allow_large: bool = False):
    path = (base_dir / cfg.path).resolve()
    if not path.is_file():
        what = "is a folder, not a CSV file" if path.is_dir() else "no such file"
        hint = f"'{cfg.path}' is read relative to the config file's folder"
        raise UserError(f"{what}: {path} ({hint})", source, "data.path")
    too_large = limits.over(f"bytes in {path.name}", path.stat().st_size, limits.MAX_CSV_BYTES)
    if too_large and not allow_large:
        raise UserError(too_large, source, "data.path")
    frame = _read_csv(path, source)
    columns = [str(c) for c in frame.columns]
    for key, wanted in [("data.features", c) for c in cfg.features] + [("data.target", cfg.target)]:
        if wanted not in columns:
            raise UserError(
                f"no column '{wanted}' in {path.name}{did_you_mean(wanted, columns)}; columns: {', '.join(columns)}",
                source, key,
            )
    if len(frame) < 2:
        raise UserError(f"{path.name} has {len(frame)} data rows; at least 2 are needed", source, "data.path")
    for column in dict.fromkeys(cfg.features + [cfg.target]):
        frame[column] = _numeric(frame[column], column, path.name, source)
    return frame[cfg.features].to_numpy(float), frame[cfg.target].to_numpy(), list(cfg.features)


def _read_csv(path: Path, source: str):
    """The CSV as a DataFrame with a plain row index; unreadable, empty or ragged files are UserErrors."""
    import pandas as pd

    if _first_row_too_long(path):
        raise UserError(f"{path.name} line 2 has more cells than the header", source, "data.path")
    try:
        # index_col=False: pandas never turns first columns into an index (a later long row is a ParserError)
        return pd.read_csv(path, keep_default_na=False, index_col=False)  # 'nan', 'NA' stay text, said as written
    except pd.errors.EmptyDataError:
        raise UserError(f"{path} is empty", source, "data.path") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is not a readable CSV ({exc})", source, "data.path") from None


def _first_row_too_long(path: Path) -> bool:
    """Whether the first data row has more cells than the header: pandas would warn and drop the extra cells
    (slowly, for a very long row)."""
    import csv

    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as handle:
            reader = csv.reader(handle)
            header, first = next(reader, []), next(reader, [])
    except csv.Error:  # a cell beyond the csv module's size limit, say: pandas reads it and says what is wrong
        return False
    return len(first) > len(header)


FLOAT32_MAX = float(np.finfo(np.float32).max)  # the model trains in float32: larger values would become inf


def _numeric(values, column: str, file_name: str, source: str):
    """A column as finite float32-sized floats; the first text, empty, infinite or too large cell is a UserError
    naming its line."""
    import pandas as pd

    text = values.astype(str).str.strip()
    empty = values.isna() | (text == "")  # missing cells of a short row are NaN, empty ones ''
    numbers = pd.to_numeric(text.where(~empty, "0"), errors="coerce")
    spelled_nan = text.str.lower().isin(["nan", "+nan", "-nan"])
    problems = [
        (empty, "has an empty cell"),
        (numbers.isna() & ~spelled_nan, "is not numeric: {}"),
        (~np.isfinite(numbers), "is not finite: {}"),
        (numbers.abs() > FLOAT32_MAX, f"is beyond float32's range (magnitude at most {FLOAT32_MAX:.3g}): {{}}"),
    ]
    for bad, what in problems:
        if bad.any():
            row = int(np.argmax(bad.to_numpy())) + 2  # 1-based, after the header line
            what = what.format(shown(text[bad].iloc[0]))
            raise UserError(f"column '{column}' {what} on line {row} of {file_name}", source, "data.path")
    return numbers


GENERATORS = {
    "ushape": _ushape, "moons": _moons, "circles": _circles, "xor": _xor, "spiral": _spiral,
    "blobs": _blobs, "gaussian": _gaussian, "salary": _salary, "digits": _digits, "uniform": _uniform,
}
REGRESSION = {"salary"}


def depends_on_seed(dataset: str) -> bool:
    """Whether the run seed generates the rows (generators do; the U-shape file and a user's CSV do not)."""
    return dataset not in ("ushape", "csv", "digits", "uniform")


def _seed(rng) -> int:
    return int(rng.integers(0, 2**31 - 1))


def _task(dataset: str, y: np.ndarray) -> tuple[str, int]:
    if dataset in REGRESSION:
        return "regression", 0
    if dataset == "csv" and not np.allclose(y, np.round(y)):
        return "regression", 0
    n_classes = len(np.unique(y))
    return ("binary" if n_classes <= 2 else "multiclass"), max(n_classes, 2)


def split_at(n_rows: int, validation_split: float) -> int:
    """Where Keras `fit(validation_split=...)` cuts: the first floor(n * (1 - split)) rows train."""
    return int(np.floor(n_rows * (1.0 - validation_split)))


def _shuffled_split(x, y, validation_split: float, split_seed: int):
    """Rows reordered as sklearn's train_test_split(test_size=validation_split, random_state=split_seed) splits
    them, training part first; and where it cuts."""
    from sklearn.model_selection import train_test_split

    train, held_out = train_test_split(np.arange(len(x)), test_size=validation_split, random_state=split_seed)
    order = np.concatenate([train, held_out])
    return np.asarray(x)[order], np.asarray(y)[order], len(train)


def load_dataset(cfg, seed: int, base_dir: Path = Path("."), source: str = "config", allow_large: bool = False) -> Dataset:
    """The data a config describes, split (the last rows held out, as in Keras, or shuffled) and optionally
    standardized. `allow_large` lifts the limit on a CSV file's size (the generators' limits are checked with the
    config)."""
    rng = np.random.default_rng(seed)
    if cfg.dataset == "csv":
        x, y, names = _csv(cfg, rng, base_dir, source, allow_large)
    else:
        x, y, names = GENERATORS[cfg.dataset](cfg, rng)
    task, n_classes = _task(cfg.dataset, np.asarray(y, float))
    labels = np.unique(y)
    if task == "regression":
        y = np.asarray(y, np.float32).reshape(-1, 1)
    else:
        # class labels become 0..k-1 in sorted order ({-1, 1} -> {0, 1})
        y = np.searchsorted(np.unique(y), y).astype(np.int32)
        y = y.reshape(-1, 1).astype(np.float32) if task == "binary" else y
    if cfg.split == "shuffled" and cfg.validation_split > 0:
        try:
            x, y, cut = _shuffled_split(x, y, cfg.validation_split, cfg.split_seed)
        except ValueError as exc:  # scikit-learn refuses a split that leaves one side empty
            raise UserError(f"{cfg.validation_split} of {len(x)} rows: {exc}", source, "data.validation_split") from None
    else:
        cut = split_at(len(x), cfg.validation_split)
    if cut < 1:
        raise UserError(
            f"{cfg.validation_split} of {len(x)} rows leaves no training rows", source, "data.validation_split"
        )
    if cut == len(x) and cfg.validation_split > 0:
        raise UserError(
            f"{cfg.validation_split} of {len(x)} rows leaves no validation rows", source, "data.validation_split"
        )
    if task != "regression" and len(labels) < 2:  # after the split's checks: a bad split is the clearer message
        key = "data.target" if cfg.dataset == "csv" else "data.n_samples"
        raise UserError(f"the target has one class only ({labels[0]:g}); a classifier needs two or more", source, key)
    x = np.asarray(x, np.float64)
    if cfg.standardize:
        mean, std = x[:cut].mean(axis=0), x[:cut].std(axis=0)
        x = (x - mean) / np.where(std > 0, std, 1.0)
    x = x.astype(np.float32)
    return Dataset(x[:cut], y[:cut], x[cut:], y[cut:], task, n_classes, names)
