"""layers.csv's per-layer statistics as graph ops on K members' tensors ([K, ...]; a solo run is K=1), computed inside
the compiled training loop, and the host-side step that turns what comes back into rows and raw samples.
The definitions are probes.Probe's and units.py's (DESIGN.md); tests/test_stats.py holds them equal."""

import numpy as np

from initlab.base.backend import tf as _tf
from initlab.train.probes import GRADIENT_SAMPLES
from initlab.train.units import RELU_FAMILY

STATISTICS = ["activation_mean", "activation_std", "dead_fraction", "saturated_fraction", "weight_mean", "weight_std",
              "grad_norm"]  # then distinct_units, an integer, kept apart


def projection_signs(width: int) -> np.ndarray:
    """The ±1 vector units.distinct_units projects a layer's units on (the same draw, so the same sort order)."""
    return np.random.default_rng(0).choice([-1.0, 1.0], size=width)


NEIGHBOURS = 4  # distinct_units: units this many places apart in projection order compared without the pass


def distinct_units(kernels: list, biases: list, rtol: float = 1e-6):
    """[K, layers]: how many different functions each member's layers compute, units.distinct_units's greedy pass in
    graph, all layers in one loop (padded to the widest). kernels [K, fan_in, units], biases [K, units] per layer."""
    tf = _tf()
    k, widest, longest = kernels[0].shape[0], max(w.shape[-1] for w in kernels), max(w.shape[-2] for w in kernels) + 1
    units, signs = [], np.zeros([len(kernels), longest])
    for i, (kernel, bias) in enumerate(zip(kernels, biases)):
        fan_in, width = kernel.shape[-2:]
        layer = tf.transpose(tf.concat([tf.cast(kernel, tf.float64), tf.cast(bias, tf.float64)[:, None, :]], 1), [0, 2, 1])
        units.append(tf.pad(layer, [[0, 0], [0, widest - width], [0, longest - fan_in - 1]]))
        signs[i, : fan_in + 1] = projection_signs(fan_in + 1)
    units = tf.stack(units, axis=1)  # [K, layers, units, fan_in + 1], zeros where padded
    tolerance = rtol * tf.reduce_max(tf.abs(units), axis=[2, 3])[..., None]  # [K, layers, 1]
    window = tolerance * np.abs(signs).sum(axis=1)[:, None]
    valid = np.arange(widest)[None, :] < np.array([w.shape[-1] for w in kernels])[:, None]  # [layers, units]
    # exact sums for float32 weights of one scale, so numpy's matmul and this sum agree; padding sorts last
    projection = tf.reduce_sum(units * signs[:, None, :], axis=-1)
    # ascending (top_k keeps the lower index first among ties, as a stable sort does); padding last
    order = tf.math.top_k(-tf.where(valid, projection, np.inf), widest).indices

    def visit(p, representative):
        """The p-th unit in projection order is a new function unless an earlier representative within the window
        (in projection) agrees with it within the tolerance."""
        here = tf.one_hot(order[..., p], widest, dtype=tf.float64)  # [K, layers, units]
        unit = tf.reduce_sum(here[..., None] * units, axis=2, keepdims=True)  # exact: one nonzero term
        reach = tf.reduce_sum(here * projection, axis=2, keepdims=True) - projection <= window
        close = tf.reduce_max(tf.abs(units - unit), axis=-1) <= tolerance
        same = tf.reduce_any(representative & reach & close, axis=2, keepdims=True)
        return p + 1, representative | ((here > 0) & ~same & valid)

    def greedy():
        _, representative = tf.while_loop(lambda p, _: p < widest, visit,
                                          (tf.constant(0), tf.zeros([k, len(kernels), widest], tf.bool)))
        return tf.reduce_sum(tf.cast(representative, tf.int32), axis=2)

    # The pass costs K x layers x width^2 x fan_in: at width 1024 minutes per measurement. A unit is the same as an
    # earlier one only if that one is within the window in projection and within the tolerance in every weight; when
    # no such pair exists every unit is a new function and the count is the layer's width, exactly what the pass
    # returns. Sorted by projection, pairs within the window are a few places apart: checked up to NEIGHBOURS apart,
    # and the pass runs only where a pair is close, or a pair further apart is still within the window.
    ordered = tf.gather(projection, order, batch_dims=2)
    real = tf.gather(tf.broadcast_to(valid, [k, *valid.shape]), order, batch_dims=2)
    suspect = tf.constant(False)
    for step in range(1, min(NEIGHBOURS + 1, widest - 1) + 1):
        within = (ordered[..., step:] - ordered[..., :-step] <= window) & real[..., step:]  # inf - inf: nan, False
        if step == NEIGHBOURS + 1:
            suspect = suspect | tf.reduce_any(within)
            break
        pairs = tf.where(within)  # [pairs, 3]: member, layer, place in order; few, so the units compared are few
        first, second = (tf.gather_nd(order, pairs + [0, 0, shift]) for shift in (0, step))
        a, b = (tf.gather_nd(units, tf.stack([pairs[:, 0], pairs[:, 1], tf.cast(i, tf.int64)], 1)) for i in (first, second))
        close = tf.reduce_max(tf.abs(a - b), axis=-1) <= tf.gather_nd(tolerance[..., 0], pairs[:, :2])
        suspect = suspect | tf.reduce_any(close)
    widths = tf.broadcast_to(tf.constant([w.shape[-1] for w in kernels], tf.int32), [k, len(kernels)])
    return tf.cond(suspect, greedy, lambda: widths)


