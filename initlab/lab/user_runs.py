"""One run of a user's own model on their data: fresh weights by role from the seed, the checklist at initialization,
`model.fit` as they would call it, and a sealed run folder (outputs/<name>/<run_id>/)."""

import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from initlab.base import interrupts, keras_private
from initlab.base.backend import custom_gradients_forgotten, keras, numerics, seed_everything, versions
from initlab.base.errors import UserError
from initlab.config import cadence, experiment as config_module
from initlab.config.user_experiment import UserExperiment
from initlab.output import run_folder, run_plots
from initlab.train import engine, frames, keras_file, model as model_module, user_data
from initlab.train.layer_samples import LayerSamples
from initlab.train.probes import PROBE_ROWS
from initlab.train.run_result import histogram_epochs, keep_samples

INFERENCE_ROWS = 1024  # training rows evaluated in inference mode after each epoch (BatchNorm's moving statistics)
VIEWS_APART = 0.1  # training accuracy in training mode and in inference mode further apart than this: said so
# a user's run: no signal.csv, no boundary.gif (frames during training); boundary.png where the data are a 2-D plane
PICTURES = {"history.png", "activations.png", "gradient_histograms.png", "boundary.png"}
INIT_COLUMNS = ["layer", "weight", "role", "shape", "initializer", "fan_in", "fan_out", "std", "verdict", "findings"]


class Prepared(NamedTuple):
    """A user's run ready to train: every check that can fail on bad input done, nothing written."""
    config: UserExperiment
    data: object  # train.data.Dataset
    model: object  # compiled, with its fresh weights
    task: str
    drawn: list[dict]  # per variable: what it was drawn with (user_model.redraw)
    data_init: dict | None = None  # what init.data_init (LSUV) did to those weights
    compiled: dict | None = None  # the optimizer, learning rate and loss it trains with, and where they came from


def prepare(config: UserExperiment) -> Prepared:
    from initlab.diagnosis import weight_roles  # Keras: this module stays light for sweeps that only plan
    from initlab.lab import user_model

    source = str(config._source or "config")
    base = config_module.source_dir(config)
    data = user_data.load(config.data, base, source)
    keras().utils.clear_session()  # a factory's layers are named from Keras's counters: the same names in every run
    seed_everything(config.seed)
    model = user_model.build(config.model, base, source)
    task, loss = user_model.fit_to_data(model, data, config.train.loss, source)
    present = weight_roles.roles_present(model)
    missing = [role for role in config.init.named() if role not in present]
    if missing:
        raise UserError(f"the model has no {', '.join(missing)} weights; its roles: {', '.join(present) or 'none'}",
                        source, f"init.{missing[0]}")
    if config.init.chrono and not any(isinstance(layer, keras().layers.LSTMCell) for layer in keras_private.sublayers(model)):
        raise UserError("chrono initialization sets LSTM gate biases; the model has no LSTM", source, "init.chrono")
    drawn = user_model.redraw(model, config.init, config.seed)
    data_init = None
    if config.init.data_init == "lsuv":
        from initlab.train import lsuv

        try:
            data_init = lsuv.lsuv_model(model, data.x_train[:PROBE_ROWS])
        except ValueError as exc:
            raise UserError(str(exc), source, "init.data_init") from None
        drawn = user_model.measured_again(model, drawn, data_init["layers"])
    saved = keras_file.compile_settings(base / config.model.file) if config.model.file else None
    try:
        compiled = user_model.compile(model, config.train, loss, task, saved)
        model.compute_loss(y=data.y_train[:2], y_pred=model(data.x_train[:2]))
    except (ValueError, TypeError) as exc:
        raise UserError(f"the model cannot be trained on this data: {str(exc).splitlines()[0][:200]}", source,
                        "train.loss") from None
    return Prepared(config, data, model, task, drawn, data_init, compiled)


def run_id(config: UserExperiment) -> str:
    """'he_normal-honest-s0-1d56d1ff24': the roles' initializers as written, honest fans, chrono, the seed and a
    hash of the resolved config."""
    label = "-".join(str(config.init.named()[r].label) for r in config.init.named()) or "as-built"
    label += "-honest" if config.init.honest_fans else ""
    label += f"-chrono{config.init.chrono}" if config.init.chrono else ""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in label)[:60]
    return f"{safe}-s{config.seed}-{config.digest()}"


@dataclass
class UserResult:
    """A user's run in memory: trained in a worker, written by the caller (user_runs.write)."""
    config: UserExperiment
    task: str = "unknown"
    metric: str = "accuracy"
    history: list = field(default_factory=list)
    init_rows: list = field(default_factory=list)  # init_layers.csv
    at_init: dict = field(default_factory=dict)  # layer -> {verdict, activation_std, grad_rms}: the checklist
    weights_initial: dict = field(default_factory=dict)
    weights_final: dict = field(default_factory=dict)
    final: dict = field(default_factory=dict)
    diverged_at: int | None = None
    rows: dict | None = None
    model_bytes: bytes | None = None  # model.keras
    model_error: str | None = None  # why there is no model.keras (a custom layer that does not serialize)
    data_init: dict | None = None  # LSUV's rounds and output variance per layer
    samples: dict = field(default_factory=dict)  # histograms.npz: layer outputs and kernel gradients by epoch
    compiled: dict | None = None  # the optimizer, learning rate and loss, and where they came from
    boundary: dict = field(default_factory=dict)  # boundary.npz: the final weights' view of a 2-D plane
    duration_s: float = 0.0
    error: str | None = None  # a run that failed: config and summary only


