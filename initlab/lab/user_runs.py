"""One run of a user's own model on their data: fresh weights by role from the seed, the checklist at initialization,
`model.fit` as they would call it, and a sealed run folder (outputs/<name>/<run_id>/)."""

import math
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from initlab.base import interrupts
from initlab.base.backend import keras, numerics, seed_everything, versions
from initlab.base.errors import UserError
from initlab.config import experiment as config_module
from initlab.config.user_experiment import UserExperiment
from initlab.diagnosis import checklist
from initlab.lab import user_model
from initlab.output import run_folder
from initlab.train import user_data

INFERENCE_ROWS = 1024  # training rows evaluated in inference mode after each epoch (BatchNorm's moving statistics)
VIEWS_APART = 0.1  # training accuracy in training mode and in inference mode further apart than this: said so
INIT_COLUMNS = ["layer", "weight", "role", "shape", "initializer", "fan_in", "fan_out", "std", "verdict", "findings"]


class Prepared(NamedTuple):
    """A user's run ready to train: every check that can fail on bad input done, nothing written."""
    config: UserExperiment
    data: object  # train.data.Dataset
    model: object  # compiled, with its fresh weights
    task: str
    drawn: list[dict]  # per variable: what it was drawn with (user_model.redraw)


def prepare(config: UserExperiment) -> Prepared:
    source = str(config._source or "config")
    base = config_module.source_dir(config)
    data = user_data.load(config.data, base, source)
    keras().utils.clear_session()  # a factory's layers are named from Keras's counters: the same names in every run
    seed_everything(config.seed)
    model = user_model.build(config.model, base, source)
    task, loss = user_model.fit_to_data(model, data, config.train.loss, source)
    present = set(_roles(model))
    missing = [role for role in config.init.named() if role not in present]
    if missing:
        raise UserError(f"the model has no {', '.join(missing)} weights; its roles: {', '.join(_roles(model)) or 'none'}",
                        source, f"init.{missing[0]}")
    drawn = user_model.redraw(model, config.init, config.seed)
    try:
        user_model.compile(model, config.train, loss, task)
        model.compute_loss(y=data.y_train[:2], y_pred=model(data.x_train[:2]))
    except (ValueError, TypeError) as exc:
        raise UserError(f"the model cannot be trained on this data: {str(exc).splitlines()[0][:200]}", source,
                        "train.loss") from None
    return Prepared(config, data, model, task, drawn)


def _roles(model) -> list[str]:
    from initlab.diagnosis import weight_roles

    return weight_roles.roles_present(model)


def run_id(config: UserExperiment) -> str:
    label = "-".join(str(config.init.named()[r].label) for r in config.init.named()) or "as-built"
    label += "-honest" if config.init.honest_fans else ""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in label)[:60]
    return f"{safe}-s{config.seed}-{config.digest()}"


def run(config: UserExperiment, out: str | Path = "outputs", on_epoch=None) -> Path:
    """Train a user's config and write its run folder (replacing an earlier one of the same config)."""
    with interrupts.held():
        prepared = prepare(config)
    target = Path(out) / config.name / run_id(config)
    with run_folder.staged(target) as stage:
        _fill(stage, prepared, on_epoch, target.name)
    return target


def checklist_at_init(model, data) -> dict[str, tuple[str, str]]:
    """{layer: (verdict, finding codes)} of the checklist on the fresh weights, probed with the user's own rows."""
    table = checklist.diagnose(model, inputs=data.x_train[:256])
    codes = table["finding_codes"] if "finding_codes" in table else [[]] * len(table)
    return {row.layer: (row.verdict, " ".join(c)) for row, c in zip(table.itertuples(), codes)}


def _fill(stage: Path, prepared: Prepared, on_epoch, run_name: str) -> None:
    config, data, model, task, drawn = prepared
    started = time.perf_counter()
    verdicts = checklist_at_init(model, data)
    rows = [{**record, "verdict": verdicts.get(record["layer"], ("not checked", ""))[0],
             "findings": verdicts.get(record["layer"], ("", ""))[1]} for record in drawn]
    (stage / "config.yaml").write_text(config_module.dump(config))
    run_folder.write_rows(rows, INIT_COLUMNS, stage / "init_layers.csv")
    run_folder.write_weights(_weights(model), stage / "weights_initial.npz")
    history, diverged_at = fit(model, data, config, task, on_epoch)
    metric = "mae" if task == "regression" else "accuracy"
    run_folder.write_rows(history, ["epoch", "loss", metric, "val_loss", f"val_{metric}", "inference_loss",
                                    f"inference_{metric}"], stage / "metrics.csv")
    run_folder.write_weights(_weights(model), stage / "weights_final.npz")
    final = _final(model, data, config, metric)
    try:
        model.save(stage / "model.keras")
        saved = None
    except Exception as exc:  # noqa: BLE001 - a user's custom layer may not serialize
        saved = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    if len(history):
        import pandas as pd

        from initlab.output import plots  # matplotlib only when drawing
        plots.history(pd.DataFrame(history)[["epoch", "loss", metric, "val_loss", f"val_{metric}"]],
                      stage / "history.png", f"{config.name}: {run_name}")
    run_folder.seal(stage, _summary(config, task, metric, history, final, diverged_at, verdicts, data, run_name,
                                    time.perf_counter() - started, saved))


