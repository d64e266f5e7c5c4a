"""The `initlab` command: a thin layer over initlab's functions."""

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .errors import UserError, did_you_mean

app = typer.Typer(add_completion=False, no_args_is_help=True, help="A lab for weight-initialization experiments in Keras 3.")


def out_console() -> Console:
    return Console(highlight=False, soft_wrap=True)  # made per call: it sizes itself from the terminal at the time


def err_console() -> Console:
    return Console(stderr=True)

SetOption = Annotated[
    Optional[list[str]],
    typer.Option("--set", metavar="KEY.PATH=VALUE", help="Override any config key; the value is parsed as YAML. Repeatable."),
]
OutOption = Annotated[
    Path, typer.Option("--out", file_okay=False, writable=True, help="Folder the run folders go under.")
]


def _fail(error: UserError):
    err_console().print(f"[bold red]error:[/] {escape(error.render())}", soft_wrap=True)
    raise typer.Exit(code=2)


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="The experiment's YAML file.")],
    set_: SetOption = None,
    out: OutOption = Path("outputs"),
):
    """Train one experiment and write its run folder (replacing the same config's earlier one); print the folder."""
    from . import config as config_module, runs

    try:
        cfg = config_module.load(config, set_ or [])
        folder = _run_with_progress(cfg, out)
    except UserError as error:
        _fail(error)
    except PermissionError as error:
        _fail(UserError(f"cannot write there ({error.strerror})", "--out", str(out)))
    from .records import read_summary

    summary = read_summary(folder)
    final = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in summary["final"].items())
    typer.echo(
        f"{summary['status']}: {final}; distinct units {summary['distinct_units']}; "
        f"{summary['epochs_run']} epochs in {summary['duration_s']:.2f} s",
        err=True,
    )
    typer.echo(str(folder))


def _run_with_progress(cfg, out: Path) -> Path:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from . import runs

    console = err_console()
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=console, transient=True, disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task(cfg.name, total=cfg.train.epochs)
        return runs.run(cfg, out, on_epoch=lambda epoch: progress.update(task, completed=epoch))


@app.command()
def sweep(
    sweep_file: Annotated[Path, typer.Argument(metavar="SWEEP", help="The sweep's YAML file (base, set, grid, cases, seeds).")],
    set_: SetOption = None,
    out: OutOption = Path("outputs"),
    workers: Annotated[int, typer.Option("--workers", min=1, help="Local worker processes (spawned; TensorFlow threads split between them).")] = 1,
    scheduler: Annotated[Optional[str], typer.Option("--scheduler", metavar="ADDRESS", help="A Dask scheduler, tcp://HOST:PORT (the distributed extra).")] = None,
    rerun: Annotated[bool, typer.Option("--rerun", help="Train complete runs again too.")] = False,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="Stop at the first failed run (exit 1).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the runs and which are complete; train nothing.")] = False,
    pictures: Annotated[Optional[bool], typer.Option("--pictures/--no-pictures", help="Per-run pictures (default: only for sweeps of at most 12 runs; draw the others later with `initlab plot RUN_FOLDER`).")] = None,
):
    """Run a grid of experiments: runs that differ only in initializer and seed train together in one graph.
    Complete runs are skipped; writes sweep.csv, summary.csv, report.md and comparison pictures."""
    from . import sweep as sweep_module

    try:
        the_plan = sweep_module.plan(sweep_file, set_ or [], out, rerun)
    except UserError as error:
        _fail(error)
    if dry_run:
        _print_plan(the_plan)
        return
    try:
        if scheduler and not all(the_plan.done):
            from . import dispatch

            dispatch.check_scheduler(scheduler)  # the extra and the scheduler, before anything is written
        summary = _sweep_with_progress(the_plan, workers, scheduler, fail_fast, pictures)
    except UserError as error:
        _fail(error)
    except sweep_module.SweepFailed as failure:
        err_console().print(f"[bold red]a run failed:[/] {escape(str(failure))}", soft_wrap=True)
        raise typer.Exit(code=1)
    except KeyboardInterrupt:
        from .records import is_complete

        done = sum(is_complete(f) for f in the_plan.folders)
        err_console().print(f"interrupted: {done} of {len(the_plan.folders)} runs complete; run the same command to finish")
        raise typer.Exit(code=130)
    _print_summary(summary)
    typer.echo(str(the_plan.sweep_dir))


