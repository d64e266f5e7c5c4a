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
    if rows:
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
        shown = [c for c in summary.columns if not c.startswith(("loss", "val_loss")) and not c.endswith(("_min", "_max"))]
        (tables / f"{name}.md").write_text(report_module.markdown(summary[shown]))
        report(f"{name}: {the_plan.sweep_dir}")


def _row(name: str, entry: Run, folder: Path) -> dict:
    summary = records.read_summary(folder)
    final = summary["final"]
    return {"config": f"`configs/{entry.config}`", "shows": entry.claim, "epochs": summary["epochs_run"],
            "accuracy": final.get("accuracy"), "val_accuracy": final.get("val_accuracy"),
            "distinct units": summary["distinct_units"], "status": summary["status"]}


