"""Plot data shared by every renderer: axis order, heatmaps, grouped statistics, downsampled
series.

Heatmaps and slices reduce a metric per group of runs with `group_stats` (exact, one pass over
the runs in `grouped_nb`): the API over the numpy columns of a sweep's runs
(`gridbt.results.runs`), the `gridbt sweep` workflow over a pandas frame (`heatmap_of_frame`).
Both give a `models.Heatmap`, with the same axis order (`axis_sort_key`), which
`gridbt.report.heatmap` draws as PNG and the browser as a chart.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from gridbt._typing import BoolArray, FloatArray, IntArray
from gridbt.results.errors import QueryError
from gridbt.results.models import Aggregate, Heatmap

__all__ = [
    "AGGREGATES",
    "AxisLevels",
    "GroupStats",
    "MAX_HEATMAP_CELLS",
    "MAX_POINTS",
    "axis_identity",
    "axis_levels",
    "axis_sort_key",
    "downsample_indices",
    "finite_or_none",
    "group_stats",
    "heatmap_of_frame",
    "heatmap_of_groups",
    "is_off",
    "load_kernels",
    "nullable",
    "plain",
]

AGGREGATES: tuple[Aggregate, ...] = ("max", "median", "mean", "min", "count")
MAX_HEATMAP_CELLS = 250_000
#: the most days a curve is served at: 40 years of trading days, so any chain of up to that
#: (the default one has 5,031) is served day by day when asked for in full
MAX_POINTS = 10_000


def is_off(value: object) -> bool:
    """Whether a grid value is off (None, or a missing value such as NaN)."""
    return value is None or bool(np.ndim(value) == 0 and pd.isna(value))  # type: ignore[arg-type]


def axis_sort_key(value: object) -> tuple[int, float, str]:
    """Axis order of grid values: numbers ascending, then text, then booleans, then off."""
    if is_off(value):
        return (3, 0.0, "")
    if isinstance(value, bool | np.bool_):
        return (2, float(value), "")
    if isinstance(value, int | float | np.integer | np.floating):
        return (0, float(value), "")
    if isinstance(value, list | tuple | np.ndarray):  # e.g. weekdays: shorter lists first
        return (1, float(len(value)), str(list(value)))
    return (1, 0.0, str(value))


def plain(value: Any) -> Any:
    """A value as plain JSON: numpy scalars and arrays unwrapped, NaN and infinities null."""
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def finite_or_none(value: Any) -> float | None:
    """A number, or None if it is missing, NaN or infinite."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def axis_identity(value: object) -> Hashable:
    """Equal for values that share an axis position: 1 and 1.0 do, True and 1 do not."""
    if is_off(value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, Hashable):
        return ("unhashable", repr(value))  # list-valued parameters, e.g. weekdays
    return (type(value) is bool, value)


@dataclass(frozen=True)
class AxisLevels:
    """The distinct values of one parameter in axis order, and each row's index into them."""

    values: list[object]
    codes: IntArray


def axis_levels(column: pd.Series) -> AxisLevels:
    """The distinct values of `column` in axis order (`axis_sort_key`) and each row's level.

    A column of numbers, booleans or text (what a sweep's results hold for most paths) is
    factorised in C (`_levels_by_value`): ~0.1 s for a million rows, against ~1.4 s item by
    item (`_levels_by_identity`, which other columns take: list values, or types mixed in one
    column, where 1 and True must stay apart)."""
    array = column.to_numpy()
    if array.dtype.kind in "biuf" or (array.dtype.kind == "O" and pd.api.types.infer_dtype(
            array, skipna=True) in ("string", "empty")):
        return _levels_by_value(array)
    return _levels_by_identity(column.tolist())


def _levels_by_value(array: np.ndarray) -> AxisLevels:
    """`axis_levels` of values of one kind, equal when `==` says so (a missing value, NaN or
    None, is off; -0.0 is 0.0, shown as the first seen of them)."""
    # codes in first-seen order (off: -1); `uniques` holds each level's first-seen value
    found, uniques = pd.factorize(array, use_na_sentinel=True)
    codes = np.asarray(found, dtype=np.int64)
    first: list[object] = [v.item() if isinstance(v, np.generic) else v for v in uniques]
    if (codes < 0).any():
        codes = np.where(codes < 0, len(first), codes)
        first.append(None)
    order = sorted(range(len(first)), key=lambda k: axis_sort_key(first[k]))
    position = np.empty(len(first), dtype=np.int64)
    position[order] = np.arange(len(first))
    return AxisLevels([plain(first[k]) for k in order], position[codes])


