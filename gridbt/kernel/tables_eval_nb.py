"""Evaluate parameter rows of one entry group on its trade tables (docs/trade_tables.md).

A row is a walk over its trades instead of over its days: on a flat day the entry steps run as
in the day kernel (re-entry, schedule, feature filters, signal direction, the selection result
read from the table, sizing from the table's precomputed inputs and today's cash, the capital
check); an opened trade's exit is the first day of its path on which an enabled exit rule fires,
in `steps_nb.exit_reason_nb`'s order (the z-score signal's state and exits are the
table's: a property of the chain); the days in between only write equity from the path's
marks. The cash flows are the day kernel's (`steps_nb.settle_leg_nb`, `close_nb`,
`record_nb`, its fills and compensated sums), operation for operation and in the same order, so
trades, equity and KPIs equal `nb.run_batch_nb`'s. The leg state is read from the table, never
copied into a leg record: stores into a record's array fields inside the walk's loop make LLVM
keep the loop's state in memory (5x slower). Rows that need the day path (margin account, delta
hedge, financing) are not run here: `tables.fallback_reasons` names them.

Array contract. `chain` is a `contract.Chain`; `tb` a `table_layout.TradeTables` made from the
group's entry slots (its candidate days built as rows reach them, `tables_nb.ensure_entry_nb`),
`cm` the chain's contract-major (bid, ask, delta); `params` (n_rows, N_PARAMS) with `rows`
the indices of the group's rows.
Outputs as `nb.run_batch_nb` (kpis, skips, counters, kept equity, outcome). Scratch buffers
are allocated once per call.
"""

import math

import numpy as np

from gridbt.kernel.cache import njit
from gridbt.kernel.contract import N_TRADE_COLS, C, T
from gridbt.kernel.entry_nb import budget_contracts_nb, entry_allowed_nb, entry_direction_nb
from gridbt.kernel.enums import ExitReason, SizingBinding, SkipReason
from gridbt.kernel.kpi_nb import neumaier_add_nb
from gridbt.kernel.lowlevel_nb import borrowed_nb, stack_record_nb
from gridbt.kernel.row_nb import finish_row_nb
from gridbt.kernel.rules_nb import decode_rules_nb, scenarios_nb
from gridbt.kernel.state import Sizing, book_dt, day_dt, flows_dt
from gridbt.kernel.steps_nb import (
    add_cash_nb,
    book_close_nb,
    book_open_nb,
    close_fill_nb,
    open_fill_nb,
    record_nb,
    reset_flows_nb,
)
from gridbt.kernel.table_layout import FLAG_MISSING
from gridbt.kernel.tables_nb import ensure_entry_nb

__all__ = ["eval_group_nb", "eval_row_nb"]

EXPIRY = ExitReason.EXPIRY
STOP_LOSS = ExitReason.STOP_LOSS
PROFIT_TARGET = ExitReason.PROFIT_TARGET
DTE = ExitReason.DTE
MAX_HOLDING = ExitReason.MAX_HOLDING
REBALANCE = ExitReason.REBALANCE
DELTA_BREACH = ExitReason.DELTA_BREACH
SIGNAL = ExitReason.SIGNAL
END_OF_DATA = ExitReason.END_OF_DATA
BIND_FIXED = SizingBinding.FIXED
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
    size, binding, risk_n, margin_n = budget_contracts_nb(book, sizing, equity, worst, 0.0,
                                                          vol_sd)
    skip = SKIP_SIZING if size < 1.0 else -1
    return Sizing(skip, size, binding, worst, -1, 0.0, risk_n, margin_n, 0.0)


@njit(cache=True, nogil=True, inline="always")
def _capital_ok_nb(book, tb, d, size, br):
    """`entry_nb.capital_ok_nb` on the table's entry quotes (no margin model)."""
    equity = book.cash + book.cash_c
    need = 0.0
    fees = 0.0
    for i in range(br.n_legs):
        units = tb.units[d, i]
        fill = open_fill_nb(units, tb.entry_bid[d, i], tb.entry_ask[d, i], br.slippage,
                            br.slippage_per_contract)
        need += units * size * br.multiplier * fill
        fees += br.commission * abs(units) * size
    return not (equity <= 0.0 or max(need, 0.0) + fees > equity)


