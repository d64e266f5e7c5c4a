"""The `initlab` command: one small function per command over the lab's functions.

Each command imports what it uses inside its body, never at the top of this file: `initlab --help` and the commands
that train nothing start in 0.1-0.3 s because they never import TensorFlow, pandas or matplotlib
(tests/test_light_commands.py). A UserError raised anywhere below a command is told in one place (Commands.invoke):
one line on stderr, exit code 2."""

import os
import signal
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from initlab.base import backend
from initlab.base.errors import UserError, did_you_mean
from initlab.base.words import counted


class Commands(TyperGroup):
    """initlab's commands: a UserError from any of them becomes one line on stderr and exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as error:
            err_console().print(f"[bold red]error:[/] {escape(error.render())}", soft_wrap=True)
            raise typer.Exit(code=2) from None


app = typer.Typer(cls=Commands, no_args_is_help=True,
                  help="A lab for weight-initialization experiments in Keras 3.")


def _print_version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version

        typer.echo(f"initlab {version('initlab')}")
        raise typer.Exit()


@app.callback()
def options(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="Print initlab's version and exit.")] = False,
):
    """A lab for weight-initialization experiments in Keras 3."""


def out_console() -> Console:
    return Console(highlight=False, soft_wrap=True)  # made per call: it sizes itself from the terminal at the time


def err_console() -> Console:
    return Console(stderr=True)


def _lesson_names(*kinds: str) -> Callable[[str], list[tuple[str, str]]]:
    """Shell completion (`initlab --install-completion`) of the names of the lessons of these kinds, each with what it
    shows (zsh and fish print it beside the name). Where no name matches, bash completes file names as usual."""

    def complete(incomplete: str) -> list[tuple[str, str]]:
        from initlab.config import catalog

        return [(lesson.name, lesson.shows) for lesson in catalog.lessons()
                if lesson.kind in kinds and lesson.name.startswith(incomplete)]

    return complete


LessonName = Annotated[str, typer.Argument(help="A lesson's or a paper's name.",
                                           autocompletion=_lesson_names("run", "sweep", "paper"))]
SetOption = Annotated[
    Optional[list[str]],
    typer.Option("--set", metavar="KEY.PATH=VALUE", help="Override any config key; the value is parsed as YAML. Repeatable."),
]
AllowLargeOption = Annotated[
    bool, typer.Option("--allow-large", help="Go beyond the model, data, epoch and sweep-size limits (see the README).")
]
OutOption = Annotated[
    Path, typer.Option("--out", file_okay=False, writable=True, help="Folder the run folders go under.")
]
# run and sweep check writability themselves, when they write: one line (not click's usage box), and a disk that
# fills up or turns read-only later is told the same way
WriteOption = Annotated[Path, typer.Option("--out", help="Folder the run folders go under.")]


@contextmanager
def _interruptible(what: Callable[[], str]):
    """Ctrl-C and SIGTERM raised where it is safe; either ends the command with one line saying what() and the
    conventional exit code: 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM)."""
    from initlab.base import interrupts

    try:
        with interrupts.raised():
            yield
    except BaseException as error:
        if not (interrupts.received or isinstance(error, KeyboardInterrupt)):
            raise
        number = interrupts.received[0] if interrupts.received else signal.SIGINT
        err_console().print(f"interrupted ({number.name}): {what()}", soft_wrap=True, highlight=False)
        raise typer.Exit(code=128 + number) from None


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="The experiment's YAML file, or a lesson's name (`initlab lessons`).",
                                           autocompletion=_lesson_names("run"))],
    set_: SetOption = None,
    out: WriteOption = Path("outputs"),
    allow_large: AllowLargeOption = False,
):
    """Train one experiment and write its run folder (replacing the same config's earlier one); print the folder."""
    from initlab.config import catalog, experiment as config_module

    with _interruptible(lambda: "nothing was written (an earlier run folder of this config is untouched)"):
        cfg = config_module.load_config(catalog.resolve(config), set_ or [], allow_large)
        folder = _run_with_progress(cfg, out)
    _print_run_summary(folder)


def _print_run_summary(folder: Path) -> None:
    from initlab.output.run_folder import read_summary

    summary = read_summary(folder)
    final = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in summary["final"].items())
    units = f"; distinct units {summary['distinct_units']}" if "distinct_units" in summary else ""
    typer.echo(f"{summary['status']}: {final}{units}; {counted(summary['epochs_run'], 'epoch')} in "
               f"{summary['duration_s']:.2f} s", err=True)
    typer.echo(str(folder))


