"""`initlab reproduce`: every figure and table in the README and docs/, regenerated: the packaged lessons
(configs/), the signal comparison, the sweeps, the papers' claims and the checklist's picture of MobileNetV2."""

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from initlab.config import catalog, experiment as config_module
from initlab.lab import (
    paper_de2020,
    paper_lu2019,
    paper_pennington2017,
    paper_yang2022,
    papers,
    runs,
    sweep as sweep_module,
)
from initlab.output import plots, run_folder, sweep_report as report_module
from initlab.train import propagation as signal_module

QUICK_EPOCHS = 20  # --quick: a smoke test of the whole pipeline, not the lessons' numbers


@dataclass
class Run:
    """One lesson: its pictures copied to docs/figures under new names, its numbers a row of docs/tables/lessons.md
    (what it shows: from the lessons' index)."""
    config: str
    figures: dict[str, str] = field(default_factory=dict)


def _mistakes() -> dict[str, Run]:
    return {f"mistake_{mistake}_{act}": Run(f"mistake_{mistake}_{act}.yaml",
                                            {"activations.png": f"mistake_{mistake}_{act}_activations.png"} if act == "tanh" else {})
            for mistake in ("zero", "constant", "small", "large") for act in ("relu", "tanh", "sigmoid")}


RUNS = {
    "relu_constant": Run("relu_constant.yaml", {"boundary.png": "relu_constant_boundary.png", "history.png": "relu_constant_history.png"}),
    "relu_constant_long": Run("relu_constant_long.yaml", {"boundary.png": "relu_constant_long_boundary.png",
                                                          "boundary.gif": "relu_constant_long_boundary.gif",
                                                          "gradients.png": "relu_constant_long_gradients.png"}),
    "relu_he": Run("relu_he.yaml", {"boundary.png": "relu_he_boundary.png", "boundary.gif": "relu_he_boundary.gif",
                                    "activations.png": "relu_he_activations.png"}),
    "relu_zero": Run("relu_zero.yaml", {"gradients.png": "relu_zero_gradients.png"}),
    **_mistakes(),
    **{name: Run(f"{name}.yaml") for name in (
        "salary_zero_relu", "salary_constant_relu", "logreg_zero", "constant_kernel_random_bias", "small_init_shallow",
        "small_init_deep", "per_layer_init", "lr_too_small", "lr_well_chosen", "convergence_he", "convergence_random_normal",
        "qa_script_random_labels", "qa_script_learnable", "digits_zero_relu")},
    **{name: Run(f"{name}.yaml", {"activations.png": f"{name}_activations.png", "history.png": f"{name}_history.png"})
       for name in ("digits_small_tanh", "digits_large_tanh", "digits_glorot_tanh", "digits_he_relu")},
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
    "qa_compare_random_labels": ("qa_compare_random_labels.yaml", {}),
    "qa_compare_learnable": ("qa_compare_learnable.yaml", {"loss_curves.png": "qa_compare_learnable_loss.png"}),
    "digits_initializers": ("digits_initializers.yaml", {
        "loss_curves.png": "digits_initializers_loss.png",
        "activation_std.png": "digits_initializers_activation_std.png",
    }),
    # users' own models (factories in initlab/train/architectures.py): docs/yours.md
    "yours_mobilenet_honest": ("yours_mobilenet_honest.yaml", {"loss_curves.png": "yours_mobilenet_honest_loss.png"}),
    "yours_lstm_memory": ("yours_lstm_memory.yaml", {"loss_curves.png": "yours_lstm_memory_loss.png"}),
}
LEARNING_RATES = {  # sweep lessons read as learning-rate curves per width (docs/width.md): name -> (file, picture)
    "digits_wider": ("digits_wider.yaml", "digits_wider_learning_rates.png"),
}
LEARNING_RATES_QUICK = ["train.epochs=1", "data.n_samples=600"]  # --quick: 20 epochs at width 1024 would be no smoke test
DIAGNOSED = ("MobileNetV2", 224, "diagnose_mobilenet_v2.png")  # docs/diagnose.md's picture (--quick: 96 px)
# docs/width.md's coordinate checks: a lesson with Adam at three widths, standard against muP (--quick: narrower)
COORDCHECK = ("convergence_he.yaml", {
    "standard": ["train.optimizer=adam"],
    "mup": ["train.optimizer=adam", "model.parametrization=mup", "model.base_width=64"],
})
# sweep lessons drawn, never trained (docs/lessons.md): name -> (file, picture); draws per case from the lessons' index
BORN_DEAD = {"born_dead_grid": ("born_dead_grid.yaml", "born_dead_grid.png")}
JACOBIANS = {  # sweep lessons drawn at initialization as Jacobian spectra by depth (docs/lessons.md): name -> (file, picture)
    "jacobian_depth": ("jacobian_depth.yaml", "jacobian_depth.png"),
}
# sweep lessons measured at the draw, never trained: the residual stream's variance by block (docs/depth.md):
# name -> (file, draws per case; --quick: 20)
RESIDUAL_VARIANCE = {"digits_resnet_variance": ("digits_resnet_variance.yaml", 200)}
NAMES = [*RUNS, "signal", *SWEEPS, *LEARNING_RATES, *BORN_DEAD, *RESIDUAL_VARIANCE, "papers", "diagnose", "coordcheck",
         *JACOBIANS]


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
        folder = runs.run(config_module.load_config(configs / entry.config, overrides), out)
        for source, target in entry.figures.items():
            shutil.copyfile(folder / source, figures / target)
        rows.append(_row(name, entry, folder))
        report(f"{name}: {folder}")
    if len(rows) == len(RUNS):  # the table is every lesson's: a partial run (--only) leaves it as it was
        (tables / "lessons.md").write_text(report_module.markdown(pd.DataFrame(rows)))
    if not only or "signal" in only:
        frames = {}
        for label, file in SIGNAL.items():
            _, data, model, _ = runs.prepare(config_module.load_config(configs / file))
            frames[label] = signal_module.signal_frame(model, data.x_train[:256])
        plots.signal_comparison(frames, figures / "signal_comparison.png",
                                "10 layers of 500 units at initialization: measured (dots) and theory (dashes)")
        report("signal: signal_comparison.png")
    for name, (file, pictures) in SWEEPS.items():
        if only and name not in only:
            continue
        # afresh: a complete run in `out` may come from another version of initlab or TensorFlow, or another CPU,
        # and the docs are what this code computes here (once a table kept numbers from before the AVX2 cap)
        the_plan = sweep_module.plan(configs / file, overrides, out, rerun=True)
        summary = pd.DataFrame(sweep_module.execute(the_plan))
        for source, target in pictures.items():
            shutil.copyfile(the_plan.sweep_dir / source, figures / target)
        pairs = the_plan.sweep_dir / "differences.csv"
        shown = ["accuracy", "val_accuracy"] if "accuracy_mean" in summary else ["mae", "val_mae"]
        report_text = (the_plan.sweep_dir / "report.md").read_text()
        at_init = report_text[report_text.find("\n\n## The signal at initialization"):] if \
            "## The signal at initialization" in report_text else ""  # a user's model: the checklist beside the outcome
        (tables / f"{name}.md").write_text(
            report_module.intervals_text(summary).strip() + "\n\n"
            + report_module.markdown(report_module.readable(summary, shown))
            + report_module.differences_text(pd.read_csv(pairs) if pairs.exists() else pd.DataFrame()) + at_init)
        report(f"{name}: {the_plan.sweep_dir}")
    for name, (file, picture) in LEARNING_RATES.items():
        if only and name not in only:
            continue
        the_plan = sweep_module.plan(configs / file, LEARNING_RATES_QUICK if quick else [], out, rerun=True)
        sweep_module.execute(the_plan, pictures=False)
        table = paper_yang2022.losses(zip(the_plan.planned, the_plan.folders))
        paper_yang2022.figure(table, figures / picture, f"{name}: final training loss by Adam's learning rate, "
                                                        f"{table['seed'].nunique()} seeds")
        (tables / f"{name}.md").write_text(report_module.markdown(paper_yang2022.optima_table(table)))
        report(f"{name}: {the_plan.sweep_dir}")
    for name, (file, picture) in BORN_DEAD.items():
        if only and name not in only:
            continue
        report(f"{name}: {born_dead_grid(configs / file, docs, out, name, quick)}")
    for name, (file, draws) in RESIDUAL_VARIANCE.items():
        if only and name not in only:
            continue
        report(f"{name}: {residual_variance(configs / file, figures, tables, name, out, 20 if quick else draws)}")
    if not only or "papers" in only:
        papers.reproduce_papers(docs, out, quick, report=report)
    if not only or "diagnose" in only:
        report(f"diagnose: {diagnosed_picture(figures, quick)}")
    if not only or "coordcheck" in only:
        report(f"coordcheck: {coordinate_checks(configs, docs, out, quick)}")
    for name, (file, picture) in JACOBIANS.items():
        if only and name not in only:
            continue
        paper_pennington2017.lesson(sweep_module.plan(configs / file, [], out), figures / picture, quick)
        report(f"{name}: {figures / picture}")


