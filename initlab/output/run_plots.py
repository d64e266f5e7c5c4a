"""A run folder's pictures, drawn from its records alone: no model, no TensorFlow, no data set to load again."""

from pathlib import Path

import numpy as np

from initlab.output import run_folder

POINTS = {"x_train", "y_train", "x_val", "y_val"}
STILL = {"final_value", "final_x", "final_y", "multiclass"} | POINTS  # what boundary.png is drawn from (frames.still)
FRAMES = {"epoch", "accuracy", "value", "x", "y", "multiclass"} | POINTS  # boundary.gif's (frames.Frames, the data)
# Every picture a run folder may have, the costliest first (benchmarks/pictures_benchmark.py), for plot_workers.Painters.
PICTURES = ("boundary.gif", "gradient_histograms.png", "gradients.png", "activations.png", "boundary.png",
            "history.png", "signal.png", "jacobian.png")


def draw(folder: Path, title: str, boundary: dict | None = None, only: set[str] | None = None) -> None:
    """Every picture of a run folder (or those named in `only`) from its files; `boundary` stands in for boundary.npz
    (an older folder's, completed from its model)."""
    from initlab.output import (  # matplotlib: only when drawing (runs imports this module to plan pictures)
        boundary_animation,
        plots,
    )

    wanted = lambda *names: only is None or not only.isdisjoint(names)  # noqa: E731
    if wanted("history.png"):
        metrics = run_folder.read_metrics(folder)
        if len(metrics):
            plots.history(metrics, folder / "history.png", title)
    if wanted("gradients.png"):
        plots.gradients(run_folder.read_layers(folder), folder / "gradients.png", title)
    if wanted("activations.png", "gradient_histograms.png"):
        with np.load(folder / "histograms.npz") as samples:
            samples = dict(samples)
        if wanted("activations.png"):
            plots.activations(samples, folder / "activations.png", title)
        # run folders written before gradients were recorded have none
        if wanted("gradient_histograms.png") and any(key.endswith("/gradient") for key in samples):
            plots.gradient_histograms(samples, folder / "gradient_histograms.png", title)
    if wanted("signal.png") and (folder / "signal.csv").is_file():  # a residual run has none
        import pandas as pd

        propagation = pd.read_csv(folder / "signal.csv")
        if len(propagation) >= 3:  # signal propagation is a story of depth: two hidden layers at least
            plots.signal(propagation, folder / "signal.png", f"{title}: signal at initialization")
    if wanted("jacobian.png") and (folder / "jacobian.npz").is_file():  # record.jacobian: true
        with np.load(folder / "jacobian.npz") as spectra:
            layers = {f"{depth} {layer}": values for depth, (layer, values) in enumerate(dict(spectra).items(), start=1)}
        plots.jacobian_spectra({"J of each layer's pre-activation (the output's: logits)": layers},
                               folder / "jacobian.png", f"{title}: the Jacobian's spectrum at initialization")
    if wanted("boundary.png", "boundary.gif"):
        if boundary is None:
            boundary = recorded_boundary(folder)
        if wanted("boundary.png") and STILL <= boundary.keys():
            plots.boundary(boundary, folder / "boundary.png", title)
        if wanted("boundary.gif") and FRAMES <= boundary.keys():
            boundary_animation.write_gif(boundary, folder / "boundary.gif", title)


def recorded_boundary(folder: Path) -> dict:
    """boundary.npz as a dict ({} where the data are not a 2-D classification)."""
    if not (folder / "boundary.npz").is_file():
        return {}
    with np.load(folder / "boundary.npz") as recorded:
        return dict(recorded)
