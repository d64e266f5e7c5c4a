"""The experiment config: YAML (safe_load only) -> `--set` overrides -> a pydantic model that refuses unknown keys."""

import copy
import hashlib
import json
import re
from collections.abc import Hashable
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    Field,
    PlainValidator,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from initlab.base.errors import KeyedValueError, UserError, did_you_mean, shown
from initlab.config import initializers, limits, names, user_experiment
from initlab.config.fields import (
    Float,
    Fraction,
    InitSpec,
    Int,
    Scale,
    Strict,
    Weight,
    initializer_spec,
    keras_name as _keras_name,
)


def _initializer(value, info: ValidationInfo) -> initializers.Initializer:
    """kernel_initializer and bias_initializer: an initializer spec for that role (fields.initializer_spec)."""
    return initializer_spec(value, info.field_name.split("_")[0])


def _optional_initializer(value, info: ValidationInfo):
    """A per-layer initializer: None takes the model's."""
    return value if value is None else _initializer(value, info)


# ---- data ------------------------------------------------------------------------------------------------
class DataBase(Strict):
    validation_split: Fraction = 0.2  # as Keras fit: the last fraction of the rows, before any shuffling
    standardize: bool = False  # scale features to mean 0, std 1 with the training part's statistics
    split: Literal["last", "shuffled"] = "last"  # shuffled: sklearn's train_test_split(random_state=split_seed)
    split_seed: Int = Field(42, ge=0, le=2**32 - 1)  # the shuffled split's random_state (42: the Q&A script's)


class UShapeData(DataBase):
    dataset: Literal["ushape"]  # the tutorial's 100 points: make_moons(100, noise=0.3, random_state=0)


class MoonsData(DataBase):
    dataset: Literal["moons"]
    n_samples: Int = Field(100, ge=2)
    noise: Scale = 0.3  # std of the Gaussian noise added to the points


class CirclesData(DataBase):
    dataset: Literal["circles"]
    n_samples: Int = Field(100, ge=2)
    noise: Scale = 0.1
    factor: Float = Field(0.5, gt=0, lt=1)  # inner circle radius / outer


class XorData(DataBase):
    dataset: Literal["xor"]
    n_samples: Int = Field(200, ge=2)
    noise: Scale = 0.1  # std of the jitter on the points; labels follow the clean points


class SpiralData(DataBase):
    dataset: Literal["spiral"]
    n_samples: Int = Field(200, ge=2)
    noise: Scale = 0.2
    turns: Float = Field(1.5, gt=0, le=initializers.LARGEST)  # how many times each arm winds


class BlobsData(DataBase):
    dataset: Literal["blobs"]
    n_samples: Int = Field(100, ge=2)
    centers: Int = Field(2, ge=2)  # classes; more than 2 makes it a multiclass task
    n_features: Int = Field(2, ge=1)
    cluster_std: Float = Field(1.0, gt=0, le=initializers.LARGEST)


class GaussianData(DataBase):
    dataset: Literal["gaussian"]
    n_samples: Int = Field(256, ge=2)
    n_features: Int = Field(500, ge=1)  # wide standard-normal inputs, for deep signal-propagation experiments
    noise: Float = Field(0.0, ge=0, le=0.5)  # fraction of labels flipped; labels = sign of a fixed random projection


class SalaryData(DataBase):
    dataset: Literal["salary"]  # regression: CGPA and IQ to salary (formula in initlab/train/data.py)
    n_samples: Int = Field(100, ge=2)
    noise: Scale = 1.0  # std of the salary noise, in lakhs


class DigitsData(DataBase):
    dataset: Literal["digits"]  # scikit-learn's bundled 8x8 digits: 1,797 images, 64 pixel features, 10 classes
    n_samples: Int | None = Field(None, ge=2, le=1797)  # the first n images only (brief runs); None: all
    standardize: bool = True
    split: Literal["last", "shuffled"] = "shuffled"


