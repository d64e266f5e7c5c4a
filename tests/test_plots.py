"""Pictures from awkward records: they must be drawn, not crash the run that made the records; and what a reader
needs of them: named axes and classes, legends off the data, whole epochs, plain numbers, a grid of boundaries."""

import json

import matplotlib.colors
import matplotlib.text
import matplotlib.ticker
import numpy as np
import pandas as pd
import pytest

from initlab.output import boundary_animation, plots
from initlab.train import data, frames


def test_activation_histograms_of_saturated_float32_and_non_finite_values(tmp_path):
    saturated = np.array([0.99999994, 1.0] * 50, dtype=np.float32)  # fewer float32 steps than bins
    samples = {"epoch_0/hidden_1": saturated, "epoch_0/output": np.array([np.inf, np.nan, 0.5], np.float32),
               "epoch_5/hidden_1": saturated, "epoch_5/output": np.array([np.nan], np.float32)}
    plots.activations(samples, tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 0


def test_gradients_of_a_run_where_every_gradient_is_zero(tmp_path):
    layers = pd.DataFrame({"epoch": [0, 0, 1, 1], "layer": ["hidden_1", "output"] * 2, "units": [2, 1, 2, 1],
                           "grad_norm": [0.0] * 4, "distinct_units": [1, 1, 1, 1]})
    plots.gradients(layers, tmp_path / "g.png")
    assert (tmp_path / "g.png").stat().st_size > 0


def test_signal_plot_of_a_zero_initialized_network(tmp_path):
    frame = pd.DataFrame({"layer": ["hidden_1", "output"], "z_mean_square": [0.0, 0.0],
                          "z_mean_square_predicted": [0.0, 0.0], "grad_mean_square": [0.0, 1.0],
                          "grad_mean_square_predicted": [0.0, 1.0]})
    plots.signal(frame, tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 0


def _spills(fig) -> list[float]:
    """How far (inches) what was drawn reaches past each edge of the picture: left, bottom, right, top; all <= 0
    when nothing is cut off."""
    fig.canvas.draw()
    drawn = fig.get_tightbbox(fig.canvas.get_renderer())
    width, height = fig.get_size_inches()
    return [round(v, 3) for v in (-drawn.x0, -drawn.y0, drawn.x1 - width, drawn.y1 - height)]


TITLE = "mistake_constant_sigmoid: random_uniform(maxval=1.0,minval=0.0)-sigmoid-64x64x64x64-s0-0123456789"


def _records(epochs=301):
    """Records with extreme values: a loss from 1e6 down, gradients over nine decades, activations of 1e5."""
    epoch = np.arange(epochs)
    metrics = pd.DataFrame({"epoch": epoch, "loss": 1e6 / (epoch + 1), "accuracy": np.linspace(0.5, 0.9, epochs),
                            "val_loss": 2.0, "val_accuracy": 0.5})
    layers = pd.DataFrame([{"epoch": e, "layer": name, "units": 64, "grad_norm": 10.0 ** -(e % 9 + i),
                            "distinct_units": 1} for e in epoch for i, name in enumerate(("hidden_1", "hidden_2", "output"))])
    samples = {f"epoch_{e}/{name}": np.random.default_rng(e + i).normal(size=256) * 10.0 ** (5 - 2 * i)
               for e in (0, epochs - 1) for i, name in enumerate(("hidden_1", "hidden_2", "output"))}
    signal = pd.DataFrame({"layer": ["hidden_1", "hidden_2", "hidden_3", "output"],
                           "z_mean_square": [1e-3, 1e-6, 1e-9, 1e-12], "z_mean_square_predicted": [1e-3, 1e-6, 1e-9, 2e-12],
                           "grad_mean_square": [1e-9, 1e-6, 1e-3, 1.0], "grad_mean_square_predicted": [2e-9, 1e-6, 1e-3, 1.0]})
    return metrics, layers, samples, signal


def _boundary_data():
    """x in [0, 10], y in [-1, 1]: a picture with its axes swapped cannot hold these ranges."""
    rng = np.random.default_rng(0)
    x = np.stack([rng.uniform(0, 10, 100), rng.uniform(-1, 1, 100)], axis=1)
    predict = lambda grid: 1 / (1 + np.exp(-4 * (grid[:, :1] - 5 - 3 * grid[:, 1:])))  # noqa: E731 - P = 0.5 on x = 5 + 3y
    y = (predict(x)[:, 0] > 0.5).astype(float)
    return predict, x[:80], y[:80], x[80:], y[80:]


def _boundary_view():
    """What boundary.npz holds for boundary.png (frames.still): the rule of _boundary_data on a grid, and the data."""
    predict, x_train, y_train, x_val, y_val = _boundary_data()
    value, xs, ys, multiclass = frames.view(predict, x_train, x_val, 150)
    view = {"final_value": value.astype(np.float16), "final_x": xs, "final_y": ys, "multiclass": np.array(multiclass),
            "x_train": x_train, "y_train": y_train, "x_val": x_val, "y_val": y_val}
    return predict, view


def test_per_run_pictures_keep_every_label_inside_their_fixed_layout():
    metrics, layers, samples, signal = _records()
    figures = [plots.history_figure(metrics, TITLE), plots.gradients_figure(layers, TITLE),
               plots.activations_figure(samples, TITLE), plots.signal_figure(signal, TITLE),
               plots.boundary_figure(_boundary_view()[1], TITLE)]
    for fig in figures:
        assert max(_spills(fig)) <= 0.02, (_spills(fig), fig.axes[0].get_ylabel())
        plots.plt.close(fig)


def test_boundary_shows_the_models_regions_where_the_data_is():
    predict, view = _boundary_view()
    x_train, x_val = view["x_train"], view["x_val"]
    fig = plots.boundary_figure(view, "b")
    ax = fig.axes[0]
    everything = np.concatenate([x_train, x_val])
    (x_low, x_high), (y_low, y_high) = ax.get_xlim(), ax.get_ylim()
    assert x_low <= everything[:, 0].min() and everything[:, 0].max() <= x_high
    assert y_low <= everything[:, 1].min() and everything[:, 1].max() <= y_high
    assert x_high - x_low > 5 * (y_high - y_low)  # the long side is x: not swapped
    filled = next(c for c in ax.collections if hasattr(c, "levels") and len(c.levels) > 2)
    for point in ([1.0, 0.0], [9.0, 0.0], [5.0, 0.5], [5.0, -0.5], [8.5, 0.9], [2.0, -0.9]):
        probability = float(predict(np.array([point]))[0, 0])
        region = [i for i, path in enumerate(filled.get_paths()) if len(path.vertices) and path.contains_point(point)]
        assert len(region) == 1, (point, region)
        assert filled.levels[region[0]] <= probability <= filled.levels[region[0] + 1], (point, probability)
    shown = [c.get_offsets() for c in ax.collections if c.get_label() in ("train", "validation")]
    np.testing.assert_array_equal(shown[0], x_train)
    np.testing.assert_array_equal(shown[1], x_val)
    plots.plt.close(fig)


def test_activation_panels_hold_the_recorded_samples_per_layer_and_epoch():
    _, _, samples, _ = _records()
    samples["epoch_300/output"] = np.concatenate([samples["epoch_300/output"], [np.nan, np.inf]])
    fig = plots.activations_figure(samples, "a")
    axes = np.array(fig.axes).reshape(3, 2)
    for column, epoch in enumerate((0, 300)):
        hidden_ranges = {axes[row][column].get_xlim() for row in range(2)}
        assert len(hidden_ranges) == 1  # the hidden layers of a column share one x range ...
        assert axes[2][column].get_xlim() != hidden_ranges.pop()  # ... the output (1e1 here, not 1e5) has its own
        for row, layer in enumerate(("hidden_1", "hidden_2", "output")):
            ax = axes[row][column]
            values = np.asarray(samples[f"epoch_{epoch}/{layer}"], np.float64)
            values = values[np.isfinite(values)]
            (drawn,) = [patch.get_data() for patch in ax.patches]
            np.testing.assert_array_equal(drawn.values, np.histogram(values, bins=drawn.edges)[0])
            assert drawn.values.sum() == len(values)
            low, high = ax.get_xlim()
            assert low <= values.min() and values.max() <= high
            assert ax.texts[0].get_text().startswith(layer) and f"std {values.std():.3g}" in ax.texts[0].get_text()
    assert axes[0][0].get_title() == "at initialization" and axes[0][1].get_title() == "after 300 epochs"
    plots.plt.close(fig)


def test_curves_hold_the_recorded_values():
    metrics, layers, _, signal = _records()
    fig = plots.history_figure(metrics, "h")
    loss_ax, accuracy_ax = fig.axes
    np.testing.assert_allclose(loss_ax.lines[0].get_ydata(), metrics["loss"])
    np.testing.assert_allclose(accuracy_ax.lines[0].get_ydata(), metrics["accuracy"])
    np.testing.assert_allclose(accuracy_ax.lines[1].get_xdata(), metrics["epoch"])
    fig = plots.gradients_figure(layers, "g")
    for line, layer in zip(fig.axes[0].lines, ("hidden_1", "hidden_2", "output")):
        assert line.get_label() == layer
        np.testing.assert_allclose(line.get_ydata(), layers.loc[layers["layer"] == layer, "grad_norm"])
    fig = plots.signal_figure(signal, "s")
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), signal["z_mean_square"])
    np.testing.assert_allclose(fig.axes[0].lines[1].get_ydata(), signal["z_mean_square_predicted"])
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), signal["grad_mean_square"])
    plots.plt.close("all")


