"""Keras's private attributes that initlab reads (initlab/base/keras_private.py), each on the layers it is read on:
a Keras upgrade that moves one fails here by name."""

import numpy as np

from initlab.base import keras_private
from initlab.base.backend import keras


def _functional():
    k = keras()
    inputs = k.Input((6,))
    hidden = k.layers.Dense(4, activation="relu", name="hidden")(inputs)
    return k.Model(inputs, k.layers.Dense(1, name="out")(hidden))


def test_a_layer_tree_reaches_cells_directions_and_projections():
    k = keras()
    model = k.Sequential([k.Input((5, 3)), k.layers.Bidirectional(k.layers.GRU(4), name="bi"), k.layers.Dense(2)])
    names = {type(layer).__name__ for layer in keras_private.sublayers(model)}
    assert {"Bidirectional", "GRU", "GRUCell", "Dense"} <= names
    assert model not in keras_private.sublayers(model)
    assert keras_private.sublayers(model, include_self=True)[0] is model
    attention = k.layers.MultiHeadAttention(num_heads=2, key_dim=3)
    attention(np.zeros((1, 4, 6), "float32"), np.zeros((1, 4, 6), "float32"))
    kinds = [type(layer).__name__ for layer in keras_private.sublayers(attention)]
    assert kinds.count("EinsumDense") == 4  # query, key, value and output projections


def test_graphs_of_functional_sequential_and_subclassed_models():
    k = keras()
    functional = _functional()
    assert keras_private.functional_graph(functional) is functional and keras_private.is_functional(functional)
    sequential = k.Sequential([k.Input((6,)), k.layers.Dense(3)])
    assert keras_private.functional_graph(sequential) is not None and not keras_private.is_functional(sequential)

    class Subclassed(k.Model):
        def __init__(self):
            super().__init__()
            self.dense = k.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    subclassed = Subclassed()
    subclassed(np.zeros((1, 3), "float32"))
    assert keras_private.functional_graph(subclassed) is None and not keras_private.is_functional(subclassed)
    by_depth = keras_private.nodes_by_depth(functional)
    operations = [node.operation.name for depth in sorted(by_depth, reverse=True) for node in by_depth[depth]
                  if node.operation is not None and not node.is_input]
    assert operations == ["hidden", "out"]  # outputs at depth 0: deepest first is the order the graph runs


def test_own_variables_are_the_layers_own():
    k = keras()
    norm = k.layers.BatchNormalization()
    norm.build((None, 3))
    names = [v.name for v in keras_private.own_variables(norm)]
    assert names[:2] == ["gamma", "beta"] and set(names[2:]) == {"moving_mean", "moving_variance"}
    rnn = k.layers.LSTM(2)
    rnn.build((None, 4, 3))
    assert keras_private.own_variables(rnn) == []  # the cell holds them
    assert len(keras_private.own_variables(rnn.cell)) == 3


def test_attention_contracts_key_and_query_as_keras_does():
    k = keras()
    layer = k.layers.MultiHeadAttention(num_heads=2, key_dim=3)
    rng = np.random.default_rng(0)
    query, value = rng.normal(size=(2, 4, 6)).astype("float32"), rng.normal(size=(2, 5, 6)).astype("float32")
    _, scores = layer(query, value, return_attention_scores=True)
    q, key = layer.query_dense(query), layer.key_dense(value)
    logits = k.ops.einsum(keras_private.attention_equation(layer), key, k.ops.multiply(q, 1.0 / np.sqrt(3.0)))
    assert keras_private.attention_axes(layer) == (1,)
    np.testing.assert_allclose(np.asarray(k.ops.softmax(logits, axis=-1)), np.asarray(scores), rtol=1e-5, atol=1e-6)
