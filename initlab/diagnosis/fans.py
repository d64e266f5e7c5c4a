"""The fans that really set a weight's signal, per layer kind, against the fans Keras's initializers draw with.

Keras computes a kernel's fans from its shape alone: the last axis is fan_out, the one before fan_in, and every
axis before those (a conv's receptive field) multiplies both. That is right for Dense and plain convolutions and
wrong wherever one output does not sum over all of axis -2 or one input does not feed all of axis -1: depthwise
kernels, grouped and transposed convolutions, stacked recurrent gates, einsum kernels with shared axes.
"""

import math

import numpy as np

from initlab.base import keras_private
from initlab.base.backend import keras as _keras
from initlab.config.initializers import expected_variance

MEASURED_SAMPLES = 100_000  # draws pooled when an initializer's std has no closed form: std known to ~0.3%


def keras_fans(shape) -> tuple[int, int]:
    """fan_in, fan_out exactly as Keras's initializers compute them for a variable of this shape."""
    shape = tuple(int(d) for d in shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def keras_drawn_fans(layer, weight) -> tuple[int, int]:
    """fan_in, fan_out as the weight's own initializer really computed them when Keras drew it: the axes it was
    told (EinsumDense, MultiHeadAttention's projections among them, tells a VarianceScaling its einsum axes), else
    Keras's shape rule (keras_fans)."""
    owner, variable = owner_of(layer, weight)
    name = _short_name(variable)
    return _keras_drawn_fans(owner, name, tuple(int(d) for d in variable.shape), initializer_of(owner, name))


def honest_fans(layer, weight) -> tuple[int, int]:
    """For this weight (a keras Variable of `layer`, or its short name such as 'kernel', 'depthwise_kernel',
    'recurrent_kernel'), fan_in = how many inputs one output unit sums over, fan_out = how many outputs one input
    feeds, as the forward and backward signal see them.

    Rules, with k the kernel's spatial area and C the input channels:
    - Dense, 1x1 and plain convolutions: Keras's fans (k*C in, k*filters out).
    - Conv with `groups` g: k*C/g in, k*filters/g out (one input channel feeds only its group's filters).
    - DepthwiseConv and SeparableConv's depthwise kernel: k in (one channel's window), k*depth_multiplier out.
    - Conv*Transpose: fan_in = C * prod(k_i / s_i) for strides s, rounded: the mean number of kernel taps that land
      on one interior output pixel, times C (exact when each stride divides its kernel size; otherwise pixels
      alternate between ceil and floor of k_i/s_i taps and this is their average); fan_out = k*filters.
    - SimpleRNN/LSTM/GRU: per gate, `kernel` input_dim in and units out, `recurrent_kernel` units in and units out.
    - EinsumDense (MultiHeadAttention's projections too): kernel axes absent from the output are summed over
      (fan_in); axes in the output but not the input are fan_out; axes in input, kernel and output alike are
      shared (one slice per index, like a batch) and count for neither.
    - Embedding: an output element is one table entry (a one-hot row picks it), so fan_in = 1 and the row std is
      the output std; fan_out = output_dim.
    - Anything else (biases, normalization scales, unknown layers): Keras's fans.
    """
    owner, variable = owner_of(layer, weight)
    return _honest(owner, _short_name(variable), tuple(int(d) for d in variable.shape))


def fan_mismatch(layer, weight) -> dict | None:
    """None when Keras's fans equal the honest ones (or the weight's initializer does not depend on fans). Else a
    dict: keras_fans, honest_fans, initializer (its name), drawn_std (the std the layer's own initializer draws with
    Keras's fans), intended_std (the std the same initializer would draw with honest fans), factor
    (drawn_std / intended_std), fix (one concrete sentence)."""
    keras = _keras()
    owner, variable = owner_of(layer, weight)
    name, shape = _short_name(variable), tuple(int(d) for d in variable.shape)
    initializer = initializer_of(owner, name)
    # Every fan-based initializer Keras ships (Glorot, He, LeCun) is a VarianceScaling; the rest ignore fans.
    if not isinstance(initializer, keras.initializers.VarianceScaling):
        return None
    drawn_fans, honest = _keras_drawn_fans(owner, name, shape, initializer), _honest(owner, name, shape)
    mode = initializer.mode  # a VarianceScaling's std depends on this one fan only
    if mode_fan(mode, *drawn_fans) == mode_fan(mode, *honest):
        return None
    drawn_std, intended_std = _std(initializer, *drawn_fans), _std(initializer, *honest)
    label = initializer_name(initializer)
    return {
        "keras_fans": drawn_fans,
        "honest_fans": honest,
        "initializer": label,
        "drawn_std": drawn_std,
        "intended_std": intended_std,
        "factor": drawn_std / intended_std,
        "fix": f"use {_fixed_initializers(owner, name, shape, initializer, intended_std)} to draw what {label} "
        f"intends for {_describe(owner, name, shape)}",
    }


def owner_of(layer, weight):
    """(the layer or sublayer that holds `weight` itself, the variable); `weight` is a Variable or a short name."""
    for owner in keras_private.sublayers(layer, include_self=True):  # RNN cells, directions, projections
        for variable in keras_private.own_variables(owner):
            if isinstance(weight, str):
                if variable.name == weight or variable.path.endswith("/" + weight):
                    return owner, variable
            elif variable is weight or variable.path == getattr(weight, "path", None):
                return owner, variable
    given = weight if isinstance(weight, str) else getattr(weight, "path", weight)
    held = [v.path for v in layer.weights]
    raise ValueError(f"layer '{layer.name}' holds no weight '{given}'; it holds: {', '.join(held) or 'none'}")


def _short_name(variable) -> str:
    return variable.path.rsplit("/", 1)[-1]


def _honest(owner, name: str, shape: tuple) -> tuple[int, int]:
    layers = _keras().layers
    rank = len(shape)
    if rank < 2:
        return keras_fans(shape)
    if isinstance(owner, layers.Embedding) and name == "embeddings":
        return 1, shape[-1]
    if is_depthwise(owner, name):
        area = math.prod(shape[:-2])
        return area, area * shape[-1]
    if _is_transposed(owner) and name == "kernel":
        area, filters, channels = math.prod(shape[:-2]), shape[-2], shape[-1]
        taps = math.prod(k / s for k, s in zip(shape[:-2], owner.strides))
        return max(1, round(channels * taps)), area * filters
    if _is_convolution(owner) and name == "kernel":
        fan_in, fan_out = keras_fans(shape)
        return fan_in, fan_out // getattr(owner, "groups", 1)
    if _is_recurrent_cell(owner) and name in ("kernel", "recurrent_kernel"):
        return shape[0], owner.units
    if isinstance(owner, layers.EinsumDense) and name == "kernel":
        input_axes, output_axes = _einsum_axes(owner.equation)[0]
        return math.prod(shape[a] for a in input_axes), math.prod(shape[a] for a in output_axes)
    return keras_fans(shape)


def is_depthwise(owner, name: str) -> bool:
    layers = _keras().layers
    depthwise = (layers.DepthwiseConv1D, layers.DepthwiseConv2D)
    separable = (layers.SeparableConv1D, layers.SeparableConv2D)
    return (isinstance(owner, depthwise) and name == "kernel") or (
        isinstance(owner, separable) and name == "depthwise_kernel"
    )


def _is_transposed(owner) -> bool:
    layers = _keras().layers
    return isinstance(owner, (layers.Conv1DTranspose, layers.Conv2DTranspose, layers.Conv3DTranspose))


def _is_convolution(owner) -> bool:
    layers = _keras().layers
    return isinstance(owner, (layers.Conv1D, layers.Conv2D, layers.Conv3D))


def _is_recurrent_cell(owner) -> bool:
    layers = _keras().layers
    return isinstance(owner, (layers.SimpleRNNCell, layers.LSTMCell, layers.GRUCell))


def _einsum_axes(equation: str) -> tuple[tuple[list, list], tuple[list, list]]:
    """((honest input axes, output axes), (Keras's input axes, output axes)) of an EinsumDense kernel."""
    inputs, rest = equation.replace("...", "").split(",")
    kernel, output = rest.split("->")
    summed = [i for i, axis in enumerate(kernel) if axis not in output]
    produced = [i for i, axis in enumerate(kernel) if axis in output and axis not in inputs]
    # Keras (EinsumDense.build, 3.x) counts every kernel axis that reaches the output as an output axis.
    keras_out = [i for i, axis in enumerate(kernel) if axis in output]
    return (summed, produced), (summed, keras_out)


def _honest_axes(owner, name: str, shape: tuple) -> tuple[list, list] | None:
    """Kernel axes whose sizes multiply to the honest fans, where such axes exist."""
    if is_depthwise(owner, name):
        spatial = list(range(len(shape) - 2))
        return spatial, spatial + [len(shape) - 1]
    if isinstance(owner, _keras().layers.EinsumDense) and name == "kernel":
        return _einsum_axes(owner.equation)[0]
    return None


def initializer_of(owner, name: str):
    """The initializer object `owner` drew its weight `name` with ('kernel', 'recurrent_kernel', ...), or None."""
    # recurrent_kernel -> recurrent_initializer; a DepthwiseConv's `kernel` is drawn by depthwise_initializer
    for attribute in (f"{name}_initializer", f"{name.removesuffix('_kernel')}_initializer", "depthwise_initializer"):
        initializer = getattr(owner, attribute, None)
        if initializer is not None:
            return initializer
    return None


def _keras_drawn_fans(owner, name: str, shape: tuple, initializer) -> tuple[int, int]:
    """The fans Keras's initializer really used for this weight: axes given to it, EinsumDense's own axes, or the
    shape rule."""
    input_axes, output_axes = getattr(initializer, "input_axes", None), getattr(initializer, "output_axes", None)
    keras = _keras()
    # EinsumDense.build hands its einsum axes to a VarianceScaling only; other initializers never read fans
    einsum = isinstance(owner, keras.layers.EinsumDense) and name == "kernel" and isinstance(
        initializer, keras.initializers.VarianceScaling)
    if (input_axes is None or output_axes is None) and einsum and hasattr(owner, "_update_kernel_initializer"):
        input_axes, output_axes = _einsum_axes(owner.equation)[1]  # Keras >= 3.12 passes these axes itself
    if input_axes is not None and output_axes is not None:
        return math.prod(shape[a] for a in input_axes), math.prod(shape[a] for a in output_axes)
    return keras_fans(shape)


def initializer_spec(initializer) -> dict:
    """Keras's {class_name, config} of an initializer object, as initializers.expected_variance reads specs."""
    config = {k: v for k, v in initializer.get_config().items() if k not in ("input_axes", "output_axes")}
    return {"class_name": type(initializer).__name__, "config": config}


def _std(initializer, fan_in: int, fan_out: int) -> float:
    """The std `initializer` draws for a kernel with these fans: the registry's closed form, else measured."""
    try:
        variance = expected_variance(initializer_spec(initializer), fan_in, fan_out)
    except ValueError:  # a class the registry does not know
        variance = None
    if variance is not None:
        return float(math.sqrt(variance))
    config, cls = initializer_spec(initializer)["config"], type(initializer)
    copies = max(1, math.ceil(MEASURED_SAMPLES / (fan_in * fan_out)))
    if "input_axes" in initializer.get_config():  # one draw of `copies` slices, each with exactly these fans
        draw = cls.from_config({**config, "seed": 0, "input_axes": [0], "output_axes": [1]})
        return float(np.std(np.asarray(draw((fan_in, fan_out, copies)))))
    # Older Keras: a 2-D (fan_in, fan_out) draw has these fans; redraw with new seeds for a larger sample.
    draws = [cls.from_config({**config, "seed": seed}) for seed in range(min(copies, 100))]
    values = [np.asarray(draw((fan_in, fan_out))) for draw in draws]
    return float(np.std(np.concatenate([v.ravel() for v in values])))


def initializer_name(initializer) -> str:
    """The registry's name for an initializer object ('GlorotUniform' -> 'glorot_uniform'), else its class name."""
    from initlab.config.initializers import canonical_name

    try:
        return canonical_name(type(initializer).__name__)
    except ValueError:
        return type(initializer).__name__


def _fixed_initializers(owner, name: str, shape: tuple, initializer, intended_std: float) -> str:
    """Initializers that draw `intended_std` here: the same one told its honest axes (where axes can say it and
    this Keras accepts them), and always a fixed-scale draw of the same distribution. Not a VarianceScaling with a
    bigger scale: its own intent would again be read with Keras's fans, and the checklist would flag the fix."""
    distribution = initializer.distribution
    if distribution == "uniform":
        limit = math.sqrt(3) * intended_std
        fixed = f"RandomUniform(minval={-limit:.4g}, maxval={limit:.4g})"
    elif distribution == "truncated_normal":  # Keras cuts at 2 stddev, which leaves 0.8796 of the stddev
        fixed = f"TruncatedNormal(stddev={intended_std / 0.87962566103423978:.4g})"
    else:
        fixed = f"RandomNormal(stddev={intended_std:.4g})"
    axes = _honest_axes(owner, name, shape)
    if axes is None or "input_axes" not in initializer.get_config():
        return fixed
    cls = type(initializer).__name__
    own = "" if cls != "VarianceScaling" else (
        f"scale={initializer.scale}, mode='{initializer.mode}', distribution='{distribution}', "
    )
    return f"{cls}({own}input_axes={axes[0]}, output_axes={axes[1]}) (right for every such layer) or {fixed}"


def mode_fan(mode: str, fan_in: int, fan_out: int) -> float:
    """The fan a VarianceScaling initializer of this mode divides its scale by."""
    return {"fan_in": fan_in, "fan_out": fan_out}.get(mode, (fan_in + fan_out) / 2)


def _describe(owner, name: str, shape: tuple) -> str:
    """'3x3 depthwise kernels on 144 channels', 'the LSTM input kernel (4 gates of 32 units)', ..."""
    window = "x".join(str(d) for d in shape[:-2])
    if is_depthwise(owner, name):
        return f"{window} depthwise kernels on {shape[-2]} channels"
    if _is_transposed(owner):
        return f"{window} transposed-convolution kernels with strides {tuple(owner.strides)}"
    if _is_convolution(owner):
        return f"{window} convolution kernels in {owner.groups} groups"
    if _is_recurrent_cell(owner):
        which = "recurrent" if name == "recurrent_kernel" else "input"
        kind = type(owner).__name__.removesuffix("Cell")
        return f"the {kind} {which} kernel ({shape[-1] // owner.units} gates of {owner.units} units)"
    if isinstance(owner, _keras().layers.EinsumDense):
        return f"the einsum kernel '{owner.equation}'"
    if isinstance(owner, _keras().layers.Embedding):
        return "embedding rows"
    return f"the {name} of shape {shape}"
