"""A user's data for their own model: a .npz (x_train, y_train, optional x_val, y_val), a CSV or a folder of images
per class, with the task read from the targets."""

from pathlib import Path

import numpy as np

from initlab.base.errors import UserError
from initlab.train.data import Dataset, split_at

NPZ_KEYS = ("x_train", "y_train", "x_val", "y_val")
MAX_CLASSES = 1000  # integer targets with more distinct values than this are read as a regression


def load(cfg, base_dir: Path, source: str) -> Dataset:
    """The training and validation parts of cfg (a UserData), checked: finite numbers, matching rows."""
    if cfg.npz is not None:
        parts = _npz(base_dir / cfg.npz, source)
    elif cfg.csv is not None:
        parts = _csv(cfg, base_dir / cfg.csv, source)
    elif cfg.builtin is not None:
        parts = {"digits": _digits, "adding": _adding}[cfg.builtin](cfg)
    else:
        parts = _images(cfg, base_dir / cfg.images, source)
    x_train, y_train, x_val, y_val = parts
    if x_val is None:
        cut = split_at(len(x_train), cfg.validation_split)
        x_train, x_val, y_train, y_val = x_train[:cut], x_train[cut:], y_train[:cut], y_train[cut:]
    if cfg.standardize:
        axes = tuple(range(x_train.ndim - 1))
        mean, std = x_train.mean(axis=axes), x_train.std(axis=axes)
        std[std == 0] = 1
        x_train, x_val = (x_train - mean) / std, (x_val - mean) / std
    task, n_classes = task_of(np.concatenate([y_train, y_val]))
    if task == "multiclass":
        y_train, y_val = y_train.astype(np.int32).reshape(-1), y_val.astype(np.int32).reshape(-1)
    else:
        y_train, y_val = (y.astype(np.float32).reshape(len(y), -1) for y in (y_train, y_val))
    names = list(cfg.features) if cfg.csv is not None else \
        [f"x{i + 1}" for i in range(x_train.shape[1])] if x_train.ndim == 2 else []  # images, sequences: none
    return Dataset(x_train.astype(np.float32), y_train, x_val.astype(np.float32), y_val, task, n_classes, names)


def task_of(y: np.ndarray) -> tuple[str, int]:
    """binary (targets 0 and 1), multiclass (integers 0..k-1) or regression (anything else)."""
    flat = y.reshape(len(y), -1)
    if flat.shape[1] == 1 and len(y) and np.all(np.equal(np.mod(flat, 1), 0)) and flat.min() >= 0:
        classes = int(flat.max()) + 1
        if classes == 2:
            return "binary", 2
        if 2 < classes <= MAX_CLASSES:
            return "multiclass", classes
    return "regression", 0


def _checked(name: str, value, source: str, path: Path) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise UserError(f"{name} holds {array.dtype} values; expected numbers", source, f"data ({path.name})")
    if array.ndim == 0 or len(array) == 0:
        raise UserError(f"{name} is empty", source, f"data ({path.name})")
    if not np.all(np.isfinite(array)):
        raise UserError(f"{name} holds NaN or infinite values ({int(np.sum(~np.isfinite(array)))} of them)", source,
                        f"data ({path.name})")
    return array


def _npz(path: Path, source: str):
    if not path.is_file():
        raise UserError(f"no such file: {path}", source, "data.npz")
    try:
        with np.load(path, allow_pickle=False) as stored:
            found = {key: stored[key] for key in stored.files}
    except (OSError, ValueError, EOFError) as exc:
        raise UserError(f"not a readable .npz file ({type(exc).__name__}: {str(exc)[:120]})", source, "data.npz") from None
    missing = [key for key in NPZ_KEYS[:2] if key not in found]
    unknown = sorted(set(found) - set(NPZ_KEYS))
    if missing or unknown or (("x_val" in found) != ("y_val" in found)):
        raise UserError(f"{path.name} holds {', '.join(sorted(found)) or 'nothing'}; expected x_train, y_train and "
                        "optionally x_val with y_val", source, "data.npz")
    arrays = [_checked(key, found[key], source, path) if key in found else None for key in NPZ_KEYS]
    for x, y, part in ((arrays[0], arrays[1], "train"), (arrays[2], arrays[3], "val")):
        if x is not None and len(x) != len(y):
            raise UserError(f"x_{part} has {len(x)} rows, y_{part} {len(y)}", source, "data.npz")
    if arrays[2] is not None and arrays[2].shape[1:] != arrays[0].shape[1:]:
        raise UserError(f"x_val's rows are {arrays[2].shape[1:]}, x_train's {arrays[0].shape[1:]}", source, "data.npz")
    return arrays


def _csv(cfg, path: Path, source: str):
    import pandas as pd

    if not path.is_file():
        raise UserError(f"no such file: {path}", source, "data.csv")
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"not a readable CSV ({type(exc).__name__})", source, "data.csv") from None
    absent = [c for c in [*cfg.features, cfg.target] if c not in table.columns]
    if absent:
        raise UserError(f"no column {', '.join(map(repr, absent))}; it has {', '.join(map(str, table.columns))}",
                        source, "data.features" if cfg.target not in absent else "data.target")
    try:
        x, y = table[cfg.features].to_numpy(np.float64), table[[cfg.target]].to_numpy(np.float64)
    except ValueError:
        raise UserError("the features and target must be numbers", source, "data.csv") from None
    return _checked("the features", x, source, path), _checked("the target", y, source, path), None, None


def _digits(cfg):
    """scikit-learn's 8x8 digits as one-channel images in [0, 1], in its own order."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.images / 16.0)[..., None], digits.target, None, None


def _adding(cfg):
    """The adding problem: each step holds a value in U[0, 1] and a marker; two steps are marked, one in each half
    of the sequence, and the target is the sum of their values (predicting 1 always: mse 1/6)."""
    rng = np.random.default_rng(0)  # the same sequences for every run: runs differ in their initial weights only
    n, length = cfg.n_samples, cfg.length
    values = rng.uniform(0, 1, (n, length))
    first, second = rng.integers(0, length // 2, n), rng.integers(length // 2, length, n)
    markers = np.zeros((n, length))
    markers[np.arange(n), first] = markers[np.arange(n), second] = 1
    x = np.stack([values, markers], axis=-1)
    return x, (values * markers).sum(axis=1, keepdims=True), None, None


def _images(cfg, folder: Path, source: str):
    from initlab.base.backend import keras

    if not folder.is_dir():
        raise UserError(f"no such folder: {folder}", source, "data.images")
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise UserError(f"holds {len(classes)} class folder(s); a classification needs one subfolder per class, at "
                        "least two", source, "data.images")
    try:
        loaded = keras().utils.image_dataset_from_directory(
            folder, labels="inferred", label_mode="int", image_size=tuple(cfg.image_size), shuffle=False,
            batch_size=None, verbose=False)
        pairs = list(loaded.as_numpy_iterator())
    except Exception as exc:  # noqa: BLE001 - TensorFlow's decoders raise many kinds for an unreadable file
        raise UserError(f"cannot read the images ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})", source,
                        "data.images") from None
    if not pairs:
        raise UserError("holds no images Keras can read (jpeg, png, bmp, gif)", source, "data.images")
    x = np.stack([p[0] for p in pairs]) / 255.0
    y = np.array([p[1] for p in pairs])
    order = np.random.default_rng(0).permutation(len(x))  # classes are stored in turn: the split takes every class
    return x[order], y[order], None, None
