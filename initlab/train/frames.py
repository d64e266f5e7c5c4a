"""Decision-boundary frames: a 2-D classifier's predictions on a fixed grid at chosen recorded epochs, the records
boundary.gif is drawn from (frames come from the weights of their epoch, never from training again)."""

import numpy as np

from initlab.base.backend import tf as _tf
from initlab.train.data import Dataset, plane

FRAMES = 40  # at most this many frames: a few dozen, dense early where initialization matters
RESOLUTION = 80  # grid points per axis
STILL_RESOLUTION = 150  # the final picture's grid: finer, for a smooth boundary line


def drawable(data: Dataset) -> bool:
    return data.n_features == 2 and data.task != "regression"


def frame_epochs(recorded: list[int], count: int = FRAMES) -> set[int]:
    """Up to `count` of the recorded epochs: all of them when they are few; else the first count/2, then count/2
    log-spaced to the last."""
    if len(recorded) <= count:
        return set(recorded)
    early = count // 2
    later = np.round(np.geomspace(early, len(recorded) - 1, count - early)).astype(int)
    return {recorded[i] for i in np.unique(np.concatenate([np.arange(early), later]))}


class Frames:
    """Captures the model's view of the plane around the data: P(class 1) for a binary task, the predicted class for
    a multiclass one, with the training accuracy of the same weights."""

    def __init__(self, model, data: Dataset):
        self.model, self.data = model, data
        self.xs, self.ys = plane(data.x_train, data.x_val, RESOLUTION)
        gx, gy = np.meshgrid(self.xs, self.ys)
        self.grid = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
        self.multiclass = data.task == "multiclass"
        self.epochs, self.accuracy, self.values = [], [], []
        tf = _tf()
        self.inputs = tf.constant(np.concatenate([self.grid, data.x_train]))
        # compiled once: up to FRAMES eager forward passes of grid and data cost ten times more than one trace
        self.predict = tf.function(lambda x: model(x, training=False), autograph=False)

    def capture(self, epoch: int) -> None:
        predicted = self.predict(self.inputs).numpy()
        on_grid, on_train = predicted[: len(self.grid)], predicted[len(self.grid) :]
        truth = np.asarray(self.data.y_train).ravel()
        if self.multiclass:
            value, predicted = on_grid.argmax(axis=1), on_train.argmax(axis=1)
        else:
            value, predicted = on_grid[:, 0], (on_train[:, 0] > 0.5).astype(truth.dtype)
        self.epochs.append(epoch)
        self.accuracy.append(float(np.mean(predicted == truth)))
        self.values.append(value.reshape(len(self.ys), len(self.xs)).astype(np.float16))

    def records(self) -> dict[str, np.ndarray]:
        """What boundary.npz holds: epoch, accuracy, value [frames, y, x], the grid's x and y, multiclass."""
        return {"epoch": np.array(self.epochs), "accuracy": np.array(self.accuracy), "value": np.stack(self.values),
                "x": self.xs, "y": self.ys, "multiclass": np.array(self.multiclass)}


def still(model, data: Dataset, resolution: int = STILL_RESOLUTION) -> dict[str, np.ndarray]:
    """What boundary.png is drawn from, kept in boundary.npz beside the frames: the model's view of the plane on a
    finer grid (final_value [y, x], final_x, final_y), the data drawn on it and its feature names (the plane's axes),
    so that pictures need no model."""
    value, xs, ys, multiclass = view(lambda grid: model(grid, training=False), data.x_train, data.x_val, resolution)
    return {"final_value": value.astype(np.float16), "final_x": xs, "final_y": ys, "multiclass": np.array(multiclass),
            "x_train": data.x_train, "y_train": data.y_train, "x_val": data.x_val, "y_val": data.y_val,
            "features": np.array(data.feature_names, str)}


def view(predict, x_train, x_val, resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """(value [y, x], xs, ys, multiclass): `predict` (a map of [n, 2] points to class-1 probabilities or class
    scores) on the plane around the data, as P(class 1) or the predicted class."""
    xs, ys = plane(x_train, x_val, resolution)
    gx, gy = np.meshgrid(xs, ys)
    scores = np.asarray(predict(np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)))
    multiclass = scores.ndim == 2 and scores.shape[1] > 1
    return (scores.argmax(axis=1) if multiclass else scores).reshape(gx.shape), xs, ys, multiclass


def shown_weights(epochs_run: int, final: dict) -> dict[str, np.ndarray]:
    """boundary.npz's account of the final weights that boundary.png shows, for its heading: their epoch and their
    training and validation accuracy (summary.json's `final`; NaN where there is none)."""
    accuracy = lambda key: np.array(np.nan if final.get(key) is None else float(final[key]))  # noqa: E731
    return {"final_epoch": np.array(epochs_run), "final_accuracy": accuracy("accuracy"),
            "final_val_accuracy": accuracy("val_accuracy")}
