"""The checklist's table as people and programs read it: 80 columns of text, JSON and CSV (its picture by depth is
initlab.output.plots.checklist_by_depth). Works from the table alone (no live model)."""

import json
import math
import textwrap

import numpy as np
import pandas as pd

WIDTH = 80
FULL_TABLE = 50  # up to this many layers every row is printed; above, only the rows that are not ok
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
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_json(table: pd.DataFrame) -> str:
    return json.dumps(records(table), indent=2)


def to_csv(table: pd.DataFrame, path) -> None:
    """Every figure, findings joined by ' | ', per-kernel figures and details as JSON text."""
    flat = table.copy()
    flat["findings"] = flat["findings"].map(" | ".join)
    for column in ("weights", "details"):
        if column in flat:
            flat[column] = flat[column].map(lambda v: json.dumps(_plain(v)) if isinstance(v, (list, dict)) else "")
    flat = flat.drop(columns=[c for c in ("finding_codes", "severities") if c in flat])
    flat.to_csv(path, index=False)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def render(table: pd.DataFrame, title: str) -> str:
    """The compact report: layer, kind, verdict and the first finding per row in 80 columns, then the problems in
    full and each kind of note once."""
    lines = [_cut(f"initialization checklist: {title}", WIDTH)]
    counts = table["verdict"].value_counts()
    lines.append(", ".join(f"{counts.get(v, 0)} {v}" for v in ("ok", "note", "problem", "not checked")
                           if counts.get(v, 0)) + f" ({len(table)} layers with weights)")
    shown = table if len(table) <= FULL_TABLE else table[table["verdict"] != "ok"]
    lines.append(f"{'layer':<22} {'kind':<15} {'verdict':<11} finding")
    for row in shown.itertuples():
        lines.append(f"{_cut(row.layer, 22):<22} {_cut(row.kind, 15):<15} {row.verdict:<11} "
                     f"{_cut(row.summary, WIDTH - 51)}".rstrip())
    if len(shown) < len(table):
        lines.append(f"... and {len(table) - len(shown)} more layers ok (every row: --csv FILE or --json)")
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
            more = f" (and {count - 1} more layers like it)" if count > 1 else ""
            lines += _wrapped(f"{layer}: {text}{more}", "  ")
            if suggestion:
                lines += _wrapped(f"-> {suggestion}", "    ")
    return "\n".join(lines)


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