def test_gradient_histograms_hold_the_gradient_samples_and_activations_ignore_them():
    _, _, samples, _ = _records()
    gradients = {f"{key}/gradient": np.random.default_rng(7).normal(size=4096) * 10.0 ** -(3 + i)
                 for i, key in enumerate(sorted(samples))}
    both = {**samples, **gradients}
    activations = plots.activations_figure(both, "a")
    assert len(activations.axes) == 6  # 3 layers x (initialization, end): gradient keys are not layers
    fig = plots.histograms_figure(both, "g", "gradient")
    axes = np.array(fig.axes).reshape(3, 2)
    for column, epoch in enumerate((0, 300)):
        for row, layer in enumerate(("hidden_1", "hidden_2", "output")):
            (drawn,) = [patch.get_data() for patch in axes[row][column].patches]
            values = gradients[f"epoch_{epoch}/{layer}/gradient"]
            np.testing.assert_array_equal(drawn.values, np.histogram(values, bins=drawn.edges)[0])
    assert axes[-1][0].get_xlabel() == "dL/dW, kernel gradient"
    plots.plt.close("all")


def _recorded_frames(multiclass: bool) -> dict:
    """boundary.npz as a run writes it, from rules instead of a model: frames whose boundary line turns with the
    epoch (a multiclass one: three classes around the centre), and the data of _boundary_data."""
    _, x_train, y_train, x_val, y_val = _boundary_data()
    xs, ys = data.plane(x_train, x_val, 80)
    gx, gy = np.meshgrid(xs, ys)
    epochs = np.array([0, 1, 2, 5, 20])
    if multiclass:
        angle = np.arctan2(gy, gx - 5)
        value = np.stack([np.floor((angle + np.pi + e / 10) / (2 * np.pi / 3)) % 3 for e in epochs])
    else:
        value = np.stack([1 / (1 + np.exp(-4 * (gx - 5 - (1 + e / 5) * gy))) for e in epochs])
    return {"epoch": epochs, "accuracy": np.linspace(0.5, 0.9, len(epochs)), "value": value.astype(np.float16),
            "x": xs, "y": ys, "multiclass": np.array(multiclass),
            "x_train": x_train, "y_train": y_train, "x_val": x_val, "y_val": y_val}


