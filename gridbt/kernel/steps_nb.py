"""The steps of a trading day with a position open, and the end of every day
(docs/semantics.md: Daily loop 1 and 3; The daily loop with the risk layer, 1a-1c, 3 and 4).

Array contract. `chain` is a `contract.Chain` (arrays of `gridbt/data/pack.py`): contract c's
quote rows are `contract_rows[contract_row_start[c] .. contract_row_start[c + 1]]`, quoted on
the days `contract_row_day[..]` (ascending); a NaN bid or ask is no usable quote, a NaN greek
or iv is unknown (the last finite value carries). State (`state.py`): `book` (`book_dt`),
`flows` and `part` (`flows_dt`: the cash flows of the open trade and of a partial
liquidation's row), `day` (`day_dt`) and `lg` (`leg_book_dt`: arrays of MAX_LEGS, the first
`n_legs` in use) are records; rules are NamedTuples of scalars. Outputs: the `legs`
(max_trades * MAX_LEGS, N_LEG_COLS) and `trades` (max_trades, N_TRADE_COLS) rows of trade
`book.n_trades`, `equity` and `in_market` (n_days), `daily` (n_days, N_DAILY_COLS).
`scenarios` is the scenario block of the parameter vector (`rules_nb.scenarios_nb`). Cash in
currency, its sums compensated (Neumaier). Nothing is allocated.

Steps that take arrays and run every day or every trade are `inline="always"`: numba passes a
NamedTuple of arrays to a function it does not inline field by field (the chain: some 200
machine words) and counts references to each array.
"""
import numpy as np

from gridbt.kernel.cache import njit
from gridbt.kernel.contract import D, G, T
from gridbt.kernel.enums import MAX_LEGS, ExitReason, HedgeBand, MarginModel
from gridbt.kernel.kpi_nb import neumaier_add_nb
from gridbt.kernel.lowlevel_nb import prefetch_nb
from gridbt.kernel.risk_nb import (
    MAX_COUNT,
    hedge_clip_nb,
    hedge_fill_nb,
    per_contract_nb,
    pm_margin_nb,
    regt_margin_nb,
    sigma_bar_nb,
    stress_worst_nb,
    ww_half_width_nb,
)

EXPIRY = ExitReason.EXPIRY
STOP_LOSS = ExitReason.STOP_LOSS
PROFIT_TARGET = ExitReason.PROFIT_TARGET
DTE = ExitReason.DTE
MAX_HOLDING = ExitReason.MAX_HOLDING
REBALANCE = ExitReason.REBALANCE
DELTA_BREACH = ExitReason.DELTA_BREACH
SIGNAL = ExitReason.SIGNAL
END_OF_DATA = ExitReason.END_OF_DATA
MARGIN_CALL = ExitReason.MARGIN_CALL
MARGIN_PARTIAL = ExitReason.MARGIN_PARTIAL
BAND_WW = HedgeBand.WW
MARGIN_REGT = MarginModel.REGT


# ------------------------------------------------------------------ cash primitives
@njit(cache=True, nogil=True, inline="always")
def add_cash_nb(book, x):
    """Move the book's cash by `x`."""
    book.cash, book.cash_c = neumaier_add_nb(book.cash, book.cash_c, x)


@njit(cache=True, nogil=True)
def buy_fill_nb(bid, ask, s, extra):
    """Price paid buying at slippage fraction `s` of the half spread plus `extra` per option
    (`execution.slippage_per_contract`)."""
    mid = 0.5 * (bid + ask)
    return mid + s * (ask - mid) + extra


@njit(cache=True, nogil=True)
def sell_fill_nb(bid, ask, s, extra):
    """Price received selling at slippage fraction `s` of the half spread less `extra` per
    option; never below 0 (a sale does not pay the buyer to take the option)."""
    mid = 0.5 * (bid + ask)
    return max(mid - s * (mid - bid) - extra, 0.0)


