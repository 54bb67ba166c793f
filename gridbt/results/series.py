"""Equity curves and trade lists as the read layer serves them: downsampled, typed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from gridbt._typing import FloatArray
from gridbt.data.pack import PackedChain
from gridbt.results.errors import QueryError
from gridbt.results.models import Equity, Leg, Trade, Trades
from gridbt.results.plots import MAX_POINTS, downsample_indices, finite_or_none, plain

__all__ = ["REGIME_FEATURES", "chain_columns", "check_points", "equity_of", "trades_of"]

#: the chain features a tear sheet breaks daily returns down by: the volatility level, where
#: it stands in its year's range, and the trend (spot over its 200-day average, less 1)
REGIME_FEATURES = ("vix_30", "iv_rank", "trend_200")

_TRADE_FIELDS = ("entry_date", "exit_date", "exit_reason", "direction", "contracts",
                 "entry_premium", "entry_cash", "exit_cash", "commissions", "pnl", "mae", "mfe",
                 "days_held", "legs")


def check_points(points: int) -> int:
    """`points` if it is a valid downsampling target (2 to `MAX_POINTS`)."""
    if not 2 <= points <= MAX_POINTS:
        raise QueryError(f"points: {points} is not between 2 and {MAX_POINTS:,}")
    return points


def chain_columns(packed: PackedChain, dates: np.ndarray,
                  regimes: bool = False) -> dict[str, np.ndarray]:
    """The underlying's close (`spot`) and, with `regimes`, the `REGIME_FEATURES` of the chain
    on each of `dates`; {} when a date is not one of the chain's days."""
    days = packed.day_date.astype("datetime64[D]")
    dates = np.asarray(dates).astype("datetime64[D]")
    at = np.searchsorted(days, dates)
    if len(days) == 0 or (at >= len(days)).any() or (days[at] != dates).any():
        return {}
    columns = {"spot": packed.day_spot[at]}
    if regimes:
        columns.update({name: packed.features[packed.feature_names.index(name)][at]
                        for name in REGIME_FEATURES if name in packed.feature_names})
    return columns


def _floats(values: np.ndarray) -> list[float | None]:
    return [finite_or_none(v) for v in values.tolist()]


def equity_of(dates: np.ndarray, equity: FloatArray, points: int,
              source: Literal["kept", "recomputed", "file"],
              columns: Mapping[str, np.ndarray] | None = None) -> Equity:
    """A daily equity curve (and other daily columns) downsampled to at most `points` days.

    The first, last, highest and lowest equity and the deepest drawdown are always kept (see
    `plots.downsample_indices`); `pnl_*` columns are summed since the previous kept day.
    """
    check_points(points)
    equity = np.asarray(equity, dtype=np.float64)
    if len(dates) != len(equity):
        raise ValueError(f"{len(dates)} dates for {len(equity)} equity values")
    if len(equity):
        peak = np.fmax.accumulate(equity)
        with np.errstate(divide="ignore", invalid="ignore"):
            drawdown = equity / peak - 1.0
        trough = [int(np.nanargmin(drawdown))] if np.isfinite(drawdown).any() else []
    else:
        drawdown, trough = equity, []
    index = downsample_indices(equity, points, trough)
    out: dict[str, list[float | None]] = {}
    for name, column in (columns or {}).items():
        values = np.asarray(column, dtype=np.float64)
        if name.startswith("pnl_"):
            total = np.cumsum(np.nan_to_num(values))[index]
            out[name] = _floats(np.diff(total, prepend=0.0))
        else:
            out[name] = _floats(values[index])
    day_dates = np.asarray(dates).astype("datetime64[D]")[index]
    return Equity(
        dates=[str(d) for d in day_dates], equity=_floats(equity[index]),
        drawdown=_floats(drawdown[index]), columns=out, days=len(equity), points=len(index),
        source=source,
    )


def _text(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    return "" if value is None else str(value)


def _leg(raw: Mapping[str, Any]) -> Leg:
    return Leg(right=str(raw["right"]), strike=float(raw["strike"]),
               expiry=_text(raw["expiry"]), units=float(raw["units"]),
               entry_fill=float(raw["entry_fill"]), exit_fill=float(raw["exit_fill"]),
               settled=bool(raw["settled"]))


def trades_of(table: pa.Table, source: Literal["recomputed", "file"]) -> Trades:
    """The trades of a `trades.parquet`-layout table (`results.tables.trades_table`), each
    with its legs and its position in the list."""
    trades = []
    for number, row in enumerate(table.to_pylist()):
        trades.append(Trade(
            number=number, entry_date=_text(row.get("entry_date")),
            exit_date=_text(row.get("exit_date")), exit_reason=str(row.get("exit_reason")),
            direction=int(row.get("direction") or 0), contracts=float(row.get("contracts") or 0),
            entry_premium=finite_or_none(row.get("entry_premium")),
            entry_cash=finite_or_none(row.get("entry_cash")),
            exit_cash=finite_or_none(row.get("exit_cash")),
            commissions=finite_or_none(row.get("commissions")),
            pnl=finite_or_none(row.get("pnl")), mae=finite_or_none(row.get("mae")),
            mfe=finite_or_none(row.get("mfe")), days_held=int(row.get("days_held") or 0),
            extra={k: plain(v) for k, v in row.items() if k not in _TRADE_FIELDS},
            legs=[_leg(leg) for leg in row.get("legs") or []],
        ))
    return Trades(count=len(trades), trades=trades, source=source)
