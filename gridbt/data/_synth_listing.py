"""Which expiries and strikes the synthetic chain lists on each day."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from gridbt._typing import BoolArray, FloatArray, Int32Array, IntArray
from gridbt.data.calendar import is_trading_day

_EPOCH = dt.date(1970, 1, 1)
_FRIDAY = 4
_QUARTER_MONTHS = (3, 6, 9, 12)

#: Strike lattices from fine to coarse, in index points; each step divides the next, so a
#: strike listed on a coarse lattice is also on every finer one.
STRIKE_STEPS = (5, 25, 50, 100)
#: By days to expiry (up to and including the first number): how far, in at-the-money standard
#: deviations of log-moneyness, each lattice of `STRIKE_STEPS` reaches (0: not used).
_STRIKE_REACH: tuple[tuple[int, tuple[float, float, float, float]], ...] = (
    (60, (1.0, 2.0, 3.0, 4.0)),
    (180, (0.0, 1.5, 2.5, 4.0)),
    (100_000, (0.0, 0.75, 1.5, 4.0)),
)


@dataclass(frozen=True)
class ExpirySchedule:
    """Every expiry date that can be listed, ascending, as int32 days since 1970-01-01."""

    expiry: Int32Array
    #: Third-Friday (standard monthly) expiry.
    monthly: BoolArray
    #: Third Friday of March, June, September or December.
    quarterly: BoolArray


def expiry_schedule(first_day: int, last_day: int) -> ExpirySchedule:
    """Return the Friday expiries in [first_day, last_day], moved back over holidays."""
    first = _EPOCH + dt.timedelta(days=first_day)
    friday = first + dt.timedelta(days=(_FRIDAY - first.weekday()) % 7)
    expiries: list[int] = []
    monthly: list[bool] = []
    quarterly: list[bool] = []
    while (friday - _EPOCH).days <= last_day:
        expiry = friday
        while not is_trading_day(expiry):
            expiry -= dt.timedelta(days=1)
        third = 15 <= friday.day <= 21
        expiries.append((expiry - _EPOCH).days)
        monthly.append(third)
        quarterly.append(third and friday.month in _QUARTER_MONTHS)
        friday += dt.timedelta(days=7)
    return ExpirySchedule(
        expiry=np.asarray(expiries, dtype=np.int32),
        monthly=np.asarray(monthly, dtype=np.bool_),
        quarterly=np.asarray(quarterly, dtype=np.bool_),
    )


def listed_expiries(
    days: Int32Array,
    schedule: ExpirySchedule,
    *,
    weeklies: bool,
    weekly_horizon_days: int,
    quarterly_horizon_days: int,
    monthly_horizon_days: int | None = None,
    weeklies_from: int | None = None,
) -> tuple[IntArray, IntArray]:
    """Return (day index, schedule index) of every listed (day, expiry) pair, day-major.

    Listed on a day: weeklies (or only monthlies when `weeklies` is false, or on days before
    `weeklies_from`) expiring after it and within `weekly_horizon_days`, monthlies within
    `monthly_horizon_days` (default: the weekly horizon), and quarterlies within
    `quarterly_horizon_days`.
    """
    to_expiry = schedule.expiry[None, :].astype(np.int64) - days[:, None].astype(np.int64)
    monthly_horizon = weekly_horizon_days if monthly_horizon_days is None else monthly_horizon_days
    weekly_day = np.full(days.shape[0], weeklies, dtype=np.bool_)
    if weeklies_from is not None:
        weekly_day &= days >= weeklies_from
    listed = (to_expiry > 0) & (
        ((to_expiry <= weekly_horizon_days) & weekly_day[:, None])
        | ((to_expiry <= monthly_horizon) & schedule.monthly[None, :])
        | ((to_expiry <= quarterly_horizon_days) & schedule.quarterly[None, :])
    )
    day_index, expiry_index = np.nonzero(listed)
    return day_index.astype(np.int64), expiry_index.astype(np.int64)


def step_scale(spot: FloatArray, doubling_spot: float) -> IntArray:
    """Return the strike-step multiplier: 1 below `doubling_spot`, doubling at each doubling."""
    doublings = np.floor(np.log2(np.maximum(spot / doubling_spot, 0.5))) + 1.0
    return np.left_shift(np.int64(1), doublings.astype(np.int64))


def strike_reach(
    spot: FloatArray,
    deviation: FloatArray,
    days_to_expiry: IntArray,
    scale: IntArray,
    *,
    range_sd: float,
    moneyness_bounds: tuple[float, float],
) -> tuple[FloatArray, FloatArray]:
    """Return (low, high) strike bounds of each lattice for each (day, expiry) pair.

    Shapes (n_pairs, len(STRIKE_STEPS)); an unused lattice has low = +inf, high = -inf.
    `deviation` is the at-the-money standard deviation of log-moneyness to expiry. Each used
    lattice reaches at least one of its own steps either side of the spot, and at most
    `range_sd` deviations within `moneyness_bounds` (strike over spot); reaches are nested.
    """
    tier = np.searchsorted(np.asarray([t[0] for t in _STRIKE_REACH]), days_to_expiry)
    reach = np.minimum(np.asarray([t[1] for t in _STRIKE_REACH])[tier], range_sd)
    used = reach > 0.0
    steps = np.asarray(STRIKE_STEPS, dtype=np.float64)[None, :] * scale[:, None]
    log_low, log_high = np.log(moneyness_bounds[0]), np.log(moneyness_bounds[1])
    width = reach * deviation[:, None]
    low = spot[:, None] * np.exp(np.maximum(-width, log_low))
    high = spot[:, None] * np.exp(np.minimum(width, log_high))
    low = np.minimum(low, spot[:, None] - steps)
    high = np.maximum(high, spot[:, None] + steps)
    return np.where(used, low, np.inf), np.where(used, high, -np.inf)


def accumulate_reach(
    low: FloatArray, high: FloatArray, expiry_index: IntArray
) -> tuple[FloatArray, FloatArray]:
    """Widen each pair's bounds to everything its expiry has listed on earlier days.

    Pairs must be day-major. Once listed, a strike stays listed until it expires.
    """
    order = np.argsort(expiry_index, kind="stable")
    low_sorted, high_sorted = low[order], high[order]
    groups = np.flatnonzero(np.r_[True, np.diff(expiry_index[order]) != 0])
    for start, stop in zip(groups, np.r_[groups[1:], order.shape[0]], strict=True):
        np.minimum.accumulate(low_sorted[start:stop], axis=0, out=low_sorted[start:stop])
        np.maximum.accumulate(high_sorted[start:stop], axis=0, out=high_sorted[start:stop])
    out_low, out_high = np.empty_like(low), np.empty_like(high)
    out_low[order], out_high[order] = low_sorted, high_sorted
    return out_low, out_high


def strike_grid(low: FloatArray, high: FloatArray, scale: IntArray) -> tuple[IntArray, FloatArray]:
    """Return (pair index, strike) of every listed strike, ascending within each pair.

    Lattice j lists the multiples of ``STRIKE_STEPS[j] * scale`` within [low[:, j], high[:, j]]
    that no finer lattice lists; the bounds must be nested (finer inside coarser).
    """
    n_pairs, n_levels = low.shape
    steps = np.asarray(STRIKE_STEPS, dtype=np.int64)[None, :] * scale[:, None]
    # Range of strikes listed by finer lattices so far (in index points, empty as +big/-big).
    big = np.iinfo(np.int64).max // 4
    covered_low = np.full(n_pairs, big, dtype=np.int64)
    covered_high = np.full(n_pairs, -big, dtype=np.int64)
    below: list[tuple[IntArray, IntArray, IntArray]] = []
    above: list[tuple[IntArray, IntArray, IntArray]] = []
    for level in range(n_levels):
        step = steps[:, level]
        used = np.isfinite(low[:, level])
        first = np.where(used, np.ceil(np.where(used, low[:, level], 0.0) / step), 1)
        last = np.where(used, np.floor(np.where(used, high[:, level], 0.0) / step), 0)
        first = np.maximum(first.astype(np.int64), 1)
        last = last.astype(np.int64)
        empty = covered_low > covered_high
        low_last = np.where(empty, last, np.minimum(last, -(-covered_low // step) - 1))
        high_first = np.where(empty, last + 1, np.maximum(first, covered_high // step + 1))
        below.append((first, low_last, step))
        above.append((high_first, last, step))
        has_low = low_last >= first
        has_high = last >= high_first
        covered_low = np.where(has_low, np.minimum(covered_low, first * step), covered_low)
        covered_high = np.where(has_high, np.maximum(covered_high, last * step), covered_high)
        covered_high = np.where(has_low, np.maximum(covered_high, low_last * step), covered_high)

    # Segments in ascending strike order: coarsest below ... finest ... coarsest above.
    segments = below[::-1] + above
    first = np.stack([seg[0] for seg in segments], 1).ravel()
    last = np.stack([seg[1] for seg in segments], 1).ravel()
    step = np.stack([seg[2] for seg in segments], 1).ravel()
    count = np.maximum(last - first + 1, 0)
    segment = np.repeat(np.arange(count.shape[0]), count)
    starts = np.cumsum(count) - count
    local = np.arange(segment.shape[0]) - starts[segment]
    strike = ((first[segment] + local) * step[segment]).astype(np.float64)
    return segment // len(segments), strike
