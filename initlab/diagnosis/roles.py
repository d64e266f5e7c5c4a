"""Layer roles from a model's graph: which nonlinearity really follows a weighted layer, whether a normalization
sits in between, and whether the layer ends a residual branch."""

from collections import deque
from dataclasses import dataclass

from initlab.base import keras_private

NORMALIZATION = {"BatchNormalization", "LayerNormalization", "GroupNormalization", "RMSNormalization",
                 "UnitNormalization"}
PASS_THROUGH = {  # change shape or drop units, not the kind of signal
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianDropout", "GaussianNoise",
    "AlphaDropout", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
    "AveragePooling3D", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "Reshape", "Flatten", "ZeroPadding1D",
    "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D", "Permute", "UpSampling1D",
    "UpSampling2D", "UpSampling3D", "Concatenate", "Identity", "RepeatVector",
    "StochasticDepth",  # drops a whole residual branch per sample (ConvNeXt): a dropout
}
# keras.ops called on symbolic tensors become graph operations of these classes
OP_ACTIVATIONS = {"Relu": "relu", "Relu6": "relu6", "Gelu": "gelu", "Silu": "silu", "Sigmoid": "sigmoid",
                  "Tanh": "tanh", "Softmax": "softmax", "Elu": "elu", "Selu": "selu", "LeakyRelu": "leaky_relu",
                  "Softplus": "softplus", "HardSilu": "hard_silu", "Mish": "mish"}


@dataclass
class Role:
    nonlinearity: str = "linear"   # what the layer's output passes through first
    applied_by: object = None      # the graph node whose output is after that nonlinearity
    normalization: str | None = None  # the kind of normalization met on the way to it
    residual: object = None        # the Add node the layer's branch ends in
    branch_input: int | None = None  # which of that Add's inputs the branch is


def graph(model):
    """The Functional graph of a model (a built Sequential keeps one inside), or None for a subclassed model."""
    return keras_private.functional_graph(model)


def nodes(fn) -> list:
    """The graph's computing nodes in an order where every node comes after the nodes it reads from."""
    by_depth = keras_private.nodes_by_depth(fn)
    return [node for depth in sorted(by_depth, reverse=True) for node in by_depth[depth]
            if node.operation is not None and not node.is_input]


def activation_of(operation) -> str | None:
    """The nonlinearity an operation applies, or None when it is not an activation."""
    kind = type(operation).__name__
    if kind in OP_ACTIVATIONS:
        return OP_ACTIVATIONS[kind]
    if kind == "Activation":
        name = getattr(operation.activation, "__name__", "linear")
        return None if name == "linear" else name
    if kind == "ReLU":
        if getattr(operation, "negative_slope", 0):
            return "leaky_relu"
        return "relu6" if getattr(operation, "max_value", None) == 6 else "relu"
    return {"LeakyReLU": "leaky_relu", "PReLU": "prelu", "ELU": "elu", "Softmax": "softmax"}.get(kind)


def own_activation(layer) -> str:
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "linear") if activation is not None else "linear"


def consumers(fn) -> dict[int, list]:
    """id(tensor) -> the nodes that read it."""
    readers: dict[int, list] = {}
    for node in nodes(fn):
        for tensor in node.input_tensors:
            readers.setdefault(id(tensor), []).append(node)
    return readers


def role(node, readers: dict[int, list]) -> Role:
    """Follow a weighted layer's output forward (breadth first) through normalization, dropout, pooling, reshapes
    and residual additions to the first nonlinearity."""
    own = own_activation(node.operation)
    if own != "linear":
        return Role(own, node)
    found = Role(applied_by=node)
    queue = deque((tensor, None, None, None) for tensor in node.outputs[:1])
    seen = set()
    while queue:
        tensor, normalization, residual, branch_input = queue.popleft()
        for reader in readers.get(id(tensor), []):
            if id(reader) in seen:
                continue
            seen.add(id(reader))
            operation, kind = reader.operation, type(reader.operation).__name__
            nonlinearity = activation_of(operation)
            if nonlinearity:
                return Role(nonlinearity, reader, normalization, residual, branch_input)
            if kind == "Add" and len(reader.input_tensors) > 1:
                index = [id(t) for t in reader.input_tensors].index(id(tensor))
                step = (normalization, residual or reader, branch_input if residual else index)
            elif kind in NORMALIZATION:
                step = (normalization or kind, residual, branch_input)
            elif kind in PASS_THROUGH or (kind == "Activation" and nonlinearity is None):
                step = (normalization, residual, branch_input)
            else:
                continue  # another weighted layer or an operation that changes the signal: this path ends
            if found.normalization is None and step[0] is not None:
                found.normalization = step[0]
                found.applied_by = reader  # no nonlinearity follows: the signal that matters is the normalized one
            if found.residual is None and step[1] is not None:
                found.residual, found.branch_input = step[1], step[2]
            queue.extend((out, *step) for out in reader.outputs[:1])
    return found

