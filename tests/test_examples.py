"""Every example on the README and the docs pages runs, and every link on them resolves.

The fenced blocks of README.md and docs/*.md (not docs/tables, which `initlab reproduce` writes), by info string:

- `yaml`: validated as initlab validates it: a run config by `initlab validate FILE`, a sweep file (it has `base:`)
  by `initlab sweep FILE --dry-run`, written beside a copy of the lesson its `base:` names;
- `bash`: each line run as a user types it, in a shell, in a folder that looks like the repository (a link to each
  of its top-level entries) where new files land in a temporary folder; `pip install` lines are not run: the
  README's must be the lines `.ci/run` runs, and each one's extras and constraint files must exist;
- `python`: run in a fresh process (TensorFlow is heavy: one per block) after a prelude that makes the names an
  example assumes (`my_model`, `x`, `y`);
- `console`: `$ COMMAND` lines run in that folder, and what each prints (stdout) compared line by line with the
  lines under it;
- `text` and `markdown`: not meant to run (SKIPPED); a block without an info string fails the test.

Commands that would take minutes run in a reduced form (REDUCED, each with its reason); the block's line must
still be the one the reduction is for. Slow blocks (over ~15 s) are marked `slow`.
"""

import itertools
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BIN = Path(sys.executable).parent  # initlab, lint-imports and python, as the user's activated environment has them
SKIPPED = {"text", "markdown"}  # info strings of blocks that are not meant to run
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.S | re.M)

# A line as the page writes it -> what the test runs instead, and why.
REDUCED = {
    # 30 runs on the digits data (about 25 s; 12 s with 1 epoch): the dry run still finds the sweep lesson and its
    # base config inside the package, validates them and plans every run.
    "initlab sweep digits_initializers": "initlab sweep digits_initializers --dry-run",
}

# What a console block's command needs before it runs: Python run in the working folder.
SETUP = {
    "initlab diagnose mobilenet_v2.keras": (
        "import keras\n"
        "keras.applications.MobileNetV2(input_shape=(96, 96, 3), weights=None).save('mobilenet_v2.keras')\n"
    ),
}

# The names the Python examples assume: a small compiled model and its data.
PRELUDE = """\
import numpy as np
import keras

rng = np.random.default_rng(0)
x = rng.normal(size=(320, 4)).astype("float32")
y = (x[:, 0] + x[:, 1] > 0).astype("float32")
my_model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(16, activation="relu"),
                             keras.layers.Dense(1, activation="sigmoid")])
my_model.compile(optimizer="adam", loss="binary_crossentropy")
"""

SLOW = ("mobilenet_v2.keras", "reproduce --papers", "initlab run relu_he")  # a block that holds one of these takes more than 15 s
SLOW_KINDS = ("python",)  # a fresh process importing TensorFlow and fitting a model: about 15 s


def blocks(page: Path) -> list[tuple[str, str]]:
    """(info string, text) of each fenced block on a page."""
    return [(match.group(1).strip(), match.group(2)) for match in FENCE.finditer(page.read_text())]


def _cases():
    for page in PAGES:
        for index, (info, text) in enumerate(blocks(page)):
            name = page.relative_to(REPO).as_posix()
            marks = [pytest.mark.slow] if info in SLOW_KINDS or any(word in text for word in SLOW) else []
            yield pytest.param(name, index, id=f"{name}#{index}-{info or 'none'}", marks=marks)


def command_lines(text: str) -> list[str]:
    """A bash block's commands: continuation lines joined, blank and comment-only lines left out."""
    lines = text.replace("\\\n", " ").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def without_comment(line: str) -> str:
    return re.split(r"\s#\s", line, maxsplit=1)[0].strip()


@pytest.fixture
def workdir(tmp_path) -> Path:
    """A folder that reads like the repository (configs/, benchmarks/, pyproject.toml, ... are links) and keeps
    what a command writes (outputs/, copies, models) to itself."""
    for entry in REPO.iterdir():
        if entry.name not in {".git", ".venv", "outputs", "build"} and not entry.name.endswith(".egg-info"):
            (tmp_path / entry.name).symlink_to(entry)
    return tmp_path


def shell(command: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "COLUMNS": "80"}
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def check_pip(page: str, line: str) -> None:
    """An install line: not run. The README's are the lines .ci/run runs (which adds --quiet); the extras and
    constraint files it names exist."""
    if page == "README.md":
        ci = (REPO / ".ci" / "run").read_text().replace(" --quiet", "")
        assert line in ci.splitlines(), f"{line!r} is not a line of .ci/run"
    extras = set(tomllib_load()["project"]["optional-dependencies"])
    for word in shlex.split(without_comment(line.split("&&")[0])):
        named = re.fullmatch(r"\.\[([\w,-]+)\]", word)
        if named:
            assert set(named.group(1).split(",")) <= extras, f"{word}: extras are {sorted(extras)}"
    for flag, value in zip(shlex.split(line), shlex.split(line)[1:]):
        if flag in ("-c", "--constraint", "-r", "--requirement"):
            assert (REPO / value).is_file(), f"{value} does not exist"


def tomllib_load() -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_the_reductions_are_for_lines_on_the_pages():
    lines = {without_comment(line) for page in PAGES for info, text in blocks(page) if info == "bash"
             for line in command_lines(text)}
    assert set(REDUCED) <= lines, f"reduced, but no page has it: {set(REDUCED) - lines}"
    consoles = {line[2:] for page in PAGES for info, text in blocks(page) if info == "console"
                for line in text.splitlines() if line.startswith("$ ")}
    assert set(SETUP) <= consoles, f"set up, but no page has it: {set(SETUP) - consoles}"


