"""Build the trade tables of one entry group (`table_layout.TradeTables`; docs/trade_tables.md).

The tables are made empty (`new_tables_nb`) and built a candidate day at a time, the first time
a row of the group tries an entry on that day (`ensure_entry_nb`, called by the walk): the days
no row of the group ever reaches, about half of them in a typical grid, are never selected.
`build_all_nb` builds every candidate day (tests, inspection).

For a day an entry could happen on, select the legs exactly as the day kernel's entry step
does (`select_nb.select_legs_nb`, through the selection memo the groups share), record them and
their entry quote, precompute what sizing reads (the worst stress loss W, σ̄ and the vol-target
deviation) and how long the position can be held: until the first day a leg settles or the
window's last day. The path itself is not copied: the walk reads the legs' quotes in the
chain's contract-major, day-aligned arrays (`tables.ContractMajor`). `path_nb` spells one out.

Array contract. `chain` is a `contract.Chain`; `params` one parameter vector of the group (its
entry slots; the exit slots are not read); `cm` a `tables.ContractMajor`. `new_tables_nb`
allocates every array.
"""

import math

import numpy as np

from gridbt.kernel.cache import njit
from gridbt.kernel.contract import LEG, LEG_SIZE, P_LEG0
from gridbt.kernel.entry_nb import load_legs_nb, zscore_signal_nb
from gridbt.kernel.enums import MAX_LEGS, SkipReason
from gridbt.kernel.lowlevel_nb import borrowed_nb, prefetch_nb, stack_record_nb
from gridbt.kernel.risk_nb import per_contract_nb, sigma_bar_nb, stress_worst_nb, vol_target_sd_nb
from gridbt.kernel.rules_nb import decode_rules_nb, scenarios_nb
from gridbt.kernel.select_nb import chain_quotes_nb, group_expiry_nb, select_leg_nb
from gridbt.kernel.state import leg_book_dt
from gridbt.kernel.steps_nb import intrinsic_nb
from gridbt.kernel.table_layout import FLAG_MISSING, NOT_BUILT, NOT_ENTRY

__all__ = [
    "UNKNOWN", "build_all_nb", "day_on_or_after_nb", "ensure_entry_nb", "larger_short_nb",
    "leg_days_nb", "leg_delta_nb", "leg_quote_nb", "new_tables_nb", "path_nb",
    "select_shared_nb",
]

SKIP_NO_EXPIRY = SkipReason.NO_EXPIRY


@njit(cache=True, nogil=True)
def _sizing_inputs_nb(lg, spot, today, rules, scenarios):
    """What `entry_nb.size_nb` computes from the candidate alone: (W, σ̄, vol-target sd), NaN
    where the rules do not need it."""
    br = rules.book
    sizing = rules.sizing
    hedge = rules.hedge
    n_legs = br.n_legs
    mult = br.multiplier
    vol_on = sizing.vol_target == sizing.vol_target
    delta = 0.0
    if sizing.need_worst or vol_on:
        delta = per_contract_nb(lg.units, lg.delta, n_legs, mult)
    worst = np.nan
    if sizing.need_worst:
        worst, _ = stress_worst_nb(
            spot, today, lg.units, lg.right, lg.strike, lg.expiry, lg.iv, n_legs, mult,
            rules.stress.rate, rules.stress.dividend, scenarios, rules.stress.n_scenarios,
            sizing.risk_hedged, hedge.target - delta,
        )
    sigma_bar = np.nan
    sd = np.nan
    if vol_on:
        sigma_bar = sigma_bar_nb(lg.units, lg.iv, n_legs)
        sd = vol_target_sd_nb(
            hedge.target if sizing.risk_hedged else delta,
            per_contract_nb(lg.units, lg.gamma, n_legs, mult),
            spot,
            sigma_bar,
        )
    return worst, sigma_bar, sd


@njit(cache=True, nogil=True, inline="always")
def day_on_or_after_nb(cm, day_date, date):
    """The first day index whose date is on or after `date` (a number of days since
    1970-01-01, maybe fractional), `n_days` when none is: `np.searchsorted(day_date, date)`,
    read from `cm.day_on_or_after` instead of searched (its branches mispredict half the
    time)."""
    k = math.ceil(date) - day_date[0]
    if k <= 0:
        return 0
    if k >= cm.day_on_or_after.shape[0]:
        return day_date.shape[0]
    return cm.day_on_or_after[k]


@njit(cache=True, nogil=True, inline="always")
def leg_days_nb(cm, c):
    """Where contract `c`'s days are in `cm` (a `tables.ContractMajor`): (origin, last), its
    quote of day `t` at row `origin + t` through its last quoted day `last`."""
    start = cm.start[c]
    first = cm.first_day[c]
    return start - first, first + (cm.start[c + 1] - start) - 1