@njit(cache=True, nogil=True, inline="always")
def open_fill_nb(units, bid, ask, s, extra):
    """The fill opening a leg of `units` units: bought when long, sold when short."""
    if units > 0:
        return buy_fill_nb(bid, ask, s, extra)
    return sell_fill_nb(bid, ask, s, extra)


@njit(cache=True, nogil=True, inline="always")
def close_fill_nb(units, bid, ask, s, extra):
    """The fill closing a leg of `units` units: sold when long, bought when short."""
    if units > 0:
        return sell_fill_nb(bid, ask, s, extra)
    return buy_fill_nb(bid, ask, s, extra)


@njit(cache=True, nogil=True, inline="always")
def book_open_nb(book, flows, units, n, fill, br):
    """Book opening `n` contracts of a leg of `units` units at `fill`: cash, the row's entry
    cash and commissions move; return the commission."""
    flow = -units * n * br.multiplier * fill
    fee = br.commission * abs(units) * n
    add_cash_nb(book, flow)
    add_cash_nb(book, -fee)
    flows.entry_cash, flows.entry_cash_c = neumaier_add_nb(
        flows.entry_cash, flows.entry_cash_c, flow
    )
    flows.commissions, flows.commissions_c = neumaier_add_nb(
        flows.commissions, flows.commissions_c, fee
    )
    return fee


@njit(cache=True, nogil=True, inline="always")
def book_close_nb(book, flows, units, n, fill, br):
    """Book closing `n` contracts of a leg of `units` units at `fill`: cash, the row's exit
    cash and commissions move; return the commission."""
    flow = units * n * br.multiplier * fill
    fee = br.commission * abs(units) * n
    add_cash_nb(book, flow)
    add_cash_nb(book, -fee)
    flows.exit_cash, flows.exit_cash_c = neumaier_add_nb(flows.exit_cash, flows.exit_cash_c, flow)
    flows.commissions, flows.commissions_c = neumaier_add_nb(
        flows.commissions, flows.commissions_c, fee
    )
    return fee


@njit(cache=True, nogil=True, inline="always")
def intrinsic_nb(right, strike, spot):
    """An option's value at expiry on `spot` (`right` > 0: a call)."""
    return max(spot - strike, 0.0) if right > 0 else max(strike - spot, 0.0)


@njit(cache=True, nogil=True, inline="always")
def book_settle_nb(book, flows, units, n, intrinsic, mult):
    """Book `n` contracts of an expired leg of `units` units settling at `intrinsic` (cash
    settlement, no commission): cash and the row's exit cash move."""
    flow = units * n * mult * intrinsic
    add_cash_nb(book, flow)
    flows.exit_cash, flows.exit_cash_c = neumaier_add_nb(flows.exit_cash, flows.exit_cash_c, flow)


@njit(cache=True, nogil=True, inline="always")
def hedge_trade_nb(book, flows, day, q, hedge):
    """Trade `q` shares of the underlying at today's spot (Risk layer, Delta hedge): cash, the
    row's hedge P&L and hedge cost, today's cost and the hedge shares move."""
    flow, fee_flow, cost = hedge_fill_nb(q, day.spot, hedge.slippage_bps, hedge.commission)
    add_cash_nb(book, flow)
    add_cash_nb(book, fee_flow)
    flows.hedge_pnl, flows.hedge_pnl_c = neumaier_add_nb(flows.hedge_pnl, flows.hedge_pnl_c, flow)
    flows.hedge_pnl, flows.hedge_pnl_c = neumaier_add_nb(
        flows.hedge_pnl, flows.hedge_pnl_c, fee_flow
    )
    flows.hedge_cost, flows.hedge_cost_c = neumaier_add_nb(
        flows.hedge_cost, flows.hedge_cost_c, cost
    )
    book.hedge_shares += q
    day.cost += cost


