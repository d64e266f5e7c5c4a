"""Keras initializer objects from the registry's parsed specs (initlab.config.initializers): checked there, made here."""

from initlab.base.backend import keras
from initlab.config.initializers import REGISTRY, Initializer, parse
from initlab.train import randomized_asymmetric

OWN = {"RandomizedAsymmetric": randomized_asymmetric.initializer_class}  # initlab's own classes, beside Keras's


def make(spec: Initializer | str | dict, seed: int | None = None, fan_in: int | None = None):
    """A fresh Keras initializer for a parsed spec (a raw one is parsed first); seeded when it draws at random (the
    same seed gives the same values); `fan_in`: the layer's, for a bias drawn with its kernel (randomized_asymmetric)."""
    initializer = parse(spec)
    params = dict(initializer.given)  # Keras's own defaults for the rest
    entry = REGISTRY[initializer.canonical]
    if "seed" in entry.params and seed is not None:
        params["seed"] = seed
    if entry.class_name in OWN:
        cls = OWN[entry.class_name]()
        params["fan_in"] = fan_in
    else:
        cls = getattr(keras().initializers, entry.class_name)
    try:
        return cls(**params)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"bad parameters for '{initializer.canonical}': {exc}") from None
