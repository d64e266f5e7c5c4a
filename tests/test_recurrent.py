"""Recurrent, embedding and attention checks on real layers: real forward passes and gradients, small sizes."""

import numpy as np
import pytest

from initlab.base.backend import keras as _keras, tf as _tf
from initlab.diagnosis import recurrent

keras = _keras()
STEPS, FEATURES, UNITS = 30, 32, 32


@pytest.fixture(autouse=True)
def seeded():
    keras.utils.set_random_seed(0)  # layers draw their weights from Keras's global seed


def normal(*shape, seed=1, std=1.0):
    return (std * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)


def built(layer, x):
    layer(x)
    return layer


def default_embeddings(batch=64, steps=STEPS, vocabulary=1000):
    """What an RNN receives behind Keras's default Embedding: rows drawn from uniform(-0.05, 0.05)."""
    embedding = keras.layers.Embedding(vocabulary, FEATURES)
    tokens = np.random.default_rng(2).integers(0, vocabulary, (batch, steps))
    return embedding, np.asarray(embedding(tokens))


def severities(findings, severity):
    return [f.text for f in findings if f.severity == severity]


def scale_recurrent_kernel(layer, factor):
    layer.cell.recurrent_kernel.assign(layer.cell.recurrent_kernel * factor)


@pytest.mark.parametrize("cls", [keras.layers.LSTM, keras.layers.GRU])
def test_keras_default_lstm_and_gru_have_no_problem(cls):
    x = normal(64, STEPS, FEATURES)
    layer = built(cls(UNITS), x)
    figures, findings = recurrent.check_recurrent(layer, x)
    assert severities(findings, "problem") == []
    assert figures["spectral_radius"] < 1 and figures["recurrent_sv_max"] <= 1 + 1e-5  # orthogonal, stacked gates
    assert figures["saturated_fraction"] < 0.05 and figures["gates_saturated_fraction"] < 0.05
    assert figures["input_fan_in"] == FEATURES
    assert figures["input_target_std"] == pytest.approx(np.sqrt(2 / (FEATURES + UNITS)))
    assert figures["input_weight_std"] == pytest.approx(float(np.std(layer.cell.kernel.numpy())))
    assert figures["forget_bias"] == (1.0 if cls is keras.layers.LSTM else None)
    for f in findings:
        assert "orthogonal" not in f.suggestion and "glorot" not in f.suggestion  # both already in use


def test_singular_values_and_radius_are_those_of_each_gate_block():
    layer = built(keras.layers.GRU(8), normal(4, 5, 3))
    recurrent_kernel = layer.cell.recurrent_kernel.numpy()
    blocks = [recurrent_kernel[:, g * 8 : (g + 1) * 8] for g in range(3)]
    figures, _ = recurrent.check_recurrent(layer, normal(4, 5, 3))
    singular = np.concatenate([np.linalg.svd(b, compute_uv=False) for b in blocks])
    assert figures["recurrent_sv_min"] == pytest.approx(singular.min(), rel=1e-5)
    assert figures["recurrent_sv_max"] == pytest.approx(singular.max(), rel=1e-5)
    assert figures["spectral_radius"] == pytest.approx(max(abs(np.linalg.eigvals(b)).max() for b in blocks), rel=1e-5)


@pytest.mark.parametrize("cls", [keras.layers.LSTM, keras.layers.GRU, keras.layers.SimpleRNN])
def test_recurrent_kernel_times_5_is_an_expansive_recurrence(cls):
    x = normal(64, STEPS, FEATURES)
    layer = built(cls(UNITS), x)
    before, _ = recurrent.check_recurrent(layer, x)
    scale_recurrent_kernel(layer, 5.0)
    figures, findings = recurrent.check_recurrent(layer, x)
    assert figures["spectral_radius"] == pytest.approx(5 * before["spectral_radius"], rel=1e-4)
    problems = severities(findings, "problem")
    assert any("expansive recurrence" in p for p in problems), findings
    expansive = next(f for f in findings if "expansive" in f.text)
    assert "draw the recurrent kernel again" in expansive.suggestion  # orthogonal is in use: it was scaled


