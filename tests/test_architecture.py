"""The house's layers as a contract: every import inside initlab points down (or sideways within a layer)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "initlab"

# Top to bottom. A module may import its own layer or any layer below it, never one above.
LAYERS = {
    "faces": {"cli", "keras", "__init__", "__main__"},
    "lab": {"runs", "sweep", "dispatch", "reproduce", "papers"},
    "writers": {"report", "plots", "records", "checklist_report", "drawing", "animation", "painting"},  # files from records only
    "train": {"engine", "population", "probes", "signal", "result", "frames", "stats"},  # train and measure; never know run folders
    "checklist": {"checklist", "measure", "walk", "roles", "fans", "recurrent", "units"},  # reads any Keras model
    "model": {"model", "lsuv"},
    "ground": {"config", "data", "initializers", "limits", "catalog", "names", "cadence"},
    "base": {"backend", "errors", "interrupts"},
}
RANK = {module: rank for rank, modules in enumerate(reversed(LAYERS.values())) for module in modules}
FORBIDDEN = {("keras", "cli"): "the callback never imports the CLI"}
WITHOUT_TENSORFLOW = {"plots", "report", "records", "checklist_report", "drawing", "animation", "painting"}  # figures and files never need a live model


def modules() -> list[str]:
    return sorted(p.stem for p in PACKAGE.glob("*.py"))


def imports(module: str) -> set[str]:
    """The initlab modules `module` imports, at the top or inside functions."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names if (PACKAGE / f"{alias.name}.py").exists())
                if any(not (PACKAGE / f"{alias.name}.py").exists() for alias in node.names):
                    found.add("__init__")  # `from . import __version__` reaches into the package face
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "initlab":
            found.add(node.module.split(".")[1] if "." in node.module else "__init__")
    return found - {module}


def third_party(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_every_module_has_a_layer():
    unplaced = [m for m in modules() if m not in RANK]
    assert not unplaced, f"place these modules in a layer of tests/test_architecture.py: {unplaced}"


@pytest.mark.parametrize("module", modules())
def test_imports_point_down(module):
    upward = [f"{module} -> {other}" for other in sorted(imports(module)) if RANK.get(other, -1) > RANK[module]]
    assert not upward, f"imports that point up: {upward}"
    for (importer, imported), why in FORBIDDEN.items():
        assert not (module == importer and imported in imports(module)), why


@pytest.mark.parametrize("module", sorted(WITHOUT_TENSORFLOW))
def test_writers_need_no_tensorflow(module):
    heavy = third_party(module) & {"tensorflow", "keras"}
    assert not heavy and "backend" not in imports(module), f"{module} imports {heavy or 'initlab.backend'}"
