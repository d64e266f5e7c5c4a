"""Resource limits, checked on the config before TensorFlow or NumPy allocates anything.

`--allow-large` raises the model, data and sweep limits; the YAML limits stay (they guard the reading itself).
"""

MAX_PARAMETERS = 10**7  # weights and biases of one model
MAX_BATCH_BYTES = 2**30  # activations of one batch: rows x (inputs + every layer's width) x 4 bytes
MAX_LAYERS = 1_000  # hidden layers
MAX_ROWS = 10**6  # rows a generator is asked for
MAX_CELLS = 10**8  # rows x features a generator is asked for
MAX_EPOCHS = 10**6  # epochs (each keeps a metrics row in memory)
MAX_SWEEP_RUNS = 100_000  # runs a sweep expands to (cases x grid combinations x seeds); above 1000 runs they go to the sweep's table
MAX_CSV_BYTES = 100 * 2**20  # a data file
MAX_YAML_BYTES = 2**20  # a config or sweep file; not raised by --allow-large
MAX_YAML_NODES = 10**6  # values in a YAML document once its aliases are expanded; not raised by --allow-large
MAX_YAML_DEPTH = 100  # nesting of a YAML document; not raised by --allow-large

OVERRIDE = "pass --allow-large to go beyond it"


def cores() -> int:
    """The cores this process may run on (its affinity, which a container or taskset narrows), else all of them."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def over(what: str, estimate: int, limit: int, unit: str = "") -> str | None:
    """'parameters in the model: 20,000,000, over the limit of 10,000,000 (...)' when estimate > limit, else None."""
    if estimate <= limit:
        return None
    return f"{what}: {estimate:,}{unit}, over the limit of {limit:,}{unit} ({OVERRIDE})"


FIXED_SHAPES = {  # data sets whose shape no key sets: (rows, features, output units)
    "ushape": (100, 2, 1),
    "digits": (1797, 64, 10),  # scikit-learn's bundled 8x8 digits: 64 pixels, 10 classes
}


def data_shape(data) -> tuple[int | None, int, int]:
    """(rows or None when only reading the file tells, features, output units) a data config asks for."""
    if data.dataset in FIXED_SHAPES:
        rows, features, outputs = FIXED_SHAPES[data.dataset]
        return getattr(data, "n_samples", None) or rows, features, outputs
    rows = getattr(data, "n_samples", None)
    features = len(data.features) if data.dataset == "csv" else getattr(data, "n_features", 2)
    centers = getattr(data, "centers", 2)
    return rows, features, centers if centers > 2 else 1  # a CSV's classes are known once read: counted as one


def exceeded_limits(config, outputs: int | None = None) -> list[tuple[str, str]]:
    """(key, message) for every limit `config` goes beyond (the caller decides whether --allow-large lifts them);
    `outputs`: the output units once the data are read (a CSV's classes)."""
    rows, features, guessed = data_shape(config.data)
    outputs = outputs or guessed
    residual = config.model.residual
    stream = config.model.hidden[-1:] * (residual.blocks * residual.branch_layers if residual else 0)
    widths = [features, *config.model.hidden, *stream, outputs]
    parameters = sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(widths, widths[1:]))
    batch_rows = min(config.train.batch_size, rows) if rows else config.train.batch_size
    units = sum(widths)
    found = [
        ("data.n_samples", over("rows asked of the generator", rows or 0, MAX_ROWS)),
        ("data.n_features", over(f"values asked of the generator ({rows or 0:,} rows x {features:,} features)",
                                 (rows or 0) * features, MAX_CELLS)),
        ("model.hidden", over("hidden layers", len(config.model.hidden), MAX_LAYERS)),
        ("model.residual.blocks", over("layers in the residual blocks (blocks x branch_layers)", len(stream), MAX_LAYERS)),
        ("model.hidden", over("parameters in the model", parameters, MAX_PARAMETERS)),
        ("train.batch_size", over(f"activations of one batch ({batch_rows:,} rows x {units:,} units x 4 bytes)",
                                  batch_rows * units * 4, MAX_BATCH_BYTES, " bytes")),
        ("train.epochs", over("epochs", config.train.epochs, MAX_EPOCHS)),
    ]
    return [(key, message) for key, message in found if message]