def test_radius_threshold_on_both_sides_with_an_lstm():
    x = normal(64, STEPS, FEATURES)
    layer = built(keras.layers.LSTM(UNITS), x)
    radius = recurrent.check_recurrent(layer, x)[0]["spectral_radius"]
    scale_recurrent_kernel(layer, 0.9 * recurrent.RADIUS_MAX / radius)
    below, found_below = recurrent.check_recurrent(layer, x)
    scale_recurrent_kernel(layer, 1.1 / 0.9)
    above, found_above = recurrent.check_recurrent(layer, x)
    assert below["spectral_radius"] < recurrent.RADIUS_MAX < above["spectral_radius"]
    assert below["influence_first"] < recurrent.GROWTH_MAX and above["influence_first"] < recurrent.GROWTH_MAX
    assert not any("expansive" in t for t in severities(found_below, "problem"))
    assert any("expansive" in t for t in severities(found_above, "problem"))


@pytest.mark.parametrize("gain, expansive", [(1.0, False), (1.2, True)])
def test_measured_growth_flags_a_recurrence_below_the_radius_threshold(gain, expansive):
    # Identity recurrence on tiny inputs: linear, so the first input's influence is gain ** (steps - 1).
    x = normal(16, 20, 4, std=1e-4)
    layer = built(keras.layers.SimpleRNN(8, recurrent_initializer=keras.initializers.Identity(gain=gain)), x)
    figures, findings = recurrent.check_recurrent(layer, x)
    assert figures["spectral_radius"] == pytest.approx(gain, rel=1e-5) and gain < recurrent.RADIUS_MAX
    assert figures["influence_first"] == pytest.approx(gain**19, rel=0.02)
    flagged = [f for f in findings if "expansive" in f.text]
    assert bool(flagged) == expansive
    if expansive:
        assert flagged[0].suggestion == "recurrent_initializer=Identity(gain=1.0) (in use with gain 1.2)"


def test_saturated_state_and_gates_on_both_sides():
    x = normal(64, 20, FEATURES)
    loud = keras.initializers.RandomNormal(stddev=3.0)
    rnn = built(keras.layers.SimpleRNN(UNITS, kernel_initializer=loud), x)
    figures, findings = recurrent.check_recurrent(rnn, x)
    assert figures["saturated_fraction"] > recurrent.SATURATED and figures["gates_saturated_fraction"] is None
    saturated = next(f for f in findings if "saturated state" in f.text)
    assert saturated.severity == "problem" and "glorot_uniform" in saturated.suggestion
    lstm = built(keras.layers.LSTM(UNITS, kernel_initializer=loud), x)
    figures, findings = recurrent.check_recurrent(lstm, x)
    assert figures["gates_saturated_fraction"] > recurrent.SATURATED
    assert any("saturated gates" in t for t in severities(findings, "problem"))
    quiet, quiet_findings = recurrent.check_recurrent(built(keras.layers.SimpleRNN(UNITS), x), x)
    assert quiet["saturated_fraction"] < recurrent.SATURATED
    assert not any("saturated" in f.text for f in quiet_findings)


def test_gate_values_are_the_cells_own():
    # A one-step sequence from a zero state: the LSTM's h equals o * tanh(i * g), built from the same gates.
    x = normal(16, 1, 4)
    layer = built(keras.layers.LSTM(6), x)
    gates = recurrent._gates(layer.cell, x, np.asarray(layer(x))[:, None])
    kernel, bias = layer.cell.kernel.numpy(), layer.cell.bias.numpy()
    pre = x[:, 0] @ kernel + bias
    sigmoid = 1 / (1 + np.exp(-pre))
    np.testing.assert_allclose(gates[:, 0], np.concatenate([sigmoid[:, :12], sigmoid[:, 18:]], axis=1), atol=1e-5)
    h = sigmoid[:, 18:] * np.tanh(sigmoid[:, :6] * np.tanh(pre[:, 12:18]))
    np.testing.assert_allclose(np.asarray(layer(x)), h, atol=1e-5)


def test_forget_bias_zero_is_a_note_and_one_is_not():
    x = normal(64, STEPS, FEATURES)
    zero = built(keras.layers.LSTM(UNITS, unit_forget_bias=False), x)
    figures, findings = recurrent.check_recurrent(zero, x)
    assert figures["forget_bias"] == 0.0
    note = next(f for f in findings if "forget-gate bias" in f.text)
    assert note.severity == "note" and note.suggestion.startswith("unit_forget_bias=True")
    figures, findings = recurrent.check_recurrent(built(keras.layers.LSTM(UNITS), x), x)
    assert figures["forget_bias"] == 1.0 and not any("forget-gate bias" in f.text for f in findings)


