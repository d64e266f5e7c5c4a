"""Two ways to train the same compiled Keras model: `keras` (model.fit, the reference) and `fast` (one tf.function)."""

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from initlab.base.backend import custom_gradients_forgotten, graph_optimizer_off, keras as _keras, tf as _tf
from initlab.config import cadence
from initlab.train import stats
from initlab.train.data import Dataset
from initlab.train.probes import Probe, activation_name
from initlab.train.run_result import histogram_epochs, keep_samples

CHUNK_RECORDS = 64  # recorded epochs per graph call at most: what comes back stays small
CHUNK_STEPS = 2000  # batch steps per graph call at most (per 16 members): Ctrl-C and progress answer within ~1 s


@dataclass
class Outcome:
    history: list[dict] = field(default_factory=list)  # one row per finished epoch: epoch, loss, <metric>, val_...
    diverged_at: int | None = None  # the epoch whose loss (or weights) turned NaN or infinite
    last_finite_weights: list[np.ndarray] | None = None
    final: dict = field(default_factory=dict)  # loss and metric of the final weights on the training and validation parts
    layer_rows: list[dict] = field(default_factory=list)  # layers.csv rows, from the compiled loop (fast engine)
    samples: dict = field(default_factory=dict)  # 'epoch_<k>/<layer>' raw samples at the kept epochs (fast engine)


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


def all_finite(values) -> bool:
    return all(np.all(np.isfinite(v)) for v in values)


def final_scores(model, data: Dataset, batch_size: int, metric: str) -> dict:
    """The final weights evaluated as summary.json's `final` gives them: loss and metric on the training rows, and
    (val_) on the validation rows; NaN where a part is empty."""
    final = {}
    for prefix, x, y in (("", data.x_train, data.y_train), ("val_", data.x_val, data.y_val)):
        scores = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True) if len(x) else {}
        final[f"{prefix}loss"] = scores.get("loss", np.nan)
        final[f"{prefix}{metric}"] = scores.get(metric, np.nan)
    return final


