"""Two ways to train the same compiled Keras model: `keras` (model.fit, the reference) and `fast` (one tf.function)."""

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .backend import keras as _keras, tf as _tf
from .data import Dataset


@dataclass
class Outcome:
    history: list[dict] = field(default_factory=list)  # one row per finished epoch: epoch, loss, <metric>, val_...
    diverged_at: int | None = None  # the epoch whose loss (or weights) turned NaN or infinite
    last_finite_weights: list[np.ndarray] | None = None
    final: dict = field(default_factory=dict)  # loss and metric of the final weights on the training and validation parts


def record_epochs(epochs: int, every: int) -> list[int]:
    """Epoch 0 (before any update), every `every`-th epoch, and the last."""
    return sorted({0, epochs, *range(every, epochs + 1, every)})


def epoch_order(seed: int, epoch, n: int):
    """The training rows' order in one epoch: a permutation fixed by (seed, epoch), the same in any process."""
    tf = _tf()
    return tf.random.experimental.stateless_shuffle(tf.range(n), seed=tf.stack([tf.cast(seed, tf.int32), tf.cast(epoch, tf.int32)]))


def over_batches(n, size: int, batch, totals: tuple) -> tuple:
    """totals after batch(start, totals) for start = 0, size, 2 * size, ... < n, as one tf.while_loop. Loops are
    written out, not left to autograph: autograph rewrites every Keras function a loop calls, ~1 s of tracing."""
    tf = _tf()
    totals = tuple(tf.convert_to_tensor(t, tf.float32) for t in totals)
    _, totals = tf.while_loop(lambda start, _: start < n, lambda start, t: (start + size, batch(start, t)),
                              (tf.constant(0), totals))
    return totals


def metric_function(task: str):
    """The per-sample metric `fit` reports beside the loss, as Keras computes it."""
    keras = _keras()
    return {
        "binary": keras.metrics.binary_accuracy,
        "multiclass": keras.metrics.sparse_categorical_accuracy,
        "regression": keras.metrics.mean_absolute_error,
    }[task]


def _finite(values) -> bool:
    return all(np.all(np.isfinite(v)) for v in values)


