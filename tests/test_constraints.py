"""constraints.txt records the exact versions the tests ran with, for an exact replay:
pip install -c constraints.txt ".[dev]"."""

import re
from pathlib import Path

from packaging.requirements import Requirement

CONSTRAINTS = Path(__file__).parents[1] / "constraints.txt"


def pins() -> dict[str, str]:
    found = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            requirement = Requirement(line)  # a line pip could not read fails here
            specifiers = list(requirement.specifier)
            assert len(specifiers) == 1 and specifiers[0].operator == "==", f"not an exact pin: {line}"
            found[re.sub(r"[-_.]+", "-", requirement.name).lower()] = specifiers[0].version
    return found


def test_constraints_pin_the_stack_exactly():
    found = pins()
    for name in ("tensorflow", "keras", "numpy"):
        assert name in found, f"{name} is not pinned"
    assert "initlab" not in found  # the project itself is what is being installed


def test_constraints_cover_every_dependency():
    import tomllib

    project = tomllib.loads((CONSTRAINTS.parent / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["dev"]
    missing = [text for text in wanted if re.sub(r"[-_.]+", "-", Requirement(text).name).lower() not in pins()]
    assert missing == []
