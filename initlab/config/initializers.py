"""The one registry of initializers: names, aliases, parameters with their ranges, and formulas, as plain data.

A spec is checked here without TensorFlow; only `build` imports Keras, to make the initializer.
"""

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from initlab.base.errors import KeyedValueError, did_you_mean, shown

LARGEST = 1e9  # the largest magnitude a scale parameter may take: draws stay finite in float32 (max 3.4e38)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Range:
    """A number in [low, high] (low itself refused when low_open); integers only when `integer`; None too when
    `none`. As data, so that the tests probe every range at both of its ends."""
    low: float
    high: float
    low_open: bool = False
    integer: bool = False
    none: bool = False

    def __call__(self, value) -> bool:
        if value is None:
            return self.none
        if not _is_number(value) or (self.integer and not isinstance(value, int)):
            return False
        if isinstance(value, float) and not math.isfinite(value):  # ints compare exactly, however long
            return False
        return (value > self.low if self.low_open else value >= self.low) and value <= self.high


@dataclass(frozen=True)
class Choice:
    """One of `options`."""
    options: tuple

    def __call__(self, value) -> bool:
        return value in self.options


@dataclass(frozen=True)
class Param:
    default: object
    allowed: str  # what is allowed, in words, for the error message
    ok: Range | Choice


FINITE = "a finite number of magnitude at most 1e9"
POSITIVE = "a finite number > 0 and at most 1e9"
FINITE_RANGE, POSITIVE_RANGE = Range(-LARGEST, LARGEST), Range(0, LARGEST, low_open=True)
# A seed given in a spec is replaced: initlab seeds every layer itself (from the run seed and the layer index).
SEED = Param(None, "an integer >= 0 or null (replaced by the per-layer seed)",
             Range(0, math.inf, integer=True, none=True))
# input_axes / output_axes pick the fan axes of kernels of rank > 2; initlab's Dense kernels are 2-D.
AXES = Param(None, "null (fan axes are for kernels of rank > 2; Dense kernels are 2-D)", Choice((None,)))
FANS = {"seed": SEED, "input_axes": AXES, "output_axes": AXES}
MODES = ("fan_in", "fan_out", "fan_avg")
DISTRIBUTIONS = ("truncated_normal", "normal", "untruncated_normal", "uniform")
TRUNCATED = 1 - 4 * math.exp(-2) / math.sqrt(2 * math.pi) / math.erf(2 / math.sqrt(2))  # Var of N(0,1) cut at +-2


def _uniform_order(params: dict) -> tuple[str, str] | None:
    low, high = params.get("minval", -0.05), params.get("maxval", 0.05)
    return None if low < high else ("maxval", f"maxval must be greater than minval ({low}), got {high}")


def _fan(mode: str, fan_in: int, fan_out: int) -> float:
    """Keras's divisor for a variance-scaling mode (at least 1)."""
    return max(1.0, {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode])


def _rai_variance(fan_in: int, sigma: float) -> float:
    """Var of one RAI kernel entry: Beta(2, 1) (mean 2/3, E[X^2] 1/2) with chance 1/(n_in + 1), else N(0, sigma^2/n_in)."""
    rows = max(fan_in, 1) + 1
    return (sigma**2 + 0.5) / rows - (2 / 3 / rows) ** 2


@dataclass(frozen=True)
class Entry:
    class_name: str  # the Keras class (keras.initializers.<class_name>)
    formula: str
    variance: Callable | None = None  # (fan_in, fan_out, params with defaults) -> Var(W), or None
    params: dict = field(default_factory=dict)
    aliases: tuple = ()  # besides the snake_case name and the class name
    kernel_only: bool = False  # draws 2-D matrices only: not a bias
    together: Callable | None = None  # params -> (key, problem) when parameters disagree, else None


def _scaled(name: str, scale: float, mode: str) -> Entry:
    """A fixed variance_scaling (Glorot, He, LeCun): Var = scale / n, n by mode."""
    return Entry(
        "".join(part.title() for part in name.split("_")), _SCALED_TEXT[name],
        lambda i, o, p: scale / _fan(mode, i, o), dict(FANS),
    )


_SCALED_TEXT = {
    "glorot_uniform": "U[-l, l], l = sqrt(6 / (n_in + n_out)); Var = 2 / (n_in + n_out)",
    "glorot_normal": "truncated normal, std = sqrt(2 / (n_in + n_out))",
    "he_uniform": "U[-l, l], l = sqrt(6 / n_in); Var = 2 / n_in",
    "he_normal": "truncated normal, std = sqrt(2 / n_in)",
    "lecun_uniform": "U[-l, l], l = sqrt(3 / n_in); Var = 1 / n_in",
    "lecun_normal": "truncated normal, std = sqrt(1 / n_in)",
}

