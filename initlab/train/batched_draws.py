"""Many runs' initial weights drawn at once: one initializer call per layer over K run seeds (tf.vectorized_map),
each member's kernel and bias equal to the ones its solo run draws (population.initial_weights, model.build); and
the normalized squared length of one fixed input's activations through each member, layer by layer."""

import numpy as np

from initlab.base.backend import keras as _keras, tf as _tf
from initlab.config import initializers
from initlab.train import initializer_factory, randomized_asymmetric

CHUNK = 250  # members drawn at once: 250 kernels of 128 x 128 are 16 MB a layer


def _fed_seed():
    """A Keras seed generator that hands out the seed it is fed: each member's, inside the vectorized call."""
    keras = _keras()

    class Fed(keras.random.SeedGenerator):
        def __init__(self):  # no state of its own: every draw takes the seed fed to it
            self.current = None

        def next(self, ordered=True):
            return self.current

    return Fed()


_traced: dict = {}  # (initializer, shape) -> its draw over many seeds, traced once


def _over_seeds(key, draw_one, seeds: list[int]) -> np.ndarray:
    """[len(seeds), ...]: draw_one(fed seed generator) for every seed, in one vectorized op traced once per key."""
    tf = _tf()
    if key not in _traced:
        fed = _fed_seed()
        one_draw = draw_one(fed)

        def one(seed):
            fed.current = tf.stack([seed, tf.zeros_like(seed)])  # keras.random.draw_seed of an int seed: [seed, 0]
            return one_draw()

        _traced[key] = tf.function(lambda seeds: tf.vectorized_map(one, seeds),
                                   input_signature=[tf.TensorSpec([None], tf.int64)])
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")  # tracing warns that the stateless draws run as a loop inside the graph: expected here
    try:
        return np.asarray(_traced[key](tf.constant(seeds, tf.int64)))
    finally:
        logger.setLevel(level)


def draw(spec, shape: tuple, seeds: list[int], fan_in: int | None = None) -> np.ndarray:
    """[len(seeds), *shape]: what initializer_factory.make(spec, seed, fan_in)(shape) draws for each seed, in one op."""
    parsed = initializers.parse(spec)
    if "seed" not in initializers.REGISTRY[parsed.canonical].params:  # zeros, ones, constant: the same for every seed
        return np.broadcast_to(np.asarray(initializer_factory.make(parsed)(shape, dtype="float32")), (len(seeds), *shape))

    def draw_one(fed):
        initializer = initializer_factory.make(parsed, fed, fan_in)
        return lambda: initializer(shape, dtype="float32")

    return _over_seeds((repr(parsed), tuple(shape), fan_in), draw_one, seeds)


def draw_augmented(spec, fan_in: int, units: int, seeds: list[int]) -> np.ndarray:
    """[len(seeds), fan_in + 1, units]: randomized_asymmetric's [W; b] for each kernel seed, in one op."""
    sigma = initializers.parse(spec).params["sigma"]
    return _over_seeds(("augmented", sigma, fan_in, units),
                       lambda fed: lambda: randomized_asymmetric.augmented(fed, fan_in, units, sigma), seeds)


def _drawn_together(layer) -> bool:
    """A kernel and bias both randomized_asymmetric with one sigma: one draw of [W; b] gives both (as solo runs draw
    it twice from the kernel's seed and keep their part)."""
    kernel, bias = initializers.parse(layer.kernel_initializer), initializers.parse(layer.bias_initializer, "bias")
    return kernel.canonical == bias.canonical == "randomized_asymmetric" and kernel.params == bias.params


def hidden_weights(config, n_features: int, seeds: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(kernels [K, fan_in, units], biases [K, units]) per hidden layer of the runs with these seeds, as
    population.initial_weights draws them (the same initializer, shape and layer seed)."""
    if config.model.set_weights is not None or config.model.data_init is not None:
        raise ValueError("batched draws cover the initializers alone, not model.set_weights or model.data_init")
    weights, fan_in = [], n_features
    for i, layer in enumerate(config.model.hidden_layers()):
        kernel_seeds = [initializers.layer_seed(s, i, 0) for s in seeds]
        if _drawn_together(layer):
            both = draw_augmented(layer.kernel_initializer, fan_in, layer.units, kernel_seeds)
            kernel, bias = both[:, :fan_in], both[:, fan_in]
        else:
            kernel = draw(layer.kernel_initializer, (fan_in, layer.units), kernel_seeds)
            bias = draw(layer.bias_initializer, (layer.units,), [initializers.bias_seed(layer.bias_initializer, s, i)
                                                                  for s in seeds], fan_in)
        weights.append((kernel, bias))
        fan_in = layer.units
    return weights


def squared_lengths(config, x: np.ndarray, seeds: list[int]) -> np.ndarray:
    """[K, hidden layers]: M_j = ||a_j||^2 / n_j, the activations a_j of the one input x after hidden layer j of
    each run (seed), drawn CHUNK runs at a time."""
    tf, keras = _tf(), _keras()
    activations = [keras.activations.get(layer.activation) for layer in config.model.hidden_layers()]
    found = []
    for start in range(0, len(seeds), CHUNK):
        part = list(seeds[start : start + CHUNK])
        a = tf.tile(tf.constant(x, tf.float32)[None, None, :], [len(part), 1, 1])  # [K, 1, n_0]
        lengths = []
        for (kernel, bias), activation in zip(hidden_weights(config, len(x), part), activations):
            a = activation(tf.matmul(a, kernel) + bias[:, None, :])
            lengths.append(np.mean(np.asarray(a, np.float64)[:, 0, :] ** 2, axis=1))
        found.append(np.stack(lengths, axis=1))
    return np.concatenate(found)
