"""The kernel's array contract, declared once and in order.

Everything the kernel reads or writes by position is declared here as a `NamedTuple` class
whose fields, in order, are the positions: the parameter vector (a scalar block, then
`MAX_LEGS` leg blocks, `MAX_FILTERS` filter blocks and `MAX_SCENARIOS` scenario blocks), the
trade, leg and daily output rows, the per-backtest counters and the chain arrays. Each class
has one constant instance whose field values are the indices (`P.stop_loss == 20`); numba
folds such global tuples into constants like integer globals, so kernels read
`params[P.stop_loss]` at no cost. Record dtypes (`trade_dt`, `leg_dt`) come from the field
annotations (`I64`, `F64`); the chain arrays the kernel takes are the fields of `Chain`.

Adding a rule is one line in the block it belongs to, its encoding
(`gridbt/strategy/encode.py`) and the kernel code that reads it. Appending keeps earlier
indices; tests/unit/kernel/test_contract.py checks that every declared field is written by
the encoder and read by the kernel, and that the chain arrays match `PackedChain`.

Off switches in the parameter vector are NaN, flags are 0/1, enums are their codes
(`enums.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from types import MappingProxyType
from typing import Annotated, Any, NamedTuple, TypeVar, get_type_hints

import numpy as np

from gridbt._typing import FloatArray, Int8Array, Int32Array, IntArray
from gridbt.kernel.enums import MAX_FILTERS, MAX_LEGS, MAX_SCENARIOS

__all__ = [
    "C",
    "D",
    "F",
    "FILTER_SIZE",
    "F64",
    "G",
    "I64",
    "LEG",
    "LEG_SIZE",
    "N_COUNTERS",
    "N_DAILY_COLS",
    "N_LEG_COLS",
    "N_PARAMS",
    "N_SCALARS",
    "N_TRADE_COLS",
    "P",
    "P_FILTER0",
    "P_LEG0",
    "P_SCEN0",
    "S",
    "SCEN_SIZE",
    "T",
    "Chain",
    "Counters",
    "DailyColumns",
    "FilterFields",
    "LegColumns",
    "LegFields",
    "Scalars",
    "ScenarioFields",
    "TradeColumns",
    "chain_dtypes",
    "leg_dt",
    "record_dtype",
    "trade_dt",
]

#: Annotations of output columns: the index is an int, the column's dtype rides along.
I64 = Annotated[int, np.int64]
F64 = Annotated[int, np.float64]

_Layout = TypeVar("_Layout", bound=tuple[int, ...])


def _positions(layout: type[_Layout]) -> _Layout:
    """The instance of a layout class whose fields hold their own positions."""
    fields: tuple[str, ...] = layout._fields  # type: ignore[attr-defined]
    return layout(*range(len(fields)))


def record_dtype(layout: type[tuple[int, ...]]) -> np.dtype[np.void]:
    """The numpy record dtype of an output layout: its fields, in order, with their dtypes."""
    hints = get_type_hints(layout, include_extras=True)
    fields: tuple[str, ...] = layout._fields  # type: ignore[attr-defined]
    return np.dtype([(name, hints[name].__metadata__[0]) for name in fields])


# ------------------------------------------------------------------ parameter vector
class Scalars(NamedTuple):
    """The scalar block of the parameter vector (one float64 row per backtest)."""

    capital: int  # starting equity, currency
    multiplier: int  # contract multiplier
    dte_target: int  # near expiry window, calendar days
    dte_min: int
    dte_max: int
    far_target: int  # far expiry window (expiry group 1); the near one when absent
    far_min: int
    far_max: int
    n_legs: int
    weekday_mask: int  # bit d set = entries allowed on weekday d (Mon = 0)
    every_n_days: int  # entries on every n-th day of the window
    n_filters: int
    signal_kind: int  # SignalKind code
    signal_direction: int  # +1 long, -1 short (SignalKind.ALWAYS)
    z_feature: int  # feature row of the z-score signal
    z_window: int
    z_entry: int
    z_exit: int
    z_inverted: int  # flag
    profit_target: int  # fraction of the premium; NaN = off
    stop_loss: int  # multiple of the premium; NaN = off
    dte_exit: int  # calendar days to expiry; NaN = off
    max_holding: int  # days in exit.period_unit; NaN = off
    rebalance: int  # days in exit.period_unit; NaN = off
    delta_breach: int  # |delta| of a short leg; NaN = off
    period_trading: int  # flag: periods count trading days, else calendar days
    reentry_mask: int  # bit r set = same-day re-entry allowed after ExitReason r
    slippage: int  # fraction of the half spread paid
    commission: int  # per contract and leg
    contracts: int  # fixed size
    # pricing inputs of stress and margin repricing
    rate: int
    dividend: int
    # sizing (NaN = budget off)
    risk_budget: int
    risk_hedged: int  # flag: entry_hedged risk basis
    margin_budget: int
    kelly_fraction: int
    kelly_min_trades: int
    vol_target: int
    min_contracts: int
    max_contracts: int  # NaN = no cap
    # margin model (MarginModel code) and its parameters
    margin_model: int
    margin_broad: int  # flag: broad-based index rates
    margin_min_underlying: int
    margin_min_put: int
    margin_house_mult: int
    margin_house_floor: int
    margin_pm_mult: int
    margin_pm_min: int
    # margin account and financing
    maint_ratio: int
    grace_days: int
    liq_target: int  # flag: liquidate to target, else in full
    liq_buffer: int
    cash_rate: int
    borrow_rate: int
    # delta hedge (shares per structure contract unless said otherwise; the band's
    # half_width, ww_min and ww_max are for the whole position with hedge_band_position)
    hedge_on: int  # flag
    hedge_band: int  # HedgeBand code
    hedge_half_width: int
    hedge_ww_c: int
    hedge_ww_min: int
    hedge_ww_max: int
    hedge_ww_fee: int  # fee rate, already resolved (never NaN)
    hedge_to_boundary: int  # flag
    hedge_every: int  # NaN = no time trigger
    hedge_and: int  # flag: band and time must both fire
    hedge_target: int
    hedge_at_entry: int  # flag
    hedge_min_trade: int  # shares, whole position
    hedge_max_trade: int  # shares, whole position; NaN = no cap
    hedge_commission: int  # per share
    hedge_bps: int
    n_scenarios: int
    # day window (docs/semantics.md, Day window): days [first, end) are simulated
    window_first: int  # first day index simulated (0 = the chain's first day)
    window_end: int  # one past the last day index; NaN = to the end of the chain
    # seed parity (appended: earlier positions keep their indices)
    slippage_per_contract: int  # option price units added against the trader on every fill
    hedge_band_position: int  # flag: hedge band quantities are shares of the whole position


class LegFields(NamedTuple):
    """One leg's block: `params[P_LEG0 + leg * LEG_SIZE + LEG.<field>]`."""

    right: int  # +1 call, -1 put
    side: int  # +1 long, -1 short
    qty: int
    select_by: int  # SelectBy code
    target: int  # |delta|, strike / spot, or NaN (offset)
    tolerance: int
    of: int  # offset: index of the earlier leg
    points: int  # offset: strike points from that leg
    group: int  # expiry group: 0 near, 1 far
    min_oi: int
    min_volume: int
    max_spread: int  # relative spread cap; NaN = off