@njit(cache=True, nogil=True, inline="always")
def close_leg_nb(book, flows, day, lg, i, n, br):
    """Step 1.4: close `n` contracts of leg `i` at its last quote (a leg not quoted today fills
    stale, counted in the book); cash, the row's exit cash and commissions and today's cost
    (spread paid and commission) move. Return the fill."""
    units = lg.units[i]
    bid = lg.bid[i]
    ask = lg.ask[i]
    if not lg.quoted[i]:
        book.stale_fills += 1
    fill = close_fill_nb(units, bid, ask, br.slippage, br.slippage_per_contract)
    fee = book_close_nb(book, flows, units, n, fill, br)
    day.cost += abs(fill - 0.5 * (bid + ask)) * abs(units) * n * br.multiplier + fee
    return fill


@njit(cache=True, nogil=True, inline="always")
def book_value_nb(book, lg, n_legs, mult, spot):
    """Equity of the book: cash, the open legs at their marks, the hedge at spot."""
    total = book.cash + book.cash_c
    for i in range(n_legs):
        if lg.open[i]:
            total += lg.units[i] * book.contracts * mult * lg.mark[i]
    return total + book.hedge_shares * spot


# ------------------------------------------------------------------ 1a. mark and settle
@njit(cache=True, nogil=True, inline="always")
def settle_leg_nb(book, flows, day, lg, i, legs, mult):
    """Step 1.1: leg `i` expired: it settles at intrinsic value from today's spot (cash
    settlement, no commission) and closes; its leg row records the settlement."""
    intrinsic = intrinsic_nb(lg.right[i], lg.strike[i], day.spot)
    book_settle_nb(book, flows, lg.units[i], book.contracts, intrinsic, mult)
    lg.mark[i] = intrinsic
    lg.open[i] = 0
    row = book.n_trades * MAX_LEGS + i
    legs[row, G.exit_fill] = intrinsic
    legs[row, G.settled] = 1.0


@njit(cache=True, nogil=True, inline="always")
def prefetch_quote_nb(chain, q, br):
    """Start loading the fields of quote row `q` that a mark reads: called with a leg's next
    quote (tomorrow's, usually), its cache lines arrive while today's steps run. The quote
    arrays are far larger than the caches, so each mark is otherwise a wait on memory."""
    prefetch_nb(chain.quote_bid, q)
    prefetch_nb(chain.quote_ask, q)
    prefetch_nb(chain.quote_delta, q)
    if br.track_gamma:
        prefetch_nb(chain.quote_gamma, q)
    if br.track_iv:
        prefetch_nb(chain.quote_iv, q)
    if br.fill_daily:
        prefetch_nb(chain.quote_vega, q)
        prefetch_nb(chain.quote_theta, q)


@njit(cache=True, nogil=True, inline="always")
def mark_leg_nb(chain, d, day, lg, i, br):
    """Step 1.1: mark leg `i` at today's mid when its contract is quoted with a finite bid and
    ask (its last bid, ask, greeks and iv move; the iv change adds to today's vega
    attribution); else its mark carries. Return whether it was quoted."""
    cur = lg.cursor[i]
    end = lg.row_end[i]
    while cur < end and chain.contract_row_day[cur] < d:
        cur += 1
    lg.cursor[i] = cur
    if not (cur < end and chain.contract_row_day[cur] == d):
        return False
    q = chain.contract_rows[cur]
    if cur + 1 < end:
        prefetch_quote_nb(chain, chain.contract_rows[cur + 1], br)
    bid = chain.quote_bid[q]
    ask = chain.quote_ask[q]
    if not (bid == bid and ask == ask):
        return False
    lg.bid[i] = bid
    lg.ask[i] = ask
    lg.mark[i] = 0.5 * (bid + ask)
    if chain.quote_delta[q] == chain.quote_delta[q]:
        lg.delta[i] = chain.quote_delta[q]
    # greeks and iv only where an output or a rule reads them: each is one more cache miss
    # per leg and day
    if br.track_gamma and chain.quote_gamma[q] == chain.quote_gamma[q]:
        lg.gamma[i] = chain.quote_gamma[q]
    if br.fill_daily:
        if chain.quote_vega[q] == chain.quote_vega[q]:
            lg.vega[i] = chain.quote_vega[q]
        if chain.quote_theta[q] == chain.quote_theta[q]:
            lg.theta[i] = chain.quote_theta[q]
    if br.track_iv:
        iv = chain.quote_iv[q]
        if iv == iv:
            change = iv - lg.iv[i]
            if change == change:
                day.pnl_vega += lg.vega_exposure[i] * change * 100.0
            lg.iv[i] = iv
    return True


