"""Lu, Shin, Su and Karniadakis 2019's randomized asymmetric initialization (RAI) as a Keras initializer.

Per layer, V = [W; b] of shape (fan_in + 1, units): every entry N(0, sigma^2 / fan_in), then in each unit's column
one entry, chosen uniformly among its fan_in weights and its bias, replaced by a Beta(2, 1) draw (positive: the
asymmetry that keeps some unit of a narrow layer alive). The kernel is V's first fan_in rows, the bias its last
row: both are drawn from one seed (the kernel's; initializers.bias_seed pairs them), so that every unit has exactly
one asymmetric entry, as in the paper's definition and its public code (sigma = 0.6007)."""

import math

from initlab.base.backend import keras as _keras, tf as _tf

SIGMA = 0.6007  # the paper's sigma for P = Beta(2, 1), as its public code sets it
BETA_MEAN, BETA_SECOND_MOMENT = 2 / 3, 1 / 2  # Beta(2, 1): density 2x on [0, 1]


def augmented(seed, fan_in: int, units: int, sigma: float = SIGMA):
    """V = [W; b], (fan_in + 1, units), drawn from `seed` (an int, or a seed generator handing out a [2] tensor).

    One uniform draw of (2 (fan_in + 1) + 1, units) gives it all, through inverse CDFs: the symmetric entries
    (Phi^-1 of the first fan_in + 1 rows, at the centres of float32's 2^-24 grid: normal to 5.3 sigma), the chosen
    entry of each column (the largest of the next fan_in + 1 rows: uniform over them) and the Beta(2, 1) value
    (sqrt of the last row). One random op a draw: the lab's batched draws vectorize the rest."""
    tf = _tf()
    base = seed.next() if hasattr(seed, "next") else tf.constant([seed, 0], tf.int64)
    rows = fan_in + 1
    uniform = tf.random.stateless_uniform((2 * rows + 1, units), seed=tf.cast(base, tf.int64))
    centred = tf.cast(uniform[:rows], tf.float64) + 2.0**-24
    normal = tf.cast(tf.math.ndtri(centred), tf.float32) * (sigma / fan_in**0.5)
    chosen = tf.one_hot(tf.argmax(uniform[rows : 2 * rows], axis=0), rows, axis=0)
    positive = tf.sqrt(uniform[2 * rows :])  # Beta(2, 1): P(X <= x) = x^2
    return normal * (1 - chosen) + positive * chosen


def _initializer_class():
    keras = _keras()

    @keras.saving.register_keras_serializable(package="initlab")
    class RandomizedAsymmetric(keras.initializers.Initializer):
        """RAI: a kernel (fan_in, units) is V's weights; a bias (units,) is V's last row, given the layer's fan_in."""

        def __init__(self, seed=None, sigma: float = SIGMA, fan_in: int | None = None):
            self.seed, self.sigma, self.fan_in = (0 if seed is None else seed), sigma, fan_in

        def __call__(self, shape, dtype=None):
            if len(shape) >= 2:  # a convolution's kernel: its receptive field times its input channels feed a unit
                fan_in = int(math.prod(shape[:-1]))
                values = _tf().reshape(augmented(self.seed, fan_in, shape[-1], self.sigma)[:fan_in], shape)
            elif len(shape) == 1 and self.fan_in is not None:
                values = augmented(self.seed, self.fan_in, shape[0], self.sigma)[self.fan_in]
            else:
                raise ValueError(f"randomized_asymmetric draws a kernel, or a bias given its layer's fan_in; "
                                 f"got shape {tuple(shape)}")
            return _tf().cast(values, dtype or "float32")

        def get_config(self):
            seed = self.seed if isinstance(self.seed, int) else None
            return {"seed": seed, "sigma": self.sigma, "fan_in": self.fan_in}

    return RandomizedAsymmetric


_made: list = []


def initializer_class():
    """The Keras class (made once: it imports Keras)."""
    if not _made:
        _made.append(_initializer_class())
    return _made[0]
