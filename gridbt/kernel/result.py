"""The outputs of one backtest, shared by the numba kernel's dispatch and the Python reference."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gridbt._typing import BoolArray, FloatArray, IntArray

__all__ = ["BacktestResult", "window_bounds"]


def window_bounds(window: tuple[float, float] | None, n_days: int) -> tuple[int, int]:
    """The day window `(first, end)` clamped to a chain of `n_days` (docs/semantics.md, Day
    window): `first = max(0, first)`, `end = min(end, n_days)`; a NaN first is 0 and a NaN end
    is `n_days`. An empty window (`end <= first`) comes back as `(first, first)`, with `first`
    at most `n_days`, so that `end - first` is always the number of days walked."""
    if window is None:
        return 0, n_days
    lo, hi = float(window[0]), float(window[1])
    first = int(min(lo, n_days)) if lo > 0 else 0  # NaN and negatives: 0
    end = n_days if not hi < n_days else (int(hi) if hi > 0 else 0)  # NaN: the chain's end
    if end <= first:
        end = first
    return first, end


@dataclass(frozen=True)
class BacktestResult:
    """One backtest's daily equity, closed trades and counters (docs/semantics.md, Outputs).

    Attributes
    ----------
    equity
        float64 per trading day, after exits and entries of that day.
    trades
        One `enums.trade_dt` record per closed trade, in exit order.
    legs
        `enums.leg_dt` records, `MAX_LEGS` rows per trade; rows past a trade's `n_legs` are zero.
    skips
        int64 counts of failed entry attempts, indexed by `enums.SkipReason`.
    missing_quote_days
        Days on which at least one open leg had no usable quote.
    stale_fills
        Exit fills of legs priced on a quote carried from an earlier day.
    in_market
        bool per trading day: a position is open at the end of the day.
    daily
        float64 (n_days, contract.N_DAILY_COLS): end-of-day contracts, greeks, hedge, margin and
        the day's P&L attribution (docs/semantics.md, Daily outputs and attribution).
    window
        The day window `(first, end)` that was simulated, clamped to the chain
        (`window_bounds`); None = the whole chain. Outside it equity is
        flat (capital before, the window's last equity after) and the book is flat.
    """

    equity: FloatArray
    trades: np.ndarray
    legs: np.ndarray
    skips: IntArray
    missing_quote_days: int
    stale_fills: int
    in_market: BoolArray
    daily: FloatArray
    window: tuple[int, int] | None = None