@njit(cache=True, nogil=True, inline="always")
def mark_nb(chain, d, book, flows, day, lg, legs, br):
    """Steps 1.1-1.2: settle the expired legs, mark the others (a day with some leg not
    quoted counts once in `book.missing_quote_days`), then the structure's P&L on mid marks
    and the trade's MAE/MFE. Return (some leg settled, P&L per structure unit)."""
    n_legs = br.n_legs
    settled = False
    missing = False
    for i in range(n_legs):
        if not lg.open[i]:
            continue
        if lg.expiry[i] <= day.today:
            settle_leg_nb(book, flows, day, lg, i, legs, br.multiplier)
            settled = True
            continue
        if mark_leg_nb(chain, d, day, lg, i, br):
            lg.quoted[i] = 1
        else:
            lg.quoted[i] = 0
            missing = True
    if missing:
        book.missing_quote_days += 1
    value = 0.0
    for i in range(n_legs):
        value += lg.units[i] * lg.mark[i]
    pnl = value - book.value_entry
    pnl_cash = pnl * book.contracts * br.multiplier
    if pnl_cash < book.mae:
        book.mae = pnl_cash
    if pnl_cash > book.mfe:
        book.mfe = pnl_cash
    return settled, pnl


# ------------------------------------------------------------------ 1b. planned exits
@njit(cache=True, nogil=True, inline="always")
def days_since_nb(chain, start, d, period_trading):
    """Days from day index `start` to `d`: trading days, or calendar days."""
    if period_trading:
        return d - start
    return chain.day_date[d] - chain.day_date[start]


@njit(cache=True, nogil=True, inline="always")
def exit_reason_nb(chain, d, book, day, lg, n_legs, settled, pnl, rules):
    """Step 1.3: the first planned exit that fires today (ExitReason), or -1."""
    premium = book.premium
    held = days_since_nb(chain, book.entry_day, d, rules.period_trading)
    min_dte = 1 << 40
    for i in range(n_legs):
        min_dte = min(min_dte, lg.expiry[i] - day.today)
    sl = rules.stop_loss
    pt = rules.profit_target
    if settled:
        return EXPIRY
    if premium > 0.0 and sl == sl and pnl <= -sl * premium:
        return STOP_LOSS
    if premium > 0.0 and pt == pt and pnl >= pt * premium:
        return PROFIT_TARGET
    if rules.dte == rules.dte and min_dte <= rules.dte:
        return DTE
    if rules.max_holding == rules.max_holding and held >= rules.max_holding:
        return MAX_HOLDING
    if rules.rebalance == rules.rebalance and held >= rules.rebalance:
        return REBALANCE
    if rules.delta_breach == rules.delta_breach:
        for i in range(n_legs):
            if lg.units[i] < 0 and abs(lg.delta[i]) >= rules.delta_breach:
                return DELTA_BREACH
    if day.signal_exit:
        return SIGNAL
    if day.last:
        return END_OF_DATA
    return -1


