"""The lessons shipped inside the package (initlab/lessons/*.yaml, also the repository's configs/): list, find, copy."""

import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from initlab.base.errors import UserError, did_you_mean

INDEX = "index.yaml"  # what each lesson shows and what to expect; not a lesson itself


def folder() -> Path:
    """The packaged lessons folder (works from any folder and after a non-editable install)."""
    return Path(str(resources.files("initlab") / "lessons"))


def lesson_names() -> list[str]:
    return sorted(p.stem for p in folder().glob("*.yaml") if p.name != INDEX)


@dataclass
class Lesson:
    name: str
    kind: str  # run | sweep
    shows: str
    expect: str
    epochs: int | None


def index() -> dict[str, dict]:
    return yaml.safe_load((folder() / INDEX).read_text())


def lessons() -> list[Lesson]:
    """Every packaged lesson with its index entry and its epochs (a sweep's from its base config and `set`)."""
    notes = index()
    found = []
    for name in lesson_names():
        raw = yaml.safe_load((folder() / f"{name}.yaml").read_text())
        kind = "sweep" if "base" in raw else "run"
        if kind == "sweep":
            epochs = raw.get("set", {}).get("train.epochs")
            if epochs is None:
                epochs = (yaml.safe_load((folder() / raw["base"]).read_text()).get("train") or {}).get("epochs")
        else:
            epochs = (raw.get("train") or {}).get("epochs")
        note = notes.get(name, {})
        found.append(Lesson(name, kind, note.get("shows", ""), note.get("expect", ""), epochs))
    return found


def path(name: str) -> Path:
    """The packaged file of lesson `name` ('relu_constant' or 'relu_constant.yaml'); a typo suggests the nearest."""
    stem = name.removesuffix(".yaml")
    if stem not in lesson_names():
        raise UserError(f"no such file, and no lesson of that name{did_you_mean(stem, lesson_names())}; "
                        "`initlab lessons` lists them", name)
    return folder() / f"{stem}.yaml"


def resolve(given: str | Path) -> Path:
    """A file the user named wins; a bare name that is no file is a packaged lesson (or a UserError)."""
    given = Path(given)
    if given.exists() or given.parent != Path("."):
        return given
    return path(given.name)


def copy(name: str, target_dir: Path) -> Path:
    """An editable copy of a lesson in target_dir (a sweep's base config beside it); never overwrites."""
    source = path(name)
    sources = [source]
    base = yaml.safe_load(source.read_text()).get("base")
    if base:
        sources.append(folder() / base)
    targets = [target_dir / s.name for s in sources]
    made, written = False, []
    try:  # stat() too can fail: a name longer than the filesystem allows
        if target_dir.exists() and not target_dir.is_dir():
            raise UserError("is a file; give a folder to copy the lesson into", str(target_dir))
        if target_dir.resolve() == folder().resolve():
            raise UserError("is the folder the lessons ship in; copy into a folder of yours", str(target_dir))
        for target in targets:
            if target.exists():
                raise UserError("already exists; remove it or copy into another folder", str(target))
        made = not target_dir.exists()
        target_dir.mkdir(parents=True, exist_ok=True)
        for s, target in zip(sources, targets):
            written.append(target)
            shutil.copyfile(s, target)
    except OSError as error:  # under a file, read-only, full, a name too long: nothing is left behind
        for target in written:
            target.unlink(missing_ok=True)
        if made and target_dir.is_dir() and not any(target_dir.iterdir()):
            target_dir.rmdir()
        raise UserError(f"cannot write there ({error.strerror})", str(target_dir)) from None
    return targets[0]
