"""One experiment end to end: config -> data -> model -> engine -> records -> plots, into outputs/<name>/<run_id>/."""

import dataclasses
import functools
import importlib.util
import itertools
import math
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import NamedTuple

import numpy as np

from initlab.base import interrupts
from initlab.base.backend import numerics, seed_everything, versions
from initlab.base.errors import UserError
from initlab.config import cadence, experiment as config_module, limits, names
from initlab.config.columns import JACOBIAN_COLUMNS
from initlab.config.user_experiment import UserExperiment
from initlab.output import plot_workers, run_folder, run_plots
from initlab.train import (
    data as data_module,
    engine,
    frames,
    jacobian,
    model as model_module,
    parametrization,
    propagation,
)
from initlab.train.probes import PROBE_ROWS, Probe
from initlab.train.run_result import RunResult, histogram_epochs, keep_samples

LONGEST_WIDTHS = 150  # characters of a run folder's widths label written out in full (48 layers of 32: 143)
MODEL = "model.keras"  # written by `initlab run`; in a sweep's run folders only on demand (ensure_model)


def run_id(config: config_module.Config) -> str:
    """A readable label and a hash of the resolved config: 'set0.5-relu-2-s0-1d56d1ff24'."""
    spec = config.model
    init = f"set{spec.set_weights:g}" if spec.set_weights is not None else spec.kernel_initializer.label
    width = "x".join(map(str, spec.hidden)) or "linear"
    if len(width) > LONGEST_WIDTHS:  # a deep net: equal neighbours as '64times128' (a folder name has 255 bytes)
        width = "x".join(f"{units}times{len(list(run))}" for units, run in itertools.groupby(spec.hidden))
    label = f"{init}-{spec.activation}-{width}-s{config.seed}"
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in label)
    return f"{safe}-{config.digest()}"


def run_dir(config: config_module.Config, out: str | Path = "outputs") -> Path:
    return Path(out) / config.name / run_id(config)


def load_data(config: config_module.Config) -> data_module.Dataset:
    source = str(config._source or "config")
    return data_module.load_dataset(config.data, config.seed, config_module.source_dir(config), source, config._allow_large)


def check_with_data(config: config_module.Config, data: data_module.Dataset | None = None):
    """(config with task defaults, data): every check of a config that needs its data (loaded here unless given),
    without TensorFlow (a user's folder of images is read by Keras)."""
    source = str(config._source or "config")
    if isinstance(config, UserExperiment):
        from initlab.train import user_data

        return config, data if data is not None else user_data.load(config.data, config_module.source_dir(config), source)
    data = data if data is not None else load_data(config)
    outputs = model_module.output_units(data.task, data.n_classes)
    found = limits.exceeded_limits(config, outputs)
    if found and not config._allow_large:  # a CSV's classes are known only now: the output layer's width
        raise UserError(found[0][1], source, found[0][0])
    if config.record.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise UserError(
            "TensorBoard histograms need the tensorboard package: pip install 'initlab[tensorboard]'",
            source, "record.tensorboard",
        )
    config = model_module.with_task_defaults(config, data.task)
    problem = names.width_problem(config.model.output_activation, outputs)
    if problem:
        raise UserError(f"activation '{config.model.output_activation}' fails on the output layer ({outputs} "
                        f"unit{'' if outputs == 1 else 's'}): {problem}", source, "model.output_activation")
    tasks = names.loss_tasks(config.train.loss)
    if data.task not in tasks:
        raise UserError(f"loss '{config.train.loss}' does not fit a {data.task} task ({_targets(data)}); it fits "
                        f"{' and '.join(tasks)} tasks", source, "train.loss")
    return config, data


def _targets(data: data_module.Dataset) -> str:
    if data.task == "multiclass":
        return f"integer labels against {data.n_classes} outputs: use sparse_categorical_crossentropy"
    return "one target column against one output"


class Prepared(NamedTuple):
    """A run ready to train: everything that can fail on bad input done, nothing written."""
    config: config_module.Config  # task defaults filled in
    data: data_module.Dataset
    model: object  # compiled, with its initial weights
    data_init: dict | None  # what model.data_init (LSUV) did to those weights, or None


