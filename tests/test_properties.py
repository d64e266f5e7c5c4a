"""Property tests: random and mutated YAML for the config loader, `--set` and the sweep loader, random bytes for CSV
data. Each input either loads into a valid config (data set) or ends in one clean UserError line, never another
exception. Deterministic in CI (the `initlab` hypothesis profile in conftest.py derandomizes)."""

import math
import tempfile
from pathlib import Path

import numpy as np
import yaml
from hypothesis import HealthCheck, event, given, settings, strategies as st

from initlab.base.errors import UserError
from initlab.config import experiment as config_module
from initlab.config.experiment import Config, CsvData
from initlab.lab import sweep as sweep_module
from initlab.train import data as data_module

from tests.conftest import raw_config

FOLDER = Path(tempfile.mkdtemp(prefix="initlab-properties-"))
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---- values and keys ---------------------------------------------------------------------------------------------
KEYS = ["name", "seed", "data", "model", "train", "record", "dataset", "validation_split", "standardize", "n_samples",
        "noise", "n_features", "centers", "path", "features", "target", "hidden", "layers", "units", "activation",
        "output_activation", "kernel_initializer", "bias_initializer", "set_weights", "optimizer", "learning_rate",
        "loss", "epochs", "batch_size", "shuffle", "engine", "every", "tensorboard", "targets", "stddev", "minval",
        "maxval", "mean", "value", "gain", "scale", "mode", "distribution", "class_name", "config"]
KEY_PATHS = ["seed", "data.dataset", "data.n_samples", "data.noise", "data.n_features", "data.centers",
             "data.validation_split", "model.hidden", "model.layers", "model.activation", "model.kernel_initializer",
             "model.bias_initializer", "model.set_weights", "model.layers.0.units", "model.kernel_initializer.stddev",
             "train.learning_rate", "train.epochs", "train.batch_size", "train.optimizer", "record.every", "name"]
ODD_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
NUMBERS = (st.integers(-2**70, 2**70) | st.floats(allow_nan=True, allow_infinity=True)
           | st.sampled_from([0, 1, -1, 2, 10**9, 10**12, 1e300, -1e-300, 0.5, 2**31]))
NAMES = st.sampled_from(["ushape", "moons", "gaussian", "blobs", "csv", "relu", "tanh", "glu", "he_normal", "zeros",
                         "random_normal", "random_uniform", "variance_scaling", "orthogonal", "stft", "fan_in",
                         "adam", "sgd", "fast", "keras", "auto"])
SCALARS = st.none() | st.booleans() | NUMBERS | NAMES | ODD_TEXT
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS) | ODD_TEXT, inner, max_size=4),
    max_leaves=12,
)
PLAUSIBLE = {  # values near what a user writes, so that many examples get past the first check
    "seed": st.integers(-2, 2**32), "data.dataset": NAMES, "data.n_samples": st.integers(-1, 2 * 10**6),
    "data.noise": NUMBERS, "data.n_features": st.integers(0, 10**5), "data.centers": st.integers(0, 5),
    "data.validation_split": st.floats(-0.5, 1.5), "model.hidden": st.lists(st.integers(-1, 10**5), max_size=4),
    "model.layers": st.lists(st.fixed_dictionaries({"units": st.integers(0, 50)}, optional={"activation": NAMES}),
                             max_size=3),
    "model.activation": NAMES, "model.set_weights": NUMBERS, "model.layers.0.units": st.integers(-1, 10**8),
    "model.kernel_initializer": NAMES | st.fixed_dictionaries(
        {"name": NAMES}, optional={k: NUMBERS | NAMES for k in ("stddev", "minval", "maxval", "value", "gain", "scale",
                                                                "mode", "distribution", "seed", "mean")}),
    "model.bias_initializer": NAMES, "model.kernel_initializer.stddev": NUMBERS,
    "train.learning_rate": NUMBERS, "train.epochs": st.integers(-1, 2 * 10**6),
    "train.batch_size": st.integers(-1, 10**9), "train.optimizer": NAMES, "record.every": st.integers(-1, 10),
    "name": st.sampled_from(["ok", "a/b", "..", ""]) | ODD_TEXT,
}


def mostly(draw, usual, odd, one_in: int = 4):
    """A draw from `usual`, and from `odd` one time in `one_in`."""
    return draw(odd if draw(st.integers(1, one_in)) == one_in else usual)  # hypothesis leans to the minimum