@pytest.mark.parametrize("multiclass", [False, True])
def test_gif_frames_are_the_animation_figures_frames(tmp_path, multiclass):
    """boundary.gif is painted with numpy, not drawn frame by frame: each frame must still be the picture matplotlib
    draws of that frame (plane, bands, points, axes), but for the heading's font rendering and the palette."""
    from PIL import Image

    recorded = _recorded_frames(multiclass)
    boundary_animation.write_gif(recorded, tmp_path / "b.gif", "title")
    fig, show, _ = plots.boundary_animation_figure(recorded, recorded["x_train"], recorded["y_train"],
                                                   recorded["x_val"], recorded["y_val"], "title")
    heading = fig.texts[-1]
    with Image.open(tmp_path / "b.gif") as gif:
        assert gif.n_frames == len(recorded["epoch"])
        durations = []
        for i in range(gif.n_frames):
            gif.seek(i)
            durations.append(gif.info["duration"])
            painted = np.asarray(gif.convert("RGB"), np.int16)
            show(i)
            fig.canvas.draw()
            drawn = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(np.int16)
            box = heading.get_window_extent()
            words = slice(int(fig.bbox.height - box.y1) - 3, int(fig.bbox.height - box.y0) + 3)
            apart = np.abs(painted - drawn).max(axis=2) > 30  # a palette step is 51: more is another colour
            assert apart[words].any()  # the heading changes from frame to frame ...
            apart[words] = False  # ... and its letters are PIL's, not matplotlib's: compared below by its text
            assert apart.mean() < 0.005, (i, apart.mean())
            assert heading.get_text() == (f"epoch {recorded['epoch'][i]}   training accuracy "
                                          f"{recorded['accuracy'][i]:.3f}")
    assert durations == [200] * (len(durations) - 1) + [1200]


def test_gif_heading_is_written_where_the_figure_puts_it(tmp_path):
    from PIL import Image

    recorded = _recorded_frames(False)
    boundary_animation.write_gif(recorded, tmp_path / "b.gif", "title")
    fig, show, _ = plots.boundary_animation_figure(recorded, recorded["x_train"], recorded["y_train"],
                                                   recorded["x_val"], recorded["y_val"], "title")
    fig.canvas.draw()
    box = fig.texts[-1].get_window_extent()
    with Image.open(tmp_path / "b.gif") as gif:
        ink = np.asarray(gif.convert("L")) < 128
    plane = fig.axes[0].bbox
    rows, columns = np.nonzero(ink[: int(fig.bbox.height - plane.y1), int(plane.x0):])  # above the plane, right of
    columns = columns + int(plane.x0)                                               # its y labels
    heading = (rows > fig.bbox.height - box.y1 - 4) & (columns < plane.x1)  # below the suptitle, left of the scale's
    left, right = columns[heading].min(), columns[heading].max()
    assert abs((left + right) / 2 - (box.x0 + box.x1) / 2) <= 2  # centred over the plane, as the figure's ...
    assert 0.94 * box.width <= right - left <= box.width  # ... as wide (matplotlib's box has a margin) ...
    assert abs(rows[heading].max() - (fig.bbox.height - box.y0)) <= 4  # ... and as high