def prepare(config: config_module.Config, data: data_module.Dataset | None = None) -> Prepared:
    """The config with task defaults, its data (loaded here unless given) and its compiled model with initial
    weights: everything that can fail on bad input, done before anything is written."""
    source = str(config._source or "config")
    config, data = check_with_data(config, data)
    seed_everything(config.seed)
    try:
        model = model_module.build(config, data.n_features, data.task, data.n_classes)
        data_init = model_module.data_init(model, config, data.x_train[:PROBE_ROWS])
        model_module.compile(model, config, data.task)
        model.compute_loss(y=data.y_train[:2], y_pred=model(data.x_train[:2]))
    except (ValueError, TypeError) as exc:
        raise UserError(f"the model cannot be built or run on this data: {exc}", source, "model") from None
    return Prepared(config, data, model, data_init)


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


@functools.cache  # once per process: a sweep writes many summaries, each used to start `git`
def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _number(value):
    value = float(value)
    return value if math.isfinite(value) else None


def train(config: config_module.Config, on_epoch=None, prepared=None) -> RunResult:
    """Train one config alone with its engine (`prepared`: what prepare(config) gave, if it was called already);
    nothing is written (TensorBoard logs go to a temporary folder)."""
    with interrupts.held():  # Ctrl-C waits for the next recorded epoch: TensorFlow is not interrupted mid-call
        return _train(config, on_epoch, prepared)


def _train(config: config_module.Config, on_epoch, prepared) -> RunResult:
    started = time.perf_counter()
    config, data, model, data_init = prepared or prepare(config)
    metric = model_module.metric_name(data.task)
    result = RunResult(config, data.task, metric, engine=config.train.engine, data_init=data_init, rows=data.rows,
                       weights_initial=model_module.weights_by_name(model),
                       signal=[] if config.model.residual else  # its theory is a plain chain's: no signal.csv
                       propagation.signal_rows(model, data.x_train[:PROBE_ROWS], config.seed),
                       jacobian=jacobian.recorded(config, jacobian.dense_layers(model), data.x_train[:PROBE_ROWS])
                       if config.record.jacobian else None,
                       versions=versions(), numerics=numerics())
    recorded = cadence.record_epochs(config.train.epochs, config.record.every)
    keep = histogram_epochs(recorded)
    boundary = frames.Frames(model, data) if frames.drawable(data) else None
    framed = frames.frame_epochs(recorded) if boundary else set()
    if config.record.tensorboard:
        result.tensorboard_dir = tempfile.mkdtemp(prefix="initlab-tensorboard-")
    writer = _tensorboard_writer(result.tensorboard_dir) if result.tensorboard_dir and result.engine == "fast" else None
    # the fast engine records inside its own loop; the keras engine and TensorBoard histograms use a probe
    probe = Probe(model, data.x_train, data.y_train) if config.train.engine == "keras" or writer is not None else None

    def on_record(epoch: int) -> None:
        """keras engine: the records at a recorded epoch, taken by the probe."""
        rows, activations = probe.measure(epoch)
        result.layer_rows.extend(rows)
        keep_samples(result.samples, epoch, activations, keep)
        on_chunk(epoch)

    def on_chunk(epoch: int) -> None:
        """After a chunk of the fast engine (after each recorded epoch of the keras engine): frames, progress."""
        if epoch in framed:
            boundary.capture(epoch)
        if writer is not None and epoch in recorded:
            _write_histograms(writer, model, probe.measure(epoch)[1], epoch)  # TensorBoard keeps its own calls
        if on_epoch is not None:
            on_epoch(epoch)
        interrupts.raise_if_received()

    if config.train.engine == "keras":
        outcome = engine.train_keras(model, data, config, metric, on_record, result.tensorboard_dir, recorded=recorded)
    else:
        ends = framed | (set(recorded) if writer is not None else set())
        outcome = engine.train_fast(model, data, config, data.task, metric, on_chunk, ends, keep, recorded=recorded)
        result.layer_rows, result.samples = outcome.layer_rows, outcome.samples
    model.set_weights(outcome.last_finite_weights)
    result.history, result.final, result.diverged_at = outcome.history, outcome.final, outcome.diverged_at
    result.weights_final = model_module.weights_by_name(model)
    result.boundary = boundary.records() if boundary and boundary.epochs else {}
    result.duration_s = time.perf_counter() - started
    return result


