"""boundary.gif, painted rather than drawn: matplotlib draws the animation figure's still parts and points once; per
frame, numpy paints the plane and its 0.5 line under the points and PIL writes the heading, straight into one fixed
palette."""

import matplotlib.font_manager
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from initlab.output import plots


def write_gif(recorded: dict, path, title: str = "") -> None:
    """boundary.gif from boundary.npz (frames and data): one frame per recorded frame epoch, five a second, the last
    held a second (a matplotlib draw and a quantize per frame cost four times as much)."""
    fig, _, (image, heading, line) = plots.boundary_animation_figure(
        recorded, recorded["x_train"], recorded["y_train"], recorded["x_val"], recorded["y_val"], title)
    canvas, ax = fig.canvas, image.axes
    for artist in (image, heading, *line):
        artist.set_visible(False)
    canvas.draw()
    on_white = np.asarray(canvas.buffer_rgba())[..., :3].astype(np.float32)
    ax.patch.set_facecolor("black")
    ax.draw(canvas.get_renderer())  # the plane black under the same points and spines: their colour and coverage
    on_black = np.asarray(canvas.buffer_rgba())[..., :3].astype(np.float32)
    multiclass = bool(recorded["multiclass"])
    cmap, top = plots.field_colours(multiclass)
    palette = _palette(cmap(np.arange(10))[:, :3] * 255 * plots.FIELD_ALPHA + 255 * (1 - plots.FIELD_ALPHA))
    still_indices = _nearest(on_white)
    if image.colorbar is not None:  # the colour scale in the plane's own colours, not the cube's nearest
        scale = _plane_pixels(image.colorbar.ax, on_white.shape[0])
        still_indices[scale] = _with_plane_colours(still_indices[scale], on_white[scale], palette[:10])
    plane = _plane_pixels(ax, on_white.shape[0])
    covered = np.nonzero((on_white[plane] - on_black[plane]).mean(axis=2) < 255)  # under a point or a spine
    cover = 1 - (on_white[plane][covered] - on_black[plane][covered]).mean(axis=1, keepdims=True) / 255
    overlay = on_black[plane][covered]  # the overlay's colour, premultiplied by its coverage
    at_y, at_x = _grid_positions(ax, on_white[plane].shape[:2], len(recorded["y"]), len(recorded["x"]))
    write_heading = _heading_writer(fig, heading)
    pictures = []
    for i in range(len(recorded["epoch"])):  # not show(i): its contour is matplotlib's, a tenth of a second per frame
        indices = still_indices.copy()
        write_heading(indices, plots.shown_heading(recorded["epoch"][i], recorded["accuracy"][i]))
        value = _resampled(np.asarray(recorded["value"][i], np.float32), at_y, at_x, nearest=multiclass)
        band = np.clip(np.round(value) if multiclass else np.floor(value / top * 10), 0, 9)
        band = np.where(np.isfinite(band), band, WHITE).astype(np.uint8)  # a diverged run's NaN: left blank, as imshow
        if not multiclass:
            band[_line(value, 0.5)] = BLACK
        band[covered] = _nearest(palette[band[covered]] * (1 - cover) + overlay)
        indices[plane] = band
        picture = Image.fromarray(indices, "P")
        picture.putpalette(palette.round().astype(np.uint8).ravel().tolist())
        pictures.append(picture)
    durations = [200] * (len(pictures) - 1) + [1200]
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=durations, loop=0, optimize=False)


def _line(value: np.ndarray, level: float) -> np.ndarray:
    """The pixels on either side of where `value` crosses `level` between finite neighbours, across and down: a line
    about 2 pixels wide, as matplotlib draws the figure's contour (1.5 points at 100 dpi)."""
    above, finite = value >= level, np.isfinite(value)
    line = np.zeros(value.shape, bool)
    across = (above[:, 1:] != above[:, :-1]) & finite[:, 1:] & finite[:, :-1]
    line[:, 1:] |= across
    line[:, :-1] |= across
    down = (above[1:] != above[:-1]) & finite[1:] & finite[:-1]
    line[1:] |= down
    line[:-1] |= down
    return line


def _with_plane_colours(indices: np.ndarray, rgb: np.ndarray, plane_colours: np.ndarray) -> np.ndarray:
    """`indices` with every pixel of one of the plane's colours (within rounding: the colour scale's bands) given that
    colour's own palette entry, not the nearest of the colour cube."""
    for k, colour in enumerate(plane_colours):
        indices[np.abs(rgb - colour).max(axis=-1) <= 1.5] = k
    return indices


