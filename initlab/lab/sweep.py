"""A sweep file: a base run config crossed with a grid, hand-picked cases and seeds; expanded, grouped, validated."""

import contextlib
import copy
import hashlib
import itertools
import json
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator

from initlab.base.errors import UserError, did_you_mean
from initlab.config import experiment as config_module, limits
from initlab.config.experiment import Config, Int, Strict, shown
from initlab.config.user_experiment import UserExperiment
from initlab.train import data as data_module

MAX_POPULATION = 64  # runs trained together at most; bounds memory, never depends on the worker count
TABLE_ABOVE = 1000  # `store: auto`: sweeps of up to this many runs write run folders, larger ones the sweep's table


class SweepConfig(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", max_length=100)  # the folder under --out
    base: str  # a run config, relative to this file
    set: dict[str, Any] = {}  # key.path: value, applied to every run
    grid: dict[str, Annotated[list[Any], Field(min_length=1)]] = {}  # key.path: [values]; every combination
    cases: list[dict[str, Any]] = []  # hand-picked sets of keys changed together; `label` names one
    # the seeds, or how many: `seeds: 1000` is seeds 0 to 999 (a list that long would be most of the file)
    seeds: (Annotated[list[Annotated[Int, Field(ge=0, le=2**31 - 1)]], Field(min_length=1)]
            | Annotated[Int, Field(ge=1, le=2**31)]) = [0]
    # where the runs' records go: a run folder each, or one table for the sweep (<sweep>/table/); auto: TABLE_ABOVE
    store: Literal["auto", "folders", "table"] = "auto"
    # with the table, the runs that also get their run folder: the first N seeds of every cell, or the runs that
    # match any of these selectors ({seed: 0}, {case: deep}, {model.kernel_initializer: he_normal, seed: 3});
    # unset: the first seed of every cell (the report's decision boundaries are drawn from them)
    keep: Annotated[Int, Field(ge=0)] | list[dict[str, Any]] | None = None

    @field_validator("cases")
    @classmethod
    def _labels(cls, cases):
        labels = [case.get("label") for case in cases]
        for number, label in enumerate(labels):
            if label is None:
                raise ValueError(f"every case needs a distinct `label`; case {number} has none")
            if labels.index(label) != number:
                raise ValueError(f"every case needs a distinct `label`; {shown(label)} is given twice")
        return cases

    @property
    def seed_values(self) -> list[int] | range:
        return range(self.seeds) if isinstance(self.seeds, int) else self.seeds

    @field_validator("set", "grid", "cases")
    @classmethod
    def _not_seed_or_name(cls, value):
        # the runs' seeds come from `seeds` and their name from the sweep's: a key here would be ignored or clash
        reserved = {"seed": "list the seeds under `seeds`", "name": "the sweep's `name` names every run"}
        for keys in [value] if isinstance(value, dict) else value:
            for key, instead in reserved.items():
                if key in keys:
                    raise ValueError(f"'{key}' cannot be set here; {instead}")
        return value


@dataclass
class PlannedRun:
    config: Config  # validated, name = the sweep's name
    grid: dict[str, str] = field(default_factory=dict)  # grid key -> the value as written (a label)
    case: str | None = None

    @property
    def seed(self) -> int:
        return self.config.seed

    def describe(self) -> str:
        return _describe(self.case, self.grid, self.seed)


def _describe(case: str | None, grid: dict[str, str], seed: int) -> str:
    """'case deep, model.kernel_initializer=he_normal, seed=0': which run of a sweep this is."""
    return ", ".join([*([f"case {case}"] if case is not None else []), *(f"{k}={v}" for k, v in grid.items()), f"seed={seed}"])


def _label(value) -> str:
    """A grid value as a short label: 'he_normal', 'random_normal(stddev=0.01)', '[8, 8]'."""
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        return value["name"] + "(" + ", ".join(f"{k}={_label(v)}" for k, v in value.items() if k != "name") + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_label(v)}" for k, v in value.items()) + "}"
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def size(sweep: SweepConfig) -> int:
    """How many runs a sweep expands to, from the lengths of its lists (nothing is expanded)."""
    return max(len(sweep.cases), 1) * math.prod(len(values) for values in sweep.grid.values()) * len(sweep.seed_values)