def run(config: config_module.Config, out: str | Path = "outputs", on_epoch=None) -> Path:
    """Train `config` and write its run folder (replacing an earlier one of the same config); return the folder.
    Its staging folder is made before training: an output that cannot be written fails first, and the experiment
    folder's lock is held while it trains. A user's own model and data (a UserExperiment) train in user_runs."""
    if isinstance(config, UserExperiment):
        from initlab.lab import user_runs

        return user_runs.run(config, out, on_epoch)
    with plot_workers.Painters() as painters:  # they start up while this process imports TensorFlow
        with interrupts.held():
            prepared = prepare(config)
        target = run_dir(prepared[0], out)
        with run_folder.staged(target) as stage:
            _fill(stage, train(config, on_epoch, prepared), target.name, pictures=True, draw=painters.draw)
    return target


def summary_of(result: RunResult, run_name: str) -> dict:
    config = result.config
    last = result.layer_rows[-1]["epoch"] if result.layer_rows else None
    return {
        "status": "failed" if result.error else ("diverged" if result.diverged_at else "ok"),
        "final": {key: _number(value) for key, value in result.final.items()},
        "distinct_units": [row["distinct_units"] for row in result.layer_rows  # a block's sum has no weights: none
                           if row["epoch"] == last and row["distinct_units"] is not None][:-1],
        "diverged_at_epoch": result.diverged_at,
        "epochs_to": epochs_to(result.history, result.metric, config.record.targets),
        "seed": config.seed,
        "engine": result.engine,
        "population": result.company,
        "epochs_run": len(result.history),
        "rows": result.rows or None,  # {"train", "validation"}: the examples the final metrics were measured on
        "duration_s": round(result.duration_s, 3),
        "task": result.task,
        "run_id": run_name,
        "config_dir": str(config_module.source_dir(config)),
        "error": result.error,
        "data_init": result.data_init,  # model.data_init's rescaling (LSUV): rounds and output variance per layer
        "parametrization": parametrization_of(result),
        "versions": dict(result.versions or versions()),  # a run that failed before training: this process's
        "numerics": dict(result.numerics or numerics()),
        "git_commit": _git_commit(),
    }


def parametrization_of(result: RunResult) -> dict | None:
    """muP's factors per layer as the run applied them (Table 3 of Yang et al. 2022); None for the standard one."""
    spec = result.config.model
    if spec.parametrization != "mup" or "output/kernel" not in result.weights_initial:
        return None
    n_features = next(iter(result.weights_initial.values())).shape[0]
    layers = parametrization.factors(result.config, n_features, result.weights_initial["output/kernel"].shape[1])
    return {"name": "mup", "base_width": spec.base_width, "source": "Yang et al. 2022, Table 3",
            "layers": [{"layer": name, **dataclasses.asdict(f)}
                       for name, f in zip(model_module.layer_names(len(layers) - 1), layers)]}


def write_run(result: RunResult, out: str | Path = "outputs", pictures: bool = True, model_file: bool = True,
          draw=None) -> Path:
    """The run folder of a result, written aside and renamed into place; a failed run gets config and summary only.
    Without model_file (a sweep's runs) no model.keras is written: ensure_model(folder) writes it when asked.
    Pictures are drawn by draw(folder, title) (plot_workers.Painters.draw), by run_plots.draw if None."""
    target = run_dir(result.config, out)
    with run_folder.staged(target) as stage:
        _fill(stage, result, target.name, pictures, model_file, draw)
    return target


def _fill(stage: Path, result: RunResult, run_name: str, pictures: bool, model_file: bool = True, draw=None) -> None:
    """The run folder's files in `stage`; pictures drawn by draw(folder, title) (run_plots.draw by default)."""
    (stage / "config.yaml").write_text(config_module.dump(result.config))
    if result.error is None:
        _write_records(result, stage, run_name, pictures, model_file, draw)
    run_folder.seal(stage, summary_of(result, run_name))  # last: lists every file, marks the folder complete