PICTURES = ["history.png", "gradients.png", "activations.png", "gradient_histograms.png", "boundary.png", "boundary.gif"]


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """One brief run of the tutorial's network, written as `initlab run` writes it."""
    from initlab.lab import runs

    from tests.conftest import make_config

    return runs.run(make_config(train={"epochs": 3}), tmp_path_factory.mktemp("run"))


def _copy(folder, tmp_path):
    import shutil

    return shutil.copytree(folder, tmp_path / folder.parent.name / folder.name)


def _pixels(path):
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_boundary_record_is_the_final_weights_view_of_the_plane(run_folder):
    from initlab.lab import runs
    from initlab.train import model as model_module

    from tests.conftest import make_config

    config = make_config(train={"epochs": 3})
    data = runs.load_data(config)
    model = model_module.build(runs.prepare(config)[0], data.n_features, data.task, data.n_classes)
    with np.load(run_folder / "weights_final.npz") as weights:
        model.set_weights([weights[name] for name in model_module.weights_by_name(model)])
    with np.load(run_folder / "boundary.npz") as recorded:
        recorded = dict(recorded)
    gx, gy = np.meshgrid(recorded["final_x"], recorded["final_y"])
    assert gx.shape == (150, 150)
    expected = model(np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32), training=False).numpy()
    np.testing.assert_allclose(recorded["final_value"], expected.reshape(gx.shape), atol=1e-3)  # float16
    for key in ("x_train", "y_train", "x_val", "y_val"):
        np.testing.assert_array_equal(recorded[key], getattr(data, key))
    # what boundary.png's axes and heading say: the features' names, and the epoch and accuracies of these weights
    summary = json.loads((run_folder / "summary.json").read_text())
    assert list(recorded["features"]) == data.feature_names == ["X", "Y"]
    assert int(recorded["final_epoch"]) == summary["epochs_run"] == 3
    assert float(recorded["final_accuracy"]) == summary["final"]["accuracy"]
    assert float(recorded["final_val_accuracy"]) == summary["final"]["val_accuracy"]


