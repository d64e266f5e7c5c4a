"""Raw samples of every kernel layer's output and kernel gradient of any Functional or Sequential model, taken on a
fixed probe batch at the epochs a run records: what histograms.npz holds for a user's model (initlab's own networks
take theirs inside the training loop, train/probes.py)."""

import numpy as np

from initlab.base.backend import keras, tf
from initlab.train.probes import GRADIENT_SAMPLES, PROBE_ROWS, gradient_sample, main_kernel, model_inputs


class LayerSamples:
    """`take()`: {'<layer>': outputs, '<layer>/gradient': kernel gradient entries} (run_result.keep_samples files
    them under the epoch) for the layers with a trainable kernel, on the first PROBE_ROWS rows, in inference mode (the model as it predicts), the
    gradient of the compiled loss; a model without a graph (subclassed) gives {}."""

    def __init__(self, model, x: np.ndarray, y: np.ndarray):
        self.model = model
        self.layers = [layer for layer in model.layers if main_kernel(layer) is not None] if model.inputs else []
        self.x, self.y = x[:PROBE_ROWS], y[:PROBE_ROWS]
        if self.layers:
            self.probe = keras().Model(model_inputs(model), [layer.output for layer in self.layers])

    def take(self) -> dict[str, np.ndarray]:
        if not self.layers:
            return {}
        kernels = [main_kernel(layer) for layer in self.layers]
        with tf().GradientTape() as tape:
            loss = self.model.compute_loss(x=self.x, y=self.y, y_pred=self.model(self.x, training=False))
        grads = tape.gradient(loss, kernels)
        samples = {}
        for layer, output, grad in zip(self.layers, self.probe(self.x, training=False), grads):
            # a convolution's outputs are many: about 4 x GRADIENT_SAMPLES of them
            samples[layer.name] = gradient_sample(np.asarray(output), 4 * GRADIENT_SAMPLES).astype(np.float32)
            if grad is not None:
                samples[f"{layer.name}/gradient"] = gradient_sample(np.asarray(grad))
        return samples
