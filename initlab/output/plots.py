"""A run's pictures, drawn from its records: decision boundary, history, activations, gradients."""

import io
import textwrap
from pathlib import Path

import matplotlib
import matplotlib.colors
import matplotlib.figure
import matplotlib.lines
import matplotlib.ticker
import matplotlib.transforms
from matplotlib.backends.backend_agg import FigureCanvasAgg

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from initlab.base.words import counted  # noqa: E402


def _log_y(ax) -> None:
    """A log y axis labelled in plain text: the default labels are typeset as math, which took a third of the
    time of every picture with a log axis."""
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.LogFormatter())
    ax.yaxis.set_minor_formatter(matplotlib.ticker.LogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.4)))


def _whole_numbers(*axes) -> None:
    """Ticks on whole numbers only, for an axis of epochs, layers or depths (never epoch 2.5), at matplotlib's
    usual steps (0, 25, 50, not 0, 15, 30)."""
    for axis in axes:
        axis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, steps=[1, 2, 2.5, 5, 10]))


FLAT = 1e-4  # a linear axis whose values vary by less than this part of their size is drawn as a constant's


def _plain_numbers(fig) -> None:
    """Tick labels that are the values themselves on every linear axis, never an offset ("1e-6+5e-1" over an
    accuracy of 0.5, which reads as a change); an axis whose values vary by less than FLAT of their size (float
    rounding) gets the span matplotlib gives a constant, +-5%, so that its labels stay short and its curve flat."""
    for ax in fig.axes:
        for axis, limits, set_limits in ((ax.xaxis, ax.get_xlim, ax.set_xlim), (ax.yaxis, ax.get_ylim, ax.set_ylim)):
            formatter = axis.get_major_formatter()
            if not isinstance(formatter, matplotlib.ticker.ScalarFormatter):  # log axes, named ticks
                continue
            formatter.set_useOffset(False)
            low, high = limits()
            if 0 < high - low < FLAT * max(abs(low), abs(high)):
                middle = (low + high) / 2
                set_limits(middle - 0.05 * abs(middle), middle + 0.05 * abs(middle))


def _y_labels_room(ax) -> float:
    """Inches left of the axes that its y tick labels and y label take, from the labels as formatted (without
    offset their length varies: 0.5 or 0.693125), with no drawing."""
    _plain_numbers(ax.figure)
    low, high = sorted(ax.get_ylim())
    ticks = [t for t in ax.yaxis.get_major_locator()() if low <= t <= high]
    labels = ax.yaxis.get_major_formatter().format_ticks(ticks) if ticks else [""]
    size = ax.yaxis.get_major_ticks(1)[0].label1.get_fontsize()
    return max(len(label) for label in labels) * 0.6 * size / 72 + 0.35  # a digit's width; the label and padding


OUTSIDE_RIGHT = {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0), "frameon": False}  # a legend right of its axes
LEGEND_ROW = 0.2  # inches a row of a legend in 8-point type takes