def test_every_picture_is_drawn_from_the_records_without_tensorflow(run_folder, tmp_path):
    """`initlab plot`'s drawing in a fresh process: no model file, no TensorFlow, the same pictures as the run's."""
    import subprocess
    import sys

    folder = _copy(run_folder, tmp_path)
    (folder / "model.keras").unlink()
    for name in PICTURES:
        (folder / name).unlink()
    code = ("import sys; from pathlib import Path; from initlab.output import run_plots; "
            "run_plots.draw(Path(sys.argv[1]), sys.argv[2]); print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    title = f"test: {folder.name}"
    process = subprocess.run([sys.executable, "-c", code, str(folder), title], capture_output=True, text=True,
                             timeout=300)
    assert process.returncode == 0, process.stderr
    assert process.stdout.split() == ["False", "False"]
    for name in PICTURES:
        np.testing.assert_array_equal(_pixels(folder / name), _pixels(run_folder / name), err_msg=name)


def test_plot_redraws_a_folder_written_without_a_model(run_folder, tmp_path):
    from typer.testing import CliRunner

    from initlab.cli import app
    from initlab.output import run_folder as records

    folder = _copy(run_folder, tmp_path)
    (folder / "model.keras").unlink()
    records.reseal(folder)  # as a run folder written without model.keras is sealed
    (folder / "boundary.png").unlink()
    (folder / "boundary.gif").unlink()
    result = CliRunner().invoke(app, ["plot", str(folder)])
    assert result.exit_code == 0, result.output
    for name in ("boundary.png", "boundary.gif"):
        np.testing.assert_array_equal(_pixels(folder / name), _pixels(run_folder / name), err_msg=name)
    assert records.is_complete(folder)


def test_plot_completes_an_older_folder_from_its_model(run_folder, tmp_path):
    """A folder written before boundary.npz held the final view and the data: boundary.png and the GIF come from
    its model and its data set, as they did then."""
    from initlab.lab import runs
    from initlab.output import run_folder as records

    folder = _copy(run_folder, tmp_path)
    with np.load(folder / "boundary.npz") as recorded:
        frames_only = {key: recorded[key] for key in ("epoch", "accuracy", "value", "x", "y", "multiclass")}
    np.savez_compressed(folder / "boundary.npz", **frames_only)
    records.reseal(folder)
    (folder / "boundary.png").unlink()
    (folder / "boundary.gif").unlink()
    runs.redraw(folder)
    for name in ("boundary.png", "boundary.gif"):
        np.testing.assert_array_equal(_pixels(folder / name), _pixels(run_folder / name), err_msg=name)


def test_gif_leaves_a_non_finite_plane_blank(tmp_path):
    """A run that diverges records NaN predictions in its last frames: the plane is left white there, as imshow
    leaves it, and nothing is said about it on stderr."""
    import warnings

    from PIL import Image

    recorded = _recorded_frames(False)
    recorded["value"][-1][:, :40] = np.nan  # the left half of the last frame
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        boundary_animation.write_gif(recorded, tmp_path / "b.gif", "title")
    fig, *_ = plots.boundary_animation_figure(recorded, *(recorded[k] for k in ("x_train", "y_train", "x_val", "y_val")))
    x0, y0, x1, y1 = fig.axes[0].bbox.extents
    with Image.open(tmp_path / "b.gif") as gif:
        gif.seek(gif.n_frames - 1)
        last = np.asarray(gif.convert("RGB"))
        gif.seek(0)
        first = np.asarray(gif.convert("RGB"))
    row = int(fig.bbox.height - (y0 + y1) / 2)
    left, right = slice(int(x0) + 3, int((x0 + x1) / 2) - 3), slice(int((x0 + x1) / 2) + 3, int(x1) - 3)
    bare = np.abs(first[row, left].astype(int) - first[row, left][0]).max(axis=1) == 0  # no point on this pixel
    assert bare.sum() > 20 and (last[row, left][bare] == 255).all()
    assert (last[row, right] != 255).any()


@pytest.mark.parametrize("rows", [1, 3, 8])
def test_boundary_grid_title_sits_above_every_panel_however_tall_the_grid(rows):
    """A sweep's boundaries.png is a row per case: in a tall grid matplotlib's default title position (2% of the
    height from the top) fell onto the first row's column titles."""
    recorded = _recorded_frames(False)
    view = {"final_value": recorded["value"][-1], "final_x": recorded["x"], "final_y": recorded["y"],
            "multiclass": recorded["multiclass"], **{k: recorded[k] for k in ("x_train", "y_train", "x_val", "y_val")}}
    cols = ["relu", "tanh", "sigmoid"]
    panels = {(r, c): (view, "") for r in range(rows) for c in range(len(cols))}
    fig = plots.boundary_grid_figure(panels, [f"case {r}" for r in range(rows)], cols, "a sweep: decision boundaries")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    (title,) = [text for text in fig.findobj(matplotlib.text.Text) if text.get_text() == fig.get_suptitle()]
    title_box = title.get_window_extent(renderer)
    for ax in fig.axes:
        below = ax.get_tightbbox(renderer)  # the panel with its column title and row label
        assert below.y1 < title_box.y0, (ax.get_title(), below.y1, title_box.y0)
    assert max(_spills(fig)) <= 0


# ---- pictures a teacher would show: names, legends off the data, whole epochs, plain numbers, a square grid ---------
def _shown_view(multiclass: bool = False) -> dict:
    """boundary.npz's still view as a run writes it today: with the features' names and the weights' epoch and
    accuracies; multiclass: three classes around the centre of _boundary_data's plane."""
    predict, view = _boundary_view()
    if multiclass:
        three = lambda x: np.floor((np.arctan2(x[:, 1], x[:, 0] - 5) + np.pi) / (2 * np.pi / 3)) % 3  # noqa: E731
        value, xs, ys, _ = frames.view(lambda grid: np.eye(3)[three(grid).astype(int)], view["x_train"], view["x_val"],
                                       150)
        view = {**view, "final_value": value.astype(np.float16), "multiclass": np.array(True),
                "y_train": three(view["x_train"]).astype(np.int32), "y_val": three(view["x_val"]).astype(np.int32)}
    return {**view, "features": np.array(["X", "Y"]), "final_epoch": np.array(12), "final_accuracy": np.array(0.875),
            "final_val_accuracy": np.array(0.9)}


def test_boundary_png_names_its_axes_and_classes_and_says_which_weights_it_shows():
    fig = plots.boundary_figure(_shown_view(), "run")
    fig.canvas.draw()  # the points' colours
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("X", "Y")
    assert ax.get_title() == "epoch 12   training accuracy 0.875   validation accuracy 0.900"
    legend = ax.get_legend()
    assert [text.get_text() for text in legend.get_texts()] == ["class 0", "class 1", "train", "validation",
                                                                "P(class 1) = 0.5"]
    (train,) = [c for c in ax.collections if c.get_label() == "train"]
    classes = _shown_view()["y_train"].ravel()
    for k, handle in enumerate(legend.legend_handles[:2]):  # a class's colour in the legend is its points' colour
        np.testing.assert_allclose(matplotlib.colors.to_rgba(handle.get_markerfacecolor()),
                                   train.get_facecolors()[classes == k][0])
    assert fig.axes[1].get_ylabel() == "P(class 1)"  # the regions' colour scale
    older = plots.boundary_figure(_boundary_view()[1], "run").axes[0]  # records from before names and accuracies
    assert (older.get_xlabel(), older.get_ylabel(), older.get_title()) == ("feature 1", "feature 2", "")
    one_class = {**_shown_view(), "final_value": np.full((150, 150), 0.3, np.float16)}  # P < 0.5 everywhere: no line
    ax = plots.boundary_figure(one_class, "run").axes[0]
    assert [text.get_text() for text in ax.get_legend().get_texts()][-1] == "validation"


def test_multiclass_regions_and_points_share_each_class_colour():
    view = _shown_view(multiclass=True)
    fig = plots.boundary_figure(view, "run")
    fig.canvas.draw()  # the points' colours
    ax = fig.axes[0]
    legend = ax.get_legend()
    assert [text.get_text() for text in legend.get_texts()] == ["class 0", "class 1", "class 2", "train", "validation"]
    (regions,) = ax.images
    (train,) = [c for c in ax.collections if c.get_label() == "train"]
    for k, handle in enumerate(legend.legend_handles[:3]):
        colour = matplotlib.colors.to_rgba(handle.get_markerfacecolor())
        np.testing.assert_allclose(train.get_facecolors()[view["y_train"] == k][0], colour)
        np.testing.assert_allclose(regions.cmap(regions.norm(k))[:3], colour[:3])  # the region of class k
    # each point lies in the region of its class: the plane's value at the nearest grid point
    xs, ys = view["final_x"], view["final_y"]
    near = lambda points: view["final_value"][np.abs(ys[:, None] - points[:, 1]).argmin(axis=0),  # noqa: E731
                                              np.abs(xs[:, None] - points[:, 0]).argmin(axis=0)]
    assert np.mean(near(view["x_train"]) == view["y_train"]) > 0.95


def test_gif_frames_have_a_colour_scale_and_the_half_line():
    recorded = _recorded_frames(False)
    points = [recorded[k] for k in ("x_train", "y_train", "x_val", "y_val")]
    fig, show, (image, _, line) = plots.boundary_animation_figure(recorded, *points, "t")
    assert image.colorbar is not None and image.colorbar.ax.get_ylabel() == "P(class 1)"
    assert (image.colorbar.vmin, image.colorbar.vmax) == (0, 1)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()][-1] == "P(class 1) = 0.5"
    xs = recorded["x"]
    for i, epoch in enumerate(recorded["epoch"]):
        show(i)
        (contour,) = line
        assert list(contour.levels) == [0.5]
        vertices = np.concatenate([path.vertices for path in contour.get_paths()])
        assert len(vertices) > 20
        # the frames' rule puts P = 0.5 on x = 5 + (1 + epoch / 5) y
        assert np.abs(vertices[:, 0] - 5 - (1 + epoch / 5) * vertices[:, 1]).max() < 0.5 * (xs[1] - xs[0]), epoch
    assert len(fig.axes[0].collections) == 2 + 1  # the train and validation points, one line: the last frame's only
    multiclass = _recorded_frames(True)
    fig, show, (image, _, line) = plots.boundary_animation_figure(
        multiclass, *(multiclass[k] for k in ("x_train", "y_train", "x_val", "y_val")), "t")
    assert image.colorbar is None and line == []  # its colours are the classes, named in the legend
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["class 0", "class 1", "train", "validation"]


