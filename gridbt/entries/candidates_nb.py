"""Every candidate entry of a structure, and each candidate's outcome under each exit rule
(docs/entries.md; the conventions are docs/semantics.md's, steps 1 and 2.5-2.8).

Array contract. `chain` is a `kernel.contract.Chain` (arrays of `gridbt/data/pack.py`); dates
and expiries are int days since 1970-01-01, axis 0 of day arrays = trading day. `legs` is
(n_legs, N_LEG_FIELDS) float64, one row per structure leg, columns at the `LEG_*` positions
below (NaN `LEG_MAX_SPREAD` = off). Candidates are flat arrays indexed by candidate `k`, day
major: the candidates of entry day `d` are `day_start[d] .. day_start[d + 1]`; `rows`
(n_candidates, MAX_LEGS) int64 holds each leg's entry quote row (-1 past `n_legs`). `rules` is
(n_rules, N_RULE_FIELDS) float64, one exit rule per row at the `RULE_*` positions (NaN = off).
Outputs per (rule, candidate): P&L per structure contract in currency, the exit day index and
the `ExitReason`. A quote with a NaN bid or ask is no usable quote (the mark carries); a NaN
delta never updates the last known delta. Nothing is allocated per candidate.

Steps that take the chain are `inline="always"`, as the day kernel's are: numba passes a
NamedTuple of arrays to a function it does not inline field by field and counts references
to each array, which costs more than the step itself.
"""

import numpy as np

from gridbt.kernel.cache import njit
from gridbt.kernel.enums import MAX_LEGS, ExitReason, SelectBy
from gridbt.kernel.select_nb import find_group_nb, select_expiry_nb, select_strike_nb
from gridbt.kernel.state import Quotes
from gridbt.kernel.steps_nb import close_fill_nb, intrinsic_nb, open_fill_nb

# leg fields (columns of `legs`)
LEG_RIGHT = 0  # +1 call, -1 put
LEG_UNITS = 1  # signed units per structure contract: side * qty (short < 0)
LEG_SELECT_BY = 2  # SelectBy; leg 0's is not used (every contract is a candidate)
LEG_TARGET = 3
LEG_TOLERANCE = 4
LEG_OF = 5  # offset legs: the earlier leg whose strike the offset is from
LEG_POINTS = 6
LEG_GROUP = 7  # expiry group 0 (near) or 1 (far)
LEG_MIN_OI = 8
LEG_MIN_VOLUME = 9
LEG_MAX_SPREAD = 10
N_LEG_FIELDS = 11

# exit-rule fields (columns of `rules`)
RULE_PROFIT_TARGET = 0
RULE_STOP_LOSS = 1
RULE_DTE = 2
RULE_MAX_HOLDING = 3
RULE_REBALANCE = 4
RULE_DELTA_BREACH = 5
RULE_PERIOD_TRADING = 6  # 1 = days held count trading days, 0 = calendar days
N_RULE_FIELDS = 7

BY_OFFSET = SelectBy.OFFSET
EXPIRY = ExitReason.EXPIRY
STOP_LOSS = ExitReason.STOP_LOSS
PROFIT_TARGET = ExitReason.PROFIT_TARGET
DTE = ExitReason.DTE
MAX_HOLDING = ExitReason.MAX_HOLDING
REBALANCE = ExitReason.REBALANCE
DELTA_BREACH = ExitReason.DELTA_BREACH
END_OF_DATA = ExitReason.END_OF_DATA


@njit(cache=True, nogil=True, inline="always")
def anchor_ok_nb(chain, q, min_oi, min_volume, max_spread):
    """Whether quote row `q` can anchor leg 0: a finite bid and ask with `mid > 0`, and the
    leg's liquidity filters (docs/semantics.md, step 2.6)."""
    bid = chain.quote_bid[q]
    ask = chain.quote_ask[q]
    mid = 0.5 * (bid + ask)
    if not mid > 0.0:
        return False
    if max(chain.quote_open_interest[q], 0) < min_oi:
        return False
    if max(chain.quote_volume[q], 0) < min_volume:
        return False
    return not (ask - bid) / mid > max_spread  # NaN cap = off


