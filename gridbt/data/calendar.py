"""US equity-options trading calendar: NYSE holidays and unscheduled closures, no data file."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import numpy as np

from gridbt._typing import Int32Array

__all__ = ["is_trading_day", "nyse_holidays", "trading_days"]

_EPOCH = dt.date(1970, 1, 1)

# Unscheduled full-day closures since 1990: days of mourning, September 11, Hurricane Sandy.
# Vendor data has no rows on these days, so they must not count as trading days.
_UNSCHEDULED_CLOSURES = frozenset(
    {
        dt.date(1994, 4, 27),
        dt.date(2001, 9, 11),
        dt.date(2001, 9, 12),
        dt.date(2001, 9, 13),
        dt.date(2001, 9, 14),
        dt.date(2004, 6, 11),
        dt.date(2007, 1, 2),
        dt.date(2012, 10, 29),
        dt.date(2012, 10, 30),
        dt.date(2018, 12, 5),
        dt.date(2025, 1, 9),
    }
)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    first = dt.date(year, month, 1)
    offset = (weekday - first.weekday()) % 7
    return first + dt.timedelta(days=offset + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> dt.date:
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    last = nxt - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def _easter(year: int) -> dt.date:
    # Anonymous Gregorian algorithm (Meeus/Jones/Butcher).
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month = (h + ell - 7 * m + 114) // 31
    day = (h + ell - 7 * m + 114) % 31 + 1
    return dt.date(year, month, day)


def _observed(day: dt.date) -> dt.date:
    if day.weekday() == 5:
        return day - dt.timedelta(days=1)
    if day.weekday() == 6:
        return day + dt.timedelta(days=1)
    return day


@lru_cache(maxsize=256)
def nyse_holidays(year: int) -> frozenset[dt.date]:
    """Return the NYSE full-day holidays of `year`, weekend ones on their observed day."""
    days = {
        _nth_weekday(year, 2, 0, 3),  # Presidents' Day
        _easter(year) - dt.timedelta(days=2),  # Good Friday
        _last_weekday(year, 5, 0),  # Memorial Day
        _observed(dt.date(year, 7, 4)),
        _nth_weekday(year, 9, 0, 1),  # Labor Day
        _nth_weekday(year, 11, 3, 4),  # Thanksgiving
        _observed(dt.date(year, 12, 25)),
    }
    new_year = dt.date(year, 1, 1)
    if new_year.weekday() != 5:  # NYSE does not close on the preceding Friday
        days.add(_observed(new_year))
    if year >= 1998:  # first NYSE closure for Martin Luther King Jr. Day
        days.add(_nth_weekday(year, 1, 0, 3))
    if year >= 2022:
        days.add(_observed(dt.date(year, 6, 19)))
    return frozenset(days)


def is_trading_day(day: dt.date) -> bool:
    """Return whether `day` is a weekday on which the NYSE was (or is scheduled to be) open."""
    return (
        day.weekday() < 5
        and day not in nyse_holidays(day.year)
        and day not in _UNSCHEDULED_CLOSURES
    )


def trading_days(start: dt.date, end: dt.date) -> Int32Array:
    """Return trading days in [start, end] as int32 days since 1970-01-01."""
    days = np.arange((start - _EPOCH).days, (end - _EPOCH).days + 1, dtype=np.int32)
    dates = [_EPOCH + dt.timedelta(days=int(d)) for d in days]
    mask = np.fromiter((is_trading_day(d) for d in dates), dtype=bool, count=len(dates))
    return np.asarray(days[mask], dtype=np.int32)
