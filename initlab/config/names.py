"""The activation, optimizer and loss names Keras accepts, as plain data: configs are checked without TensorFlow.

tests/test_names.py checks every entry against Keras itself (its `get` functions, and each name on the shapes
initlab trains), so this file cannot drift from the installed Keras unnoticed.
"""

# keras.activations.get(name): exact names only
ACTIVATIONS = (
    "celu", "elu", "exponential", "gelu", "glu", "hard_shrink", "hard_sigmoid", "hard_silu", "hard_swish", "hard_tanh",
    "leaky_relu", "linear", "log_sigmoid", "log_softmax", "mish", "relu", "relu6", "selu", "sigmoid", "silu",
    "soft_shrink", "softmax", "softplus", "softsign", "sparse_plus", "sparse_sigmoid", "sparsemax", "squareplus",
    "swish", "tanh", "tanh_shrink", "threshold",
)
# Named, these fail when a layer calls them: threshold has two required arguments a name cannot give; glu splits
# its input in two halves, so an odd width fails.
NEEDS_ARGUMENTS = {"threshold": "threshold() missing 2 required positional arguments: 'threshold' and 'default_value'"}
EVEN_WIDTH = {"glu": "axis size must be divisible by 2"}

# keras.optimizers.get(name): any letter case ('Adam', 'ADAM'); the concrete classes that take a learning rate alone
OPTIMIZERS = (
    "adadelta", "adafactor", "adagrad", "adam", "adamax", "adamw", "ftrl", "lion", "muon", "nadam", "rmsprop",
    "schedulefreeadamw", "sgd",
)

# initlab's targets: binary and regression are one column against one output unit, multiclass is integer labels
# against one output per class
ONE_COLUMN = ("binary", "regression")
TASKS = ("binary", "multiclass", "regression")
# keras.losses.get(name): exact names; each loss with the other names Keras knows it by and the tasks it runs on
LOSSES = {
    "binary_crossentropy": (("BinaryCrossentropy", "bce", "BCE"), ONE_COLUMN),
    "binary_focal_crossentropy": (("BinaryFocalCrossentropy",), ONE_COLUMN),
    "categorical_crossentropy": (("CategoricalCrossentropy",), ONE_COLUMN),
    "categorical_focal_crossentropy": (("CategoricalFocalCrossentropy",), ONE_COLUMN),
    "categorical_hinge": (("CategoricalHinge",), ONE_COLUMN),
    "circle": (("Circle",), TASKS),
    "cosine_similarity": (("CosineSimilarity",), ONE_COLUMN),
    "dice": (("Dice",), ONE_COLUMN),
    "hinge": (("Hinge",), ONE_COLUMN),
    "huber": (("Huber",), ONE_COLUMN),
    "kl_divergence": (("KLDivergence", "kld", "KLD"), ONE_COLUMN),
    "log_cosh": (("LogCosh",), ONE_COLUMN),
    "mean_absolute_error": (("MeanAbsoluteError", "mae", "MAE"), ONE_COLUMN),
    "mean_absolute_percentage_error": (("MeanAbsolutePercentageError", "mape", "MAPE"), ONE_COLUMN),
    "mean_squared_error": (("MeanSquaredError", "mse", "MSE"), ONE_COLUMN),
    "mean_squared_logarithmic_error": (("MeanSquaredLogarithmicError", "msle", "MSLE"), ONE_COLUMN),
    "poisson": (("Poisson",), ONE_COLUMN),
    "sparse_categorical_crossentropy": (("SparseCategoricalCrossentropy",), ("multiclass",)),
    "squared_hinge": (("SquaredHinge",), ONE_COLUMN),
    "tversky": (("Tversky",), ONE_COLUMN),
}
# Keras's get accepts these too, but no initlab model can train with them
REFUSED_LOSSES = {
    "Loss": "the abstract base class", "LossFunctionWrapper": "needs a function",
    "ctc": "needs sequences", "CTC": "needs sequences",
}
_LOSS_NAMES = {alias: name for name, (aliases, _) in LOSSES.items() for alias in (name, *aliases)}


def known(kind: str) -> list[str]:
    """The names listed as allowed in messages: activations, optimizers (lower case) and losses (function names)."""
    return sorted({"activation": ACTIVATIONS, "optimizer": OPTIMIZERS, "loss": LOSSES}[kind])


def accepts(kind: str, name: str) -> bool:
    """Whether Keras's activations / optimizers / losses `get` takes `name` and initlab can train with it."""
    if kind == "optimizer":
        return name.lower() in OPTIMIZERS
    return name in (ACTIVATIONS if kind == "activation" else _LOSS_NAMES)


def suggestions(kind: str) -> list[str]:
    """Every accepted spelling, for did-you-mean."""
    return sorted(_LOSS_NAMES) if kind == "loss" else known(kind)


def width_problem(activation: str, units: int) -> str | None:
    """Why a layer of `units` units cannot use `activation` (Keras's words), or None."""
    if activation in NEEDS_ARGUMENTS:
        return NEEDS_ARGUMENTS[activation]
    if activation in EVEN_WIDTH and units % 2:
        return f"{EVEN_WIDTH[activation]} (got {units})"
    return None


def loss_tasks(loss: str) -> tuple[str, ...]:
    """The tasks whose targets and outputs `loss` runs on."""
    return LOSSES[_LOSS_NAMES[loss]][1]