@njit(cache=True, nogil=True, inline="always")
def place_legs_nb(chain, quotes, legs, n_legs, d, spot, far_expiry, q0, out):
    """Legs 1.. of a candidate anchored on quote row `q0` (leg 0), placed by the structure's
    own rules in their group's expiry, as the kernel's step 2.6 places them; write the rows
    into `out` and return whether every leg found a liquid strike."""
    out[0] = q0
    near = chain.quote_expiry[q0]
    for i in range(1, n_legs):
        expiry = far_expiry if legs[i, LEG_GROUP] == 1.0 else near
        g = find_group_nb(chain, d, int(legs[i, LEG_RIGHT]), expiry)
        if g < 0:
            return False
        by = int(legs[i, LEG_SELECT_BY])
        target = legs[i, LEG_TARGET]
        if by == BY_OFFSET:
            target = chain.quote_strike[out[int(legs[i, LEG_OF])]] + legs[i, LEG_POINTS]
        q, status = select_strike_nb(
            quotes, chain.group_quote_start[g], chain.group_quote_start[g + 1], by, target,
            legs[i, LEG_TOLERANCE], spot, legs[i, LEG_MIN_OI], legs[i, LEG_MIN_VOLUME],
            legs[i, LEG_MAX_SPREAD],
        )
        if status != 0:
            return False
        out[i] = q
    return True


@njit(cache=True, nogil=True)
def candidates_nb(chain, legs, n_legs, near, far, need, first, end, day_start, rows):
    """Every candidate of days `first .. end - 1` (the caller leaves out the chain's last day,
    on which no position opens). `near` and `far` are (target, min, max) DTE windows of groups
    0 and 1; `need` (2, 2) int says which rights (call, put) each group needs. Leg 0 is every
    quote of its right in every expiry of the near window quoted in each right group 0 needs;
    the other legs are placed from it. With `rows` of 0 rows only the counts are written:
    `day_start[d + 1] - day_start[d]` is day d's count after a cumulative sum. Otherwise
    candidates go to `rows[day_start[d] ..]`. Calls on disjoint day ranges write disjoint
    elements (threads may run them at once).
    Return the number of candidates."""
    quotes = Quotes(
        chain.quote_bid, chain.quote_ask, chain.quote_strike, chain.quote_delta,
        chain.quote_open_interest, chain.quote_volume, chain.quote_log1p_open_interest,
        chain.quote_log1p_volume,
    )
    write = rows.shape[0] > 0
    right0 = int(legs[0, LEG_RIGHT])
    placed = np.full(MAX_LEGS, -1, dtype=np.int64)
    total = 0
    for d in range(first, end):
        today = chain.day_date[d]
        spot = chain.day_spot[d]
        far_expiry = -1
        if need[1, 0] or need[1, 1]:
            far_expiry = select_expiry_nb(
                chain, d, need[1, 0] != 0, need[1, 1] != 0, far[0], far[1], far[2]
            )
            if far_expiry < 0:
                continue
        if right0 > 0:
            g_lo = chain.day_group_start[d]
            g_hi = chain.day_put_group_start[d]
        else:
            g_lo = chain.day_put_group_start[d]
            g_hi = chain.day_group_start[d + 1]
        k = day_start[d] if write else 0
        count = 0
        for g in range(g_lo, g_hi):
            e = chain.group_expiry[g]
            dte = e - today
            if dte <= 0 or dte < near[1] or dte > near[2]:
                continue
            if need[0, 0] and find_group_nb(chain, d, 1, e) < 0:
                continue
            if need[0, 1] and find_group_nb(chain, d, -1, e) < 0:
                continue
            for q in range(chain.group_quote_start[g], chain.group_quote_start[g + 1]):
                if not anchor_ok_nb(chain, q, legs[0, LEG_MIN_OI], legs[0, LEG_MIN_VOLUME],
                                    legs[0, LEG_MAX_SPREAD]):
                    continue
                if not place_legs_nb(chain, quotes, legs, n_legs, d, spot, far_expiry, q,
                                     placed):
                    continue
                if write:
                    for i in range(n_legs):
                        rows[k + count, i] = placed[i]
                count += 1
        if not write:
            day_start[d + 1] = count
        total += count
    return total


