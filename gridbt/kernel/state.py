"""The state of one backtest inside the kernel, declared once (docs/semantics.md, Daily loop).

The step functions of `steps_nb.py` and `entry_nb.py` take and return these containers
instead of dozens of scalars:

- rules, decoded once per backtest from the parameter vector (`rules_nb.decode_rules_nb`):
  NamedTuples of scalars, one per section of the spec (`Rules` holds them all);
- the book (`book_dt`): one record of cash, the open position and the account's counters;
- the cash flows of a trade row (`flows_dt`): compensated sums, one record for the open trade
  and one for the part a partial liquidation closes;
- the day (`day_dt`): what today's steps share, and the end of yesterday for the attribution;
- the legs (`leg_book_dt`): one record of `MAX_LEGS`-long arrays, one per leg field.

The records are zeroed numpy records on the stack of the backtest
(`lowlevel_nb.stack_record_nb`). `book.cash += x` is a store into the record, and a record
passes between kernel functions as a pointer, without reference counting. Functions that take
the book, flows or day record are `inline="always"`: LLVM then keeps their fields in registers
like local variables, which it cannot do for a record that a function it does not inline sees.
The rules hold only scalars, passed by value. Every field is 8 bytes wide (flags are int64
0/1): LLVM promotes an 8-byte field on its own, while a byte next to padding is kept as bits of
a wider integer, assembled and split again on every access. Units: currency for cash, per
option for prices, dates as int days since 1970-01-01, day indices into the chain.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from gridbt._typing import FloatArray, IntArray
from gridbt.kernel.enums import MAX_LEGS

__all__ = [
    "AccountRules",
    "BookRules",
    "EntryRules",
    "ExitRules",
    "HedgeRules",
    "MarginRules",
    "Quotes",
    "Rules",
    "SignalRules",
    "Sizing",
    "SizingRules",
    "StressRules",
    "book_dt",
    "day_dt",
    "flows_dt",
    "leg_book_dt",
]


# ------------------------------------------------------------------ rules (from params)
class BookRules(NamedTuple):
    """Constants of the book and of the run."""

    capital: float  # starting equity
    multiplier: float  # contract multiplier
    n_legs: int
    slippage: float  # fraction of the half spread paid
    slippage_per_contract: float  # per option, added against the trader to every fill
    commission: float  # per contract and leg
    first: int  # day window [first, end), clamped to the chain
    end: int
    fill_daily: bool  # write every daily column (else only the margin: the batch path)
    track_iv: bool  # marks update each leg's iv (daily rows, pm margin, ww band read it)
    track_gamma: bool  # marks update each leg's gamma (daily rows, ww band read it)


class SignalRules(NamedTuple):
    """The entry signal (docs/semantics.md, Signals)."""

    zscore: bool  # z-score state machine, else always on
    direction: int  # +1 / -1 of the always-on signal
    feature: int  # feature row of the z-score
    window: int
    entry: float
    exit: float
    inverted: bool


class EntryRules(NamedTuple):
    """When and into which expiries entries are attempted (step 2.1-2.5)."""

    weekday_mask: int  # bit d set = entries allowed on weekday d (Mon = 0)
    every_n_days: int  # counted from the window's first day
    n_filters: int  # filter blocks of the parameter vector in use
    reentry_mask: int  # bit r set = same-day re-entry allowed after ExitReason r
    need_call: tuple[bool, bool]  # per expiry group (near, far): some leg is a call
    need_put: tuple[bool, bool]  # ... some leg is a put
    dte_target: tuple[float, float]  # per expiry group, calendar days
    dte_min: tuple[float, float]
    dte_max: tuple[float, float]


class ExitRules(NamedTuple):
    """Planned exits (step 1.3); NaN = rule off."""

    profit_target: float  # fraction of the premium
    stop_loss: float  # multiple of the premium
    dte: float  # calendar days to the nearest expiry
    max_holding: float  # days held, in the period unit
    rebalance: float  # days held, in the period unit
    delta_breach: float  # |delta| of a short leg
    period_trading: bool  # periods count trading days, else calendar days


class SizingRules(NamedTuple):
    """Sizing (Risk layer, Sizing); NaN = budget off."""

    contracts: float  # fixed size
    risk_budget: float
    risk_hedged: bool  # entry_hedged risk basis
    margin_budget: float
    kelly_fraction: float
    kelly_min_trades: float
    vol_target: float
    min_contracts: float
    max_contracts: float  # NaN = no cap
    need_worst: bool  # the worst stress loss W is computed at entry


class StressRules(NamedTuple):
    """Pricing inputs and scenarios of the stress repricing (Risk layer, Stress scenarios)."""

    rate: float
    dividend: float
    n_scenarios: int  # scenario blocks of the parameter vector in use (`scenarios_nb`)


class MarginRules(NamedTuple):
    """The margin model (Risk layer, Margin models)."""

    model: int  # MarginModel code
    on: bool  # model is not none: margin account and capital check
    broad: bool  # broad-based index rates
    min_underlying: float
    min_put: float
    house_multiplier: float
    house_floor: float
    pm_multiplier: float
    pm_minimum: float


class AccountRules(NamedTuple):
    """The margin account and financing (The daily loop with the risk layer, 1c and 3)."""

    maintenance_ratio: float
    grace_days: float
    liquidate_to_target: bool  # else liquidate in full
    liquidation_buffer: float
    cash_rate: float
    borrow_rate: float
    financing_on: bool  # some rate is not 0


class HedgeRules(NamedTuple):
    """The delta hedge (Risk layer, Delta hedge); shares per contract unless said otherwise."""

    on: bool
    band: int  # HedgeBand code
    band_on: bool  # band is not none
    band_position: bool  # half_width, ww_min, ww_max are shares of the whole position
    half_width: float
    ww_c: float
    ww_min: float
    ww_max: float
    ww_fee: float
    to_boundary: bool  # rebalance to the nearer band edge, else to the target
    every_days: float  # NaN = no time trigger
    time_on: bool
    combine_and: bool  # band and time must both fire
    target: float  # target delta
    at_entry: bool
    min_trade: float  # shares, whole position
    max_trade: float  # shares, whole position; NaN = no cap
    commission: float  # per share
    slippage_bps: float


class Rules(NamedTuple):
    """Every rule of one backtest."""

    book: BookRules
    signal: SignalRules
    entry: EntryRules
    exit: ExitRules
    sizing: SizingRules
    stress: StressRules
    margin: MarginRules
    account: AccountRules
    hedge: HedgeRules


class Sizing(NamedTuple):
    """The outcome of the sizing step (2.7) of an entry."""

    skip: int  # SkipReason code, -1 = sized
    contracts: float
    binding: int  # SizingBinding code
    risk_per_contract: float  # W; NaN = not computed
    worst_scenario: int  # -1 = not computed
    margin_per_contract: float  # IMc at entry; 0 = no model
    risk_contracts: float  # raw risk-budget count; NaN = off or unbounded
    margin_contracts: float  # raw margin-budget count; NaN = off or unbounded
    delta: float  # Δc per contract at entry (0 unless sizing or the hedge reads it)


class Quotes(NamedTuple):
    """The quote columns of the chain that strike selection scans (`select_nb`)."""

    bid: FloatArray
    ask: FloatArray
    strike: FloatArray
    delta: FloatArray
    open_interest: IntArray
    volume: IntArray
    log1p_open_interest: FloatArray
    log1p_volume: FloatArray


# ------------------------------------------------------------------ per-backtest state
book_dt = np.dtype(
    [
        ("cash", np.float64),  # account cash (compensated sum: cash + cash_c)
        ("cash_c", np.float64),
        ("n_trades", np.int64),  # trade rows written
        ("signal", np.int64),  # z-score state: +1 long, -1 short, 0 flat
        ("open", np.int64),  # flag: a position is open
        ("entry_day", np.int64),  # of the open trade
        ("direction", np.int64),  # +1 / -1
        ("contracts", np.float64),  # N, current contracts
        ("value_entry", np.float64),  # sum of units * mid at entry, per structure unit
        ("premium", np.float64),  # |value_entry|
        ("premium_cash", np.float64),  # entry premium of the open part: value_entry * N * m
        ("mae", np.float64),  # of the open part, currency
        ("mfe", np.float64),
        ("hedge_shares", np.float64),  # H
        ("last_hedge_day", np.int64),  # day index of the last hedge decision
        ("imc", np.float64),  # initial margin per contract, 0 when flat
        ("call_days", np.int64),  # consecutive margin-call days
        ("kelly_rows", np.int64),  # closed trade rows, for Kelly sizing
        ("kelly_wins", np.int64),  # rows with pnl > 0
        ("kelly_losses", np.int64),  # rows with pnl < 0
        ("kelly_sum_wins", np.float64),  # compensated sums of their pnl
        ("kelly_sum_wins_c", np.float64),
        ("kelly_sum_losses", np.float64),
        ("kelly_sum_losses_c", np.float64),
        ("missing_quote_days", np.int64),  # data-gap counters (contract.Counters)
        ("stale_fills", np.int64),
    ],
    align=True,
)

flows_dt = np.dtype(
    [
        # the cash flows of one trade row, each a compensated sum (value + value_c)
        ("entry_cash", np.float64),  # fills at entry, commissions excluded
        ("entry_cash_c", np.float64),
        ("exit_cash", np.float64),  # settlements and exit fills, commissions excluded
        ("exit_cash_c", np.float64),
        ("commissions", np.float64),
        ("commissions_c", np.float64),
        ("hedge_pnl", np.float64),  # hedge trades' cash flows incl. their costs
        ("hedge_pnl_c", np.float64),
        ("hedge_cost", np.float64),  # hedge slippage and commissions (>= 0)
        ("hedge_cost_c", np.float64),
        ("financing", np.float64),
        ("financing_c", np.float64),
    ],
    align=True,
)

leg_book_dt = np.dtype(
    [
        # per-leg state, MAX_LEGS values per field (leg i of the open or candidate position
        # at index i), reused for every trade of a backtest
        ("contract", np.int64, (MAX_LEGS,)),  # contract index in the chain
        ("cursor", np.int64, (MAX_LEGS,)),  # position in the contract's quote rows
        ("row_end", np.int64, (MAX_LEGS,)),  # one past the contract's last quote row
        ("quote", np.int64, (MAX_LEGS,)),  # quote row selected at entry
        ("units", np.float64, (MAX_LEGS,)),  # side * direction * qty
        ("right", np.float64, (MAX_LEGS,)),  # +1 call, -1 put
        ("strike", np.float64, (MAX_LEGS,)),
        ("expiry", np.int64, (MAX_LEGS,)),
        ("mark", np.float64, (MAX_LEGS,)),  # mid of the last quote; intrinsic once settled
        ("bid", np.float64, (MAX_LEGS,)),  # last known quote
        ("ask", np.float64, (MAX_LEGS,)),
        ("delta", np.float64, (MAX_LEGS,)),  # last known greeks and iv (Risk layer, notation)
        ("gamma", np.float64, (MAX_LEGS,)),
        ("vega", np.float64, (MAX_LEGS,)),
        ("theta", np.float64, (MAX_LEGS,)),
        ("iv", np.float64, (MAX_LEGS,)),
        ("vega_exposure", np.float64, (MAX_LEGS,)),  # units * m * N * vega, end of yesterday
        ("open", np.int64, (MAX_LEGS,)),  # flag: not yet settled or closed
        ("quoted", np.int64, (MAX_LEGS,)),  # flag: quoted today (else marks, fills are stale)
    ],
    align=True,
)

day_dt = np.dtype(
    [
        ("today", np.int64),  # date of the day
        ("spot", np.float64),
        ("last", np.int64),  # flag: the window's last day (end of data)
        ("signal_exit", np.int64),  # flag: the z-score signal exits today
        ("exit_reason", np.int64),  # ExitReason of today's full exit, -1 = none
        ("cost", np.float64),  # paid against mid today (spreads, commissions, hedge costs)
        ("financing", np.float64),  # today's financing
        ("pnl_vega", np.float64),  # today's vega attribution, summed while marking
        ("prev_open", np.int64),  # flag: a position was open at the end of yesterday
        ("prev_equity", np.float64),
        ("prev_spot", np.float64),
        ("prev_date", np.int64),
        ("prev_net_delta", np.float64),  # options delta + hedge shares
        ("prev_gamma", np.float64),
        ("prev_theta", np.float64),
    ],
    align=True,
)
