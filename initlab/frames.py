"""Decision-boundary frames: a 2-D classifier's predictions on a fixed grid at chosen recorded epochs, the records
boundary.gif is drawn from (frames come from the weights of their epoch, never from training again)."""

import numpy as np

from .backend import tf as _tf
from .data import Dataset, plane

FRAMES = 40  # at most this many frames: a few dozen, dense early where initialization matters
RESOLUTION = 80  # grid points per axis


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
