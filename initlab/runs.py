"""One experiment end to end: config -> data -> model -> engine -> records -> plots, into outputs/<name>/<run_id>/."""

import importlib.util
import math
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__, config as config_module, data as data_module, engine, initializers, model as model_module
from . import plots, records, signal
from .backend import keras as _keras, seed_everything
from .errors import UserError
from .probes import PROBE_ROWS, Probe

HISTOGRAM_EPOCHS = 12  # raw activation samples are kept at most at this many recorded epochs (first and last included)


def run_id(config: config_module.Config) -> str:
    """A readable label and a hash of the resolved config: 'set0.5-relu-2-s0-1d56d1ff24'."""
    spec = config.model
    init = f"set{spec.set_weights:g}" if spec.set_weights is not None else initializers.describe(spec.kernel_initializer)
    width = "x".join(map(str, spec.hidden)) or "linear"
    label = f"{init}-{spec.activation}-{width}-s{config.seed}"
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in label)
    return f"{safe}-{config.digest()}"


def run_dir(config: config_module.Config, out: str | Path = "outputs") -> Path:
    return Path(out) / config.name / run_id(config)


def load_data(config: config_module.Config) -> data_module.Dataset:
    source = str(config._source or "config")
    return data_module.load(config.data, config.seed, config_module.source_dir(config), source)


def prepare(config: config_module.Config):
    """(config with task defaults, data, compiled model with its initial weights): everything that can fail
    on bad input, done before anything is written."""
    source = str(config._source or "config")
    data = load_data(config)
    if config.record.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise UserError(
            "TensorBoard histograms need the tensorboard package: pip install 'initlab[tensorboard]'",
            source, "record.tensorboard",
        )
    config = model_module.with_task_defaults(config, data.task)
    seed_everything(config.seed)
    try:
        model = model_module.build(config, data.n_features, data.task, data.n_classes)
        model_module.compile(model, config, data.task)
        model.compute_loss(y=data.y_train[:2], y_pred=model(data.x_train[:2]))
    except (ValueError, TypeError) as exc:
        raise UserError(f"the model cannot be built or run on this data: {exc}", source, "model") from None
    return config, data, model


def _histogram_epochs(epochs: list[int]) -> set[int]:
    picks = np.linspace(0, len(epochs) - 1, min(len(epochs), HISTOGRAM_EPOCHS)).round().astype(int)
    return {epochs[i] for i in picks}


def epochs_to(history: list[dict], metric: str, targets: list[float]) -> dict:
    """{'0.9': the first epoch whose training accuracy reached 0.9, or None}; empty for regression."""
    if metric != "accuracy":
        return {}
    reached = {}
    for target in targets:
        # float32 accuracies: 0.9 of 80 rows is stored as 0.8999999761581421
        epoch = next((row["epoch"] for row in history if row[metric] >= target - 1e-6), None)
        reached[f"{target:g}"] = epoch
    return reached


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _versions() -> dict:
    import tensorflow as tf

    keras = _keras()
    return {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "initlab": __version__}


def _number(value):
    value = float(value)
    return value if math.isfinite(value) else None