@njit(cache=True, nogil=True, inline="always")
def leg_quote_nb(cm, origin, last, t, b, a):
    """A held leg's last usable quote on day `t`, carried from (`b`, `a`) over a missing or
    unusable one, as `steps_nb.mark_leg_nb` carries it: (bid, ask, quoted today)."""
    if t <= last:
        qb = cm.quote[origin + t, 0]
        qa = cm.quote[origin + t, 1]
        if qb == qb and qa == qa:
            return qb, qa, True
    return b, a, False


@njit(cache=True, nogil=True, inline="always")
def leg_delta_nb(cm, origin, t, quoted, dl):
    """A held leg's delta on day `t`: today's when quoted and finite, else the one it carries
    (`dl`)."""
    if quoted:
        x = cm.delta[origin + t]
        if x == x:
            return x
    return dl


@njit(cache=True, nogil=True, inline="always")
def larger_short_nb(units, dl, largest):
    """The largest |delta| of a position's short legs so far, leg `units`' delta `dl`
    included."""
    return abs(dl) if units < 0 and abs(dl) > largest else largest


@njit(cache=True, nogil=True, inline="always")
def _entry_row_nb(chain, params, d, lg, n_legs, direction, cm, units, right, strike, expiry,
                  contract, bid, ask, leg_days):
    """Record the candidate's legs (selected quote rows in `lg.quote`) in the per-day arrays;
    return (value at entry per structure unit, nearest expiry). `entry_nb.load_legs_nb`'s
    values, read where they are cheapest: the contract's own fields and its day-aligned quote
    (the rows its path reads next) rather than a dozen quote columns at a random row; and
    where the contract's days are in `cm` (`leg_days_nb`), so that the walk finds a leg's
    quotes from the tables' row without two more loads from far away per trade."""
    value_entry = 0.0
    min_expiry = 1 << 40
    for i in range(n_legs):
        base = P_LEG0 + i * LEG_SIZE
        c = chain.quote_contract[lg.quote[i]]
        origin, last = leg_days_nb(cm, c)
        leg_days[d, i, 0] = origin
        leg_days[d, i, 1] = last
        j = origin + d
        units[d, i] = params[base + LEG.side] * direction * params[base + LEG.qty]
        right[d, i] = chain.contract_right[c]
        strike[d, i] = chain.contract_strike[c]
        expiry[d, i] = chain.contract_expiry[c]
        contract[d, i] = c
        bid[d, i] = cm.quote[j, 0]
        ask[d, i] = cm.quote[j, 1]
        value_entry += units[d, i] * (0.5 * (bid[d, i] + ask[d, i]))
        min_expiry = min(min_expiry, expiry[d, i])
    return value_entry, min_expiry


@njit(cache=True, nogil=True)
def _signal_nb(chain, signal, n_days):
    """The z-score state after each day's update and its exit flags (docs/semantics.md,
    Signals): a property of the chain, the same for every trade; 0 and no exits for an
    always-on signal."""
    state = np.zeros(n_days, dtype=np.int8)
    exits = np.zeros(n_days, dtype=np.bool_)
    if not signal.zscore:
        return state, exits
    series = chain.features[signal.feature]
    current = 0
    for d in range(n_days):
        current, exits[d] = zscore_signal_nb(
            series, d, signal.window, signal.entry, signal.exit, current
        )
        state[d] = current
    return state, exits


@njit(cache=True, nogil=True, inline="always")
def _direction_nb(signal, state):
    """The entry direction on a day of z-score state `state` (`entry_nb.entry_direction_nb`)."""
    if signal.zscore:
        return -state if signal.inverted else state
    return signal.direction


@njit(cache=True, nogil=True, inline="always")
def _prefetch_path_nb(cm, origin, last, d, n):
    """Start loading the quotes of days `d .. d + n` of a leg selected on `d`, its days at
    `origin` through `last` (`leg_days_nb`; quoted on `d`, so its first day is no later): a
    built day's legs are far apart in memory and rarely cached, and their loads then overlap
    instead of each leg's waiting in turn."""
    for j in range(origin + d, origin + min(d + n, last) + 1, 4):
        prefetch_nb(cm.quote, 2 * j)  # one 64-byte line of (bid, ask) rows


