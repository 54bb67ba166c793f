"""Evaluate parameter rows of one entry group on its trade tables (docs/trade_tables.md).

A row is a walk over its trades instead of over its days: on a flat day the entry steps run as
in the day kernel (re-entry, schedule, feature filters, signal direction, the selection result
read from the table, sizing from the table's precomputed inputs and today's cash, the capital
check); an opened trade's exit is the first day of its path on which an enabled exit rule fires,
in `steps_nb.exit_reason_nb`'s order; the days in between only write equity from the path's
marks. The cash flows go through the day kernel's own steps (`steps_nb.settle_leg_nb`,
`close_nb`, `record_nb`, compensated sums in the same order), so trades, equity and KPIs equal
`nb.run_batch_nb`'s. Rows that need the day path (margin account, delta hedge, financing,
z-score signal) are not run here: `tables.fallback_reasons` names them.

Array contract. `chain` is a `contract.Chain`; `tb` a `table_layout.TradeTables` built from the
group's entry slots; `params` (n_rows, N_PARAMS) with `rows` the indices of the group's rows.
Outputs as `nb.run_batch_nb` (kpis, skips, counters, kept equity, outcome). Scratch buffers
are allocated once per call.
"""

import math

import numpy as np

from gridbt.kernel.cache import njit
from gridbt.kernel.contract import N_LEG_COLS, N_TRADE_COLS, C, P, T
from gridbt.kernel.entry_nb import capital_ok_nb, entry_allowed_nb, entry_direction_nb
from gridbt.kernel.enums import MAX_LEGS, ExitReason, SizingBinding, SkipReason
from gridbt.kernel.kpi_nb import compute_kpis_nb, neumaier_add_nb
from gridbt.kernel.lowlevel_nb import borrowed_nb, stack_record_nb
from gridbt.kernel.outcome_nb import trades_hash_nb
from gridbt.kernel.risk_nb import SQRT_252, floor_count_nb, kelly_star_nb
from gridbt.kernel.rules_nb import decode_rules_nb, window_nb
from gridbt.kernel.state import Sizing, book_dt, day_dt, flows_dt, leg_book_dt
from gridbt.kernel.steps_nb import (
    add_cash_nb,
    book_value_nb,
    buy_fill_nb,
    close_nb,
    reset_flows_nb,
    sell_fill_nb,
    settle_leg_nb,
)
from gridbt.kernel.table_layout import FLAG_MISSING

__all__ = ["eval_group_nb", "eval_row_nb"]

EXPIRY = ExitReason.EXPIRY
STOP_LOSS = ExitReason.STOP_LOSS
PROFIT_TARGET = ExitReason.PROFIT_TARGET
DTE = ExitReason.DTE
MAX_HOLDING = ExitReason.MAX_HOLDING
REBALANCE = ExitReason.REBALANCE
DELTA_BREACH = ExitReason.DELTA_BREACH
END_OF_DATA = ExitReason.END_OF_DATA
BIND_FIXED = SizingBinding.FIXED
BIND_RISK = SizingBinding.RISK_BUDGET
BIND_MARGIN = SizingBinding.MARGIN_BUDGET
BIND_KELLY = SizingBinding.KELLY
BIND_VOL = SizingBinding.VOL_TARGET
BIND_MIN = SizingBinding.MIN_CONTRACTS
BIND_MAX = SizingBinding.MAX_CONTRACTS
SKIP_CAPITAL = SkipReason.CAPITAL
SKIP_SIZING = SkipReason.SIZING
SKIP_INVALID_MARKET = SkipReason.INVALID_MARKET


@njit(cache=True, nogil=True)
def _no_size_nb(skip):
    return Sizing(skip, 0.0, BIND_FIXED, np.nan, -1, 0.0, np.nan, np.nan, 0.0)


