"""The seam between the world and the kernel: convert, call the `_nb` function, wrap results."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from gridbt._typing import FloatArray
from gridbt.data.pack import PackedChain
from gridbt.kernel import nb
from gridbt.kernel.contract import (
    N_COUNTERS,
    N_DAILY_COLS,
    N_LEG_COLS,
    N_TRADE_COLS,
    C,
    Chain,
    D,
    P,
    chain_dtypes,
    leg_dt,
    trade_dt,
)
from gridbt.kernel.enums import MAX_LEGS, SkipReason
from gridbt.kernel.result import BacktestResult, window_bounds

__all__ = ["BatchBuffers", "BatchOutputs", "chain_arrays", "kpis_of", "new_batch", "read_only",
           "run_batch", "run_params", "windowed"]


def chain_arrays(packed: PackedChain) -> Chain:
    """The packed chain's arrays that the kernels take (`contract.Chain`), dtypes checked, as
    read-only views.

    numba types a read-only array apart from a writable one, and compiles each kernel once per
    type. A chain in Ray's object store or memory-mapped from the packed cache is read-only, one
    packed in-process is writable: as views they all take the one compiled kernel that
    `make install` warms (`workflows.warm`).
    """
    dtypes = chain_dtypes()
    arrays = []
    for name in Chain._fields:
        array = getattr(packed, name)
        if array.dtype != dtypes[name]:
            raise TypeError(f"packed chain: {name} is {array.dtype}, the kernel takes "
                            f"{dtypes[name]}")
        arrays.append(read_only(array))
    return Chain(*arrays)


def read_only(array: np.ndarray) -> np.ndarray:
    """A read-only plain-ndarray view of `array`: every input of a kernel is passed as one, so
    each kernel has one compiled type signature whatever the caller's arrays are."""
    view = array.view(np.ndarray)
    view.flags.writeable = False
    return view


def _to_records(trades: FloatArray, legs: FloatArray, n: int) -> tuple[np.ndarray, np.ndarray]:
    # record fields and output columns are both contract.TradeColumns / LegColumns, in order
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
    trades = np.zeros((max(n_days, 1), N_TRADE_COLS))
    legs = np.zeros((max(n_days, 1) * MAX_LEGS, N_LEG_COLS))
    skips = np.zeros(len(SkipReason.NAMES), dtype=np.int64)
    counters = np.zeros(N_COUNTERS, dtype=np.int64)
    daily = np.zeros((n_days, N_DAILY_COLS))
    n = nb.run_backtest_nb(
        chain_arrays(packed),
        read_only(np.ascontiguousarray(params, dtype=np.float64)),
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
        missing_quote_days=int(counters[C.missing_quote_days]),
        stale_fills=int(counters[C.stale_fills]),
        in_market=in_market,
        daily=daily,
        window=window_bounds((params[P.window_first], params[P.window_end]), n_days),
    )


def windowed(params: FloatArray, window: tuple[int, int]) -> FloatArray:
    """A copy of parameter row(s) `params` restricted to the day window [first, end)."""
    out = np.array(params, dtype=np.float64, copy=True)
    out[..., P.window_first], out[..., P.window_end] = window
    return out


class BatchOutputs(NamedTuple):
    """What a batch of backtests returns, one row per parameter row."""

    kpis: FloatArray  # (n, N_KPIS)
    skips: np.ndarray  # (n, N_SKIPS) int64
    counters: np.ndarray  # (n, N_COUNTERS) int64
    equity: FloatArray  # (kept rows, n_days): the rows flagged in `keep_equity`, in order
    outcome: np.ndarray  # (n,) int64: hash of the trade sequence (`outcome_nb`)
    block_stats: FloatArray  # (n, n_blocks, 3): per time block of the daily returns, count,
    # sum and sum of squares (`overfitting.block_return_stats`, for PBO; n_blocks may be 0)
    # the trade-table engine's account of its rows (`tables.run_batch_tables`; 0 and all
    # False from `run_batch`):
    replayed: int  # rows not walked: they repeated another row's trades, and copied them
    day_rows: np.ndarray  # (n,) bool: rows of entry groups too small, run on the day kernel


class BatchBuffers(NamedTuple):
    """A batch's inputs made kernel-ready and its outputs allocated (`new_batch`)."""

    params: FloatArray  # (n, N_PARAMS), C-contiguous float64
    keep: np.ndarray  # (n,) bool: rows whose equity curve is kept
    slot: np.ndarray  # (n,) int64: each kept row's row in `out.equity`, else -1
    out: BatchOutputs  # written by the kernels


def new_batch(packed: PackedChain, params: FloatArray,
              keep_equity: np.ndarray | None = None, n_blocks: int = 0) -> BatchBuffers:
    """The rows of a batch and the outputs either batch engine fills (`run_batch`,
    `tables.run_batch_tables`)."""
    from gridbt.kernel.metrics import N_KPIS

    params = np.ascontiguousarray(np.atleast_2d(params), dtype=np.float64)
    n = params.shape[0]
    if n_blocks and not 1 <= n_blocks <= packed.n_days - 1:
        raise ValueError(f"n_blocks must be between 1 and the number of daily returns "
                         f"({packed.n_days - 1}), got {n_blocks}")
    keep = np.zeros(n, dtype=bool) if keep_equity is None else np.asarray(keep_equity, bool)
    slot = np.where(keep, np.cumsum(keep) - 1, -1).astype(np.int64)
    out = BatchOutputs(
        kpis=np.empty((n, N_KPIS)),
        skips=np.zeros((n, len(SkipReason.NAMES)), dtype=np.int64),
        counters=np.zeros((n, N_COUNTERS), dtype=np.int64),
        equity=np.empty((int(keep.sum()), packed.n_days)),
        outcome=np.empty(n, dtype=np.int64),
        block_stats=np.zeros((n, n_blocks, 3)),
        replayed=0,
        day_rows=np.zeros(n, dtype=bool),
    )
    return BatchBuffers(params, keep, slot, out)


def run_batch(
    packed: PackedChain, params: FloatArray, keep_equity: np.ndarray | None = None,
    n_blocks: int = 0,
) -> BatchOutputs:
    """Run a batch of encoded parameter rows in one kernel call: outputs per row, the equity
    curves of the rows flagged in `keep_equity` and the return statistics of `n_blocks` time
    blocks of every row (for PBO: no curve needs to leave the kernel for them)."""
    batch = new_batch(packed, params, keep_equity, n_blocks)
    out = batch.out
    nb.run_batch_nb(
        chain_arrays(packed), read_only(batch.params), batch.slot, out.kpis, out.skips,
        out.counters, out.block_stats, out.equity, out.outcome,
    )
    return out


def kpis_of(result: BacktestResult, packed: PackedChain, capital: float) -> dict[str, float]:
    """KPIs of a finished backtest (same kernel as the batch path), over its day window."""
    from gridbt.kernel.kpi_nb import compute_kpis_nb
    from gridbt.kernel.metrics import N_KPIS, kpis_to_dict

    first, end = (0, packed.n_days) if result.window is None else result.window
    out = np.empty(N_KPIS)
    compute_kpis_nb(
        np.ascontiguousarray(result.equity[first:end]),
        read_only(packed.day_date[first:end]),
        float(capital),
        result.trades["pnl"].astype(np.float64),
        result.trades["days_held"].astype(np.int64),
        np.ascontiguousarray(result.in_market[first:end]),
        np.ascontiguousarray(result.daily[first:end, D.initial_margin], dtype=np.float64),
        np.empty(0),
        out,
    )
    return kpis_to_dict(out)
