"""The entry steps of a flat day: signal, schedule, filters, selection, sizing, capital
check, open and entry hedge (docs/semantics.md, Daily loop 2, Signals, and Risk layer:
Sizing, Delta hedge at entry).

Array contract. `chain` is a `contract.Chain` (arrays of `gridbt/data/pack.py`; `features`
is (n_features, n_days), NaN = missing value; a quote's iv or greek may be NaN). `params` is
one parameter vector (`contract.py`): filter blocks at `P_FILTER0 + f * FILTER_SIZE`, leg
blocks at `P_LEG0 + i * LEG_SIZE`. State is `state.py`'s (`book`, `flows`, `day` records,
`lg` per-leg arrays, rules NamedTuples). Outputs: the entry's `legs` rows (max_trades *
MAX_LEGS, N_LEG_COLS) and the first fields of its `trades` row (max_trades, N_TRADE_COLS).
Cash in currency, sums compensated (Neumaier). Nothing is allocated.
"""

import math

import numpy as np

from gridbt.kernel.cache import njit
from gridbt.kernel.contract import FILTER_SIZE, LEG, LEG_SIZE, P_FILTER0, P_LEG0, F, G, T
from gridbt.kernel.enums import MAX_LEGS, MarginModel, SizingBinding, SkipReason
from gridbt.kernel.risk_nb import (
    SQRT_252,
    floor_count_nb,
    hedge_clip_nb,
    kelly_star_nb,
    per_contract_nb,
    pm_margin_nb,
    regt_margin_nb,
    sigma_bar_nb,
    stress_worst_nb,
    vol_target_sd_nb,
)
from gridbt.kernel.rules_nb import scenarios_nb
from gridbt.kernel.select_nb import select_legs_nb
from gridbt.kernel.state import Sizing
from gridbt.kernel.steps_nb import (
    book_open_nb,
    hedge_trade_nb,
    open_fill_nb,
    reset_flows_nb,
)

MARGIN_PM = MarginModel.PM
MARGIN_REGT = MarginModel.REGT
BIND_FIXED = SizingBinding.FIXED
BIND_RISK = SizingBinding.RISK_BUDGET
BIND_MARGIN = SizingBinding.MARGIN_BUDGET
BIND_KELLY = SizingBinding.KELLY
BIND_VOL = SizingBinding.VOL_TARGET
BIND_MIN = SizingBinding.MIN_CONTRACTS
BIND_MAX = SizingBinding.MAX_CONTRACTS
SKIP_FILTER = SkipReason.FILTER
SKIP_SIGNAL = SkipReason.SIGNAL
SKIP_CAPITAL = SkipReason.CAPITAL
SKIP_SIZING = SkipReason.SIZING
SKIP_INVALID_MARKET = SkipReason.INVALID_MARKET


@njit(cache=True, nogil=True)
def zscore_signal_nb(x, d, window, entry, exit_, state):
    """Advance the z-score state machine to day d: return (new state, exit flag)."""
    if d < window:
        return state, False
    mean = 0.0
    for j in range(d - window, d):
        v = x[j]
        if not v == v:
            return state, False
        mean += v
    mean /= window
    var = 0.0
    for j in range(d - window, d):
        dv = x[j] - mean
        var += dv * dv
    std = math.sqrt(var / (window - 1))
    xd = x[d]
    if not (std > 0.0 and xd == xd):
        return state, False
    z = (xd - mean) / std
    if state == 0:
        if z < -entry:
            return 1, False
        if z > entry:
            return -1, False
        return 0, False
    if state > 0:
        if z >= -exit_:
            return 0, True
        return state, False
    if z <= exit_:
        return 0, True
    return state, False


@njit(cache=True, nogil=True, inline="always")
def entry_allowed_nb(chain, d, day, entry, first):
    """Steps 2.1-2.2 (the caller checked flat and not the last day): same-day re-entry after
    today's exit, and the schedule (weekday, every n-th day of the window)."""
    reason = day.exit_reason
    if reason >= 0 and (entry.reentry_mask >> reason) & 1 != 1:
        return False
    if (entry.weekday_mask >> chain.day_weekday[d]) & 1 != 1:
        return False
    return (d - first) % entry.every_n_days == 0