def _write_records(result: RunResult, stage: Path, run_name: str, pictures: bool, model_file: bool, draw) -> None:
    config = result.config
    run_folder.write_metrics(result.history, stage / "metrics.csv", result.metric)
    run_folder.write_layers(result.layer_rows, stage / "layers.csv")
    run_folder.write_weights(result.weights_initial, stage / "weights_initial.npz")
    run_folder.write_weights(result.weights_final, stage / "weights_final.npz")
    np.savez_compressed(stage / "histograms.npz", **result.samples)
    if result.signal:
        run_folder.write_rows(result.signal, list(result.signal[0]), stage / "signal.csv")  # the bytes of pandas' to_csv
    if result.jacobian is not None:
        run_folder.write_rows(jacobian.rows(result.jacobian), JACOBIAN_COLUMNS, stage / "jacobian.csv")
        np.savez_compressed(stage / "jacobian.npz", **result.jacobian)
    if result.tensorboard_dir:
        shutil.move(result.tensorboard_dir, stage / "tensorboard")
    if not (pictures or model_file):  # a sweep's run: no Keras model at all (building and saving one cost more
        if result.boundary:               # than its training); its still view is made with the model, on demand
            np.savez_compressed(stage / "boundary.npz", **result.boundary)
        return
    data = load_data(config)
    model = trained_model(config, result.weights_final, data)
    if model_file:
        model.save(stage / MODEL)
    if frames.drawable(data):  # the frames, the final weights' view of the plane and the data: pictures need no model
        np.savez_compressed(stage / "boundary.npz", **{**result.boundary, **frames.still(model, data),
                                                       **frames.shown_weights(len(result.history), result.final)})
    if pictures:
        (draw or run_plots.draw)(stage, f"{config.name}: {run_name}")


def trained_model(config: config_module.Config, weights: dict[str, np.ndarray], data: data_module.Dataset):
    """The compiled Keras model of a config holding `weights` (weights_*.npz's keys): what model.keras holds."""
    model = model_module.build(config, data.n_features, data.task, data.n_classes)
    model.set_weights([weights[name] for name in model_module.weights_by_name(model)])
    model_module.compile(model, config, data.task)
    model.optimizer.build(model.trainable_variables)  # a loadable file wants the optimizer's variables to exist
    return model


def ensure_model(folder: str | Path) -> Path:
    """A finished run folder's model.keras, written from its config.yaml and weights_final.npz if it has none yet
    (a sweep writes its runs without one); the folder's summary then lists it. A UserError if it cannot be."""
    folder = Path(folder)
    path = folder / MODEL
    config = saved_config(folder, "a model")
    if path.is_file():
        return path
    data = load_data(config)
    with run_folder.holding(folder.parent), run_folder.writing(folder, key=None):
        if path.is_file():  # another process wrote it while this one waited for the lock
            return path
        staging = folder / f".{uuid.uuid4().hex[:8]}.{MODEL}"  # hidden, never sealed; renamed whole
        try:
            with np.load(folder / "weights_final.npz") as weights:
                trained_model(config, dict(weights), data).save(staging)
            os.replace(staging, path)
        finally:
            staging.unlink(missing_ok=True)
        run_folder.reseal(folder)
    return path


def initial_model(folder: str | Path, config: config_module.Config | None = None):
    """A finished run folder's model holding its initial weights (weights_initial.npz: after any data-dependent
    initialization, what its first training step saw); `config`: its saved_config, when the caller has read it."""
    folder = Path(folder)
    config = config or saved_config(folder, "its initial model")
    with np.load(folder / "weights_initial.npz") as weights:
        if isinstance(config, UserExperiment):  # a user's model: its model.keras, the initial weights put back
            from initlab.train import keras_file

            model = keras_file.load(folder / MODEL)
            for variable in model.weights:
                variable.assign(weights[variable.path])
            return model
        return trained_model(config, dict(weights), load_data(config))