def run(config: config_module.Config, out: str | Path = "outputs", on_epoch=None) -> Path:
    """Train `config` and write its run folder (replacing an earlier one of the same config); return the folder."""
    started = time.perf_counter()
    config, data, model = prepare(config)
    metric = model_module.metric_name(data.task)
    weights_initial = model_module.weights_by_name(model)
    propagation = signal.measure(model, data.x_train[:PROBE_ROWS], config.seed)
    probe = Probe(model, data.x_train, data.y_train)
    layer_rows: list[dict] = []
    samples: dict[str, np.ndarray] = {}
    keep = _histogram_epochs(engine.record_epochs(config.train.epochs, config.record.every))
    target = run_dir(config, out)

    with records.staged(target) as stage:
        writer = _tensorboard_writer(stage) if config.record.tensorboard and config.train.engine == "fast" else None

        def on_record(epoch: int) -> None:
            rows, activations = probe.measure(epoch)
            layer_rows.extend(rows)
            if epoch in keep:
                samples.update({f"epoch_{epoch}/{name}": a for name, a in activations.items()})
            if writer is not None:
                _write_histograms(writer, model, activations, epoch)
            if on_epoch is not None:
                on_epoch(epoch)

        if config.train.engine == "keras":
            tensorboard = str(stage / "tensorboard") if config.record.tensorboard else None
            outcome = engine.train_keras(model, data, config, metric, on_record, tensorboard)
        else:
            outcome = engine.train_fast(model, data, config, data.task, metric, on_record)
        model.set_weights(outcome.last_finite_weights)
        hidden = [row["distinct_units"] for row in layer_rows if row["epoch"] == layer_rows[-1]["epoch"]][:-1]
        summary = {
            "status": "diverged" if outcome.diverged_at else "ok",
            "final": {key: _number(value) for key, value in outcome.final.items()},
            "distinct_units": hidden,
            "diverged_at_epoch": outcome.diverged_at,
            "epochs_to": epochs_to(outcome.history, metric, config.record.targets),
            "seed": config.seed,
            "engine": config.train.engine,
            "epochs_run": len(outcome.history),
            "duration_s": round(time.perf_counter() - started, 3),
            "task": data.task,
            "run_id": target.name,
            "config_dir": str(config_module.source_dir(config)),
            "versions": _versions(),
            "git_commit": _git_commit(),
        }
        (stage / "config.yaml").write_text(config_module.dump(config))
        records.write_metrics(outcome.history, stage / "metrics.csv", metric)
        records.write_layers(layer_rows, stage / "layers.csv")
        records.write_weights(weights_initial, stage / "weights_initial.npz")
        records.write_weights(model_module.weights_by_name(model), stage / "weights_final.npz")
        np.savez_compressed(stage / "histograms.npz", **samples)
        propagation.to_csv(stage / "signal.csv", index=False)
        model.save(stage / "model.keras")
        draw(stage, model, data, config, target.name)
        records.write_summary(summary, stage / records.SUMMARY)  # last: its presence marks a complete folder
    return target


def draw(folder: Path, model, data: data_module.Dataset, config, run_name: str) -> None:
    """All of a run's pictures from its records (and its model, for the decision boundary)."""
    title = f"{config.name}: {run_name}"
    metrics = records.read_metrics(folder)
    if len(metrics):
        plots.history(metrics, folder / "history.png", title)
    layers = records.read_layers(folder)
    plots.gradients(layers, folder / "gradients.png", title)
    with np.load(folder / "histograms.npz") as samples:
        plots.activations(dict(samples), folder / "activations.png", title)
    plots.signal(pd.read_csv(folder / "signal.csv"), folder / "signal.png", f"{title}: signal at initialization")
    if data.n_features == 2 and data.task != "regression":
        predict = lambda grid: model(grid, training=False).numpy()  # noqa: E731
        plots.boundary(predict, data.x_train, data.y_train, data.x_val, data.y_val, folder / "boundary.png", title)


def redraw(folder: str | Path) -> None:
    """`initlab plot`: the pictures again, from a finished run folder."""
    folder = Path(folder)
    config = config_module.validate(config_module.read_yaml(folder / "config.yaml"), str(folder / "config.yaml"))
    config._source = Path(records.read_summary(folder)["config_dir"]) / "config.yaml"
    data = load_data(config)
    model = _keras().saving.load_model(folder / "model.keras", compile=False)
    draw(folder, model, data, config, folder.name)


def _tensorboard_writer(stage: Path):
    import tensorflow as tf

    return tf.summary.create_file_writer(str(stage / "tensorboard" / "train"))


def _write_histograms(writer, model, activations: dict, epoch: int) -> None:
    import tensorflow as tf

    with writer.as_default(step=epoch):
        for layer in model.layers:
            for weight in layer.weights:
                tf.summary.histogram(f"{layer.name}/{weight.name}", weight, step=epoch)
            tf.summary.histogram(f"{layer.name}/activations", activations[layer.name], step=epoch)
    writer.flush()