def _levels_by_identity(items: list[object]) -> AxisLevels:
    """`axis_levels` item by item, by `axis_identity`."""
    identities = [axis_identity(v) for v in items]
    first: dict[Hashable, object] = {}
    for identity, value in zip(identities, items, strict=True):
        first.setdefault(identity, None if identity is None else value)
    order = sorted(first, key=lambda identity: axis_sort_key(first[identity]))
    position = {identity: i for i, identity in enumerate(order)}
    codes = np.fromiter((position[i] for i in identities), dtype=np.int64, count=len(identities))
    return AxisLevels([plain(first[identity]) for identity in order], codes)


@dataclass(frozen=True)
class GroupStats:
    """A metric's statistics per group over the selected rows (`group_stats`): axis 0 is the
    group; NaN where a group has no defined value, -1 for no row."""

    rows: IntArray  # selected rows
    count: IntArray  # of them, rows with a defined value
    min: FloatArray
    max: FloatArray
    mean: FloatArray
    best: IntArray  # the row of the best value by the metric's direction (the first of equals)
    quantiles: FloatArray  # (groups, quantiles asked for)

    def aggregate(self, agg: Aggregate) -> FloatArray:
        """Each group's `agg` (a median needs the quantile 0.5 asked for, alone); `count` is 0
        in a group whose selected rows all have an undefined value, NaN in one with none."""
        if agg == "count":
            return np.where(self.rows > 0, self.count.astype(np.float64), np.nan)
        if agg == "median":
            return self.quantiles[:, 0]
        return {"max": self.max, "min": self.min, "mean": self.mean}[agg]


def group_stats(values: FloatArray, groups: IntArray, n_groups: int, *, higher_is_better: bool,
                selected: BoolArray | None = None,
                quantiles: Sequence[float] = ()) -> GroupStats:
    """Exact statistics of `values` (NaN: undefined) per group (`groups` in [0, n_groups), a
    negative group: none) over the `selected` rows (default: all), in O(rows) (see
    `grouped_nb`); `quantiles` ascending, linear between order statistics as pandas."""
    from gridbt.results import grouped_nb

    values = np.ascontiguousarray(values, dtype=np.float64)
    groups = np.ascontiguousarray(groups, dtype=np.int64)
    mask = (np.ones(len(values), dtype=np.bool_) if selected is None
            else np.ascontiguousarray(selected, dtype=np.bool_))
    if not len(values) == len(groups) == len(mask):
        raise ValueError("values, groups and selected differ in length")
    rows, count, low, high, mean, best = grouped_nb.group_stats_nb(
        values, groups, mask, n_groups, higher_is_better)
    wanted = np.asarray(quantiles, dtype=np.float64)
    if wanted.size and (np.any(np.diff(wanted) < 0) or wanted[0] < 0 or wanted[-1] > 1):
        raise ValueError(f"quantiles {list(quantiles)} are not ascending in [0, 1]")
    if wanted.size:
        table = grouped_nb.group_quantiles_nb(values, groups, mask, count, wanted)
    else:
        table = np.empty((n_groups, 0))
    return GroupStats(rows, count, low, high, mean, best, table)


def load_kernels() -> None:
    """Compile the grouped-statistics kernels, or load them from numba's cache (about half a
    second), so that the first heatmap does not wait for them."""
    group_stats(np.zeros(2), np.zeros(2, dtype=np.int64), 1, higher_is_better=True,
                quantiles=(0.5,))


def nullable(values: FloatArray) -> list[Any]:
    """An array as nested lists of floats, None where a value is not finite."""
    cells = np.asarray(values, dtype=np.float64)
    out = cells.astype(object)
    out[~np.isfinite(cells)] = None
    listed: list[Any] = out.tolist()
    return listed


