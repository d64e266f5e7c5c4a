"""A run folder's pictures, drawn from its records alone: no model, no TensorFlow, no data set to load again."""

from pathlib import Path

import numpy as np
import pandas as pd

from . import animation, plots, records

POINTS = {"x_train", "y_train", "x_val", "y_val"}
STILL = {"final_value", "final_x", "final_y", "multiclass"} | POINTS  # what boundary.png is drawn from (frames.still)
FRAMES = {"epoch", "accuracy", "value", "x", "y", "multiclass"} | POINTS  # boundary.gif's (frames.Frames, the data)


def draw(folder: Path, title: str, boundary: dict | None = None) -> None:
    """Every picture of a run folder from its files; `boundary` stands in for boundary.npz (an older folder's,
    completed from its model)."""
    metrics = records.read_metrics(folder)
    if len(metrics):
        plots.history(metrics, folder / "history.png", title)
    plots.gradients(records.read_layers(folder), folder / "gradients.png", title)
    with np.load(folder / "histograms.npz") as samples:
        samples = dict(samples)
    plots.activations(samples, folder / "activations.png", title)
    if any(key.endswith("/gradient") for key in samples):  # run folders written before these were recorded have none
        plots.gradient_histograms(samples, folder / "gradient_histograms.png", title)
    propagation = pd.read_csv(folder / "signal.csv")
    if len(propagation) >= 3:  # signal propagation is a story of depth: two hidden layers at least
        plots.signal(propagation, folder / "signal.png", f"{title}: signal at initialization")
    if boundary is None:
        boundary = recorded_boundary(folder)
    if STILL <= boundary.keys():
        plots.boundary(boundary, folder / "boundary.png", title)
    if FRAMES <= boundary.keys():
        animation.write(boundary, folder / "boundary.gif", title)


def recorded_boundary(folder: Path) -> dict:
    """boundary.npz as a dict ({} where the data are not a 2-D classification)."""
    if not (folder / "boundary.npz").is_file():
        return {}
    with np.load(folder / "boundary.npz") as recorded:
        return dict(recorded)
