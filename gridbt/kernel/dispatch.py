"""The seam between the world and the kernel: convert, call the `_nb` function, wrap results."""

from __future__ import annotations

from typing import Literal

import numpy as np

from gridbt._typing import FloatArray
from gridbt.data.pack import PackedChain
from gridbt.kernel import layout as L
from gridbt.kernel import nb
from gridbt.kernel.encode import encode_spec
from gridbt.kernel.enums import MAX_LEGS, SkipReason, leg_dt, trade_dt
from gridbt.kernel.result import BacktestResult, window_bounds
from gridbt.strategy.spec import StrategySpec

__all__ = ["Engine", "chain_arrays", "run_backtest", "run_params", "windowed"]

Engine = Literal["numba", "python"]

CHAIN_FIELDS = (
    "day_date",
    "day_spot",
    "day_weekday",
    "day_quote_start",
    "day_group_start",
    "day_put_group_start",
    "group_expiry",
    "group_quote_start",
    "quote_strike",
    "quote_bid",
    "quote_ask",
    "quote_iv",
    "quote_delta",
    "quote_gamma",
    "quote_vega",
    "quote_theta",
    "quote_volume",
    "quote_open_interest",
    "quote_log1p_volume",
    "quote_log1p_open_interest",
    "quote_expiry",
    "quote_right",
    "quote_contract",
    "contract_right",
    "contract_expiry",
    "contract_strike",
    "contract_row_start",
    "contract_rows",
    "contract_row_day",
    "features",
)


def chain_arrays(packed: PackedChain) -> tuple[np.ndarray, ...]:
    """The packed chain as the positional array arguments of the kernel entry points."""
    return tuple(getattr(packed, name) for name in CHAIN_FIELDS)


def _to_records(trades: FloatArray, legs: FloatArray, n: int) -> tuple[np.ndarray, np.ndarray]:
    # trade_dt fields (risk-layer ones included) are the kernel's T_* columns, in order
    trade_rec = np.zeros(n, dtype=trade_dt)
    for col, name in enumerate(trade_dt.names or ()):
        trade_rec[name] = trades[:n, col]
    leg_rec = np.zeros(n * MAX_LEGS, dtype=leg_dt)
    for col, name in enumerate(leg_dt.names or ()):
        leg_rec[name] = legs[: n * MAX_LEGS, col]
    return trade_rec, leg_rec


def run_params(packed: PackedChain, params: FloatArray) -> BacktestResult:
    """Run the numba kernel on one encoded parameter vector (its day window included)."""
    n_days = packed.n_days
    equity = np.empty(n_days)
    in_market = np.zeros(n_days, dtype=np.bool_)
    trades = np.zeros((max(n_days, 1), L.N_TRADE_COLS))
    legs = np.zeros((max(n_days, 1) * MAX_LEGS, L.N_LEG_COLS))
    skips = np.zeros(len(SkipReason.NAMES), dtype=np.int64)
    counters = np.zeros(L.N_COUNTERS, dtype=np.int64)
    daily = np.zeros((n_days, L.N_DAILY_COLS))
    n = nb.run_backtest_nb(
        *chain_arrays(packed),
        np.ascontiguousarray(params, dtype=np.float64),
        equity,
        in_market,
        trades,
        legs,
        skips,
        counters,
        daily,
        True,
    )
    trade_rec, leg_rec = _to_records(trades, legs, n)
    return BacktestResult(
        equity=equity,
        trades=trade_rec,
        legs=leg_rec,
        skips=skips,
        missing_quote_days=int(counters[L.C_MISSING_QUOTE_DAYS]),
        stale_fills=int(counters[L.C_STALE_FILLS]),
        in_market=in_market,
        daily=daily,
        window=window_bounds((params[L.P_WINDOW_FIRST], params[L.P_WINDOW_END]), n_days),
    )


def run_backtest(
    packed: PackedChain,
    spec: StrategySpec,
    engine: Engine = "numba",
    *,
    window: tuple[int, int] | None = None,
) -> BacktestResult:
    """Run one backtest of `spec` over `packed` with the numba kernel or the Python reference.

    `window = (first, end)` runs a fresh backtest over days `[first, end)` only (clamped to
    the chain; docs/semantics.md, Day window); None = the whole chain.
    """
    if engine == "python":
        from gridbt.kernel.reference import run_reference

        return run_reference(packed, spec, window=window)
    if engine != "numba":
        raise ValueError(f"engine: {engine!r} is not one of numba, python")
    params = encode_spec(spec, packed)
    return run_params(packed, params if window is None else windowed(params, window))


def windowed(params: FloatArray, window: tuple[int, int]) -> FloatArray:
    """A copy of parameter row(s) `params` restricted to the day window [first, end)."""
    out = np.array(params, dtype=np.float64, copy=True)
    out[..., L.P_WINDOW_FIRST], out[..., L.P_WINDOW_END] = window
    return out


def run_batch(
    packed: PackedChain, params: FloatArray, keep_equity: np.ndarray | None = None
) -> tuple[FloatArray, np.ndarray, np.ndarray, FloatArray]:
    """Run a batch of encoded parameter rows in one kernel call.

    Returns KPIs (n, N_KPIS), skips (n, N_SKIPS), counters (n, N_COUNTERS) and the equity
    curves of the rows flagged in `keep_equity` (in row order).
    """
    from gridbt.kernel.metrics import N_KPIS

    params = np.ascontiguousarray(np.atleast_2d(params), dtype=np.float64)
    n = params.shape[0]
    keep = np.zeros(n, dtype=bool) if keep_equity is None else np.asarray(keep_equity, bool)
    slot = np.where(keep, np.cumsum(keep) - 1, -1).astype(np.int64)
    kpis = np.empty((n, N_KPIS))
    skips = np.zeros((n, len(SkipReason.NAMES)), dtype=np.int64)
    counters = np.zeros((n, L.N_COUNTERS), dtype=np.int64)
    equity_out = np.empty((int(keep.sum()), packed.n_days))
    nb.run_batch_nb(*chain_arrays(packed), params, slot, kpis, skips, counters, equity_out)
    return kpis, skips, counters, equity_out


def kpis_of(result: BacktestResult, packed: PackedChain, capital: float) -> dict[str, float]:
    """KPIs of a finished backtest (same kernel as the batch path), over its day window."""
    from gridbt.kernel.kpi_nb import compute_kpis_nb
    from gridbt.kernel.metrics import N_KPIS, kpis_to_dict

    first, end = (0, packed.n_days) if result.window is None else result.window
    out = np.empty(N_KPIS)
    compute_kpis_nb(
        np.ascontiguousarray(result.equity[first:end]),
        packed.day_date[first:end],
        float(capital),
        result.trades["pnl"].astype(np.float64),
        result.trades["days_held"].astype(np.int64),
        np.ascontiguousarray(result.in_market[first:end]),
        np.ascontiguousarray(result.daily[first:end, L.D_MARGIN], dtype=np.float64),
        np.empty(0),
        out,
    )
    return kpis_to_dict(out)