REGISTRY = {
    "zeros": Entry("Zeros", "W = 0", lambda i, o, p: 0.0, aliases=("zero",)),
    "ones": Entry("Ones", "W = 1", lambda i, o, p: 0.0, aliases=("one",)),
    "constant": Entry("Constant", "W = value (default 0)", lambda i, o, p: 0.0,
                      {"value": Param(0.0, FINITE, FINITE_RANGE)}),
    "random_normal": Entry(
        "RandomNormal", "N(mean, stddev^2), stddev default 0.05", lambda i, o, p: p["stddev"] ** 2,
        {"mean": Param(0.0, FINITE, FINITE_RANGE), "stddev": Param(0.05, POSITIVE, POSITIVE_RANGE), "seed": SEED},
        aliases=("normal",),
    ),
    "random_uniform": Entry(
        "RandomUniform", "U[minval, maxval], default U[-0.05, 0.05]; Var = (maxval - minval)^2 / 12",
        lambda i, o, p: (p["maxval"] - p["minval"]) ** 2 / 12,
        {"minval": Param(-0.05, FINITE, FINITE_RANGE), "maxval": Param(0.05, FINITE, FINITE_RANGE), "seed": SEED},
        aliases=("uniform",), together=_uniform_order,
    ),
    "truncated_normal": Entry(
        "TruncatedNormal", f"N(mean, stddev^2) redrawn beyond 2 stddev; stddev default 0.05; Var = {TRUNCATED:.4f} stddev^2",
        lambda i, o, p: TRUNCATED * p["stddev"] ** 2,
        {"mean": Param(0.0, FINITE, FINITE_RANGE), "stddev": Param(0.05, POSITIVE, POSITIVE_RANGE), "seed": SEED},
    ),
    "glorot_uniform": _scaled("glorot_uniform", 1.0, "fan_avg"),
    "glorot_normal": _scaled("glorot_normal", 1.0, "fan_avg"),
    "he_uniform": _scaled("he_uniform", 2.0, "fan_in"),
    "he_normal": _scaled("he_normal", 2.0, "fan_in"),
    "lecun_uniform": _scaled("lecun_uniform", 1.0, "fan_in"),
    "lecun_normal": _scaled("lecun_normal", 1.0, "fan_in"),
    "variance_scaling": Entry(
        "VarianceScaling",
        "Var = scale / n (n = n_in, n_out or their mean, by mode); truncated normal, normal or uniform",
        lambda i, o, p: p["scale"] / _fan(p["mode"], i, o),
        {"scale": Param(1.0, POSITIVE, POSITIVE_RANGE),
         "mode": Param("fan_in", f"one of {', '.join(MODES)}", Choice(MODES)),
         # Keras lower-cases the distribution; the registry takes the names as Keras documents them
         "distribution": Param("truncated_normal", f"one of {', '.join(DISTRIBUTIONS)}", Choice(DISTRIBUTIONS)),
         **FANS},
    ),
    "orthogonal": Entry("Orthogonal", "a random orthogonal matrix times gain; Var = gain^2 / max(n_in, n_out)",
                        lambda i, o, p: p["gain"] ** 2 / max(i, o),
                        {"gain": Param(1.0, POSITIVE, POSITIVE_RANGE), "seed": SEED},
                        aliases=("OrthogonalInitializer",), kernel_only=True),
    "identity": Entry("Identity", "gain times the identity matrix", None, {"gain": Param(1.0, POSITIVE, POSITIVE_RANGE)},
                      aliases=("IdentityInitializer",), kernel_only=True),
    "randomized_asymmetric": Entry(
        "RandomizedAsymmetric", "RAI (Lu et al. 2019): [W; b] ~ N(0, sigma^2 / n_in), in each unit one entry (of its "
        "n_in weights and its bias, chosen at random) ~ Beta(2, 1); sigma default 0.6007; as a bias it pairs with "
        "the kernel's draw", lambda i, o, p: _rai_variance(i, p["sigma"]),
        {"sigma": Param(0.6007, POSITIVE, POSITIVE_RANGE), "seed": SEED}, aliases=("rai",)),
}
# Names Keras knows that a Dense layer's weights cannot use, with the reason.
EXCLUDED = {
    "stft": "STFT window kernels, for STFT layers only",
    "STFT": "STFT window kernels, for STFT layers only",
    "STFTInitializer": "STFT window kernels, for STFT layers only",
    "initializer": "the abstract base class",
    "Initializer": "the abstract base class",
}
ALIASES = {alias: canonical for canonical, entry in REGISTRY.items()
           for alias in (canonical, entry.class_name, *entry.aliases)}


def initializer_names() -> list[str]:
    """Every name or alias initlab accepts for an initializer."""
    return sorted(ALIASES)


def split_spec(spec) -> tuple[str, dict]:
    """A spec (a name, {name, **params} or Keras's {class_name, config}) as (name, params)."""
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, dict) and "class_name" in spec:
        extra = set(spec) - {"class_name", "config", "module", "registered_name"}
        if extra:
            raise ValueError(f"unexpected keys {sorted(extra)} beside class_name (allowed: class_name, config)")
        config = spec.get("config") or {}
        if not isinstance(config, dict):
            raise ValueError(f"expected a mapping of parameters under config, got {config!r}")
        return str(spec["class_name"]), dict(config)
    if isinstance(spec, dict) and "name" in spec:
        params = {k: v for k, v in spec.items() if k != "name"}
        return str(spec["name"]), params
    raise ValueError(
        f"expected an initializer name, {{name: ..., <params>}} or {{class_name: ..., config: {{...}}}}, got {spec!r}"
    )


