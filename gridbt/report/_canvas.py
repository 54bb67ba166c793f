"""matplotlib figures on the Agg canvas, never pyplot: no global figure state, no display,
no GUI backend chosen at import."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gridbt._atomic import atomic_path
from gridbt._typing import PathLike

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["agg_figure", "write_png"]


def agg_figure(width: float, height: float) -> Figure:
    """A new figure of `width` x `height` inches, drawn by its own Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def write_png(figure: Figure, path: PathLike, dpi: float | None = None,
              tight: bool = True) -> None:
    """Lay `figure` out tightly (unless `tight` is False: a figure placed by hand, which saves
    the layout's dry-run draw, a third of a small figure's time) and write it to `path` as a
    PNG, atomically."""
    if tight:
        figure.tight_layout()
        # tight_layout leaves a placeholder layout engine, for which savefig would lay the
        # figure out again in a dry-run draw; the layout is final, so one draw is enough.
        figure.set_layout_engine(None)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=dpi)
