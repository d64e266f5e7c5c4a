"""`initlab reproduce`: every figure and table in the README, regenerated from the configs in configs/."""

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import config as config_module, plots, records, runs, signal as signal_module, sweep as sweep_module
from . import report as report_module

QUICK_EPOCHS = 20  # --quick: a smoke test of the whole pipeline, not the lessons' numbers


@dataclass
class Run:
    """One config: its pictures copied to docs/figures under new names, its numbers a row of docs/tables/lessons.md."""
    config: str
    figures: dict[str, str] = field(default_factory=dict)
    claim: str = ""


RUNS = {
    "relu_constant": Run("relu_constant.yaml", {"boundary.png": "relu_constant_boundary.png", "history.png": "relu_constant_history.png"},
                         "every weight 0.5: one neuron, one class after 100 epochs"),
    "relu_constant_long": Run("relu_constant_long.yaml", {"boundary.png": "relu_constant_long_boundary.png",
                                                          "gradients.png": "relu_constant_long_gradients.png"},
                              "the same, 3000 epochs: a straight line, logistic regression's 0.85"),
    "relu_he": Run("relu_he.yaml", {"boundary.png": "relu_he_boundary.png", "activations.png": "relu_he_activations.png"},
                   "He normal, 10 units, 3000 epochs: the boundary bends around the U"),
    "relu_zero": Run("relu_zero.yaml", {"gradients.png": "relu_zero_gradients.png"},
                     "zero init: no gradient reaches the hidden layer"),
    **{f"mistake_{mistake}_{act}": Run(f"mistake_{mistake}_{act}.yaml", figures, claim)
       for mistake, claim in (("zero", "zero init, 4x64 on 500 inputs"), ("constant", "every weight 0.5, 4x64 on 500 inputs"),
                              ("small", "N(0, 0.01^2): the signal shrinks layer by layer"),
                              ("large", "U[0, 1]: saturation, an exploding loss"))
       for act in ("relu", "tanh", "sigmoid")
       for figures in [{"activations.png": f"mistake_{mistake}_{act}_activations.png"} if act == "tanh" else {}]},
    "salary_zero_relu": Run("salary_zero_relu.yaml", {}, "regression, zero init: predicts the mean salary"),
    "salary_constant_relu": Run("salary_constant_relu.yaml", {}, "regression, constant init: one neuron (enough for a linear target)"),
    "logreg_zero": Run("logreg_zero.yaml", {}, "zero init without a hidden layer: logistic regression learns"),
    "constant_kernel_random_bias": Run("constant_kernel_random_bias.yaml", {}, "constant kernels, random biases: symmetry breaks, slowly"),
    "small_init_shallow": Run("small_init_shallow.yaml", {}, "N(0, 0.01^2), 1 hidden layer: learns"),
    "small_init_deep": Run("small_init_deep.yaml", {}, "N(0, 0.01^2), 8 hidden layers: stalls at ln 2"),
    "per_layer_init": Run("per_layer_init.yaml", {}, "a different initializer per layer"),
    "lr_too_small": Run("lr_too_small.yaml", {}, "learning rate 0.001: never reaches 0.9"),
    "lr_well_chosen": Run("lr_well_chosen.yaml", {}, "learning rate 0.1: reaches 0.9"),
    "convergence_he": Run("convergence_he.yaml", {}, "He: epochs to 0.9"),
    "convergence_random_normal": Run("convergence_random_normal.yaml", {}, "N(0, 0.1^2): epochs to 0.9"),
}
SIGNAL = {  # label -> config: the signal-propagation comparison figure (initial weights only, no training)
    "ReLU, LeCun 1/n": "signal_relu_lecun_normal.yaml",
    "ReLU, He 2/n": "signal_relu_he_normal.yaml",
    "tanh, Glorot": "signal_tanh_glorot_uniform.yaml",
    "tanh, U[-1/sqrt(n), 1/sqrt(n)]": "signal_tanh_standard_uniform.yaml",
}
SWEEPS = {  # name -> (sweep file, {picture in the sweep folder: name in docs/figures})
    "compare_initializers": ("compare_initializers.yaml", {
        "boundaries.png": "compare_initializers_boundaries.png",
        "loss_curves.png": "compare_initializers_loss.png",
        "activation_std.png": "compare_initializers_activation_std.png",
    }),
}
NAMES = [*RUNS, "signal", *SWEEPS]


