"""Property tests: random and mutated YAML for the config loader, `--set` and the sweep loader, random bytes for CSV
data. Each input either loads into a valid config (data set) or ends in one clean UserError line, never another
exception. Valid configs generated from the schema and the initializer registry check what they produce: dumped and
loaded, the same config; `--set key=value`, the value at that key, typed. Deterministic in CI (the `initlab`
hypothesis profile in conftest.py derandomizes)."""

import math
import tempfile
from pathlib import Path

import numpy as np
import yaml
from hypothesis import HealthCheck, event, given, settings, strategies as st

from initlab.base.errors import UserError
from initlab.config import experiment as config_module, initializers, names
from initlab.config.experiment import Config, CsvData
from initlab.lab import sweep as sweep_module
from initlab.train import data as data_module

from tests.conftest import raw_config
from tests.test_config import as_yaml

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


# ---- valid configs: what they produce, not only that nothing crashes -------------------------------------------------
def parameter_value(param):
    """Any value inside a registry parameter's range (initializers.Range or Choice)."""
    ok = param.ok
    if isinstance(ok, initializers.Choice):
        return st.sampled_from(ok.options)
    if ok.integer:
        drawn = st.integers(int(ok.low) + ok.low_open, None if math.isinf(ok.high) else int(ok.high))
    else:
        drawn = st.floats(ok.low, ok.high, exclude_min=ok.low_open, allow_nan=False) | st.integers(
            math.floor(ok.low) + 1, math.ceil(ok.high) - 1)
    return st.none() | drawn if ok.none else drawn


@st.composite
def initializer_spec(draw, role: str = "kernel"):
    """An initializer the registry accepts for `role`, in any of its three forms, by any of its names, with any
    parameters inside their ranges (and minval < maxval)."""
    # a bias drawn with its kernel (rai) is valid only beside that kernel: a config rule, tested on its own
    canonical = draw(st.sampled_from([name for name, entry in initializers.REGISTRY.items()
                                      if role == "kernel" or not (entry.kernel_only or
                                                                  name in initializers.BIAS_WITH_ITS_KERNEL)]))
    entry = initializers.REGISTRY[canonical]
    name = draw(st.sampled_from([alias for alias, c in initializers.ALIASES.items() if c == canonical]))
    params = {key: draw(parameter_value(param)) for key, param in entry.params.items() if draw(st.booleans())}
    if entry.together and entry.together({**{k: p.default for k, p in entry.params.items()}, **params}):
        params = {k: v for k, v in params.items() if k not in ("minval", "maxval")}  # the defaults are in order
        low, high = sorted(draw(st.lists(st.floats(-1e9, 1e9), min_size=2, max_size=2, unique=True)))
        params.update(minval=low, maxval=high)
    form = draw(st.sampled_from(["name", "mapping", "keras"]))
    if form == "name" and not params:
        return name
    return {"class_name": entry.class_name, "config": params} if form == "keras" else {"name": name, **params}


ACTIVATIONS = [a for a in names.ACTIVATIONS if a not in names.NEEDS_ARGUMENTS]
OPTIMIZERS = [*names.OPTIMIZERS, *(name.upper() for name in names.OPTIMIZERS)]  # any letter case


def fitting(activation: str, units: int) -> int:
    """units, doubled where the activation takes even widths only (glu)."""
    return 2 * units if names.width_problem(activation, units) else units


@st.composite
def layers_of(draw, activation: str):
    """model.hidden or model.layers (each layer maybe with its own activation and initializers)."""
    if draw(st.booleans()):
        return "hidden", [fitting(activation, u) for u in draw(st.lists(st.integers(1, 16), max_size=4))]
    layers = []
    for _ in range(draw(st.integers(1, 3))):
        own = draw(st.none() | st.sampled_from(ACTIVATIONS))
        layer = {"units": fitting(own or activation, draw(st.integers(1, 16)))}
        if own is not None:
            layer["activation"] = own
        for key, role in (("kernel_initializer", "kernel"), ("bias_initializer", "bias")):
            if draw(st.booleans()):
                layer[key] = draw(initializer_spec(role))
        layers.append(layer)
    return "layers", layers