@njit(cache=True, nogil=True)
def _fill_leg_nb(chain, d, i, o, n, leg, cm, value, short_delta, flags, pbid, pask):
    """Leg `i` of the candidate of day `d` along its path rows `o .. o + n`: its last usable
    quote (carried when missing, as `steps_nb.mark_leg_nb` carries it) or its intrinsic value
    once expired (`settle_leg_nb`); adds its mark to the value, its |delta| to the short
    delta, its quoted or missing flag. `leg` = (units, right, strike, expiry, where its
    contract's days are (origin, last: the tables' `leg_days`, as the walk reads them), entry
    bid, entry ask)."""
    units, right, strike, expiry, origin, last, b, a = leg
    dl = cm.delta[origin + d]
    bit = 1 << i
    for k in range(n):
        t = d + 1 + k
        r = o + k
        pbid[r, i] = b  # an expired leg keeps its last quote (never filled: it settles)
        pask[r, i] = a
        if expiry <= chain.day_date[t]:
            value[r] += units * intrinsic_nb(right, strike, chain.day_spot[t])
            continue
        b, a, quoted = leg_quote_nb(cm, origin, last, t, b, a)
        dl = leg_delta_nb(cm, origin, t, quoted, dl)
        flags[r] |= bit if quoted else FLAG_MISSING
        pbid[r, i] = b
        pask[r, i] = a
        value[r] += units * (0.5 * (b + a))
        short_delta[r] = larger_short_nb(units, dl, short_delta[r])


@njit(cache=True, nogil=True)
def new_tables_nb(chain, params, entry_days):
    """Empty trade tables of the entry group of `params` for the days flagged in `entry_days`
    (n_days, bool: the days some row of the group may try an entry on): those days not built
    yet (`NOT_BUILT`; `ensure_entry_nb` builds one), the others `NOT_ENTRY`; the z-score
    signal's states. Returns the tuple of `TradeTables` fields."""
    chain = borrowed_nb(chain)
    params = borrowed_nb((params,))[0]
    n_days = chain.day_date.shape[0]
    rules = decode_rules_nb(params, n_days, False)
    br = rules.book
    signal_state, signal_exit = _signal_nb(chain, rules.signal, n_days)
    skip = np.full(n_days, NOT_ENTRY, dtype=np.int8)
    for d in range(br.first, br.end - 1):
        if entry_days[d] and _direction_nb(rules.signal, signal_state[d]) != 0:
            skip[d] = NOT_BUILT
    return (skip, np.zeros(n_days, dtype=np.int64), np.zeros(n_days),
            np.zeros(n_days, dtype=np.int64), np.full(n_days, np.nan), np.full(n_days, np.nan),
            np.full(n_days, np.nan), signal_state, signal_exit, np.zeros((n_days, MAX_LEGS)),
            np.zeros((n_days, MAX_LEGS)), np.zeros((n_days, MAX_LEGS)),
            np.zeros((n_days, MAX_LEGS), dtype=np.int64),
            np.full((n_days, MAX_LEGS), -1, dtype=np.int64), np.zeros((n_days, MAX_LEGS)),
            np.zeros((n_days, MAX_LEGS)), np.zeros((n_days, MAX_LEGS, 2), dtype=np.int64))


#: A selection memo's entry not computed yet (`select_shared_nb`).
UNKNOWN = -3


@njit(cache=True, nogil=True, inline="always")
def select_shared_nb(chain, params, entry, n_legs, d, spot, quote, memo, delta_order):
    """`select_nb.select_legs_nb` through a memo shared by the entry groups of a batch:
    `memo` = (expiry memo (n_days, E), leg memo (n_days, V), this group's expiry variant of
    each expiry group (2,), its variant of each leg (MAX_LEGS,)). A variant is everything its
    result depends on (an expiry group's window and rights; a leg's expiry variant, right,
    selection rule, liquidity filters and, for an offset, its earlier leg's variant), so groups
    that share a leg (an iron condor's short put, whatever its wings) select it once a day.
    Memo entries: an expiry (-1 none) or a quote row, -2 - SkipReason for a leg that fails,
    `UNKNOWN` until computed. `delta_order`: each quote group's |delta| order in the strike
    (`select_nb.delta_order_nb`), so that a delta leg scans only the strikes that can be in
    range."""
    exp_memo, leg_memo, exp_var, leg_var = memo
    quotes = chain_quotes_nb(chain)
    expiry = np.empty(2, dtype=np.int64)
    for grp in range(2):
        e = exp_memo[d, exp_var[grp]]
        if e == UNKNOWN:
            e = group_expiry_nb(chain, entry, d, grp)
            exp_memo[d, exp_var[grp]] = e
        expiry[grp] = e
    if expiry[0] == -1 or expiry[1] == -1:
        return SKIP_NO_EXPIRY
    for i in range(n_legs):
        m = leg_memo[d, leg_var[i]]
        if m == UNKNOWN:
            grp = int(params[P_LEG0 + i * LEG_SIZE + LEG.group])
            q, skip = select_leg_nb(chain, quotes, params, i, d, spot, expiry[grp], quote,
                                    delta_order)
            m = q if skip < 0 else -2 - skip
            leg_memo[d, leg_var[i]] = m
        if m < 0:
            return -2 - m
        quote[i] = m
    return -1