@njit(cache=True, nogil=True, inline="always")
def _open_nb(d, direction, sized, book, flows, tb, trades, br):
    """`entry_nb.open_nb` without leg rows and hedge: fills, cash, the trade row's entry.
    The leg state stays in the table: writing it to a leg record in the walk's loop costs the
    loop its registers."""
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
        units = tb.units[d, i]
        bid = tb.entry_bid[d, i]
        ask = tb.entry_ask[d, i]
        fill = open_fill_nb(units, bid, ask, br.slippage, br.slippage_per_contract)
        book_open_nb(book, flows, units, n, fill, br)
        value_entry += units * (0.5 * (bid + ask))
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
def _try_entry_nb(chain, tb, cm, memo, params, scenarios, d, book, flows, trades, rules):
    """Steps 2.3-2.8 on a scheduled flat day (`entry_nb.try_entry_nb` on the table, its day
    built first if no row reached it yet): open the position (return -1) or return the
    SkipReason."""
    br = rules.book
    book.signal = tb.signal_state[d]
    direction, skip = entry_direction_nb(chain, params, d, book, rules.entry, rules.signal)
    if skip >= 0:
        return skip
    ensure_entry_nb(chain, params, rules, scenarios, cm, memo, tb, d)
    if tb.skip[d] >= 0:
        return tb.skip[d]
    sized = _size_nb(book, rules.sizing, tb.worst[d], tb.sigma_bar[d], tb.vol_sd[d])
    if sized.skip >= 0:
        return sized.skip
    if not _capital_ok_nb(book, tb, d, sized.contracts, br):
        return SKIP_CAPITAL
    _open_nb(d, direction, sized, book, flows, tb, trades, br)
    return -1


@njit(cache=True, nogil=True, inline="always")
def _entry_equity_nb(book, tb, e, spot, br):
    """`steps_nb.book_value_nb` of the position just opened, marked at its entry quotes, in its
    order of operations (the hedge is 0 shares)."""
    total = book.cash + book.cash_c
    for i in range(br.n_legs):
        mark = 0.5 * (tb.entry_bid[e, i] + tb.entry_ask[e, i])
        total += tb.units[e, i] * book.contracts * br.multiplier * mark
    return total + book.hedge_shares * spot


@njit(cache=True, nogil=True, inline="always")
def _first_row_from_nb(day_date, e, n, date):
    """The first path row (of `n`, trade entered on `e`) whose date is on or after `date`, or
    `n` when none is."""
    return np.searchsorted(day_date[e + 1:e + 1 + n], date)


@njit(cache=True, nogil=True, inline="always")
def _timed_row_nb(day_date, e, n, min_expiry, rules):
    """The first path row on which a rule that reads only the calendar fires (DTE, max
    holding, rebalance), or the path's last row (where expiry or the end of data fires): no
    exit before it but those that read the marks or the signal. Each is a threshold on the
    date or the trading day, compared as `steps_nb.exit_reason_nb` compares it (integers)."""
    k = n - 1
    if rules.dte == rules.dte:  # min_expiry - today <= dte  <=>  today >= min_expiry - dte
        k = min(k, _first_row_from_nb(day_date, e, n, min_expiry - rules.dte))
    for limit in (rules.max_holding, rules.rebalance):
        if limit == limit:
            if rules.period_trading:  # held = t - e = k + 1 >= limit
                first = math.ceil(limit) - 1.0
                if first < k:
                    k = max(int(first), 0)
            else:  # held = today - entry date >= limit
                k = min(k, _first_row_from_nb(day_date, e, n, day_date[e] + limit))
    return k


@njit(cache=True, nogil=True, inline="always")
def _exit_scan_nb(day_date, tb, e, premium, rules, last):
    """The first path row of the trade entered on `e` on which a planned exit fires, and its
    ExitReason (`steps_nb.exit_reason_nb`'s order; the path ends where expiry or the end of
    data must fire). The rules that read only the calendar give the last row to scan
    (`_timed_row_nb`); before it only the marks' rules (stop, target, delta breach) and the
    signal can fire, so the scan tests those alone."""
    o = tb.start[e]
    value_entry = tb.value_entry[e]
    min_expiry = tb.min_expiry[e]
    entry_date = day_date[e]
    sl = rules.stop_loss
    pt = rules.profit_target
    credit = premium > 0.0
    sl_on = credit and sl == sl
    pt_on = credit and pt == pt
    delta_on = rules.delta_breach == rules.delta_breach
    n = tb.length[e]
    k_end = _timed_row_nb(day_date, e, n, min_expiry, rules)
    value = tb.value
    for k in range(k_end):
        pnl = value[o + k] - value_entry
        if sl_on and pnl <= -sl * premium:
            return k, STOP_LOSS
        if pt_on and pnl >= pt * premium:
            return k, PROFIT_TARGET
        if delta_on and tb.short_delta[o + k] >= rules.delta_breach:
            return k, DELTA_BREACH
        if tb.signal_exit[e + 1 + k]:
            return k, SIGNAL
    # row k_end: every rule, in the day kernel's order
    k = k_end
    t = e + 1 + k
    today = day_date[t]
    if min_expiry <= today:
        return k, EXPIRY
    pnl = value[o + k] - value_entry
    if sl_on and pnl <= -sl * premium:
        return k, STOP_LOSS
    if pt_on and pnl >= pt * premium:
        return k, PROFIT_TARGET
    if rules.dte == rules.dte and min_expiry - today <= rules.dte:
        return k, DTE
    held = t - e if rules.period_trading else today - entry_date
    if rules.max_holding == rules.max_holding and held >= rules.max_holding:
        return k, MAX_HOLDING
    if rules.rebalance == rules.rebalance and held >= rules.rebalance:
        return k, REBALANCE
    if delta_on and tb.short_delta[o + k] >= rules.delta_breach:
        return k, DELTA_BREACH
    if tb.signal_exit[t]:
        return k, SIGNAL
    return k, END_OF_DATA  # the path's last row is the window's last day


