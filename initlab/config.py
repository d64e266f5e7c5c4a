"""The experiment config: YAML (safe_load only) -> `--set` overrides -> a pydantic model that refuses unknown keys."""

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from . import initializers
from .errors import UserError, did_you_mean

InitSpec = Union[str, dict[str, Any]]
Fraction = Annotated[float, Field(ge=0.0, lt=1.0)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


def _keras_name(kind: str, value: str | None) -> str | None:
    """Check a Keras activation / optimizer / loss name; suggest the nearest one when it is unknown."""
    if value is None:
        return value
    from .backend import keras

    k = keras()
    module = {"activation": k.activations, "optimizer": k.optimizers, "loss": k.losses}[kind]
    try:
        module.get(value)
        return value
    except (ValueError, TypeError):
        raise ValueError(f"unknown {kind} '{value}'{did_you_mean(value, _known(module))}; allowed: {', '.join(_known(module))}") from None


def _known(module) -> list[str]:
    """The lower-case names a Keras module's `get` accepts (optimizers: its concrete classes, lower-cased)."""
    if module.__name__.endswith("optimizers"):
        skip = {"Optimizer", "LossScaleOptimizer", "MultiOptimizer", "OptimizerMap"}
        return sorted(n.lower() for n in dir(module) if isinstance(getattr(module, n), type) and n not in skip)
    return sorted(n for n in dir(module) if n[0].islower() and n not in ("get", "serialize", "deserialize"))


def _initializer(value):
    try:
        initializers.build(value, seed=0)
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    return value


# ---- data ------------------------------------------------------------------------------------------------
class DataBase(Strict):
    validation_split: Fraction = 0.2  # as Keras fit: the last fraction of the rows, before any shuffling
    standardize: bool = False  # scale features to mean 0, std 1 with the training part's statistics


class UShapeData(DataBase):
    dataset: Literal["ushape"]  # the tutorial's 100 points: make_moons(100, noise=0.3, random_state=0)


class MoonsData(DataBase):
    dataset: Literal["moons"]
    n_samples: int = Field(100, ge=2)
    noise: float = Field(0.3, ge=0)  # std of the Gaussian noise added to the points


class CirclesData(DataBase):
    dataset: Literal["circles"]
    n_samples: int = Field(100, ge=2)
    noise: float = Field(0.1, ge=0)
    factor: float = Field(0.5, gt=0, lt=1)  # inner circle radius / outer


class XorData(DataBase):
    dataset: Literal["xor"]
    n_samples: int = Field(200, ge=2)
    noise: float = Field(0.1, ge=0)  # std of the jitter on the points; labels follow the clean points


class SpiralData(DataBase):
    dataset: Literal["spiral"]
    n_samples: int = Field(200, ge=2)
    noise: float = Field(0.2, ge=0)
    turns: float = Field(1.5, gt=0)  # how many times each arm winds


class BlobsData(DataBase):
    dataset: Literal["blobs"]
    n_samples: int = Field(100, ge=2)
    centers: int = Field(2, ge=2)  # classes; more than 2 makes it a multiclass task
    n_features: int = Field(2, ge=1)
    cluster_std: float = Field(1.0, gt=0)


class GaussianData(DataBase):
    dataset: Literal["gaussian"]
    n_samples: int = Field(256, ge=2)
    n_features: int = Field(500, ge=1)  # wide standard-normal inputs, for deep signal-propagation experiments
    noise: float = Field(0.0, ge=0, le=0.5)  # fraction of labels flipped; labels = sign of a fixed random projection


class SalaryData(DataBase):
    dataset: Literal["salary"]  # regression: CGPA and IQ to salary (formula in initlab/data.py)
    n_samples: int = Field(100, ge=2)
    noise: float = Field(1.0, ge=0)  # std of the salary noise, in lakhs


class CsvData(DataBase):
    dataset: Literal["csv"]
    path: str  # relative to the config file
    features: list[str] = Field(min_length=1)
    target: str


DataConfig = Annotated[
    Union[UShapeData, MoonsData, CirclesData, XorData, SpiralData, BlobsData, GaussianData, SalaryData, CsvData],
    Field(discriminator="dataset"),
]
DATASETS = ["ushape", "moons", "circles", "xor", "spiral", "blobs", "gaussian", "salary", "csv"]


# ---- model -------------------------------------------------------------------------------------------------
class LayerConfig(Strict):
    units: int = Field(ge=1)
    activation: str | None = None  # default: model.activation
    kernel_initializer: InitSpec | None = None  # default: model.kernel_initializer
    bias_initializer: InitSpec | None = None  # default: model.bias_initializer

    _activation = field_validator("activation")(lambda v: _keras_name("activation", v))
    _inits = field_validator("kernel_initializer", "bias_initializer")(lambda v: v if v is None else _initializer(v))


class ModelConfig(Strict):
    hidden: list[Annotated[int, Field(ge=1)]] = [2]  # units per hidden layer; [] is logistic regression
    layers: list[LayerConfig] | None = None  # per-hidden-layer settings; when given, hidden follows from it
    activation: str = "relu"
    output_activation: str | None = None  # default follows the task: sigmoid, softmax or linear
    kernel_initializer: InitSpec = "glorot_uniform"  # a Keras name, {name: ..., params} or {class_name, config}
    bias_initializer: InitSpec = "zeros"
    set_weights: float | None = None  # after build, every weight array (kernels AND biases) set to this value

    _activations = field_validator("activation", "output_activation")(lambda v: _keras_name("activation", v))
    _inits = field_validator("kernel_initializer", "bias_initializer")(_initializer)

    @model_validator(mode="after")
    def _hidden_from_layers(self):
        if self.layers is not None:
            self.hidden = [layer.units for layer in self.layers]
        return self

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
    learning_rate: float = Field(0.001, gt=0)
    loss: str | None = None  # default follows the task: binary / sparse categorical cross-entropy, or mse
    epochs: int = Field(100, ge=1)
    batch_size: int = Field(32, ge=1)
    shuffle: bool = True  # reshuffle the training rows every epoch (seeded by the run seed)
    engine: Literal["fast", "keras"] = "fast"  # fast: one compiled loop; keras: model.fit, the reference

    _optimizer = field_validator("optimizer")(lambda v: _keras_name("optimizer", v))
    _loss = field_validator("loss")(lambda v: _keras_name("loss", v))


class RecordConfig(Strict):
    every: int = Field(1, ge=1)  # per-layer records every N epochs (epoch 0 and the last are always kept)
    tensorboard: bool = False  # also write TensorBoard histograms


class Config(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", max_length=100)  # a plain folder name under outputs/
    seed: int = Field(0, ge=0, le=2**31 - 1)  # seeds initializers (per layer), shuffling and generator noise
    data: DataConfig = Field(default_factory=lambda: UShapeData(dataset="ushape"))
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    record: RecordConfig = RecordConfig()
    _source: Path | None = PrivateAttr(None)  # the file it was read from: relative data paths start there

    @field_validator("name")
    @classmethod
    def _plain_name(cls, v: str) -> str:
        if v in (".", "..") or ".." in v:
            raise ValueError(f"'{v}' is not a plain folder name (no path separators, no '..')")
        return v

    def resolved(self) -> dict:
        """The config as plain data, defaults filled in: what config.yaml holds."""
        plain = self.model_dump(mode="json")
        plain["data"] = {"dataset": plain["data"].pop("dataset"), **plain["data"]}
        return plain

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.resolved(), sort_keys=True).encode()).hexdigest()[:10]