@njit(cache=True, nogil=True, inline="always")
def exit_reason_nb(rules, r, settled, pnl, premium, min_dte, held_calendar, held_trading,
                   delta, units, n_legs, last):
    """docs/semantics.md step 1.3 for exit rule `r` (a row of `rules`): the first exit that
    fires (ExitReason), or -1. `delta` holds the legs' last known deltas."""
    if settled:
        return EXPIRY
    sl = rules[r, RULE_STOP_LOSS]  # NaN = off: every comparison with it is false
    pt = rules[r, RULE_PROFIT_TARGET]
    if premium > 0.0 and sl == sl and pnl <= -sl * premium:
        return STOP_LOSS
    if premium > 0.0 and pt == pt and pnl >= pt * premium:
        return PROFIT_TARGET
    dte = rules[r, RULE_DTE]
    if dte == dte and min_dte <= dte:
        return DTE
    held = held_trading if rules[r, RULE_PERIOD_TRADING] == 1.0 else held_calendar
    max_holding = rules[r, RULE_MAX_HOLDING]
    if max_holding == max_holding and held >= max_holding:
        return MAX_HOLDING
    rebalance = rules[r, RULE_REBALANCE]
    if rebalance == rebalance and held >= rebalance:
        return REBALANCE
    breach = rules[r, RULE_DELTA_BREACH]
    if breach == breach:
        for i in range(n_legs):
            if units[i] < 0 and abs(delta[i]) >= breach:
                return DELTA_BREACH
    if last:
        return END_OF_DATA
    return -1


@njit(cache=True, nogil=True, inline="always")
def walk_one_nb(chain, entry_day, row, units, n_legs, rules, s, a, c, mult, end, pnl, exit_day,
                reason, k, state, cursor, fired, track_delta):
    """Enter candidate `k` (entry quote rows `row` on `entry_day`) at that day's quotes, then
    mark it day by day (settle at expiry, carry a missing quote) until every exit rule has
    fired, filling each rule's exit at that day's quotes (stale when missing). Write the rule's
    P&L per contract (entry and exit fills, settlements, commissions), exit day and reason at
    `[r, k]`; return the entry cash per contract. `state` (4, MAX_LEGS) float, `cursor`
    (2, MAX_LEGS) int and `fired` (n_rules) bool are scratch space; deltas are read only with
    `track_delta` (some rule has a delta breach)."""
    bid = state[0]
    ask = state[1]
    mark = state[2]
    delta = state[3]
    entry_cash = 0.0
    value_entry = 0.0
    expiry_min = 1 << 40
    for i in range(n_legs):
        q = row[i]
        u = units[i]
        bid[i] = chain.quote_bid[q]
        ask[i] = chain.quote_ask[q]
        mark[i] = 0.5 * (bid[i] + ask[i])
        delta[i] = chain.quote_delta[q]
        fill = open_fill_nb(u, bid[i], ask[i], s, a)
        entry_cash += -u * mult * fill - c * abs(u)
        value_entry += u * mark[i]
        cn = chain.quote_contract[q]
        lo = chain.contract_row_start[cn]
        hi = chain.contract_row_start[cn + 1]
        cursor[0, i] = lo + np.searchsorted(chain.contract_row_day[lo:hi], entry_day)
        cursor[1, i] = hi
        expiry_min = min(expiry_min, chain.quote_expiry[q])
    premium = abs(value_entry)
    n_rules = rules.shape[0]
    open_rules = n_rules
    fired[:] = False
    d = entry_day
    while open_rules > 0 and d < end - 1:
        d += 1
        today = chain.day_date[d]
        spot = chain.day_spot[d]
        settled = expiry_min <= today
        value = 0.0
        for i in range(n_legs):
            if chain.quote_expiry[row[i]] <= today:
                mark[i] = intrinsic_nb(chain.quote_right[row[i]], chain.quote_strike[row[i]], spot)
            else:
                cur = cursor[0, i]
                hi = cursor[1, i]
                while cur < hi and chain.contract_row_day[cur] < d:
                    cur += 1
                cursor[0, i] = cur
                if cur < hi and chain.contract_row_day[cur] == d:
                    q = chain.contract_rows[cur]
                    b = chain.quote_bid[q]
                    x = chain.quote_ask[q]
                    if b == b and x == x:
                        bid[i] = b
                        ask[i] = x
                        mark[i] = 0.5 * (b + x)
                        if track_delta and chain.quote_delta[q] == chain.quote_delta[q]:
                            delta[i] = chain.quote_delta[q]
            value += units[i] * mark[i]
        pnl_mid = value - value_entry
        min_dte = expiry_min - today
        last = d == end - 1
        held_calendar = today - chain.day_date[entry_day]
        held_trading = d - entry_day
        exit_cash = 0.0
        exit_ready = False
        for r in range(n_rules):
            if fired[r]:
                continue
            why = exit_reason_nb(rules, r, settled, pnl_mid, premium, min_dte, held_calendar,
                                 held_trading, delta, units, n_legs, last)
            if why < 0:
                continue
            if not exit_ready:
                exit_cash = exit_cash_nb(chain, row, units, n_legs, today, mark, bid, ask, s,
                                         a, c, mult)
                exit_ready = True
            fired[r] = True
            open_rules -= 1
            pnl[r, k] = entry_cash + exit_cash
            exit_day[r, k] = d
            reason[r, k] = why
    return entry_cash