class UniformData(DataBase):
    dataset: Literal["uniform"]  # the Q&A script's data: np.random.seed(numpy_seed); X = np.random.rand(n, features)
    n_samples: Int = Field(1000, ge=2)
    n_features: Int = Field(10, ge=1)
    numpy_seed: Int = Field(42, ge=0, le=2**32 - 1)
    target: Literal["random", "learnable"] = "random"  # random: np.random.randint(2, size=n); learnable: sum(x) > features/2


class CsvData(DataBase):
    dataset: Literal["csv"]
    path: str  # relative to the config file
    features: list[str] = Field(min_length=1)
    target: str


DataConfig = Annotated[
    Union[UShapeData, MoonsData, CirclesData, XorData, SpiralData, BlobsData, GaussianData, SalaryData, DigitsData, UniformData,
          CsvData],
    Field(discriminator="dataset"),
]
NOT_PLAIN = "not a plain folder name (letters, digits, '_', '-', '.'; no path separators, no '..')"
MUP_OPTIMIZERS = ("sgd", "adam", "adamw")  # the columns of Yang et al. 2022's Table 3 (AdamW: Adam's column)
DATASETS = ["ushape", "moons", "circles", "xor", "spiral", "blobs", "gaussian", "salary", "digits", "uniform", "csv"]


# ---- model -------------------------------------------------------------------------------------------------
class LayerConfig(Strict):
    units: Int = Field(ge=1)
    activation: str | None = None  # default: model.activation
    kernel_initializer: InitSpec | None = None  # default: model.kernel_initializer
    bias_initializer: InitSpec | None = None  # default: model.bias_initializer

    _activation = field_validator("activation")(lambda v: _keras_name("activation", v))
    _inits = field_validator("kernel_initializer", "bias_initializer", mode="before")(_optional_initializer)


class ResidualConfig(Strict):
    """Residual blocks after the hidden layers, at the last hidden width (docs/depth.md, "Residual blocks")."""

    blocks: Int = Field(ge=1)  # x + f(x) blocks after model.hidden, each at its last width
    branch_layers: Literal[1, 2] = 1  # Dense layers in f, each after [normalization,] activation (pre-activation)
    normalization: Literal["none", "batch", "layer"] = "none"  # before each activation in the branch
    branch_init: Literal["standard", "skipinit", "fixup"] = "standard"  # skipinit: x + alpha f(x), alpha = 0; fixup:
    # the branch's last layer 0, its others' draws times blocks^(-1/(2 branch_layers - 2)) (Zhang et al. 2019)
    branch_width: Int | None = Field(None, ge=1)  # the branch's units; the lab has no projection: only the stream's