def test_gif_paints_the_half_line_where_the_figure_draws_it(tmp_path):
    """boundary.gif paints its frames' 0.5 line itself: its dark pixels are the figure's, within two pixels."""
    from PIL import Image
    from scipy import ndimage

    recorded = _recorded_frames(False)
    boundary_animation.write_gif(recorded, tmp_path / "b.gif", "t")
    fig, show, _ = plots.boundary_animation_figure(
        recorded, *(recorded[k] for k in ("x_train", "y_train", "x_val", "y_val")), "t")
    x0, y0, x1, y1 = fig.axes[0].bbox.extents
    plane = (slice(int(fig.bbox.height - y1) + 3, int(fig.bbox.height - y0) - 3), slice(int(x0) + 3, int(x1) - 3))
    with Image.open(tmp_path / "b.gif") as gif:
        for i in range(gif.n_frames):
            gif.seek(i)
            painted = np.asarray(gif.convert("RGB"))[plane].max(axis=2) < 90
            show(i)
            fig.canvas.draw()
            drawn = np.asarray(fig.canvas.buffer_rgba())[..., :3][plane].max(axis=2) < 90
            near = np.ones((5, 5), bool)
            assert drawn.sum() > 300 and painted.sum() > 300  # the line, and the points' black edges
            assert (painted & ~ndimage.binary_dilation(drawn, near)).sum() < 10, i
            assert (drawn & ~ndimage.binary_dilation(painted, near)).sum() < 10, i