def saved_config(folder: Path, wanted: str) -> config_module.Config:
    """The resolved config of a complete, trained run folder (a UserError says what is missing or wrong)."""
    if not folder.is_dir():
        raise UserError("no such folder", str(folder))
    missing = {name: what for name, what in run_folder.problems(folder).items() if not name.endswith((".png", ".gif"))}
    if missing:
        raise UserError(f"damaged run folder, cannot make {wanted} from it: {run_folder.problems_text(missing)}; run it again",
                        str(folder))
    if run_folder.read_summary(folder)["status"] == "failed":
        raise UserError(f"a failed run has no records to make {wanted} from", str(folder))
    config = config_module.validate(config_module.read_yaml(folder / "config.yaml"), str(folder / "config.yaml"),
                                    allow_large=True)  # it trained once: the limits were passed or lifted then
    config._source = Path(run_folder.read_summary(folder)["config_dir"]) / "config.yaml"
    return config


def redraw(folder: str | Path) -> None:
    """`initlab plot`: the pictures again, from a finished run folder whose records are whole (a UserError says
    what is missing); its summary then lists the new pictures."""
    folder = Path(folder)
    _refuse_a_folder_of_runs(folder)
    config = saved_config(folder, "pictures")
    if isinstance(config, UserExperiment):  # a user's model: its loss and metrics per epoch
        with run_folder.writing(folder, key=None):
            from initlab.lab.user_runs import PICTURES

            run_plots.draw(folder, f"{config.name}: {folder.name}", run_plots.recorded_boundary(folder), only=PICTURES)
            run_folder.reseal(folder)
        return

    boundary = run_plots.recorded_boundary(folder)
    if not run_plots.STILL <= boundary.keys():  # an older folder, or a sweep's run: the still view from its model
        boundary = _still_from_model(folder, config, boundary)
    if boundary:  # an older folder's boundary.npz does not say which weights it shows: its summary does
        summary = run_folder.read_summary(folder)
        boundary = {**frames.shown_weights(summary["epochs_run"], summary["final"]), **boundary}
    with run_folder.writing(folder, key=None):
        run_plots.draw(folder, f"{config.name}: {folder.name}", boundary)
        run_folder.reseal(folder)


SHOWN_RUNS = 3  # runs named in the one line that tells `initlab plot` it was given a folder of runs


def _refuse_a_folder_of_runs(folder: Path) -> None:
    """`initlab plot outputs/` (or a sweep's folder): a folder that holds run folders rather than being one is told
    which runs it holds and how to draw one."""
    if not folder.is_dir() or any((folder / name).exists() for name in ("config.yaml", run_folder.SUMMARY)):
        return
    inside = [path.relative_to(folder).as_posix() for path, _ in run_folder.listing(folder)]
    if not inside:
        raise UserError("is not a run folder (it has no summary.json) and no run folder is under it", str(folder))
    shown = ", ".join(inside[:SHOWN_RUNS]) + (f" and {len(inside) - SHOWN_RUNS} more (`initlab runs {folder}` lists "
                                              f"them)" if len(inside) > SHOWN_RUNS else "")
    raise UserError(f"is not a run folder; it holds {len(inside)} run{'' if len(inside) == 1 else 's'}: {shown}; "
                    f"`initlab plot {folder / inside[0]}` draws one", str(folder))


def _still_from_model(folder: Path, config: config_module.Config, recorded: dict) -> dict:
    """What boundary.png needs (the final weights' view of the plane, the data) for a folder whose boundary.npz
    lacks it: a sweep's run, or one written before boundary.npz held it; from its model.keras, written if need be."""
    data = load_data(config)
    if not frames.drawable(data):
        return recorded
    from initlab.train import keras_file

    model = keras_file.load(ensure_model(folder))  # registers the lab's own layers (a residual run's SkipInit scalar)
    return {**recorded, **frames.still(model, data)}


def _tensorboard_writer(folder: str):
    import tensorflow as tf

    return tf.summary.create_file_writer(str(Path(folder) / "train"))


def _write_histograms(writer, model, activations: dict, epoch: int) -> None:
    import tensorflow as tf

    with writer.as_default(step=epoch):
        for layer in model.layers:
            for weight in layer.weights:
                tf.summary.histogram(f"{layer.name}/{weight.name}", weight, step=epoch)
            tf.summary.histogram(f"{layer.name}/activations", activations[layer.name], step=epoch)
    writer.flush()

