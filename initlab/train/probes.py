"""Per-layer measurements on a fixed probe batch: activations, dead and saturated units, weights, gradients, symmetry."""

import numpy as np

from initlab.base import keras_private
from initlab.base.backend import tf as _tf
from initlab.train.residual import is_block_sum
from initlab.train.units import dead_fraction, distinct_units, saturated_fraction

PROBE_ROWS = 256
GRADIENT_SAMPLES = 4096  # kernel-gradient entries kept per layer and recorded epoch (evenly strided)


def gradient_sample(gradient: np.ndarray, count: int = GRADIENT_SAMPLES) -> np.ndarray:
    """At most about `count` of an array's entries (a kernel gradient's), evenly strided: what histograms.npz keeps."""
    flat = np.asarray(gradient).ravel()
    return flat[:: max(1, flat.size // count)]


def main_kernel(layer):
    """A layer's trainable kernel (a separable convolution's pointwise one), or None: the weight that LSUV rescales
    and whose gradient histograms.npz samples."""
    for name in ("pointwise_kernel", "kernel"):
        kernel = getattr(layer, name, None)
        if kernel is not None:
            return kernel if kernel.trainable else None
    return None


def model_inputs(model):
    """A model's inputs as its call takes them: the one input alone (Keras warns when a list of one meets an
    array), else the list."""
    return model.inputs[0] if len(model.inputs) == 1 else model.inputs


def activation_name(layer) -> str:
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "linear") if activation is not None else "linear"


def weighted(layer) -> bool:
    return getattr(layer, "kernel", None) is not None


class Probe:
    """Measures a compiled model's weighted layers (Dense, conv) on a fixed batch: by default the first
    min(256, n) training rows. A Sequential model's layers are called in order as a chain; a functional model
    (InitDiagnostics on a user's graph, the lab's residual net) runs as itself, with each weighted layer's output
    taken out, and each residual block's sum (residual.is_block_sum): a row without weights."""

    def __init__(self, model, x_train: np.ndarray, y_train: np.ndarray):
        tf = _tf()
        self.model = model
        self.x = tf.constant(x_train[:PROBE_ROWS])
        self.y = tf.constant(y_train[:PROBE_ROWS])
        self.chain = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
        self.layers = [layer for layer in self.chain if weighted(layer)]
        self.streams = [layer for layer in self.chain if is_block_sum(layer)]
        self.recorded = [layer for layer in self.chain if weighted(layer) or is_block_sum(layer)]  # layers.csv's rows
        self.extract = None
        if keras_private.is_functional(model):
            from initlab.base.backend import keras

            watched = [layer.output for layer in self.layers + self.streams]
            self.extract = keras().Model(model.inputs, watched + list(model.outputs))
        self._forward = tf.function(self.forward_and_gradients, autograph=False)  # no tensor-dependent control flow

    def forward_and_gradients(self, x, y):
        """Each weighted layer's outputs on x, the loss gradient for each kernel (zeros where none flows), and each
        block sum's outputs."""
        tf = _tf()
        kernels = [layer.kernel for layer in self.layers]
        streams = []
        with tf.GradientTape() as tape:
            outputs, a = [], x
            if self.extract is not None:
                *outputs, a = self.extract(x, training=False)
                outputs, streams = outputs[: len(self.layers)], outputs[len(self.layers):]
            else:
                for layer in self.chain:
                    a = layer(a, training=False)
                    if weighted(layer):
                        outputs.append(a)
            loss = self.model.compute_loss(x=x, y=y, y_pred=a, training=False)
        grads = tape.gradient(loss, kernels)
        return outputs, [tf.zeros_like(k) if g is None else g for g, k in zip(grads, kernels)], streams

    def measure(self, epoch: int) -> tuple[list[dict], dict[str, np.ndarray]]:
        """One row per recorded layer (output last) with the columns of layers.csv, and raw samples: each weighted
        layer's outputs ('<layer>') and up to GRADIENT_SAMPLES entries of its kernel's gradient ('<layer>/gradient')."""
        outputs, grads, streams = self._forward(self.x, self.y)
        rows, samples = [], {}
        for layer, a in zip(self.streams, streams):
            rows.append(stream_row(epoch, layer.name, a.numpy()))
        for layer, a, g in zip(self.layers, outputs, grads):
            samples[layer.name] = a = a.numpy()
            samples[f"{layer.name}/gradient"] = gradient_sample(g.numpy())
            kernel = layer.kernel.numpy().astype(np.float64)
            units = kernel.shape[-1]
            kernel = kernel.reshape(-1, units)
            bias = layer.bias.numpy() if getattr(layer, "bias", None) is not None else np.zeros(units)
            a = a.reshape(-1, units).astype(np.float64)  # float32 sums overflow when a run blows up
            act = activation_name(layer)
            rows.append({
                "epoch": epoch,
                "layer": layer.name,
                "units": units,
                "activation_mean": float(a.mean()),
                "activation_std": float(a.std()),
                "dead_fraction": dead_fraction(act, a),
                "saturated_fraction": saturated_fraction(act, a),
                "weight_mean": float(kernel.mean()),
                "weight_std": float(kernel.std()),
                "grad_norm": float(np.linalg.norm(g.numpy().astype(np.float64))),
                "distinct_units": distinct_units(kernel, bias),
            })
        order = [layer.name for layer in self.recorded]
        return sorted(rows, key=lambda row: order.index(row["layer"])), samples


def stream_row(epoch: int, name: str, a: np.ndarray) -> dict:
    """A residual block's sum in layers.csv: its output's statistics; no weights, so no weight columns (NaN, an
    empty cell) and no distinct units (None)."""
    a = a.reshape(-1, a.shape[-1]).astype(np.float64)
    return {"epoch": epoch, "layer": name, "units": a.shape[-1], "activation_mean": float(a.mean()),
            "activation_std": float(a.std()), "dead_fraction": 0.0, "saturated_fraction": 0.0,
            "weight_mean": np.nan, "weight_std": np.nan, "grad_norm": np.nan, "distinct_units": None}