def _run_with_progress(cfg, out: Path) -> Path:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from initlab.lab import runs

    console = err_console()
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=console, transient=True, disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task(cfg.name, total=cfg.train.epochs)
        return runs.run(cfg, out, on_epoch=lambda epoch: progress.update(task, completed=epoch))


@app.command()
def sweep(
    sweep_file: Annotated[Path, typer.Argument(metavar="SWEEP", help="The sweep's YAML file (base, set, grid, cases, seeds), or a sweep lesson's or a paper's name.", autocompletion=_lesson_names("sweep", "paper"))],
    set_: SetOption = None,
    out: WriteOption = Path("outputs"),
    workers: Annotated[int, typer.Option("--workers", min=1, help="Local worker processes (spawned; TensorFlow threads split between them).")] = 1,
    scheduler: Annotated[Optional[str], typer.Option("--scheduler", metavar="ADDRESS", help="A Dask scheduler, tcp://HOST:PORT (the distributed extra).")] = None,
    rerun: Annotated[bool, typer.Option("--rerun", help="Train complete runs again too.")] = False,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="Stop at the first failed run (exit 1).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the runs and which are complete; train nothing.")] = False,
    pictures: Annotated[Optional[bool], typer.Option("--pictures/--no-pictures", help="Per-run pictures (default: only for sweeps of at most 12 runs; draw the others later with `initlab plot RUN_FOLDER`).")] = None,
    allow_large: AllowLargeOption = False,
):
    """Run a grid of experiments: runs that differ only in initializer, learning rate and seed train together in one graph.
    Complete runs are skipped; writes sweep.csv, summary.csv, report.md and comparison pictures."""
    from initlab.config import catalog
    from initlab.lab import sweep as sweep_module

    the_plan = sweep_module.plan(catalog.resolve(sweep_file), set_ or [], out, rerun, allow_large)
    if dry_run:
        _print_plan(the_plan)
        return
    try:
        with _interruptible(lambda: _complete_text(the_plan)):
            if scheduler and not all(the_plan.done):
                from initlab.lab import dispatch

                dispatch.check_scheduler(scheduler)  # the extra and the scheduler, before anything is written
            summary = _sweep_with_progress(the_plan, workers, scheduler, fail_fast, pictures)
    except sweep_module.SweepFailed as error:
        err_console().print(f"[bold red]a run failed:[/] {escape(str(error))}", soft_wrap=True)
        raise typer.Exit(code=1) from None
    _print_summary(summary)
    typer.echo(str(the_plan.sweep_dir))


def _complete_text(the_plan) -> str:
    from initlab.lab.sweep import complete_count

    done = complete_count(the_plan)
    return f"{done} of {counted(len(the_plan.folders), 'run')} complete; run the same command to finish"


def _print_plan(the_plan) -> None:
    keys = (["case"] if the_plan.planned[0].case is not None else []) + list(the_plan.planned[0].grid)
    rows = []
    for i, (run, folder, done) in enumerate(zip(the_plan.planned, the_plan.folders, the_plan.done)):
        labels = ([run.case] if run.case is not None else []) + list(run.grid.values())
        rows.append([folder.name, *labels, str(run.seed), "yes" if done else "damaged" if i in the_plan.damaged else "no"])
    _print_table(f"{the_plan.sweep.name}: {counted(len(the_plan.planned), 'run')}, {sum(the_plan.done)} complete",
                 ["run", *keys, "seed", "complete"], rows)


LONG_TABLE = 50  # rows; Rich measures and wraps every cell (about 3 ms a row), so longer tables are drawn here