@njit(cache=True, nogil=True, inline="always")
def _build_entry_nb(chain, params, rules, scenarios, cm, memo, tb, d):
    """Build candidate day `d`: select its legs as the day kernel's entry step does (through
    the batch's selection `memo`), record them, the sizing inputs and how long the position
    can be held.

    Inlined into its callers: a call passes the chain, the tables and the rules by value, a few
    hundred words copied per built day, which cost more than a day's build with the memo warm
    (~450 ns against ~200 ns a day, `build_all_nb` on the default chain)."""
    br = rules.book
    n_legs = br.n_legs
    direction = _direction_nb(rules.signal, tb.signal_state[d])
    lg = stack_record_nb(leg_book_dt)
    spot = chain.day_spot[d]
    status = select_shared_nb(chain, params, rules.entry, n_legs, d, spot, lg.quote, memo,
                              cm.delta_order)
    tb.skip[d] = status
    if status >= 0:
        return
    tb.value_entry[d], tb.min_expiry[d] = _entry_row_nb(
        chain, params, d, lg, n_legs, direction, cm, tb.units, tb.right, tb.strike, tb.expiry,
        tb.contract, tb.entry_bid, tb.entry_ask, tb.leg_days,
    )
    sizing = rules.sizing
    if sizing.need_worst or sizing.vol_target == sizing.vol_target:
        load_legs_nb(chain, params, lg, n_legs, direction)  # the greeks and iv sizing reads
        tb.worst[d], tb.sigma_bar[d], tb.vol_sd[d] = _sizing_inputs_nb(
            lg, spot, chain.day_date[d], rules, scenarios
        )
    settle = day_on_or_after_nb(cm, chain.day_date, tb.min_expiry[d])
    tb.length[d] = min(max(settle, d + 1), br.end - 1) - d
    for i in range(n_legs):  # the walk reads the legs' first path days next
        _prefetch_path_nb(cm, tb.leg_days[d, i, 0], tb.leg_days[d, i, 1], d, 8)


@njit(cache=True, nogil=True)
def path_nb(chain, cm, tb, d, value, short_delta, flags, bid, ask):
    """Spell out the path of the candidate entered on built day `d` (its `length[d]` days,
    into `value`, `short_delta`, `flags`, `bid`, `ask`: `tables.TradePath`), as the walk reads
    it."""
    chain = borrowed_nb(chain)
    cm = borrowed_nb(cm)
    tb = borrowed_nb(tb)
    n = tb.length[d]
    for k in range(n):
        value[k] = 0.0
        short_delta[k] = -np.inf
        flags[k] = 0
    for i in range(bid.shape[1]):
        leg = (tb.units[d, i], tb.right[d, i], tb.strike[d, i], tb.expiry[d, i],
               tb.leg_days[d, i, 0], tb.leg_days[d, i, 1], tb.entry_bid[d, i],
               tb.entry_ask[d, i])
        _fill_leg_nb(chain, d, i, 0, n, leg, cm, value, short_delta, flags, bid, ask)


@njit(cache=True, nogil=True, inline="always")
def ensure_entry_nb(chain, params, rules, scenarios, cm, memo, tb, d):
    """Make candidate day `d` of the tables built (a day is built the first time a row of the
    group tries an entry on it: the days no row reaches are never selected). `params` and
    `rules` are any row of the group's (they agree on every slot the build reads)."""
    if tb.skip[d] == NOT_BUILT:
        _build_entry_nb(chain, params, rules, scenarios, cm, memo, tb, d)


@njit(cache=True, nogil=True)
def build_all_nb(chain, params, cm, memo, tb):
    """Build every candidate day of `tb` (in day order)."""
    chain = borrowed_nb(chain)  # no reference counting on the arrays of each day's call
    tb = borrowed_nb(tb)
    cm = borrowed_nb(cm)
    params = borrowed_nb((params,))[0]
    rules = decode_rules_nb(params, chain.day_date.shape[0], False)
    scenarios = scenarios_nb(params)
    for d in range(tb.skip.shape[0]):
        if tb.skip[d] == NOT_BUILT:
            _build_entry_nb(chain, params, rules, scenarios, cm, memo, tb, d)
