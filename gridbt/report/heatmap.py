"""Heatmaps of a sweep's objective over each pair of grid parameters, best over the others.

`best_objective_grid` is the data (axis values and the 2-D grid); `objective_heatmaps` draws it
with matplotlib's Agg canvas, never pyplot, so no global figure state or display is involved.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gridbt._typing import FloatArray, IntArray
from gridbt.report._canvas import agg_figure, write_png

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["OFF_LABEL", "best_objective_grid", "objective_heatmaps"]

OFF_LABEL = "off"
# Above this many rows or columns the cell annotations would overlap.
_ANNOTATE_MAX = 12
_NAME_MAX = 120


@dataclass(frozen=True)
class _Levels:
    """The distinct values of one parameter in axis order, and each row's index into them."""

    values: list[object]
    codes: IntArray


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
    _require_columns(results, (x, y, objective))
    x_levels, y_levels = _levels(results[x]), _levels(results[y])
    return (
        x_levels.values,
        y_levels.values,
        _grid(x_levels, y_levels, results[objective], higher_is_better),
    )


def objective_heatmaps(
    results: pd.DataFrame,
    params: Sequence[str],
    objective: str,
    *,
    higher_is_better: bool,
    out_dir: Path,
    max_pairs: int = 10,
) -> list[Path]:
    """Write one PNG heatmap per pair of parameters that both take two or more values.

    Pairs follow the order of `params` (first with second, first with third, ...), the first
    of a pair on the x axis; at most `max_pairs` are drawn. Cells show the best objective over
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

    Returns
    -------
    list of Path
        The files written, in pair order.
    """
    if max_pairs < 0:
        raise ValueError(f"max_pairs must be >= 0, got {max_pairs}")
    _require_columns(results, (*params, objective))
    levels = {path: _levels(results[path]) for path in dict.fromkeys(params)}
    varied = [path for path, level in levels.items() if len(level.values) >= 2]
    pairs = list(itertools.islice(itertools.combinations(varied, 2), max_pairs))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for x, y in pairs:
        grid = _grid(levels[x], levels[y], results[objective], higher_is_better)
        figure = _figure(
            x, y, levels[x].values, levels[y].values, grid, objective, higher_is_better
        )
        path = out_dir / _file_name(objective, x, y)
        write_png(figure, path)
        written.append(path)
    return written


def _require_columns(results: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in results.columns]
    if missing:
        raise ValueError(f"results have no column(s) {missing}; columns: {list(results.columns)}")


def _is_off(value: object) -> bool:
    return value is None or bool(np.ndim(value) == 0 and pd.isna(value))  # type: ignore[arg-type]


def _sort_key(value: object) -> tuple[int, float, str]:
    """Numbers ascending, then text, then booleans, then off."""
    if _is_off(value):
        return (3, 0.0, "")
    if isinstance(value, bool | np.bool_):
        return (2, float(value), "")
    if isinstance(value, int | float | np.integer | np.floating):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def _identity(value: object) -> Hashable:
    """Equal for values that share an axis position: 1 and 1.0 do, True and 1 do not."""
    if _is_off(value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if not isinstance(value, Hashable):
        return ("unhashable", repr(value))  # list-valued parameters, e.g. weekdays
    return (type(value) is bool, value)


def _levels(column: pd.Series) -> _Levels:
    identities = [_identity(v) for v in column.tolist()]
    first: dict[Hashable, object] = {}
    for identity, value in zip(identities, column.tolist(), strict=True):
        first.setdefault(identity, None if identity is None else value)
    order = sorted(first, key=lambda identity: _sort_key(first[identity]))
    position = {identity: i for i, identity in enumerate(order)}
    codes = np.fromiter((position[i] for i in identities), dtype=np.int64, count=len(identities))
    values = [first[identity] for identity in order]
    return _Levels([v.item() if isinstance(v, np.generic) else v for v in values], codes)


def _grid(x: _Levels, y: _Levels, objective: pd.Series, higher_is_better: bool) -> FloatArray:
    values = pd.to_numeric(objective, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(values)
    cells = (y.codes * len(x.values) + x.codes)[finite]
    size = len(x.values) * len(y.values)
    best = np.full(size, -np.inf if higher_is_better else np.inf)
    (np.maximum if higher_is_better else np.minimum).at(best, cells, values[finite])
    best[np.bincount(cells, minlength=size) == 0] = np.nan
    return best.reshape(len(y.values), len(x.values))


def _label(value: object) -> str:
    if _is_off(value):
        return OFF_LABEL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


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


def _figure(
    x: str,
    y: str,
    x_values: list[object],
    y_values: list[object],
    grid: FloatArray,
    objective: str,
    higher_is_better: bool,
) -> Figure:
    from matplotlib.colors import Normalize, TwoSlopeNorm
    from matplotlib.patches import Rectangle

    n_rows, n_cols = grid.shape
    width = min(14.0, max(5.0, 2.2 + 0.65 * n_cols))
    figure = agg_figure(width, min(10.0, max(3.8, 1.6 + 0.45 * n_rows)))
    ax = figure.add_subplot()
    scale = _color_scale(grid, higher_is_better)
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
    ax.set_xticks(range(n_cols), [_label(v) for v in x_values], rotation=45, ha="right")
    ax.set_yticks(range(n_rows), [_label(v) for v in y_values])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    best = "max" if higher_is_better else "min"
    ax.set_title(f"{objective}, {best} over the other parameters", loc="left", fontsize=10)
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


def _file_name(objective: str, x: str, y: str) -> str:
    stem = "__".join(_safe(part) for part in ("heatmap_" + objective, x, y))
    if len(stem) > _NAME_MAX:
        # Keep names well under file-system limits; the digest keeps them distinct.
        digest = hashlib.sha1(f"{objective}\0{x}\0{y}".encode()).hexdigest()[:10]
        stem = f"{stem[: _NAME_MAX - 11]}_{digest}"
    return f"{stem}.png"


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", part).strip(".") or "_"