def load_sweep(path: str | Path, overrides: list[str] = (), allow_large: bool = False) -> tuple[SweepConfig, list[PlannedRun]]:
    """Read and validate a sweep file and every run it describes (a bad run is a UserError naming it).
    `allow_large` lifts the limits on the number of runs and on each run (initlab/config/limits.py)."""
    path = Path(path)
    sweep = _validate(config_module.read_yaml(path), path)
    too_many = limits.over("runs in the sweep (cases x grid combinations x seeds)", size(sweep), limits.MAX_SWEEP_RUNS)
    if too_many and not allow_large:
        raise UserError(too_many, str(path), _largest(sweep))
    base_path = (path.parent / sweep.base).resolve()
    if not base_path.is_file():
        raise UserError(f"no such run config: {base_path}", str(path), "base")
    base = _with(config_module.read_yaml(base_path), sweep.set, path, "set")
    varied = set(sweep.grid) | {key for case in sweep.cases for key in case if key != "label"}
    for key in (config_module.parse_override(text)[0] for text in overrides):
        if key in varied:
            raise UserError(f"the sweep varies this key (grid or cases) in {path}: change it there", "--set", key)
    base = config_module.apply_overrides(base, list(overrides))
    base["name"] = sweep.name
    planned = []
    cases = sweep.cases or [{}]
    combos = list(itertools.product(*sweep.grid.values())) if sweep.grid else [()]
    for number, case in enumerate(cases):
        for combo in combos:
            raw_cell = _with(base, {k: v for k, v in case.items() if k != "label"}, path, f"cases.{number}")
            raw_cell = _with(raw_cell, dict(zip(sweep.grid, combo)), path, "grid")
            labels = {k: _label(v) for k, v in zip(sweep.grid, combo)}
            first = None
            for seed in sweep.seed_values:
                if first is None:  # a cell's runs differ in their seed alone, which no check of a config reads
                    where = _describe(case.get("label"), labels, seed)
                    first = config_module.validate({**raw_cell, "seed": seed}, f"{path} (run {where})",
                                                   list(overrides), allow_large)
                    first._source = base_path
                    run_config = first
                else:  # validated once per cell: 10^5 runs plan in seconds, sharing their cell's sections
                    run_config = first.model_copy(update={"seed": seed})
                planned.append(PlannedRun(run_config, labels, case.get("label")))
    return sweep, planned


def _largest(sweep: SweepConfig) -> str:
    """The key that multiplies a sweep's size most: where to cut it."""
    counts = {"cases": len(sweep.cases), "grid": math.prod(len(v) for v in sweep.grid.values()) if sweep.grid else 0,
              "seeds": len(sweep.seed_values)}
    return max(counts, key=counts.get)


def uses_table(sweep: SweepConfig, runs: int) -> bool:
    """Whether a sweep of `runs` runs records them in its table rather than in a run folder each."""
    return sweep.store == "table" or (sweep.store == "auto" and runs > TABLE_ABOVE)


def kept(sweep: SweepConfig, planned: list[PlannedRun], path) -> list[bool]:
    """Which runs get their run folder: all of them without the table; with it, those `keep` asks for (unset: the
    first seed of every cell). A selector that names a key the sweep does not vary, or matches no run, is a
    UserError: a typo would otherwise keep nothing, silently."""
    if not uses_table(sweep, len(planned)):
        if sweep.keep is not None and sweep.store == "folders":
            raise UserError("`keep` picks the runs that get a folder beside the sweep's table; with `store: folders` "
                            "every run has one (remove `keep`, or set `store: table`)", str(path), "keep")
        return [True] * len(planned)
    seeds = list(sweep.seed_values[:1] if sweep.keep is None else
                 sweep.seed_values[:sweep.keep] if isinstance(sweep.keep, int) else [])
    if isinstance(sweep.keep, int) or sweep.keep is None:
        chosen = set(seeds)
        return [run.seed in chosen for run in planned]
    allowed = [*(["case"] if sweep.cases else []), *sweep.grid, "seed"]
    selectors = []
    for number, selector in enumerate(sweep.keep):
        for key in selector:
            if key not in allowed:
                raise UserError(f"a selector's keys are the sweep's varied keys; '{key}' is not one"
                                f"{did_you_mean(str(key), allowed)}; allowed: {', '.join(allowed)}", str(path),
                                f"keep.{number}.{key}")
        selectors.append({key: value if key == "seed" else str(value) if key == "case" else _label(value)
                          for key, value in selector.items()})
    chosen = [[all(_value(run, key) == value for key, value in selector.items()) for selector in selectors]
              for run in planned]
    for number, selector in enumerate(sweep.keep):
        if not any(matches[number] for matches in chosen):
            raise UserError(f"{shown(selector)} matches no run of the sweep", str(path), f"keep.{number}")
    return [any(matches) for matches in chosen]


