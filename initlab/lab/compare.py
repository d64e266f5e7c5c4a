"""`initlab.compare`: initializers compared on a user's own model and data from a notebook, as a sweep over `init`
roles and seeds whose files are the sweep's (run folders, sweep.csv, summary.csv, differences.csv, report.md)."""

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from initlab.base.errors import UserError


def compare(model, data, init: dict, seeds=3, train: dict | None = None, name: str = "compare",
            out: str | Path = "outputs", store: str = "auto") -> tuple[pd.DataFrame, Path]:
    """summary.csv of a sweep over `init` (role -> list of values, e.g. {"kernel": ["glorot_uniform", "he_normal"],
    "honest_fans": [False, True]}) crossed with `seeds` (a count or a list), and the sweep's folder. `model`: a Keras
    model (its architecture, saved to the folder; weights redrawn every run), a .keras path or 'pkg.mod:function';
    `data`: (x_train, y_train[, x_val, y_val]), a dict with those keys, or a .npz path; `store`: the sweep file's
    (auto: a run folder each up to 1000 runs, the sweep's table above; folders; table)."""
    from initlab.lab import sweep as sweep_module

    folder = Path(out) / name / "inputs"  # the sweep file, its base config, the model and the data it reads
    folder.mkdir(parents=True, exist_ok=True)
    base = {"name": name, "model": _model_section(model, folder), "data": {"npz": _data_file(data, folder)},
            "train": dict(train or {})}
    if not isinstance(init, dict) or not init:
        raise UserError("expected a mapping of role -> list of values, e.g. {'kernel': ['glorot_uniform', "
                        "'he_normal']}", "compare", "init")
    grid = {f"init.{role}": list(values) if isinstance(values, (list, tuple)) else [values] for role, values in init.items()}
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    (folder / "base.yaml").write_text(yaml.safe_dump(base, sort_keys=False))
    sweep_file = folder / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump({"name": name, "base": "base.yaml", "grid": grid, "seeds": seed_list,
                                          "store": store}, sort_keys=False))
    the_plan = sweep_module.plan(sweep_file, [], Path(out))
    sweep_module.execute(the_plan, pictures=False)
    return pd.read_csv(the_plan.sweep_dir / "summary.csv"), the_plan.sweep_dir


def _model_section(model, folder: Path) -> dict:
    if isinstance(model, str) and ":" in model and not model.endswith(".keras"):
        return {"factory": model}
    if isinstance(model, (str, Path)):
        return {"file": str(Path(model).resolve())}
    if hasattr(model, "save") and hasattr(model, "weights"):
        model.save(folder / "model.keras")  # its architecture: every run redraws the weights
        return {"file": "model.keras"}
    raise UserError(f"expected a Keras model, a .keras path or 'package.module:function', got {type(model).__name__}",
                    "compare", "model")


def _data_file(data, folder: Path) -> str:
    if isinstance(data, (str, Path)):
        return str(Path(data).resolve())
    keys = ("x_train", "y_train", "x_val", "y_val")
    arrays = dict(data) if isinstance(data, dict) else dict(zip(keys, data)) if isinstance(data, (tuple, list)) else None
    if arrays is None or not {"x_train", "y_train"} <= set(arrays):
        raise UserError("expected (x_train, y_train[, x_val, y_val]), a dict with those keys or a .npz path",
                        "compare", "data")
    np.savez(folder / "data.npz", **{k: np.asarray(v) for k, v in arrays.items() if v is not None})
    return "data.npz"

