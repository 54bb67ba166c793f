"""The outcome hash: one 64-bit number per backtest that names its trade sequence.

Two parameter combinations with the same trades (entry day, exit day, exit reason, contracts
and P&L to the cent, in order) get the same hash whatever engine ran them, so a sweep can count
its distinct outcomes (the "N" of the deflated Sharpe ratio) and keep duplicates out of its
top table. P&L is hashed in whole cents, not by its bits: two engines that sum the same cash
flows in a different order agree to ~1e-12, not bit for bit.

FNV-1a over the little-endian bytes of each trade's five int64 fields; an empty sequence
hashes to the FNV offset basis. Returned as int64 (the bits of the uint64), as Parquet and
pandas hold it.
"""

import numpy as np

from gridbt.kernel.cache import njit
from gridbt.kernel.contract import T

__all__ = ["EMPTY_OUTCOME", "trades_hash_nb"]

_FNV_OFFSET = np.uint64(14695981039346656037)
_FNV_PRIME = np.uint64(1099511628211)
_BYTE = np.uint64(0xFF)
#: The hash of a backtest without trades.
EMPTY_OUTCOME = int(np.int64(np.uint64(14695981039346656037).view(np.int64)))


@njit(cache=True, nogil=True, inline="always")
def _mix_nb(h, value):
    bits = np.uint64(np.int64(value))
    for k in range(8):
        h = (h ^ ((bits >> np.uint64(8 * k)) & _BYTE)) * _FNV_PRIME
    return h


@njit(cache=True, nogil=True)
def trades_hash_nb(trades, n):
    """Hash of the first `n` rows of a `trades` output array (`contract.TradeColumns`)."""
    h = _FNV_OFFSET
    for t in range(n):
        h = _mix_nb(h, trades[t, T.entry_day])
        h = _mix_nb(h, trades[t, T.exit_day])
        h = _mix_nb(h, trades[t, T.exit_reason])
        h = _mix_nb(h, np.round(trades[t, T.contracts] * 1e6))
        h = _mix_nb(h, np.round(trades[t, T.pnl] * 100.0))
    return np.int64(h)
