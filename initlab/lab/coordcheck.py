"""`initlab coordcheck`: a config's MLP at several widths (every hidden layer set to each), each layer's mean absolute
activation at initialization and after the first optimizer steps, and how it scales with width: the slope of
log mean_abs against log width, per layer and step, with its 95% interval over seeds. Writes coordcheck.csv,
coordcheck.png and coordcheck.md into <out>/coordcheck/<config name>/, replacing an earlier check of that name."""

import copy
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from initlab.base.errors import UserError
from initlab.base.words import counted
from initlab.config import experiment as config_module, user_experiment
from initlab.config.experiment import ModelConfig
from initlab.output import plots, run_folder
from initlab.output.sweep_report import MIN_SEEDS, markdown, t_interval

COLUMNS = ["width", "step", "layer", "mean_abs"]  # coordcheck.csv, as ../shared/DESIGN.md fixes it
STEPS = (1, 10)  # --steps allowed: one panel per step and one for initialization; the batch is the same every step
SEEDS = (1, 20)
# a slope of log mean_abs against log width beyond this, with its whole 95% interval, grows or shrinks; inside it, flat.
# Measured (convergence_he with Adam, widths 64-1024, 3 seeds): a hidden layer that grows after one step has a slope
# of 0.6-2.5, one that keeps its scale (every layer at initialization) 0.00-0.05 with intervals about +-0.1 wide
FLAT = 0.2


class Checked(NamedTuple):
    """A coordinate check ready to measure: everything that can fail on bad input done, nothing written."""
    configs: dict[int, config_module.Config]  # by width, task defaults filled in
    data: object  # the config's data (train.data.Dataset), the same at every width
    steps: int
    seeds: list[int]
    folder: Path


def parse_widths(text: str) -> list[int]:
    """'64,256,1024' -> [64, 256, 1024], ascending: whole numbers >= 1, at least two, none twice."""
    items = [item.strip() for item in text.split(",")]
    example = "a comma-separated list of whole numbers of units, such as 64,256,1024"
    if not text.strip():
        raise UserError(f"no widths given; expected {example}", "--widths")
    for item in items:
        if not re.fullmatch(r"[+-]?\d+", item):
            raise UserError(f"{item!r} is not a whole number; expected {example}", "--widths", text)
        if int(item) < 1:
            raise UserError(f"{item} is not a width: a layer has at least 1 unit; expected {example}", "--widths", text)
    widths = [int(item) for item in items]
    twice = next((w for w in widths if widths.count(w) > 1), None)
    if twice is not None:
        raise UserError(f"{twice} is given twice; each width once", "--widths", text)
    if len(widths) < 2:
        raise UserError(f"a slope needs at least two widths; expected {example}", "--widths", text)
    return sorted(widths)


def in_range(value: int, allowed: tuple[int, int], option: str, why: str) -> int:
    low, high = allowed
    if not low <= value <= high:
        raise UserError(f"{value} is out of range; allowed: {low} to {high} ({why})", option)
    return value


def widened(raw: dict, width: int) -> dict:
    """A copy of a config's plain data with every hidden layer `width` units wide (model.hidden, or each entry of
    model.layers); what is not a list of layers is left for validation to tell."""
    raw = copy.deepcopy(raw)
    model = raw.get("model", {})
    if not isinstance(model, dict):
        return raw
    raw["model"] = model
    layers = model.get("layers")
    if isinstance(layers, list):
        for layer in layers:
            if isinstance(layer, dict):
                layer["units"] = width
    else:
        hidden = model.get("hidden", ModelConfig.model_fields["hidden"].default)
        model["hidden"] = [width] * len(hidden) if isinstance(hidden, list) else hidden
    return raw


def load(path: Path, overrides: list[str], widths: list[int], allow_large: bool = False) -> dict:
    """{width: the config file with `--set` overrides and every hidden layer that wide, validated}. The config's own
    widths never count (model.base_width is checked against each width); a problem a width causes is told with it."""
    raw = config_module.apply_overrides(config_module.read_yaml(path), overrides)
    raw.setdefault("name", path.stem)
    if user_experiment.is_user_experiment(raw):
        raise UserError("a coordinate check sets the width of initlab's MLP (model.hidden); a model of your own has "
                        "no width it can set", str(path), "model")
    def validated(width: int):
        try:
            return config_module.validate(widened(raw, width), str(path), overrides, allow_large)
        except UserError as error:
            return error

    configs = {width: validated(width) for width in widths}
    for width, found in configs.items():
        if isinstance(found, UserError):
            same = all(isinstance(other, UserError) and other.render() == found.render() for other in configs.values())
            if same:  # the config's own problem, whatever the width
                raise found
            raise UserError(f"{found.detail} (every hidden layer {width} wide, from --widths)", found.source,
                            found.key)
        found._source = path.resolve()
    return configs


def check(configs: dict, steps: int, seeds: int, out: Path) -> Checked:
    """Every check of a coordinate check's input, at every width (load's configs), before anything is measured or
    written."""
    from initlab.lab import runs

    config = next(iter(configs.values()))
    if config.model.residual is not None:
        raise UserError("a coordinate check measures a plain chain of layers; residual blocks are not measured by it "
                        "yet; allowed: null", str(config._source), "model.residual")
    if not config.model.hidden:
        raise UserError("the model has no hidden layer, so no width to set; give model.hidden",
                        str(config._source), "model.hidden")
    in_range(steps, STEPS, "--steps", "optimizer steps measured after initialization")
    in_range(seeds, SEEDS, "--seeds", "models per width, their slopes averaged")
    data = runs.load_data(config)
    prepared = {}
    for width, widened_config in configs.items():
        try:  # built and run on two rows as a run would be: a width some activation fails on is told here
            prepared[width] = runs.prepare(widened_config, data).config
        except UserError as error:
            raise UserError(f"{error.detail} (every hidden layer {width} wide, from --widths)", error.source,
                            error.key) from None
    return Checked(prepared, data, steps, [config.seed + i for i in range(seeds)], out / "coordcheck" / config.name)