def _value(run: PlannedRun, key: str):
    return run.seed if key == "seed" else run.case if key == "case" else run.grid[key]


def _validate(raw: dict, path: Path) -> SweepConfig:
    """The sweep file's own keys checked; the first problem becomes a UserError naming the file and the key."""
    try:
        return SweepConfig.model_validate(raw)
    except ValidationError as exc:
        error = _seeds_branch(exc.errors(), raw)
        key = ".".join(str(p) for p in error["loc"])
        text = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            allowed = list(SweepConfig.model_fields)
            message = f"unknown key '{key}'{did_you_mean(key, allowed)}; allowed: {', '.join(allowed)}"
        elif error["type"] == "value_error":
            message = text
        elif error["type"] == "missing":
            message = "required key is missing"
        else:
            message = f"{text[0].lower()}{text[1:]}, got {shown(error.get('input'))}"
        raise UserError(message, str(path), key) from None


def _seeds_branch(errors: list[dict], raw) -> dict:
    """The first error, where `seeds` (a list or a count) failed as what it was given as: a list's errors when it
    is a list, else the count's; the loc without pydantic's names of the two."""
    error = errors[0]
    if error["loc"][:1] != ("seeds",) or len(error["loc"]) < 2 or isinstance(error["loc"][1], int):
        return error
    given_a_list = isinstance(raw.get("seeds") if isinstance(raw, dict) else None, list)
    branch = [e for e in errors if e["loc"][:1] == ("seeds",) and str(e["loc"][1]).startswith("list[") == given_a_list]
    error = (branch or [error])[0]
    return {**error, "loc": ("seeds", *error["loc"][2:])}


def _with(raw: dict, changes: dict, path: Path, section: str) -> dict:
    """A copy of raw with each 'a.b.c' key of changes (the sweep file's `section`) set to its value. Values are set
    as read, never written out and parsed again as --set text is (YAML would read 1e-05 back as a string)."""
    raw = copy.deepcopy(raw)
    for key, value in changes.items():
        config_module.set_key(raw, str(key), copy.deepcopy(value), str(path), f"{section}.{key}")
    return raw


def group_key(config: Config, dataset_depends_on_seed: bool) -> str:
    """Runs with the same key can train as one population: all but seed and initializers agree (and the data,
    where the seed generates it)."""
    plain = config.shared_in_a_population()
    if dataset_depends_on_seed:
        plain["data_seed"] = config.seed
    return hashlib.sha256(json.dumps(plain, sort_keys=True).encode()).hexdigest()


def groups(configs: list[Config]) -> list[list[int]]:
    """Indices of `configs` (resolved, task defaults filled) in training groups, in a fixed order: populations of
    up to MAX_POPULATION runs where they may share a graph, single runs otherwise."""
    from initlab.train.population import can_join

    buckets: dict[str, list[int]] = {}
    alone = []
    for i, config in enumerate(configs):
        if isinstance(config, UserExperiment):
            alone.append([i])  # a user's model trains with model.fit, one run at a time
        elif config.train.engine == "fast" and not config.record.tensorboard and can_join(config):
            key = group_key(config, data_module.depends_on_seed(config.data.dataset))
            buckets.setdefault(key, []).append(i)
        else:
            alone.append([i])
    chunks = [members[i : i + MAX_POPULATION] for members in buckets.values() for i in range(0, len(members), MAX_POPULATION)]
    return chunks + alone


