"""A Keras optimizer whose learning rate is multiplied per variable: muP's per-layer rates in model.fit, and a
population's per-member rates (a factor shaped [K, 1, ...] that broadcasts over the members' stacked weights).

Keras applies one learning rate to every variable. The subclass passes `learning_rate * factor` to the optimizer's
own update_step (and its weight decay), so the arithmetic of each update stays Keras's. It is registered as
`initlab>PerVariable<Optimizer>`: a muP run's model.keras loads with its rates in any process that has imported
this module (importing it registers the SGD, Adam and AdamW ones), or with `compile=False` without it.
"""

import functools

from initlab.base.backend import keras as _keras, tf as _tf


@functools.cache
def _subclass(base):
    keras = _keras()

    class PerVariableRates(base):
        def __init__(self, *args, rates=None, **kwargs):
            super().__init__(*args, **kwargs)
            self.rates = dict(rates or {})  # '<layer>/<variable>' (or a tf.Variable's own name) -> factor

        def _factor(self, variable):
            # update_step sees the tf.Variable under a Keras variable: 'mlp/hidden_1/kernel:0'
            name = getattr(variable, "path", None) or variable.name.split(":")[0]
            return self.rates.get("/".join(name.split("/")[-2:]))

        def update_step(self, gradient, variable, learning_rate):
            factor = self._factor(variable)
            return super().update_step(gradient, variable, learning_rate if factor is None else learning_rate * factor)

        def _apply_weight_decay(self, variables):
            if self.weight_decay is None:
                return
            tf = _tf()
            for variable in variables:
                if self._use_weight_decay(variable):
                    factor = self._factor(variable)
                    lr = tf.cast(self.learning_rate, variable.dtype)
                    lr = lr if factor is None else lr * factor
                    variable.assign_sub(variable * tf.cast(self.weight_decay, variable.dtype) * lr)

        def get_config(self):
            return {**super().get_config(), "rates": {k: float(v) for k, v in self.rates.items() if isinstance(v, float)}}

    PerVariableRates.__name__ = PerVariableRates.__qualname__ = f"PerVariable{base.__name__}"
    return keras.saving.register_keras_serializable(package="initlab")(PerVariableRates)


def optimizer(name: str, learning_rate: float, rates: dict):
    """The Keras optimizer `name` at `learning_rate`, each variable's rate multiplied by rates.get(its path, 1)."""
    base = _keras().optimizers.get(name).__class__
    return _subclass(base)(learning_rate=learning_rate, rates=rates)


for _name in ("sgd", "adam", "adamw"):  # the optimizers muP allows, registered for keras.saving.load_model
    _subclass(_keras().optimizers.get(_name).__class__)
