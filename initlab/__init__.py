"""initlab: a lab for weight-initialization experiments in Keras 3.

In a notebook:
    import initlab
    config = initlab.load_config("configs/relu_constant.yaml", ["train.epochs=200"])
    folder = initlab.run(config)
    initlab.metrics(folder)      # metrics.csv as a DataFrame
    table, folder = initlab.compare(model, (x, y), init={"kernel": ["glorot_uniform", "he_normal"]}, seeds=3)
"""

__version__ = "0.1.0"


def load_config(path, overrides=(), allow_large=False):
    """Read, override ('key.path=value', parsed as YAML) and validate a config file;
    allow_large lifts the resource limits (initlab/config/limits.py)."""
    from initlab.config import experiment

    return experiment.load_config(path, list(overrides), allow_large)


def config_from_dict(raw: dict):
    """A validated config from plain data (the same keys as the YAML file)."""
    from initlab.config.experiment import validate

    return validate(raw)


def run(config, out="outputs"):
    """Train a config (a Config, or a path to a YAML file) and write its run folder; return the folder."""
    from initlab.lab.runs import run as _run

    if not hasattr(config, "model_dump"):
        config = load_config(config)
    return _run(config, out)


def compare(model, data, init: dict, seeds=3, train: dict | None = None, name: str = "compare", out="outputs"):
    """Initializers compared on your own model and data: a sweep over `init` roles (role -> list of values, e.g.
    {"kernel": ["glorot_uniform", "he_normal"], "honest_fans": [False, True]}) and seeds, trained with model.fit.
    Returns (summary.csv as a DataFrame: means, 95% intervals over seeds; the sweep's folder, with report.md).
    `model`: a Keras model (its architecture; every run redraws the weights), a .keras path or 'pkg.mod:function';
    `data`: (x_train, y_train[, x_val, y_val]), a dict with those keys, or a .npz path; `train`: the config's
    train keys (epochs, optimizer, learning_rate, batch_size, loss, patience)."""
    from initlab.lab.compare import compare as _compare

    return _compare(model, data, init, seeds, train, name, out)


def metrics(folder):
    """A run folder's metrics.csv as a pandas DataFrame."""
    from initlab.output.run_folder import read_metrics

    return read_metrics(folder)


def layers(folder):
    """A run folder's layers.csv as a pandas DataFrame."""
    from initlab.output.run_folder import read_layers

    return read_layers(folder)


def diagnose(model, inputs=None):
    """The initialization checklist on a Keras model's current weights as the first training step sees them, one
    row per layer with weights (a DataFrame); `inputs`: a batch of your data (default: standard-normal values).
    The model's variables are left bit for bit as they were."""
    from initlab.diagnosis.checklist import diagnose as _diagnose

    return _diagnose(model, inputs=inputs)


def summary(folder) -> dict:
    """A run folder's summary.json."""
    from initlab.output.run_folder import read_summary

    return read_summary(folder)