class SweepFailed(Exception):
    """--fail-fast: a run failed; its error is the message."""


@dataclass
class Plan:
    """A sweep's runs with everything needed to train, skip or report them."""
    sweep: SweepConfig
    planned: list[PlannedRun]
    resolved: list[Config]  # task defaults filled in: what run folders are named and hashed by
    folders: list[Path]
    done: list[bool]
    rerun: bool = False
    damaged: dict = field(default_factory=dict)  # index -> what is wrong with its folder (it trains again)
    datasets: dict = field(default_factory=dict)
    table: bool = False  # the runs' records go to the sweep's table (sweep_table), not a folder each
    kept: list[bool] = field(default_factory=list)  # which runs get their run folder (all of them without the table)

    @property
    def sweep_dir(self) -> Path:
        return self.folders[0].parent if self.folders else Path()

    def data_for(self, config: Config):
        """The data set a config trains on, loaded once per distinct data config (and seed, where it matters)."""
        from initlab.lab import runs

        key = json.dumps(config.data.model_dump(mode="json"), sort_keys=True)
        if isinstance(config, UserExperiment):
            if key not in self.datasets:
                self.datasets[key] = runs.check_with_data(config)[1]
            return self.datasets[key]
        if data_module.depends_on_seed(config.data.dataset):
            key += f"/{config.seed}"
        if key not in self.datasets:
            self.datasets[key] = runs.load_data(config)
        return self.datasets[key]


def plan(path: str | Path, overrides: list[str], out: Path, rerun: bool = False, allow_large: bool = False) -> Plan:
    from initlab.train import model as model_module

    sweep, planned = load_sweep(path, overrides, allow_large)
    result = Plan(sweep, planned, [], [], [], rerun)
    sections: dict = {}  # a cell's seeds share its model and train sections: resolved once, shared again
    for run in planned:
        data = result.data_for(run.config)
        if isinstance(run.config, UserExperiment):  # a user's model: its task is read when it trains
            result.resolved.append(run.config)
            continue
        key = (id(run.config.model), id(run.config.train), data.task)
        if key not in sections:
            filled = model_module.with_task_defaults(run.config, data.task)
            sections[key] = (run.config.model, run.config.train, filled.model, filled.train)  # kept alive: ids hold
        result.resolved.append(run.config.model_copy(update={"model": sections[key][2], "train": sections[key][3]}))
    result.folders = [folder_of(config, out) for config in result.resolved]
    _refuse_twins(planned, result.folders, path)
    result.table, result.kept = uses_table(sweep, len(planned)), kept(sweep, planned, path)
    check_plan(result)
    return result


def folder_of(config, out: Path) -> Path:
    """A planned run's folder: runs.run_dir for initlab's own networks, user_runs.run_dir for a user's model."""
    from initlab.lab import runs, user_runs

    return (user_runs if isinstance(config, UserExperiment) else runs).run_dir(config, out)


def _refuse_twins(planned: list[PlannedRun], folders: list[Path], path) -> None:
    """Two runs of one config would write one folder twice, and count twice in summary.csv."""
    first = {}
    for run, folder in zip(planned, folders):
        other = first.setdefault(folder, run)
        if other is not run:
            raise UserError(f"runs {other.describe()} and {run.describe()} are the same config", str(path))


def check(path: str | Path, overrides: list[str] = (), allow_large: bool = False) -> Plan:
    """`initlab validate SWEEP`: the sweep file and every run it describes checked as `initlab validate` checks a
    config, its data included (each distinct data set loaded once); nothing is read from or written to an outputs
    folder (the plan's folders and done are left empty)."""
    from initlab.lab import runs

    sweep, planned = load_sweep(path, overrides, allow_large)
    result = Plan(sweep, planned, [], [], [])
    for run in planned:
        try:
            result.resolved.append(runs.check_with_data(run.config, result.data_for(run.config))[0])
        except UserError as error:  # the base config's key, in the run that has it
            raise UserError(error.detail, f"{path} (run {run.describe()})", error.key) from None
    _refuse_twins(planned, [folder_of(config, Path()) for config in result.resolved], path)
    result.table, result.kept = uses_table(sweep, len(planned)), kept(sweep, planned, path)
    return result


