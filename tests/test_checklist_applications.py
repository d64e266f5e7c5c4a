"""The checklist on Keras Applications built offline (weights=None) at small input sizes: no false alarm, every
weighted layer reported, the depthwise fan finding with a factor a forward pass confirms, nothing changed."""

import numpy as np
import pytest

import initlab
from initlab.base.backend import keras as _keras
from initlab.diagnosis import walk


def _build(name: str, size: int = 32):
    return getattr(_keras().applications, name)(input_shape=(size, size, 3), weights=None)


def _leaf_layers_with_weights(model) -> list[str]:
    keras = _keras()
    return [layer.name for layer in model.layers if layer.weights and not isinstance(layer, keras.Model)]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ResNet50", "EfficientNetB0", "DenseNet121"])
def test_no_false_alarm_as_keras_builds_them(name):
    model = _build(name)
    table = initlab.diagnose(model)
    assert (table["verdict"] != "problem").all(), table[table.verdict == "problem"][["layer", "problems"]]
    assert sorted(table["layer"]) == sorted(_leaf_layers_with_weights(model))  # every one, none dropped
    convs = table[table["kind"].str.startswith("Conv") & ~table["layer"].str.contains("_se_")]  # SE gates: no BN
    assert convs["normalization"].eq("BatchNormalization").all()  # found through the graph
    # as the first training step sees them: batch statistics, not freshly built (identity) moving statistics
    assert convs["activation_std"].between(0.2, 2.0).all()


@pytest.mark.slow
def test_mobilenet_depthwise_fans_are_a_note_with_a_factor_a_forward_pass_confirms():
    keras = _keras()
    model = _build("MobileNetV2", 32)
    before = [v.numpy().copy() for v in model.variables]
    table = initlab.diagnose(model)
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(before, model.variables))
    assert (table["verdict"] != "problem").all()
    depthwise = table[table["kind"] == "DepthwiseConv2D"]
    assert len(depthwise) == 17 and (depthwise["verdict"] == "note").all()
    row = depthwise[depthwise["layer"] == "block_3_depthwise"].iloc[0]  # 144 channels, as in the issue
    mismatch = next(w["mismatch"] for w in row["weights"] if w["mismatch"])
    assert mismatch["keras_fans"] == (9 * 144, 9) and mismatch["honest_fans"] == (9, 9)
    assert "8.6" in " ".join(row["findings"]) or f"{1 / mismatch['factor']:.3g}" in " ".join(row["findings"])
    # measured: each output sums 9 inputs, so its std is sqrt(9) x the kernel's std for unit-variance inputs
    layer = model.get_layer("block_3_depthwise")
    x = np.random.default_rng(0).standard_normal((16, 12, 12, 144)).astype("float32")
    measured = float(np.std(keras.ops.convert_to_numpy(keras.ops.depthwise_conv(x, layer.kernel, 1, "valid"))))
    intended = 3 * mismatch["intended_std"]  # the output std the initializer means to give
    assert measured / intended == pytest.approx(mismatch["factor"], rel=0.1)
    assert "BatchNormalization after it restores the scale" in " ".join(row["findings"])


def test_memory_bound_at_full_size():
    model = _build("ResNet50", 224)
    fn = model  # a Functional model is its own graph
    per_sample = walk.peak_bytes_per_sample(fn)
    batch = walk.batch_size(per_sample)
    assert walk.MIN_BATCH <= batch and batch * per_sample <= walk.MEMORY_BOUND
    assert per_sample < walk.all_bytes_per_sample(fn) / 5  # tensors are dropped, not kept