def _print_plan(the_plan) -> None:
    table = Table(title=f"{the_plan.sweep.name}: {len(the_plan.planned)} runs, {sum(the_plan.done)} complete")
    keys = (["case"] if the_plan.planned[0].case is not None else []) + list(the_plan.planned[0].grid)
    for column in ("run", *keys, "seed", "complete"):
        table.add_column(column)
    for run, folder, done in zip(the_plan.planned, the_plan.folders, the_plan.done):
        labels = ([run.case] if run.case is not None else []) + list(run.grid.values())
        table.add_row(folder.name, *labels, str(run.seed), "yes" if done else "no")
    out_console().print(table)


def _sweep_with_progress(the_plan, workers, scheduler, fail_fast, pictures):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from . import sweep as sweep_module

    todo = len(the_plan.done) - sum(the_plan.done)
    failed = 0
    console = err_console()
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("failed {task.fields[failed]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=console, disable=not console.is_terminal) as progress:
        task = progress.add_task(the_plan.sweep.name, total=todo, failed=0)

        def on_result(result):
            nonlocal failed
            failed += bool(result.error)
            progress.update(task, advance=1, failed=failed)

        summary = sweep_module.execute(the_plan, workers, scheduler, fail_fast, pictures, on_result)
    if todo == 0:
        console.print("nothing to do: every run is complete (--rerun trains them again)")
    return summary


def _print_summary(summary) -> None:
    if summary is None or len(summary) == 0:
        return
    table = Table(title="mean (std) over seeds")
    shown = [c for c in summary.columns if not any(c.endswith(s) for s in ("_mean", "_std", "_min", "_max"))]
    metrics = [c[: -len("_mean")] for c in summary.columns if c.endswith("_mean") and not c.startswith("loss")
               and not c.startswith("val_loss")]
    for column in shown + metrics:
        table.add_column(column)
    for _, row in summary.iterrows():
        cells = [str(row[c]) for c in shown]
        cells += [f"{row[m + '_mean']:.3f} ({row[m + '_std']:.3f})" if row[m + "_mean"] == row[m + "_mean"] else "-" for m in metrics]
        table.add_row(*cells)
    out_console().print(table)


@app.command()
def validate(
    config: Annotated[Path, typer.Argument(help="The experiment's YAML file.")],
    set_: SetOption = None,
):
    """Check a config (keys, types, ranges, names, data file) and print it resolved, defaults filled in."""
    from . import config as config_module, runs

    try:
        cfg, _, _ = runs.prepare(config_module.load(config, set_ or []))
    except UserError as error:
        _fail(error)
    typer.echo(config_module.dump(cfg), nl=False)


@app.command()
def initializers():
    """List the initializer names Keras knows, with the formula each draws from."""
    from . import initializers as init_module

    table = Table(title="Initializers (n_in = fan_in, n_out = fan_out)")
    table.add_column("name", style="bold")
    table.add_column("aliases")
    table.add_column("draws")
    for name, aliases, formula in init_module.table():
        table.add_row(name, aliases, formula)
    out_console().print(table)
    out_console().print(
        "Parameters go in a mapping: {name: random_normal, stddev: 0.01}; Keras's {class_name, config} works too.\n"
        "He: uniform limit sqrt(6/n_in), normal std sqrt(2/n_in) (not sqrt(6/(n_in+n_out)): that is Glorot's uniform limit)."
    )


@app.command()
def diagnose(
    target: Annotated[Path, typer.Argument(help="A config YAML (its initial weights) or a saved MODEL.keras. A .keras "
                                           "file is loaded with Keras's safe_mode: code stored in it (a Lambda "
                                           "layer) is refused, never run.")],
    set_: SetOption = None,
    csv: Annotated[Optional[Path], typer.Option("--csv", dir_okay=False, help="Write every figure of every layer to this CSV file.")] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print one JSON object per layer with weights instead of the table.")] = False,
    plot: Annotated[Optional[Path], typer.Option("--plot", dir_okay=False, help="Draw activation and gradient scale by depth to this PNG file.")] = None,
):
    """The initialization checklist as the first training step sees the model: exit 0 when healthy, 1 when it found a
    problem (notes do not count), 2 for bad input."""
    from . import checklist, checklist_report

    try:
        for option, path in (("--csv", csv), ("--plot", plot)):
            if path is not None and not path.resolve().parent.is_dir():
                raise UserError(f"no folder {path.resolve().parent} to write {path.name} in", option, str(path))
        model = _model_to_diagnose(target, set_ or [])
        table = checklist.diagnose(model, gradients=plot is not None)
    except UserError as error:
        _fail(error)
    try:
        if csv is not None:
            checklist_report.to_csv(table, csv)
        if plot is not None:
            checklist_report.plot(table, plot, target.name)
    except OSError as error:
        _fail(UserError(f"cannot write there ({error.strerror})", str(error.filename or csv or plot)))
    if json_:
        typer.echo(checklist_report.to_json(table))
    else:
        _print_diagnosis(table, str(target))
    raise typer.Exit(code=0 if checklist.healthy(table) else 1)


def _model_to_diagnose(target: Path, overrides: list[str]):
    """A config's freshly built model, or a .keras file loaded without running any code stored in it."""
    import warnings
    import zipfile

    from . import config as config_module, runs
    from .backend import keras

    if target.suffix != ".keras":
        return runs.prepare(config_module.load(target, overrides))[2]
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
        if "safe_mode" in str(exc) or "Lambda" in str(exc):
            raise UserError("refused: the model stores Python code (a Lambda layer or function), which initlab "
                            "never runs (Keras safe_mode); build the model in Python and call "
                            "initlab.diagnose(model)", str(target)) from None
        raise UserError(f"not a loadable Keras model ({type(exc).__name__}: {message[:200]})", str(target)) from None


def _print_diagnosis(table, title: str) -> None:
    from .checklist_report import render

    typer.echo(render(table, title))


@app.command()
def reproduce(
    only: Annotated[Optional[list[str]], typer.Option("--only", help="Just these entries (repeatable): relu_constant, relu_constant_long, relu_he, relu_zero, signal, compare_initializers.")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="20 epochs each: checks the pipeline, not the lessons' numbers.")] = False,
    configs: Annotated[Path, typer.Option("--configs", file_okay=False, help="Where the configs are.")] = Path("configs"),
    docs: Annotated[Path, typer.Option("--docs", file_okay=False, help="Where figures/ and tables/ go.")] = Path("docs"),
    out: OutOption = Path("outputs"),
):
    """Regenerate every figure and table in the README (docs/figures, docs/tables) from the configs."""
    from . import reproduce as reproduce_module

    unknown = [name for name in only or [] if name not in reproduce_module.NAMES]
    if unknown:
        _fail(UserError(f"unknown entry '{unknown[0]}'{did_you_mean(unknown[0], reproduce_module.NAMES)}; "
                        f"allowed: {', '.join(reproduce_module.NAMES)}", "--only"))
    try:
        reproduce_module.reproduce(configs, docs, out, only, quick, report=lambda line: typer.echo(line, err=True))
    except UserError as error:
        _fail(error)
    typer.echo(str(docs))