def check_plan(the_plan: Plan) -> None:
    """Which runs are done (complete, not failed; none with rerun) and which folders are damaged. With the sweep's
    table a run is complete once the table has it, and its folder too where it keeps one."""
    from initlab.output import run_folder, sweep_table

    the_plan.done, the_plan.damaged = [], {}
    table = sweep_table.Table(the_plan.sweep_dir) if the_plan.table else None
    for i, folder in enumerate(the_plan.folders):
        if table is not None:
            summary = table.summary(folder.name)
            if summary is None or summary["status"] == "failed" or the_plan.rerun:
                the_plan.done.append(False)
                continue
            if not the_plan.kept[i]:
                the_plan.done.append(True)
                continue
        with run_folder.writing(folder.parent):  # is_dir() too can fail: a name longer than the file system allows
            problems = run_folder.problems(folder) if folder.is_dir() else {}
        if problems:
            the_plan.damaged[i] = run_folder.problems_text(problems)
        complete = folder.is_dir() and not problems
        the_plan.done.append(not the_plan.rerun and complete and run_folder.read_summary(folder)["status"] != "failed")


def records_of(the_plan: Plan):
    """Where a sweep's report reads its runs' records: the table (sweep_table.Records) or the run folders (None)."""
    from initlab.output import sweep_table

    return sweep_table.Records(sweep_table.Table(the_plan.sweep_dir)) if the_plan.table else None


def complete_count(the_plan: Plan) -> int:
    """How many planned runs are complete now (in the table, or with a complete folder)."""
    from initlab.output import run_folder, sweep_table

    if the_plan.table:
        table = sweep_table.Table(the_plan.sweep_dir)
        return sum(folder.name in table for folder in the_plan.folders)
    return sum(run_folder.is_complete(f) for f in the_plan.folders)


def execute(the_plan: Plan, workers: int = 1, scheduler: str | None = None, fail_fast: bool = False,
            pictures: bool | None = None, on_result=None, on_wait=None, on_start=None):
    """Train what is not done yet, write each run folder as its results arrive, then the sweep's reports.
    Interrupted (Ctrl-C) or failing fast, the reports are still rebuilt from the folders that are complete.
    One process at a time works on a sweep folder (its lock, see run_folder.holding): a second one started on the
    same sweep waits (on_wait is told), then trains only what the first left undone (on_start: planned again). Locking the whole folder,
    not each run, keeps the grouping into populations, and so the bytes, independent of who trains what.
    Returns summary.csv's rows (dicts; statistics as floats)."""
    from initlab.output import run_folder

    with run_folder.holding(the_plan.sweep_dir, on_wait):
        check_plan(the_plan)  # again: another process may have finished runs while this one waited
        if on_start is not None:
            on_start()
        if all(the_plan.done):
            current = current_summary(the_plan)
            if current is not None:
                return current
        return _execute(the_plan, workers, scheduler, fail_fast, pictures, on_result)


REPORT_FILES = ("sweep.csv", "summary.csv", "report.md", "loss_curves.png", "activation_std.png")


def current_summary(the_plan: Plan) -> list[dict] | None:
    """summary.csv's rows as the last report wrote them, if that report is current: its tables and pictures were all
    written after the newest run folder and sweep.csv lists exactly the planned runs, labels included. Else None.
    A rerun that trains nothing then rewrites nothing (the boundary pictures alone would import TensorFlow), and
    reads with the csv module (pandas' import alone is ~0.5 s)."""
    import csv

    expected = [*REPORT_FILES, *(["boundaries.png"] if _draws_boundaries(the_plan) else [])]
    try:
        written = min((the_plan.sweep_dir / name).stat().st_mtime_ns for name in expected)
        newest_run = _newest_run(the_plan)
        with open(the_plan.sweep_dir / "sweep.csv", newline="") as file:
            rows = list(csv.reader(file))
    except (OSError, ValueError):
        return None
    listed = [[folder.name, *([run.case] if run.case is not None else []), *run.grid.values(), str(run.seed)]
              for run, folder in zip(the_plan.planned, the_plan.folders)]
    width = len(listed[0]) if listed else 0
    if written < newest_run or [row[:width] for row in rows[1:]] != listed:
        return None
    with open(the_plan.sweep_dir / "summary.csv", newline="") as file:
        summary = list(csv.DictReader(file))
    for row in summary:
        for column in row:
            if column.endswith(STATISTICS):
                row[column] = _number(row[column])
    return summary