TAGS = ["!!python/object/apply:os.system ['true']", "!!python/name:os.system", "!!binary aGVsbG8=", "!!set {a, b}",
        "!!omap [{a: 1}, {b: 2}]", "!!pairs [[a, 1]]", "!foo bar", "!!timestamp 2001-12-14", "!!float nan", "!!int '7'",
        "!!str 3", "!!null ''", "!!map {a: 1}", "!!seq [1]"]


def dump(value) -> str:
    return yaml.safe_dump(value, default_flow_style=None, allow_unicode=True, sort_keys=False)


@st.composite
def mutated_config(draw) -> dict:
    """The tutorial's config with a few keys set to random values (known paths and random ones)."""
    raw = raw_config()
    for _ in range(draw(st.integers(0, 3))):
        path = mostly(draw, st.sampled_from(KEY_PATHS), st.lists(st.sampled_from(KEYS) | ODD_TEXT, min_size=1,
                      max_size=3).map(lambda parts: ".".join(p.replace(".", "_") or "x" for p in parts)))
        try:
            config_module.set_key(raw, path, mostly(draw, PLAUSIBLE.get(path, VALUES), VALUES), "test", path)
        except UserError:
            pass  # a path through a value that is not a mapping: leave it
    return raw


@st.composite
def mutated_text(draw, text: str) -> str:
    """`text` with a few text-level mutations: tags, anchors and aliases, nesting, odd characters, cuts."""
    for _ in range(draw(st.sampled_from([0, 0, 0, 0, 1, 1, 2]))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["tag", "alias", "nest", "char", "cut", "bomb", "number"]))
        if kind == "tag" and ": " in text:
            text = text.replace(": ", f": {draw(st.sampled_from(TAGS))} ", 1) if draw(st.booleans()) \
                else text + f"\nextra: {draw(st.sampled_from(TAGS))}\n"
        elif kind == "alias":
            text = f"anchor_here: &a {draw(st.sampled_from(['[1, 2]', '{stddev: -1}', 'relu', '[*a]', '.nan']))}\n" \
                + text.replace(": ", ": *a ", 1) if "*a" not in text else text
        elif kind == "nest":
            depth = draw(st.integers(1, 300))
            text = text + f"\nmodel: {{hidden: {'[' * depth}1{']' * depth}}}\n"
        elif kind == "char":
            text = text[:at] + draw(st.characters(codec="utf-8", exclude_categories=["Cs"])) + text[at:]
        elif kind == "cut":
            text = text[:at]
        elif kind == "bomb":
            fan, depth = draw(st.integers(2, 10)), draw(st.integers(1, 9))
            lines = ["l0: &l0 [lol, lol]"] + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * fan)}]" for i in range(1, depth)]
            text = "\n".join(lines) + f"\nmodel: {{hidden: *l{depth - 1}}}\n" + text
        elif kind == "number":
            text = text.replace("5", str(draw(st.sampled_from([".inf", "-.inf", ".nan", "1e400", "-5", "0", "99999999999"]))), 1)
    return text


def write(name: str, content: str | bytes) -> Path:
    path = FOLDER / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
    return path


def clean(error: UserError) -> None:
    """A user error the CLI can print as one line naming where the problem is."""
    text = error.render()
    assert text and "\n" not in text and "Traceback" not in text, text
    assert error.source, text


def loads_or_refuses(load):
    """Run `load`: a valid result or a clean UserError; any other exception fails the property."""
    try:
        result = load()
    except UserError as error:
        clean(error)
        event(f"refused: {error.key or error.detail[:25]}")
        return None
    event("loaded")
    return result


# ---- the config loader -------------------------------------------------------------------------------------------
@FAST
@given(st.data())
def test_config_loader_loads_or_refuses_cleanly(data):
    text = data.draw(mutated_text(dump(data.draw(mutated_config()))))
    config = loads_or_refuses(lambda: config_module.load_config(write("exp.yaml", text)))
    if config is not None:
        assert isinstance(config, Config)
        again = Config.model_validate(config.resolved(), context={"allow_large": True})  # the resolved round trip
        assert again.resolved() == config.resolved()
        assert config_module.validate(yaml.safe_load(config_module.dump(config)), allow_large=True).digest() \
            == config.digest()


@FAST
@given(st.binary(max_size=200))
def test_config_loader_on_random_bytes(content):
    loads_or_refuses(lambda: config_module.load_config(write("bytes.yaml", content)))


