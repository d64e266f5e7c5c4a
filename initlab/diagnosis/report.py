"""The checklist's table as people and programs read it: 80 columns of text, JSON and CSV (its picture by depth is
initlab.output.plots.checklist_by_depth). Works from the table alone (no live model)."""

import io
import json
import math
import textwrap

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from rich.text import Text

from initlab.base.words import counted
from initlab.diagnosis import layer_names

WIDTH = 80
FULL_TABLE = 50  # up to this many layers every row is printed; above, only the rows that are not ok
LAYER_WIDTH, LAYER_MAX = 22, 30  # the layer column: this wide, wider up to LAYER_MAX where names need it to differ
FINDING_WIDTH = 20
JSON_FIGURES = ("depth", "nonlinearity", "normalization", "residual", "fan_in", "fan_out", "keras_fan_in",
                "keras_fan_out", "initializer", "weight_rms", "target_std", "scale_ratio", "distinct_units", "units",
                "input_std", "output_std", "activation_std", "dead_fraction", "saturated_fraction", "branch_share",
                "grad_rms", "probe_batch")


def records(table: pd.DataFrame) -> list[dict]:
    """One plain object per layer: layer, kind, verdict, findings, suggestion, then the measured figures."""
    out = []
    for row in table.to_dict("records"):
        item = {"layer": row["layer"], "kind": row["kind"], "verdict": row["verdict"],
                "findings": list(row["findings"]), "suggestion": row["suggestion"]}
        item.update({k: _plain(row.get(k)) for k in JSON_FIGURES if k in row})
        if isinstance(row.get("weights"), list):
            item["weights"] = [{k: _plain(v) for k, v in w.items() if k != "mismatch"} for w in row["weights"]]
        if isinstance(row.get("details"), dict):
            item["details"] = {k: _plain(v) for k, v in row["details"].items()}
        out.append(item)
    return out


