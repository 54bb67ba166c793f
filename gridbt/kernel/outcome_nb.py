"""The outcome hash: one 64-bit number per backtest that names its trade sequence.

Two parameter combinations with the same trades (entry day, exit day, contracts and P&L to the
cent, in order) get the same hash whatever engine ran them, so a sweep can count its distinct
outcomes (the "N" of the deflated Sharpe ratio) and keep duplicates out of its top table. P&L
is hashed in whole cents, not by its bits: two engines that sum the same cash flows in a
different order agree to ~1e-12, not bit for bit. The exit reason is not hashed: a trade closed
on the same day at the same fill by another rule (a DTE exit of 7 on the day a 20-day holding
limit closes it anyway) leaves the same curve and KPIs, one strategy, not two.

Each trade's four fields, as int64 words, are mixed into a 64-bit state one word at a time
(xor, multiply by the golden-ratio constant, xor-shift: a word at a time, not FNV's byte at a
time, so hashing costs a few ns a trade beside the backtest); an empty sequence hashes to the
starting state. Not cryptographic: two distinct sequences of one sweep collide with odds of
about n^2 / 2^65. Returned as int64 (the bits of the uint64), as Parquet and pandas hold it.

`finish_key_nb` is the stricter key the trade tables compare rows by before sharing their KPIs:
the exact bits of the trades (in two independent lanes of the same mixing) and of the curve.
"""

import numpy as np

from gridbt.kernel.cache import njit
from gridbt.kernel.contract import T

__all__ = ["EMPTY_OUTCOME", "FINISH_KEY_WORDS", "finish_key_nb", "trades_hash_nb"]

_START = np.uint64(14695981039346656037)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_SHIFT = np.uint64(29)
_GOLDEN_B = np.uint64(0xC2B2AE3D27D4EB4F)  # finish keys' second, independent lane
_SHIFT_B = np.uint64(31)
#: Words of a `finish_key_nb`.
FINISH_KEY_WORDS = 5
#: The hash of a backtest without trades.
EMPTY_OUTCOME = int(np.uint64(14695981039346656037).view(np.int64))


@njit(cache=True, nogil=True, inline="always")
def _mix_word_nb(h, word, mult, shift):
    h = (h ^ word) * mult
    return h ^ (h >> shift)


@njit(cache=True, nogil=True, inline="always")
def _mix_nb(h, value):
    return _mix_word_nb(h, np.uint64(np.int64(value)), _GOLDEN, _SHIFT)


@njit(cache=True, nogil=True)
def trades_hash_nb(trades, n):
    """Hash of the first `n` rows of a `trades` output array (`contract.TradeColumns`)."""
    h = _START
    for t in range(n):
        h = _mix_nb(h, trades[t, T.entry_day])
        h = _mix_nb(h, trades[t, T.exit_day])
        h = _mix_nb(h, np.round(trades[t, T.contracts] * 1e6))
        h = _mix_nb(h, np.round(trades[t, T.pnl] * 100.0))
    return np.int64(h)


@njit(cache=True, nogil=True)
def finish_key_nb(trades, n, equity, in_market, key):
    """Into `key` (FINISH_KEY_WORDS int64): what `row_nb.finish_row_nb` reads of a backtest
    besides its row, so that two backtests of rows equal in the slots the finish reads (capital, day
    window) and with equal keys have equal KPIs, block statistics and outcome hash. The words:
    a 64-bit hash of the trades' entry days, exit days and exit reasons, another of the exact
    bits of their contracts and P&L (the days held follow from the days), the trade count, a
    position-weighted checksum of the equity curve's bits and the days in the market. The
    equity words are a guard: a curve is already a function of its trades and those slots
    (docs/trade_tables.md, Identical outcomes share one finish)."""
    ha = np.uint64(0x243F6A8885A308D3)
    hb = np.uint64(0x13198A2E03707344)
    trade_bits = trades.view(np.uint64)
    for t in range(n):
        # the days and reason packed exactly; the exact bits of the amounts in the other
        # lane (days held follow from the days)
        days = (np.uint64(np.int64(trades[t, T.entry_day]))
                | np.uint64(np.int64(trades[t, T.exit_day])) << np.uint64(24)
                | np.uint64(np.int64(trades[t, T.exit_reason])) << np.uint64(48))
        contracts = trade_bits[t, T.contracts]
        amounts = trade_bits[t, T.pnl] ^ (contracts << np.uint64(29) | contracts >> np.uint64(35))
        ha = _mix_word_nb(ha, days, _GOLDEN, _SHIFT)
        hb = _mix_word_nb(hb, amounts, _GOLDEN_B, _SHIFT_B)
    bits = equity.view(np.uint64)
    checksum = np.uint64(0)
    days_in = 0
    for t in range(bits.shape[0]):
        checksum += bits[t] * np.uint64(2 * t + 1)
        days_in += in_market[t]
    key[0] = np.int64(ha)
    key[1] = np.int64(hb)
    key[2] = n
    key[3] = np.int64(checksum)
    key[4] = days_in