DATA = {  # each data set's own keys with values inside their ranges
    "ushape": {}, "salary": {"n_samples": st.integers(2, 300), "noise": st.floats(0, 1e9)},
    "moons": {"n_samples": st.integers(2, 300), "noise": st.floats(0, 1e9)},
    "circles": {"n_samples": st.integers(2, 300), "noise": st.floats(0, 10),
                "factor": st.floats(0, 1, exclude_min=True, exclude_max=True)},
    "xor": {"n_samples": st.integers(2, 300), "noise": st.floats(0, 10)},
    "spiral": {"n_samples": st.integers(2, 300), "noise": st.floats(0, 10),
               "turns": st.floats(0, 1e9, exclude_min=True)},
    "blobs": {"n_samples": st.integers(2, 300), "centers": st.integers(2, 6), "n_features": st.integers(1, 20),
              "cluster_std": st.floats(0, 1e9, exclude_min=True)},
    "gaussian": {"n_samples": st.integers(2, 300), "n_features": st.integers(1, 50), "noise": st.floats(0, 0.5)},
    "digits": {"n_samples": st.none() | st.integers(2, 1797)},
    "uniform": {"n_samples": st.integers(2, 300), "n_features": st.integers(1, 20),
                "numpy_seed": st.integers(0, 2**32 - 1), "target": st.sampled_from(["random", "learnable"])},
    "csv": {"path": st.sampled_from(["points.csv", "data/a b.csv"]), "features": st.lists(
        st.sampled_from(["a", "b", "c", "x1"]), min_size=1, unique=True), "target": st.sampled_from(["y", "label"])},
}
COMMON_DATA = {"validation_split": st.floats(0, 1, exclude_max=True), "standardize": st.booleans(),
               "split": st.sampled_from(["last", "shuffled"]), "split_seed": st.integers(0, 2**32 - 1)}


def some(draw, strategies: dict) -> dict:
    """A few of these keys, each with a value from its strategy."""
    return {key: draw(strategy) for key, strategy in strategies.items() if draw(st.booleans())}


@st.composite
def valid_config(draw) -> dict:
    """A config as a user writes it, valid by construction: a random subset of every section's keys."""
    dataset = draw(st.sampled_from(sorted(DATA)))
    data = {"dataset": dataset, **some(draw, {**DATA[dataset], **COMMON_DATA})}
    if dataset == "csv":
        data.update(path=draw(DATA["csv"]["path"]), features=draw(DATA["csv"]["features"]),
                    target=draw(DATA["csv"]["target"]))
    activation = draw(st.sampled_from(ACTIVATIONS))
    key, layers = draw(layers_of(activation))
    model = {key: layers, "activation": activation, **some(draw, {
        "output_activation": st.none() | st.sampled_from(ACTIVATIONS), "kernel_initializer": initializer_spec(),
        "bias_initializer": initializer_spec("bias"), "set_weights": st.none() | st.floats(-1e9, 1e9),
        "data_init": st.none() | st.just("lsuv"), "data_init_tol": st.floats(0, 1, exclude_min=True, exclude_max=True),
        "data_init_iters": st.integers(1, 100)})}
    train = some(draw, {"optimizer": st.sampled_from(OPTIMIZERS), "learning_rate": st.floats(0, 1e9, exclude_min=True),
                        "loss": st.none() | st.sampled_from(names.suggestions("loss")), "epochs": st.integers(1, 10**6),
                        "batch_size": st.integers(1, 512), "shuffle": st.booleans(),
                        "engine": st.sampled_from(["fast", "keras"])})
    record = some(draw, {"every": st.just("auto") | st.integers(1, 10**6), "tensorboard": st.booleans(),
                         "targets": st.lists(st.floats(0, 1, exclude_min=True), max_size=3)})
    name = draw(st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,30}", fullmatch=True).filter(lambda n: ".." not in n))
    raw = {"name": name, **some(draw, {"seed": st.integers(0, 2**31 - 1)}), "data": data, "model": model}
    return {**raw, **({"train": train} if train else {}), **({"record": record} if record else {})}


def holds(loaded, given) -> bool:
    """Every value `given` sets is what `loaded` (resolved, plain data) has, of the same kind: a float key given an
    integer holds it as a float (an initializer spec is kept as written, its parameters too)."""
    if isinstance(given, dict):
        return isinstance(loaded, dict) and all(k in loaded and holds(loaded[k], v) for k, v in given.items())
    if isinstance(given, list):
        return isinstance(loaded, list) and len(loaded) == len(given) and all(map(holds, loaded, given))
    return loaded == given and (type(loaded) is type(given) or isinstance(loaded, float) and type(given) is int)


