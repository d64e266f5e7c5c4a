"""Per-layer measurements on a fixed probe batch: activations, dead and saturated units, weights, gradients, symmetry."""

import numpy as np

from .backend import tf as _tf

PROBE_ROWS = 256
COLUMNS = [
    "epoch", "layer", "units", "activation_mean", "activation_std", "dead_fraction", "saturated_fraction",
    "weight_mean", "weight_std", "grad_norm", "distinct_units",
]
RELU_FAMILY = {"relu", "relu6"}


def distinct_units(kernel: np.ndarray, bias: np.ndarray, rtol: float = 1e-6) -> int:
    """How many different functions a layer's units compute: units whose incoming weights and bias agree
    within rtol times the layer's largest weight count once."""
    units = np.concatenate([kernel, bias.reshape(1, -1)], axis=0).T.astype(np.float64)
    tolerance = rtol * float(np.abs(units).max(initial=0.0))
    # Units within the tolerance of each other project within tolerance * sum|r| of each other on any r:
    # sorting by one projection leaves only near neighbours to compare (O(n log n) when all differ).
    r = np.random.default_rng(0).choice([-1.0, 1.0], size=units.shape[1])
    projection = units @ r
    window = tolerance * np.abs(r).sum()
    order = np.argsort(projection, kind="stable")
    representatives: list[int] = []
    for i in order:
        same = False
        for j in reversed(representatives):  # sorted: stop at the first one out of reach
            if projection[i] - projection[j] > window:
                break
            if np.abs(units[i] - units[j]).max() <= tolerance:
                same = True
                break
        if not same:
            representatives.append(i)
    return len(representatives)


def saturated_fraction(activation: str, a: np.ndarray) -> float:
    if activation == "tanh":
        return float(np.mean(np.abs(a) > 0.99))
    if activation == "sigmoid":
        return float(np.mean((a < 0.01) | (a > 0.99)))
    return 0.0


def dead_fraction(activation: str, a: np.ndarray) -> float:
    if activation not in RELU_FAMILY:
        return 0.0
    return float(np.mean(np.all(a == 0, axis=0)))


def activation_name(layer) -> str:
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "linear") if activation is not None else "linear"


def weighted(layer) -> bool:
    return getattr(layer, "kernel", None) is not None


class Probe:
    """Measures a compiled model's weighted layers (Dense, conv) on a fixed batch: by default the first
    min(256, n) training rows. A Sequential model's layers are called in order as a chain; a functional model
    (InitDiagnostics on a user's graph) runs as itself, with each weighted layer's output taken out."""

    def __init__(self, model, x_train: np.ndarray, y_train: np.ndarray):
        tf = _tf()
        self.model = model
        self.x = tf.constant(x_train[:PROBE_ROWS])
        self.y = tf.constant(y_train[:PROBE_ROWS])
        self.chain = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
        self.layers = [layer for layer in self.chain if weighted(layer)]
        self.extract = None
        if getattr(model, "_functional", None) is None and hasattr(model, "_nodes_by_depth"):
            from .backend import keras

            self.extract = keras().Model(model.inputs, [layer.output for layer in self.layers] + list(model.outputs))
        self._forward = tf.function(self._forward_and_gradients, autograph=False)  # no tensor-dependent control flow

    def _forward_and_gradients(self, x, y):
        tf = _tf()
        kernels = [layer.kernel for layer in self.layers]
        with tf.GradientTape() as tape:
            outputs, a = [], x
            if self.extract is not None:
                *outputs, a = self.extract(x, training=False)
            else:
                for layer in self.chain:
                    a = layer(a, training=False)
                    if weighted(layer):
                        outputs.append(a)
            loss = self.model.compute_loss(x=x, y=y, y_pred=a, training=False)
        grads = tape.gradient(loss, kernels)
        return outputs, [tf.zeros_like(k) if g is None else g for g, k in zip(grads, kernels)]

    def measure(self, epoch: int) -> tuple[list[dict], dict[str, np.ndarray]]:
        """One row per weighted layer (output last) with the columns of layers.csv, and each one's raw outputs."""
        outputs, grads = self._forward(self.x, self.y)
        rows, samples = [], {}
        for layer, a, g in zip(self.layers, outputs, grads):
            samples[layer.name] = a = a.numpy()
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
        return rows, samples