@njit(cache=True, nogil=True, inline="always")
def entry_direction_nb(chain, params, d, book, entry, signal):
    """Steps 2.3-2.4: the feature filters, then the signal's direction. Return (direction,
    -1) or (0, SkipReason)."""
    for f in range(entry.n_filters):
        base = P_FILTER0 + f * FILTER_SIZE
        v = chain.features[int(params[base + F.feature]), d]
        if not (v == v and v >= params[base + F.min] and v <= params[base + F.max]):
            return 0, SKIP_FILTER
    if signal.zscore:
        direction = -book.signal if signal.inverted else book.signal
    else:
        direction = signal.direction
    if direction == 0:
        return 0, SKIP_SIGNAL
    return direction, -1


@njit(cache=True, nogil=True, inline="always")
def load_legs_nb(chain, params, lg, n_legs, direction):
    """Step 2.6 done: the candidate legs' state from their selected quotes (the book is flat,
    so the leg state is free); greeks never finite count as 0, a NaN iv stays NaN."""
    for i in range(n_legs):
        base = P_LEG0 + i * LEG_SIZE
        q = lg.quote[i]
        lg.units[i] = params[base + LEG.side] * direction * params[base + LEG.qty]
        lg.right[i] = chain.contract_right[chain.quote_contract[q]]
        lg.strike[i] = chain.quote_strike[q]
        lg.expiry[i] = chain.quote_expiry[q]
        lg.bid[i] = chain.quote_bid[q]
        lg.ask[i] = chain.quote_ask[q]
        lg.mark[i] = 0.5 * (chain.quote_bid[q] + chain.quote_ask[q])
        lg.delta[i] = chain.quote_delta[q]
        lg.iv[i] = chain.quote_iv[q]
        greek = chain.quote_gamma[q]
        lg.gamma[i] = greek if greek == greek else 0.0
        greek = chain.quote_vega[q]
        lg.vega[i] = greek if greek == greek else 0.0
        greek = chain.quote_theta[q]
        lg.theta[i] = greek if greek == greek else 0.0


@njit(cache=True, nogil=True)
def entry_margin_nb(spot, today, lg, br, margin, stress, scenarios, worst, worst_hedged):
    """Risk layer, Margin models: IMc of the candidate at its entry quotes; `worst` is the W
    already computed, `worst_hedged` whether with the entry_hedged basis (pm needs the
    unhedged W). Return (IMc, -1) or (0, SkipReason.INVALID_MARKET)."""
    if margin.model == MARGIN_PM:
        if worst_hedged:
            worst, _ = stress_worst_nb(
                spot, today, lg.units, lg.right, lg.strike, lg.expiry, lg.iv, br.n_legs,
                br.multiplier, stress.rate, stress.dividend, scenarios, stress.n_scenarios,
                False, 0.0,
            )
        if not worst == worst:
            return 0.0, SKIP_INVALID_MARKET
        imc = pm_margin_nb(
            worst, margin.pm_multiplier, margin.pm_minimum, margin.house_multiplier,
            margin.house_floor,
        )
        return imc, -1
    if margin.model == MARGIN_REGT:
        imc = regt_margin_nb(
            spot, lg.units, lg.right, lg.strike, lg.expiry, lg.mark, br.n_legs, br.multiplier,
            margin.broad, margin.min_underlying, margin.min_put, margin.house_multiplier,
            margin.house_floor,
        )
        return imc, -1
    return 0.0, -1


@njit(cache=True, nogil=True, inline="always")
def budget_contracts_nb(book, sizing, equity, worst, imc, vol_sd):
    """The contracts of an entry, shared by the day kernel and the trade tables: the smallest
    raw count of the budgets that are on (risk on W, margin on IMc, Kelly on W with the book's
    trade record, vol target on `vol_sd`; else the fixed contracts), clipped to [min, max].
    Returns (size, binding, raw risk-budget count, raw margin-budget count)."""
    binding = BIND_FIXED
    risk_n = np.nan
    margin_n = np.nan
    best = np.inf
    if sizing.risk_budget == sizing.risk_budget:
        raw = floor_count_nb(equity, sizing.risk_budget, worst)
        if raw < best:
            best = raw
            binding = BIND_RISK
        if math.isfinite(raw):
            risk_n = raw
    if sizing.margin_budget == sizing.margin_budget:
        raw = floor_count_nb(equity, sizing.margin_budget, imc)
        if raw < best:
            best = raw
            binding = BIND_MARGIN
        if math.isfinite(raw):
            margin_n = raw
    if sizing.kelly_fraction == sizing.kelly_fraction and \
            book.kelly_rows >= sizing.kelly_min_trades:
        f_star = kelly_star_nb(
            book.kelly_rows,
            book.kelly_wins,
            book.kelly_losses,
            book.kelly_sum_wins + book.kelly_sum_wins_c,
            book.kelly_sum_losses + book.kelly_sum_losses_c,
        )
        raw = floor_count_nb(equity, sizing.kelly_fraction * max(f_star, 0.0), worst)
        if raw < best:
            best = raw
            binding = BIND_KELLY
    if sizing.vol_target == sizing.vol_target:
        raw = floor_count_nb(equity, sizing.vol_target, vol_sd * SQRT_252)
        if raw < best:
            best = raw
            binding = BIND_VOL
    size = sizing.contracts
    if best < np.inf:
        size = best
    if size > sizing.max_contracts:
        size = sizing.max_contracts
        binding = BIND_MAX
    if size < sizing.min_contracts:
        size = sizing.min_contracts
        binding = BIND_MIN
    return size, binding, risk_n, margin_n


