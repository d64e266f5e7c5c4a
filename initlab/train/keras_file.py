"""A saved .keras file as a Keras model, read in Keras's safe mode: stored code (a Lambda) is refused, never run;
a file Keras cannot read, or a class it cannot find here, is one clear line."""

import re
import warnings
import zipfile
from pathlib import Path

from initlab.base.backend import keras
from initlab.base.errors import UserError


def load(target: Path):
    """The model in a .keras file, uncompiled, without running any code stored in it."""
    if target.is_dir():
        raise UserError("is a folder; give a .keras file (a zip archive saved by model.save)", str(target))
    if not target.is_file():
        raise UserError("no such file", str(target))
    if not zipfile.is_zipfile(target):
        raise UserError("not a .keras file: not a zip archive (truncated or corrupt?)", str(target))
    from initlab.train import randomized_asymmetric, residual

    residual.scale_class()  # registers the lab's own layer (SkipInit's scalar) for the safe-mode load
    randomized_asymmetric.initializer_class()  # and its own initializer (RAI), which a layer's config names
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


def compile_settings(target: Path) -> dict | None:
    """The compile settings model.save stored in a .keras file (optimizer, loss, metrics), read as JSON: no code is
    run; None when it was saved uncompiled."""
    import json

    try:
        with zipfile.ZipFile(target) as archive:
            return json.loads(archive.read("config.json")).get("compile_config") or None
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None


def _unknown_class(error: BaseException | None) -> str | None:
    """The class or function a saved model names that Keras cannot locate here (its code not imported), if that
    is why loading failed: Keras says so in an exception inside the one it raises."""
    while error is not None:
        found = re.search(r"Could not locate (?:class|function) '([^']+)'", str(error))
        if found:
            return found.group(1)
        error = error.__cause__ or error.__context__
    return None
