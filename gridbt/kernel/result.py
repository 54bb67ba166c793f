"""The outputs of one backtest, shared by the numba kernel's dispatch and the Python reference."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gridbt._typing import BoolArray, FloatArray, IntArray

__all__ = ["BacktestResult"]


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
        float64 (n_days, layout.N_DAILY_COLS): end-of-day contracts, greeks, hedge, margin and
        the day's P&L attribution (docs/semantics.md, Daily outputs and attribution).
    """

    equity: FloatArray
    trades: np.ndarray
    legs: np.ndarray
    skips: IntArray
    missing_quote_days: int
    stale_fills: int
    in_market: BoolArray
    daily: FloatArray