@njit(cache=True, nogil=True, inline="always")
def _size_nb(book, sizing, worst, sigma_bar, vol_sd):
    """`entry_nb.size_nb` on the table's W, σ̄ and vol-target sd (no margin model: IMc = 0)."""
    equity = book.cash + book.cash_c
    if sizing.need_worst and not worst == worst:
        return _no_size_nb(SKIP_INVALID_MARKET)
    vol_on = sizing.vol_target == sizing.vol_target
    if vol_on and not math.isfinite(sigma_bar):
        return _no_size_nb(SKIP_INVALID_MARKET)
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
        raw = floor_count_nb(equity, sizing.margin_budget, 0.0)
        if raw < best:
            best = raw
            binding = BIND_MARGIN
        if math.isfinite(raw):
            margin_n = raw
    kelly_on = sizing.kelly_fraction == sizing.kelly_fraction
    if kelly_on and book.kelly_rows >= sizing.kelly_min_trades:
        f_star = kelly_star_nb(
            book.kelly_rows, book.kelly_wins, book.kelly_losses,
            book.kelly_sum_wins + book.kelly_sum_wins_c,
            book.kelly_sum_losses + book.kelly_sum_losses_c,
        )
        raw = floor_count_nb(equity, sizing.kelly_fraction * max(f_star, 0.0), worst)
        if raw < best:
            best = raw
            binding = BIND_KELLY
    if vol_on:
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
    skip = SKIP_SIZING if size < 1.0 else -1
    return Sizing(skip, size, binding, worst, -1, 0.0, risk_n, margin_n, 0.0)


@njit(cache=True, nogil=True, inline="always")
def _load_nb(lg, tb, d, n_legs):
    """The candidate of day `d` from the table into the leg state (as `entry_nb.load_legs_nb`)."""
    for i in range(n_legs):
        lg.units[i] = tb.units[d, i]
        lg.right[i] = tb.right[d, i]
        lg.strike[i] = tb.strike[d, i]
        lg.expiry[i] = tb.expiry[d, i]
        lg.bid[i] = tb.entry_bid[d, i]
        lg.ask[i] = tb.entry_ask[d, i]
        lg.mark[i] = 0.5 * (tb.entry_bid[d, i] + tb.entry_ask[d, i])
        lg.open[i] = 1
        lg.quoted[i] = 1


@njit(cache=True, nogil=True, inline="always")
def _open_nb(d, direction, sized, book, flows, lg, trades, br):
    """`entry_nb.open_nb` without leg rows and hedge: fills, cash, the trade row's entry."""
    mult = br.multiplier
    n = sized.contracts
    book.open = True
    book.entry_day = d
    book.direction = direction
    book.contracts = n
    book.imc = 0.0
    book.call_days = 0
    reset_flows_nb(flows)
    book.mae = 0.0
    book.mfe = 0.0
    value_entry = 0.0
    for i in range(br.n_legs):
        units = lg.units[i]
        if units > 0:
            fill = buy_fill_nb(lg.bid[i], lg.ask[i], br.slippage, br.slippage_per_contract)
        else:
            fill = sell_fill_nb(lg.bid[i], lg.ask[i], br.slippage, br.slippage_per_contract)
        flow = -units * n * mult * fill
        fee = br.commission * abs(units) * n
        add_cash_nb(book, flow)
        add_cash_nb(book, -fee)
        flows.entry_cash, flows.entry_cash_c = neumaier_add_nb(
            flows.entry_cash, flows.entry_cash_c, flow
        )
        flows.commissions, flows.commissions_c = neumaier_add_nb(
            flows.commissions, flows.commissions_c, fee
        )
        value_entry += units * lg.mark[i]
    book.value_entry = value_entry
    book.premium = abs(value_entry)
    book.premium_cash = value_entry * n * mult
    book.hedge_shares = 0.0
    row = trades[book.n_trades]
    row[T.entry_day] = d
    row[T.direction] = direction
    row[T.contracts] = n
    row[T.n_legs] = br.n_legs
    row[T.entry_premium] = book.premium_cash
    row[T.sizing_binding] = sized.binding