def train_keras(
    model, data: Dataset, config, metric: str, on_record: Callable[[int], None], tensorboard_dir: str | None = None
) -> Outcome:
    """Plain `model.fit` with TerminateOnNaN (and TensorBoard on request); records taken at epoch ends."""
    keras = _keras()
    outcome = Outcome(last_finite_weights=model.get_weights())
    wanted = set(record_epochs(config.train.epochs, config.record.every))

    class Recorder(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            done = epoch + 1
            weights = self.model.get_weights()
            if not (np.isfinite(logs.get("loss", np.nan)) and _finite(weights)):
                outcome.diverged_at = done
                self.model.stop_training = True
                self.model.set_weights(outcome.last_finite_weights)
                return
            outcome.last_finite_weights = weights
            if done in wanted:
                on_record(done)

    callbacks = [keras.callbacks.TerminateOnNaN(), Recorder()]
    if tensorboard_dir:
        callbacks.append(keras.callbacks.TensorBoard(tensorboard_dir, histogram_freq=config.record.every))
    on_record(0)
    has_val = len(data.x_val) > 0
    fit = model.fit(
        data.x_train, data.y_train,
        validation_data=(data.x_val, data.y_val) if has_val else None,
        epochs=config.train.epochs, batch_size=config.train.batch_size, shuffle=config.train.shuffle,
        callbacks=callbacks, verbose=0,
    )
    logs = fit.history
    for i in range(len(logs["loss"])):
        row = {"epoch": i + 1, "loss": logs["loss"][i], metric: logs[metric][i]}
        row["val_loss"] = logs["val_loss"][i] if has_val else np.nan
        row[f"val_{metric}"] = logs[f"val_{metric}"][i] if has_val else np.nan
        outcome.history.append(row)
    size = config.train.batch_size
    for prefix, x, y in (("", data.x_train, data.y_train), ("val_", data.x_val, data.y_val)):
        scores = model.evaluate(x, y, batch_size=size, verbose=0, return_dict=True) if len(x) else {}
        outcome.final[f"{prefix}loss"] = scores.get("loss", np.nan)
        outcome.final[f"{prefix}{metric}"] = scores.get(metric, np.nan)
    return outcome


class FastLoop:
    """The whole training of a compiled model as one tf.function: epochs and batches are graph loops,
    the loss is the model's compiled loss, the optimizer its own, metrics accumulated exactly as `fit` does."""

    def __init__(self, model, data: Dataset, config, task: str):
        tf = _tf()
        self.model, self.config = model, config
        self.x, self.y = tf.constant(data.x_train), tf.constant(data.y_train)
        self.x_val, self.y_val = tf.constant(data.x_val), tf.constant(data.y_val)
        self.has_val = len(data.x_val) > 0
        self.metric = metric_function(task)
        self.variables = model.trainable_variables
        model.optimizer.build(self.variables)
        self.backup = [tf.Variable(v, trainable=False) for v in self.variables]
        self.run_epochs = tf.function(self._run_epochs, autograph=False)

    def _step(self, xb, yb):
        tf = _tf()
        with tf.GradientTape() as tape:
            y_pred = self.model(xb, training=True)
            loss = self.model.compute_loss(x=xb, y=yb, y_pred=y_pred, training=True)
        grads = tape.gradient(loss, self.variables)
        self.model.optimizer.apply_gradients(zip(grads, self.variables))
        return loss, y_pred

    def _mean_over_batches(self, x, y, order, step):
        """(mean loss, mean metric) over batches of x[order], each batch's loss weighted by its size (Keras's Mean)."""
        tf = _tf()
        size = self.config.train.batch_size

        def batch(start, totals):
            loss_total, metric_total, count = totals
            rows = order[start : start + size]
            xb, yb = tf.gather(x, rows), tf.gather(y, rows)
            loss, y_pred = step(xb, yb)
            batch_rows = tf.cast(tf.shape(xb)[0], tf.float32)
            return (loss_total + loss * batch_rows,
                    metric_total + tf.reduce_sum(tf.cast(self.metric(yb, y_pred), tf.float32)), count + batch_rows)

        loss_total, metric_total, count = over_batches(tf.shape(x)[0], size, batch, (0.0, 0.0, 0.0))
        return tf.math.divide_no_nan(loss_total, count), tf.math.divide_no_nan(metric_total, count)

    def _evaluate(self, xb, yb):
        y_pred = self.model(xb, training=False)
        return self.model.compute_loss(x=xb, y=yb, y_pred=y_pred, training=False), y_pred

    def evaluate(self, x, y):
        tf = _tf()
        return self._mean_over_batches(x, y, tf.range(tf.shape(x)[0]), self._evaluate)

    def _run_epochs(self, first_epoch, n_epochs):
        """Epochs first_epoch+1 .. first_epoch+n_epochs; stops after an epoch whose loss or weights are not finite,
        putting back the weights from before it. Returns (rows [k, 4], k, diverged)."""
        tf = _tf()
        n = tf.shape(self.x)[0]

        def epoch_body(i, rows, diverged):
            for saved, variable in zip(self.backup, self.variables):
                saved.assign(variable)
            epoch = first_epoch + i + 1
            order = epoch_order(self.config.seed, epoch, n) if self.config.train.shuffle else tf.range(n)
            loss, metric = self._mean_over_batches(self.x, self.y, order, self._step)
            if self.has_val:
                val_loss, val_metric = self.evaluate(self.x_val, self.y_val)
            else:
                val_loss, val_metric = tf.constant(np.nan, tf.float32), tf.constant(np.nan, tf.float32)
            rows = rows.write(i, tf.stack([loss, metric, val_loss, val_metric]))
            finite = tf.math.is_finite(loss)
            for variable in self.variables:
                finite = tf.logical_and(finite, tf.reduce_all(tf.math.is_finite(variable)))
            return i + 1, rows, tf.cond(finite, lambda: tf.constant(False), self._restore)

        done, rows, diverged = tf.while_loop(
            lambda i, rows, diverged: tf.logical_and(i < n_epochs, tf.logical_not(diverged)), epoch_body,
            (tf.constant(0), tf.TensorArray(tf.float32, size=n_epochs), tf.constant(False)),
        )
        return rows.stack()[:done], done, diverged

    def _restore(self):
        """Put back the weights from before the epoch; True (diverged)."""
        tf = _tf()
        with tf.control_dependencies([v.assign(saved) for saved, v in zip(self.backup, self.variables)]):
            return tf.constant(True)


def train_fast(model, data: Dataset, config, task: str, metric: str, on_record: Callable[[int], None]) -> Outcome:
    """Train with FastLoop in chunks between record epochs (one compiled graph, called once per chunk)."""
    tf = _tf()
    loop = FastLoop(model, data, config, task)
    outcome = Outcome()
    on_record(0)
    epochs = record_epochs(config.train.epochs, config.record.every)
    for start, stop in zip(epochs, epochs[1:]):
        rows, done, diverged = loop.run_epochs(tf.constant(start), tf.constant(stop - start))
        for k, (loss, value, val_loss, val_value) in enumerate(rows.numpy().tolist()):
            outcome.history.append(
                {"epoch": start + k + 1, "loss": loss, metric: value, "val_loss": val_loss, f"val_{metric}": val_value}
            )
        if bool(diverged):
            outcome.diverged_at = start + int(done)
            break
        on_record(stop)
    outcome.last_finite_weights = model.get_weights()
    for prefix, x, y in (("", loop.x, loop.y), ("val_", loop.x_val, loop.y_val)):
        loss, value = loop.evaluate(x, y) if len(x) else (np.nan, np.nan)
        outcome.final[f"{prefix}loss"], outcome.final[f"{prefix}{metric}"] = float(loss), float(value)
    return outcome