def fit(model, data, config: UserExperiment, task: str, on_epoch=None) -> tuple[list[dict], int | None]:
    """model.fit with the config's settings: per epoch the fit's figures (training mode), the validation figures
    and the training rows evaluated in inference mode; a loss or weight that is not finite stops the run with the
    last finite weights restored; `train.patience` stops a stalled run."""
    k = keras()
    metric = "mae" if task == "regression" else "accuracy"
    probe_x, probe_y = data.x_train[:INFERENCE_ROWS], data.y_train[:INFERENCE_ROWS]
    history, state = [], {"last": model.get_weights(), "diverged_at": None}

    class Recorder(k.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            weights = self.model.get_weights()
            if not (math.isfinite(logs.get("loss", math.nan)) and all(np.all(np.isfinite(w)) for w in weights)):
                state["diverged_at"] = epoch + 1
                self.model.stop_training = True
                return
            state["last"] = weights
            seen = self.model.evaluate(probe_x, probe_y, batch_size=config.train.batch_size, verbose=0,
                                       return_dict=True)
            history.append({"epoch": epoch + 1, "loss": logs["loss"], metric: logs.get(metric),
                            "val_loss": logs.get("val_loss", math.nan), f"val_{metric}": logs.get(f"val_{metric}", math.nan),
                            "inference_loss": seen["loss"], f"inference_{metric}": seen.get(metric)})
            if on_epoch is not None:
                on_epoch(epoch + 1)
            interrupts.raise_if_received()

    callbacks = [Recorder()]
    if config.train.patience:
        callbacks.append(k.callbacks.EarlyStopping(monitor="loss", patience=config.train.patience))
    seed_everything(config.seed)  # the data order and dropout
    with interrupts.held():
        model.fit(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val) if len(data.x_val) else None,
                  epochs=config.train.epochs, batch_size=config.train.batch_size, shuffle=config.train.shuffle,
                  callbacks=callbacks, verbose=0)
    model.set_weights(state["last"])
    return history, state["diverged_at"]


def _final(model, data, config, metric: str) -> dict:
    final = {}
    for prefix, x, y in (("", data.x_train, data.y_train), ("val_", data.x_val, data.y_val)):
        scores = model.evaluate(x, y, batch_size=config.train.batch_size, verbose=0, return_dict=True) if len(x) else {}
        final[f"{prefix}loss"] = _number(scores.get("loss"))
        final[f"{prefix}{metric}"] = _number(scores.get(metric))
    return final


def _number(value):
    return None if value is None or not math.isfinite(float(value)) else float(value)


def _weights(model) -> dict[str, np.ndarray]:
    return {variable.path: np.asarray(variable.numpy()) for variable in model.weights}


def _summary(config, task, metric, history, final, diverged_at, verdicts, data, run_name, duration, saved) -> dict:
    last = history[-1] if history else {}
    training_mode, inference = last.get(metric), last.get(f"inference_{metric}")
    views = None
    if task != "regression" and training_mode is not None and inference is not None:
        apart = abs(training_mode - inference) > max(VIEWS_APART, 1 / max(1, min(len(data.x_train), INFERENCE_ROWS)))
        views = {"training_mode": training_mode, "inference": inference, "disagree": bool(apart)}
    return {
        "status": "diverged" if diverged_at else "ok",
        "final": final,
        "diverged_at_epoch": diverged_at,
        "seed": config.seed,
        "engine": "keras",
        "epochs_run": len(history),
        "rows": data.rows,
        "task": task,
        "run_id": run_name,
        "config_dir": str(config_module.source_dir(config)),
        "checklist_at_init": {layer: verdict for layer, (verdict, _) in verdicts.items()},
        "views": views,  # the last epoch's training accuracy as fit saw it (training mode) and in inference mode
        "model_file_error": saved,
        "duration_s": round(duration, 3),
        "versions": dict(versions()),
        "numerics": dict(numerics()),
    }
