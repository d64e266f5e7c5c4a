import os
import shutil
import sys

import pytest
from hypothesis import settings

from initlab.base import backend  # stdlib only: no TensorFlow yet

# before any test module imports TensorFlow: the tests' own processes compute as the runs they start do
backend.environment(own=True)
# CI never flakes: every hypothesis test draws the same examples on every run (a fixed seed from the test's name)
settings.register_profile("initlab", derandomize=True, deadline=None)
settings.load_profile("initlab")


def initlab_command() -> list[str]:
    """The console script as a user runs it: this environment's `initlab`, or `python -m initlab` without one."""
    found = shutil.which("initlab", path=os.path.dirname(sys.executable)) or shutil.which("initlab")
    return [found] if found else [sys.executable, "-m", "initlab"]


def raw_config(**sections) -> dict:
    """The tutorial's config as plain data, with `sections` (plain dicts) merged in per top-level key."""
    raw = {
        "name": "test",
        "seed": 0,
        "data": {"dataset": "ushape", "validation_split": 0.2},
        "model": {"hidden": [2], "activation": "relu", "kernel_initializer": "glorot_uniform"},
        "train": {"epochs": 5, "batch_size": 32},
    }
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    return raw


def make_config(**sections):
    """A validated config: raw_config(**sections)."""
    from initlab.config.experiment import validate

    return validate(raw_config(**sections))


@pytest.fixture
def config_factory():
    return make_config