def measure(checked: Checked, on_model=None) -> pd.DataFrame:
    """One row per width, seed, step and layer (column seed besides COLUMNS); on_model() after each model."""
    from initlab.train import coordinates

    rows = []
    for width, config in checked.configs.items():
        for seed in checked.seeds:
            for row in coordinates.measure(config.model_copy(update={"seed": seed}), checked.data, checked.steps):
                rows.append({"width": width, "seed": seed, **row})
            if on_model is not None:
                on_model()
    return pd.DataFrame(rows)


def averaged(measured: pd.DataFrame) -> pd.DataFrame:
    """coordcheck.csv: the geometric mean over seeds (the mean of the logs the slopes are fitted on, so that the
    slope of the CSV's values is the mean of the seeds' slopes), layers in the model's order."""
    layers = list(dict.fromkeys(measured["layer"]))
    logs = measured.assign(mean_abs=np.log(measured["mean_abs"].where(measured["mean_abs"] > 0)))
    frame = logs.groupby(["width", "step", "layer"], sort=False)["mean_abs"].mean().apply(np.exp).reset_index()
    frame["order"] = frame["layer"].map(layers.index)
    return frame.sort_values(["width", "step", "order"])[COLUMNS].reset_index(drop=True)


def slope(widths, values) -> float:
    """The least-squares slope of log(values) against log(widths); NaN where a value is not positive and finite."""
    values = np.asarray(values, float)
    if not np.all(np.isfinite(values) & (values > 0)):
        return float("nan")
    return float(np.polyfit(np.log(np.asarray(widths, float)), np.log(values), 1)[0])


def slopes(measured: pd.DataFrame) -> pd.DataFrame:
    """Per step and layer: the mean of the seeds' slopes, its 95% t-interval (none below MIN_SEEDS seeds) and the
    verdict."""
    per_seed = (measured.groupby(["step", "layer", "seed"], sort=False)
                .apply(lambda g: slope(g["width"], g["mean_abs"]), include_groups=False).rename("slope").reset_index())
    rows = []
    for (step, layer), group in per_seed.groupby(["step", "layer"], sort=False):
        values = group["slope"].to_numpy()
        low, high = t_interval(values) if len(values) >= MIN_SEEDS else (float("nan"), float("nan"))
        mean = float(values.mean())
        rows.append({"step": step, "layer": layer, "slope": mean, "ci95_low": low, "ci95_high": high,
                     "verdict": verdict(mean, low, high)})
    return pd.DataFrame(rows)


def verdict(mean: float, low: float, high: float) -> str:
    """What the interval supports: grows with width, flat, shrinks, else unclear (no interval counts as unclear)."""
    if np.isnan(low) or np.isnan(high) or np.isnan(mean):
        return "unclear"
    if low > FLAT:
        return "grows with width"
    if high < -FLAT:
        return "shrinks"
    if -FLAT < low and high < FLAT:
        return "flat"
    return "unclear"


def describe(config: config_module.Config) -> str:
    """'standard parametrization, adam at learning rate 0.001' (muP where the config asks for it)."""
    spec = config.model
    kind = f"muP (base width {spec.base_width})" if spec.parametrization == "mup" else "standard parametrization"
    return f"{kind}, {config.train.optimizer} at learning rate {config.train.learning_rate:g}"


def report_text(name: str, checked: Checked, table: pd.DataFrame) -> str:
    """coordcheck.md: what was measured, and the slopes with their intervals and verdicts."""
    config = next(iter(checked.configs.values()))
    widths = ", ".join(map(str, checked.configs))
    last = table[table["step"] == checked.steps]
    grows = last.loc[last["verdict"] == "grows with width", "layer"].tolist()
    after = f"After {counted(checked.steps, 'step')}"
    summary = (f"{after}, {', '.join(grows)} grow{'s' if len(grows) == 1 else ''} with width." if grows
               else f"{after}, no layer grows with width.")
    return (f"# Coordinate check: {name}\n\n"
            f"{describe(config)}; widths {widths} (every hidden layer); {len(checked.seeds)} seeds "
            f"({', '.join(map(str, checked.seeds))}); the first {min(config.train.batch_size, len(checked.data.x_train))} "
            f"training rows, trained on and measured at every step.\n\n"
            f"mean_abs: the mean absolute activation over rows and units (the output layer's before its activation), "
            f"geometric mean over seeds in coordcheck.csv. slope: of log mean_abs against log width, the mean over "
            f"seeds with its 95% t-interval (none below {MIN_SEEDS} seeds); a slope of 1 is growth in proportion to "
            f"width. Verdict: grows with width when the whole interval is above {FLAT}, shrinks when below -{FLAT}, "
            f"flat when inside +-{FLAT}, else unclear.\n\n{summary}\n\n{markdown(table)}")


def run(checked: Checked, name: str, on_model=None) -> pd.DataFrame:
    """Measure, then write the three files in the check's folder (made aside first, so that an output that cannot be
    written fails before anything is measured, and renamed into place at the end); returns the slopes table."""
    with run_folder.staged(checked.folder) as stage:
        measured = measure(checked, on_model)
        table = slopes(measured)
        averaged(measured).to_csv(stage / "coordcheck.csv", index=False)
        plots.coordinates(pd.read_csv(stage / "coordcheck.csv"), stage / "coordcheck.png",
                          f"{name}: mean |activation| by width, {describe(next(iter(checked.configs.values())))}")
        (stage / "coordcheck.md").write_text(report_text(name, checked, table))
    return table
