"""A config for a user's own Keras model and data: `model: {file | factory}`, `data: {npz | csv | images}`, an `init`
section by layer role and Keras-style training. Plain data, no TensorFlow: it validates without it."""

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from initlab.config import initializers
from initlab.config.fields import Float, Fraction, InitSpec, Int, Strict, initializer_spec, keras_name

ROLES = ["kernel", "depthwise", "recurrent", "embedding", "attention", "bias", "norm_scale", "norm_shift"]
FACTORY_FORM = "'package.module:function' (a module importable from the config's folder or this environment)"


def is_user_experiment(raw) -> bool:
    """A config whose model is a user's (a file or a factory) rather than the MLP initlab builds."""
    model = raw.get("model") if isinstance(raw, dict) else None
    return isinstance(model, dict) and ("file" in model or "factory" in model)


def _one_of(section, keys: list[str]):
    given = [k for k in keys if getattr(section, k) is not None]
    if len(given) != 1:
        raise ValueError(f"give exactly one of {', '.join(keys)} (got {', '.join(given) or 'none'})")
    return section


class UserModel(Strict):
    file: str | None = None  # a saved .keras architecture (relative to the config's folder), read in safe mode; its weights are redrawn
    factory: str | None = None  # 'package.module:function' returning a Keras model: your code runs, by your choice
    args: dict[str, Any] = {}  # keyword arguments for the factory

    @field_validator("factory")
    @classmethod
    def _factory_form(cls, value):
        if value is not None:
            module, sep, function = value.partition(":")
            if not sep or not module or not function.isidentifier() or \
                    not all(part.isidentifier() for part in module.split(".")):
                raise ValueError(f"expected {FACTORY_FORM}, got {value!r}")
        return value

    @model_validator(mode="after")
    def _exactly_one(self):
        if self.args and self.factory is None:
            raise ValueError("args are the factory's keyword arguments; a model file takes none")
        return _one_of(self, ["file", "factory"])


BUILTIN = ["digits", "adding"]  # data shipped with initlab for the lessons on users' models


class UserData(Strict):
    npz: str | None = None  # x_train, y_train and optionally x_val, y_val (relative to the config's folder)
    csv: str | None = None  # a CSV file: `features` columns in, `target` column out
    features: list[str] | None = None  # the CSV's input columns
    target: str | None = None  # the CSV's target column
    images: str | None = None  # a folder with one subfolder of images per class (Keras's image_dataset_from_directory)
    image_size: Annotated[list[Annotated[Int, Field(ge=1, le=4096)]], Field(min_length=2, max_length=2)] = [64, 64]
    # digits: scikit-learn's 8x8 digits as images (1797, 8x8x1, pixels / 16); adding: the adding problem (Hochreiter
    # and Schmidhuber 1997): `length` steps of (value, marker), the target the sum of the two marked values
    builtin: Literal["digits", "adding"] | None = None
    length: Int = Field(50, ge=2, le=10_000)  # adding: steps per sequence
    n_samples: Int = Field(2000, ge=10, le=1_000_000)  # adding: sequences
    validation_split: Fraction = 0.2  # without x_val/y_val: the last fraction of the rows (images: Keras's split)
    standardize: bool = False  # scale inputs to mean 0, std 1 per feature with the training part's statistics

    @model_validator(mode="after")
    def _one_source(self):
        _one_of(self, ["npz", "csv", "images", "builtin"])
        if self.csv is not None and (self.features is None or self.target is None):
            raise ValueError("a csv needs features (its input columns) and target (its target column)")
        if self.csv is None and (self.features is not None or self.target is not None):
            raise ValueError("features and target name a csv's columns; give csv too")
        return self


VECTOR_ROLES = ("bias", "norm_scale", "norm_shift")  # one axis: an initializer that draws only 2-D kernels cannot


def _role_initializer(value, info: ValidationInfo):
    if value is None:
        return value
    vector = info.field_name in VECTOR_ROLES
    spec = initializer_spec(value, info.field_name if vector else "kernel")
    if vector and spec.canonical in initializers.BIAS_WITH_ITS_KERNEL:
        raise ValueError(f"'{spec.name}' draws a vector only as a bias drawn together with its layer's kernel, in the "
                         f"network initlab builds (model.bias_initializer); for your model's {info.field_name} pick "
                         "another (see `initlab initializers`); as the kernel role it works")
    return spec


class InitRoles(Strict):
    kernel: InitSpec | None = None  # Dense, convolution and EinsumDense kernels (not depthwise, recurrent or attention)
    depthwise: InitSpec | None = None  # depthwise kernels (DepthwiseConv, SeparableConv's first step)
    recurrent: InitSpec | None = None  # recurrent kernels of SimpleRNN, LSTM and GRU
    embedding: InitSpec | None = None  # Embedding tables
    attention: InitSpec | None = None  # MultiHeadAttention's query, key, value and output kernels
    bias: InitSpec | None = None  # every bias
    norm_scale: InitSpec | None = None  # normalization scales (gamma)
    norm_shift: InitSpec | None = None  # normalization shifts (beta)
    honest_fans: bool = False  # redraw fan-based kernels with the fans that set their signal (diagnose's fix)
    # LSTM gate biases by Tallec and Ollivier 2018: forget b_f = log(U[1, chrono - 1]), input b_i = -b_f, for
    # dependencies up to `chrono` steps long (null: the biases as the `bias` role or the model draws them)
    chrono: Int | None = Field(None, ge=3, le=1_000_000)
    # lsuv (Mishkin and Matas 2016): after the draws, each layer with a kernel in graph order rescaled on the first
    # 256 training rows until its output (before its activation) has variance 1 within 0.1
    data_init: Literal["lsuv"] | None = None

    _inits = field_validator(*ROLES, mode="before")(_role_initializer)

    def named(self) -> dict:
        """{role: Initializer} for the roles this section sets."""
        return {role: getattr(self, role) for role in ROLES if getattr(self, role) is not None}


class UserTrain(Strict):
    optimizer: str = "adam"  # a Keras optimizer name
    learning_rate: Float = Field(0.001, gt=0, le=initializers.LARGEST)
    loss: str | None = None  # default follows the data: sparse categorical or binary cross-entropy, or mse
    epochs: Int = Field(5, ge=1, le=100_000)
    batch_size: Int = Field(32, ge=1)
    shuffle: bool = True  # reshuffle the training rows every epoch (seeded by the run seed)
    patience: Int | None = Field(None, ge=1)  # stop when the training loss has not improved for this many epochs

    _optimizer = field_validator("optimizer")(lambda v: keras_name("optimizer", v))
    _loss = field_validator("loss")(lambda v: keras_name("loss", v))


class UserExperiment(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", max_length=100)  # a plain folder name under outputs/
    seed: Int = Field(0, ge=0, le=2**31 - 1)  # seeds every draw, the data order and dropout
    model: UserModel
    data: UserData
    init: InitRoles = InitRoles()  # roles not named keep the initializers the model was built with
    train: UserTrain = UserTrain()
    _source: Any = PrivateAttr(None)  # the file it was read from: relative paths start there
    _allow_large: bool = PrivateAttr(False)

    @field_validator("name")
    @classmethod
    def _plain_name(cls, v: str) -> str:
        if ".." in v:
            raise ValueError(f"{v!r} is not a plain folder name")
        return v

    def resolved(self) -> dict:
        """The config as plain data, defaults filled in: what config.yaml holds."""
        return self.model_dump(mode="json")

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.resolved(), sort_keys=True).encode()).hexdigest()[:10]
