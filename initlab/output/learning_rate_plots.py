"""Tensor Programs V's picture (Yang et al. 2022, Figures 1 and 3): final training loss (log scale) against the learning rate,
one curve per width, one panel per parametrization, each width's loss-minimizing rate marked with its interval."""

import math
from pathlib import Path

import matplotlib

from initlab.output import plots


def learning_rate_curves_figure(panels: dict, title: str):
    """panels: {panel title: {width: (log2 learning rates, mean loss, (log2 optimum, low, high))}}; diverged points
    (inf) are left out of the curve."""
    fig, axes = plots._subplots(1, len(panels), figsize=(5.5 * len(panels), 4.4), squeeze=False, sharey=True)
    colours = matplotlib.colormaps["viridis"]
    finite = [y for curves in panels.values() for _, y, _ in curves.values() for y in y if math.isfinite(y)]
    top = min(max(finite), 2 * math.log(10)) if finite else 1.0  # a diverged-looking tail would flatten the rest
    for ax, (name, curves) in zip(axes[0], panels.items()):
        for n, (width, (x, y, (best, low, high))) in enumerate(sorted(curves.items())):
            colour = colours(n / max(len(curves) - 1, 1) * 0.85)
            keep = [i for i, v in enumerate(y) if math.isfinite(v)]
            ax.plot([x[i] for i in keep], [y[i] for i in keep], "o-", markersize=3, color=colour, label=f"width {width}")
            floor = min(y[i] for i in keep) if keep else top
            error = None if math.isnan(low) else [[best - low], [high - best]]
            ax.errorbar([best], [floor], xerr=error, fmt="*", markersize=10, color=colour, capsize=3)
        ax.set_yscale("log")
        ax.set_ylim(None, top)
        ax.set_xlabel("log2 learning rate")
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
        plots._legend_below(ax, columns=4, fontsize=7)
    axes[0][0].set_ylabel("final training loss")
    plots._suptitle(fig, title + " (stars: the optimum, mean over seeds with its 95% interval)")
    return plots._laid_out(fig)


def learning_rate_curves(panels: dict, path: Path, title: str) -> None:
    plots._save(learning_rate_curves_figure(panels, title), path)