def born_dead_grid(file: Path, docs: Path, out: Path, name: str, quick: bool = False) -> Path:
    """docs/figures/<picture> and docs/tables/<name>.md: the share of each case's draws born dead at every depth
    (initlab/lab/paper_lu2019.py), `draws` per case from the lessons' index (--quick: `quick_draws`)."""
    the_plan = sweep_module.plan(file, [], out)
    note = catalog.index()[name]
    draws = note["quick_draws"] if quick else note["draws"]
    rows = paper_lu2019.measure({run.case: config for run, config in zip(the_plan.planned, the_plan.resolved)}, draws)
    depth = max(len(row["depths"]) for row in rows.values())
    picture = docs / "figures" / BORN_DEAD[name][1]
    paper_lu2019.grid_figure(rows, picture, f"Share of {draws} initializations born dead (output constant on "
                                            f"[-sqrt 3, sqrt 3]): ReLU nets of one input")
    shown = sorted({d for d in (1, 2, 5, 10, 20, 30, 50) if d <= depth} | {depth})
    table = pd.DataFrame([{"case": label, **{f"depth {d}": f"{row['p'][d - 1]:.3f} [{row['low'][d - 1]:.3f}, "
                                                          f"{row['high'][d - 1]:.3f}]" for d in shown}}
                          for label, row in rows.items()])
    (docs / "tables" / f"{name}.md").write_text(f"Share born dead of {draws} draws per case, with its 95% Wilson "
                                                f"interval.\n\n" + report_module.markdown(table))
    return picture