def _print_table(title: str, columns: list[str], rows: list[list[str]], prose: tuple[str, ...] = (),
                 bold: tuple[str, ...] = ()) -> None:
    """A table in Rich's box characters that never cuts a word: a run, lesson or initializer name, a path, a number
    stays whole at 80 columns and in a pipe. Every column is at least as wide as its longest word, and the table
    wider than the terminal when the words need it; where there are `prose` columns, the others keep each cell on
    one line and the prose gives way first (down to folding a word longer than it can be). A long table (a sweep's
    hundreds of runs) has every row on one line, never wrapped: fast, and each run's row greps whole. Cells are
    plain text, never Rich markup."""
    if len(rows) > LONG_TABLE and not prose:
        return _print_long_table(title, columns, rows)
    table = Table(title=title)
    for index, column in enumerate(columns):
        words = [word for text in (column, *(row[index] for row in rows)) for word in text.split()]
        table.add_column(column, style="bold" if column in bold else None, overflow="fold",
                         no_wrap=bool(prose) and column not in prose, min_width=max(map(cell_len, words), default=None))
    for row in rows:
        table.add_row(*map(Text, row))
    console = out_console()
    if prose and console.measure(table, options=console.options.update_width(10**6)).minimum > console.width:
        for column in table.columns:
            if column.header in prose:
                column.min_width = None
    console.print(table)


def _print_long_table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    from rich import box

    frame = box.HEAVY_HEAD
    widths = [max(len(cell) for cell in cells) for cells in zip(columns, *rows)]
    padded = [width + 2 for width in widths]

    def line(cells, left, middle, right):
        return left + middle.join(f" {cell.ljust(width)} " for cell, width in zip(cells, widths)) + right

    typer.echo("\n".join([
        title.center(sum(padded) + len(padded) + 1).rstrip(), frame.get_top(padded),
        line(columns, frame.head_left, frame.head_vertical, frame.head_right), frame.get_row(padded, "head"),
        *(line(row, frame.mid_left, frame.mid_vertical, frame.mid_right) for row in rows), frame.get_bottom(padded),
    ]))