def test_default_gru_on_default_embeddings_forgets_its_first_token_and_the_suggested_bias_restores_memory():
    _, x = default_embeddings()
    layer = built(keras.layers.GRU(UNITS), x)
    figures, findings = recurrent.check_recurrent(layer, x)
    assert figures["input_std"] == pytest.approx(0.1 / np.sqrt(12), rel=0.05)  # uniform(-0.05, 0.05)
    assert figures["influence_first"] < 1e-5  # measured: 7.6e-07 (32 units, 30 steps)
    assert 5 < figures["memory_horizon"] < STEPS
    note = next(f for f in findings if "short memory" in f.text)
    assert note.severity == "note" and "bias[0, :units]" in note.suggestion
    assert severities(findings, "problem") == []
    bias = layer.cell.bias.numpy()
    bias[0, :UNITS] = 3.0  # the suggestion: z = sigmoid(3) = 0.95 keeps the state
    layer.cell.bias.assign(bias)
    kept, kept_findings = recurrent.check_recurrent(layer, x)
    assert kept["memory_horizon"] is None and kept["influence_first"] > 1e-2
    assert not any("short memory" in f.text for f in kept_findings)


def test_influence_equals_the_jacobian_norm_ratio():
    x = normal(64, 12, 6)
    layer = built(keras.layers.GRU(8), x)
    figures, _ = recurrent.check_recurrent(layer, x)
    tf = _tf()
    inputs = tf.constant(x)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(inputs)
        h = layer(inputs)
    jacobian = np.asarray(tape.batch_jacobian(h, inputs, experimental_use_pfor=False))  # [batch, units, steps, in]
    frobenius = np.sqrt((jacobian**2).sum(axis=(1, 3)).mean(axis=0))
    assert figures["influence_first"] == pytest.approx(frobenius[0] / frobenius[-1], rel=0.25)
    ratios = frobenius / frobenius[-1]
    expected = next((back for back in range(1, 12) if ratios[-1 - back] < 1e-3), None)
    assert figures["memory_horizon"] == expected


def test_go_backwards_reads_the_steps_in_reverse_and_bidirectional_checks_both():
    x = normal(32, 15, 5)
    forward = built(keras.layers.GRU(8), x)
    backward = built(keras.layers.GRU(8, go_backwards=True), x)
    backward.set_weights(forward.get_weights())
    ahead, _ = recurrent.check_recurrent(forward, x[:, ::-1])
    behind, _ = recurrent.check_recurrent(backward, x)
    for name in ("influence_first", "state_std", "memory_horizon", "spectral_radius"):
        assert behind[name] == pytest.approx(ahead[name], rel=1e-4)
    both = built(keras.layers.Bidirectional(keras.layers.LSTM(8, unit_forget_bias=False)), x)
    figures, findings = recurrent.check_recurrent(both, x)
    alone, _ = recurrent.check_recurrent(both.backward_layer, x)
    assert figures["backward_spectral_radius"] == alone["spectral_radius"]
    assert figures["forward_forget_bias"] == 0.0 == figures["backward_forget_bias"]
    forget = [f.text for f in findings if "forget-gate bias" in f.text]
    assert len(forget) == 2 and forget[0].startswith("forward direction") and forget[1].startswith("backward")


def test_checks_write_no_variable():
    x = normal(16, 10, 8)
    layers = [built(keras.layers.LSTM(8), x), built(keras.layers.Bidirectional(keras.layers.GRU(4)), x)]
    before = [[w.copy() for w in layer.get_weights()] for layer in layers]
    for layer in layers:
        recurrent.check_recurrent(layer, x)
    for layer, saved in zip(layers, before):
        for now, then in zip(layer.get_weights(), saved):
            np.testing.assert_array_equal(now, then)