@njit(cache=True, nogil=True, inline="always")
def _try_entry_nb(chain, tb, params, d, book, flows, day, lg, trades, rules):
    """Steps 2.3-2.8 on a scheduled flat day (`entry_nb.try_entry_nb` on the table): open the
    position (return -1) or return the SkipReason."""
    br = rules.book
    direction, skip = entry_direction_nb(chain, params, d, book, rules.entry, rules.signal)
    if skip >= 0:
        return skip
    if tb.skip[d] >= 0:
        return tb.skip[d]
    _load_nb(lg, tb, d, br.n_legs)
    sized = _size_nb(book, rules.sizing, tb.worst[d], tb.sigma_bar[d], tb.vol_sd[d])
    if sized.skip >= 0:
        return sized.skip
    if not capital_ok_nb(book, lg, sized, br, False):
        return SKIP_CAPITAL
    _open_nb(d, direction, sized, book, flows, lg, trades, br)
    return -1


@njit(cache=True, nogil=True, inline="always")
def _exit_scan_nb(day_date, tb, e, premium, rules, last):
    """The first path row of the trade entered on `e` on which a planned exit fires, and its
    ExitReason (`steps_nb.exit_reason_nb`'s order; the path ends where expiry or the end of
    data must fire)."""
    o = tb.start[e]
    value_entry = tb.value_entry[e]
    min_expiry = tb.min_expiry[e]
    entry_date = day_date[e]
    sl = rules.stop_loss
    pt = rules.profit_target
    credit = premium > 0.0
    n = tb.length[e]
    for k in range(n):
        t = e + 1 + k
        today = day_date[t]
        if min_expiry <= today:
            return k, EXPIRY
        pnl = tb.value[o + k] - value_entry
        if credit and sl == sl and pnl <= -sl * premium:
            return k, STOP_LOSS
        if credit and pt == pt and pnl >= pt * premium:
            return k, PROFIT_TARGET
        if rules.dte == rules.dte and min_expiry - today <= rules.dte:
            return k, DTE
        held = t - e if rules.period_trading else today - entry_date
        if rules.max_holding == rules.max_holding and held >= rules.max_holding:
            return k, MAX_HOLDING
        if rules.rebalance == rules.rebalance and held >= rules.rebalance:
            return k, REBALANCE
        if rules.delta_breach == rules.delta_breach and tb.short_delta[o + k] >= rules.delta_breach:
            return k, DELTA_BREACH
        if t == last:
            return k, END_OF_DATA
    return n - 1, END_OF_DATA


@njit(cache=True, nogil=True, inline="always")
def _hold_nb(chain, tb, e, n_rows, book, lg, equity, in_market, br):
    """Days `e + 1 .. e + n_rows` held through: equity from the path's marks, data gaps
    counted."""
    o = tb.start[e]
    for k in range(n_rows):
        t = e + 1 + k
        for i in range(br.n_legs):
            lg.mark[i] = 0.5 * (tb.bid[o + k, i] + tb.ask[o + k, i])
        if tb.flags[o + k] & FLAG_MISSING:
            book.missing_quote_days += 1
        equity[t] = book_value_nb(book, lg, br.n_legs, br.multiplier, chain.day_spot[t])
        in_market[t] = True


@njit(cache=True, nogil=True, inline="always")
def _exit_day_nb(chain, tb, e, k, reason, book, flows, day, lg, legs, trades, rules):
    """The exit day (path row `k`): settle the expired legs (`steps_nb.mark_nb`), then close
    the others at their last quotes and write the trade row (`steps_nb.close_nb`)."""
    br = rules.book
    row = tb.start[e] + k
    t = e + 1 + k
    day.today = chain.day_date[t]
    day.spot = chain.day_spot[t]
    flags = tb.flags[row]
    for i in range(br.n_legs):
        lg.bid[i] = tb.bid[row, i]
        lg.ask[i] = tb.ask[row, i]
        lg.quoted[i] = (flags >> i) & 1
        if lg.expiry[i] <= day.today:
            settle_leg_nb(book, flows, day, lg, i, legs, br.multiplier)
    if flags & FLAG_MISSING:
        book.missing_quote_days += 1
    close_nb(chain, t, reason, book, flows, day, lg, legs, trades, rules)
    return t