@njit(cache=True, nogil=True, inline="always")
def size_nb(book, day, lg, rules, scenarios):
    """Step 2.7, Risk layer Sizing: the worst stress loss W and IMc when needed, then the
    smallest budget's raw count (risk, margin, Kelly, vol target; else the fixed contracts),
    clipped to [min, max] contracts. A size below 1 skips as `sizing`, a W, IMc or σ̄ that
    cannot be computed as `invalid_market`."""
    br = rules.book
    sizing = rules.sizing
    stress = rules.stress
    hedge = rules.hedge
    n_legs = br.n_legs
    mult = br.multiplier
    equity = book.cash + book.cash_c
    worst = np.nan
    worst_index = -1
    delta = 0.0
    vol_on = sizing.vol_target == sizing.vol_target
    if sizing.need_worst or hedge.on or vol_on:
        delta = per_contract_nb(lg.units, lg.delta, n_legs, mult)
    if sizing.need_worst:
        # the trade records this W (with the risk basis) whenever W is needed
        worst, worst_index = stress_worst_nb(
            day.spot, day.today, lg.units, lg.right, lg.strike, lg.expiry, lg.iv, n_legs, mult,
            stress.rate, stress.dividend, scenarios, stress.n_scenarios,
            sizing.risk_hedged, hedge.target - delta,
        )
        if not worst == worst:
            return _skipped(SKIP_INVALID_MARKET)
    imc = 0.0
    if rules.margin.on:
        imc, skip = entry_margin_nb(
            day.spot, day.today, lg, br, rules.margin, stress, scenarios, worst,
            sizing.risk_hedged,
        )
        if skip >= 0:
            return _skipped(skip)
    sigma_bar = np.nan
    if vol_on:
        sigma_bar = sigma_bar_nb(lg.units, lg.iv, n_legs)
        if not math.isfinite(sigma_bar):
            return _skipped(SKIP_INVALID_MARKET)
    vol_sd = np.nan
    if vol_on:
        vol_sd = vol_target_sd_nb(
            hedge.target if sizing.risk_hedged else delta,
            per_contract_nb(lg.units, lg.gamma, n_legs, mult),
            day.spot,
            sigma_bar,
        )
    size, binding, risk_n, margin_n = budget_contracts_nb(book, sizing, equity, worst, imc, vol_sd)
    skip = SKIP_SIZING if size < 1.0 else -1
    return Sizing(skip, size, binding, worst, worst_index, imc, risk_n, margin_n, delta)


@njit(cache=True, nogil=True)
def _skipped(skip):
    return Sizing(skip, 0.0, BIND_FIXED, np.nan, -1, 0.0, np.nan, np.nan, 0.0)


@njit(cache=True, nogil=True, inline="always")
def capital_ok_nb(book, lg, sized, br, margin_on):
    """Step 2.7, capital: equity before entry is positive and covers the entry's net cash
    need plus commissions, and, with a margin model, the initial margin."""
    equity = book.cash + book.cash_c
    size = sized.contracts
    need = 0.0
    fees = 0.0
    for i in range(br.n_legs):
        units = lg.units[i]
        fill = open_fill_nb(units, lg.bid[i], lg.ask[i], br.slippage, br.slippage_per_contract)
        need += units * size * br.multiplier * fill
        fees += br.commission * abs(units) * size
    if equity <= 0.0 or max(need, 0.0) + fees > equity:
        return False
    return not (margin_on and sized.margin_per_contract * size > equity)