@njit(cache=True, nogil=True, inline="always")
def _hold_nb(tb, e, n_rows, book, equity, in_market, spot, br):
    """Days `e + 1 .. e + n_rows` held through: equity from the path's marks
    (`steps_nb.book_value_nb`'s operations: cash, then `units * N * m * mark` leg by leg, then
    the hedge's `0 * spot`), data gaps counted. The per-leg scales are hoisted out of the day
    loop, which then reads the path rows only."""
    o = tb.start[e]
    cash = book.cash + book.cash_c
    n_legs = br.n_legs
    n = book.contracts
    m = br.multiplier
    s0 = tb.units[e, 0] * n * m
    s1 = tb.units[e, 1] * n * m if n_legs > 1 else 0.0
    s2 = tb.units[e, 2] * n * m if n_legs > 2 else 0.0
    s3 = tb.units[e, 3] * n * m if n_legs > 3 else 0.0
    hedge = book.hedge_shares
    bid = tb.bid
    ask = tb.ask
    flags = tb.flags
    missing = 0
    for k in range(n_rows):
        r = o + k
        total = cash + s0 * (0.5 * (bid[r, 0] + ask[r, 0]))
        if n_legs > 1:
            total += s1 * (0.5 * (bid[r, 1] + ask[r, 1]))
            if n_legs > 2:
                total += s2 * (0.5 * (bid[r, 2] + ask[r, 2]))
                if n_legs > 3:
                    total += s3 * (0.5 * (bid[r, 3] + ask[r, 3]))
        missing += (flags[r] & FLAG_MISSING) != 0
        equity[e + 1 + k] = total + hedge * spot[e + 1 + k]
        in_market[e + 1 + k] = True
    book.missing_quote_days += missing


@njit(cache=True, nogil=True, inline="always")
def _settle_nb(book, flows, tb, e, spot, today, br):
    """The legs expired today settle at intrinsic value (`steps_nb.settle_leg_nb`, in leg
    order); return the bit mask of the settled legs."""
    settled = 0
    for i in range(br.n_legs):
        if tb.expiry[e, i] <= today:
            strike = tb.strike[e, i]
            if tb.right[e, i] > 0:
                intrinsic = max(spot - strike, 0.0)
            else:
                intrinsic = max(strike - spot, 0.0)
            flow = tb.units[e, i] * book.contracts * br.multiplier * intrinsic
            add_cash_nb(book, flow)
            flows.exit_cash, flows.exit_cash_c = neumaier_add_nb(
                flows.exit_cash, flows.exit_cash_c, flow
            )
            settled |= 1 << i
    return settled


@njit(cache=True, nogil=True, inline="always")
def _close_legs_nb(book, flows, tb, e, row, settled, br):
    """`steps_nb.close_nb`'s fills: every leg not settled closes at its last quote (stale
    when not quoted today)."""
    n = book.contracts
    flags = tb.flags[row]
    for i in range(br.n_legs):
        if (settled >> i) & 1:
            continue
        if not (flags >> i) & 1:
            book.stale_fills += 1
        units = tb.units[e, i]
        fill = close_fill_nb(units, tb.bid[row, i], tb.ask[row, i], br.slippage,
                             br.slippage_per_contract)
        book_close_nb(book, flows, units, n, fill, br)


@njit(cache=True, nogil=True, inline="always")
def _exit_day_nb(chain, tb, e, k, reason, book, flows, trades, br):
    """The exit day (path row `k`): settle the expired legs (`steps_nb.mark_nb`), close the
    others and write the trade row (`steps_nb.close_nb`, `record_nb`); return the day."""
    row = tb.start[e] + k
    t = e + 1 + k
    settled = _settle_nb(book, flows, tb, e, chain.day_spot[t], chain.day_date[t], br)
    if tb.flags[row] & FLAG_MISSING:
        book.missing_quote_days += 1
    _close_legs_nb(book, flows, tb, e, row, settled, br)
    flows.entry_cash = flows.entry_cash + flows.entry_cash_c
    flows.exit_cash = flows.exit_cash + flows.exit_cash_c
    flows.commissions = flows.commissions + flows.commissions_c
    flows.hedge_pnl = flows.hedge_pnl + flows.hedge_pnl_c
    flows.hedge_cost = flows.hedge_cost + flows.hedge_cost_c
    flows.financing = flows.financing + flows.financing_c
    record_nb(chain, t, book, flows, trades, reason, book.contracts, book.premium_cash, book.mae,
              book.mfe)
    book.open = False
    return t


