"""Evaluate parameter rows of one entry group on its trade tables (docs/trade_tables.md).

A row is a walk over its trades instead of over its days: on a flat day the entry steps run as
in the day kernel (re-entry, schedule, feature filters, signal direction, the selection result
read from the table, sizing from the table's precomputed inputs and today's cash, the capital
check); an opened trade's exit is the first day of its path on which an enabled exit rule fires,
in `steps_nb.exit_reason_nb`'s order (the z-score signal's state and exits are the
table's: a property of the chain); the days in between only write equity from the legs'
marks. A path is read in place, each leg's quotes a contiguous run of the chain's contract-major,
day-aligned arrays (`tables.ContractMajor`), its last usable quote carried in registers. The
cash flows are the day kernel's (`steps_nb.settle_leg_nb`, `close_nb`,
`record_nb`, its fills and compensated sums), operation for operation and in the same order, so
trades, equity and KPIs equal `nb.run_batch_nb`'s. The leg state is read from the table and
carried in scalars, never copied into a leg record: stores into a record's array fields inside
the walk's loop make LLVM keep the loop's state in memory (5x slower). Rows that need the day
path (margin account, delta hedge, financing) are not run here: `tables.fallback_reasons` names
them.

Array contract. `chain` is a `contract.Chain`; `tb` a `table_layout.TradeTables` made from the
group's entry slots (its candidate days built as rows reach them, `tables_nb.ensure_entry_nb`),
`cm` the arrays of the chain's `tables.ContractMajor`; `params` (n_rows, N_PARAMS) with `rows`
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
from gridbt.kernel.lowlevel_nb import borrowed_nb, stack_record_nb
from gridbt.kernel.outcome_nb import FINISH_KEY_WORDS, finish_key_nb
from gridbt.kernel.row_nb import finish_row_nb
from gridbt.kernel.rules_nb import decode_rules_nb, scenarios_nb
from gridbt.kernel.state import Sizing, book_dt, day_dt, flows_dt
from gridbt.kernel.steps_nb import (
    book_close_nb,
    book_open_nb,
    book_settle_nb,
    close_fill_nb,
    intrinsic_nb,
    open_fill_nb,
    record_nb,
    reset_flows_nb,
)
from gridbt.kernel.tables_nb import (
    day_on_or_after_nb,
    ensure_entry_nb,
    larger_short_nb,
    leg_delta_nb,
    leg_quote_nb,
)

__all__ = ["SEEN_COLS", "eval_group_nb", "eval_row_nb", "replays_nb"]

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
def _first_row_from_nb(cm, day_date, e, n, date):
    """The first path row (of `n`, trade entered on `e`) whose date is on or after `date`, or
    `n` when none is."""
    return min(max(day_on_or_after_nb(cm, day_date, date) - (e + 1), 0), n)


@njit(cache=True, nogil=True, inline="always")
def _timed_row_nb(cm, day_date, e, n, min_expiry, rules):
    """The first path row on which a rule that reads only the calendar fires (DTE, max
    holding, rebalance), or the path's last row (where expiry or the end of data fires): no
    exit before it but those that read the marks or the signal. Each is a threshold on the
    date or the trading day, compared as `steps_nb.exit_reason_nb` compares it (integers)."""
    k = n - 1
    if rules.dte == rules.dte:  # min_expiry - today <= dte  <=>  today >= min_expiry - dte
        k = min(k, _first_row_from_nb(cm, day_date, e, n, min_expiry - rules.dte))
    for limit in (rules.max_holding, rules.rebalance):
        if limit == limit:
            if rules.period_trading:  # held = t - e = k + 1 >= limit
                first = math.ceil(limit) - 1.0
                if first < k:
                    k = max(int(first), 0)
            else:  # held = today - entry date >= limit
                k = min(k, _first_row_from_nb(cm, day_date, e, n, day_date[e] + limit))
    return k


@njit(cache=True, nogil=True, inline="always")
def _leg_nb(cm, tb, e, i, delta_on):
    """Leg `i` of the trade entered on `e`, as the walk carries it: (units, where its contract's
    day t quote is (origin + t), its last quoted day, its entry bid and ask, its entry delta
    when a rule reads it: a load from far away otherwise saved)."""
    origin = tb.leg_days[e, i, 0]
    last = tb.leg_days[e, i, 1]
    return (tb.units[e, i], origin, last, tb.entry_bid[e, i], tb.entry_ask[e, i],
            cm.delta[origin + e] if delta_on else np.nan)


@njit(cache=True, nogil=True, inline="always")
def _marked_nb(start, n_legs, w0, w1, w2, w3, b0, a0, b1, a1, b2, a2, b3, a3):
    """`start` plus each leg's weight times its mid mark, in leg order (`steps_nb`'s order of
    operations for a position's value and for equity)."""
    total = start + w0 * (0.5 * (b0 + a0))
    if n_legs > 1:
        total += w1 * (0.5 * (b1 + a1))
        if n_legs > 2:
            total += w2 * (0.5 * (b2 + a2))
            if n_legs > 3:
                total += w3 * (0.5 * (b3 + a3))
    return total