# ---- loading ---------------------------------------------------------------------------------------------------
def read_yaml(path: Path) -> dict:
    """A YAML mapping from `path`, read with yaml.safe_load; any problem is a UserError naming the file."""
    source = str(path)
    if not path.is_file():
        raise UserError("no such file" if not path.exists() else "not a file", source)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.constructor.ConstructorError as exc:
        raise UserError(f"YAML tags that build Python objects are not allowed ({_where(exc)}{exc.problem})", source) from None
    except yaml.YAMLError as exc:
        raise UserError(f"invalid YAML ({_where(exc)}{getattr(exc, 'problem', None) or exc})", source) from None
    except UnicodeDecodeError:
        raise UserError("not a text file", source) from None
    if raw is None:
        raise UserError("the file is empty", source)
    if not isinstance(raw, dict):
        raise UserError(f"expected a mapping of keys at the top level, got {type(raw).__name__}", source)
    return raw


def _where(exc) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""


def parse_override(text: str) -> tuple[str, Any]:
    """'train.epochs=200' -> ('train.epochs', 200); the value is parsed as YAML."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise UserError(f"expected KEY.PATH=VALUE, got '{text}'", "--set")
    try:
        return key, yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise UserError(f"the value '{value}' is not valid YAML ({getattr(exc, 'problem', exc)})", "--set", key) from None


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """A copy of `raw` with each 'a.b.c=value' set, creating missing mappings on the way."""
    import copy

    raw = copy.deepcopy(raw)
    for text in overrides:
        key, value = parse_override(text)
        node = raw
        parts = key.split(".")
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise UserError(f"'{'.'.join(parts[: depth + 1])}' is {child!r}, not a mapping", "--set", key)
            node = child
        node[parts[-1]] = value
    return raw


def validate(raw: dict, source: str = "config", overrides: list[str] = ()) -> Config:
    """A Config from plain data; the first problem becomes a UserError naming the key and what is allowed."""
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        set_keys = [parse_override(o)[0] for o in overrides]
        raise _user_error(exc, raw, source, set_keys) from None


def load(path: str | Path, overrides: list[str] = ()) -> Config:
    """Read, override and validate a config file."""
    path = Path(path)
    raw = read_yaml(path)
    raw.setdefault("name", path.stem)
    config = validate(apply_overrides(raw, list(overrides)), str(path), list(overrides))
    config._source = path.resolve()
    return config


def source_dir(config: Config) -> Path:
    """The folder relative paths in the config are resolved against (the config file's folder, else the cwd)."""
    return config._source.parent if config._source else Path.cwd()


def dump(config: Config) -> str:
    return yaml.safe_dump(config.resolved(), sort_keys=False, default_flow_style=None)


# ---- error messages ------------------------------------------------------------------------------------------------
def _user_error(exc: ValidationError, raw: dict, source: str, set_keys: list[str]) -> UserError:
    error = exc.errors()[0]
    loc = [str(p) for p in error["loc"]]
    # Pydantic puts the discriminator's tag in the location of a data error: drop it.
    if len(loc) > 1 and loc[0] == "data" and loc[1] in DATASETS:
        loc.pop(1)
    key = ".".join(loc) or None
    given = error.get("input")
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1], raw)
        message = f"unknown key '{loc[-1]}'{did_you_mean(loc[-1], allowed)}; allowed: {', '.join(allowed)}"
    elif kind == "missing":
        message = "required key is missing"
    elif kind in ("union_tag_invalid", "union_tag_not_found") and loc == ["data"]:
        tag = given.get("dataset") if isinstance(given, dict) else None
        message = (
            f"unknown data set '{tag}'{did_you_mean(tag, DATASETS)}; allowed: {', '.join(DATASETS)}"
            if tag is not None
            else f"data.dataset is missing; allowed: {', '.join(DATASETS)}"
        )
    else:
        text = error["msg"].removeprefix("Value error, ")
        message = text if kind == "value_error" else f"{text[0].lower()}{text[1:]}, got {given!r}"
    if kind == "string_pattern_mismatch" and loc == ["name"]:
        message = f"'{given}' is not a plain folder name (letters, digits, '_', '-', '.'; no path separators)"
    origin = next((k for k in set_keys if key and (key == k or key.startswith(k + ".") or k.startswith(key + "."))), None)
    return UserError(message, f"{source} (--set {origin})" if origin else source, key)


def _allowed_keys(loc: list[str], raw: dict) -> list[str]:
    model: Any = Config
    node: Any = raw
    for part in loc:
        node = node[int(part)] if isinstance(node, list) else node.get(part, {})
        if part.isdigit():
            continue
        annotation = model.model_fields[part].annotation
        if part == "data":
            model = {m.model_fields["dataset"].annotation.__args__[0]: m for m in DataConfig.__origin__.__args__}.get(
                node.get("dataset") if isinstance(node, dict) else None, DataBase
            )
        elif part == "layers":
            model = LayerConfig
        else:
            model = annotation
    return list(model.model_fields)