@njit(cache=True, nogil=True, inline="always")
def open_legs_nb(chain, d, book, flows, day, lg, legs, br):
    """Step 2.8, legs: fill every leg at today's quotes (cash, entry cash, commissions and
    today's cost move), start its quote cursor, write its leg row; return the structure's
    value at mid per unit."""
    mult = br.multiplier
    n = book.contracts
    value_entry = 0.0
    for i in range(br.n_legs):
        units = lg.units[i]
        q = lg.quote[i]
        c = chain.quote_contract[q]
        bid = lg.bid[i]
        ask = lg.ask[i]
        fill = open_fill_nb(units, bid, ask, br.slippage, br.slippage_per_contract)
        fee = book_open_nb(book, flows, units, n, fill, br)
        day.cost += abs(fill - lg.mark[i]) * abs(units) * n * mult + fee
        lg.contract[i] = c
        lo = chain.contract_row_start[c]
        hi = chain.contract_row_start[c + 1]
        lg.cursor[i] = lo + np.searchsorted(chain.contract_row_day[lo:hi], d)
        lg.row_end[i] = hi
        lg.open[i] = 1
        lg.quoted[i] = 1
        value_entry += units * lg.mark[i]
        row = book.n_trades * MAX_LEGS + i
        legs[row, G.right] = chain.contract_right[c]
        legs[row, G.strike] = chain.quote_strike[q]
        legs[row, G.expiry] = chain.quote_expiry[q]
        legs[row, G.units] = units
        legs[row, G.entry_fill] = fill
        legs[row, G.exit_fill] = np.nan
        legs[row, G.settled] = 0.0
    for i in range(br.n_legs, MAX_LEGS):
        row = book.n_trades * MAX_LEGS + i
        for k in range(legs.shape[1]):
            legs[row, k] = 0.0
    return value_entry


@njit(cache=True, nogil=True, inline="always")
def open_nb(chain, d, direction, sized, book, flows, day, lg, legs, trades, rules):
    """Step 2.8: open the position at today's quotes (a fresh trade: flows, MAE/MFE, margin
    account), write the trade row's entry fields, then the entry hedge."""
    br = rules.book
    hedge = rules.hedge
    book.open = True
    book.entry_day = d
    book.direction = direction
    book.contracts = sized.contracts
    book.imc = sized.margin_per_contract
    book.call_days = 0
    reset_flows_nb(flows)
    book.mae = 0.0
    book.mfe = 0.0
    value_entry = open_legs_nb(chain, d, book, flows, day, lg, legs, br)
    book.value_entry = value_entry
    book.premium = abs(value_entry)
    book.premium_cash = value_entry * book.contracts * br.multiplier
    row = trades[book.n_trades]
    row[T.entry_day] = d
    row[T.direction] = direction
    row[T.contracts] = book.contracts
    row[T.n_legs] = br.n_legs
    row[T.entry_premium] = book.premium_cash
    row[T.sizing_binding] = sized.binding
    row[T.risk_per_contract] = sized.risk_per_contract
    row[T.worst_scenario] = sized.worst_scenario
    row[T.margin_per_contract] = sized.margin_per_contract
    row[T.risk_contracts] = sized.risk_contracts
    row[T.margin_contracts] = sized.margin_contracts
    book.hedge_shares = 0.0
    if hedge.on:
        book.last_hedge_day = d
        if hedge.at_entry:
            q = hedge_clip_nb(
                book.contracts * (hedge.target - sized.delta), hedge.min_trade, hedge.max_trade
            )
            if q != 0.0:
                hedge_trade_nb(book, flows, day, q, hedge)


@njit(cache=True, nogil=True, inline="always")
def try_entry_nb(chain, params, d, book, flows, day, lg, legs, trades, rules):
    """Steps 2.3-2.8 on a scheduled flat day: open a position (return -1) or return the
    SkipReason of the first check that fails."""
    br = rules.book
    direction, skip = entry_direction_nb(chain, params, d, book, rules.entry, rules.signal)
    if skip >= 0:
        return skip
    skip = select_legs_nb(chain, params, rules.entry, br.n_legs, d, day.spot, lg.quote)
    if skip >= 0:
        return skip
    load_legs_nb(chain, params, lg, br.n_legs, direction)
    sized = size_nb(book, day, lg, rules, scenarios_nb(params))
    if sized.skip >= 0:
        return sized.skip
    if not capital_ok_nb(book, lg, sized, br, rules.margin.on):
        return SKIP_CAPITAL
    open_nb(chain, d, direction, sized, book, flows, day, lg, legs, trades, rules)
    return -1