def residual_variance(file: Path, figures: Path, tables: Path, name: str, out: Path, draws: int) -> Path:
    """A residual sweep's cases drawn `draws` times each (planned, not trained): the stream's variance by block,
    docs/figures/<name>.png and docs/tables/<name>.md."""
    the_plan = sweep_module.plan(file, [], out)
    configs = {run.case: config for run, config in zip(the_plan.planned, the_plan.resolved)}
    first = the_plan.resolved[0]
    init = paper_de2020.at_initialization(configs, the_plan.data_for(first).x_train[:256], draws)
    plots.paper_lines([paper_de2020.variance_panel(init), paper_de2020.added_panel(init)], figures / f"{name}.png",
                      f"{first.model.residual.blocks} residual blocks of {first.model.hidden[-1]} ReLU units on digits: "
                      f"geometric mean of {draws} draws")
    (tables / f"{name}.md").write_text(report_module.markdown(paper_de2020.variance_table(init)))
    return figures / f"{name}.png"


def coordinate_checks(configs: Path, docs: Path, out: Path, quick: bool = False) -> Path:
    """docs/figures/coordcheck_<standard|mup>.png and docs/tables/coordcheck.md: COORDCHECK's lesson checked at
    widths 64, 256, 1024 (--quick: 64, 128), 3 steps, 3 seeds, under each parametrization."""
    from initlab.lab import coordcheck

    file, cases = COORDCHECK
    widths = [64, 128] if quick else [64, 256, 1024]
    parts = []
    for label, overrides in cases.items():
        checked = coordcheck.check(coordcheck.load(configs / file, overrides, widths), 3, 3, out / label)
        coordcheck.run(checked, checked.folder.name)
        shutil.copyfile(checked.folder / "coordcheck.png", docs / "figures" / f"coordcheck_{label}.png")
        report = (checked.folder / "coordcheck.md").read_text()
        parts.append(f"## {label}: `initlab coordcheck {file.removesuffix('.yaml')} "
                     f"{' '.join('--set ' + o for o in overrides)} --widths {','.join(map(str, widths))}`\n\n"
                     + report[report.find("| step"):].strip() + "\n")
    table = docs / "tables" / "coordcheck.md"
    table.write_text("\n".join(parts))
    return table


def diagnosed_picture(figures: Path, quick: bool = False) -> Path:
    """The checklist's picture by depth of Keras's MobileNetV2 as built (weights=None, Keras's own initializers)."""
    from initlab.base.backend import keras
    from initlab.diagnosis import checklist

    name, size, file = DIAGNOSED
    keras().utils.set_random_seed(0)
    model = getattr(keras().applications, name)(input_shape=(96, 96, 3) if quick else (size, size, 3), weights=None)
    table = checklist.diagnose(model, gradients=True)
    plots.checklist_by_depth(table, figures / file, model.name)
    return figures / file


def _row(name: str, entry: Run, folder: Path) -> dict:
    """The numbers behind a lesson: final metric, symmetry, signal at initialization, gradients at the end."""
    summary = run_folder.read_summary(folder)
    note = catalog.index().get(name, {})
    final = summary["final"]
    layers = run_folder.read_layers(folder)
    hidden = layers[layers["layer"] != "output"]
    start, end = hidden[hidden["epoch"] == 0], hidden[hidden["epoch"] == hidden["epoch"].max()]
    return {
        "config": f"`{entry.config}`", "shows": f"{note.get('shows', '')}: {note.get('expect', '')}",
        "epochs": summary["epochs_run"], "status": summary["status"],
        "accuracy (mae)": final["accuracy"] if "accuracy" in final else final.get("mae"),
        "held out": final["val_accuracy"] if "val_accuracy" in final else final.get("val_mae"),
        "distinct units": summary["distinct_units"],
        "act. std at init, first -> last hidden": (f"{start['activation_std'].iloc[0]:.2g} -> {start['activation_std'].iloc[-1]:.2g}"
                                                  if len(start) else "-"),
        "saturated at init (max)": f"{start['saturated_fraction'].max():.2f}" if len(start) else "-",
        "grad norm, hidden_1 at end": f"{end['grad_norm'].iloc[0]:.2g}" if len(end) else "-",
        "epochs to 0.9": str((summary.get("epochs_to") or {}).get("0.9") or "-"),
    }