def test_gif_colour_scale_is_painted_in_the_planes_own_colours(tmp_path):
    """The colour scale beside the plane shows exactly the ten colours the plane is painted in (the palette's nearest
    cube colours would differ from them by up to 25 a channel)."""
    from PIL import Image

    recorded = _recorded_frames(False)
    boundary_animation.write_gif(recorded, tmp_path / "b.gif", "t")
    fig, _, (image, *_) = plots.boundary_animation_figure(
        recorded, *(recorded[k] for k in ("x_train", "y_train", "x_val", "y_val")), "t")
    fig.canvas.draw()  # the colour scale's place
    scale = image.colorbar.ax.bbox
    cmap, _ = plots.field_colours(False)
    plane = np.round(cmap(np.arange(10))[:, :3] * 255 * plots.FIELD_ALPHA + 255 * (1 - plots.FIELD_ALPHA))
    with Image.open(tmp_path / "b.gif") as gif:
        painted = np.asarray(gif.convert("RGB"))
    top, bottom = int(fig.bbox.height - scale.y1) + 2, int(fig.bbox.height - scale.y0) - 2
    column = painted[top:bottom, int(scale.x0 + scale.x1) // 2]
    assert {tuple(c) for c in column.tolist()} == {tuple(c) for c in plane.astype(int).tolist()}


def _short_records():
    """Three epochs of records, where matplotlib's own ticks would fall on epoch 1.5 and depth 2.5."""
    metrics, layers, samples, signal = _records(epochs=4)
    metrics = metrics[metrics["epoch"] > 0]
    layers.loc[layers["layer"] == "hidden_1", "distinct_units"] = 1  # symmetric: the distinct units' panel too
    return metrics, layers, samples, signal


def _comparison_figures(epochs: np.ndarray, loss: np.ndarray):
    """Every comparison picture, with curves of `loss` over `epochs`."""
    curves = {"a": pd.DataFrame({0: loss, 1: loss + 1e-8}, index=epochs),
              "b": pd.DataFrame({0: loss[::-1]}, index=epochs)}
    layers = ["hidden_1", "output"]
    stds = {"a": pd.Series([1.0, 0.5], index=layers), "b": pd.Series([0.1, 0.01], index=layers)}
    signal = _records()[3]
    grid = pd.DataFrame([[0.1, 0.9], [0.9, 0.2], [0.5, 0.5]], index=[1, 2, 3], columns=[1.0, 2.0])
    table = pd.DataFrame({"depth": [1, 2, 3], "activation_std": [1.0, 0.1, 0.01], "grad_rms": [1e-3, 1e-4, 1e-5],
                          "verdict": ["ok", "note", "problem"], "probe_batch": 32})
    return [plots.bands_figure({"": curves}, "t", "loss"), plots.profiles_figure({"": stds}, "t"),
            plots.signal_comparison_figure({"he": signal, "glorot": signal}, "t"),
            plots.paper_lines_figure([{"title": "loss", "xlabel": "epoch", "log": False,
                                       "series": {"a": (epochs, loss), "b": (epochs, loss[::-1])}}], "t"),
            plots.phase_diagram_figure(grid, np.linspace(1, 2, 5), np.linspace(1, 3, 5), 6, "t"),
            plots.checklist_by_depth_figure(table, "t")]


def _whole_ticks(axis) -> np.ndarray:
    low, high = sorted(axis.get_view_interval())
    ticks = np.array([t for t in axis.get_majorticklocs() if low <= t <= high])
    assert len(ticks) >= 2
    return ticks


def test_epoch_layer_and_depth_axes_tick_whole_numbers_only():
    metrics, layers, _, _ = _short_records()
    history, gradients = plots.history_figure(metrics, "t"), plots.gradients_figure(layers, "t")
    bands, _, comparison, paper, phase, checklist = _comparison_figures(np.arange(1, 4), np.array([0.7, 0.6, 0.5]))
    axes = [*(ax.xaxis for ax in history.axes), *(ax.xaxis for ax in gradients.axes), gradients.axes[1].yaxis,
            bands.axes[0].xaxis, *(ax.xaxis for ax in comparison.axes), paper.axes[0].xaxis, phase.axes[0].yaxis,
            *(ax.xaxis for ax in checklist.axes)]
    assert len(gradients.axes) == 2
    for fig in (history, gradients, bands, comparison, paper, phase, checklist):
        fig.canvas.draw()
    for axis in axes:
        ticks = _whole_ticks(axis)
        assert np.array_equal(ticks, np.round(ticks)), (axis.axes.get_title(), axis.axis_name, ticks)


def test_no_axis_shows_an_offset():
    """A flat accuracy (0.5 give or take float rounding), a loss that moves in its fifth digit and a saturated layer:
    matplotlib labels each with an offset ("1e-7+5e-1"); here the labels are the values."""
    epochs = np.arange(1, 31)
    metrics = pd.DataFrame({"epoch": epochs, "loss": 0.69312 + 1e-4 * np.sin(epochs),
                            "accuracy": 0.5 + 1e-7 * (epochs % 2), "val_loss": 0.69312, "val_accuracy": 0.5})
    saturated = np.array([0.99999994, 1.0] * 50, dtype=np.float32)
    samples = {"epoch_0/hidden_1": saturated, "epoch_0/output": saturated, "epoch_9/hidden_1": saturated,
               "epoch_9/output": saturated * 1000}
    figures = [plots.history_figure(metrics, "t"), plots.activations_figure(samples, "t"),
               *_comparison_figures(epochs, metrics["loss"].to_numpy())]
    shown = 0
    for fig in figures:
        fig.canvas.draw()
        for ax in fig.axes:
            for axis in (ax.xaxis, ax.yaxis):
                if isinstance(axis.get_major_formatter(), matplotlib.ticker.ScalarFormatter) and axis.get_ticklabels():
                    assert axis.get_major_formatter().get_useOffset() is False
                    assert axis.get_offset_text().get_text() == "", (ax.get_title(), axis.axis_name)
                    shown += 1
    assert shown > 15
    accuracy = figures[0].axes[1]
    low, high = accuracy.get_ylim()
    assert low < 0.49 and high > 0.51  # flat within rounding: drawn flat, as a constant is


def _plane_areas(fig, renderer) -> list:
    return [ax.get_window_extent(renderer).shrunk(0.999, 0.999) for ax in fig.axes]


def test_legends_and_labels_sit_off_the_data():
    """Every legend lies outside every plotting area of its picture (not `loc="best"`: outside), and the histograms'
    layer labels above their panels."""
    metrics, layers, samples, signal = _records()
    layers.loc[layers["layer"] == "hidden_1", "distinct_units"] = 1
    recorded = _recorded_frames(False)
    points = [recorded[k] for k in ("x_train", "y_train", "x_val", "y_val")]
    figures = [plots.history_figure(metrics, TITLE), plots.gradients_figure(layers, TITLE),
               plots.signal_figure(signal, TITLE), plots.boundary_figure(_shown_view(), TITLE),
               plots.boundary_figure(_shown_view(multiclass=True), TITLE),
               plots.boundary_animation_figure(recorded, *points, TITLE)[0],
               *_comparison_figures(np.arange(1, 31), np.linspace(1, 0.2, 30))]
    legends = 0
    for fig in figures:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        for legend in [ax.get_legend() for ax in fig.axes if ax.get_legend()] + fig.legends:
            box = legend.get_window_extent(renderer)
            assert not any(box.overlaps(area) for area in _plane_areas(fig, renderer)), fig.get_suptitle()
            legends += 1
    assert legends >= 13
    fig = plots.activations_figure(samples, TITLE)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        (label,) = ax.texts
        assert not any(label.get_window_extent(renderer).overlaps(area) for area in _plane_areas(fig, renderer))
        assert label.get_window_extent(renderer).y0 >= ax.get_window_extent(renderer).y1  # its own panel's, above it


@pytest.mark.parametrize("count", [3, 5, 8, 12])
def test_one_keys_boundaries_are_a_grid_not_a_column(tmp_path, count):
    """A sweep over one key (eight initializers) drew its boundaries as one column, 352 x 2178 pixels: now they wrap
    into a grid about as wide as tall, each panel titled by its cell, in order."""
    from PIL import Image

    view = _boundary_view()[1]
    labels = [f"initializer {i}" for i in range(count)]
    panels = {(r, 0): (view, f"caption {r}") for r in range(count)}
    plots.boundary_grid(panels, labels, [""], tmp_path / "b.png", "sweep: decision boundaries")
    fig = plots.boundary_grid_figure(panels, labels, [""], "sweep: decision boundaries")
    drawn = [ax for ax in fig.axes if ax.has_data()]
    assert [ax.get_title() for ax in drawn] == labels
    with Image.open(tmp_path / "b.png") as image:
        width, height = image.size
    if count > 3:
        assert 0.6 <= width / height <= 1.7, (width, height)
    else:
        assert width > 2 * height  # a row
    rows = {round(ax.get_position().y0, 3) for ax in drawn}
    assert len(rows) == (1 if count <= 3 else int(np.ceil(count / np.ceil(np.sqrt(count)))))
