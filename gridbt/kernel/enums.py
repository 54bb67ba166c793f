"""Kernel enums and record dtypes (shared by the numba kernel and the Python reference)."""

from __future__ import annotations

import numpy as np

MAX_LEGS = 4
MAX_FILTERS = 4


class ExitReason:
    """Exit reasons in the order exits are judged (docs/semantics.md)."""

    EXPIRY = 0
    STOP_LOSS = 1
    PROFIT_TARGET = 2
    DTE = 3
    MAX_HOLDING = 4
    REBALANCE = 5
    DELTA_BREACH = 6
    SIGNAL = 7
    END_OF_DATA = 8
    NAMES = (
        "expiry", "stop_loss", "profit_target", "dte", "max_holding", "rebalance",
        "delta_breach", "signal", "end_of_data",
    )


class SkipReason:
    """Why an attempted entry did not open a position (scheduled days only)."""

    FILTER = 0
    SIGNAL = 1
    NO_EXPIRY = 2
    NO_STRIKE = 3
    LIQUIDITY = 4
    CAPITAL = 5
    NAMES = ("filter", "signal", "no_expiry", "no_strike", "liquidity", "capital")


class SelectBy:
    DELTA = 0
    MONEYNESS = 1
    OFFSET = 2


class SignalKind:
    ALWAYS = 0
    ZSCORE = 1


#: One row per closed trade.
trade_dt = np.dtype(
    [
        ("entry_day", np.int64),
        ("exit_day", np.int64),
        ("exit_reason", np.int64),
        ("direction", np.int64),
        ("contracts", np.float64),
        ("n_legs", np.int64),
        ("entry_premium", np.float64),  # value_entry * N * m; negative = credit
        ("entry_cash", np.float64),  # cash flow at entry, commissions excluded
        ("exit_cash", np.float64),  # cash flow at exit and settlements, commissions excluded
        ("commissions", np.float64),
        ("pnl", np.float64),
        ("mae", np.float64),
        ("mfe", np.float64),
        ("days_held", np.int64),
    ]
)

#: One row per leg of a trade; trade `t` owns rows `t * MAX_LEGS .. t * MAX_LEGS + n_legs - 1`.
leg_dt = np.dtype(
    [
        ("right", np.int64),  # +1 call, -1 put
        ("strike", np.float64),
        ("expiry", np.int64),  # days since 1970-01-01
        ("units", np.float64),  # side * direction * qty
        ("entry_fill", np.float64),
        ("exit_fill", np.float64),  # settlement value when settled
        ("settled", np.int64),
    ]
)