@njit(cache=True, nogil=True, inline="always")
def _exit_at_nb(tb, day_date, e, k, k_end, min_expiry, ex, premium, pnl, largest):
    """The exit reason of the trade entered on `e` on its path row `k` (<= `k_end`, its last
    row to test, `_timed_row_nb`) under exit rules `ex`, given that day's P&L per unit and
    largest short |delta|; -1 if none fires. Before `k_end` only the rules that read the marks
    and the signal; on it every rule, in `steps_nb.exit_reason_nb`'s order (the expiry, which
    the caller has ruled out when it passes a P&L, first)."""
    sl = ex.stop_loss
    pt = ex.profit_target
    sl_on = premium > 0.0 and sl == sl
    pt_on = premium > 0.0 and pt == pt
    delta_on = ex.delta_breach == ex.delta_breach
    t = e + 1 + k
    if k < k_end:
        if sl_on and pnl <= -sl * premium:
            return STOP_LOSS
        if pt_on and pnl >= pt * premium:
            return PROFIT_TARGET
        if delta_on and largest >= ex.delta_breach:
            return DELTA_BREACH
        if tb.signal_exit[t]:
            return SIGNAL
        return -1
    today = day_date[t]
    if min_expiry <= today:
        return EXPIRY
    held = t - e if ex.period_trading else today - day_date[e]
    if sl_on and pnl <= -sl * premium:
        return STOP_LOSS
    if pt_on and pnl >= pt * premium:
        return PROFIT_TARGET
    if ex.dte == ex.dte and min_expiry - today <= ex.dte:
        return DTE
    if ex.max_holding == ex.max_holding and held >= ex.max_holding:
        return MAX_HOLDING
    if ex.rebalance == ex.rebalance and held >= ex.rebalance:
        return REBALANCE
    if delta_on and largest >= ex.delta_breach:
        return DELTA_BREACH
    if tb.signal_exit[t]:
        return SIGNAL
    return END_OF_DATA