# ------------------------------------------------------------------ 1c. hedge and margin
@njit(cache=True, nogil=True, inline="always")
def hedge_step_nb(chain, d, book, flows, day, lg, br, hedge, period_trading):
    """Step 1c, hedge: rebalance the delta hedge when its band (fixed or Whalley-Wilmott, per
    contract or for the whole position) or its period fires, to the target or to the nearer
    band edge; a firing day is a hedge decision even when the clip or deadband leaves no
    trade."""
    n_legs = br.n_legs
    mult = br.multiplier
    target = hedge.target
    net = per_contract_nb(lg.units, lg.delta, n_legs, mult) + book.hedge_shares / book.contracts
    band_fired = False
    hw = 0.0
    if hedge.band_on:
        if hedge.band == BAND_WW:
            gamma = per_contract_nb(lg.units, lg.gamma, n_legs, mult)
            if hedge.band_position:
                gamma = book.contracts * gamma
            hw = ww_half_width_nb(
                hedge.ww_c,
                hedge.ww_fee,
                gamma,
                sigma_bar_nb(lg.units, lg.iv, n_legs),
                day.spot,
                hedge.ww_min,
                hedge.ww_max,
            )
        else:
            hw = hedge.half_width
        if hedge.band_position:  # a band for the whole position is hw / N per contract
            hw = hw / book.contracts
        band_fired = abs(net - target) > hw
    time_fired = False
    if hedge.time_on:
        time_fired = (
            days_since_nb(chain, book.last_hedge_day, d, period_trading) >= hedge.every_days
        )
    if hedge.band_on and hedge.time_on:
        fired = (band_fired and time_fired) if hedge.combine_and else (band_fired or time_fired)
    else:
        fired = band_fired or time_fired
    if not fired:
        return
    desired = target
    if band_fired and hedge.to_boundary:
        desired = target + hw if net > target else target - hw
    q = hedge_clip_nb(book.contracts * (desired - net), hedge.min_trade, hedge.max_trade)
    book.last_hedge_day = d
    if q != 0.0:
        hedge_trade_nb(book, flows, day, q, hedge)


@njit(cache=True, nogil=True)
def refresh_margin_nb(imc, spot, today, lg, br, margin, stress, scenarios):
    """Step 1c, margin: the initial margin per contract at today's marks when every leg is
    quoted today (for pm, when the stress can be computed); else `imc` carries."""
    n_legs = br.n_legs
    for i in range(n_legs):
        if not lg.quoted[i]:
            return imc
    if margin.model == MARGIN_REGT:
        return regt_margin_nb(
            spot, lg.units, lg.right, lg.strike, lg.expiry, lg.mark, n_legs, br.multiplier,
            margin.broad, margin.min_underlying, margin.min_put, margin.house_multiplier,
            margin.house_floor,
        )
    worst, _ = stress_worst_nb(
        spot, today, lg.units, lg.right, lg.strike, lg.expiry, lg.iv, n_legs, br.multiplier,
        stress.rate, stress.dividend, scenarios, stress.n_scenarios, False, 0.0,
    )
    if worst == worst:
        return pm_margin_nb(
            worst, margin.pm_multiplier, margin.pm_minimum, margin.house_multiplier,
            margin.house_floor,
        )
    return imc


@njit(cache=True, nogil=True, inline="always")
def margin_step_nb(chain, d, book, flows, part, day, lg, legs, trades, rules, scenarios):
    """Step 1c, margin account: refresh IMc, count margin-call days, and past the grace days
    liquidate in full (return MARGIN_CALL: the caller closes) or to the target
    size (a margin_partial row; the position goes on). Else return -1."""
    br = rules.book
    account = rules.account
    book.imc = refresh_margin_nb(
        book.imc, day.spot, day.today, lg, br, rules.margin, rules.stress, scenarios
    )
    equity = book_value_nb(book, lg, br.n_legs, br.multiplier, day.spot)
    if book.imc * book.contracts * account.maintenance_ratio > equity:
        book.call_days += 1
    else:
        book.call_days = 0
    if not book.call_days > account.grace_days:
        return -1
    keep = 0.0
    if account.liquidate_to_target:
        denominator = account.maintenance_ratio * book.imc * (1.0 + account.liquidation_buffer)
        if denominator > 0.0:
            keep = min(np.floor(max(equity, 0.0) / denominator), MAX_COUNT)
    if keep <= 0.0:
        return MARGIN_CALL
    partial_close_nb(chain, d, book, flows, part, day, lg, legs, trades, rules, keep)
    return -1