def heatmap_of_groups(stats: GroupStats, agg: Aggregate,
                      best: Sequence[str | None] | npt.NDArray[np.object_], *,
                      x: str, y: str, metric: str, higher_is_better: bool,
                      where: dict[str, Any], x_values: list[Any],
                      y_values: list[Any]) -> Heatmap:
    """The heatmap of statistics over the cells `y * len(x_values) + x` (`best`: the
    param_hash of each cell's best run). Built unvalidated: every field is made here as its
    type says, and validating 250,000 cells three times over costs 40 ms."""
    n_x, n_y = len(x_values), len(y_values)
    labels = np.asarray(best, dtype=object).reshape(n_y, n_x)
    return Heatmap.model_construct(
        x=x, y=y, metric=metric, agg=agg, higher_is_better=higher_is_better, where=where,
        x_values=x_values, y_values=y_values,
        values=nullable(stats.aggregate(agg).reshape(n_y, n_x)),
        counts=stats.rows.reshape(n_y, n_x).tolist(),
        best=labels.tolist(),
        runs=int(stats.rows.sum()),
    )


def heatmap_of_frame(results: pd.DataFrame, x: str, y: str, metric: str, *,
                     higher_is_better: bool, agg: Aggregate = "max") -> Heatmap:
    """A heatmap of `metric` over the values of `x` and `y` in a frame of runs (one row per
    run), the other parameters reduced by `agg` over the runs with a finite metric.

    Raises
    ------
    QueryError
        If a column is missing or the aggregate is unknown.
    """
    missing = [c for c in (x, y, metric) if c not in results.columns]
    if missing:
        raise QueryError(f"results have no column(s) {missing}; columns: {list(results.columns)}")
    if agg not in AGGREGATES:
        raise QueryError(f"agg: {agg!r} is not one of {', '.join(AGGREGATES)}")
    xs, ys = axis_levels(results[x]), axis_levels(results[y])
    n_x, n_y = len(xs.values), len(ys.values)
    column = pd.to_numeric(results[metric], errors="coerce").to_numpy(dtype=np.float64,
                                                                      na_value=np.nan)
    values = np.where(np.isfinite(column), column, np.nan)
    stats = group_stats(values, ys.codes * n_x + xs.codes, n_x * n_y,
                        higher_is_better=higher_is_better,
                        quantiles=(0.5,) if agg == "median" else ())
    hashes: Sequence[Any] = (results["param_hash"].tolist() if "param_hash" in results
                             else [None] * len(results))
    return heatmap_of_groups(stats, agg, [hashes[r] if r >= 0 else None for r in stats.best],
                             x=x, y=y, metric=metric, higher_is_better=higher_is_better,
                             where={}, x_values=xs.values, y_values=ys.values)


def downsample_indices(values: FloatArray, points: int,
                       extra: Sequence[int] = ()) -> IntArray:
    """Indices of at most `points` samples of a series that keep its shape: the first, the
    last, the highest and the lowest value, the `extra` ones (e.g. the deepest drawdown), in
    that order of priority, then in each of equal buckets between the first and the last the
    lowest and the highest value; in time order. All of them if the series is short.

    NaN values are never picked as a bucket's extreme (a bucket of NaN keeps its first index).
    """
    n = len(values)
    if points < 2:
        raise QueryError(f"points: {points} is fewer than 2")
    if n <= points:
        return np.arange(n, dtype=np.int64)
    extremes = [int(np.nanargmax(values)), int(np.nanargmin(values))] \
        if not np.isnan(values).all() else []
    wanted = [0, n - 1, *extremes, *(int(i) for i in extra if 0 <= int(i) < n)]
    fixed = np.unique(np.array(list(dict.fromkeys(wanted))[:points], dtype=np.int64))
    buckets = max((points - len(fixed)) // 2, 0)
    if not buckets:
        return fixed
    # buckets over [1, n - 1): the first and last day are never in one
    edges = np.unique(np.linspace(1, n - 1, buckets + 1).astype(np.int64))
    starts = edges[:-1]
    bucket = np.repeat(np.arange(len(starts)), np.diff(edges))
    inner = values[1:n - 1]
    low = np.where(np.isnan(inner), np.inf, inner)
    high = np.where(np.isnan(inner), -np.inf, inner)
    lows = np.minimum.reduceat(low, starts - 1)
    highs = np.maximum.reduceat(high, starts - 1)
    # the first index of each bucket holding its minimum (maximum); an all-NaN bucket gives
    # its first index
    is_low = np.flatnonzero(low == lows[bucket])
    is_high = np.flatnonzero(high == highs[bucket])
    first_low = is_low[np.unique(bucket[is_low], return_index=True)[1]]
    first_high = is_high[np.unique(bucket[is_high], return_index=True)[1]]
    # at most len(fixed) + 2 * buckets <= points
    return np.unique(np.concatenate([fixed, first_low + 1, first_high + 1]))