@njit(cache=True, nogil=True, inline="always")
def _hold_nb(chain, cm, tb, e, book, rules, equity, in_market):
    """Hold the trade entered on `e` until the first day an enabled exit rule fires
    (`steps_nb.exit_reason_nb`'s order), writing the equity of the days held through from its
    legs' quotes (`steps_nb.book_value_nb`'s operations: cash, then `units * N * m * mark` leg by
    leg, then the hedge's `0 * spot`). Return (path row of the exit day, ExitReason, the legs'
    last usable (bid, ask) that day, the bit mask of the legs quoted that day, the days with
    unquoted legs, and what `replays_nb` reads of the trade: the lowest and highest P&L per
    unit and the largest short |delta| over the days held through, the P&L and the largest
    short |delta| of the exit day (NaN P&L on an expiry)).

    The legs' quotes are read in place (`tables.ContractMajor`) and carried in registers: a
    leg's state in an array would keep the loop's state in memory. The rules that read only
    the calendar give the last row to test (`_timed_row_nb`); before it only the marks' rules
    (stop, target, delta breach) and the signal can fire."""
    br = rules.book
    ex = rules.exit
    day_date = chain.day_date
    n_legs = br.n_legs
    min_expiry = tb.min_expiry[e]
    k_end = _timed_row_nb(cm, day_date, e, tb.length[e], min_expiry, ex)
    premium = book.premium
    value_entry = tb.value_entry[e]
    delta_on = ex.delta_breach == ex.delta_breach
    u0, o0, l0, b0, a0, d0 = _leg_nb(cm, tb, e, 0, delta_on)
    u1 = u2 = u3 = 0.0
    o1 = o2 = o3 = 0
    l1 = l2 = l3 = -1
    b1 = a1 = d1 = b2 = a2 = d2 = b3 = a3 = d3 = 0.0
    if n_legs > 1:
        u1, o1, l1, b1, a1, d1 = _leg_nb(cm, tb, e, 1, delta_on)
        if n_legs > 2:
            u2, o2, l2, b2, a2, d2 = _leg_nb(cm, tb, e, 2, delta_on)
            if n_legs > 3:
                u3, o3, l3, b3, a3, d3 = _leg_nb(cm, tb, e, 3, delta_on)
    n = book.contracts
    m = br.multiplier
    s0 = u0 * n * m
    s1 = u1 * n * m
    s2 = u2 * n * m
    s3 = u3 * n * m
    cash = book.cash + book.cash_c
    hedge = book.hedge_shares
    spot = chain.day_spot
    q1 = q2 = q3 = True
    missing = 0
    reason = -1
    pnl = np.nan
    lo = np.inf  # the P&L's extremes and the largest short |delta| over the days held through
    hi = -np.inf
    top = -np.inf
    k = 0
    while True:
        t = e + 1 + k
        b0, a0, q0 = leg_quote_nb(cm, o0, l0, t, b0, a0)
        if n_legs > 1:
            b1, a1, q1 = leg_quote_nb(cm, o1, l1, t, b1, a1)
            if n_legs > 2:
                b2, a2, q2 = leg_quote_nb(cm, o2, l2, t, b2, a2)
                if n_legs > 3:
                    b3, a3, q3 = leg_quote_nb(cm, o3, l3, t, b3, a3)
        largest = -np.inf
        if delta_on:
            d0 = leg_delta_nb(cm, o0, t, q0, d0)
            largest = larger_short_nb(u0, d0, largest)
            if n_legs > 1:
                d1 = leg_delta_nb(cm, o1, t, q1, d1)
                largest = larger_short_nb(u1, d1, largest)
                if n_legs > 2:
                    d2 = leg_delta_nb(cm, o2, t, q2, d2)
                    largest = larger_short_nb(u2, d2, largest)
                    if n_legs > 3:
                        d3 = leg_delta_nb(cm, o3, t, q3, d3)
                        largest = larger_short_nb(u3, d3, largest)
        if k == k_end:
            break
        pnl = _marked_nb(0.0, n_legs, u0, u1, u2, u3, b0, a0, b1, a1, b2, a2, b3, a3) - value_entry
        reason = _exit_at_nb(tb, day_date, e, k, k_end, min_expiry, ex, premium, pnl, largest)
        if reason >= 0:
            break
        # held through day t (NaN never fires a rule: skipped by the comparisons)
        lo = pnl if pnl < lo else lo
        hi = pnl if pnl > hi else hi
        top = largest if largest > top else top
        total = _marked_nb(cash, n_legs, s0, s1, s2, s3, b0, a0, b1, a1, b2, a2, b3, a3)
        missing += not (q0 and q1 and q2 and q3)
        equity[t] = total + hedge * spot[t]
        in_market[t] = True
        k += 1
    quotes = (b0, a0, b1, a1, b2, a2, b3, a3)
    quoted = _mask_nb(q0, q1, q2, q3)
    seen = (lo, hi, top, pnl, largest)
    if reason >= 0:
        return k, reason, quotes, quoted, missing, seen
    # row k_end: every rule, in the day kernel's order
    today = day_date[t]
    if min_expiry <= today:
        return k, EXPIRY, quotes, quoted, missing, (lo, hi, top, np.nan, largest)
    pnl = _marked_nb(0.0, n_legs, u0, u1, u2, u3, b0, a0, b1, a1, b2, a2, b3, a3) - value_entry
    reason = _exit_at_nb(tb, day_date, e, k, k_end, min_expiry, ex, premium, pnl, largest)
    return k, reason, quotes, quoted, missing, (lo, hi, top, pnl, largest)


