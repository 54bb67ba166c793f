"""A heatmap's picture: the figure of plain values (`Picture`) that `report.heatmap` makes from
a `results.models.Heatmap`. A module of its own, importing matplotlib and numpy only, because
it is what a drawing process (`report.drawing`) imports to draw one: without pandas and the
results' models its start takes ~0.3 s instead of ~0.6 s."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gridbt._typing import FloatArray
from gridbt.report._canvas import agg_figure, write_png

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Picture", "picture_figure", "write_picture"]

# Above this many rows or columns the cell annotations would overlap.
_ANNOTATE_MAX = 12


@dataclass(frozen=True)
class Picture:
    """A heatmap as drawn: `grid` (rows follow the y ticks, columns the x ticks; NaN where no
    value), the ticks' labels, the axes' labels, the title, the metric the colour bar names and
    which end of it is better."""

    grid: FloatArray
    x_ticks: list[str]
    y_ticks: list[str]
    x_label: str
    y_label: str
    title: str
    metric: str
    higher_is_better: bool


def write_picture(picture: Picture, path: Path) -> None:
    """Draw `picture` (`picture_figure`) into the PNG file `path`, atomically."""
    write_png(picture_figure(picture), path)


@dataclass(frozen=True)
class _ColorScale:
    colormap: str
    vmin: float
    vmax: float
    diverging: bool


def _color_scale(grid: FloatArray, higher_is_better: bool) -> _ColorScale:
    """Diverging around 0 if the values straddle 0, else sequential; better is always green
    (diverging) or yellow (sequential)."""
    finite = grid[np.isfinite(grid)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    reverse = "" if higher_is_better else "_r"
    if low < 0.0 < high:
        return _ColorScale(f"RdYlGn{reverse}", low, high, diverging=True)
    return _ColorScale(f"viridis{reverse}", low, high, diverging=False)


def picture_figure(picture: Picture) -> Figure:
    """Draw a heatmap (cells without a value hatched, never interpolated) on an Agg figure."""
    grid, objective = picture.grid, picture.metric
    from matplotlib.colors import Normalize, TwoSlopeNorm
    from matplotlib.patches import Rectangle

    n_rows, n_cols = grid.shape
    width = min(14.0, max(5.0, 2.2 + 0.65 * n_cols))
    figure = agg_figure(width, min(10.0, max(3.8, 1.6 + 0.45 * n_rows)))
    ax = figure.add_subplot()
    scale = _color_scale(grid, picture.higher_is_better)
    norm = (
        TwoSlopeNorm(vcenter=0.0, vmin=scale.vmin, vmax=scale.vmax)
        if scale.diverging
        else Normalize(vmin=scale.vmin, vmax=scale.vmax)
    )
    # Missing cells are masked, hence transparent: the hatched patch behind shows through.
    ax.add_patch(
        Rectangle(
            (-0.5, -0.5),
            n_cols,
            n_rows,
            facecolor="white",
            edgecolor="0.75",
            hatch="///",
            linewidth=0,
            zorder=0,
        )
    )
    image = ax.imshow(
        np.ma.masked_invalid(grid),
        cmap=scale.colormap,
        norm=norm,
        origin="lower",
        aspect="auto",
        interpolation="nearest",
        zorder=1,
    )
    ax.set_xticks(range(n_cols), picture.x_ticks, rotation=45, ha="right")
    ax.set_yticks(range(n_rows), picture.y_ticks)
    ax.set_xlabel(picture.x_label)
    ax.set_ylabel(picture.y_label)
    ax.set_title(picture.title, loc="left", fontsize=10)
    if n_rows <= _ANNOTATE_MAX and n_cols <= _ANNOTATE_MAX:
        for (row, col), value in np.ndenumerate(grid):
            if np.isfinite(value):
                red, green, blue, _ = image.cmap(norm(value))
                dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
                ax.text(
                    col,
                    row,
                    f"{value:.3g}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if dark else "black",
                )
    figure.colorbar(image, ax=ax, label=objective)
    return figure