@pytest.mark.parametrize("page, index", list(_cases()))
def test_example(page, index, workdir):
    info, text = blocks(REPO / page)[index]
    assert info, f"{page}, block {index}: give the block an info string (yaml, bash, python, console, or text)"
    if info in SKIPPED:
        pytest.skip(f"a {info} block is not meant to run")
    run = {"yaml": _yaml, "bash": _bash, "python": _python, "console": _console}.get(info)
    assert run is not None, f"{page}, block {index}: no way to run a '{info}' block (known: yaml, bash, python, " \
                            f"console; not run: {sorted(SKIPPED)})"
    run(page, text, workdir)


def _yaml(page: str, text: str, workdir: Path) -> None:
    from typer.testing import CliRunner

    from initlab.cli import app

    raw = yaml.safe_load(text)
    if "base" in raw:  # a sweep file: beside a copy of the lesson its base names (configs/ is initlab/lessons/)
        base = workdir / "sweep" / raw["base"]
        base.parent.mkdir()
        base.write_text((REPO / "initlab" / "lessons" / raw["base"]).read_text())
        path = base.parent / "example_sweep.yaml"
        args = ["sweep", str(path), "--dry-run", "--out", str(workdir / "outputs")]
    else:
        path = workdir / "example_config.yaml"
        args = ["validate", str(path)]
        data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
        if "npz" in data:  # a page's stand-in for the reader's own data: validate reads it, so it must exist
            import numpy as np

            np.savez(workdir / data["npz"], x_train=np.zeros((20, 8, 8, 1), "float32"), y_train=np.arange(20) % 10)
    path.write_text(text)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, f"initlab {' '.join(args)}:\n{result.output}"


def _bash(page: str, text: str, workdir: Path) -> None:
    for line in command_lines(text):
        if line.startswith("pip install"):
            check_pip(page, line)
            continue
        command = REDUCED.get(without_comment(line), line)
        done = shell(command, workdir)
        assert done.returncode == 0, f"$ {command}\nexit {done.returncode}\n{done.stdout}\n{done.stderr[-3000:]}"


def _python(page: str, text: str, workdir: Path) -> None:
    script = workdir / "example.py"
    script.write_text(PRELUDE + "\n# the example\n" + text)
    done = subprocess.run([sys.executable, str(script)], cwd=workdir, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{page}: the example failed\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def _console(page: str, text: str, workdir: Path) -> None:
    """Each `$ COMMAND` runs, exit 0, and prints exactly the lines under it (trailing spaces aside)."""
    sessions = re.split(r"^\$ ", text, flags=re.M)
    assert not sessions[0].strip(), f"{page}: a console block starts with a `$ COMMAND` line"
    for session in sessions[1:]:
        command, _, expected = session.partition("\n")
        if command in SETUP:
            setup = subprocess.run([sys.executable, "-c", SETUP[command]], cwd=workdir, capture_output=True,
                                   text=True, timeout=900)
            assert setup.returncode == 0, setup.stderr[-3000:]
        done = shell(command, workdir)
        assert done.returncode == 0, f"$ {command}\nexit {done.returncode}\n{done.stdout}\n{done.stderr[-3000:]}"
        printed = [line.rstrip() for line in done.stdout.rstrip("\n").splitlines()]
        assert printed == [line.rstrip() for line in expected.rstrip("\n").splitlines()], f"$ {command}"


# ---- links and cited files ------------------------------------------------------------------------------------------
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
CITED = re.compile(r"`((?:initlab|tests|benchmarks|docs|configs|\.ci)/[^`\s]*)`")
TEST_NAME = re.compile(r"`(?:::)?(test_\w+)`")


def prose(page: Path) -> str:
    """A page without its fenced blocks."""
    return FENCE.sub("", page.read_text())


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for a page's headings."""
    found = set()
    for heading in re.findall(r"^#+ (.+)$", prose(page), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", "")).replace(" ", "-")
        found.add(slug)
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_link_and_image_resolves(page):
    broken = []
    for target in LINK.findall(prose(page)):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading with that anchor in {file.name}")
    assert not broken, broken


def expand(path: str) -> list[str]:
    """configs/mistake_{zero,constant}_{relu,tanh}.yaml as the shell expands it."""
    parts = re.split(r"\{([^}]*)\}", path)
    choices = [[part] if i % 2 == 0 else part.split(",") for i, part in enumerate(parts)]
    return ["".join(pick) for pick in itertools.product(*choices)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_cited_file_and_test_exists(page):
    """The files the page names in code spans (initlab/..., tests/...::test_..., benchmarks/..., docs/...) exist,
    and so does every test it names."""
    text, missing = prose(page), []
    for cited in CITED.findall(text):
        path, *tests = cited.split("::")
        for one in expand(path):
            if not list(REPO.glob(one.rstrip("/"))):
                missing.append(one)
            elif tests and not all(f"def {name}(" in (REPO / one).read_text() for name in tests):
                missing.append(cited)
    every_test = "".join(p.read_text() for p in (REPO / "tests").glob("test_*.py"))
    missing += [name for name in TEST_NAME.findall(text) if f"def {name}(" not in every_test]
    assert not missing, missing


def test_the_architecture_page_names_every_module():
    """docs/architecture.md lists each layer's modules: a module added or renamed is named there too."""
    page = (REPO / "docs" / "architecture.md").read_text()
    modules = [p for p in (REPO / "initlab").glob("*/*.py") if p.name != "__init__.py"]
    modules += [p for p in (REPO / "initlab").glob("*.py")]
    missing = [p.relative_to(REPO).as_posix() for p in modules if f"`{p.name}`" not in page
               and f"`{p.relative_to(REPO).as_posix()}`" not in page]
    assert not missing, f"not on docs/architecture.md: {missing}"
