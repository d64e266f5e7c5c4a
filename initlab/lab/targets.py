"""What `initlab diagnose` reads, as a Keras model and which of its weights: a config or a lesson (its fresh initial
weights), a run folder (the initial weights it started training from; its trained weights on request) or a saved
.keras file (the weights in it), loaded in Keras's safe mode (stored code refused, never run)."""

from pathlib import Path
from typing import NamedTuple

from initlab.base.errors import UserError
from initlab.base.words import counted
from initlab.config import catalog, experiment as config_module
from initlab.lab import runs
from initlab.output import run_folder
from initlab.train import keras_file

SAVED = "as saved in the file (initial ones only if saved before training)"


class Target(NamedTuple):
    model: object
    weights: str  # which weights are judged, in words for the report's heading ('weights: ...')
    by_design: dict = {}  # layer name -> why its kernel starts smaller than its initializer draws (checklist.diagnose)


def by_design(config, model) -> dict[str, str]:
    """The layers of `model`, built from `config`, that muP or Fixup deliberately scale down at initialization, and
    why (the config says it; a .keras file cannot)."""
    residual = getattr(config.model, "residual", None)
    if residual is not None and residual.branch_init == "fixup":
        return fixup_by_design(residual)
    if getattr(config.model, "parametrization", "standard") != "mup":
        return {}
    from initlab.train import model as model_module, parametrization

    names = model_module.layer_names(len(config.model.hidden))
    factors = parametrization.factors(config, model.input_shape[-1], model.layers[-1].units)
    return {name: (f"muP scales the readout's draw by 1/sqrt(fan_in/base_width) = {f.init_std:.3g} (Yang et al. "
                   f"2022, Table 3: variance 1/fan_in^2), by design") for name, f in zip(names, factors) if f.init_std != 1.0}


def fixup_by_design(residual) -> dict[str, str]:
    """Fixup's zero last layer and scaled inner layers of each residual branch (initlab.train.residual)."""
    from initlab.train.residual import block_name, fixup_factor

    m, factor = residual.branch_layers, fixup_factor(residual.blocks, residual.branch_layers)
    found = {}
    for b in range(1, residual.blocks + 1):
        found[block_name(b, f"dense_{m}")] = "Fixup starts each branch's last layer at zero (Zhang et al. 2019), by design"
        for j in range(1, m):
            found[block_name(b, f"dense_{j}")] = (f"Fixup scales a branch's inner layers by blocks^(-1/(2m-2)) = "
                                                  f"{factor:.3g} (Zhang et al. 2019), by design")
    return found


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
        model = runs.prepare(config).model
        return Target(model, f"at initialization, as the config draws them (seed {config.seed})",
                      by_design(config, model))
    return Target(keras_file.load(target), SAVED)


def _run(folder: Path, trained: bool) -> Target:
    if not trained:
        config = runs.saved_config(folder, "its initial model")  # checks every file's digest: read once
        model = runs.initial_model(folder, config)
        return Target(model, "at initialization, the run's weights_initial.npz (what its first training step saw)",
                      by_design(config, model))
    path = runs.ensure_model(folder)  # a sweep's run has its model.keras written on demand
    summary = run_folder.read_summary(folder)
    when = f"after {counted(summary.get('epochs_run') or 0, 'epoch')}"
    if summary.get("diverged_at_epoch") is not None:
        when = f"the last finite ones (it diverged at epoch {summary['diverged_at_epoch']})"
    return Target(keras_file.load(path), f"trained, {when} (weights_final.npz): findings about scale describe "
                                         "training, not initialization; the suggestions are for initialization")