def canonical_name(name: str) -> str:
    """The registry's snake_case name for a name or alias ('HeNormal' -> 'he_normal')."""
    if name in EXCLUDED:
        raise ValueError(f"'{name}' is not for Dense layers ({EXCLUDED[name]}); see `initlab initializers`")
    if name not in ALIASES:
        raise ValueError(f"unknown initializer '{name}'{did_you_mean(name, ALIASES)}; see `initlab initializers`")
    return ALIASES[name]


def parse_spec(spec, role: str = "kernel") -> tuple[str, dict]:
    """(canonical name, every parameter with its default) for a valid spec; a ValueError says what is wrong."""
    initializer = parse(spec, role)
    return initializer.canonical, initializer.params


@dataclass(frozen=True)
class Initializer:
    """An initializer spec parsed once, where the config is validated: what a layer draws with."""
    raw: Any  # as the config wrote it: a name, {name, **params} or {class_name, config}; config.yaml keeps it
    name: str  # as written ('HeNormal', 'he_normal')
    canonical: str  # the registry's name
    params: dict  # every parameter, its default where the spec set none
    given: dict  # the parameters the spec set: Keras's own defaults stand for the rest

    @property
    def label(self) -> str:
        """A short readable label: 'he_normal', 'random_normal(stddev=0.01)'."""
        inner = ",".join(f"{k}={v}" for k, v in sorted(self.given.items()) if k != "seed")
        return f"{self.name}({inner})" if inner else self.name


def parse(spec, role: str = "kernel") -> Initializer:
    """A spec checked against the registry (names, parameters, ranges) as a typed value; an Initializer as it is."""
    if isinstance(spec, Initializer):
        return spec
    name, given = split_spec(spec)
    canonical = canonical_name(name)
    entry = REGISTRY[canonical]
    if role != "kernel" and entry.kernel_only:
        raise ValueError(f"'{name}' cannot draw a {role}: it draws 2-D kernels only")
    allowed = list(entry.params)
    for key, value in given.items():
        if key not in entry.params:
            raise KeyedValueError(
                f"'{name}' takes no parameter '{key}'{did_you_mean(key, allowed)}; "
                f"allowed: {', '.join(p for p in allowed if p != 'seed') or 'none'}", key,
            )
        if not entry.params[key].ok(value):
            raise KeyedValueError(f"{canonical} {key} must be {entry.params[key].allowed}, got {shown(value)}", key)
    params = {key: given.get(key, param.default) for key, param in entry.params.items()}
    problem = entry.together(params) if entry.together else None
    if problem:
        raise KeyedValueError(f"{canonical} {problem[1]}", problem[0])
    return Initializer(spec, name, canonical, params, given)


def layer_seed(run_seed: int, layer_index: int, role: int = 0) -> int:
    """A seed for one layer's initializer: distinct layers (and kernel vs bias) never share values."""
    return int(np.random.SeedSequence([run_seed, layer_index, role]).generate_state(1)[0] & 0x7FFFFFFF)


BIAS_WITH_ITS_KERNEL = {"randomized_asymmetric"}  # a bias drawn as one piece of [W; b]: only beside its kernel


def bias_seed(bias_spec, run_seed: int, layer_index: int) -> int:
    """The seed of a layer's bias: its own, or the kernel's for randomized_asymmetric (one draw of [W; b] gives both)."""
    paired = parse(bias_spec, "bias").canonical in BIAS_WITH_ITS_KERNEL
    return layer_seed(run_seed, layer_index, 0 if paired else 1)


def expected_variance(spec, fan_in: int, fan_out: int) -> float | None:
    """The closed-form variance of the weights `spec` draws for a kernel with these fans, or None."""
    canonical, params = parse_spec(spec)
    variance = REGISTRY[canonical].variance
    return None if variance is None else variance(fan_in, fan_out, params)


def std_of(name: str, fan_in: int, fan_out: int) -> float:
    """The std of the weights a fixed-variance initializer (glorot_uniform, he_normal, ...) draws for these fans."""
    return math.sqrt(REGISTRY[canonical_name(name)].variance(fan_in, fan_out, {}))


def table() -> list[tuple[str, str, str]]:
    """(canonical name, aliases, formula and parameter ranges) for `initlab initializers`."""
    rows = []
    for canonical, entry in REGISTRY.items():
        aliases = sorted(a for a, c in ALIASES.items() if c == canonical and a != canonical)
        ranges = "; ".join(f"{k}: {p.allowed} (default {p.default})" for k, p in entry.params.items() if p not in FANS.values())
        rows.append((canonical, ", ".join(aliases), entry.formula + (f". {ranges}" if ranges else "")))
    return rows