def _legend_below(ax, handles=None, depth: float = 0.45, columns: int = 3, fontsize: float = 8) -> int:
    """A legend under the axes, its top `depth` inches below them (clear of the tick labels and the axis label), in
    up to `columns` columns; returns the rows it takes."""
    handles = handles if handles is not None else ax.get_legend_handles_labels()[0]
    columns = max(1, min(columns, len(handles)))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0), ncol=columns, fontsize=fontsize,
              bbox_transform=matplotlib.transforms.offset_copy(ax.transAxes, fig=ax.figure, y=-depth, units="inches"),
              frameon=False)
    return -(-len(handles) // columns)


TITLE_TOP = 0.08  # inches between the figure's top edge and its title


def _wrapped(title: str, width: float, fontsize: float) -> str:
    """A title wrapped onto more lines where it is wider than `width` inches (run names are long)."""
    characters = int(width * 72 / (0.6 * fontsize))  # a generous average glyph width
    return textwrap.fill(title, characters, break_on_hyphens=False)


def _suptitle(fig, title: str, fontsize: float = 10) -> None:
    """The figure's title, wrapped onto a second line when it is wider than the picture; the figure has its size."""
    width, height = fig.get_size_inches()
    # a fixed distance from the top edge: matplotlib's default (2% of the height) drifts down a tall grid's panels
    fig.suptitle(_wrapped(title, width, fontsize), fontsize=fontsize, y=1 - TITLE_TOP / height)


def _subplots(*grid: int, figsize: tuple[float, float], **options):
    """(figure, axes) as pyplot.subplots gives them, outside pyplot's registry (no global state, nothing to close),
    on an Agg canvas."""
    fig = matplotlib.figure.Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(*grid, **options)


def _fixed_layout(fig, margins: tuple[float, float, float, float], gap: float = 0.8, row_gap: float = 0.3):
    """Place the panels by fixed margins (left, bottom, right, top) and gaps, in inches, and return the figure:
    tight_layout measures every label first, which costs as much as drawing the picture again."""
    width, height = fig.get_size_inches()
    left, bottom, right, top = margins
    grids = [ax.get_subplotspec().get_topmost_subplotspec().get_gridspec() for ax in fig.axes if ax.get_subplotspec()]
    rows, columns = max((g.nrows for g in grids), default=1), max((g.ncols for g in grids), default=1)
    panel_width = (width - left - right - gap * (columns - 1)) / columns
    panel_height = (height - bottom - top - row_gap * (rows - 1)) / rows
    fig.subplots_adjust(left=left / width, bottom=bottom / height, right=1 - right / width, top=1 - top / height,
                        wspace=gap / panel_width, hspace=row_gap / panel_height)
    return fig


PNG_COMPRESSION = 3  # zlib's level: 6 (the default) took 1.6x as long to encode for files 13% smaller


def picture_formats() -> list[str]:
    """The file suffixes a picture can be written to (matplotlib's formats)."""
    return sorted(FigureCanvasAgg(matplotlib.figure.Figure()).get_supported_filetypes())


def _laid_out(fig):
    """The figure with plain numbers, laid out by matplotlib: for the comparison pictures, whose outside legends vary
    in width."""
    _plain_numbers(fig)
    fig.tight_layout()
    return fig


def _save(fig, path) -> None:
    """Write the picture, a PNG unless the path's suffix names another format, with plain numbers on its axes."""
    _plain_numbers(fig)
    form = Path(path).suffix[1:].lower() or "png"
    buffer = io.BytesIO()
    fig.savefig(buffer, format=form, dpi=110, **({"pil_kwargs": {"compress_level": PNG_COMPRESSION}}
                                                 if form == "png" else {}))
    # written here, not by matplotlib, which lets a failed write pass silently (a full disk, /dev/full)
    Path(path).write_bytes(buffer.getvalue())


def history_figure(metrics: pd.DataFrame, title: str = ""):
    """Loss and the task's metric per epoch, training and validation."""
    metric = [c for c in metrics.columns if c not in ("epoch", "loss") and not c.startswith("val_")][0]
    fig, axes = _subplots(1, 2, figsize=(10, 3.8))
    for ax, column in zip(axes, ("loss", metric)):
        ax.plot(metrics["epoch"], metrics[column], label="train")
        if metrics[f"val_{column}"].notna().any():
            ax.plot(metrics["epoch"], metrics[f"val_{column}"], label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(column)
        _whole_numbers(ax.xaxis)
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=9, **OUTSIDE_RIGHT)  # off the curves: 'best' may cover some, and searches every point
    _suptitle(fig, title)
    _plain_numbers(fig)
    return _fixed_layout(fig, (max(0.7, _y_labels_room(axes[0])), 0.5, 1.3, 0.45),
                         gap=max(0.8, _y_labels_room(axes[1]) + 0.1))


def history(metrics: pd.DataFrame, path, title: str = "") -> None:
    _save(history_figure(metrics, title), path)


def boundary_figure(view: dict, title: str = ""):
    """Decision regions of a 2-D classifier from its recorded view of the plane (frames.still: `final_value` on the
    `final_x` x `final_y` grid, P(class 1) or the predicted class, the data and its feature names), with the training
    points as circles and the validation points as triangles, headed by the epoch and accuracies of the weights shown
    where boundary.npz records them (final_epoch, final_accuracy, final_val_accuracy)."""
    fig, ax = _subplots(figsize=(5.6, 4.6))
    multiclass = bool(view["multiclass"])
    filled = draw_boundary(ax, view["final_value"], view["final_x"], view["final_y"], multiclass,
                           view["x_train"], view["y_train"], view["x_val"], view["y_val"])
    if filled is not None:
        fig.colorbar(filled, ax=ax, label="P(class 1)")
    _label_plane(ax, view.get("features"))
    if "final_epoch" in view:
        ax.set_title(shown_heading(view["final_epoch"], view["final_accuracy"], view.get("final_val_accuracy", np.nan)),
                     fontsize=8.5)
    crossing = not multiclass and _crosses_half(np.asarray(view["final_value"], np.float32))
    handles = _data_handles(view["y_train"], view["y_val"], multiclass, len(view["x_val"]) > 0, crossing)
    rows = _legend_below(ax, handles, columns=5)
    lines = _wrapped(title, 5.6, 9).count("\n") + 1
    fig.set_size_inches(5.6, 4.4 + 0.16 * lines + rows * LEGEND_ROW)
    _suptitle(fig, title, fontsize=9)
    _plain_numbers(fig)
    return _fixed_layout(fig, (max(0.7, _y_labels_room(ax)), 0.6 + rows * LEGEND_ROW, 0.1, 0.45 + 0.16 * lines),
                         gap=0.3)


def boundary(view: dict, path, title: str = "") -> None:
    _save(boundary_figure(view, title), path)


def shown_heading(epoch, accuracy, validation=np.nan) -> str:
    """How a picture of the plane is headed: the epoch of the weights it shows and their accuracies (those measured)."""
    parts = [f"epoch {int(epoch)}"] + [f"{name} accuracy {float(value):.3f}" for name, value in
                                       (("training", accuracy), ("validation", validation)) if np.isfinite(float(value))]
    return "   ".join(parts)


def _label_plane(ax, features) -> None:
    """The plane's axes named by the data's features (boundary.npz's `features`; older records have none)."""
    x_name, y_name = (str(name) for name in features) if features is not None else ("feature 1", "feature 2")
    ax.set_xlabel(x_name)
    ax.set_ylabel(y_name)


def draw_boundary(ax, value, xs, ys, multiclass: bool, x_train, y_train, x_val, y_val, marker_size: float = 28):
    """Draw decision regions (`value` on the xs x ys grid) and points on `ax`; returns the filled contour of a binary
    classifier."""
    gx, gy = np.meshgrid(xs, ys)
    value = np.asarray(value, np.float32)
    filled = None
    if multiclass:  # each class in its colour (as its points); contourf would pass through the classes between
        cmap, top = field_colours(True)
        ax.imshow(value, origin="lower", aspect="auto", extent=_cells(xs, ys), interpolation="nearest", alpha=0.35,
                  cmap=cmap, vmin=0, vmax=top)
    else:
        filled = ax.contourf(gx, gy, value, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.45)
        if _crosses_half(value):
            ax.contour(gx, gy, value, levels=[0.5], colors="k", linewidths=1.5)
    _points(ax, x_train, y_train, x_val, y_val, marker_size, multiclass)
    ax.set_xlim(xs[0], xs[-1])
    ax.set_ylim(ys[0], ys[-1])
    return filled


def _cells(xs, ys) -> tuple[float, float, float, float]:
    """imshow's extent for values on the xs x ys grid: each cell centred on its grid point, as contour places it."""
    half_x, half_y = (xs[-1] - xs[0]) / (len(xs) - 1) / 2, (ys[-1] - ys[0]) / (len(ys) - 1) / 2
    return xs[0] - half_x, xs[-1] + half_x, ys[0] - half_y, ys[-1] + half_y


def _crosses_half(value: np.ndarray) -> bool:
    """Whether P(class 1) crosses 0.5 somewhere on the plane: where there is a boundary line to draw."""
    finite = value[np.isfinite(value)]
    return bool(len(finite)) and finite.min() < 0.5 < finite.max()


def _class_colours(multiclass: bool):
    """The points' colour map and its norm: class 0 blue and class 1 red (P(class 1) runs from blue to red), or
    tab10's colour k for class k, as the regions are coloured."""
    if multiclass:
        cmap, top = field_colours(True)
        return cmap, matplotlib.colors.Normalize(0, top)
    return plt.get_cmap("bwr"), matplotlib.colors.Normalize(0, 1)


def _points(ax, x_train, y_train, x_val, y_val, size: float, multiclass: bool) -> list:
    """The data coloured by class: training rows as circles, validation rows as triangles."""
    cmap, norm = _class_colours(multiclass)
    return [ax.scatter(x[:, 0], x[:, 1], c=np.asarray(y).ravel(), cmap=cmap, norm=norm, marker=marker, edgecolors="k",
                       linewidths=0.6, s=size, label=label)
            for x, y, marker, label in ((x_train, y_train, "o", "train"), (x_val, y_val, "^", "validation")) if len(x)]


def _data_handles(y_train, y_val, multiclass: bool, validation: bool, line: bool) -> list:
    """A boundary picture's legend: each class's colour (its points', and its region's), the markers of the training
    and the validation rows, and the boundary line where one is drawn."""
    cmap, norm = _class_colours(multiclass)
    classes = np.unique(np.concatenate([np.ravel(y_train), np.ravel(y_val)])).astype(int)
    marker = lambda shape, colour, label: matplotlib.lines.Line2D(  # noqa: E731
        [], [], linestyle="", marker=shape, markersize=6, markerfacecolor=colour, markeredgecolor="k",
        markeredgewidth=0.6, label=label)
    handles = [marker("o", cmap(norm(k)), f"class {k}") for k in classes]
    handles += [marker("o", "white", "train")] + ([marker("^", "white", "validation")] if validation else [])
    if line:
        handles.append(matplotlib.lines.Line2D([], [], color="k", linewidth=1.5, label="P(class 1) = 0.5"))
    return handles


FIELD_ALPHA = 0.45  # the plane's colours over white: the points stay readable on top


def field_colours(multiclass: bool):
    """The colour map of the animation's plane (ten bands of P(class 1), or a colour per class) and its range."""
    return (plt.get_cmap("tab10"), 9) if multiclass else (plt.get_cmap("RdBu_r", 10), 1)


def boundary_animation_figure(frames: dict, x_train, y_train, x_val, y_val, title: str = ""):
    """A figure for boundary.gif and `show(i)`, which puts frame i on it: the recorded predictions on the plane (P(class
    1) in ten bands with its colour scale and its 0.5 line, or the predicted class) with fixed axes and colour scale,
    so that frames compare, the data on top. Returns (figure, show, the artists a frame changes: the plane, the
    heading and a list holding the 0.5 line, if any)."""
    multiclass = bool(frames["multiclass"])
    fig, ax = _subplots(figsize=(5.5, 4.6))
    xs, ys = frames["x"], frames["y"]
    cmap, top = field_colours(multiclass)
    image = ax.imshow(np.asarray(frames["value"][0], np.float32), origin="lower", aspect="auto", alpha=FIELD_ALPHA,
                      extent=_cells(xs, ys), interpolation="nearest" if multiclass else "bilinear",
                      interpolation_stage="data", cmap=cmap, vmin=0, vmax=top)
    _points(ax, x_train, y_train, x_val, y_val, 16, multiclass)
    ax.set_xlim(xs[0], xs[-1])
    ax.set_ylim(ys[0], ys[-1])
    if not multiclass:  # a multiclass plane's colours are the classes': the legend's
        fig.colorbar(image, ax=ax, label="P(class 1)")
    _label_plane(ax, frames.get("features"))
    crossing = not multiclass and any(_crosses_half(np.asarray(value, np.float32)) for value in frames["value"])
    rows = _legend_below(ax, _data_handles(y_train, y_val, multiclass, len(x_val) > 0, crossing), columns=5, fontsize=7)
    lines = _wrapped(title, 5.5, 8).count("\n") + 1
    fig.set_size_inches(5.5, 4.4 + 0.14 * lines + rows * LEGEND_ROW)
    _suptitle(fig, title, fontsize=8)
    _plain_numbers(fig)
    _fixed_layout(fig, (max(0.65, _y_labels_room(ax)), 0.6 + rows * LEGEND_ROW, 0.1, 0.5 + 0.14 * lines), gap=0.3)
    box = ax.get_position()
    title_line = fig.text(box.x0 + box.width / 2, box.y1 + 0.02, "", ha="center", va="bottom", fontsize=9)
    line = []

    def show(i: int):
        value = np.asarray(frames["value"][i], np.float32)
        image.set_data(value)
        title_line.set_text(shown_heading(frames["epoch"][i], frames["accuracy"][i]))
        for drawn in line:
            drawn.remove()
        line[:] = [ax.contour(xs, ys, value, levels=[0.5], colors="k", linewidths=1.5, zorder=0.5)
                   ] if not multiclass and _crosses_half(value) else []  # under the points, as boundary.gif paints it

    show(0)
    return fig, show, (image, title_line, line)


def boundary_grid(panels: dict, rows: list[str], cols: list[str], path, title: str = "") -> None:
    """Decision boundaries side by side: panels[(row, col)] = (view, caption), each view a model's recorded view of
    the plane as frames.still gives it (final_value, final_x, final_y, multiclass and the data points)."""
    _save(boundary_grid_figure(panels, rows, cols, title), path)


def boundary_grid_figure(panels: dict, rows: list[str], cols: list[str], title: str = ""):
    """boundary_grid's figure, laid out: a table of rows x columns, or, when either has one entry only, the panels
    wrapped into a grid about as wide as tall (eight initializers in 3 x 3, not a column of eight), each titled."""
    if len(rows) > 1 and len(cols) > 1:
        places = {key: key for key in panels}
        shape, row_labels, col_labels = (len(rows), len(cols)), rows, cols
    else:
        count = len(rows) * len(cols)
        across = count if count <= 3 else int(np.ceil(np.sqrt(count)))
        places = {(r, c): divmod(r * len(cols) + c, across) for r, c in panels}
        shape, row_labels, col_labels = (-(-count // across), across), [], []
    fig, axes = _subplots(*shape, figsize=(2.6 * shape[1] + 0.6, 2.4 * shape[0] + 0.6), squeeze=False)
    for (r, c), (view, caption) in panels.items():
        ax = axes[places[r, c]]
        draw_boundary(ax, view["final_value"], view["final_x"], view["final_y"], bool(view["multiclass"]),
                      view["x_train"], view["y_train"], view["x_val"], view["y_val"], marker_size=8)
        if not row_labels:
            label = " / ".join(label for label in (rows[r], cols[c]) if label) if len(panels) > 1 else caption
            ax.set_title(textwrap.fill(label, 44), fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    for r, label in enumerate(row_labels):
        axes[r][0].set_ylabel(label, fontsize=8)
    for c, label in enumerate(col_labels):
        if label:
            axes[0][c].set_title(label, fontsize=8)
    for ax in axes.ravel():
        if not ax.has_data():
            ax.axis("off")
    _suptitle(fig, title)
    fig.tight_layout()
    return fig


def _panels(count: int):
    fig, axes = _subplots(1, count, figsize=(5.2 * count + 1.5, 4.4), squeeze=False, sharey=True)
    return fig, axes[0]


def bands_figure(panels: dict[str, dict[str, pd.DataFrame]], title: str, ylabel: str):
    """Per panel, one line per label: the mean over its columns (seeds) with a min-max band."""
    fig, axes = _panels(len(panels))
    for ax, (panel, curves) in zip(axes, panels.items()):
        for i, (label, frame) in enumerate(curves.items()):
            color = f"C{i % 10}"
            ax.plot(frame.index, frame.mean(axis=1), color=color, label=label, linestyle="-" if i < 10 else "--")
            ax.fill_between(frame.index, frame.min(axis=1), frame.max(axis=1), color=color, alpha=0.15)
        ax.set_title(panel, fontsize=9)
        ax.set_xlabel("epoch")
        _whole_numbers(ax.xaxis)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(ylabel)
    axes[-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    _suptitle(fig, title)
    return _laid_out(fig)


def bands(panels: dict[str, dict[str, pd.DataFrame]], path, title: str, ylabel: str) -> None:
    _save(bands_figure(panels, title, ylabel), path)


def profiles_figure(panels: dict[str, dict[str, pd.Series]], title: str):
    """Per panel, one line per label across the layers (log scale)."""
    fig, axes = _panels(len(panels))
    positive = False
    for ax, (panel, series) in zip(axes, panels.items()):
        for i, (label, values) in enumerate(series.items()):
            ax.plot(range(len(values)), values.where(values > 0).to_numpy(), marker="o", color=f"C{i % 10}",
                    linestyle="-" if i < 10 else "--", label=label)
            ax.set_xticks(range(len(values)), values.index)
            positive |= bool((values > 0).any())
        ax.set_title(panel, fontsize=9)
        ax.set_xlabel("layer")
        ax.grid(alpha=0.3)
    if positive:
        _log_y(axes[0])
    axes[0].set_ylabel("activation std")
    axes[-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    _suptitle(fig, title)
    return _laid_out(fig)


def profiles(panels: dict[str, dict[str, pd.Series]], path, title: str) -> None:
    _save(profiles_figure(panels, title), path)


MAX_HISTOGRAM_LAYERS = 12  # deeper nets show this many layers, evenly spread, first and last included
ABOVE = 0.03  # inches between a panel's top edge and the label written above it


def histograms_figure(samples: dict, title: str = "", quantity: str = "activation"):
    """Histograms of a recorded quantity, one panel per layer (rows) at initialization and at the last recorded epoch
    (columns), in the style of Glorot & Bengio 2010, Figures 6 and 7: the hidden layers of a column share one x
    range, so a vanishing signal is a spike at 0 and saturation piles up at the ends (the output layer, last, gets
    its own: a linear output's range would hide them); each panel has its own y scale, so a small layer is never
    flattened by a large one. `samples` maps 'epoch_<k>/<layer>' to raw activation values and
    'epoch_<k>/<layer>/gradient' to kernel-gradient values; `quantity` picks 'activation' or 'gradient'."""
    suffix = "/gradient" if quantity == "gradient" else ""
    keys = [key for key in samples if (key.count("/") == 2) == (quantity == "gradient")]
    epochs = sorted({int(key.split("/")[0].split("_")[1]) for key in keys})
    layers = list(dict.fromkeys(key.split("/")[1] for key in keys))
    shown = [epochs[0], epochs[-1]] if len(epochs) > 1 else epochs
    if len(layers) > MAX_HISTOGRAM_LAYERS:
        picks = np.linspace(0, len(layers) - 1, MAX_HISTOGRAM_LAYERS).round().astype(int)
        title = f"{title} ({MAX_HISTOGRAM_LAYERS} of {len(layers)} layers)".strip()
        layers = [layers[i] for i in picks]
    fig, axes = _subplots(len(layers), len(shown), figsize=(5.2 * len(shown), 1.3 * len(layers) + 1.5),
                          squeeze=False)
    hidden = layers[:-1] or layers
    for column, epoch in enumerate(shown):
        values = {layer: _finite_values(samples.get(f"epoch_{epoch}/{layer}{suffix}")) for layer in layers}
        shared = _shared_bins([values[layer] for layer in hidden])
        for row, layer in enumerate(layers):
            ax = axes[row][column]
            edges = shared if layer in hidden else _shared_bins([values[layer]])
            if len(values[layer]):
                counts, _ = np.histogram(values[layer], bins=edges)
                ax.stairs(counts, edges, fill=True, color=f"C{row % 10}", alpha=0.8)
                label = f"{layer}   std {values[layer].std():.3g}"
            else:
                label = f"{layer}   no finite values"
            ax.text(1, 1, label, ha="right", va="bottom", fontsize=8,  # above the panel: never over a bar
                    transform=matplotlib.transforms.offset_copy(ax.transAxes, fig=fig, y=ABOVE, units="inches"))
            ax.set_xlim(edges[0], edges[-1])
            ax.set_yticks([])
            ax.tick_params(axis="x", labelsize=7)
        axes[0][column].set_title("at initialization" if not epoch else f"after {epoch} epoch{'s' * (epoch > 1)}",
                                  fontsize=10)
        axes[-1][column].set_xlabel("activation value" if quantity == "activation" else "dL/dW, kernel gradient")
    _suptitle(fig, title, fontsize=9)
    _plain_numbers(fig)
    return _fixed_layout(fig, (0.2, 0.6, 0.15, 0.75), gap=0.4, row_gap=0.45)


def activations_figure(samples: dict, title: str = ""):
    return histograms_figure(samples, title, "activation")


def activations(samples: dict, path, title: str = "") -> None:
    _save(activations_figure(samples, title), path)


def gradient_histograms(samples: dict, path, title: str = "") -> None:
    """gradient_histograms.png: the kernel gradients' histograms per layer, as activations.png shows activations."""
    _save(histograms_figure(samples, title, "gradient"), path)


def _finite_values(values) -> np.ndarray:
    """Float64 (a float32 range narrower than the bins, 0.99999994 to 1, makes numpy refuse to bin it), finite."""
    values = np.asarray(values if values is not None else [], np.float64).ravel()
    return values[np.isfinite(values)]


def _shared_bins(columns: list[np.ndarray], count: int = 60) -> np.ndarray:
    """Bin edges spanning every layer's values, so that layers compare."""
    filled = [v for v in columns if len(v)]
    low = min((v.min() for v in filled), default=-1.0)
    high = max((v.max() for v in filled), default=1.0)
    if high - low <= 1e-12 * max(1.0, abs(low)):  # one value: a narrow window around it
        pad = max(abs(low) * 1e-3, 1e-6)
        low, high = low - pad, high + pad
    return np.linspace(low, high, count + 1)


def gradients_figure(layers: pd.DataFrame, title: str = ""):
    """Gradient norm per layer over epochs (log scale), and distinct units where a layer is symmetric."""
    symmetric = layers[layers["units"] > 1].groupby("layer")["distinct_units"].min() < layers[
        layers["units"] > 1].groupby("layer")["units"].first()
    panels = 2 if symmetric.any() else 1
    fig, axes = _subplots(1, panels, figsize=(5.5 * panels, 3.8), squeeze=False)
    log_scale = bool((layers["grad_norm"] > 0).any())
    for layer, rows in layers.groupby("layer", sort=False):
        norms = rows["grad_norm"].where(rows["grad_norm"] > 0) if log_scale else rows["grad_norm"]
        if log_scale and norms.isna().all():  # a zero gradient has no place on a log scale: say so in the legend
            axes[0][0].plot([], [], " ", label=f"{layer}: gradient exactly 0")
        else:
            axes[0][0].plot(rows["epoch"], norms, marker="." if len(rows) < 30 else None, label=layer)
        if panels == 2 and symmetric.get(layer, False):
            axes[0][1].plot(rows["epoch"], rows["distinct_units"], label=f"{layer} ({rows['units'].iloc[0]} units)")
    if log_scale:
        _log_y(axes[0][0])
    else:
        axes[0][0].set_title("every gradient is exactly 0")
    axes[0][0].set_ylabel("||dL/dW|| on the probe batch")
    if panels == 2:
        axes[0][1].set_ylabel("distinct units")
        axes[0][1].set_ylim(0, layers["units"].max() + 0.5)
        _whole_numbers(axes[0][1].yaxis)
        axes[0][1].set_title("symmetric layers: units computing different functions")
    for ax in axes[0]:
        ax.set_xlabel("epoch")
        _whole_numbers(ax.xaxis)
    rows = max(_legend_below(ax, columns=3) for ax in axes[0])
    fig.set_size_inches(5.5 * panels, 3.8 + rows * LEGEND_ROW)
    _suptitle(fig, title)
    _plain_numbers(fig)
    return _fixed_layout(fig, (0.8, 0.5 + rows * LEGEND_ROW, 0.15, 0.6))


def gradients(layers: pd.DataFrame, path, title: str = "") -> None:
    _save(gradients_figure(layers, title), path)


def signal_figure(frame: pd.DataFrame, title: str = ""):
    """Measured E[z^2] and E[(dL/dz)^2] per layer at initialization beside the closed-form prediction."""
    fig, axes = _subplots(1, 2, figsize=(10, 3.8))
    depth = range(1, len(frame) + 1)
    for ax, column, label in ((axes[0], "z_mean_square", "forward: E[z^2]"),
                              (axes[1], "grad_mean_square", "backward: E[(dL/dz)^2]")):
        ax.plot(depth, frame[column], "o-", label="measured")
        ax.plot(depth, frame[f"{column}_predicted"], "k--", label="theory")
        if (frame[[column, f"{column}_predicted"]] > 0).any().any():  # zero init: nothing for a log scale
            _log_y(ax)
            _at_least_a_decade(ax)
        ax.set_xticks(list(depth), frame["layer"], rotation=45, ha="right", fontsize=7)
        ax.set_title(label)
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=8, **OUTSIDE_RIGHT)
    _suptitle(fig, title)
    _plain_numbers(fig)
    return _fixed_layout(fig, (0.7, 0.85, 1.2, 0.6))


def signal(frame: pd.DataFrame, path, title: str = "") -> None:
    _save(signal_figure(frame, title), path)


def _at_least_a_decade(ax) -> None:
    """Widen a log axis to span at least a factor of 10, so that sampling noise does not look like a trend."""
    low, high = ax.get_ylim()
    if high / low < 10:
        middle = np.sqrt(low * high)
        ax.set_ylim(middle / np.sqrt(10), middle * np.sqrt(10))


def signal_comparison_figure(frames: dict[str, pd.DataFrame], title: str = ""):
    """Several initializers' forward and backward signal by depth, measured (markers) and predicted (dashes)."""
    fig, axes = _subplots(1, 2, figsize=(11, 4.2))
    for i, (label, frame) in enumerate(frames.items()):
        hidden = frame.iloc[:-1]
        depth = range(1, len(hidden) + 1)
        color = f"C{i}"
        for ax, column in ((axes[0], "z_mean_square"), (axes[1], "grad_mean_square")):
            ax.plot(depth, hidden[column], "o", color=color, label=label)
            ax.plot(depth, hidden[f"{column}_predicted"], "--", color=color, alpha=0.7)
    for ax, name in ((axes[0], "forward: E[z^2] of hidden layer l"), (axes[1], "backward: E[(dL/dz)^2] at layer l")):
        _log_y(ax)
        ax.set_xlabel("hidden layer")
        _whole_numbers(ax.xaxis)
        ax.set_title(name)
        ax.grid(alpha=0.3)
    axes[-1].legend(*axes[0].get_legend_handles_labels(), fontsize=8, **OUTSIDE_RIGHT)
    _suptitle(fig, title or "measured (dots) against theory (dashes) at initialization", fontsize=12)
    return _laid_out(fig)


def signal_comparison(frames: dict[str, pd.DataFrame], path, title: str = "") -> None:
    _save(signal_comparison_figure(frames, title), path)


def paper_lines_figure(panels: list[dict], title: str):
    """A replayed paper's figure: one panel per dict {title, xlabel, log, series: {label: (x, y)}}, side by side; a
    series (x, y, low, high) is drawn as points with their intervals."""
    fig, axes = _subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        for label, (x, y, *interval) in panel["series"].items():
            if interval:
                low, high = interval
                ax.errorbar(x, y, yerr=[y - low, high - y], fmt="o", capsize=3, markersize=4, label=label)
            else:
                ax.plot(x, y, "o-" if len(x) < 40 else "-", markersize=3, label=label)
        if panel["log"]:
            _log_y(ax)
        ax.set_xlabel(panel["xlabel"])
        for axis, values in ((ax.xaxis, [series[0] for series in panel["series"].values()]),
                             (ax.yaxis, [series[1] for series in panel["series"].values()])):
            if _whole(values) and axis.get_scale() == "linear":  # layers, depths, epochs: never 2.5 of them
                _whole_numbers(axis)
        ax.set_title(panel["title"], fontsize=10)
        ax.grid(alpha=0.3)
        _legend_below(ax, columns=2, fontsize=7)
    _suptitle(fig, title)
    return _laid_out(fig)


def paper_lines(panels: list[dict], path, title: str) -> None:
    _save(paper_lines_figure(panels, title), path)


def _whole(arrays) -> bool:
    """Whether every finite value of the arrays is a whole number."""
    values = np.concatenate([np.asarray(a, float).ravel() for a in arrays]) if arrays else np.array([])
    values = values[np.isfinite(values)]
    return bool(len(values)) and bool(np.all(values == np.round(values)))


def phase_diagram_figure(grid: pd.DataFrame, weight_var: np.ndarray, xi: np.ndarray, multiple: float, title: str):
    """Training accuracy over (sigma_w^2 columns, depth rows) as a heatmap, with the mean-field depth scale xi_c and
    `multiple` xi_c drawn over it (the cells are centred on their sigma_w^2 and depth)."""
    fig, ax = _subplots(figsize=(7, 4.8))
    x, y = grid.columns.to_numpy(float), grid.index.to_numpy(float)
    image = ax.pcolormesh(x, y, grid.to_numpy(float), shading="nearest", cmap="viridis", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label="training accuracy")
    ax.plot(weight_var, xi, "w--", label="xi_c (mean field)")
    ax.plot(weight_var, multiple * xi, "w-", label=f"{multiple:g} xi_c")
    ax.set_ylim(0, y.max() * 1.1 + 1)
    ax.set_xlabel("sigma_w^2")
    ax.set_ylabel("depth (hidden layers)")
    _whole_numbers(ax.yaxis)
    _legend_below(ax, columns=2)
    legend = ax.get_legend()  # white lines: on a dark ground, where white paper would lose them
    legend.set_frame_on(True)
    legend.get_frame().set(facecolor="0.3", edgecolor="none")
    for text in legend.get_texts():
        text.set_color("white")
    _suptitle(fig, title)
    return _laid_out(fig)


def phase_diagram(grid: pd.DataFrame, weight_var: np.ndarray, xi: np.ndarray, multiple: float, path,
                  title: str) -> None:
    _save(phase_diagram_figure(grid, weight_var, xi, multiple, title), path)


def checklist_by_depth_figure(table: pd.DataFrame, title: str, jacobian: dict | None = None):
    """`initlab diagnose --plot`: activation std (after the nonlinearity that follows) and kernel gradient rms by
    depth in the checklist's table, problems marked; `jacobian` (diagnose --jacobian's summaries) under the panels."""
    fig, axes = _subplots(2, 1, figsize=(10, 6.5), sharex=True)

    measured = table[table["activation_std"].notna() & (table["activation_std"] > 0)]
    panels = ((axes[0], "activation_std", "activation std\n(after the nonlinearity)"),
              (axes[1], "grad_rms", "kernel gradient rms"))
    for ax, column, label in panels:
        values = table[column].where(table[column] > 0)
        ax.plot(table["depth"], values, "-", color="0.7", lw=1)
        for verdict, color, size in (("ok", "tab:blue", 12), ("not checked", "0.5", 12), ("note", "tab:orange", 18),
                                     ("problem", "tab:red", 30)):
            chosen = table["verdict"] == verdict
            if not chosen.any():
                continue
            ax.scatter(table["depth"][chosen], values[chosen], s=size, color=color, label=verdict, zorder=3)
        _whole_numbers(ax.xaxis)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if values.notna().any():
            _log_y(ax)
        else:
            ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center", color="0.4")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)  # outside: never over the points
    axes[1].set_xlabel("depth (weighted layers in graph order)" + (f"\n\n{jacobian_caption(jacobian)}" if jacobian else ""))
    heading = f"{title}: {counted(len(measured), 'layer')} measured, probe batch {int(table['probe_batch'].iloc[0]) if len(table) else 0}"
    axes[0].set_title(heading if len(heading) <= 90 else heading[:89] + "…", fontsize=10)
    return _laid_out(fig)  # room for the legends beside the panels


def jacobian_caption(found: dict) -> str:
    """One line on the input-output Jacobian's squared singular values (diagnose --jacobian's summaries)."""
    return (f"input-output Jacobian ({found['method'].split(' (')[0]}): squared singular values mean "
            f"{found['mean']:.3g}, variance {found['variance']:.3g}, max {found['max']:.3g}, min {found['min']:.3g}, "
            f"{found['zero_fraction']:.0%} at zero")


def checklist_by_depth(table: pd.DataFrame, path, title: str, jacobian: dict | None = None) -> None:
    _save(checklist_by_depth_figure(table, title, jacobian), path)


def coordinates_figure(frame: pd.DataFrame, title: str):
    """`initlab coordcheck`'s picture, as the mup package draws a coordinate check: one panel per step, width on a
    log axis, one line per layer of its mean absolute activation (log axis too: a slope is a power of width)."""
    steps = sorted(frame["step"].unique())
    fig, axes = _subplots(1, len(steps), figsize=(3.2 * len(steps) + 1.6, 3.8), squeeze=False, sharey=True)
    layers = list(dict.fromkeys(frame["layer"]))
    for ax, step in zip(axes[0], steps):
        at_step = frame[frame["step"] == step]
        for i, layer in enumerate(layers):
            line = at_step[at_step["layer"] == layer].sort_values("width")
            values = line["mean_abs"].where(line["mean_abs"] > 0)
            ax.plot(line["width"], values, marker="o", markersize=3, color=f"C{i % 10}",
                    linestyle="-" if i < 10 else "--", label=layer)
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xticks(sorted(frame["width"].unique()))
        ax.set_title("initialization" if step == 0 else f"after step {step}", fontsize=9)
        ax.set_xlabel("width")
        ax.grid(alpha=0.3)
    if (frame["mean_abs"] > 0).any():
        _log_y(axes[0][0])
    axes[0][0].set_ylabel("mean |activation|")
    axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    _suptitle(fig, title)
    return _laid_out(fig)


def coordinates(frame: pd.DataFrame, path, title: str) -> None:
    _save(coordinates_figure(frame, title), path)


def jacobian_spectra_figure(panels: dict[str, dict[str, np.ndarray]], title: str = ""):
    """Histograms of the input-output Jacobian's squared singular values (log x axis, bins shared by every panel),
    one outline per depth, one panel per group (an initializer and activation; one run: its layers by depth).
    `panels` maps a panel's title to {depth label: squared singular values}, shallowest first; values at 0 (rank
    lost) have no place on a log axis and are counted in the legend. Dynamical isometry (Pennington et al. 2017) is
    a narrow spike at 1 that stays narrow with depth."""
    fig, axes = _subplots(1, len(panels), figsize=(4.6 * len(panels) + 1.6, 3.8), squeeze=False)
    positive = [v[v > 0] for spectra in panels.values() for v in map(_finite_values, spectra.values())]
    filled = [v for v in positive if len(v)]
    low = min((v.min() for v in filled), default=0.1)
    high = max((v.max() for v in filled), default=10.0)
    low, high = min(low, high / 10), max(high, low * 10)  # a spike at 1 still gets a decade of room
    edges = np.geomspace(low, high, 61)
    for ax, (heading, spectra) in zip(axes[0], panels.items()):
        colours = matplotlib.colormaps["viridis"](np.linspace(0, 0.9, max(len(spectra), 1)))
        for colour, (depth, values) in zip(colours, spectra.items()):
            values = _finite_values(values)
            zeros = int(np.sum(values <= 0))
            counts, _ = np.histogram(values[values > 0], bins=edges)
            share = counts / max(len(values), 1)
            label = f"{depth}" + (f" ({zeros} at 0)" if zeros else "")
            ax.stairs(share, edges, color=colour, label=label, linewidth=1.3)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.LogFormatter())
        ax.axvline(1.0, color="k", linestyle=":", linewidth=0.8)
        ax.set_xlabel("squared singular value of J = d output / d input")
        ax.set_title(heading, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, title="depth", title_fontsize=7, **OUTSIDE_RIGHT)
    axes[0][0].set_ylabel("share of values")
    _suptitle(fig, title or "the input-output Jacobian's spectrum at initialization")
    return _laid_out(fig)


def jacobian_spectra(panels: dict[str, dict[str, np.ndarray]], path, title: str = "") -> None:
    _save(jacobian_spectra_figure(panels, title), path)


def born_dead_lines_figure(panels: dict[str, dict], theory: dict[str, dict], published: dict[str, dict], title: str):
    """Born-dead probability by depth: one panel per init, {label: (depths, p, low, high)} drawn as lines with their
    interval as a band; theory {panel: {label: (lower, upper)}} dashed in the line's colour; published {panel: {label:
    (depths, values)}} as crosses."""
    fig, axes = _subplots(1, len(panels), figsize=(5.5 * len(panels), 4.4), squeeze=False, sharey=True)
    for ax, (name, series) in zip(axes[0], panels.items()):
        for label, (depths, p, low, high) in series.items():
            line = ax.plot(depths, p, "-", lw=1.5, label=label)[0]
            ax.fill_between(depths, low, high, color=line.get_color(), alpha=0.25, lw=0)
            for bound in theory.get(name, {}).get(label, ()):
                ax.plot(depths, bound, "--", lw=0.8, color=line.get_color())
            if label in published.get(name, {}):
                ax.plot(*published[name][label], "x", ms=8, mew=2, color=line.get_color())
        if theory.get(name):
            ax.plot([], [], "k--", lw=0.8, label="bounds (two rays)")
        if published.get(name):
            ax.plot([], [], "kx", label="published")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("depth (hidden layers)")
        ax.set_title(name, fontsize=10)
        _whole_numbers(ax.xaxis)
        ax.grid(alpha=0.3)
        _legend_below(ax, columns=3, fontsize=7)
    axes[0][0].set_ylabel("P(born dead)")
    _suptitle(fig, title)
    return _laid_out(fig)


def born_dead_lines(panels: dict, theory: dict, published: dict, path, title: str) -> None:
    _save(born_dead_lines_figure(panels, theory, published, title), path)


def born_dead_grid_figure(grids: dict[str, dict[int, dict[int, float]]], title: str):
    """Born-dead probability over (depth, width) as heat maps, one per init: {init: {width: {depth: p}}}."""
    fig, axes = _subplots(1, len(grids), figsize=(5 * len(grids), 4.2), squeeze=False)
    for ax, (name, grid) in zip(axes[0], grids.items()):
        frame = pd.DataFrame(grid).sort_index()
        image = ax.pcolormesh(np.arange(len(frame.columns)), frame.index.to_numpy(float), frame.to_numpy(float),
                              shading="nearest", cmap="magma", vmin=0, vmax=1)
        ax.set_xticks(np.arange(len(frame.columns)), [str(w) for w in frame.columns])
        ax.set_xlabel("width")
        ax.set_ylabel("depth (hidden layers)")
        ax.set_title(name, fontsize=10)
        _whole_numbers(ax.yaxis)
    fig.subplots_adjust(left=0.07, right=0.86, bottom=0.13, top=0.8, wspace=0.3)
    fig.colorbar(image, cax=fig.add_axes((0.89, 0.13, 0.015, 0.67)), label="P(born dead)")
    _suptitle(fig, title)
    return fig


def born_dead_grid(grids: dict, path, title: str) -> None:
    _save(born_dead_grid_figure(grids, title), path)
