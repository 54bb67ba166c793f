"""The trade tables of one entry group, declared once (docs/trade_tables.md).

A sweep crosses a few entry settings (structure, leg selection, expiry window, sizing inputs)
with many exit settings. Everything that decides *which* position a day would open, and until
when it can be held, does not depend on the exit rules: it is computed once per entry group
(`tables_nb`: a candidate day when a row first reaches it) into a `TradeTables`, and each
combination of the group walks it (`tables_eval_nb`). The walk reads short contiguous runs of
each leg's quotes instead of the chain's day-major quotes.

Layout (`n_days` = the chain's days):

- per day `d` (entry candidates): `skip[d]` (-2: no entry can happen on `d`; -3: a candidate not
  built yet; -1: the legs were selected; else the `SkipReason` of selection), the path's
  `length[d]` (days `d + 1 .. d + length[d]`, the last one the first day a leg settles or the
  window's last day), `value_entry[d]` (sum of units x mid at entry, per structure unit),
  `min_expiry[d]` (date of the nearest leg expiry), and the sizing inputs `worst[d]` (the worst
  stress loss W per contract), `sigma_bar[d]`, `vol_sd[d]` (NaN when the group's sizing does not
  need them), and the z-score signal's state after the day's update `signal_state[d]` (+1, -1,
  0; 0 for an always-on signal) and exit flag `signal_exit[d]` (a property of the chain: the
  same whatever the trades);
- per day and leg (`(n_days, MAX_LEGS)`): `units`, `right`, `strike`, `expiry`, `contract`,
  the entry quote's `entry_bid`, `entry_ask`, and `leg_days` (`(n_days, MAX_LEGS, 2)`: where
  the contract's quotes are in the contract-major copy, its day t at row `origin + t` through
  its `last` quoted day).

A path is not copied into the tables: its days are the legs' own, in the chain's contract-major,
day-aligned quotes (`tables.ContractMajor`), read in place by the walk, which carries each
leg's last usable quote as it goes. So the paths of every group share one copy, and building a
candidate day is its selection alone. `tables.trade_path` spells a day's path out (its value,
largest short |delta|, quoted flags, each leg's last usable quote) for inspection and tests.

Bytes per group: `n_days * (51 + MAX_LEGS * 72)` (1.7 MB on the 5,031 days of the default chain),
whatever the paths' lengths.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["FLAG_MISSING", "NOT_BUILT", "NOT_ENTRY", "TradeTables"]

#: `skip[d]` of a day on which no entry can happen (outside the window, its last day).
NOT_ENTRY = -2
#: `skip[d]` of a candidate day whose entry and path are not built yet.
NOT_BUILT = -3
#: A path day's flags bit: some open leg had no usable quote that day (`missing_quote_days`);
#: bit i: leg i was quoted.
FLAG_MISSING = 16


class TradeTables(NamedTuple):
    """The trade tables of one entry group (module docstring: layout and units)."""

    skip: np.ndarray  # (n_days,) int8
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
    leg_days: np.ndarray  # (n_days, MAX_LEGS, 2) int64: each leg's (origin, last quoted day)

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays."""
        return sum(int(getattr(self, name).nbytes) for name in self._fields)
