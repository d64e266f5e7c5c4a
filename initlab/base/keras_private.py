"""The private parts of Keras that initlab reads, all in one place (Keras has no public API for them).

A Keras upgrade that moves one of them breaks tests/test_keras_private.py by name, not a checklist deep inside.
Read here: a model's layer tree (`_flatten_layers`), its graph by depth (`_functional`, `_nodes_by_depth`), a
layer's own variables (`_trainable_variables`, `_non_trainable_variables`) and how MultiHeadAttention contracts
its query with its key (`_dot_product_equation`, `_attention_axes`)."""


def sublayers(layer, include_self: bool = False, recursive: bool = True) -> list:
    """Every layer inside `layer`: RNN cells, Bidirectional's directions, attention's projections, nested models."""
    return list(layer._flatten_layers(include_self=include_self, recursive=recursive))


def functional_graph(model):
    """The Functional graph of a model (a built Sequential keeps one inside), or None for a subclassed model."""
    inner = getattr(model, "_functional", None)
    if inner is not None:
        return inner
    return model if hasattr(model, "_nodes_by_depth") else None


def is_functional(model) -> bool:
    """A Functional model itself (not a Sequential, whose graph is inside it, nor a subclassed model)."""
    return getattr(model, "_functional", None) is None and hasattr(model, "_nodes_by_depth")


def nodes_by_depth(graph) -> dict:
    """{depth: [node, ...]} of a Functional graph; the outputs are at depth 0."""
    return graph._nodes_by_depth


def own_variables(layer) -> list:
    """The variables a layer holds itself (not its sublayers'), trainable first."""
    return list(layer._trainable_variables) + list(layer._non_trainable_variables)


def attention_equation(layer) -> str:
    """The einsum MultiHeadAttention contracts its key and scaled query with (in `_compute_attention`)."""
    return layer._dot_product_equation


def attention_axes(layer) -> tuple:
    """The axes MultiHeadAttention attends over."""
    return tuple(layer._attention_axes)
