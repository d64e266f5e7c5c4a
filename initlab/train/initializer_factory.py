"""Keras initializer objects from the registry's specs (initlab.config.initializers): checked there, made here."""

from initlab.base.backend import keras
from initlab.config.initializers import REGISTRY, parse_spec, split_spec


def make(spec, seed: int | None = None):
    """A fresh Keras initializer for `spec`; seeded when it draws at random (the same seed gives the same values)."""
    canonical, params = parse_spec(spec)
    given = split_spec(spec)[1]
    params = {k: v for k, v in params.items() if k in given}  # Keras's own defaults for the rest
    if "seed" in REGISTRY[canonical].params and seed is not None:
        params["seed"] = seed
    cls = getattr(keras().initializers, REGISTRY[canonical].class_name)
    try:
        return cls(**params)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"bad parameters for '{canonical}': {exc}") from None
