"""Residual blocks for the lab's MLP (`model.residual`): after the hidden layers, `blocks` blocks x + f(x) at the
last hidden width, in the full pre-activation form of He, Zhang, Ren and Sun 2016 ("Identity Mappings in Deep
Residual Networks", Fig. 4e): f = [normalization ->] activation -> Dense, `branch_layers` times, and nothing after
the sum, so the stream from the stem to the output is a sum of branches.

Branch initializations (`branch_init`):
- standard: every Dense draws the config's initializers.
- skipinit: f(x) is multiplied by a trainable scalar alpha that starts at 0, so each block starts as the identity
  (De and Smith 2020, "Batch Normalization Biases Residual Blocks Towards the Identity Function", SkipInit; ReZero,
  Bachlechner et al. 2020, is the same scalar).
- fixup: the last Dense of each branch starts at zero and the branch's other Dense layers' draws are multiplied by
  blocks^(-1/(2m-2)), m = branch_layers (Zhang, Dauphin and Ma 2019, "Fixup Initialization", Section 3, rules 1
  and 2 for the branches; with m = 1 only the zero start applies). Left out: the zero classifier and rule 3's scalar
  multiplier and biases (each Dense keeps its own bias).

Layer names: block_01_norm_1, block_01_act_1, block_01_dense_1, ..., block_01_scale (skipinit), block_01_sum.
"""

import functools

import numpy as np

from initlab.base.backend import keras as _keras
from initlab.config import initializers
from initlab.train import initializer_factory

NORMALIZATION = {"batch": "BatchNormalization", "layer": "LayerNormalization"}


def block_name(block: int, part: str) -> str:
    """'block_01_dense_1': zero-padded so that the names sort in depth order (Keras names cannot hold '/')."""
    return f"block_{block:02d}_{part}"


def fixup_factor(blocks: int, branch_layers: int) -> float:
    """Fixup's rescaling of a branch's inner layers, L^(-1/(2m-2)); 1 when m = 1 (there is no inner layer)."""
    return 1.0 if branch_layers == 1 else blocks ** (-1 / (2 * branch_layers - 2))


def layer_index(n_hidden: int, block: int, j: int, branch_layers: int) -> int:
    """The seed index of block `block`'s j-th Dense (1-based both): after the stem's and the output's, which keep
    the plain MLP's (so the stem and output draw what they draw without blocks)."""
    return n_hidden + 1 + (block - 1) * branch_layers + (j - 1)


@functools.cache
def scale_class():
    """SkipInit's scalar as a Keras layer, registered as 'initlab>SkipInitScale' so model.keras loads in safe mode."""
    keras = _keras()

    class SkipInitScale(keras.layers.Layer):
        """x * alpha: one trainable scalar, 0 at the start (the residual branch switched off)."""

        def build(self, input_shape):
            self.alpha = self.add_weight(shape=(), initializer="zeros", trainable=True, name="alpha")

        def call(self, inputs):
            return inputs * self.alpha

        def compute_output_shape(self, input_shape):
            return input_shape

    return keras.saving.register_keras_serializable(package="initlab")(SkipInitScale)


def blocks(x, config):
    """The residual blocks applied to the stem's output tensor x; their Dense layers get seeded initializers."""
    keras = _keras()
    spec, res = config.model, config.model.residual
    width, n_hidden, m = spec.hidden[-1], len(spec.hidden), res.branch_layers
    for b in range(1, res.blocks + 1):
        h = x
        for j in range(1, m + 1):
            if res.normalization != "none":
                h = getattr(keras.layers, NORMALIZATION[res.normalization])(name=block_name(b, f"norm_{j}"))(h)
            h = keras.layers.Activation(spec.activation, name=block_name(b, f"act_{j}"))(h)
            index = layer_index(n_hidden, b, j, m)
            zero = res.branch_init == "fixup" and j == m
            kernel = initializers.parse("zeros") if zero else spec.kernel_initializer
            h = keras.layers.Dense(
                width, name=block_name(b, f"dense_{j}"),
                kernel_initializer=initializer_factory.make(kernel, initializers.layer_seed(config.seed, index, 0)),
                bias_initializer=initializer_factory.make(
                    spec.bias_initializer, initializers.bias_seed(spec.bias_initializer, config.seed, index), width),
            )(h)
        if res.branch_init == "skipinit":
            h = scale_class()(name=block_name(b, "scale"))(h)
        x = keras.layers.Add(name=block_name(b, "sum"))([x, h])
    return x


def apply_fixup(model, config) -> None:
    """Fixup's rescaling of each branch's inner Dense layers (the last ones were drawn at zero)."""
    res = config.model.residual
    factor = fixup_factor(res.blocks, res.branch_layers)
    if res.branch_init != "fixup" or factor == 1.0:
        return
    for b in range(1, res.blocks + 1):
        for j in range(1, res.branch_layers):
            kernel = model.get_layer(block_name(b, f"dense_{j}")).kernel
            kernel.assign(kernel.numpy() * np.float32(factor))


def is_block_sum(layer) -> bool:
    """A residual block's output: the layers.csv row of the stream after that block."""
    name = layer.name
    return type(layer).__name__ == "Add" and name.startswith("block_") and name.endswith("_sum")


def dense_names(blocks_: int, branch_layers: int) -> list[str]:
    """The blocks' Dense layers in graph order: block_01_dense_1, block_01_dense_2, block_02_dense_1, ..."""
    return [block_name(b, f"dense_{j}") for b in range(1, blocks_ + 1) for j in range(1, branch_layers + 1)]


def branch_weights(config) -> list[tuple[np.ndarray, np.ndarray]]:
    """(kernel, bias) of each block's Dense layers in graph order, as blocks() and apply_fixup() give them: the same
    initializer calls, shapes and layer seeds, Fixup's zero last layer and float32 factor."""
    spec, res = config.model, config.model.residual
    width, n_hidden, m = spec.hidden[-1], len(spec.hidden), res.branch_layers
    factor = np.float32(fixup_factor(res.blocks, m))
    weights = []
    for b in range(1, res.blocks + 1):
        for j in range(1, m + 1):
            index = layer_index(n_hidden, b, j, m)
            zero = res.branch_init == "fixup" and j == m
            kernel_spec = initializers.parse("zeros") if zero else spec.kernel_initializer
            kernel = np.asarray(initializer_factory.make(kernel_spec, initializers.layer_seed(config.seed, index, 0))(
                (width, width), dtype="float32"), np.float32)
            bias_seed = initializers.bias_seed(spec.bias_initializer, config.seed, index)  # as blocks() takes it
            bias = np.asarray(initializer_factory.make(spec.bias_initializer, bias_seed, width)(
                (width,), dtype="float32"), np.float32)
            if res.branch_init == "fixup" and not zero and factor != 1.0:
                kernel = kernel * factor
            weights.append((kernel, bias))
    return weights
