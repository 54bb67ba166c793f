"""Heatmaps of a sweep's objective over each pair of grid parameters, best over the others.

The data is a `gridbt.results.models.Heatmap`, the object the results API serves, built here
from the sweep's results frame by `gridbt.results.plots.heatmap_of_frame`; `objective_heatmaps`
draws it with matplotlib's Agg canvas, never pyplot, so no global figure state or display is
involved. `best_objective_grid` gives the same data as plain arrays.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gridbt._typing import FloatArray
from gridbt.report._heatmap_picture import Picture, picture_figure, write_picture
from gridbt.report.drawing import Drawing
from gridbt.results.errors import QueryError
from gridbt.results.models import Heatmap
from gridbt.results.plots import axis_levels, heatmap_of_frame, is_off

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["OFF_LABEL", "best_objective_grid", "heatmap_figure", "objective_heatmaps",
           "write_heatmap"]

OFF_LABEL = "off"
_NAME_MAX = 120


def _best_heatmap(results: pd.DataFrame, x: str, y: str, objective: str,
                  higher_is_better: bool) -> Heatmap:
    try:
        return heatmap_of_frame(results, x, y, objective, higher_is_better=higher_is_better,
                                agg="max" if higher_is_better else "min")
    except QueryError as exc:
        raise ValueError(str(exc)) from None


def _matrix(heatmap: Heatmap) -> FloatArray:
    return np.array([[np.nan if v is None else v for v in row] for row in heatmap.values],
                    dtype=np.float64).reshape(len(heatmap.y_values), len(heatmap.x_values))


def best_objective_grid(
    results: pd.DataFrame, x: str, y: str, objective: str, higher_is_better: bool
) -> tuple[list[object], list[object], FloatArray]:
    """Return the best objective for every (x, y) pair of values, over all other parameters.

    Parameters
    ----------
    results
        One row per evaluated combination: a column per parameter path and the objective.
    x, y
        Parameter paths for the columns and the rows of the grid.
    objective
        Objective column; non-finite values (undefined KPIs) do not count.
    higher_is_better
        Take the maximum over the other parameters if True, else the minimum.

    Returns
    -------
    x_values, y_values : list
        Distinct values in axis order: numbers ascending, then text, then booleans, then None
        (the rule switched off; NaN and other missing values count as None).
    grid : ndarray
        ``float64`` of shape ``(len(y_values), len(x_values))``; NaN where no combination
        with a finite objective was evaluated.
    """
    heatmap = _best_heatmap(results, x, y, objective, higher_is_better)
    return heatmap.x_values, heatmap.y_values, _matrix(heatmap)


def objective_heatmaps(
    results: pd.DataFrame,
    params: Sequence[str],
    objective: str,
    *,
    higher_is_better: bool,
    out_dir: Path,
    max_pairs: int = 10,
    zipped: Sequence[Sequence[str]] = (),
    drawing: Drawing | None = None,
) -> list[Path]:
    """Write one PNG heatmap per pair of parameters that both take two or more values.

    Pairs follow the order of `params` (first with second, first with third, ...), the first
    of a pair on the x axis; at most `max_pairs` are drawn. Paths of a zip group (`zipped`)
    move together, so they are one axis, named by the group's first path (its label names the
    others): a heatmap of two of them would be a diagonal, and one of another path against
    each of them the same picture again. Cells show the best objective over
    the other parameters (see `best_objective_grid`); cells without an evaluated combination
    are blank and hatched. The colour scale is diverging and centred on 0 when the values
    straddle 0, sequential otherwise, oriented so that better is always the same end; values
    are written in the cells when the grid is at most 12 x 12. Each file is written atomically
    as ``heatmap_<objective>__<x>__<y>.png`` (names made filesystem-safe) in `out_dir`,
    which is created if missing.

    Parameters
    ----------
    results
        One row per evaluated combination: a column per parameter path and the objective.
    params
        Parameter paths to pair, in order.
    objective
        Objective column.
    higher_is_better
        Whether larger objective values are better.
    out_dir
        Directory for the PNG files.
    max_pairs
        Most heatmaps to draw.
    zipped
        The sweep's zip groups: lists of paths that take their values together.
    drawing
        Worker processes to draw them in, side by side; default: in this process.

    Returns
    -------
    list of Path
        The files written, in pair order.
    """
    if max_pairs < 0:
        raise ValueError(f"max_pairs must be >= 0, got {max_pairs}")
    missing = [c for c in (*params, objective) if c not in results.columns]
    if missing:
        raise ValueError(f"results have no column(s) {missing}; columns: {list(results.columns)}")
    labels = _axis_labels(params, zipped)
    varied = [path for path in dict.fromkeys(params)
              if labels.get(path, path) and len(axis_levels(results[path]).values) >= 2]
    pairs = list(itertools.islice(itertools.combinations(varied, 2), max_pairs))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    drawing = drawing or Drawing(workers=1)
    for x, y in pairs:
        path = out_dir / _file_name(objective, x, y)
        heatmap = _best_heatmap(results, x, y, objective, higher_is_better)
        drawing.draw(write_picture, _picture(heatmap, labels.get(x, x), labels.get(y, y)), path)
        written.append(path)
    drawing.wait()
    return written


def _axis_labels(params: Sequence[str], zipped: Sequence[Sequence[str]]) -> dict[str, str]:
    """The axis label of each zip group's first path in `params` (the grid's order, as the
    browser names the group), naming the paths that move with it after their common prefix
    ("structure.dte.target" over "(zipped with .min, .max)"), and "" for those others: they are no
    axis of their own."""
    order = {path: i for i, path in enumerate(params)}
    labels: dict[str, str] = {}
    for group in zipped:
        lead, *others = sorted(group, key=lambda path: order.get(path, len(order)))
        if not others:
            continue
        trimmed = []
        for other in others:
            common = os.path.commonprefix([lead, other])
            cut = common.rfind(".")  # whole path segments only
            trimmed.append(other[cut:] if cut > 0 else other)
            labels[other] = ""
        labels[lead] = f"{lead}\n(zipped with {', '.join(trimmed)})"  # 2 lines: fits a side
    return labels


def write_heatmap(heatmap: Heatmap, path: Path, x_label: str | None = None,
                  y_label: str | None = None) -> None:
    """Draw `heatmap` (`heatmap_figure`) into the PNG file `path`, atomically."""
    write_picture(_picture(heatmap, x_label, y_label), path)


def _label(value: object, digits: int = 4) -> str:
    if is_off(value):
        return OFF_LABEL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _tick_labels(values: Sequence[object]) -> list[str]:
    """An axis' values as labels with 4 significant digits, as the summary's top table shows
    them (0.1333, not 0.133333), or more where 4 would make two levels read alike."""
    for digits in range(4, 18):
        labels = [_label(v, digits) for v in values]
        if len(set(labels)) == len(set(map(str, values))):
            break
    return labels


def heatmap_figure(heatmap: Heatmap, x_label: str | None = None,
                   y_label: str | None = None) -> Figure:
    """Draw a heatmap (cells without a value hatched, never interpolated) on an Agg figure;
    its axes are labelled with their paths unless `x_label` or `y_label` say otherwise."""
    return picture_figure(_picture(heatmap, x_label, y_label))


def _picture(heatmap: Heatmap, x_label: str | None, y_label: str | None) -> Picture:
    """What the drawing needs of `heatmap`, in plain values: a drawing process then imports
    neither pandas nor the results' models (~0.3 s of its start)."""
    return Picture(
        grid=_matrix(heatmap), x_ticks=_tick_labels(heatmap.x_values),
        y_ticks=_tick_labels(heatmap.y_values), x_label=x_label or heatmap.x,
        y_label=y_label or heatmap.y,
        title=f"{heatmap.metric}, {heatmap.agg} over the other parameters",
        metric=heatmap.metric, higher_is_better=heatmap.higher_is_better)


def _file_name(objective: str, x: str, y: str) -> str:
    stem = "__".join(_safe(part) for part in ("heatmap_" + objective, x, y))
    if len(stem) > _NAME_MAX:
        # Keep names well under file-system limits; the digest keeps them distinct.
        digest = hashlib.sha1(f"{objective}\0{x}\0{y}".encode()).hexdigest()[:10]
        stem = f"{stem[: _NAME_MAX - 11]}_{digest}"
    return f"{stem}.png"


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", part).strip(".") or "_"