def _sweep_with_progress(the_plan, workers, scheduler, fail_fast, pictures):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from initlab.lab import sweep as sweep_module

    trained = failed = 0
    console = err_console()
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("failed {task.fields[failed]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=console, disable=not console.is_terminal) as progress:
        task = progress.add_task(the_plan.sweep.name, total=None, failed=0)

        def on_start():
            for i, problem in the_plan.damaged.items():
                progress.console.print(f"{the_plan.folders[i].name}: damaged ({problem}); training it again",
                                       soft_wrap=True, highlight=False)
            progress.update(task, total=len(the_plan.done) - sum(the_plan.done))

        def on_result(result):
            nonlocal trained, failed
            trained += 1
            failed += bool(result.error)
            progress.update(task, advance=1, failed=failed)

        summary = sweep_module.execute(the_plan, workers, scheduler, fail_fast, pictures, on_result,
                                       on_wait=lambda text: progress.console.print(f"{text} ...", soft_wrap=True),
                                       on_start=on_start)
    if trained:
        console.print(f"trained {counted(trained, 'run')} ({failed} failed); {sum(the_plan.done)} already complete",
                      highlight=False)
    else:
        console.print("nothing to do: every run is complete (--rerun trains them again)")
    return summary


def _print_summary(summary: list[dict] | None) -> None:
    if not summary:
        return
    from initlab.lab.sweep import STATISTICS

    shown = [c for c in summary[0] if not c.endswith(STATISTICS)]
    metrics = [c[: -len("_mean")] for c in summary[0] if c.endswith("_mean") and not c.startswith("loss")
               and not c.startswith("val_loss")]
    rows = [[str(row[c]) for c in shown]
            + [f"{row[m + '_mean']:.3f} ({row[m + '_std']:.3f})" if row[m + "_mean"] == row[m + "_mean"] else "-"
               for m in metrics] for row in summary]
    _print_table("mean (std) over seeds", shown + metrics, rows)


@app.command()
def validate(
    config: Annotated[Path, typer.Argument(metavar="CONFIG_OR_SWEEP", help="A run config or a sweep file (YAML), or "
                                           "a lesson's or a paper's name.",
                                           autocompletion=_lesson_names("run", "sweep", "paper"))],
    set_: SetOption = None,
    allow_large: AllowLargeOption = False,
):
    """Check a config (keys, types, ranges, limits, names, data file) and print it resolved, defaults filled in;
    a sweep file: every run it makes checked the same way, and how many runs and training groups."""
    from initlab.config import cadence, catalog, experiment as config_module
    from initlab.lab import runs

    path = catalog.resolve(config)
    if "base" in config_module.read_yaml(path):
        return _validate_sweep(path, config, set_ or [], allow_large)
    cfg, _ = runs.check_with_data(config_module.load_config(path, set_ or [], allow_large))
    typer.echo(config_module.dump(cfg), nl=False)
    if hasattr(cfg, "record"):  # a user's own model records every epoch
        typer.echo(f"# {cadence.describe_cadence(cfg.train.epochs, cfg.record.every)}")


def _count(items, noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _validate_sweep(path: Path, given: Path, overrides: list[str], allow_large: bool) -> None:
    import yaml

    from initlab.lab import sweep as sweep_module

    checked = sweep_module.check(path, overrides, allow_large)
    sweep = checked.sweep
    sizes = [*([f"{len(sweep.cases)} cases"] if sweep.cases else []),
             *(f"{len(values)} {key}" for key, values in sweep.grid.items()), _count(sweep.seed_values, "seed")]
    groups = sweep_module.groups(checked.resolved)
    typer.echo(yaml.safe_dump(sweep.model_dump(), sort_keys=False, default_flow_style=None), nl=False)
    kept = sum(checked.kept)
    typer.echo(f"# records: the sweep's table (<out>/{sweep.name}/table/), {_count(range(kept), 'run folder')} kept"
               if checked.table else f"# records: a run folder each (a sweep of more than "
               f"{sweep_module.TABLE_ABOVE} runs writes the sweep's table; `store:` chooses)")
    typer.echo(f"# a sweep of {len(checked.planned)} runs ({' x '.join(sizes)}), each valid with its data; "
               f"{_count(groups, 'training group')}; `initlab sweep {given} --dry-run` lists them")


@app.command()
def coordcheck(
    config: Annotated[Path, typer.Argument(help="The experiment's YAML file, or a lesson's name (`initlab lessons`).",
                                           autocompletion=_lesson_names("run"))],
    widths: Annotated[str, typer.Option("--widths", metavar="W1,W2,...", help="Widths every hidden layer is set to, e.g. 64,256,1024 (at least two).")],
    steps: Annotated[int, typer.Option("--steps", help="Optimizer steps measured after initialization (1-10).")] = 3,
    seeds: Annotated[int, typer.Option("--seeds", help="Models per width, from the config's seed on (1-20); 3 or more give each slope a 95% interval.")] = 3,
    set_: SetOption = None,
    out: Annotated[Path, typer.Option("--out", help="The check goes in OUT/coordcheck/<config name>/.")] = Path("outputs"),
    allow_large: AllowLargeOption = False,
):
    """A coordinate check: each layer's mean absolute activation (the output's before its softmax or sigmoid) at
    initialization and after each of the first optimizer steps, at every width; writes coordcheck.csv,
    coordcheck.png and coordcheck.md and prints each layer's slope against width with its verdict."""
    from initlab.config import catalog
    from initlab.lab import coordcheck as check_module

    parsed = check_module.parse_widths(widths)
    configs = check_module.load(catalog.resolve(config), set_ or [], parsed, allow_large)
    checked = check_module.check(configs, steps, seeds, out)
    name = configs[parsed[0]].name
    with _interruptible(lambda: "nothing was written (an earlier check of this config is untouched)"):
        table = check_module.run(checked, name)
    rows = [[str(row.step), row.layer, f"{row.slope:.2f}",
             "-" if row.ci95_low != row.ci95_low else f"{row.ci95_low:.2f} to {row.ci95_high:.2f}", row.verdict]
            for row in table.itertuples()]
    _print_table(f"{name}: slope of log mean |activation| against log width ({parsed[0]} to {parsed[-1]})",
                 ["step", "layer", "slope", "95% interval", "verdict"], rows)
    typer.echo(str(checked.folder))


@app.command()
def initializers():
    """List the initializer names Keras knows and initlab's own (RAI), with the formula each draws from."""
    from initlab.config import initializers as init_module

    _print_table("Initializers (n_in = fan_in, n_out = fan_out)", ["name", "aliases", "draws"],
                 [list(row) for row in init_module.table()], prose=("aliases", "draws"), bold=("name",))
    out_console().print(
        "Parameters go in a mapping: {name: random_normal, stddev: 0.01}; Keras's {class_name, config} works too.\n"
        "He: uniform limit sqrt(6/n_in), normal std sqrt(2/n_in) (not sqrt(6/(n_in+n_out)): that is Glorot's uniform limit)."
    )


@app.command()
def diagnose(
    target: Annotated[Path, typer.Argument(help="A config YAML (its initial weights), a lesson's name, a run folder "
                                           "(the initial weights it trained from; --trained: its final ones) or a "
                                           "saved MODEL.keras. A .keras file is loaded with Keras's safe_mode: code "
                                           "stored in it (a Lambda layer) is refused, never run.", autocompletion=_lesson_names("run"))],
    set_: SetOption = None,
    csv: Annotated[Optional[Path], typer.Option("--csv", dir_okay=False, help="Write every figure of every layer, gradients included, to this CSV file.")] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print one JSON object per layer with weights instead of the table, gradients included.")] = False,
    plot: Annotated[Optional[Path], typer.Option("--plot", dir_okay=False, help="Draw activation and gradient scale by depth to this PNG file.")] = None,
    trained: Annotated[bool, typer.Option("--trained", help="Of a run folder, judge the weights training ended with (weights_final.npz) instead of the initial ones; the report says findings about scale then describe training.")] = False,
    full_names: Annotated[bool, typer.Option("--full-names", help="Print layer names whole, the table as wide as they need (else a long name is cut in the middle to the part that names it).")] = False,
    jacobian: Annotated[bool, typer.Option("--jacobian", help="Also measure the input-output Jacobian's spectrum (its squared singular values, of the output before a final softmax or sigmoid) on probe inputs: exact where it fits 1 GiB, else a randomized estimate; in --json under the last layer's \"jacobian\", in --csv as the last row's jacobian_* columns, in --plot as a line under the panels.")] = False,
):
    """The initialization checklist as the first training step sees the model: exit 0 when healthy, 1 when it found a
    problem (notes do not count), 2 for bad input."""
    from initlab.diagnosis import checklist, report
    from initlab.lab import targets

    for option, path in (("--csv", csv), ("--plot", plot)):
        if path is not None and not path.resolve().parent.is_dir():
            raise UserError(f"no folder {path.resolve().parent} to write {path.name} in", option, str(path))
    if csv is not None and plot is not None and csv.resolve() == plot.resolve():
        raise UserError("--csv and --plot name the same file; give each its own", "--plot", str(plot))
    if plot is not None and plot.suffix:
        from initlab.output import plots

        formats = plots.picture_formats()
        if plot.suffix[1:].lower() not in formats:
            raise UserError(f"cannot draw a {plot.suffix} picture; allowed: {', '.join(formats)}",
                            "--plot", str(plot))
    judged = targets.model_of(target, set_ or [], trained)
    # the table on screen shows no gradient: measured (one backward pass) only for the outputs that hold them
    table = checklist.diagnose(judged.model, gradients=plot is not None or csv is not None or json_,
                               by_design=judged.by_design)
    if table.empty:
        raise UserError("has no layer with weights: there is no initialization to check", str(target))
    spectrum = None
    if jacobian:
        from initlab.diagnosis import isometry

        spectrum = isometry.spectrum(judged.model)
    try:
        if csv is not None:
            report.to_csv(table, csv, spectrum)
        if plot is not None:
            from initlab.output import plots

            plots.checklist_by_depth(table, plot, target.name, spectrum)
    except OSError as error:
        raise UserError(f"cannot write there ({error.strerror})", str(error.filename or csv or plot)) from None
    if json_:
        typer.echo(report.to_json(table, spectrum))
    else:
        text = report.render(table, str(target), judged.weights, full_names)
        typer.echo("\n".join([text, *report.jacobian_lines(spectrum)]) if spectrum else text)
    raise typer.Exit(code=0 if checklist.healthy(table) else 1)


lessons_app = typer.Typer(help="The lessons shipped in the package: list them, show one, copy one to edit.")
app.add_typer(lessons_app, name="lessons")


@lessons_app.callback(invoke_without_command=True)
def lessons(context: typer.Context):
    """List the packaged lessons: `initlab run NAME` (or `initlab sweep NAME`) runs one from any folder."""
    if context.invoked_subcommand is not None:
        return
    from initlab.config import catalog

    _print_table("lessons: initlab run NAME (a sweep: initlab sweep NAME)\n"
                 "papers: initlab reproduce --papers --only NAME (its sweep and verdict)",
                 ["name", "kind", "shows", "expect", "epochs"],
                 [[lesson.name, lesson.kind, lesson.shows, lesson.expect, str(lesson.epochs or "-")]
                  for lesson in catalog.lessons()], prose=("shows", "expect"), bold=("name",))


@lessons_app.command("show")
def lessons_show(name: LessonName):
    """Print a lesson's (or a paper's) YAML."""
    from initlab.config import catalog

    typer.echo(catalog.path(name).read_text(), nl=False)


@lessons_app.command("copy")
def lessons_copy(
    name: LessonName,
    folder: Annotated[Path, typer.Argument(help="Where the copy goes.")] = Path("."),
):
    """Write an editable copy of a lesson (a sweep's base config too); never overwrites; prints the copy's path."""
    from initlab.config import catalog

    typer.echo(str(catalog.copy(name, folder)))


@app.command()
def reproduce(
    only: Annotated[Optional[list[str]], typer.Option("--only", help="Just these entries (repeatable): a lesson of docs/tables/lessons.md (relu_constant, digits_he_relu, ...), signal, a sweep (compare_initializers, qa_compare_learnable, digits_initializers, ...), born_dead_grid (drawn, never trained), papers (every claim), diagnose (MobileNetV2's checklist picture) or coordcheck (docs/width.md's coordinate checks).")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="20 epochs each: checks the pipeline, not the lessons' numbers.")] = False,
    configs: Annotated[Optional[Path], typer.Option("--configs", file_okay=False, help="Where the configs are (default: the packaged lessons).")] = None,
    docs: Annotated[Path, typer.Option("--docs", file_okay=False, help="Where figures/ and tables/ go.")] = Path("docs"),
    out: OutOption = Path("outputs"),
    papers: Annotated[bool, typer.Option("--papers", help="The published claims instead (initlab/lessons/papers/): docs/tables/papers.md and docs/figures/papers_*.png; --only names papers as `initlab lessons` lists them (glorot2010, he2015, saxe2014, mishkin2016, schoenholz2017, hanin2018, yang2022, lu2019), --quick runs each one's smaller sweep (hanin2018 and lu2019, drawn and never trained: fewer draws).")] = False,
):
    """Regenerate every figure and table in the README (docs/figures, docs/tables) from the configs."""
    from initlab.config import catalog
    from initlab.lab import papers as papers_module, reproduce as reproduce_module

    names = list(papers_module.CLAIMS) if papers else reproduce_module.NAMES
    unknown = [name for name in only or [] if name not in names]
    if unknown:
        raise UserError(f"unknown entry '{unknown[0]}'{did_you_mean(unknown[0], names)}; "
                        f"allowed: {', '.join(names)}", "--only")
    report = lambda line: typer.echo(line, err=True)  # noqa: E731
    if papers:
        papers_module.reproduce_papers(docs, out, quick, only, report=report)
    else:
        reproduce_module.reproduce(configs or catalog.folder(), docs, out, only, quick, report=report)
    typer.echo(str(docs))


@app.command()
def plot(folder: Annotated[Path, typer.Argument(help="A run folder, as `initlab run` printed it (a folder that holds "
                                                    "runs is told which).")]):
    """Draw a run's pictures again from its records."""
    from initlab.lab import runs

    runs.redraw(folder)
    typer.echo(str(folder))


@app.command(name="tensorboard")
def tensorboard_logs(
    folder: Annotated[Path, typer.Argument(help="A sweep's folder (its HParams dashboard), a run folder, or a folder "
                                                "of runs such as outputs/.")],
    logdir: Annotated[Optional[Path], typer.Option("--logdir", file_okay=False, help="Where the logs go (default: "
                                                   "FOLDER/tensorboard; a run folder's: beside it, in its "
                                                   "experiment's tensorboard/).")] = None,
):
    """Write TensorBoard logs from the records (per-epoch scalars, activation and gradient histograms, a sweep's
    runs as HParams trials) and print the command that shows them."""
    import importlib.util

    from initlab.output import run_folder, tensorboard_logs as logs_module

    if not folder.is_dir():
        raise UserError("no such folder", str(folder))
    if importlib.util.find_spec("tensorboard") is None:
        raise UserError("TensorBoard logs need the tensorboard package: pip install 'initlab[tensorboard]'", str(folder))
    if logdir is None:
        single = run_folder.is_complete(folder) and not (folder / "sweep.csv").is_file()
        logdir = folder.parent / "tensorboard" / folder.name if single else folder / "tensorboard"
    with run_folder.writing(logdir, "--logdir"):
        written = logs_module.write(folder, logdir)
    typer.echo(f"{counted(len(written), 'run')} written to {logdir}", err=True)
    _tabled_note(folder, "have no logs here (TensorBoard reads run folders: a sweep's `keep` gives them one)")
    typer.echo(f"tensorboard --logdir {logdir}")


@app.command(name="runs")
def list_runs(
    folder: Annotated[Path, typer.Argument(help="Where to look for run folders.")] = Path("outputs"),
    json_: Annotated[bool, typer.Option("--json", help="Print a JSON list instead of the table: one object per run, "
                                        "with the same keys for every run.")] = False,
    csv: Annotated[bool, typer.Option("--csv", help="Print CSV instead of the table: a header, then one row per run.")] = False,
):
    """A table of the runs under a folder with their status and final metrics (--json, --csv: the same runs as
    data: experiment, run, folder, status, epochs, the final metrics by name, distinct_units, problem)."""
    from initlab.output import run_folder

    if json_ and csv:
        raise UserError("give --json or --csv, not both", "--csv")
    if json_ or csv:
        return _print_runs_data(*run_folder.overview(folder), as_json=json_)
    listed = run_folder.listing(folder)
    if not listed:
        typer.echo(f"no runs under {folder} yet: `initlab run CONFIG` makes one")
        _tabled_note(folder, "are not listed here: `initlab sweep FILE` prints their report")
        return
    rows = [[path.parent.name, path.name, "damaged", *["-"] * 6] if isinstance(found, str) else
            [path.parent.name, path.name, found["status"], str(found["epochs_run"]), *_final_cells(found),
             str(found.get("distinct_units", "-"))] for path, found in listed]
    damaged = [(path, found) for path, found in listed if isinstance(found, str)]
    _print_table(f"{counted(len(rows), 'run')} under {folder}" + (f", {len(damaged)} damaged" if damaged else ""),
                 ["experiment", "run", "status", "epochs", "loss", "accuracy / mae", "val_loss",
                  "val_accuracy / val_mae", "distinct units"], rows)
    for path, problem in damaged:
        out_console().print(f"damaged: {path}: {problem}; `initlab sweep` or `initlab run` trains it again",
                            highlight=False)
    _tabled_note(folder, "are not listed here: `initlab sweep FILE` prints their report")


def _tabled_note(folder: Path, what: str) -> None:
    """On stderr: the runs under `folder` that a big sweep keeps in its table, not in folders of their own."""
    from initlab.output import sweep_table

    for sweep_dir, runs in sweep_table.tabled(folder):
        typer.echo(f"{counted(runs, 'run')} of the sweep in {sweep_dir} live in its table ({sweep_dir / 'table'}), "
                   f"not in run folders, and {what}", err=True)


def _print_runs_data(columns: list[str], rows: list[dict], as_json: bool) -> None:
    import json

    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    import csv
    import io

    text = io.StringIO()
    writer = csv.DictWriter(text, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: json.dumps(value) if isinstance(value, list) else value for key, value in row.items()}
                     for row in rows)
    typer.echo(text.getvalue(), nl=False)


def _final_cells(summary: dict) -> list[str]:
    values = (list((summary.get("final") or {}).values()) + [None] * 4)[:4]
    return [f"{v:.4f}" if isinstance(v, (int, float)) else "-" for v in values]


def main() -> None:
    """The console script: run the app, then leave without TensorFlow's slow interpreter teardown (~1 s)."""
    backend.own_process()  # quiet, the AVX2 cap, Keras without its scikit-learn/pandas/pyplot parts
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
