"""Honest fans per layer kind, checked against what Keras draws and what a real forward or backward pass measures."""

import re

import numpy as np
import pytest

from initlab.base.backend import keras as _keras, tf as _tf
from initlab.diagnosis import fans

keras = _keras()


@pytest.fixture(autouse=True)
def seeded():
    keras.utils.set_random_seed(0)  # layers draw their kernels from Keras's global seed: the same numbers every run


def normal(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def built(layer, *inputs):
    layer(*inputs)
    return layer


def forward_gain(layer, x, crop=0) -> float:
    """Output variance / input variance, away from the borders where a window sees padding."""
    y = np.asarray(layer(x))
    if crop:
        inner = (slice(None),) + (slice(crop, -crop),) * (y.ndim - 2)
        y = y[inner]
    return float(y.var() / x.var())


def backward_gain(layer, x, crop=0) -> float:
    """Var(dL/dx) / Var(dL/dy) for a random upstream gradient: the fan_out the backward signal sees."""
    tf = _tf()
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        upstream = tf.constant(normal(*y.shape, seed=1))
        loss = tf.reduce_sum(y * upstream)
    grad = np.asarray(tape.gradient(loss, x))
    if crop:
        grad = grad[(slice(None),) + (slice(crop, -crop),) * (grad.ndim - 2)]
    return float(grad.var() / upstream.numpy().var())


def kernel_variance(layer, name="kernel") -> float:
    return float(np.var(getattr(layer, name).numpy()))


def initializers_in(fix: str) -> list:
    """Every initializer a fix sentence names, built as Keras would build it."""
    calls = re.findall(r"\b([A-Z]\w+\([^()]*\))", fix)
    assert calls, fix
    return [eval(call, dict(vars(keras.initializers))) for call in calls]


@pytest.mark.parametrize(
    "shape", [(), (7,), (5, 3), (3, 5, 7), (3, 3, 16, 32), (2, 3, 4, 5, 6), (1, 1, 8, 4), (64, 8, 16)]
)
def test_keras_fans_equal_keras_compute_fans(shape):
    from keras.src.initializers.random_initializers import compute_fans

    assert fans.keras_fans(shape) == compute_fans(shape)


def test_depthwise_glorot_draws_8_6x_too_small_and_the_fix_restores_the_signal():
    x = normal(4, 12, 12, 144)
    layer = built(keras.layers.DepthwiseConv2D(3, depthwise_initializer="glorot_uniform", use_bias=False), x)
    assert fans.honest_fans(layer, "kernel") == (9, 9)
    found = fans.fan_mismatch(layer, layer.kernel)
    assert found["keras_fans"] == (1296, 9) and found["honest_fans"] == (9, 9)
    assert found["initializer"] == "glorot_uniform"
    assert found["drawn_std"] == pytest.approx(np.sqrt(2 / 1305)) and found["intended_std"] == pytest.approx(1 / 3)
    assert 1 / found["factor"] == pytest.approx(8.51, abs=0.01)
    # The forward pass sees 9 inputs per output: its gain is the drawn variance times 9, not times 1296.
    measured = forward_gain(layer, x)
    assert measured == pytest.approx(9 * kernel_variance(layer), rel=0.05)
    assert np.sqrt(measured) == pytest.approx(3 * found["drawn_std"], rel=0.05)
    assert np.sqrt(measured) / (3 * found["intended_std"]) == pytest.approx(found["factor"], rel=0.05)
    for fix in initializers_in(found["fix"]):
        fixed = built(keras.layers.DepthwiseConv2D(3, depthwise_initializer=fix, use_bias=False), x)
        assert forward_gain(fixed, x) == pytest.approx(1.0, rel=0.06)  # Glorot's intent for fans 9 and 9
        assert fans.fan_mismatch(fixed, "kernel") is None


def test_depthwise_fan_out_is_window_times_depth_multiplier_backward():
    x = normal(4, 12, 12, 16)
    layer = built(keras.layers.DepthwiseConv2D(3, depth_multiplier=4, use_bias=False), x)
    assert fans.honest_fans(layer, layer.kernel) == (9, 36)
    assert backward_gain(layer, x, crop=2) == pytest.approx(36 * kernel_variance(layer), rel=0.06)


def test_separable_conv_depthwise_part_as_depthwise_pointwise_part_as_1x1():
    x = normal(2, 8, 8, 8)
    layer = built(keras.layers.SeparableConv2D(16, 3, depth_multiplier=2), x)
    assert fans.honest_fans(layer, "depthwise_kernel") == (9, 18)
    assert fans.honest_fans(layer, "pointwise_kernel") == (16, 16) == fans.keras_fans(layer.pointwise_kernel.shape)
    assert fans.fan_mismatch(layer, "pointwise_kernel") is None
    assert fans.fan_mismatch(layer, "depthwise_kernel")["keras_fans"] == (72, 18)


def test_grouped_conv_fan_out_is_per_group_backward():
    x = normal(4, 12, 12, 32)
    layer = built(keras.layers.Conv2D(32, 3, groups=4, use_bias=False), x)
    assert fans.keras_fans(layer.kernel.shape) == (72, 288)
    assert fans.honest_fans(layer, "kernel") == (72, 72)
    assert forward_gain(layer, x) == pytest.approx(72 * kernel_variance(layer), rel=0.06)
    assert backward_gain(layer, x, crop=2) == pytest.approx(72 * kernel_variance(layer), rel=0.06)
    found = fans.fan_mismatch(layer, "kernel")
    assert found["factor"] == pytest.approx(np.sqrt((72 + 72) / (72 + 288)))
    assert "RandomUniform" in found["fix"] and "input_axes" not in found["fix"]  # no axes give filters / groups
    fix = initializers_in(found["fix"])[0]
    fixed = built(keras.layers.Conv2D(32, 3, groups=4, use_bias=False, kernel_initializer=fix), x)
    assert np.sqrt(kernel_variance(fixed)) == pytest.approx(found["intended_std"], rel=0.03)


@pytest.mark.parametrize(
    "make, weight, honest, keras_said",
    [
        (lambda: keras.layers.DepthwiseConv1D(5, depth_multiplier=2), "kernel", (5, 10), (30, 10)),
        (lambda: keras.layers.SeparableConv1D(4, 5), "depthwise_kernel", (5, 5), (30, 5)),
        (lambda: keras.layers.Conv1DTranspose(8, 4, strides=2), "kernel", (12, 32), (32, 24)),
        (lambda: keras.layers.Conv1D(8, 3, groups=2), "kernel", (9, 12), (9, 24)),
    ],
)
def test_one_dimensional_kinds_follow_the_same_rules(make, weight, honest, keras_said):
    layer = built(make(), normal(2, 16, 6))
    assert fans.honest_fans(layer, weight) == honest
    assert fans.fan_mismatch(layer, weight)["keras_fans"] == keras_said


def test_ungrouped_conv_and_dense_fans_are_keras_fans():
    conv = built(keras.layers.Conv1D(8, 5), normal(2, 10, 3))
    dense = built(keras.layers.Dense(4), normal(2, 6))
    assert fans.honest_fans(conv, "kernel") == fans.keras_fans(conv.kernel.shape) == (15, 40)
    assert fans.honest_fans(dense, dense.kernel) == (6, 4)
    assert fans.fan_mismatch(conv, "kernel") is None and fans.fan_mismatch(dense, "kernel") is None


@pytest.mark.parametrize("kernel, stride, taps", [(4, 2, 4.0), (3, 2, 2.25), (3, 1, 9.0)])
def test_transposed_conv_fan_in_is_channels_times_taps_per_output_pixel(kernel, stride, taps):
    x = normal(4, 16, 16, 32)
    layer = built(keras.layers.Conv2DTranspose(16, kernel, strides=stride, padding="same", use_bias=False), x)
    assert fans.honest_fans(layer, "kernel") == (round(32 * taps), kernel * kernel * 16)
    assert forward_gain(layer, x, crop=2) == pytest.approx(32 * taps * kernel_variance(layer), rel=0.06)
    keras_in, keras_out = fans.keras_fans(layer.kernel.shape)
    assert (keras_in, keras_out) == (kernel * kernel * 16, kernel * kernel * 32)
    found = fans.fan_mismatch(layer, "kernel")
    factor = np.sqrt((32 * taps + kernel * kernel * 16) / (keras_in + keras_out))
    if stride == 1:  # fans swapped, and Glorot reads their mean: nothing to fix
        assert factor == 1 and found is None
    else:
        assert found["factor"] == pytest.approx(factor)


@pytest.mark.parametrize("cls, gates", [(keras.layers.LSTM, 4), (keras.layers.GRU, 3), (keras.layers.SimpleRNN, 1)])
def test_recurrent_kernels_have_per_gate_fans(cls, gates):
    layer = built(cls(48), normal(2, 5, 40))
    assert fans.honest_fans(layer, "kernel") == (40, 48)
    assert fans.honest_fans(layer, "recurrent_kernel") == (48, 48)
    assert fans.fan_mismatch(layer, "recurrent_kernel") is None  # orthogonal: no fans involved
    found = fans.fan_mismatch(layer, "kernel")
    if gates == 1:
        assert found is None
        return
    assert found["keras_fans"] == (40, 48 * gates)
    assert np.sqrt(kernel_variance(layer.cell)) == pytest.approx(found["drawn_std"], rel=0.03)
    assert found["intended_std"] == pytest.approx(np.sqrt(2 / (40 + 48)))
    assert f"{gates} gates of 48 units" in found["fix"]


def test_bidirectional_weights_resolve_in_both_directions():
    layer = built(keras.layers.Bidirectional(keras.layers.GRU(8)), normal(2, 5, 4))
    for variable in layer.weights:
        if variable.path.endswith("recurrent_kernel"):
            assert fans.honest_fans(layer, variable) == (8, 8)
    assert len([v for v in layer.weights if fans.fan_mismatch(layer, v)]) == 2  # each direction's input kernel


def test_embedding_fan_in_is_one_row():
    tokens = np.random.default_rng(0).integers(0, 500, (64, 20))
    default = built(keras.layers.Embedding(500, 32), tokens)
    assert fans.honest_fans(default, "embeddings") == (1, 32)
    assert fans.fan_mismatch(default, "embeddings") is None  # uniform(-0.05, 0.05) ignores fans
    out = np.asarray(default(tokens))
    assert out.std() == pytest.approx(default.embeddings.numpy().std(), rel=0.05)  # a row's std is the signal
    glorot = built(keras.layers.Embedding(500, 32, embeddings_initializer="glorot_uniform"), tokens)
    found = fans.fan_mismatch(glorot, "embeddings")
    assert found["drawn_std"] == pytest.approx(np.sqrt(2 / 532))
    assert found["intended_std"] == pytest.approx(np.sqrt(2 / 33))


def test_multi_head_attention_projections():
    x = normal(8, 10, 64)
    layer = built(keras.layers.MultiHeadAttention(num_heads=4, key_dim=16), x, x)
    for projection in ("query", "key", "value"):
        assert fans.honest_fans(layer, f"{projection}/kernel") == (64, 64)
    assert fans.honest_fans(layer, "attention_output/kernel") == (64, 64)
    # Keras (>= 3.12) gives the projections' Glorot initializers the einsum axes: they draw with honest fans.
    for variable in layer.weights:
        assert fans.fan_mismatch(layer, variable) is None
    query = layer._query_dense
    assert forward_gain(query, x) == pytest.approx(64 * kernel_variance(query), rel=0.06)
    assert np.sqrt(kernel_variance(query)) == pytest.approx(np.sqrt(2 / 128), rel=0.05)


def test_einsum_axes_the_initializer_is_told_are_the_ones_read():
    wrong = keras.initializers.GlorotUniform(input_axes=[0, 1], output_axes=[2])  # d_model x heads in: not honest
    x = normal(8, 10, 64)
    layer = built(keras.layers.EinsumDense("abc,cde->abde", output_shape=(None, 4, 16), kernel_initializer=wrong), x)
    found = fans.fan_mismatch(layer, "kernel")
    assert found["keras_fans"] == (256, 16) and found["honest_fans"] == (64, 64)
    assert np.sqrt(kernel_variance(layer)) == pytest.approx(found["drawn_std"], rel=0.05)
    assert "GlorotUniform(input_axes=[0], output_axes=[1, 2])" in found["fix"]


def test_einsum_shared_axis_counts_for_neither_fan_backward():
    # One (3, 5, 7) kernel slice per index of axis b: an input feeds 7 outputs, not 3 x 7.
    x = normal(256, 3, 5)
    layer = built(keras.layers.EinsumDense("abc,bcd->abd", output_shape=(3, 7)), x)
    assert fans.honest_fans(layer, "kernel") == (5, 7)
    assert backward_gain(layer, x) == pytest.approx(7 * kernel_variance(layer), rel=0.1)
    found = fans.fan_mismatch(layer, "kernel")
    assert found["keras_fans"] == (5, 21)
    assert "GlorotUniform(input_axes=[1], output_axes=[2])" in found["fix"]


def test_variance_scaling_without_a_closed_form_is_measured():
    init = keras.initializers.VarianceScaling(2.0, mode="fan_out", distribution="truncated_normal")
    layer = built(keras.layers.Conv2D(16, 3, groups=4, kernel_initializer=init), normal(1, 5, 5, 8))
    found = fans.fan_mismatch(layer, "kernel")
    assert found["keras_fans"] == (18, 144) and found["honest_fans"] == (18, 36)
    assert found["drawn_std"] == pytest.approx(np.sqrt(2 / 144), rel=0.02)
    assert found["intended_std"] == pytest.approx(np.sqrt(2 / 36), rel=0.02)
    fixed = initializers_in(found["fix"])[0]
    assert np.std(np.asarray(fixed((200, 200)))) == pytest.approx(np.sqrt(2 / 36), rel=0.02)


class WithoutAxes(keras.initializers.VarianceScaling):
    """A VarianceScaling as Keras before input_axes knew it."""

    def get_config(self):
        return {k: v for k, v in super().get_config().items() if k not in ("input_axes", "output_axes")}


def test_measured_std_without_axes_equals_the_one_with_axes():
    with_axes = keras.initializers.VarianceScaling(2.0, mode="fan_out", distribution="truncated_normal")
    without = WithoutAxes(2.0, mode="fan_out", distribution="truncated_normal")
    assert fans._std(with_axes, 18, 36) == pytest.approx(np.sqrt(2 / 36), rel=0.02)
    assert fans._std(without, 18, 36) == pytest.approx(np.sqrt(2 / 36), rel=0.02)


def test_fan_in_mode_ignores_a_wrong_fan_out():
    layer = built(keras.layers.Conv2D(32, 3, groups=4, kernel_initializer="he_normal"), normal(1, 6, 6, 32))
    assert fans.fan_mismatch(layer, "kernel") is None  # He reads fan_in, which groups leave honest


def test_unknown_weight_names_what_the_layer_holds():
    layer = built(keras.layers.Dense(3), normal(1, 2))
    with pytest.raises(ValueError, match="holds no weight 'recurrent_kernel'.*dense.*/kernel"):
        fans.honest_fans(layer, "recurrent_kernel")
