"""One registry from a config's initializer spec to a fresh, seeded Keras initializer, with the closed-form formulas."""

import inspect

import numpy as np

from .errors import did_you_mean

# Keras's canonical names, the formula each draws from, and its variance as a function of the fans
# (None where the variance depends on parameters or is not a random draw). n_in = fan_in, n_out = fan_out.
FORMULAS = {
    "zeros": ("W = 0", lambda i, o, p: 0.0),
    "ones": ("W = 1", lambda i, o, p: 0.0),
    "constant": ("W = value (default 0)", lambda i, o, p: 0.0),
    "random_normal": ("N(mean, stddev^2), stddev default 0.05", lambda i, o, p: p.get("stddev", 0.05) ** 2),
    "random_uniform": (
        "U[minval, maxval], default U[-0.05, 0.05]; Var = (maxval - minval)^2 / 12",
        lambda i, o, p: (p.get("maxval", 0.05) - p.get("minval", -0.05)) ** 2 / 12,
    ),
    "truncated_normal": ("N(mean, stddev^2) redrawn beyond 2 stddev; stddev default 0.05", None),
    "glorot_uniform": ("U[-l, l], l = sqrt(6 / (n_in + n_out)); Var = 2 / (n_in + n_out)", lambda i, o, p: 2 / (i + o)),
    "glorot_normal": ("truncated normal, std = sqrt(2 / (n_in + n_out))", lambda i, o, p: 2 / (i + o)),
    "he_uniform": ("U[-l, l], l = sqrt(6 / n_in); Var = 2 / n_in", lambda i, o, p: 2 / i),
    "he_normal": ("truncated normal, std = sqrt(2 / n_in)", lambda i, o, p: 2 / i),
    "lecun_uniform": ("U[-l, l], l = sqrt(3 / n_in); Var = 1 / n_in", lambda i, o, p: 1 / i),
    "lecun_normal": ("truncated normal, std = sqrt(1 / n_in)", lambda i, o, p: 1 / i),
    "variance_scaling": ("Var = scale / n (n = n_in, n_out or their mean, by mode); normal, truncated or uniform", None),
    "orthogonal": ("a random orthogonal matrix times gain", None),
    "identity": ("gain times the identity matrix", None),
    "stft": ("STFT window kernels, for STFT layers only", None),
}


def _registry():
    from . import backend

    backend.keras()
    from keras.src.initializers import ALL_OBJECTS_DICT  # the names keras.initializers.get understands

    return {name: cls for name, cls in ALL_OBJECTS_DICT.items() if name.lower() not in ("initializer",)}


def names() -> list[str]:
    """Every name or alias Keras accepts for an initializer."""
    return sorted(_registry())


def split_spec(spec) -> tuple[str, dict]:
    """A spec (a name, {name, **params} or Keras's {class_name, config}) as (name, params)."""
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, dict) and "class_name" in spec:
        extra = set(spec) - {"class_name", "config", "module", "registered_name"}
        if extra:
            raise ValueError(f"unexpected keys {sorted(extra)} beside class_name (allowed: class_name, config)")
        return str(spec["class_name"]), dict(spec.get("config") or {})
    if isinstance(spec, dict) and "name" in spec:
        params = {k: v for k, v in spec.items() if k != "name"}
        return str(spec["name"]), params
    raise ValueError(
        f"expected an initializer name, {{name: ..., <params>}} or {{class_name: ..., config: {{...}}}}, got {spec!r}"
    )


def initializer_class(name: str):
    registry = _registry()
    cls = registry.get(name)
    if cls is None:
        raise ValueError(f"unknown initializer '{name}'{did_you_mean(name, registry)}; see `initlab initializers`")
    return cls


def canonical_name(name: str) -> str:
    """The snake_case name of an initializer's class ('HeNormal' -> 'he_normal')."""
    cls = initializer_class(name)
    for alias, other in _registry().items():
        if other is cls and alias in FORMULAS:
            return alias
    return name


def parameters(cls) -> list[str]:
    return [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "args", "kwargs")]


def build(spec, seed: int | None = None):
    """A fresh Keras initializer for `spec`; seeded when it draws at random (the same seed gives the same values)."""
    name, params = split_spec(spec)
    cls = initializer_class(name)
    allowed = parameters(cls)
    unknown = [k for k in params if k not in allowed]
    if unknown:
        raise ValueError(
            f"'{name}' takes no parameter '{unknown[0]}'{did_you_mean(unknown[0], allowed)}; "
            f"allowed: {', '.join(p for p in allowed if p != 'seed') or 'none'}"
        )
    if "seed" in allowed and seed is not None:
        params = {**params, "seed": seed}
    try:
        return cls(**params)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"bad parameters for '{name}': {exc}") from None


def layer_seed(run_seed: int, layer_index: int, role: int = 0) -> int:
    """A seed for one layer's initializer: distinct layers (and kernel vs bias) never share values."""
    return int(np.random.SeedSequence([run_seed, layer_index, role]).generate_state(1)[0] & 0x7FFFFFFF)


def expected_variance(spec, fan_in: int, fan_out: int) -> float | None:
    """The closed-form variance of the weights `spec` draws for a kernel with these fans, or None."""
    name, params = split_spec(spec)
    formula = FORMULAS.get(canonical_name(name))
    if formula is None or formula[1] is None:
        return None
    return formula[1](fan_in, fan_out, params)


def describe(spec) -> str:
    """A short readable label: 'he_normal', 'random_normal(stddev=0.01)'."""
    name, params = split_spec(spec)
    params = {k: v for k, v in params.items() if k != "seed"}
    inner = ",".join(f"{k}={v}" for k, v in sorted(params.items()))
    return f"{name}({inner})" if inner else name


def table() -> list[tuple[str, str, str]]:
    """(canonical name, aliases, formula) for `initlab initializers`."""
    registry = _registry()
    rows = []
    for canonical, (formula, _) in FORMULAS.items():
        if canonical not in registry:
            continue
        aliases = sorted(a for a, c in registry.items() if c is registry[canonical] and a != canonical)
        rows.append((canonical, ", ".join(aliases), formula))
    return rows