# ---- --set -------------------------------------------------------------------------------------------------------
@FAST
@given(st.data())
def test_set_parser_loads_or_refuses_cleanly(data):
    key = mostly(data.draw, st.sampled_from(KEY_PATHS), ODD_TEXT)
    value = mostly(data.draw, PLAUSIBLE.get(key, VALUES), VALUES | st.sampled_from(TAGS) | ODD_TEXT)
    value = value if isinstance(value, str) and value in TAGS else yaml.safe_dump(value, default_flow_style=True,
                                                                                   allow_unicode=True, width=10**6)
    override = data.draw(mutated_text(f"{key}={value}")).replace("\n", " ")
    path = write("set.yaml", dump(raw_config()))
    config = loads_or_refuses(lambda: config_module.load_config(path, [override]))
    assert config is None or isinstance(config, Config)


# ---- the sweep loader --------------------------------------------------------------------------------------------
@st.composite
def mutated_sweep(draw) -> str:
    grid = {}
    for _ in range(draw(st.integers(0, 3))):
        key = mostly(draw, st.sampled_from(KEY_PATHS), ODD_TEXT)
        grid[key] = [mostly(draw, PLAUSIBLE.get(key, VALUES), VALUES) for _ in range(draw(st.integers(0, 3)))]
    cases = [{"label": f"case{number}", **draw(st.dictionaries(st.sampled_from(KEY_PATHS), VALUES, max_size=2))}
             for number in range(draw(st.integers(0, 2)))]
    sweep = {"name": mostly(draw, st.just("sweep"), st.sampled_from(["a/b", ""]) | ODD_TEXT),
             "base": mostly(draw, st.just("base.yaml"), st.sampled_from(["nowhere.yaml", "."])),
             "grid": grid, "cases": cases,
             "seeds": mostly(draw, st.lists(st.integers(0, 3), min_size=1, max_size=3, unique=True), st.lists(NUMBERS))}
    sweep = {k: v for k, v in sweep.items() if draw(st.integers(0, 9))}  # drop a key now and then
    if draw(st.integers(0, 4)) == 0:
        sweep[draw(st.sampled_from(["set", "grdi", "seed", "label"]) | ODD_TEXT)] = draw(VALUES)
    return draw(mutated_text(dump(sweep)))


@FAST
@given(mutated_sweep())
def test_sweep_loader_loads_or_refuses_cleanly(text):
    write("base.yaml", dump(raw_config(name="base")))
    loaded = loads_or_refuses(lambda: sweep_module.load_sweep(write("sweep.yaml", text)))
    if loaded is not None:
        sweep, planned = loaded
        assert len(planned) == sweep_module.size(sweep)
        assert all(isinstance(run.config, Config) for run in planned)


# ---- CSV data ----------------------------------------------------------------------------------------------------
CELLS = st.one_of(NUMBERS.map(str), st.sampled_from(["", "nan", "inf", "-inf", "NA", "1e400", "0x1F", '"1,2"', "'", '"']),
                  ODD_TEXT)


@st.composite
def csv_text(draw) -> bytes:
    header = mostly(draw, st.permutations(["a", "b", "y", "c"]),
                    st.lists(st.sampled_from(["a", "b", "y", "c", ""]) | ODD_TEXT, max_size=5))
    number = st.integers(-3, 3).map(str) | st.floats(-1e6, 1e6).map(repr)
    rows = [[mostly(draw, number, CELLS, 20) for _ in header] for _ in range(draw(st.integers(0, 8)))]
    rows += draw(st.lists(st.lists(CELLS, max_size=5), max_size=2)) if draw(st.integers(0, 3)) == 0 else []
    separator = mostly(draw, st.just(","), st.sampled_from([";", "\t"]), 8)
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = newline.join(separator.join(row) for row in [header, *rows])
    raw = text.encode("utf-8", "surrogatepass")
    return raw + draw(st.binary(max_size=8)) if draw(st.integers(0, 5)) == 0 else raw


@FAST
@given(csv_text(), st.sampled_from([0.0, 0.2, 0.5]), st.booleans())
def test_csv_loader_loads_or_refuses_cleanly(content, split, standardize):
    write("points.csv", content)
    cfg = CsvData(dataset="csv", path="points.csv", features=["a", "b"], target="y", validation_split=split,
                  standardize=standardize)
    dataset = loads_or_refuses(lambda: data_module.load_dataset(cfg, 0, FOLDER, "exp.yaml"))
    if dataset is not None:
        assert len(dataset.x_train) >= 1 and dataset.x_train.shape[1] == 2
        for array in (dataset.x_train, dataset.x_val, dataset.y_train, dataset.y_val):
            assert np.isfinite(array).all()
        assert dataset.task in ("binary", "multiclass", "regression")
        assert dataset.task != "binary" or set(np.unique(dataset.y_train)) <= {0.0, 1.0}
        assert math.isfinite(float(dataset.x_train.sum()))