class ModelConfig(Strict):
    hidden: list[Annotated[Int, Field(ge=1)]] = [2]  # units per hidden layer; [] is logistic regression
    layers: list[LayerConfig] | None = None  # per-hidden-layer settings; when given, hidden follows from it
    activation: str = "relu"
    output_activation: str | None = None  # default follows the task: sigmoid, softmax or linear
    kernel_initializer: InitSpec = "glorot_uniform"  # a Keras name, {name: ..., params} or {class_name, config}
    bias_initializer: InitSpec = "zeros"
    set_weights: Weight | None = None  # after build, every weight array (kernels AND biases) set to this value
    data_init: Literal["lsuv"] | None = None  # lsuv: rescale each layer on one training batch to output variance 1
    data_init_tol: Float = Field(0.1, gt=0, lt=1)  # lsuv stops when |output variance - 1| < tol
    data_init_iters: Int = Field(10, ge=1, le=100)  # lsuv's most rescalings per layer
    parametrization: Literal["standard", "mup"] = "standard"  # mup: Yang et al. 2022's Table 3 (initlab/train/parametrization.py)
    base_width: Int | None = Field(None, ge=1)  # mup: the width at which mup and standard are the same network
    residual: ResidualConfig | None = None  # residual blocks after the hidden layers (initlab/train/residual.py)

    _activations = field_validator("activation", "output_activation")(lambda v: _keras_name("activation", v))
    _inits = field_validator("kernel_initializer", "bias_initializer", mode="before")(_initializer)

    @model_validator(mode="after")
    def _hidden_from_layers(self):
        if self.layers is not None:
            self.hidden = [layer.units for layer in self.layers]
        return self

    @model_validator(mode="after")
    def _orthogonal_under_lsuv(self):
        """LSUV starts from orthogonal kernels (the paper's Algorithm 1) unless the user chose an initializer."""
        if self.data_init == "lsuv" and "kernel_initializer" not in self.model_fields_set:
            self.kernel_initializer = initializers.parse("orthogonal")
        return self

    @model_validator(mode="after")
    def _mup_needs(self):
        """muP scales by width / base_width and owns the initial scales that set_weights and lsuv would overwrite."""
        if self.parametrization != "mup":
            return self
        if self.base_width is None:
            raise KeyedValueError("required with parametrization: mup (the width at which mup equals standard, "
                                  "e.g. the narrowest hidden layer)", "base_width")
        widths = [layer.units for layer in self.layers] if self.layers else self.hidden
        if widths and self.base_width > min(widths):
            raise KeyedValueError(f"{self.base_width} is wider than the narrowest hidden layer ({min(widths)} units); "
                                  f"allowed: 1 to {min(widths)}", "base_width")
        for key in ("set_weights", "data_init"):
            if getattr(self, key) is not None:
                raise KeyedValueError("cannot be combined with parametrization: mup, whose initial scales it would "
                                      "overwrite; allowed: null", key)
        return self

    @model_validator(mode="after")
    def _rai_bias_with_its_kernel(self):
        """randomized_asymmetric draws a bias as the last row of one [W; b] with its kernel: only beside that kernel."""
        pairs = [("", self.kernel_initializer, self.bias_initializer)] + [
            (f"layers.{i}.", layer.kernel_initializer or self.kernel_initializer,
             layer.bias_initializer or self.bias_initializer) for i, layer in enumerate(self.layers or [])]
        for where, kernel, bias in pairs:
            if bias.canonical in initializers.BIAS_WITH_ITS_KERNEL and kernel.canonical != bias.canonical:
                raise KeyedValueError(f"'{bias.name}' draws a bias together with its layer's kernel (one draw of "
                                      f"[W; b]), so the kernel must be {bias.canonical} too, not '{kernel.name}'; "
                                      f"or pick another bias initializer", f"{where}bias_initializer")
        return self

    @model_validator(mode="after")
    def _residual_fits(self):
        """A block adds its branch to its input: same width, and nothing that assumes a plain chain of layers."""
        if self.residual is None:
            return self
        if not self.hidden:
            raise KeyedValueError("residual blocks need a hidden layer before them (their width is the last hidden "
                                  "layer's); give model.hidden", "residual")
        width, branch = self.hidden[-1], self.residual.branch_width
        if branch is not None and branch != width:
            raise KeyedValueError(f"{branch} units would change the width of the residual stream ({width} units, "
                                  f"model.hidden's last) and the lab's blocks have no projection to add them; "
                                  f"allowed: {width} or null", "residual.branch_width")
        for key, given in (("parametrization", self.parametrization != "standard"),
                           ("data_init", self.data_init is not None)):
            if given:
                raise KeyedValueError(f"cannot be combined with model.residual (it assumes a plain chain of "
                                      f"layers); allowed with residual blocks: "
                                      f"{'standard' if key == 'parametrization' else 'null'}", key)
        return self

    def activations_fit(self):
        """Some activations only fail when called, on some widths (glu halves its input: odd widths fail)."""
        for number, layer in enumerate(self.hidden_layers(), start=1):
            problem = names.width_problem(layer.activation, layer.units)
            if problem:
                where = f"layers.{number - 1}" if self.layers else f"hidden.{number - 1}"
                raise ValueError(
                    f"activation '{layer.activation}' fails on hidden layer {number} ({where}, {layer.units} units): "
                    f"{problem}"
                )

    def hidden_layers(self) -> list[LayerConfig]:
        """Every hidden layer with its defaults filled in from the model-wide keys."""
        given = self.layers or [LayerConfig(units=u) for u in self.hidden]
        return [
            LayerConfig(
                units=layer.units,
                activation=layer.activation or self.activation,
                kernel_initializer=layer.kernel_initializer or self.kernel_initializer,
                bias_initializer=layer.bias_initializer or self.bias_initializer,
            )
            for layer in given
        ]


