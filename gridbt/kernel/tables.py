"""SCAFFOLD of the trade-table engine's interface, for the sweep side to build against.

This file is a stand-in, replaced at merge by the real trade-table engine (another branch). It
has the real module's interface exactly, but no engine behind it: `run_batch_tables` runs the
day-by-day kernel (`dispatch.run_batch`), so its outputs equal the day kernel's by
construction. `fallback_reasons` and `entry_group_keys` are rough versions that read the
parameter slots named below; the real ones decide what the engine supports.

- `FALLBACK_REASONS`: index 0 (`""`) = the row can run on trade tables; the others name why it
  cannot.
- `fallback_reasons(params)`: (n,) int8 index into `FALLBACK_REASONS` per parameter row.
- `entry_group_keys(params)`: (n,) int64; rows with the same key have the same entries.
- `run_batch_tables(packed, params, keep_equity)`: what `dispatch.run_batch` returns.
"""

from __future__ import annotations

import hashlib

import numpy as np

from gridbt._typing import FloatArray
from gridbt.data.pack import PackedChain
from gridbt.kernel.contract import N_PARAMS, P
from gridbt.kernel.dispatch import BatchOutputs, run_batch
from gridbt.kernel.enums import MarginModel

__all__ = ["FALLBACK_REASONS", "entry_group_keys", "fallback_reasons", "run_batch_tables"]

#: Why a row runs on the day kernel; index 0 ("") = it can run on trade tables.
FALLBACK_REASONS: tuple[str, ...] = ("", "margin_calls", "delta_hedge")

_MARGIN_CALLS = 1
_DELTA_HEDGE = 2
#: exit-rule slots: everything else decides a row's entries
_EXIT_SLOTS = (P.profit_target, P.stop_loss, P.dte_exit, P.max_holding, P.rebalance,
               P.delta_breach, P.period_trading)
_ENTRY_SLOTS = np.setdiff1d(np.arange(N_PARAMS), np.asarray(_EXIT_SLOTS))


def fallback_reasons(params: FloatArray) -> np.ndarray:
    """Per parameter row, the index in `FALLBACK_REASONS` of why it cannot run on trade
    tables (0: it can): a margin account with margin calls, or delta hedging."""
    rows = np.atleast_2d(params)
    out = np.zeros(rows.shape[0], dtype=np.int8)
    out[rows[:, P.margin_model] != MarginModel.NONE] = _MARGIN_CALLS
    out[rows[:, P.hedge_on] > 0.5] = _DELTA_HEDGE
    return out


def entry_group_keys(params: FloatArray) -> np.ndarray:
    """Per parameter row, a 64-bit key of the slots that decide its entries (every slot but the
    exit rules'): rows with equal keys share one entry group."""
    rows = np.atleast_2d(params)[:, _ENTRY_SLOTS]
    rows = np.ascontiguousarray(np.where(np.isnan(rows), np.nan, rows) + 0.0)
    keys = np.empty(rows.shape[0], dtype=np.int64)
    for i, row in enumerate(rows):
        digest = hashlib.blake2b(row.tobytes(), digest_size=8).digest()
        keys[i] = np.frombuffer(digest, dtype=np.int64)[0]
    return keys


def run_batch_tables(packed: PackedChain, params: FloatArray,
                     keep_equity: np.ndarray | None = None) -> BatchOutputs:
    """Every row of `params` through trade tables (SCAFFOLD: through the day kernel); the same
    outputs as `dispatch.run_batch`."""
    return run_batch(packed, params, keep_equity)