def test_embedding_scale_on_both_sides():
    default, _ = default_embeddings()
    figures, findings = recurrent.check_embedding(default)
    assert figures["row_std"] == pytest.approx(0.1 / np.sqrt(12), rel=0.05)
    assert figures["row_norm"] == pytest.approx(np.sqrt(FEATURES) * 0.1 / np.sqrt(12), rel=0.05)
    assert [f.severity for f in findings] == ["note"] and "tiny embeddings" in findings[0].text
    assert findings[0].suggestion.startswith("embeddings_initializer=RandomNormal(stddev=1.0)")
    tokens = np.arange(100)[None]
    unit = built(keras.layers.Embedding(100, 16, embeddings_initializer="random_normal"), tokens)
    unit.embeddings.assign(normal(100, 16))
    assert recurrent.check_embedding(unit)[1] == []
    unit.embeddings.assign(normal(100, 16, std=20.0))
    assert "large embeddings" in recurrent.check_embedding(unit)[1][0].text


def attention(x, heads=4, key_dim=16):
    """A MultiHeadAttention built on x as self-attention."""
    layer = keras.layers.MultiHeadAttention(num_heads=heads, key_dim=key_dim)
    layer(x, x)
    return layer


def test_default_attention_on_unit_inputs_has_unit_logits_and_no_finding():
    x = normal(8, 12, 64)
    layer = attention(x)
    figures, findings = recurrent.check_attention(layer, x, x)
    assert findings == []
    assert recurrent.LOGITS_LOW < figures["logits_std"] < recurrent.LOGITS_HIGH
    assert 0.5 < figures["logits_std"] < 2  # Glorot projections and 1/sqrt(key_dim): unit scale, as designed
    assert recurrent.COLLAPSED < figures["entropy_fraction"] < 1
    for projection in ("query", "key", "value", "output"):
        assert figures[f"{projection}_target_std"] == pytest.approx(np.sqrt(2 / 128))
        assert figures[f"{projection}_scale_ratio"] == pytest.approx(1.0, rel=0.05)
    assert figures["positions"] == 12 and figures["heads"] == 4


def test_attention_logits_are_the_ones_keras_softmaxes():
    x, y = normal(4, 6, 32), normal(4, 9, 32, seed=3)
    layer = keras.layers.MultiHeadAttention(num_heads=2, key_dim=8)
    _, scores = layer(x, y, return_attention_scores=True)
    scores = np.asarray(scores, np.float64)  # [batch, heads, 6, 9]
    figures, _ = recurrent.check_attention(layer, x, y)
    entropy = -(scores * np.log(scores)).sum(axis=-1).mean() / np.log(9)
    assert figures["entropy_fraction"] == pytest.approx(entropy, rel=1e-4)
    logits = np.log(scores)  # a softmax row's log is its logits up to a constant: the same within-row spread
    assert figures["logits_std"] == pytest.approx(np.sqrt(logits.var(axis=-1).mean()), rel=1e-3)


def test_large_inputs_collapse_attention_small_ones_flatten_it():
    x = normal(8, 12, 64)
    layer = attention(x)
    loud, loud_findings = recurrent.check_attention(layer, 10 * x, 10 * x)
    assert loud["logits_std"] > recurrent.LOGITS_HIGH and loud["entropy_fraction"] < recurrent.COLLAPSED
    texts = [f.text for f in loud_findings]
    assert any("above the unit scale" in t for t in texts) and any("collapsed attention" in t for t in texts)
    assert all(f.severity == "note" and "LayerNormalization" in f.suggestion for f in loud_findings)
    quiet, quiet_findings = recurrent.check_attention(layer, 0.03 * x, 0.03 * x)
    assert quiet["logits_std"] < recurrent.LOGITS_LOW and quiet["entropy_fraction"] > 0.99
    assert [f.text.split(" at ")[0] for f in quiet_findings] == [f"attention logits' std {quiet['logits_std']:.3g}"]


def test_scaled_query_kernel_is_blamed_without_suggesting_glorot_as_new():
    x = normal(8, 12, 64)
    layer = attention(x)
    layer.query_dense.kernel.assign(layer.query_dense.kernel * 20.0)
    figures, findings = recurrent.check_attention(layer, x, x)
    assert figures["query_scale_ratio"] == pytest.approx(20.0, rel=0.05)
    assert findings and "draw the query and key kernels again with glorot_uniform (in use" in findings[0].suggestion