def _heading_writer(fig, heading):
    """write(indices, text): the heading's text in black on the white above the plane, as _palette's greys, where
    the figure puts it; drawn with PIL in matplotlib's font (a matplotlib text draw per frame cost 20 ms)."""
    font = ImageFont.truetype(matplotlib.font_manager.findfont(heading.get_fontproperties()),
                              heading.get_fontsize() * fig.dpi / 72)
    x, y = heading.get_transform().transform(heading.get_position())
    centre, bottom = round(x), round(fig.bbox.height - y)
    width, height = round(fig.bbox.width), round(font.size * 2)
    top = max(bottom - height, 0)

    def write_gif(indices: np.ndarray, text: str) -> None:
        mask = Image.new("L", (width, bottom - top))
        ImageDraw.Draw(mask).text((centre, bottom - top), text, fill=255, font=font, anchor="md")
        ink = np.asarray(mask, np.float32)
        grey = 10 + CUBE_LEVELS ** 3 + np.round((255 - ink) / 255 * (GREYS - 1)).astype(np.uint8)
        indices[top:bottom] = np.where(ink > 0, grey, indices[top:bottom])

    return write_gif


def _plane_pixels(ax, height: int) -> tuple[slice, slice]:
    """The rows (top first) and columns of the picture whose centres lie inside the axes."""
    x0, y0, x1, y1 = ax.bbox.extents
    return (slice(int(np.ceil(height - y1 - 0.5)), int(np.ceil(height - y0 - 0.5))),
            slice(int(np.ceil(x0 - 0.5)), int(np.ceil(x1 - 0.5))))


def _grid_positions(ax, shape: tuple[int, int], grid_rows: int, grid_columns: int):
    """Where the centres of the plane's pixels fall on the recorded grid, in cells (rows top first, columns): the
    axes span the grid's first to last point, on which imshow centres the cells."""
    x0, y0, x1, y1 = ax.bbox.extents
    height = ax.figure.bbox.height
    first_row, first_column = int(np.ceil(height - y1 - 0.5)), int(np.ceil(x0 - 0.5))
    centres_x = first_column + np.arange(shape[1]) + 0.5
    centres_y = height - (first_row + np.arange(shape[0]) + 0.5)
    return (centres_y - y0) / (y1 - y0) * (grid_rows - 1), (centres_x - x0) / (x1 - x0) * (grid_columns - 1)


def _resampled(values: np.ndarray, at_y: np.ndarray, at_x: np.ndarray, nearest: bool) -> np.ndarray:
    """values [rows, columns] read at fractional cells, bilinear (or nearest: classes have no in-between)."""
    if nearest:
        rows = np.clip(np.round(at_y), 0, values.shape[0] - 1).astype(int)
        columns = np.clip(np.round(at_x), 0, values.shape[1] - 1).astype(int)
        return values[rows[:, None], columns[None, :]]
    y, x = np.clip(at_y, 0, values.shape[0] - 1), np.clip(at_x, 0, values.shape[1] - 1)
    y0, x0 = np.minimum(y.astype(int), values.shape[0] - 2), np.minimum(x.astype(int), values.shape[1] - 2)
    fy, fx = (y - y0).astype(np.float32)[:, None], (x - x0).astype(np.float32)[None, :]
    across = values[:, x0] * (1 - fx) + values[:, x0 + 1] * fx  # [rows, pixel columns]
    return across[y0] * (1 - fy) + across[y0 + 1] * fy


CUBE_LEVELS = 6  # the palette: the ten plane colours, a 6x6x6 colour cube, then greys for text and its edges
GREYS = 256 - 10 - CUBE_LEVELS ** 3
WHITE = 10 + CUBE_LEVELS ** 3 - 1  # the cube's last colour
BLACK = 10  # the cube's first


def _palette(plane_colours: np.ndarray) -> np.ndarray:
    """256 RGB colours: the plane's ten exact colours first, then a colour cube and a ramp of greys."""
    levels = np.linspace(0, 255, CUBE_LEVELS)
    cube = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
    greys = np.repeat(np.linspace(0, 255, GREYS)[:, None], 3, axis=1)
    return np.concatenate([plane_colours, cube, greys])


def _nearest(rgb: np.ndarray) -> np.ndarray:
    """The index in _palette of each pixel's nearest cube colour or grey (arithmetic, no search)."""
    step = 255 / (CUBE_LEVELS - 1)
    levels = np.round(rgb / step)
    cube = 10 + (levels[..., 0] * CUBE_LEVELS + levels[..., 1]) * CUBE_LEVELS + levels[..., 2]
    grey = np.round(rgb.mean(axis=-1) / 255 * (GREYS - 1))
    cube_error = ((rgb - levels * step) ** 2).sum(axis=-1)
    grey_error = ((rgb - (grey * 255 / (GREYS - 1))[..., None]) ** 2).sum(axis=-1)
    return np.where(grey_error < cube_error, 10 + CUBE_LEVELS ** 3 + grey, cube).astype(np.uint8)