@njit(cache=True, nogil=True, inline="always")
def reset_flows_nb(flows):
    """A new trade: every cash-flow sum 0."""
    flows.entry_cash = 0.0
    flows.entry_cash_c = 0.0
    flows.exit_cash = 0.0
    flows.exit_cash_c = 0.0
    flows.commissions = 0.0
    flows.commissions_c = 0.0
    flows.hedge_pnl = 0.0
    flows.hedge_pnl_c = 0.0
    flows.hedge_cost = 0.0
    flows.hedge_cost_c = 0.0
    flows.financing = 0.0
    flows.financing_c = 0.0


@njit(cache=True, nogil=True, inline="always")
def split_flows_nb(flows, part, frac, keep):
    """Partial liquidation: `part` takes fraction `frac` of each of the open trade's sums,
    the open trade keeps `keep` (each applied to `total + compensation`)."""
    part.entry_cash = (flows.entry_cash + flows.entry_cash_c) * frac
    part.entry_cash_c = 0.0
    part.exit_cash = (flows.exit_cash + flows.exit_cash_c) * frac
    part.exit_cash_c = 0.0
    part.commissions = (flows.commissions + flows.commissions_c) * frac
    part.commissions_c = 0.0
    part.hedge_pnl = (flows.hedge_pnl + flows.hedge_pnl_c) * frac
    part.hedge_pnl_c = 0.0
    part.hedge_cost = (flows.hedge_cost + flows.hedge_cost_c) * frac
    part.hedge_cost_c = 0.0
    part.financing = (flows.financing + flows.financing_c) * frac
    part.financing_c = 0.0
    flows.entry_cash = (flows.entry_cash + flows.entry_cash_c) * keep
    flows.entry_cash_c = 0.0
    flows.exit_cash = (flows.exit_cash + flows.exit_cash_c) * keep
    flows.exit_cash_c = 0.0
    flows.commissions = (flows.commissions + flows.commissions_c) * keep
    flows.commissions_c = 0.0
    flows.hedge_pnl = (flows.hedge_pnl + flows.hedge_pnl_c) * keep
    flows.hedge_pnl_c = 0.0
    flows.hedge_cost = (flows.hedge_cost + flows.hedge_cost_c) * keep
    flows.hedge_cost_c = 0.0
    flows.financing = (flows.financing + flows.financing_c) * keep
    flows.financing_c = 0.0


@njit(cache=True, nogil=True, inline="always")
def partial_close_nb(chain, d, book, flows, part, day, lg, legs, trades, rules, keep):
    """Step 1c, target liquidation: close N - K contracts of every open leg and the same
    fraction of the hedge as a margin_partial trade row; the open trade keeps the rest, its
    leg rows move to the next trade index."""
    br = rules.book
    n = book.contracts
    n_close = n - keep
    frac = n_close / n
    rest = 1.0 - frac
    split_flows_nb(flows, part, frac, rest)
    t = book.n_trades
    for i in range(MAX_LEGS):
        src = t * MAX_LEGS + i
        for k in range(legs.shape[1]):
            legs[src + MAX_LEGS, k] = legs[src, k]
    for i in range(br.n_legs):
        if lg.open[i]:
            legs[t * MAX_LEGS + i, G.exit_fill] = close_leg_nb(book, part, day, lg, i, n_close, br)
    if book.hedge_shares != 0.0:
        hedge_trade_nb(book, part, day, -book.hedge_shares * (n - keep) / n, rules.hedge)
    # the part's entry cash and financing are fractions only: no compensation to add
    part.exit_cash = part.exit_cash + part.exit_cash_c
    part.commissions = part.commissions + part.commissions_c
    part.hedge_pnl = part.hedge_pnl + part.hedge_pnl_c
    part.hedge_cost = part.hedge_cost + part.hedge_cost_c
    record_nb(
        chain, d, book, part, trades, MARGIN_PARTIAL, n_close,
        book.premium_cash * frac, book.mae * frac, book.mfe * frac,
    )
    for k in range(trades.shape[1]):
        trades[t + 1, k] = trades[t, k]
    book.contracts = keep
    book.premium_cash = book.premium_cash * rest
    book.mae = book.mae * rest
    book.mfe = book.mfe * rest
    book.call_days = 0