def _draws_boundaries(the_plan: Plan) -> bool:
    """Whether the report draws boundaries.png: 2-D data, and a folder for a run of the first seed (its weights)."""
    first_seed = min((run.seed for run in the_plan.planned), default=0)
    kept = the_plan.kept or [True] * len(the_plan.planned)
    return _drawable(the_plan) and any(keep and run.seed == first_seed for run, keep in zip(the_plan.planned, kept))


def _newest_run(the_plan: Plan) -> int:
    """When the newest record of a planned run was written (OSError where a planned run folder is missing)."""
    from initlab.output import sweep_table

    folders = [f for f, kept in zip(the_plan.folders, the_plan.kept or [True] * len(the_plan.folders)) if kept]
    newest = max([(folder / "summary.json").stat().st_mtime_ns for folder in folders], default=0)
    if the_plan.table:
        newest = max(newest, max(path.stat().st_mtime_ns for path in sweep_table.parts(the_plan.sweep_dir)))
    return newest


STATISTICS = ("_mean", "_std", "_min", "_max", "_ci95_low", "_ci95_high")  # summary.csv's numeric columns end so


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:  # empty: no value
        return math.nan


PAINTED_GROUPS = 1  # sweeps that train at most this many groups here get painters (see _execute)


def _execute(the_plan: Plan, workers, scheduler, fail_fast, pictures, on_result):
    from initlab.output import plot_workers

    work = work_of(the_plan)
    # Training here, this process imports TensorFlow and leaves a core idle: painters start now and draw at the end
    # (the 40-run lesson: ~1.5 s of ~12 s). Each holds ~100 MiB for as long as the sweep runs, so a longer sweep,
    # where the pictures are a small part of the time, goes without; so do workers and clusters: no core to spare.
    here = workers == 1 and scheduler is None and len(work) <= PAINTED_GROUPS
    with plot_workers.Painters(None if here else 0) as painters:
        return _train_and_report(the_plan, work, workers, scheduler, fail_fast, pictures, on_result, painters)


def work_of(the_plan: Plan) -> list[list[int]]:
    """The groups to train: those with a run not done. Groups are cut from the whole plan, done runs included, and a
    group trains whole, so every run trains in the same company however often the sweep was interrupted or a folder
    damaged: a run's numbers depend on its company in float32's last bits (a batched matmul)."""
    return [members for members in groups(the_plan.resolved) if not all(the_plan.done[i] for i in members)]


def _train_and_report(the_plan: Plan, work, workers, scheduler, fail_fast, pictures, on_result, painters):
    """Train the groups of `work`, writing only their runs that are not done, then the report."""
    from initlab.lab import dispatch, runs, user_runs
    from initlab.output import sweep_table

    pictures = len(the_plan.planned) <= 12 if pictures is None else pictures
    pending = {the_plan.folders[i] for i, done in enumerate(the_plan.done) if not done}
    kept = {folder for folder, keep in zip(the_plan.folders, the_plan.kept or [True] * len(the_plan.folders)) if keep}
    out = the_plan.sweep_dir.parent
    table = sweep_table.Writer(the_plan.sweep_dir) if the_plan.table else contextlib.nullcontext()

    def write(results: list) -> None:
        for result in results:
            folder = folder_of(result.config, out)
            if folder not in pending:
                continue  # done already, trained again only as company
            if folder in kept:
                if isinstance(result.config, UserExperiment):
                    user_runs.write(result, out, pictures)
                else:  # model.keras: ensure_model
                    runs.write_run(result, out, pictures, model_file=False, draw=painters.draw)
            if the_plan.table:
                table.add(folder.name, *records(result, folder.name))
            if on_result is not None:
                on_result(result)

    try:
        # without pictures a run folder is plain files (no Keras, no matplotlib): written while the next group trains
        with table, WriteBehind(threaded=not pictures) as behind:
            # a group whose runs all go to the table alone needs none of a run folder's extras
            extras = [not the_plan.table or any(the_plan.kept[i] for i in group) for group in work]
            for results in dispatch.run_groups([[the_plan.resolved[i] for i in group] for group in work], workers,
                                               scheduler, extras):
                behind.submit(write, results)
                failed = next((r for r in results if r.error), None)
                if fail_fast and failed is not None:
                    raise SweepFailed(f"{folder_of(failed.config, out).name}: {failed.error}")
    except BaseException as error:
        with contextlib.suppress(UserError):  # a full disk: the first error is the one to tell
            # interrupted, the tables only: the pictures take seconds (the next call draws them)
            report(the_plan, figures=not isinstance(error, KeyboardInterrupt))
        raise
    return report(the_plan, painters=painters).to_dict("records")


