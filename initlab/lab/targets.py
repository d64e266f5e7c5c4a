"""What `initlab diagnose` reads, as a Keras model and which of its weights: a config or a lesson (its fresh initial
weights), a run folder (the initial weights it started training from; its trained weights on request) or a saved
.keras file (the weights in it), loaded in Keras's safe mode (stored code refused, never run)."""

import re
import warnings
import zipfile
from pathlib import Path
from typing import NamedTuple

from initlab.base.backend import keras
from initlab.base.errors import UserError
from initlab.base.words import counted
from initlab.config import catalog, experiment as config_module
from initlab.lab import runs
from initlab.output import run_folder

SAVED = "as saved in the file (initial ones only if saved before training)"


class Target(NamedTuple):
    model: object
    weights: str  # which weights are judged, in words for the report's heading ('weights: ...')


def is_run_folder(target: Path) -> bool:
    return target.is_dir() and any((target / name).is_file() for name in ("config.yaml", "summary.json"))


def model_of(target: Path, overrides: list[str], trained: bool = False) -> Target:
    """A config's freshly built model, a run folder's model at its initial weights (`trained`: its final ones), or
    a .keras file loaded without running any code stored in it."""
    if is_run_folder(target):
        return _run(target, trained)
    if trained:
        raise UserError("is for a run folder (its weights after training); a config has only initial weights, "
                        "a .keras file the weights saved in it", str(target), "--trained")
    if target.suffix != ".keras":
        config = config_module.load_config(catalog.resolve(target), overrides)
        return Target(runs.prepare(config)[2], f"at initialization, as the config draws them (seed {config.seed})")
    return Target(_load(target), SAVED)


def _run(folder: Path, trained: bool) -> Target:
    if not trained:
        return Target(runs.initial_model(folder), "at initialization, the run's weights_initial.npz (what its "
                                                  "first training step saw)")
    path = runs.ensure_model(folder)  # a sweep's run has its model.keras written on demand
    summary = run_folder.read_summary(folder)
    when = f"after {counted(summary.get('epochs_run') or 0, 'epoch')}"
    if summary.get("diverged_at_epoch") is not None:
        when = f"the last finite ones (it diverged at epoch {summary['diverged_at_epoch']})"
    return Target(_load(path), f"trained, {when} (weights_final.npz): findings about scale describe training, "
                               "not initialization; the suggestions are for initialization")


def _load(target: Path):
    if target.is_dir():
        raise UserError("is a folder; give a .keras file (a zip archive saved by model.save)", str(target))
    if not target.is_file():
        raise UserError("no such file", str(target))
    if not zipfile.is_zipfile(target):
        raise UserError("not a .keras file: not a zip archive (truncated or corrupt?)", str(target))
    try:
        with warnings.catch_warnings():  # Keras's notes on loading are not the report's business
            warnings.simplefilter("ignore")
            return keras().saving.load_model(target, compile=False, safe_mode=True)
    except Exception as exc:  # noqa: BLE001 - Keras raises many kinds for a file it cannot read
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        unknown = _unknown_class(exc)
        if unknown:
            raise UserError(f"uses a class Keras cannot find here: '{unknown}' (a custom layer or function); import "
                            "the code that registers it (keras.saving.register_keras_serializable) and call "
                            "initlab.diagnose(model) in Python", str(target)) from None
        if "safe_mode" in str(exc) or "Lambda" in str(exc):
            raise UserError("refused: the model stores Python code (a Lambda layer or function), which initlab "
                            "never runs (Keras safe_mode); build the model in Python and call "
                            "initlab.diagnose(model)", str(target)) from None
        raise UserError(f"not a loadable Keras model ({type(exc).__name__}: {message[:200]})", str(target)) from None


def _unknown_class(error: BaseException | None) -> str | None:
    """The class or function a saved model names that Keras cannot locate here (its code not imported), if that
    is why loading failed: Keras says so in an exception inside the one it raises."""
    while error is not None:
        found = re.search(r"Could not locate (?:class|function) '([^']+)'", str(error))
        if found:
            return found.group(1)
        error = error.__cause__ or error.__context__
    return None