@njit(cache=True, nogil=True)
def eval_row_nb(chain, tb, params, equity, in_market, trades, legs, skips):
    """One row of the group: fill `equity`, `in_market`, `trades` (and scratch `legs`), count
    `skips`; return (trade rows, missing_quote_days, stale_fills)."""
    chain = borrowed_nb(chain)
    tb = borrowed_nb(tb)
    params, equity, in_market, trades, legs, skips = borrowed_nb(
        (params, equity, in_market, trades, legs, skips)
    )
    n_days = chain.day_date.shape[0]
    rules = decode_rules_nb(params, n_days, False)
    br = rules.book
    book = stack_record_nb(book_dt)
    flows = stack_record_nb(flows_dt)
    day = stack_record_nb(day_dt)
    lg = stack_record_nb(leg_book_dt)
    book.cash = br.capital
    skips[:] = 0
    for d in range(br.first):
        equity[d] = br.capital
        in_market[d] = False
    last = br.end - 1
    day.exit_reason = -1
    d = br.first
    while d < br.end:
        opened = False
        if d != last and entry_allowed_nb(chain, d, day, rules.entry, br.first):
            skip = _try_entry_nb(chain, tb, params, d, book, flows, day, lg, trades, rules)
            if skip >= 0:
                skips[skip] += 1
            else:
                opened = True
        if not opened:
            equity[d] = book.cash + book.cash_c
            in_market[d] = False
            day.exit_reason = -1
            d += 1
            continue
        equity[d] = book_value_nb(book, lg, br.n_legs, br.multiplier, chain.day_spot[d])
        in_market[d] = True
        k, reason = _exit_scan_nb(chain.day_date, tb, d, book.premium, rules.exit, last)
        _hold_nb(chain, tb, d, k, book, lg, equity, in_market, br)
        d = _exit_day_nb(chain, tb, d, k, reason, book, flows, day, lg, legs, trades, rules)
        day.exit_reason = reason
    final = equity[br.end - 1] if br.end > br.first else br.capital
    for d in range(br.end, n_days):
        equity[d] = final
        in_market[d] = False
    return book.n_trades, book.missing_quote_days, book.stale_fills


@njit(cache=True, nogil=True)
def eval_group_nb(chain, tb, params, rows, equity_slot, kpis, skips, counters, equity_out,
                  outcome):
    """Run rows `rows` of `params` on the group's tables; outputs as `nb.run_batch_nb`, at
    each row's index."""
    n_days = chain.day_date.shape[0]
    equity = np.empty(n_days)
    in_market = np.zeros(n_days, dtype=np.bool_)
    margin = np.zeros(n_days)
    trades = np.zeros((max(n_days, 1), N_TRADE_COLS))
    legs = np.zeros((max(n_days, 1) * MAX_LEGS, N_LEG_COLS))
    trade_pnl = np.empty(max(n_days, 1))
    trade_held = np.empty(max(n_days, 1), dtype=np.int64)
    scratch = np.empty(max(n_days, 1))
    for r in rows:
        n, missing, stale = eval_row_nb(
            chain, tb, params[r], equity, in_market, trades, legs, skips[r]
        )
        counters[r, C.missing_quote_days] = missing
        counters[r, C.stale_fills] = stale
        for t in range(n):
            trade_pnl[t] = trades[t, T.pnl]
            trade_held[t] = int(trades[t, T.days_held])
        w_first, w_end = window_nb(params[r], n_days)
        compute_kpis_nb(
            equity[w_first:w_end],
            chain.day_date[w_first:w_end],
            params[r, P.capital],
            trade_pnl[:n],
            trade_held[:n],
            in_market[w_first:w_end],
            margin[w_first:w_end],
            scratch,
            kpis[r],
        )
        outcome[r] = trades_hash_nb(trades, n)
        slot = equity_slot[r]
        if slot >= 0:
            equity_out[slot, :] = equity