# ------------------------------------------------------------------ full exit, trade rows
@njit(cache=True, nogil=True, inline="always")
def record_nb(chain, d, book, flows, trades, reason, contracts, premium_cash, mae, mfe):
    """Outputs: write trade row `book.n_trades` closing on `d` from its cash-flow totals
    (`flows`, compensation already added) and count it for Kelly sizing."""
    row = trades[book.n_trades]
    row[T.exit_day] = d
    row[T.exit_reason] = reason
    row[T.contracts] = contracts
    row[T.entry_premium] = premium_cash
    row[T.entry_cash] = flows.entry_cash
    row[T.exit_cash] = flows.exit_cash
    row[T.commissions] = flows.commissions
    row[T.hedge_pnl] = flows.hedge_pnl
    row[T.hedge_cost] = flows.hedge_cost
    row[T.financing] = flows.financing
    pnl = flows.entry_cash + flows.exit_cash - flows.commissions + flows.hedge_pnl + flows.financing
    row[T.pnl] = pnl
    row[T.mae] = mae
    row[T.mfe] = mfe
    row[T.days_held] = chain.day_date[d] - chain.day_date[book.entry_day]
    book.n_trades += 1
    book.kelly_rows += 1
    if pnl > 0.0:
        book.kelly_wins += 1
        book.kelly_sum_wins, book.kelly_sum_wins_c = neumaier_add_nb(
            book.kelly_sum_wins, book.kelly_sum_wins_c, pnl
        )
    elif pnl < 0.0:
        book.kelly_losses += 1
        book.kelly_sum_losses, book.kelly_sum_losses_c = neumaier_add_nb(
            book.kelly_sum_losses, book.kelly_sum_losses_c, pnl
        )


@njit(cache=True, nogil=True, inline="always")
def close_nb(chain, d, reason, book, flows, day, lg, legs, trades, rules):
    """Step 1.4: fill every leg not settled at its last quote, unwind the hedge, write the
    trade row; the book is flat."""
    br = rules.book
    for i in range(br.n_legs):
        if not lg.open[i]:
            continue
        fill = close_leg_nb(book, flows, day, lg, i, book.contracts, br)
        lg.mark[i] = fill
        lg.open[i] = 0
        legs[book.n_trades * MAX_LEGS + i, G.exit_fill] = fill
    if book.hedge_shares != 0.0:
        hedge_trade_nb(book, flows, day, -book.hedge_shares, rules.hedge)
        book.hedge_shares = 0.0
    flows.entry_cash = flows.entry_cash + flows.entry_cash_c
    flows.exit_cash = flows.exit_cash + flows.exit_cash_c
    flows.commissions = flows.commissions + flows.commissions_c
    flows.hedge_pnl = flows.hedge_pnl + flows.hedge_pnl_c
    flows.hedge_cost = flows.hedge_cost + flows.hedge_cost_c
    flows.financing = flows.financing + flows.financing_c
    record_nb(
        chain, d, book, flows, trades, reason, book.contracts, book.premium_cash, book.mae,
        book.mfe,
    )
    book.open = False
    book.call_days = 0
    book.imc = 0.0


# ------------------------------------------------------------------ 3. financing, 4. equity
@njit(cache=True, nogil=True, inline="always")
def finance_nb(book, flows, day, lg, br, account):
    """Step 3: interest on equity above the initial margin, borrowing cost on margin above
    equity, into cash and the trade's financing."""
    equity = book_value_nb(book, lg, br.n_legs, br.multiplier, day.spot)
    im = book.imc * book.contracts
    financing = (
        max(equity - im, 0.0) * account.cash_rate / 252.0
        - max(im - equity, 0.0) * account.borrow_rate / 252.0
    )
    add_cash_nb(book, financing)
    flows.financing, flows.financing_c = neumaier_add_nb(
        flows.financing, flows.financing_c, financing
    )
    day.financing = financing


