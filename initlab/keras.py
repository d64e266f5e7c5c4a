"""InitDiagnostics: initlab's checklist and per-layer records inside anyone's own `model.fit`.

    from initlab.keras import InitDiagnostics
    model.fit(x, y, epochs=20, callbacks=[InitDiagnostics(x[:256], y[:256], out="diagnostics")])
"""

from pathlib import Path

import numpy as np

from initlab.base.backend import keras as _keras
from initlab.diagnosis import checklist, report
from initlab.output import plots, run_folder
from initlab.train.probes import Probe

_keras()
import keras  # noqa: E402  (after initlab.base.backend has imported TensorFlow quietly)


class InitDiagnostics(keras.callbacks.Callback):
    """At the start of training: the initialization checklist (printed, and written to diagnose.csv).
    Every `every` epochs: layers.csv rows on the probe batch (x, y); at the end: histograms and pictures."""

    def __init__(self, x, y, out: str | Path = "initlab_diagnostics", every: int = 1, verbose: bool = True):
        super().__init__()
        self.x, self.y = np.asarray(x, np.float32), np.asarray(y)
        self.out, self.every, self.verbose = Path(out), every, verbose
        self.table = None
        self.rows: list[dict] = []
        self.samples: dict[str, np.ndarray] = {}

    def on_train_begin(self, logs=None):
        self.out.mkdir(parents=True, exist_ok=True)
        self.table = checklist.diagnose(self.model, inputs=self.x)  # on the user's own probe batch
        report.to_csv(self.table, self.out / "diagnose.csv")
        if self.verbose:
            weights = "as this fit starts (initial ones on a model's first fit)"
            print(report.render(self.table, self.model.name, weights))
        self.probe = Probe(self.model, self.x, self.y)
        self._record(0)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            self._record(epoch + 1)

    def on_train_end(self, logs=None):
        last = self.rows[-1]["epoch"]
        if self.params and self.params.get("epochs") and last != self.params["epochs"] and not self.model.stop_training:
            self._record(self.params["epochs"])
        run_folder.write_layers(self.rows, self.out / "layers.csv")
        np.savez_compressed(self.out / "histograms.npz", **self.samples)
        layers = run_folder.read_layers(self.out)
        plots.gradients(layers, self.out / "gradients.png", self.model.name)
        plots.activations(self.samples, self.out / "activations.png", self.model.name)
        plots.gradient_histograms(self.samples, self.out / "gradient_histograms.png", self.model.name)

    def _record(self, epoch: int) -> None:
        rows, activations = self.probe.measure(epoch)
        self.rows.extend(rows)
        first = not self.samples
        if first or epoch == self.params.get("epochs"):
            self.samples.update({f"epoch_{epoch}/{name}": a for name, a in activations.items()})
        else:  # keep the first and the latest recorded epoch
            self.samples = {k: v for k, v in self.samples.items() if k.startswith("epoch_0/")}
            self.samples.update({f"epoch_{epoch}/{name}": a for name, a in activations.items()})

    @property
    def healthy(self) -> bool:
        return self.table is not None and checklist.healthy(self.table)
