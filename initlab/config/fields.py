"""The field types every config schema shares: numbers that refuse true/false, initializer specs, strict models,
Keras names."""

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from initlab.base.errors import did_you_mean, shown
from initlab.config import initializers, names


def _not_bool(value):
    """Refuse true/false where a number belongs (pydantic would read them as 1 and 0)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {shown(value)}")
    return value


Int = Annotated[int, BeforeValidator(_not_bool)]
Float = Annotated[float, BeforeValidator(_not_bool)]
# a parsed initializers.Initializer once validated; config.yaml (and the run's hash) keep the spec as written
InitSpec = Annotated[Any, PlainSerializer(lambda v: v.raw if isinstance(v, initializers.Initializer) else v)]
Fraction = Annotated[Float, Field(ge=0.0, lt=1.0)]
Scale = Annotated[Float, Field(ge=0, le=initializers.LARGEST)]  # a spread; bounded so the data stay finite in float32
Weight = Annotated[Float, Field(ge=-initializers.LARGEST, le=initializers.LARGEST)]  # finite in float32, as drawn


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)


def keras_name(kind: str, value: str | None) -> str | None:
    """Check a Keras activation / optimizer / loss name (names.py); suggest the nearest one when it is unknown."""
    if value is None or names.accepts(kind, value):
        return value
    nearest = did_you_mean(value, names.suggestions(kind))
    raise ValueError(f"unknown {kind} '{value}'{nearest}; allowed: {', '.join(names.known(kind))}")


INIT_FORMS = "an initializer name, {name: ..., <params>} or {class_name: ..., config: {...}}"


def initializer_spec(value, role: str) -> initializers.Initializer:
    """An initializer spec checked against the registry's names and parameter ranges (no TensorFlow), parsed once;
    `role`: 'kernel' for a weight of two or more axes, else what it draws (a kernel-only initializer is refused)."""
    if isinstance(value, initializers.Initializer):  # a model-wide spec filled into a layer: parsed already
        return value
    if not isinstance(value, (str, dict)):
        raise ValueError(f"expected {INIT_FORMS}, got {shown(value)}")
    return initializers.parse(value, role=role)