@njit(cache=True, nogil=True, inline="always")
def attribute_nb(day, row, total):
    """Step 4, Daily outputs and attribution: split the day's P&L with the greeks of the end of
    yesterday (0 when flat then): delta, gamma, vega (summed while marking), theta, costs,
    financing and the residual."""
    pnl_delta = 0.0
    pnl_gamma = 0.0
    pnl_theta = 0.0
    if day.prev_open:
        move = day.spot - day.prev_spot
        pnl_delta = day.prev_net_delta * move
        pnl_gamma = 0.5 * day.prev_gamma * move**2
        pnl_theta = day.prev_theta * (day.today - day.prev_date)
    else:
        day.pnl_vega = 0.0
    pnl_vega = day.pnl_vega
    pnl_costs = -day.cost
    row[D.pnl_delta] = pnl_delta
    row[D.pnl_gamma] = pnl_gamma
    row[D.pnl_vega] = pnl_vega
    row[D.pnl_theta] = pnl_theta
    row[D.pnl_costs] = pnl_costs
    row[D.pnl_financing] = day.financing
    row[D.pnl_residual] = (total - day.prev_equity) - (
        pnl_delta + pnl_gamma + pnl_vega + pnl_theta + pnl_costs + day.financing
    )


@njit(cache=True, nogil=True, inline="always")
def end_of_day_nb(book, day, lg, row, br, account):
    """Step 4, Daily outputs: the end-of-day contracts, greeks, hedge and margin of the book
    (0 when flat); keep them, with each leg's vega exposure, for tomorrow's attribution."""
    if not book.open:
        for k in range(D.pnl_delta):
            row[k] = 0.0
        return
    n = book.contracts
    o_delta = 0.0
    o_gamma = 0.0
    o_vega = 0.0
    o_theta = 0.0
    for i in range(br.n_legs):
        scale = lg.units[i] * br.multiplier * n
        dl = lg.delta[i]
        if dl == dl:
            o_delta += scale * dl
        o_gamma += scale * lg.gamma[i]
        exposure = scale * lg.vega[i]
        lg.vega_exposure[i] = exposure
        o_vega += exposure
        o_theta += scale * lg.theta[i]
    im = book.imc * n
    row[D.contracts] = n
    row[D.delta] = o_delta
    row[D.hedge_shares] = book.hedge_shares
    row[D.net_delta] = o_delta + book.hedge_shares
    row[D.gamma] = o_gamma
    row[D.vega] = o_vega
    row[D.theta] = o_theta
    row[D.initial_margin] = im
    row[D.maintenance_margin] = im * account.maintenance_ratio
    row[D.margin_call_days] = book.call_days
    day.prev_net_delta = o_delta + book.hedge_shares
    day.prev_gamma = o_gamma
    day.prev_theta = o_theta


@njit(cache=True, nogil=True, inline="always")
def equity_step_nb(d, book, day, lg, equity, in_market, daily, br, account):
    """Step 4: equity(d) = cash + open legs at their marks + hedge at spot, and the daily row
    (only the margin column in the batch path)."""
    total = book.cash + book.cash_c
    if book.open:
        total = book_value_nb(book, lg, br.n_legs, br.multiplier, day.spot)
    equity[d] = total
    in_market[d] = book.open
    if not br.fill_daily:
        daily[d, D.initial_margin] = book.imc * book.contracts if book.open else 0.0
        return
    row = daily[d]
    attribute_nb(day, row, total)
    end_of_day_nb(book, day, lg, row, br, account)
    day.prev_open = book.open
    day.prev_equity = total
    day.prev_spot = day.spot
    day.prev_date = day.today