def train_keras(
    model, data: Dataset, config, metric: str, on_record: Callable[[int], None], tensorboard_dir: str | None = None,
    *, recorded: list[int] | None = None,
) -> Outcome:
    """Plain `model.fit` with TerminateOnNaN (and TensorBoard on request); on_record(epoch) at the end of each
    recorded epoch (`recorded`: the config's cadence.record_epochs, computed by the caller or here)."""
    keras = _keras()
    outcome = Outcome(last_finite_weights=model.get_weights())
    wanted = set(recorded or cadence.record_epochs(config.train.epochs, config.record.every))

    class Recorder(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            done = epoch + 1
            weights = self.model.get_weights()
            if not (np.isfinite(logs.get("loss", np.nan)) and all_finite(weights)):
                outcome.diverged_at = done
                self.model.stop_training = True
                self.model.set_weights(outcome.last_finite_weights)
                return
            outcome.last_finite_weights = weights
            if done in wanted:
                on_record(done)

    callbacks = [keras.callbacks.TerminateOnNaN(), Recorder()]
    if tensorboard_dir:
        callbacks.append(keras.callbacks.TensorBoard(tensorboard_dir, histogram_freq=_every_int(config.record.every)))
    on_record(0)
    has_val = len(data.x_val) > 0
    with custom_gradients_forgotten():
        fit = model.fit(
            data.x_train, data.y_train,
            validation_data=(data.x_val, data.y_val) if has_val else None,
            epochs=config.train.epochs, batch_size=config.train.batch_size, shuffle=config.train.shuffle,
            callbacks=callbacks, verbose=0,
        )
    logs = fit.history
    for i in range(len(logs.get("loss", []))):  # epochs 0: fit trains nothing and logs nothing
        row = {"epoch": i + 1, "loss": logs["loss"][i], metric: logs[metric][i]}
        row["val_loss"] = logs["val_loss"][i] if has_val else np.nan
        row[f"val_{metric}"] = logs[f"val_{metric}"][i] if has_val else np.nan
        outcome.history.append(row)
    outcome.final = final_scores(model, data, config.train.batch_size, metric)
    return outcome


def _every_int(every) -> int:
    return every if isinstance(every, int) else 1  # auto: TensorBoard's own cadence has no log spacing


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
        self.probe = Probe(model, data.x_train, data.y_train)  # its forward pass and gradients, traced into the loop
        self.names = [layer.name for layer in self.probe.recorded]  # layers.csv's rows: weighted layers, block sums
        self.sample_names = [layer.name for layer in self.probe.layers]  # raw samples: the weighted layers'
        self.activations = [activation_name(layer) for layer in self.probe.layers]
        self.k, self.batch_size, self.probe_rows = 1, config.train.batch_size, int(self.probe.x.shape[0])
        self.kernel_shapes = [tuple(layer.kernel.shape) for layer in self.probe.layers]
        self.widths = [int(layer.output.shape[-1]) for layer in self.probe.recorded]
        # where each row comes from in [weighted layers..., block sums...]
        self.row_order = [(self.probe.layers + self.probe.streams).index(layer) for layer in self.probe.recorded]
        self.run_chunk = chunk_function(self)

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

    def epoch(self, epoch, active):
        """Train epoch `epoch`: (its row [4, 1]: loss, metric, val_loss, val_metric; still finite [1]). An epoch whose
        loss or weights are not finite gets the weights from before it back."""
        tf = _tf()
        for saved, variable in zip(self.backup, self.variables):
            saved.assign(variable)
        n = tf.shape(self.x)[0]
        order = epoch_order(self.config.seed, epoch, n) if self.config.train.shuffle else tf.range(n)
        loss, metric = self._mean_over_batches(self.x, self.y, order, self._step)
        if self.has_val:
            val_loss, val_metric = self.evaluate(self.x_val, self.y_val)
        else:
            val_loss, val_metric = tf.constant(np.nan, tf.float32), tf.constant(np.nan, tf.float32)
        finite = tf.math.is_finite(loss)
        for variable in self.variables:
            finite = tf.logical_and(finite, tf.reduce_all(tf.math.is_finite(variable)))
        diverged = tf.cond(finite, lambda: tf.constant(False), self._restore)
        return tf.stack([loss, metric, val_loss, val_metric])[:, None], tf.logical_not(diverged)[None]

    def measure(self):
        """stats.measure of the model as it is, on the probe batch, as a population of one (a residual net's block
        sums placed among its layers, in graph order)."""
        tf = _tf()
        outputs, grads, streams = self.probe.forward_and_gradients(self.probe.x, self.probe.y)
        layers = self.probe.layers
        biases = [layer.bias if getattr(layer, "bias", None) is not None else tf.zeros(layer.kernel.shape[-1])
                  for layer in layers]
        measured = stats.all_layer_statistics(
            self.activations, [o[None] for o in outputs], [layer.kernel[None] for layer in layers],
            [b[None] for b in biases], [g[None] for g in grads])
        return stats.with_sums(*measured, [a[None] for a in streams], self.row_order)

    def _restore(self):
        """Put back the weights from before the epoch; True (diverged)."""
        tf = _tf()
        with tf.control_dependencies([v.assign(saved) for saved, v in zip(self.backup, self.variables)]):
            return tf.constant(True)


def chunk_function(loop):
    """The compiled chunk of a FastLoop or a Population `loop` (K members, its `epoch(epoch, active)` and `measure()`):
    from first_epoch, train to each of `stops` in turn and measure there, while a member is still finite.
    Returns (rows [epochs, 4, K], newly diverged [epochs, K], statistics [stops, K, layers, 7] and distinct units
    [stops, K, layers] at each stop reached, still finite [K], and per member its latest measurement at a `recorded`
    stop: that stop (-1: none) and the raw samples of it)."""
    tf = _tf()
    shapes = stats.sample_shapes(loop.k, loop.probe_rows, loop.kernel_shapes)

    def run_chunk(first_epoch, stops, recorded, active):
        def segment(j, epoch, active, rows, diverged, values, distinct, latest_epoch, latest):
            def train(epoch, active, rows, diverged):
                row, still = loop.epoch(epoch + 1, active)
                i = epoch - first_epoch
                return epoch + 1, still, rows.write(i, row), diverged.write(i, tf.logical_and(active, tf.logical_not(still)))

            epoch, active, rows, diverged = tf.while_loop(
                lambda epoch, active, *_: tf.logical_and(epoch < stops[j], tf.reduce_any(active)), train,
                (epoch, active, rows, diverged))
            v, d, samples = loop.measure()
            fresh = tf.logical_and(active, recorded[j])
            latest = [tf.where(tf.reshape(fresh, [-1] + [1] * (len(new.shape) - 1)), new, old)
                      for new, old in zip(samples, latest)]
            latest_epoch = tf.where(fresh, epoch, latest_epoch)
            return j + 1, epoch, active, rows, diverged, values.write(j, v), distinct.write(j, d), latest_epoch, latest

        k, layers = loop.k, len(loop.names)
        array = lambda dtype, shape: tf.TensorArray(dtype, size=0, dynamic_size=True, element_shape=shape)  # noqa: E731
        state = (tf.constant(0), first_epoch, active, array(tf.float32, [4, k]), array(tf.bool, [k]),
                 array(tf.float64, [k, layers, len(stats.STATISTICS)]), array(tf.int32, [k, layers]),
                 tf.fill([k], -1), [tf.zeros(shape, tf.float32) for shape in shapes])
        _, _, active, rows, diverged, values, distinct, latest_epoch, latest = tf.while_loop(
            lambda j, epoch, active, *_: tf.logical_and(j < tf.shape(stops)[0], tf.reduce_any(active)), segment, state)
        return rows.stack(), diverged.stack(), values.stack(), distinct.stack(), active, latest_epoch, latest

    signature = [tf.TensorSpec([], tf.int32), tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.bool),
                 tf.TensorSpec([loop.k], tf.bool)]
    return tf.function(run_chunk, input_signature=signature, autograph=False)  # loops written out: see over_batches