class TrainConfig(Strict):
    optimizer: str = "adam"  # a Keras optimizer name
    learning_rate: Float = Field(0.001, gt=0, le=initializers.LARGEST)
    loss: str | None = None  # default follows the task: binary / sparse categorical cross-entropy, or mse
    epochs: Int = Field(100, ge=0)  # 0: the initialization measured (epoch 0 of layers.csv, the initial loss), no training
    batch_size: Int = Field(32, ge=1)
    shuffle: bool = True  # reshuffle the training rows every epoch (seeded by the run seed)
    engine: Literal["fast", "keras"] = "fast"  # fast: one compiled loop; keras: model.fit, the reference

    _optimizer = field_validator("optimizer")(lambda v: _keras_name("optimizer", v))
    _loss = field_validator("loss")(lambda v: _keras_name("loss", v))


def _every(value):
    """record.every: auto or a whole number >= 1 (not true, not 2.5)."""
    if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return value
    raise ValueError(f"expected auto or a whole number of epochs >= 1, got {shown(value)}")


class RecordConfig(Strict):
    # auto: every epoch to 20, then about 200 epochs log-spaced to the last (dense early, where initialization
    # matters; a run of 200 epochs or fewer records them all); N: exactly every N. Epoch 0 and the last always.
    every: Annotated[Literal["auto"] | int, PlainValidator(_every)] = "auto"
    tensorboard: bool = False  # also write TensorBoard histograms
    targets: list[Annotated[Float, Field(gt=0, le=1)]] = [0.8, 0.9]  # summary.json: epochs_to each training accuracy
    # also write jacobian.csv and jacobian.npz: the input-output Jacobian's squared singular values at initialization,
    # per layer, on the first 32 probe rows; off by default: its cost grows as width^3 x depth (0.5 s at 32 layers of
    # 64 units, minutes at 10 layers of 500) where the rest of a small run's records cost milliseconds
    jacobian: bool = False