def run_dir(config: UserExperiment, out: str | Path = "outputs") -> Path:
    return Path(out) / config.name / run_id(config)


def run(config: UserExperiment, out: str | Path = "outputs", on_epoch=None) -> Path:
    """Train a user's config and write its run folder (replacing an earlier one of the same config)."""
    with interrupts.held():
        prepared = prepare(config)
    target = run_dir(config, out)
    with run_folder.staged(target) as stage:
        _fill(stage, train(config, on_epoch, prepared), target.name)
    return target


def write(result: UserResult, out: str | Path = "outputs", pictures: bool = True) -> Path:
    """The run folder of a result, written aside and renamed into place; without pictures (a sweep's
    --no-pictures) `initlab plot` draws them later from the records."""
    target = run_dir(result.config, out)
    with run_folder.staged(target) as stage:
        _fill(stage, result, target.name, pictures)
    return target


def checklist_at_init(model, data) -> dict[str, dict]:
    """{layer: verdict, finding codes, activation std and kernel gradient rms} of the checklist on the fresh
    weights, probed with the user's own rows."""
    from initlab.diagnosis import checklist

    table = checklist.diagnose(model, inputs=data.x_train[:256], gradients=True)
    found = {}
    for row in table.to_dict("records"):
        found[row["layer"]] = {"verdict": row["verdict"], "findings": " ".join(row.get("finding_codes") or []),
                               "activation_std": _number(row.get("activation_std")), "grad_rms": _number(row.get("grad_rms"))}
        details = row.get("details")
        if isinstance(details, dict) and "influence_first" in details:  # a recurrent layer: how far back it remembers
            found[row["layer"]].update({key: details.get(key) for key in ("memory_horizon", "influence_first", "steps")})
    return found


def train(config: UserExperiment, on_epoch=None, prepared: Prepared | None = None) -> UserResult:
    """Prepare (unless given), take the checklist at initialization, fit; nothing is written."""
    started = time.perf_counter()
    config, data, model, task, drawn, data_init, compiled = prepared or prepare(config)
    metric = model_module.metric_name(task)
    result = UserResult(config, task, metric, rows=data.rows, data_init=data_init, compiled=compiled)
    result.at_init = checklist_at_init(model, data)
    none = {"verdict": "not checked", "findings": ""}
    result.init_rows = [{**record, **{k: result.at_init.get(record["layer"], none)[k] for k in ("verdict", "findings")}}
                        for record in drawn]
    result.weights_initial = _weights(model)
    probe = LayerSamples(model, data.x_train, data.y_train)
    keep = histogram_epochs(cadence.record_epochs(config.train.epochs, "auto"))

    def sample(epoch: int) -> None:
        keep_samples(result.samples, epoch, probe.take(), keep)

    sample(0)
    result.history, result.diverged_at = fit(model, data, config, task, on_epoch, sample)
    result.weights_final = _weights(model)
    result.final = {key: _number(value) for key, value in
                    engine.final_scores(model, data, config.train.batch_size, metric).items()}
    if data.x_train.ndim == 2 and frames.drawable(data):  # two features, classes: the plane's view, for boundary.png
        result.boundary = {**frames.still(model, data), **frames.shown_weights(len(result.history), result.final)}
    with tempfile.TemporaryDirectory(prefix="initlab-model-") as folder:
        try:
            model.save(Path(folder) / "model.keras")
            result.model_bytes = (Path(folder) / "model.keras").read_bytes()
        except Exception as exc:  # noqa: BLE001 - a user's custom layer may not serialize
            result.model_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    result.duration_s = time.perf_counter() - started
    return result


def _fill(stage: Path, result: UserResult, run_name: str, pictures: bool = True) -> None:
    config, metric = result.config, result.metric
    (stage / "config.yaml").write_text(config_module.dump(config))
    if result.error is None:
        run_folder.write_rows(result.init_rows, INIT_COLUMNS, stage / "init_layers.csv")
        run_folder.write_weights(result.weights_initial, stage / "weights_initial.npz")
        run_folder.write_rows(result.history, ["epoch", "loss", metric, "val_loss", f"val_{metric}", "inference_loss",
                                               f"inference_{metric}"], stage / "metrics.csv")
        run_folder.write_weights(result.weights_final, stage / "weights_final.npz")
        if result.model_bytes is not None:
            (stage / "model.keras").write_bytes(result.model_bytes)
        np.savez_compressed(stage / "histograms.npz", **result.samples)
        if result.boundary:
            np.savez_compressed(stage / "boundary.npz", **result.boundary)
        if result.history and pictures:  # matplotlib: about 1 s of a small run's cost
            run_plots.draw(stage, f"{config.name}: {run_name}", result.boundary, only=PICTURES)
    run_folder.seal(stage, summary_of(result, run_name))