def layer_statistics(activation: str, outputs, kernel, gradient):
    """[K, len(STATISTICS)] float64 for one layer: outputs [K, rows, units] on the probe batch, kernel and its loss
    gradient [K, fan_in, units]. float64: float32 sums overflow when a run blows up."""
    tf = _tf()
    k, width = outputs.shape[0], outputs.shape[-1]
    a = tf.reshape(tf.cast(outputs, tf.float64), [k, -1, width])
    w = tf.reshape(tf.cast(kernel, tf.float64), [k, -1])
    zero = tf.zeros([k], tf.float64)
    dead = tf.reduce_mean(tf.cast(tf.reduce_all(tf.equal(a, 0), axis=1), tf.float64), axis=1) \
        if activation in RELU_FAMILY else zero
    if activation == "tanh":
        saturated = tf.reduce_mean(tf.cast(tf.abs(a) > 0.99, tf.float64), axis=[1, 2])
    elif activation == "sigmoid":
        saturated = tf.reduce_mean(tf.cast(tf.logical_or(a < 0.01, a > 0.99), tf.float64), axis=[1, 2])
    else:
        saturated = zero
    g = tf.reshape(tf.cast(gradient, tf.float64), [k, -1])
    return tf.stack([
        tf.reduce_mean(a, axis=[1, 2]), tf.math.reduce_std(a, axis=[1, 2]), dead, saturated,
        tf.reduce_mean(w, axis=1), tf.math.reduce_std(w, axis=1), tf.sqrt(tf.reduce_sum(tf.square(g), axis=1)),
    ], axis=1)


def stream_statistics(outputs):
    """[K, len(STATISTICS)] float64 for a residual block's sum (probes.stream_row): its output's mean and std; no
    nonlinearity, so nothing dead or saturated; no weights, so NaN in the weight and gradient columns."""
    tf = _tf()
    k, width = outputs.shape[0], outputs.shape[-1]
    a = tf.reshape(tf.cast(outputs, tf.float64), [k, -1, width])
    zero, nan = tf.zeros([k], tf.float64), tf.fill([k], tf.constant(np.nan, tf.float64))
    return tf.stack([tf.reduce_mean(a, axis=[1, 2]), tf.math.reduce_std(a, axis=[1, 2]), zero, zero, nan, nan, nan],
                    axis=1)


def with_sums(values, distinct, samples, sums: list, row_order: list[int]):
    """all_layer_statistics's (values, distinct, samples) with a row for each residual block's sum: the weighted
    layers' rows and then the sums' rows, taken in `row_order` (graph order)."""
    if not sums:
        return values, distinct, samples
    tf = _tf()
    values = tf.concat([values, tf.stack([stream_statistics(a) for a in sums], axis=1)], axis=1)
    distinct = tf.concat([distinct, tf.fill([distinct.shape[0], len(sums)], -1)], axis=1)
    return tf.gather(values, row_order, axis=1), tf.gather(distinct, row_order, axis=1), samples


def all_layer_statistics(activations: list[str], outputs: list, kernels: list, biases: list, gradients: list):
    """Every layer: (values [K, layers, len(STATISTICS)] float64, distinct units [K, layers] int32, raw samples: per
    layer its outputs [K, rows, units] and its kernel gradient strided as probes.gradient_sample strides it)."""
    tf = _tf()
    values, samples = [], []
    for activation, a, kernel, gradient in zip(activations, outputs, kernels, gradients):
        values.append(layer_statistics(activation, a, kernel, gradient))
        samples += [a, tf.reshape(gradient, [gradient.shape[0], -1])[:, :: _stride(gradient.shape[1:])]]
    flat = [tf.reshape(kernel, [kernel.shape[0], -1, kernel.shape[-1]]) for kernel in kernels]
    return tf.stack(values, axis=1), distinct_units(flat, biases), samples


def _stride(kernel_shape) -> int:
    """probes.gradient_sample's striding of a kernel's gradient."""
    return max(1, int(np.prod(kernel_shape)) // GRADIENT_SAMPLES)


def sample_shapes(k: int, rows: int, kernel_shapes: list[tuple]) -> list[tuple]:
    """The shapes of measure()'s raw samples: per layer [K, rows, units] and [K, gradient entries kept]."""
    shapes = []
    for shape in kernel_shapes:
        size = int(np.prod(shape))
        shapes += [(k, rows, shape[-1]), (k, len(range(0, size, _stride(shape))))]
    return shapes


def layer_rows(epoch: int, names: list[str], values, distinct, widths: list[int]) -> list[dict]:
    """One member's layers.csv rows at `epoch` from its values [layers, len(STATISTICS)] and distinct [layers]
    (arrays or nested lists)."""
    return [{"epoch": epoch, "layer": name, "units": width, **dict(zip(STATISTICS, map(float, row))),
             "distinct_units": int(count) if count >= 0 else None}  # -1: a block's sum, which has no weights
            for name, width, row, count in zip(names, widths, values, distinct)]


def member_samples(names: list[str], samples: list[np.ndarray], member: int) -> dict[str, np.ndarray]:
    """One member's raw samples as histograms.npz names them: '<layer>' and '<layer>/gradient'."""
    keys = [key for name in names for key in (name, f"{name}/gradient")]
    return {key: array[member] for key, array in zip(keys, samples)}