class Config(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", max_length=100)  # a plain folder name under outputs/
    seed: Int = Field(0, ge=0, le=2**31 - 1)  # seeds initializers (per layer), shuffling and generator noise
    data: DataConfig = Field(default_factory=lambda: UShapeData(dataset="ushape"))
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    record: RecordConfig = RecordConfig()
    _source: Path | None = PrivateAttr(None)  # the file it was read from: relative data paths start there
    _allow_large: bool = PrivateAttr(False)  # validated with --allow-large: the data limits are lifted too

    @field_validator("name")
    @classmethod
    def _plain_name(cls, v: str) -> str:
        if v in (".", "..") or ".." in v:
            raise ValueError(f"{v!r} is {NOT_PLAIN}")
        return v

    @model_validator(mode="after")
    def _within_limits(self, info: ValidationInfo):
        """The resource limits, before anything is allocated (the context's allow_large lifts them)."""
        found = limits.exceeded_limits(self)
        if found and not (info.context or {}).get("allow_large"):
            raise KeyedValueError(found[0][1], found[0][0])
        try:
            self.model.activations_fit()
        except ValueError as exc:
            raise KeyedValueError(str(exc), "model") from None
        if self.model.residual is not None and self.record.jacobian:
            raise KeyedValueError("cannot be combined with model.residual: a run records the Jacobian layer by layer "
                                  "along a plain chain; `initlab diagnose CONFIG --jacobian` measures a residual "
                                  "model's whole; allowed: false", "record.jacobian")
        if self.model.parametrization == "mup" and self.train.optimizer.lower() not in MUP_OPTIMIZERS:
            raise KeyedValueError(
                f"mup is defined for the optimizers of Yang et al. 2022's Table 3, not train.optimizer "
                f"{self.train.optimizer!r}; allowed with mup: {', '.join(MUP_OPTIMIZERS)}", "model.parametrization")
        return self

    def resolved(self) -> dict:
        """The config as plain data, defaults filled in: what config.yaml holds."""
        plain = self.model_dump(mode="json")
        plain["data"] = {"dataset": plain["data"].pop("dataset"), **plain["data"]}
        return plain

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.resolved(), sort_keys=True).encode()).hexdigest()[:10]

    def shared_in_a_population(self) -> dict:
        """resolved() without what only names the run, sets its initial weights or its learning rate (name, seed,
        initializers, set_weights, train.learning_rate): runs that agree on the rest can train in one population
        (sweep.group_key, population.shape_key), each member with its own weights and learning rate."""
        plain = self.resolved()
        for key in ("name", "seed"):
            plain.pop(key)
        plain["train"].pop("learning_rate")
        for key in ("kernel_initializer", "bias_initializer", "set_weights"):
            plain["model"].pop(key)
        for layer in plain["model"].get("layers") or []:
            layer.pop("kernel_initializer", None)
            layer.pop("bias_initializer", None)
        return plain


# ---- loading ---------------------------------------------------------------------------------------------------
class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.safe_load's loader, refusing a key given twice in one mapping (safe_load silently keeps the last),
    nesting deeper than the limit, and documents whose aliases expand beyond the limit (before they expand)."""

    depth = 0

    def compose_node(self, parent, index):
        self.depth += 1
        try:
            if self.depth > limits.MAX_YAML_DEPTH:
                raise _too_large(f"nested deeper than {limits.MAX_YAML_DEPTH} levels", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_document(self, node):
        _expanded_size(node, {}, [])
        return super().construct_document(node)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue  # SafeLoader refuses it below, with its own words
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key '{key}'", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


class _TooLarge(yaml.composer.ComposerError):
    """A document beyond the YAML limits, refused while it is composed."""


def _too_large(problem: str, mark) -> yaml.YAMLError:
    """A document refused by the YAML limits (or an alias loop); `mark` is where in the file."""
    return _TooLarge(None, None, problem, mark)


def _expanded_size(node, sizes: dict, path: list) -> int:
    """How many values `node` holds once every alias in it is expanded, counted without expanding
    (an alias is the same node object: each is counted once and its size reused)."""
    if id(node) in sizes:
        return sizes[id(node)]
    if any(node is seen for seen in path):
        raise _too_large("an alias refers to a value that contains it", node.start_mark)
    if len(path) >= limits.MAX_YAML_DEPTH:
        raise _too_large(f"aliases nest it deeper than {limits.MAX_YAML_DEPTH} levels", node.start_mark)
    path.append(node)
    children = [part for pair in node.value for part in pair] if isinstance(node, yaml.MappingNode) else (
        node.value if isinstance(node, yaml.SequenceNode) else [])
    size = 1
    for child in children:
        size += _expanded_size(child, sizes, path)
        if size > limits.MAX_YAML_NODES:
            raise _too_large(f"aliases expand it to more than {limits.MAX_YAML_NODES:,} values", node.start_mark)
    path.pop()
    sizes[id(node)] = size
    return size


def _safe_load(text: str):
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:  # a safety net: compose_node refuses deep nesting before Python's stack runs out
        raise yaml.YAMLError(f"nested too deeply (more than {limits.MAX_YAML_DEPTH} levels)") from None
    except (ValueError, TypeError, AttributeError, OverflowError) as exc:
        # a standard tag on a value it cannot build: '!!int abc', '!!timestamp hello' (PyYAML's own AttributeError)
        raise yaml.YAMLError(f"a tagged value that its tag cannot build ({type(exc).__name__}: {str(exc)[:80]})") from None


def read_yaml(path: Path) -> dict:
    """A YAML mapping from `path`, read with a safe loader; any problem is a UserError naming the file."""
    source = str(path)
    if not path.is_file():
        raise UserError("no such file" if not path.exists() else "is a folder, not a YAML file", source)
    size = path.stat().st_size
    if size > limits.MAX_YAML_BYTES:
        raise UserError(f"the file has {size:,} bytes, over the limit of {limits.MAX_YAML_BYTES:,} for a YAML file", source)
    try:
        raw = _safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise UserError(_yaml_problem(exc), source) from None
    except UnicodeDecodeError as exc:
        raise UserError(f"not a UTF-8 text file (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})", source) from None
    if raw is None:
        raise UserError("the file is empty", source)
    if not isinstance(raw, dict):
        raise UserError(f"expected a mapping of keys at the top level, got a {type(raw).__name__}: {shown(raw)}",
                        source)
    return raw


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """'invalid YAML (line 3, column 1: ...)'; tags that would build Python objects get their own words."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    problem = getattr(exc, "problem", None) or str(exc)
    if isinstance(exc, _TooLarge) or exc.__class__ is yaml.YAMLError:
        return f"YAML refused: {problem}" + (f" ({where.removesuffix(': ')})" if where else "")
    if "could not determine a constructor" in problem:
        tag = problem.rsplit(" ", 1)[-1].strip("'").replace("tag:yaml.org,2002:", "!!")
        return f"YAML tags that build Python objects are not allowed ({where}{tag}); allowed: plain YAML data"
    return f"invalid YAML ({where}{problem})"