def reproduce(configs: Path, docs: Path, out: Path, only: list[str] | None = None, quick: bool = False, report=print) -> None:
    """Run the README's experiments and write docs/figures/*.png and docs/tables/*.md."""
    figures, tables = docs / "figures", docs / "tables"
    figures.mkdir(parents=True, exist_ok=True)
    tables.mkdir(parents=True, exist_ok=True)
    overrides = [f"train.epochs={QUICK_EPOCHS}"] if quick else []
    rows = []
    for name, entry in RUNS.items():
        if only and name not in only:
            continue
        folder = runs.run(config_module.load(configs / entry.config, overrides), out)
        for source, target in entry.figures.items():
            shutil.copyfile(folder / source, figures / target)
        rows.append(_row(name, entry, folder))
        report(f"{name}: {folder}")
    if len(rows) == len(RUNS):  # the table is every lesson's: a partial run (--only) leaves it as it was
        (tables / "lessons.md").write_text(report_module.markdown(pd.DataFrame(rows)))
    if not only or "signal" in only:
        frames = {}
        for label, file in SIGNAL.items():
            _, data, model = runs.prepare(config_module.load(configs / file))
            frames[label] = signal_module.measure(model, data.x_train[:256])
        plots.signal_comparison(frames, figures / "signal_comparison.png",
                                "10 layers of 500 units at initialization: measured (dots) and theory (dashes)")
        report("signal: signal_comparison.png")
    for name, (file, pictures) in SWEEPS.items():
        if only and name not in only:
            continue
        the_plan = sweep_module.plan(configs / file, overrides, out)
        summary = sweep_module.execute(the_plan)
        for source, target in pictures.items():
            shutil.copyfile(the_plan.sweep_dir / source, figures / target)
        pairs = the_plan.sweep_dir / "differences.csv"
        (tables / f"{name}.md").write_text(
            report_module.markdown(report_module.readable(summary, ["accuracy", "val_accuracy"]))
            + report_module.differences_text(pd.read_csv(pairs) if pairs.exists() else pd.DataFrame()))
        report(f"{name}: {the_plan.sweep_dir}")


def _row(name: str, entry: Run, folder: Path) -> dict:
    """The numbers behind a lesson: final metric, symmetry, signal at initialization, gradients at the end."""
    summary = records.read_summary(folder)
    final = summary["final"]
    layers = records.read_layers(folder)
    hidden = layers[layers["layer"] != "output"]
    start, end = hidden[hidden["epoch"] == 0], hidden[hidden["epoch"] == hidden["epoch"].max()]
    return {
        "config": f"`{entry.config}`", "shows": entry.claim, "epochs": summary["epochs_run"], "status": summary["status"],
        "accuracy (mae)": final["accuracy"] if "accuracy" in final else final.get("mae"),
        "distinct units": summary["distinct_units"],
        "act. std at init, first -> last hidden": (f"{start['activation_std'].iloc[0]:.2g} -> {start['activation_std'].iloc[-1]:.2g}"
                                                  if len(start) else "-"),
        "saturated at init (max)": f"{start['saturated_fraction'].max():.2f}" if len(start) else "-",
        "grad norm, hidden_1 at end": f"{end['grad_norm'].iloc[0]:.2g}" if len(end) else "-",
        "epochs to 0.9": str((summary.get("epochs_to") or {}).get("0.9") or "-"),
    }
