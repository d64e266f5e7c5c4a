"""One trained run in memory (what a worker returns and runs.write files) and which raw samples it keeps."""

from dataclasses import dataclass, field

import numpy as np

from initlab.config import experiment as config_module

HISTOGRAM_EPOCHS = 12  # raw activation samples are kept at most at this many recorded epochs (first and last included)


def histogram_epochs(epochs: list[int]) -> set[int]:
    picks = np.linspace(0, len(epochs) - 1, min(len(epochs), HISTOGRAM_EPOCHS)).round().astype(int)
    return {epochs[i] for i in picks}


def keep_samples(samples: dict, epoch: int, activations: dict, keep: set[int]) -> None:
    """Raw activations of the `keep` epochs, and of the latest recorded one (a run that diverges or is cut short
    still shows where it ended)."""
    for key in [k for k in samples if int(k.split("/")[0].split("_")[1]) not in keep]:
        del samples[key]
    samples.update({f"epoch_{epoch}/{name}": a for name, a in activations.items()})


@dataclass
class RunResult:
    """Everything a trained run leaves behind, in memory and picklable: a worker returns it, write() files it."""
    config: config_module.Config  # resolved, task defaults filled in
    task: str
    metric: str
    history: list[dict] = field(default_factory=list)
    layer_rows: list[dict] = field(default_factory=list)
    samples: dict = field(default_factory=dict)  # 'epoch_<k>/<layer>' -> raw activations on the probe batch
    signal: list[dict] | None = None  # signal.csv's rows (propagation.rows)
    jacobian: dict | None = None  # record.jacobian: layer -> its Jacobian's squared singular values [rows, k] at the draw
    weights_initial: dict = field(default_factory=dict)
    weights_final: dict = field(default_factory=dict)
    final: dict = field(default_factory=dict)
    diverged_at: int | None = None
    duration_s: float = 0.0
    engine: str = "fast"
    error: str | None = None  # set for a run that failed
    company: int = 1  # how many runs trained together in its population (1: alone)
    tensorboard_dir: str | None = None
    boundary: dict = field(default_factory=dict)  # boundary.npz: a 2-D classifier's frames (initlab.frames)
    versions: dict = field(default_factory=dict)  # backend.versions() where it trained ({}: it failed before)
    numerics: dict = field(default_factory=dict)  # backend.numerics() where it trained
    rows: dict = field(default_factory=dict)  # {"train": rows trained on, "validation": rows held out}
    data_init: dict | None = None  # what model.data_init (LSUV) did to the initial weights: rounds, variance per layer
