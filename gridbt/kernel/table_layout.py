"""The trade tables of one entry group, declared once (docs/trade_tables.md).

A sweep crosses a few entry settings (structure, leg selection, expiry window, sizing inputs)
with many exit settings. Everything that decides *which* position a day would open, and how
that position's marks evolve until it must close, does not depend on the exit rules: it is
computed once per entry group (`tables_nb`: a candidate day when a row first reaches it) into
a `TradeTables`, and each combination of the group walks it (`tables_eval_nb`). The walk reads
short contiguous runs of the path arrays instead of the chain's day-major quotes.

Layout (`n_days` = the chain's days, `L` = the group's legs, `n_path` = path days in total):

- per day `d` (entry candidates): `skip[d]` (-2: no entry can happen on `d`; -3: a candidate not
  built yet; -1: the legs were selected; else the `SkipReason` of selection), the path
  `start[d]` and `length[d]` (days `d + 1 .. d + length[d]`, the last one the first day a leg
  settles or the window's last day), `value_entry[d]` (sum of units x mid at entry, per
  structure unit), `min_expiry[d]` (date of the nearest leg expiry), and the sizing inputs
  `worst[d]` (the worst stress loss W per contract), `sigma_bar[d]`, `vol_sd[d]` (NaN when the
  group's sizing does not need them), and the z-score signal's state after the day's update
  `signal_state[d]` (+1, -1, 0; 0 for an always-on signal) and exit flag `signal_exit[d]` (a
  property of the chain: the same whatever the trades);
- per day and leg (`(n_days, MAX_LEGS)`): `units`, `right`, `strike`, `expiry`, `contract`,
  the entry quote's `entry_bid`, `entry_ask`;
- per path day (`n_path`): `value` (sum of units x mark, the P&L rules read `value -
  value_entry`), `short_delta` (largest |delta| of a short leg, last finite value carried;
  -inf when none), `flags` (bit i: leg i quoted that day; bit 4: some open leg not quoted);
- per path day and leg (`(n_path, L)`): `bid`, `ask`, the leg's last usable quote (its mark is
  their mid, the exit fill is priced on them);
- `used[0]`: the path rows in use. Days are built on demand (`tables_nb.ensure_entry_nb`), each
  appending its path, so the path arrays have room for every candidate's longest path and rows
  from `used[0]` on are not written (nor resident: the memory is never touched).

Bytes per group: `n_days * (59 + MAX_LEGS * 56)` for the entry arrays plus
`n_path * (17 + 16 * L)` for the paths in use; `n_path` is about the days built times the mean
trading days from an entry to its nearest expiry (a 45-day window on daily data: some 30).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["FLAG_MISSING", "NOT_BUILT", "NOT_ENTRY", "TradeTables"]

#: `skip[d]` of a day on which no entry can happen (outside the window, its last day).
NOT_ENTRY = -2
#: `skip[d]` of a candidate day whose entry and path are not built yet.
NOT_BUILT = -3
#: `flags` bit: some open leg had no usable quote that day (`missing_quote_days`).
FLAG_MISSING = 16


_PATH_FIELDS = frozenset({"value", "short_delta", "flags", "bid", "ask"})


class TradeTables(NamedTuple):
    """The trade tables of one entry group (module docstring: layout and units)."""

    skip: np.ndarray  # (n_days,) int8
    start: np.ndarray  # (n_days,) int64
    length: np.ndarray  # (n_days,) int64
    value_entry: np.ndarray  # (n_days,) float64
    min_expiry: np.ndarray  # (n_days,) int64, days since 1970-01-01
    worst: np.ndarray  # (n_days,) float64
    sigma_bar: np.ndarray  # (n_days,) float64
    vol_sd: np.ndarray  # (n_days,) float64
    signal_state: np.ndarray  # (n_days,) int8: z-score state after the day's update
    signal_exit: np.ndarray  # (n_days,) bool: the z-score signal exits that day
    units: np.ndarray  # (n_days, MAX_LEGS) float64
    right: np.ndarray  # (n_days, MAX_LEGS) float64
    strike: np.ndarray  # (n_days, MAX_LEGS) float64
    expiry: np.ndarray  # (n_days, MAX_LEGS) int64
    contract: np.ndarray  # (n_days, MAX_LEGS) int64
    entry_bid: np.ndarray  # (n_days, MAX_LEGS) float64
    entry_ask: np.ndarray  # (n_days, MAX_LEGS) float64
    value: np.ndarray  # (n_path,) float64
    short_delta: np.ndarray  # (n_path,) float64
    flags: np.ndarray  # (n_path,) uint8
    bid: np.ndarray  # (n_path, n_legs) float64
    ask: np.ndarray  # (n_path, n_legs) float64
    used: np.ndarray  # (1,) int64: path rows in use (the rest is room for days not built)

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays in use (the path arrays' rows in use; their unused room is
        never touched, so never resident)."""
        room = max(int(self.value.shape[0]), 1)
        used = int(self.used[0])
        return sum(int(getattr(self, name).nbytes) * (used if name in _PATH_FIELDS else room)
                   // room for name in self._fields)

    def path(self, day: int) -> slice:
        """The path rows of the candidate entered on `day` (days `day + 1 ..`): e.g. its P&L
        per contract on mid marks is `(value[path(day)] - value_entry[day]) * multiplier`."""
        start = int(self.start[day])
        return slice(start, start + int(self.length[day]))