def parse_override(text: str) -> tuple[str, Any]:
    """'train.epochs=200' -> ('train.epochs', 200); the value is parsed as YAML."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise UserError(f"expected KEY.PATH=VALUE (e.g. train.epochs=200), got '{text}'", "--set")
    try:
        return key, _safe_load(value)
    except yaml.YAMLError as exc:
        raise UserError(f"the value '{value}': {_yaml_problem(exc)}", "--set", key) from None


def set_key(raw: dict, key: str, value, source: str, where: str) -> None:
    """raw['a']['b']['c'] = value for key 'a.b.c', creating missing mappings; `source`/`where` name a bad path."""
    parts = key.split(".")
    if not all(parts) or "=" in key:
        raise UserError("expected a key path like train.epochs", source, where)
    node = raw
    for depth, part in enumerate(parts[:-1]):
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise UserError(f"'{'.'.join(parts[: depth + 1])}' is {shown(node)}, not a mapping", source, where)
    node[parts[-1]] = value


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """A copy of `raw` with each 'a.b.c=value' set, creating missing mappings on the way."""
    raw = copy.deepcopy(raw)
    for text in overrides:
        key, value = parse_override(text)
        set_key(raw, key, value, "--set", key)
    return raw


def validate(raw: dict, source: str = "config", overrides: list[str] = (), allow_large: bool = False):
    """A Config from plain data (a UserExperiment when its model is a user's file or factory); the first problem
    becomes a UserError naming the key and what is allowed. `allow_large` lifts the model, data and epoch limits
    (initlab/config/limits.py)."""
    schema = user_experiment.UserExperiment if user_experiment.is_user_experiment(raw) else Config
    try:
        config = schema.model_validate(raw, context={"allow_large": allow_large})
        config._allow_large = allow_large
        return config
    except ValidationError as exc:
        set_keys = [parse_override(o)[0] for o in overrides]
        raise _user_error(exc, raw, source, set_keys, schema) from None


def load_config(path: str | Path, overrides: list[str] = (), allow_large: bool = False) -> Config:
    """Read, override and validate a config file (`allow_large`: see validate)."""
    path = Path(path)
    raw = read_yaml(path)
    named = "name" in raw
    raw.setdefault("name", path.stem)
    try:
        config = validate(apply_overrides(raw, list(overrides)), str(path), list(overrides), allow_large)
    except UserError as error:
        if error.key == "name" and not named:
            detail = f"{error.detail} (taken from the file name; give the config a `name:`)"
            error = UserError(detail, error.source, error.key)
        raise error from None
    config._source = path.resolve()
    return config


def source_dir(config: Config) -> Path:
    """The folder relative paths in the config are resolved against (the config file's folder, else the cwd)."""
    return config._source.parent if config._source else Path.cwd()


def dump(config: Config) -> str:
    return yaml.safe_dump(config.resolved(), sort_keys=False, default_flow_style=None)


# ---- error messages ------------------------------------------------------------------------------------------------
def _user_error(exc: ValidationError, raw: dict, source: str, set_keys: list[str], schema=None) -> UserError:
    error = exc.errors()[0]
    loc = [str(p) for p in error["loc"]]
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, KeyedValueError):  # a parameter inside the value: model.kernel_initializer.stddev
        loc += cause.key.split(".")
    # Pydantic puts the discriminator's tag in the location of a data error: drop it.
    if schema is not user_experiment.UserExperiment and len(loc) > 1 and loc[0] == "data" and loc[1] in DATASETS:
        loc.pop(1)
    given = error.get("input")
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1], raw, schema or Config)
        message = f"unknown key '{loc[-1]}'{did_you_mean(loc[-1], allowed)}; allowed: {', '.join(allowed)}"
    elif kind == "missing":
        message = "required key is missing"
    elif kind in ("union_tag_invalid", "union_tag_not_found") and loc == ["data"] and schema is not user_experiment.UserExperiment:
        loc = ["data", "dataset"]
        tag = given.get("dataset") if isinstance(given, dict) else None
        message = (
            f"unknown data set {shown(tag)}{did_you_mean(tag, DATASETS)}; allowed: {', '.join(DATASETS)}"
            if tag is not None
            else f"required key is missing; allowed: {', '.join(DATASETS)}"
        )
    elif kind == "string_pattern_mismatch" and loc == ["name"]:
        message = f"{given!r} is {NOT_PLAIN}"
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        message = f"expected a mapping of keys ({', '.join(_allowed_keys(loc, raw, schema or Config))}), got {shown(given)}"
    elif kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", error["ctx"]["expected"])
        message = f"unknown value {shown(given)}{did_you_mean(given, allowed)}; allowed: {', '.join(allowed)}"
    else:
        text = error["msg"].removeprefix("Value error, ")
        message = text if kind == "value_error" else f"{text[0].lower()}{text[1:]}, got {shown(given)}"
    key = ".".join(loc) or None
    origin = next((k for k in set_keys if key and (key == k or key.startswith(k + ".") or k.startswith(key + "."))), None)
    return UserError(message, f"{source} (--set {origin})" if origin else source, key)


def _allowed_keys(loc: list[str], raw: dict, root=None) -> list[str]:
    model: Any = root or Config
    node: Any = raw
    for part in loc:
        node = node[int(part)] if isinstance(node, list) else node.get(part, {}) if isinstance(node, dict) else {}
        if part.isdigit():
            continue
        annotation = model.model_fields[part].annotation
        if part == "data" and model is Config:
            model = {m.model_fields["dataset"].annotation.__args__[0]: m for m in DataConfig.__origin__.__args__}.get(
                node.get("dataset") if isinstance(node, dict) else None
            )
            if model is None:
                return ["dataset", *DataBase.model_fields]
        elif part == "layers":
            model = LayerConfig
        elif part == "residual":
            model = ResidualConfig  # the annotation is `ResidualConfig | None`
        else:
            model = annotation
    return list(model.model_fields)
