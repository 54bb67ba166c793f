"""Kernel enums and record dtypes (shared by the numba kernel and the Python reference)."""

from __future__ import annotations

import numpy as np

MAX_LEGS = 4
MAX_FILTERS = 4
MAX_SCENARIOS = 64


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
    MARGIN_CALL = 9  # forced liquidation of the whole position
    MARGIN_PARTIAL = 10  # forced liquidation of part of it (target mode); the rest stays open
    NAMES = (
        "expiry", "stop_loss", "profit_target", "dte", "max_holding", "rebalance",
        "delta_breach", "signal", "end_of_data", "margin_call", "margin_partial",
    )


class SkipReason:
    """Why an attempted entry did not open a position (scheduled days only)."""

    FILTER = 0
    SIGNAL = 1
    NO_EXPIRY = 2
    NO_STRIKE = 3
    LIQUIDITY = 4
    CAPITAL = 5
    SIZING = 6  # the budgets leave fewer than one contract
    INVALID_MARKET = 7  # sizing or margin needs an implied vol that is not finite
    NAMES = (
        "filter", "signal", "no_expiry", "no_strike", "liquidity", "capital", "sizing",
        "invalid_market",
    )


class SelectBy:
    DELTA = 0
    MONEYNESS = 1
    OFFSET = 2


class SizingBinding:
    """Which rule set a trade's size (the smallest budget wins; ties in this order)."""

    FIXED = 0
    RISK_BUDGET = 1
    MARGIN_BUDGET = 2
    KELLY = 3
    VOL_TARGET = 4
    MIN_CONTRACTS = 5
    MAX_CONTRACTS = 6
    NAMES = (
        "fixed", "risk_budget", "margin_budget", "kelly", "vol_target", "min_contracts",
        "max_contracts",
    )


class MarginModel:
    NONE = 0
    REGT = 1
    PM = 2


class HedgeBand:
    NONE = 0
    FIXED = 1
    WW = 2


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
        ("hedge_pnl", np.float64),  # hedge cash flows incl. unwind and hedge costs
        ("hedge_cost", np.float64),  # hedge slippage and commissions
        ("financing", np.float64),
        ("sizing_binding", np.int64),  # SizingBinding code
        ("risk_per_contract", np.float64),  # worst stress loss per contract at entry
        ("worst_scenario", np.int64),  # its scenario index, -1 = not computed
        ("margin_per_contract", np.float64),  # initial margin per contract at entry
        ("risk_contracts", np.float64),  # raw risk-budget size, NaN = off or unbounded
        ("margin_contracts", np.float64),  # raw margin-budget size, NaN = off or unbounded
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