@njit(cache=True, nogil=True)
def _flat_run_nb(day_weekday, d, end, entry, first, value, equity, in_market):
    """Days from `d` on which the schedule allows no entry (and the window's last day) are
    flat at `value`; return the first day that may enter, or `end`. A loop of its own: inside
    the walk's loop a flat day costs several times more."""
    last = end - 1
    while d < end:
        if d != last and (entry.weekday_mask >> day_weekday[d]) & 1 == 1:
            if (d - first) % entry.every_n_days == 0:
                return d
        equity[d] = value
        in_market[d] = False
        d += 1
    return d


@njit(cache=True, nogil=True)
def eval_row_nb(chain, tb, cm, memo, params, equity, in_market, trades, skips):
    """One row of the group: fill `equity`, `in_market`, the `trades` rows (entry and exit
    fields) and count `skips`; return (trade rows, missing_quote_days, stale_fills). The
    candidate days it tries an entry on are built into `tb` if they are not yet (`cm`: the
    chain's contract-major bid, ask and delta; `memo`: the batch's selection memo,
    `tables_nb.select_shared_nb`)."""
    chain = borrowed_nb(chain)
    tb = borrowed_nb(tb)
    cm = borrowed_nb(cm)
    memo = borrowed_nb(memo)
    params, equity, in_market, trades, skips = borrowed_nb(
        (params, equity, in_market, trades, skips)
    )
    n_days = chain.day_date.shape[0]
    rules = decode_rules_nb(params, n_days, False)
    scenarios = scenarios_nb(params)
    br = rules.book
    book = stack_record_nb(book_dt)
    flows = stack_record_nb(flows_dt)
    day = stack_record_nb(day_dt)
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
            skip = _try_entry_nb(chain, tb, cm, memo, params, scenarios, d, book, flows, trades,
                                 rules)
            if skip >= 0:
                skips[skip] += 1
            else:
                opened = True
        if not opened:
            equity[d] = book.cash + book.cash_c
            in_market[d] = False
            day.exit_reason = -1
            d = _flat_run_nb(chain.day_weekday, d + 1, br.end, rules.entry, br.first,
                             book.cash + book.cash_c, equity, in_market)
            continue
        equity[d] = _entry_equity_nb(book, tb, d, chain.day_spot[d], br)
        in_market[d] = True
        k, reason = _exit_scan_nb(chain.day_date, tb, d, book.premium, rules.exit, last)
        _hold_nb(tb, d, k, book, equity, in_market, chain.day_spot, br)
        d = _exit_day_nb(chain, tb, d, k, reason, book, flows, trades, br)
        day.exit_reason = reason
    final = equity[br.end - 1] if br.end > br.first else br.capital
    for d in range(br.end, n_days):
        equity[d] = final
        in_market[d] = False
    return book.n_trades, book.missing_quote_days, book.stale_fills


@njit(cache=True, nogil=True)
def eval_group_nb(chain, tb, cm, memo, params, rows, equity_slot, kpis, skips, counters,
                  block_stats, equity_out, outcome):
    """Run rows `rows` of `params` on the group's tables (building the days they reach, their
    legs selected through the batch's `memo`); outputs as `nb.run_batch_nb`, at each row's
    index."""
    n_days = chain.day_date.shape[0]
    equity = np.empty(n_days)
    in_market = np.zeros(n_days, dtype=np.bool_)
    margin = np.zeros(n_days)
    trades = np.zeros((max(n_days, 1), N_TRADE_COLS))
    trade_pnl = np.empty(max(n_days, 1))
    trade_held = np.empty(max(n_days, 1), dtype=np.int64)
    scratch = np.empty(max(n_days, 1))
    for r in rows:
        n, missing, stale = eval_row_nb(
            chain, tb, cm, memo, params[r], equity, in_market, trades, skips[r]
        )
        counters[r, C.missing_quote_days] = missing
        counters[r, C.stale_fills] = stale
        outcome[r] = finish_row_nb(chain, params[r], n, trades, equity, in_market, margin,
                                   trade_pnl, trade_held, scratch, kpis[r], block_stats[r],
                                   equity_slot[r], equity_out)