@njit(cache=True, nogil=True, inline="always")
def exit_cash_nb(chain, row, units, n_legs, today, mark, bid, ask, s, a, c, mult):
    """Step 1.4 for one contract: settled legs bring their intrinsic value (no costs), the
    others close at their last quote (selling a long, buying back a short) less commission."""
    total = 0.0
    for i in range(n_legs):
        u = units[i]
        if chain.quote_expiry[row[i]] <= today:
            total += u * mult * mark[i]
            continue
        fill = close_fill_nb(u, bid[i], ask[i], s, a)
        total += u * mult * fill - c * abs(u)
    return total


@njit(cache=True, nogil=True)
def outcomes_nb(chain, days, rows, units, n_legs, rules, s, a, c, mult, end, pnl, exit_day,
                reason, entry_cash, k_first, k_end):
    """The outcome under every rule (`walk_one_nb`) of candidates `k_first .. k_end - 1`, into
    `pnl`, `exit_day`, `reason` (n_rules, n_candidates) and `entry_cash` (n_candidates); `days`
    holds each candidate's entry day. Calls on disjoint ranges write disjoint elements: threads
    may run them at once (the GIL is released)."""
    state = np.zeros((4, MAX_LEGS))
    cursor = np.zeros((2, MAX_LEGS), dtype=np.int64)
    fired = np.zeros(rules.shape[0], dtype=np.bool_)
    track_delta = False
    for r in range(rules.shape[0]):
        if rules[r, RULE_DELTA_BREACH] == rules[r, RULE_DELTA_BREACH]:
            track_delta = True
    for k in range(k_first, k_end):
        entry_cash[k] = walk_one_nb(chain, days[k], rows[k], units, n_legs, rules, s, a, c,
                                    mult, end, pnl, exit_day, reason, k, state, cursor, fired,
                                    track_delta)


@njit(cache=True, nogil=True)
def risk_nb(chain, rows, units, n_legs, mult, entry_cash, out):
    """Each candidate's unit of risk per contract, in currency (docs/entries.md). Defined risk
    (every leg one expiry, net call units >= 0: the expiry payoff is bounded below): the max
    loss at expiry, `-min_x (entry_cash + sum_i u_i m intrinsic_i(x))` over `x` in {0} and the
    strikes (NaN when not positive). Otherwise: the short legs' strike notional
    `m sum_{u_i < 0} |u_i| K_i`."""
    for k in range(rows.shape[0]):
        row = rows[k]
        expiry = chain.quote_expiry[row[0]]
        one_expiry = True
        net_calls = 0.0
        for i in range(n_legs):
            if chain.quote_expiry[row[i]] != expiry:
                one_expiry = False
            if chain.quote_right[row[i]] > 0:
                net_calls += units[i]
        if one_expiry and net_calls >= 0.0:
            worst = np.inf
            for j in range(n_legs + 1):
                x = 0.0 if j == n_legs else chain.quote_strike[row[j]]
                payoff = entry_cash[k]
                for i in range(n_legs):
                    strike = chain.quote_strike[row[i]]
                    if chain.quote_right[row[i]] > 0:
                        payoff += units[i] * mult * max(x - strike, 0.0)
                    else:
                        payoff += units[i] * mult * max(strike - x, 0.0)
                worst = min(worst, payoff)
            out[k] = -worst if worst < 0.0 else np.nan
        else:
            notional = 0.0
            for i in range(n_legs):
                if units[i] < 0:
                    notional += -units[i] * mult * chain.quote_strike[row[i]]
            out[k] = notional if notional > 0.0 else np.nan