def fit(model, data, config: UserExperiment, task: str, on_epoch=None, sample=None) -> tuple[list[dict], int | None]:
    """model.fit with the config's settings: per epoch the fit's figures (training mode), the validation figures
    and the training rows evaluated in inference mode, then sample(epoch); a loss or weight that is not finite
    stops the run with the last finite weights restored; `train.patience` stops a stalled run."""
    k = keras()
    metric = model_module.metric_name(task)
    probe_x, probe_y = data.x_train[:INFERENCE_ROWS], data.y_train[:INFERENCE_ROWS]
    history, state = [], {"last": model.get_weights(), "diverged_at": None}

    class Recorder(k.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            weights = self.model.get_weights()
            if not (math.isfinite(logs.get("loss", math.nan)) and engine.all_finite(weights)):
                state["diverged_at"] = epoch + 1
                self.model.stop_training = True
                return
            state["last"] = weights
            # what model.evaluate gives on these rows (tested), without its per-call set-up (~0.1 s an epoch)
            predicted = self.model(probe_x, training=False)
            seen_loss = float(self.model.compute_loss(x=probe_x, y=probe_y, y_pred=predicted, training=False))
            history.append({"epoch": epoch + 1, "loss": logs["loss"], metric: logs.get(metric),
                            "val_loss": logs.get("val_loss", math.nan), f"val_{metric}": logs.get(f"val_{metric}", math.nan),
                            "inference_loss": seen_loss, f"inference_{metric}": _scored(metric, probe_y, predicted)})
            if sample is not None:
                sample(epoch + 1)
            if on_epoch is not None:
                on_epoch(epoch + 1)
            interrupts.raise_if_received()

    callbacks = [Recorder()]
    if config.train.patience:
        callbacks.append(k.callbacks.EarlyStopping(monitor="loss", patience=config.train.patience))
    seed_everything(config.seed)  # the data order and dropout
    with interrupts.held(), custom_gradients_forgotten():  # no traced step outlives its run (see backend)
        model.fit(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val) if len(data.x_val) else None,
                  epochs=config.train.epochs, batch_size=config.train.batch_size, shuffle=config.train.shuffle,
                  callbacks=callbacks, verbose=0)
    model.set_weights(state["last"])
    return history, state["diverged_at"]


def _scored(metric: str, y: np.ndarray, predicted) -> float:
    """accuracy (a sigmoid's output at 0.5, a softmax's largest) or mae, as Keras's compiled metric computes it."""
    predicted = np.asarray(predicted, np.float64)
    if metric == "mae":
        return float(np.mean(np.abs(predicted - y)))
    if predicted.shape[-1] == 1:
        return float(np.mean((predicted > 0.5) == (y > 0.5)))
    return float(np.mean(np.argmax(predicted, axis=-1) == y.reshape(-1)))


def _number(value):
    return None if value is None or not math.isfinite(float(value)) else float(value)


def _weights(model) -> dict[str, np.ndarray]:
    return {variable.path: np.asarray(variable.numpy()) for variable in model.weights}


def summary_of(result: UserResult, run_name: str) -> dict:
    config, metric, history = result.config, result.metric, result.history
    last = history[-1] if history else {}
    training_mode, inference = last.get(metric), last.get(f"inference_{metric}")
    views = None
    if result.task != "regression" and training_mode is not None and inference is not None:
        rows = min((result.rows or {}).get("train", 1), INFERENCE_ROWS)
        apart = abs(training_mode - inference) > max(VIEWS_APART, 1 / max(1, rows))
        views = {"training_mode": training_mode, "inference": inference, "disagree": bool(apart)}
    return {
        "status": "failed" if result.error else ("diverged" if result.diverged_at else "ok"),
        "final": result.final,
        "diverged_at_epoch": result.diverged_at,
        "seed": config.seed,
        "engine": "keras",
        "epochs_run": len(history),
        "rows": result.rows,
        "task": result.task,
        "run_id": run_name,
        "config_dir": str(config_module.source_dir(config)),
        "error": result.error,
        "compiled": result.compiled,  # optimizer, learning rate, loss: from the config or the saved model's settings
        "data_init": result.data_init,  # init.data_init's rescaling (LSUV): rounds and output variance per layer
        "at_init": result.at_init,  # the checklist per layer on the fresh weights: verdict, activation std, gradient rms
        "views": views,  # the last epoch's training accuracy as fit saw it (training mode) and in inference mode
        "model_file_error": result.model_error,
        "duration_s": round(result.duration_s, 3),
        "versions": dict(versions()),
        "numerics": dict(numerics()),
    }