@FAST
@given(valid_config())
def test_a_valid_config_dumped_and_loaded_is_the_same_config(raw):
    config = config_module.validate(raw)  # valid by construction: a refusal fails the property
    assert holds(config.resolved(), raw), (config.resolved(), raw)
    again = config_module.validate(yaml.safe_load(config_module.dump(config)))
    assert again == config
    assert again.resolved() == config.resolved() and again.digest() == config.digest()
    assert config_module.dump(again) == config_module.dump(config)


SETTABLE = {  # key -> (valid values, what the base config sets for it to apply)
    "name": (st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,20}", fullmatch=True), {}),
    "seed": (st.integers(0, 2**31 - 1), {}),
    "data.validation_split": (st.floats(0, 1, exclude_max=True), {}),
    "data.split": (st.sampled_from(["last", "shuffled"]), {}),
    "data.split_seed": (st.integers(0, 2**32 - 1), {}),
    "model.hidden": (st.lists(st.integers(1, 16), max_size=4), {}),
    "model.layers": (layers_of("relu").filter(lambda drawn: drawn[0] == "layers").map(lambda drawn: drawn[1]), {}),
    "model.activation": (st.sampled_from(ACTIVATIONS), {}),
    "model.output_activation": (st.none() | st.sampled_from(ACTIVATIONS), {}),
    "model.kernel_initializer": (initializer_spec(), {}),
    "model.bias_initializer": (initializer_spec("bias"), {}),
    "model.kernel_initializer.stddev": (parameter_value(initializers.REGISTRY["truncated_normal"].params["stddev"]),
                                        {"model": {"kernel_initializer": {"name": "truncated_normal"}}}),
    "model.set_weights": (st.none() | st.floats(-1e9, 1e9) | st.integers(-10**9, 10**9), {}),
    "train.learning_rate": (st.floats(0, 1e9, exclude_min=True) | st.integers(1, 10**9), {}),
    "train.epochs": (st.integers(1, 10**6), {}),
    "train.batch_size": (st.integers(1, 10**4), {}),
    "train.optimizer": (st.sampled_from(OPTIMIZERS), {}),
    "train.loss": (st.none() | st.sampled_from(names.suggestions("loss")), {}),
    "train.shuffle": (st.booleans(), {}),
    "train.engine": (st.sampled_from(["fast", "keras"]), {}),
    "record.every": (st.just("auto") | st.integers(1, 10**6), {}),
    "record.targets": (st.lists(st.floats(0, 1, exclude_min=True) | st.just(1), max_size=3), {}),
}


def read_key(config, key: str):
    """The value at a key path of a loaded config, as its config.yaml holds it (an initializer as written), and as
    the attribute a program reads where that is a plain value (checked to be the same)."""
    node = config.resolved()
    for part in key.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    attribute = config
    for part in key.split("."):
        initializer = isinstance(attribute, initializers.Initializer)
        attribute = attribute.params[part] if initializer else getattr(attribute, part)
    if attribute is None or isinstance(attribute, (bool, int, float, str)):
        assert attribute == node and type(attribute) is type(node), (attribute, node)
    return node


@FAST
@given(st.data())
def test_set_then_reading_the_key_gives_the_value(data):
    """`--set key=value` with a valid value, through its YAML text: the loaded config holds that value at that key,
    typed as the schema says (an integer given to a float key is read as a float), and nothing else moved."""
    key = data.draw(st.sampled_from(sorted(SETTABLE)))
    values, base = SETTABLE[key]
    value = data.draw(values)
    path = write("set.yaml", dump(raw_config(**base)))
    plain = config_module.load_config(path)
    config = config_module.load_config(path, [f"{key}={as_yaml(value)}"])
    assert holds(read_key(config, key), value), (key, value, read_key(config, key))
    expected = config_module.apply_overrides(plain.resolved(), [f"{key}={as_yaml(value)}"])
    if key == "model.layers":
        expected["model"]["hidden"] = [layer["units"] for layer in value]  # hidden follows the layers
    assert config.resolved() == config_module.validate(expected).resolved()
