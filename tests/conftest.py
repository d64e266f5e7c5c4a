import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def make_config(**sections):
    """A validated config: the tutorial's defaults with `sections` (plain dicts) merged in per top-level key."""
    from initlab.config import validate

    raw = {
        "name": "test",
        "seed": 0,
        "data": {"dataset": "ushape", "validation_split": 0.2},
        "model": {"hidden": [2], "activation": "relu", "kernel_initializer": "glorot_uniform"},
        "train": {"epochs": 5, "batch_size": 32},
    }
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    return validate(raw)


@pytest.fixture
def config_factory():
    return make_config