def _plain(value):
    """JSON-ready: NaN as null, numpy scalars and arrays as Python numbers and lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        value = value.item()
    if value is pd.NA or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return value


def to_json(table: pd.DataFrame, jacobian: dict | None = None) -> str:
    """The records as JSON; `jacobian` (isometry.spectrum) as the last object's "jacobian": the output end's."""
    items = records(table)
    if jacobian is not None:
        items[-1]["jacobian"] = _plain(jacobian)
    return json.dumps(items, indent=2)


def jacobian_lines(found: dict) -> list[str]:
    """The text report's paragraph on the input-output Jacobian's spectrum (isometry.spectrum)."""
    rows = counted(found["rows"], "probe row")
    return ["", *_wrapped(
        f"input-output Jacobian ({found['of']}; {found['method']}, {rows}, {found['outputs']:,} outputs by "
        f"{found['inputs']:,} inputs): squared singular values mean {found['mean']:.3g}, variance "
        f"{found['variance']:.3g}, max {found['max']:.3g}, min {found['min']:.3g}, {found['zero_fraction']:.0%} at "
        f"zero, std of their log {found['log_std']:.3g} (dynamical isometry, Pennington et al. 2017: all near 1)", "")]


def to_csv(table: pd.DataFrame, path, jacobian: dict | None = None) -> None:
    """Every figure, findings joined by ' | ', per-kernel figures and details as JSON text; `jacobian`
    (isometry.spectrum) as columns jacobian_<key> of the last row (the output end's, as in to_json), empty above it."""
    flat = table.copy()
    for key, value in (jacobian or {}).items():
        flat[f"jacobian_{key}"] = [""] * (len(flat) - 1) + [_plain(value)]
    flat["findings"] = flat["findings"].map(" | ".join)
    for column in ("weights", "details"):
        if column in flat:
            flat[column] = flat[column].map(lambda v: json.dumps(_plain(v)) if isinstance(v, (list, dict)) else "")
    flat = flat.drop(columns=[c for c in ("finding_codes", "severities") if c in flat])
    flat.to_csv(path, index=False)


def render(table: pd.DataFrame, title: str, weights: str = "", full_names: bool = False) -> str:
    """The compact report: layer, kind, verdict and the first finding per row in 80 columns (long layer names cut in
    the middle to a part that names one layer; `full_names`: whole, the table as wide as they need), then the
    problems in full and each kind of note once. `weights`: which weights were judged, said under the title."""
    heading = "initialization checklist: "
    lines = [heading + (title if len(heading + title) <= WIDTH else "…" + title[len(heading + title) + 1 - WIDTH:])]
    lines += _wrapped(f"weights: {weights}", "") if weights else []
    counts = table["verdict"].value_counts()
    lines.append(", ".join(counted(counts[v], v, v if v in ("ok", "not checked") else None)
                           for v in ("ok", "note", "problem", "not checked") if counts.get(v, 0))
                 + f" ({counted(len(table), 'layer')} with weights)")
    shown = table if len(table) <= FULL_TABLE else table[table["verdict"] != "ok"]
    lines += _rows(shown, list(table["layer"]), full_names) if len(shown) else []
    if len(shown) < len(table):
        lines.append(f"... and {counted(len(table) - len(shown), 'more layer')} ok (every row: --csv FILE or --json)")
    problems = table[table["verdict"] == "problem"]
    if len(problems):
        lines += ["", "problems:"]
        for row in problems.itertuples():
            lines += _wrapped(f"{row.layer}: {row.problems}", "  ")
            if row.suggestion:
                lines += _wrapped(f"-> {row.suggestion}", "    ")
    notes = _notes(table)
    if notes:
        lines += ["", "notes (one example of each):"]
        for (layer, text, suggestion), count in notes:
            more = f" (and {counted(count - 1, 'more layer')} like it)" if count > 1 else ""
            lines += _wrapped(f"{layer}: {text}{more}", "  ")
            if suggestion:
                lines += _wrapped(f"-> {suggestion}", "    ")
    return "\n".join(lines)


def _rows(shown: pd.DataFrame, every_name: list[str], full_names: bool) -> list[str]:
    """The table's lines (`shown`: one row or more): a finding wraps between words (no figure is cut), a long layer
    name is cut to a part that names it alone (layer_names) or, where no such part fits, wrapped whole."""
    names, kinds = list(shown["layer"]), list(shown["kind"])
    if full_names:
        width, cut = max(map(len, names)), {}
        widest = width + max(map(len, kinds)) + len("not checked") + max(map(len, shown["summary"])) + 3
        console_width = max(WIDTH, widest)  # every row on one line
    else:
        # names take what the other columns leave (at least LAYER_WIDTH), more where they need it to differ
        room = WIDTH - max(map(len, kinds)) - max(map(len, [*shown["verdict"], "verdict"])) - 3 - max(
            map(len, shown["summary"]))
        width, cut = layer_names.column(names, every_name, max(LAYER_WIDTH, min(room, LAYER_MAX)), LAYER_MAX)
        console_width = WIDTH
    grid = Table(box=None, pad_edge=False, padding=(0, 1, 0, 0), header_style=None)
    grid.add_column("layer", width=max(width, len("layer")), overflow="fold")
    grid.add_column("kind", no_wrap=True, overflow="ellipsis")  # the one cell cut where 80 columns are too few
    grid.add_column("verdict", no_wrap=True)
    grid.add_column("finding", min_width=FINDING_WIDTH, overflow="fold")
    for row in shown.itertuples():
        grid.add_row(*(Text(text) for text in (cut.get(row.layer, row.layer), row.kind, row.verdict, row.summary)))
    console = Console(file=io.StringIO(), width=console_width, color_system=None, highlight=False, emoji=False)
    console.print(grid)
    return [line.rstrip() for line in console.file.getvalue().splitlines()]


def _wrapped(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ",
                         break_long_words=False, break_on_hyphens=False)


def _notes(table: pd.DataFrame) -> list:
    """Each kind of note (per layer kind) once, with how many layers have it."""
    seen: dict = {}
    for row in table.itertuples():
        for text, code, severity in zip(row.findings, row.finding_codes, row.severities):
            if severity in ("note", "not checked") and row.verdict != "problem":
                key = (row.kind, code)
                if key not in seen:
                    seen[key] = [(row.layer, text, _note_suggestion(row, code)), 0]
                seen[key][1] += 1
    return [tuple(v) for v in seen.values()]


def _note_suggestion(row, code: str) -> str:
    if code == "fan_mismatch" and isinstance(row.weights, list):
        return next((w["mismatch"]["fix"] for w in row.weights if w.get("mismatch")), "")
    return ""