def records(result, run_name: str) -> tuple[dict, list[str], list[dict], list[dict]]:
    """What the sweep's table keeps of a run: its summary.json's dict, metrics.csv's columns and rows, layers.csv's
    rows (a user's model has none)."""
    from initlab.lab import runs, user_runs

    if isinstance(result.config, UserExperiment):
        metric = result.metric
        columns = ["epoch", "loss", metric, "val_loss", f"val_{metric}", "inference_loss", f"inference_{metric}"]
        return user_runs.summary_of(result, run_name), columns, result.history, []
    metric = result.metric
    columns = ["epoch", "loss", metric, "val_loss", f"val_{metric}"]
    return runs.summary_of(result, run_name), columns, result.history, result.layer_rows


class WriteBehind:
    """One group's run folders written in a thread while the next group trains. At most one group waits to be written
    (memory stays bounded by two groups); a write's error (a full disk) is raised at the next submit or on leaving,
    where the writes still under way are finished first (an interrupted sweep keeps every group it trained)."""

    def __init__(self, threaded: bool):
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="initlab-writer") if threaded else None
        self.writing = None

    def submit(self, write, results: list) -> None:
        self.wait()
        if self.pool is None:
            write(results)
        else:
            self.writing = self.pool.submit(write, results)

    def wait(self) -> None:
        writing, self.writing = self.writing, None
        if writing is not None:
            writing.result()

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback) -> None:
        try:
            self.wait()
        except Exception:
            if kind is None:
                raise  # otherwise the error that stopped the sweep is the one to tell
        finally:
            if self.pool is not None:
                self.pool.shutdown()


BOUNDARY_RESOLUTION = 120  # grid points per axis of each small panel of boundaries.png


def report(the_plan: Plan, figures: bool = True, painters=None):
    """The sweep's tables and (with figures) pictures, drawn by `painters` if given; returns summary.csv's frame."""
    from initlab.output import run_folder, sweep_report as report_module
    from initlab.train import frames, model as model_module

    def boundary_view(run, folder):
        import numpy as np

        config = the_plan.resolved[the_plan.planned.index(run)]
        data = the_plan.data_for(config)
        model = model_module.build(config, data.n_features, data.task, data.n_classes)
        with np.load(folder / "weights_final.npz") as weights:
            model.set_weights([weights[name] for name in model_module.weights_by_name(model)])  # weights_*.npz's keys
        caption = ", ".join(f"{v}" for v in run.grid.values()) if run.case is None else run.case
        return frames.still(model, data, BOUNDARY_RESOLUTION), caption

    with run_folder.writing(the_plan.sweep_dir):
        return report_module.write_report(the_plan.sweep.name, the_plan.planned, the_plan.folders, the_plan.sweep_dir,
                                   boundary_view if _drawable(the_plan) else None, figures, painters,
                                   records_of(the_plan))


def _drawable(the_plan: Plan) -> bool:
    """Whether the sweep's report draws decision boundaries (2-D data, classes)."""
    from initlab.train.frames import drawable

    if not the_plan.resolved or isinstance(the_plan.resolved[0], UserExperiment):  # a user's model: no boundaries
        return False
    return drawable(the_plan.data_for(the_plan.resolved[0]))