@njit(cache=True, nogil=True, inline="always")
def _mask_nb(q0, q1, q2, q3):
    """The bit mask of the quoted legs (bit i: leg i)."""
    return int(q0) | int(q1) << 1 | int(q2) << 2 | int(q3) << 3


@njit(cache=True, nogil=True, inline="always")
def _settle_nb(book, flows, tb, e, spot, today, br):
    """The legs expired today settle at intrinsic value (`steps_nb.settle_leg_nb`, in leg
    order); return the bit mask of the settled legs."""
    settled = 0
    for i in range(br.n_legs):
        if tb.expiry[e, i] <= today:
            intrinsic = intrinsic_nb(tb.right[e, i], tb.strike[e, i], spot)
            book_settle_nb(book, flows, tb.units[e, i], book.contracts, intrinsic, br.multiplier)
            settled |= 1 << i
    return settled


@njit(cache=True, nogil=True, inline="always")
def _exit_day_nb(chain, tb, e, k, reason, quotes, quoted, book, flows, trades, br):
    """The exit day (path row `k`): settle the expired legs (`steps_nb.mark_nb`), close the
    others at their last usable quote (`quotes`, stale when not `quoted` today;
    `steps_nb.close_nb`) and write the trade row (`record_nb`); return the day."""
    t = e + 1 + k
    settled = _settle_nb(book, flows, tb, e, chain.day_spot[t], chain.day_date[t], br)
    n = book.contracts
    open_unquoted = False
    for i in range(br.n_legs):
        if (settled >> i) & 1:
            continue
        if not (quoted >> i) & 1:
            book.stale_fills += 1
            open_unquoted = True
        units = tb.units[e, i]
        fill = close_fill_nb(units, quotes[2 * i], quotes[2 * i + 1], br.slippage,
                             br.slippage_per_contract)
        book_close_nb(book, flows, units, n, fill, br)
    book.missing_quote_days += open_unquoted
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


#: Columns of what a walk notes of each trade for `replays_nb`: entry day, exit path row, exit
#: reason, lowest and highest P&L per unit and largest short |delta| over the days held through,
#: the exit day's P&L and largest short |delta|, the premium, whether |delta| was followed
(SEEN_ENTRY, SEEN_EXIT_ROW, SEEN_REASON, SEEN_LOW, SEEN_HIGH, SEEN_TOP_DELTA, SEEN_EXIT_PNL,
 SEEN_EXIT_DELTA, SEEN_PREMIUM, SEEN_DELTA_FOLLOWED) = range(10)
SEEN_COLS = 10
#: Rows walked that a row is checked against (`replays_nb`), the last ones walked: neighbours
#: in a grid differ in one threshold, and a few back catch a threshold that binds on and off
REPLAY_REFERENCES = 4


@njit(cache=True, nogil=True, inline="always")
def _note_trade_nb(out, e, k, reason, seen, premium, delta_breach):
    lo, hi, top, pnl, largest = seen
    out[SEEN_ENTRY] = e
    out[SEEN_EXIT_ROW] = k
    out[SEEN_REASON] = reason
    out[SEEN_LOW] = lo
    out[SEEN_HIGH] = hi
    out[SEEN_TOP_DELTA] = top
    out[SEEN_EXIT_PNL] = pnl
    out[SEEN_EXIT_DELTA] = largest
    out[SEEN_PREMIUM] = premium
    out[SEEN_DELTA_FOLLOWED] = delta_breach == delta_breach