@app.command()
def plot(folder: Annotated[Path, typer.Argument(help="A run folder, as `initlab run` printed it.")]):
    """Draw a run's pictures again from its records."""
    from . import records, runs

    if not records.is_complete(folder):
        _fail(UserError("not a complete run folder (no summary.json)", str(folder)))
    runs.redraw(folder)
    typer.echo(str(folder))


@app.command(name="runs")
def list_runs(folder: Annotated[Path, typer.Argument(help="Where to look for run folders.")] = Path("outputs")):
    """A table of the runs under a folder with their status and final metrics."""
    from . import records

    if not folder.is_dir():
        _fail(UserError("no such folder", str(folder)))
    table = Table()
    for column in ("experiment", "run", "status", "epochs", "loss", "accuracy / mae", "val_loss", "val_accuracy / val_mae",
                   "distinct units"):
        table.add_column(column)
    count = 0
    for summary_path in sorted(folder.rglob(records.SUMMARY)):
        run_folder = summary_path.parent
        if not records.is_complete(run_folder):
            continue
        summary = records.read_summary(run_folder)
        values = (list((summary.get("final") or {}).values()) + [None] * 4)[:4]
        cells = [f"{v:.4f}" if isinstance(v, (int, float)) else "-" for v in values]
        table.add_row(run_folder.parent.name, run_folder.name, summary["status"], str(summary["epochs_run"]),
                      *cells, str(summary["distinct_units"]))
        count += 1
    table.title = f"{count} runs under {folder}"
    out_console().print(table)


def main() -> None:
    """The console script: run the app, then leave without TensorFlow's slow interpreter teardown (~1 s)."""
    try:
        app(prog_name="initlab")
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        if isinstance(done.code, str):
            print(done.code, file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # everything initlab writes is closed by now; only TensorFlow's module teardown is skipped