class FilterFields(NamedTuple):
    """One entry filter's block: `params[P_FILTER0 + f * FILTER_SIZE + F.<field>]`."""

    feature: int  # feature row
    min: int  # -inf = no lower bound
    max: int  # +inf = no upper bound


class ScenarioFields(NamedTuple):
    """One stress scenario's block: `params[P_SCEN0 + s * SCEN_SIZE + S.<field>]`."""

    spot: int  # relative: spot * (1 + spot shock)
    vol: int  # absolute, decimal
    rr: int  # risk reversal: calls + half, puts - half
    rate: int  # absolute
    years: int  # time decay: days / 365


P = _positions(Scalars)
LEG = _positions(LegFields)
F = _positions(FilterFields)
S = _positions(ScenarioFields)
N_SCALARS = len(P)
LEG_SIZE = len(LEG)
FILTER_SIZE = len(F)
SCEN_SIZE = len(S)
P_LEG0 = N_SCALARS
P_FILTER0 = P_LEG0 + MAX_LEGS * LEG_SIZE
P_SCEN0 = P_FILTER0 + MAX_FILTERS * FILTER_SIZE
N_PARAMS = P_SCEN0 + MAX_SCENARIOS * SCEN_SIZE


# ------------------------------------------------------------------ outputs
class TradeColumns(NamedTuple):
    """One row per closed trade (`trades` output, float64; `trade_dt` records)."""

    entry_day: I64
    exit_day: I64
    exit_reason: I64  # ExitReason code
    direction: I64
    contracts: F64
    n_legs: I64
    entry_premium: F64  # value at entry * contracts * multiplier; negative = credit
    entry_cash: F64  # cash flow at entry, commissions excluded
    exit_cash: F64  # cash flow at exit and settlements, commissions excluded
    commissions: F64
    pnl: F64
    mae: F64
    mfe: F64
    days_held: I64  # calendar days
    hedge_pnl: F64  # hedge cash flows incl. unwind and hedge costs
    hedge_cost: F64  # hedge slippage and commissions (a cost, >= 0)
    financing: F64
    sizing_binding: I64  # SizingBinding code
    risk_per_contract: F64  # worst stress loss per contract at entry; NaN = not computed
    worst_scenario: I64  # its scenario index; -1 = not computed
    margin_per_contract: F64  # initial margin per contract at entry; 0 = no model
    risk_contracts: F64  # raw risk-budget contracts; NaN = off or unbounded
    margin_contracts: F64  # raw margin-budget contracts; NaN = off or unbounded


