"""The role each variable of any Keras model plays, as an `init` section names them: kernel, depthwise, recurrent,
embedding, attention, bias, norm_scale, norm_shift, or state (moving statistics and the like, never trainable)."""

from dataclasses import dataclass

from initlab.base import keras_private
from initlab.base.backend import keras as _keras
from initlab.diagnosis import fans

NORMALIZATION_SCALE, NORMALIZATION_SHIFT = "gamma", "beta"


@dataclass(frozen=True)
class Weight:
    """One variable of a model with what it is for."""
    layer: str  # the top-level layer holding it (a name in the model's summary)
    owner: object  # the layer or sublayer that holds it itself (an LSTM's cell, an attention's projection)
    variable: object
    name: str  # its short name: kernel, recurrent_kernel, depthwise_kernel, embeddings, gamma, ...
    role: str


def weights(model) -> list[Weight]:
    """Every variable of the model once, in the order of model.weights' layers, each with its role."""
    found, seen = [], set()
    for layer in model.layers:
        for owner in keras_private.sublayers(layer, include_self=True):
            for variable in keras_private.own_variables(owner):
                if id(variable) in seen:
                    continue
                seen.add(id(variable))
                name = variable.path.rsplit("/", 1)[-1]
                found.append(Weight(layer.name, owner, variable, name, role_of(layer, owner, name, variable)))
    return found


def role_of(layer, owner, name: str, variable) -> str:
    layers = _keras().layers
    if not variable.trainable:
        return "state"
    if isinstance(owner, layers.Embedding) and name == "embeddings":
        return "embedding"
    if name == "recurrent_kernel":
        return "recurrent"
    if fans.is_depthwise(owner, name):
        return "depthwise"
    if name == "bias":
        return "bias"
    if name == NORMALIZATION_SCALE:
        return "norm_scale"
    if name == NORMALIZATION_SHIFT:
        return "norm_shift"
    if name in ("kernel", "pointwise_kernel"):
        return "attention" if isinstance(layer, layers.MultiHeadAttention) else "kernel"
    return "other"


def roles_present(model) -> list[str]:
    """The settable roles this model has, in the `init` section's order."""
    from initlab.config.user_experiment import ROLES

    present = {w.role for w in weights(model)}
    return [role for role in ROLES if role in present]