@njit(cache=True, nogil=True)
def eval_row_nb(chain, tb, cm, memo, params, equity, in_market, trades, skips, seen_trades):
    """One row of the group: fill `equity`, `in_market`, the `trades` rows (entry and exit
    fields), what `replays_nb` reads of each trade into `seen_trades` ((>= trades, SEEN_COLS))
    and count `skips`; return (trade rows, missing_quote_days, stale_fills). The candidate days
    it tries an entry on are built into `tb` if they are not yet (`cm`: the chain's
    contract-major bid, ask and delta; `memo`: the batch's selection memo,
    `tables_nb.select_shared_nb`)."""
    chain = borrowed_nb(chain)
    tb = borrowed_nb(tb)
    cm = borrowed_nb(cm)
    memo = borrowed_nb(memo)
    params, equity, in_market, trades, skips, seen_trades = borrowed_nb(
        (params, equity, in_market, trades, skips, seen_trades)
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
        k, reason, quotes, quoted, missing, seen = _hold_nb(chain, cm, tb, d, book, rules,
                                                            equity, in_market)
        _note_trade_nb(seen_trades[book.n_trades], d, k, reason, seen, book.premium,
                       rules.exit.delta_breach)
        book.missing_quote_days += missing
        d = _exit_day_nb(chain, tb, d, k, reason, quotes, quoted, book, flows, trades, br)
        day.exit_reason = reason
    final = equity[br.end - 1] if br.end > br.first else br.capital
    for d in range(br.end, n_days):
        equity[d] = final
        in_market[d] = False
    return book.n_trades, book.missing_quote_days, book.stale_fills


@njit(cache=True, nogil=True)
def replays_nb(chain, tb, cm, ex, seen_trades, n):
    """Whether a row with exit rules `ex` (its `decode_rules_nb(...).exit`) would make exactly
    the `n` trades another row of its finish class made (`seen_trades`, as `eval_row_nb` notes
    them), without walking it.

    Rows of a class differ only in their exit thresholds, so while their trades agree so far
    their cash, sizing and next entries agree too: a row makes the other's trades exactly when,
    on each of them, none of its exit rules fires on a day the other held through and the first
    that fires on the other's exit day is the other's reason. A rule that reads the marks fires
    on a day when the day's P&L (or largest short |delta|) passes its threshold, and that
    comparison is monotone, so no day held through fires it exactly when the extremes over
    those days do not: a trade is a few comparisons, in the kernel's float operations
    (`pt * premium`), not a walk over its days. A rule whose input the other row did not follow
    (|delta| without a delta breach) makes the answer False."""
    chain = borrowed_nb(chain)  # no reference counting on each access to their arrays
    tb = borrowed_nb(tb)
    cm = borrowed_nb(cm)
    seen_trades = borrowed_nb((seen_trades,))[0]
    day_date = chain.day_date
    sl = ex.stop_loss
    pt = ex.profit_target
    delta_on = ex.delta_breach == ex.delta_breach
    for j in range(n):
        seen = seen_trades[j]
        e = int(seen[SEEN_ENTRY])
        k = int(seen[SEEN_EXIT_ROW])
        premium = seen[SEEN_PREMIUM]
        if delta_on and seen[SEEN_DELTA_FOLLOWED] == 0.0:
            return False
        min_expiry = tb.min_expiry[e]
        k_end = _timed_row_nb(cm, day_date, e, tb.length[e], min_expiry, ex)
        if k_end < k:
            return False
        if premium > 0.0 and sl == sl and seen[SEEN_LOW] <= -sl * premium:
            return False
        if premium > 0.0 and pt == pt and seen[SEEN_HIGH] >= pt * premium:
            return False
        if delta_on and seen[SEEN_TOP_DELTA] >= ex.delta_breach:
            return False
        if _exit_at_nb(tb, day_date, e, k, k_end, min_expiry, ex, premium,
                       seen[SEEN_EXIT_PNL], seen[SEEN_EXIT_DELTA]) != int(seen[SEEN_REASON]):
            return False
    return True


@njit(cache=True, nogil=True, inline="always")
def _outcome_slot_nb(seen, key):
    """Where `key` (`outcome_nb.finish_key_nb`, with the row's finish class first) is in the
    open-addressing table `seen` ((2^k, FINISH_KEY_WORDS + 2) int64: the key's words, then
    the row that finished it; -1 there when empty), or the empty place it goes."""
    mask = seen.shape[0] - 1
    i = (key[1] ^ (key[1] >> 32)) & mask
    while seen[i, FINISH_KEY_WORDS + 1] >= 0:
        same = True
        for j in range(FINISH_KEY_WORDS + 1):
            same &= seen[i, j] == key[j]
        if same:
            return i
        i = (i + 1) & mask
    return i


@njit(cache=True, nogil=True)
def eval_group_nb(chain, tb, cm, memo, params, rows, classes, equity_slot, kpis, skips,
                  counters, block_stats, equity_out, outcome):
    """Run rows `rows` of `params` on the group's tables (building the days they reach, their
    legs selected through the batch's `memo`); outputs as `nb.run_batch_nb`, at each row's
    index. `classes[i]`: row `rows[i]`'s finish class (rows of one class agree on every slot
    but the exit thresholds, `tables.finish_classes`). A row whose trades and curve are
    another's of its class (`outcome_nb.finish_key_nb`: the grid's identical outcomes) copies
    that row's KPIs, block statistics and outcome hash instead of computing them again. A
    row that `replays_nb` one of the last rows walked of its class (`REPLAY_REFERENCES`) and
    keeps no curve is not walked at all: it copies that row's outputs. Return how many rows
    did."""
    n_days = chain.day_date.shape[0]
    equity = np.empty(n_days)
    in_market = np.zeros(n_days, dtype=np.bool_)
    margin = np.zeros(n_days)
    trades = np.zeros((max(n_days, 1), N_TRADE_COLS))
    trade_pnl = np.empty(max(n_days, 1))
    trade_held = np.empty(max(n_days, 1), dtype=np.int64)
    scratch = np.empty(max(n_days, 1))
    size = 1
    while size < 2 * rows.shape[0]:
        size *= 2
    seen = np.full((size, FINISH_KEY_WORDS + 2), -1, dtype=np.int64)
    key = np.empty(FINISH_KEY_WORDS + 1, dtype=np.int64)
    # the last REPLAY_REFERENCES rows walked, a ring: their rows, classes, trades as noted
    ref_row = np.full(REPLAY_REFERENCES, -1, dtype=np.int64)
    ref_class = np.full(REPLAY_REFERENCES, -1, dtype=np.int64)
    ref_n = np.zeros(REPLAY_REFERENCES, dtype=np.int64)
    ref_trades = np.empty((REPLAY_REFERENCES, max(n_days, 1), SEEN_COLS))
    newest = 0
    replayed = 0
    for i in range(rows.shape[0]):
        r = rows[i]
        like = -1
        if equity_slot[r] < 0:  # a kept curve is the walk's
            ex = decode_rules_nb(params[r], n_days, False).exit  # once, for every reference
            for back in range(REPLAY_REFERENCES):  # the newest first
                j = (newest - back) % REPLAY_REFERENCES
                if (ref_row[j] >= 0 and ref_class[j] == classes[i]
                        and replays_nb(chain, tb, cm, ex, ref_trades[j], ref_n[j])):
                    like = ref_row[j]
                    break
        if like >= 0:
            kpis[r, :] = kpis[like, :]
            block_stats[r] = block_stats[like]
            outcome[r] = outcome[like]
            skips[r, :] = skips[like, :]
            counters[r, C.missing_quote_days] = counters[like, C.missing_quote_days]
            counters[r, C.stale_fills] = counters[like, C.stale_fills]
            replayed += 1
            continue
        newest = (newest + 1) % REPLAY_REFERENCES  # the oldest reference gives way
        n, missing, stale = eval_row_nb(chain, tb, cm, memo, params[r], equity, in_market,
                                        trades, skips[r], ref_trades[newest])
        ref_row[newest] = r
        ref_class[newest] = classes[i]
        ref_n[newest] = n
        counters[r, C.missing_quote_days] = missing
        counters[r, C.stale_fills] = stale
        key[0] = classes[i]
        finish_key_nb(trades, n, equity, in_market, key[1:])
        at = _outcome_slot_nb(seen, key)
        first = seen[at, FINISH_KEY_WORDS + 1]
        if first >= 0:
            kpis[r, :] = kpis[first, :]
            block_stats[r] = block_stats[first]
            outcome[r] = outcome[first]
            if equity_slot[r] >= 0:
                equity_out[equity_slot[r], :] = equity
            continue
        outcome[r] = finish_row_nb(chain, params[r], n, trades, equity, in_market, margin,
                                   trade_pnl, trade_held, scratch, kpis[r], block_stats[r],
                                   equity_slot[r], equity_out)
        seen[at, :FINISH_KEY_WORDS + 1] = key
        seen[at, FINISH_KEY_WORDS + 1] = r
    return replayed