class LegColumns(NamedTuple):
    """One row per leg of a trade (`legs` output); trade t owns rows `t * MAX_LEGS ..`."""

    right: I64  # +1 call, -1 put
    strike: F64
    expiry: I64  # days since 1970-01-01
    units: F64  # side * direction * qty
    entry_fill: F64
    exit_fill: F64  # settlement value when settled
    settled: I64


class DailyColumns(NamedTuple):
    """End-of-day book of each day (`daily` output, float64; 0 when flat). The names are
    `equity.parquet`'s columns (docs/semantics.md, Daily outputs and attribution)."""

    contracts: F64
    delta: F64  # options delta, shares: sum of units * multiplier * contracts * delta
    hedge_shares: F64
    net_delta: F64  # delta + hedge_shares
    gamma: F64  # shares per 1.0 of spot
    vega: F64  # currency per vol point
    theta: F64  # currency per calendar day
    initial_margin: F64  # of the position
    maintenance_margin: F64
    margin_call_days: F64  # consecutive margin-call days
    pnl_delta: F64  # attribution of equity(d) - equity(d - 1)
    pnl_gamma: F64
    pnl_vega: F64
    pnl_theta: F64
    pnl_costs: F64  # minus spread paid, commissions and hedge costs
    pnl_financing: F64
    pnl_residual: F64


class Counters(NamedTuple):
    """Per-backtest data-gap counters (`counters` output, int64)."""

    missing_quote_days: I64  # days on which some open leg had no usable quote
    stale_fills: I64  # exit fills priced on a quote carried from an earlier day


T = _positions(TradeColumns)
G = _positions(LegColumns)
D = _positions(DailyColumns)
C = _positions(Counters)
N_TRADE_COLS = len(T)
N_LEG_COLS = len(G)
N_DAILY_COLS = len(D)
N_COUNTERS = len(C)

#: One record per closed trade.
trade_dt = record_dtype(TradeColumns)
#: One record per leg of a trade; trade `t` owns rows `t * MAX_LEGS .. + n_legs - 1`.
leg_dt = record_dtype(LegColumns)


# ------------------------------------------------------------------ chain arrays
class Chain(NamedTuple):
    """The packed chain as the kernels take it (`gridbt/data/pack.py` documents each array):
    the arrays of `PackedChain` the kernel reads, in this order, with these dtypes."""

    day_date: Int32Array
    day_spot: FloatArray
    day_weekday: Int8Array
    day_quote_start: IntArray
    day_group_start: IntArray
    day_put_group_start: IntArray
    group_expiry: Int32Array
    group_quote_start: IntArray
    quote_strike: FloatArray
    quote_bid: FloatArray
    quote_ask: FloatArray
    quote_iv: FloatArray
    quote_delta: FloatArray
    quote_gamma: FloatArray
    quote_vega: FloatArray
    quote_theta: FloatArray
    quote_volume: IntArray
    quote_open_interest: IntArray
    quote_log1p_volume: FloatArray
    quote_log1p_open_interest: FloatArray
    quote_expiry: Int32Array
    quote_right: Int8Array
    quote_contract: Int32Array
    contract_right: Int8Array
    contract_expiry: Int32Array
    contract_strike: FloatArray
    contract_row_start: IntArray
    contract_rows: IntArray
    contract_row_day: Int32Array
    features: FloatArray  # (n_features, n_days)


@cache
def chain_dtypes() -> Mapping[str, np.dtype[Any]]:
    """The dtype each chain array must have, from `Chain`'s annotations (read once: the
    dispatchers check every call's arrays against it)."""
    hints = get_type_hints(Chain)
    return MappingProxyType(
        {name: np.dtype(hints[name].__args__[1].__args__[0]) for name in Chain._fields}
    )