def chunks(recorded: list[int], ends: set[int], most_epochs: int) -> list[tuple[int, list[int], list[bool]]]:
    """The recorded epochs (0 first) cut into graph calls: (first epoch, stops, whether each stop is recorded).
    A call ends at each epoch of `ends`, after CHUNK_RECORDS stops, and before it would span more than most_epochs
    epochs; a long stretch without records is cut into unrecorded stops."""
    out, first, position, stops, flags = [], 0, 0, [], []

    def close():
        nonlocal first, stops, flags
        out.append((first, stops, flags))
        first, stops, flags = position, [], []

    for epoch in recorded:
        if stops and epoch - first > most_epochs:
            close()
        while epoch - position > most_epochs:
            position += most_epochs
            stops.append(position)
            flags.append(False)
            close()
        stops.append(epoch)
        flags.append(True)
        position = epoch
        if epoch in ends or len(stops) >= CHUNK_RECORDS:
            close()
    if stops:
        close()
    return out


def train_chunks(loop, outcomes: list[Outcome], metric: str, recorded: list[int], ends: set[int], keep: set[int],
                 on_chunk: Callable[[int], None]) -> None:
    """Train a FastLoop or Population through the recorded epochs, chunk by chunk, filling each member's outcome
    (history, diverged_at, layer_rows, samples at the `keep` epochs and the latest); on_chunk(last epoch reached)
    after each chunk, outside TensorFlow."""
    tf = _tf()
    batches = -(-int(loop.x.shape[0]) // loop.batch_size)
    most = max(1, CHUNK_STEPS // (batches * -(-loop.k // 16)))
    active = np.ones(loop.k, bool)
    with custom_gradients_forgotten(), graph_optimizer_off():  # the chunk function is traced and compiled in its first call
        for first, stops, flags in chunks(recorded, set(ends) | keep, most):  # a kept epoch's samples end a chunk
            rows, diverged, values, distinct, active, latest_epoch, latest = (
                x if isinstance(x, list) else x.numpy()
                for x in loop.run_chunk(tf.constant(first), tf.constant(stops), tf.constant(flags), tf.constant(active)))
            latest = [x.numpy() for x in latest]
            values, distinct = values.tolist(), distinct.tolist()  # Python numbers once, not per member and stop
            for m, outcome in enumerate(outcomes):
                if outcome.diverged_at is not None:
                    continue
                for j, row in enumerate(rows[:, :, m].tolist()):
                    outcome.history.append({"epoch": first + j + 1, "loss": row[0], metric: row[1], "val_loss": row[2],
                                            f"val_{metric}": row[3]})
                    if diverged[j, m]:
                        outcome.diverged_at = first + j + 1
                        break
                for stop, flag, at_stop, counts in zip(stops, flags, values, distinct):
                    if flag and (outcome.diverged_at is None or stop < outcome.diverged_at):
                        outcome.layer_rows.extend(stats.layer_rows(stop, loop.names, at_stop[m], counts[m], loop.widths))
                if latest_epoch[m] >= 0:
                    keep_samples(outcome.samples, int(latest_epoch[m]), stats.member_samples(loop.sample_names, latest, m),
                                 keep)
            if not active.any():
                break
            on_chunk(stops[-1])


def train_fast(model, data: Dataset, config, task: str, metric: str, on_chunk: Callable[[int], None],
               ends: set[int] = frozenset(), keep: set[int] | None = None, *, recorded: list[int] | None = None
               ) -> Outcome:
    """Train with FastLoop, records taken inside its graph (layer rows at the `recorded` epochs, the config's
    cadence.record_epochs by default; raw samples at the `keep` epochs); on_chunk(epoch) after each chunk, each
    epoch of `ends` closing one."""
    loop = FastLoop(model, data, config, task)
    outcome = Outcome()
    recorded = recorded or cadence.record_epochs(config.train.epochs, config.record.every)
    train_chunks(loop, [outcome], metric, recorded, ends, histogram_epochs(recorded) if keep is None else keep, on_chunk)
    outcome.last_finite_weights = model.get_weights()
    for prefix, x, y in (("", loop.x, loop.y), ("val_", loop.x_val, loop.y_val)):
        loss, value = loop.evaluate(x, y) if len(x) else (np.nan, np.nan)
        outcome.final[f"{prefix}loss"], outcome.final[f"{prefix}{metric}"] = float(loss), float(value)
    return outcome
