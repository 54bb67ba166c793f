"""Kernel enums: integer codes and block sizes shared by the numba kernel, the encoder and the
Python reference (the record dtypes are declared in `contract.py`)."""

from __future__ import annotations

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

