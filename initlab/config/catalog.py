"""The lessons shipped inside the package (initlab/lessons/*.yaml, also the repository's configs/) and the papers'
sweeps (initlab/lessons/papers/, replayed by `initlab reproduce --papers`): list, find, copy."""

import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from initlab.base.errors import UserError, did_you_mean

INDEX = "index.yaml"  # what each lesson shows and what to expect; not a lesson itself
PAPERS = "papers"  # the published claims' sweeps, in a folder of their own (with their base configs beside them)


def folder() -> Path:
    """The packaged lessons folder (works from any folder and after a non-editable install)."""
    return Path(str(resources.files("initlab") / "lessons"))


def lesson_names() -> list[str]:
    return sorted(p.stem for p in folder().glob("*.yaml") if p.name != INDEX)


def papers_folder() -> Path:
    return folder() / PAPERS


def papers() -> dict[str, dict]:
    """The published claims by name (glorot2010, ...): claim, source, published, and what --quick changes."""
    return yaml.safe_load((papers_folder() / INDEX).read_text())


def names() -> list[str]:
    """Every name `initlab lessons` lists: the lessons, then the papers."""
    return lesson_names() + list(papers())


@dataclass
class Lesson:
    name: str
    kind: str  # run | sweep | paper (a sweep whose claim `initlab reproduce --papers --only NAME` measures)
    shows: str
    expect: str
    epochs: int | None


def index() -> dict[str, dict]:
    return yaml.safe_load((folder() / INDEX).read_text())


def lessons() -> list[Lesson]:
    """Every packaged lesson with its index entry and its epochs, then every paper with its claim and the published
    result."""
    notes = index()
    found = []
    for name in lesson_names():
        raw = yaml.safe_load((folder() / f"{name}.yaml").read_text())
        note = notes.get(name, {})
        found.append(Lesson(name, "sweep" if "base" in raw else "run", note.get("shows", ""), note.get("expect", ""),
                            _epochs(folder(), raw)))
    for name, note in papers().items():
        raw = yaml.safe_load((papers_folder() / f"{name}.yaml").read_text())
        found.append(Lesson(name, "paper", note["claim"], note["published"], _epochs(papers_folder(), raw)))
    return found


def _epochs(where: Path, raw: dict) -> int | None:
    """A run config's epochs; a sweep's from its `set`, else from its base config."""
    if "base" not in raw:
        return (raw.get("train") or {}).get("epochs")
    epochs = raw.get("set", {}).get("train.epochs")
    if epochs is None:
        epochs = (yaml.safe_load((where / raw["base"]).read_text()).get("train") or {}).get("epochs")
    return epochs


def path(name: str) -> Path:
    """The packaged file of lesson or paper `name` ('relu_constant' or 'relu_constant.yaml'); a typo suggests the
    nearest."""
    stem = name.removesuffix(".yaml")
    if stem in lesson_names():
        return folder() / f"{stem}.yaml"
    if stem in papers():
        return papers_folder() / f"{stem}.yaml"
    raise UserError(f"no such file, and no lesson of that name{did_you_mean(stem, names())}; "
                    "`initlab lessons` lists them", name)


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
        sources.append(source.parent / base)
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
