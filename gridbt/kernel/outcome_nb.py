"""The outcome hash: one 64-bit number per backtest that names its trade sequence.

Two parameter combinations with the same trades (entry day, exit day, exit reason, contracts
and P&L to the cent, in order) get the same hash whatever engine ran them, so a sweep can count
its distinct outcomes (the "N" of the deflated Sharpe ratio) and keep duplicates out of its
top table. P&L is hashed in whole cents, not by its bits: two engines that sum the same cash
flows in a different order agree to ~1e-12, not bit for bit.

Each trade's five fields, as int64 words, are mixed into a 64-bit state one word at a time
(xor, multiply by the golden-ratio constant, xor-shift: a word at a time, not FNV's byte at a
time, so hashing costs a few ns a trade beside the backtest); an empty sequence hashes to the
starting state. Not cryptographic: two distinct sequences of one sweep collide with odds of
about n^2 / 2^65. Returned as int64 (the bits of the uint64), as Parquet and pandas hold it.
"""

import numpy as np

from gridbt.kernel.cache import njit
from gridbt.kernel.contract import T

__all__ = ["EMPTY_OUTCOME", "trades_hash_nb"]

_START = np.uint64(14695981039346656037)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_SHIFT = np.uint64(29)
#: The hash of a backtest without trades.
EMPTY_OUTCOME = int(np.uint64(14695981039346656037).view(np.int64))


@njit(cache=True, nogil=True, inline="always")
def _mix_nb(h, value):
    h = (h ^ np.uint64(np.int64(value))) * _GOLDEN
    return h ^ (h >> _SHIFT)


@njit(cache=True, nogil=True)
def trades_hash_nb(trades, n):
    """Hash of the first `n` rows of a `trades` output array (`contract.TradeColumns`)."""
    h = _START
    for t in range(n):
        h = _mix_nb(h, trades[t, T.entry_day])
        h = _mix_nb(h, trades[t, T.exit_day])
        h = _mix_nb(h, trades[t, T.exit_reason])
        h = _mix_nb(h, np.round(trades[t, T.contracts] * 1e6))
        h = _mix_nb(h, np.round(trades[t, T.pnl] * 100.0))
    return np.int64(h)
