"""What `initlab diagnose` reads, as a Keras model: a config or a lesson (its fresh initial weights), a run folder
(its trained weights) or a saved .keras file, loaded in Keras's safe mode (stored code refused, never run)."""

from pathlib import Path

from initlab.config import catalog, experiment as config_module
from initlab.lab import runs
from initlab.train import keras_file


def model_of(target: Path, overrides: list[str]):
    """A config's freshly built model, a run folder's trained model, or a .keras file loaded without running any
    code stored in it."""
    if target.is_dir() and any((target / name).is_file() for name in ("config.yaml", "summary.json")):
        target = runs.ensure_model(target)  # a run folder: its trained model (a sweep's is written on demand)
    if target.suffix != ".keras":
        return runs.prepare(config_module.load_config(catalog.resolve(target), overrides))[2]
    return keras_file.load(target)


