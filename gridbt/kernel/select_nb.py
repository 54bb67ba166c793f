"""Expiry and strike selection of an entry (docs/semantics.md, step 2.5-2.6).

Array contract. `chain` is a `contract.Chain` (arrays of `gridbt/data/pack.py`): a day's
quote groups are `day_group_start[d] .. day_put_group_start[d]` (calls) and
`day_put_group_start[d] .. day_group_start[d + 1]` (puts), each group one expiry with its
quotes `group_quote_start[g] .. group_quote_start[g + 1]` in ascending strike; expiries and
dates are int days since 1970-01-01; a quote with a NaN bid or ask is not a candidate, a NaN
delta is never in range; volume and open interest -1 = missing (counted as 0). `params` is
one parameter vector (`contract.py`); leg blocks are read at `P_LEG0 + i * LEG_SIZE`.
Nothing is allocated.
"""

import numpy as np

from gridbt.kernel.cache import njit
from gridbt.kernel.contract import LEG, LEG_SIZE, P_LEG0
from gridbt.kernel.enums import SelectBy, SkipReason
from gridbt.kernel.state import Quotes

BY_DELTA = SelectBy.DELTA
BY_MONEYNESS = SelectBy.MONEYNESS
BY_OFFSET = SelectBy.OFFSET

SKIP_NO_EXPIRY = SkipReason.NO_EXPIRY
SKIP_NO_STRIKE = SkipReason.NO_STRIKE
SKIP_LIQUIDITY = SkipReason.LIQUIDITY


@njit(cache=True, nogil=True, inline="always")
def find_group_nb(chain, d, right, expiry):
    """Group index of (day d, right, expiry), or -1 (binary search over the day's groups)."""
    day_group_start = chain.day_group_start
    day_put_group_start = chain.day_put_group_start
    group_expiry = chain.group_expiry
    if right > 0:
        lo = day_group_start[d]
        hi = day_put_group_start[d]
    else:
        lo = day_put_group_start[d]
        hi = day_group_start[d + 1]
    while lo < hi:
        mid = (lo + hi) // 2
        if group_expiry[mid] < expiry:
            lo = mid + 1
        else:
            hi = mid
    if lo < (day_put_group_start[d] if right > 0 else day_group_start[d + 1]):
        if group_expiry[lo] == expiry:
            return lo
    return -1


@njit(cache=True, nogil=True, inline="always")
def select_expiry_nb(chain, d, need_call, need_put, target, dte_min, dte_max):
    """Expiry (int days) nearest `target` DTE within [dte_min, dte_max], quoted on day d in
    every needed right; ties go to the earlier expiry; -1 when none."""
    if need_call:
        lo = chain.day_group_start[d]
        hi = chain.day_put_group_start[d]
    else:
        lo = chain.day_put_group_start[d]
        hi = chain.day_group_start[d + 1]
    today = chain.day_date[d]
    best = -1
    best_dist = np.inf
    for g in range(lo, hi):
        e = chain.group_expiry[g]
        dte = e - today
        if dte <= 0 or dte < dte_min or dte > dte_max:
            continue
        if need_call and need_put:
            if find_group_nb(chain, d, -1, e) < 0:
                continue
        dist = abs(dte - target)
        if dist < best_dist:
            best_dist = dist
            best = e
    return best


@njit(cache=True, nogil=True)
def _strike_distance_nb(by, target, strike, delta, spot):
    if by == BY_DELTA:
        return abs(abs(delta) - target)  # NaN delta -> NaN -> never in range
    if by == BY_MONEYNESS:
        return abs(strike / spot - target)
    return abs(strike - target)


@njit(cache=True, nogil=True, inline="always")
def _position_nb(by, q, quote_strike, quote_delta, spot):
    """What row `q`'s distance to the target is taken on: |delta|, strike / spot or the
    strike."""
    if by == BY_DELTA:
        return abs(quote_delta[q])
    if by == BY_MONEYNESS:
        return quote_strike[q] / spot
    return quote_strike[q]


@njit(cache=True, nogil=True, inline="always")
def _outside_nb(x, target, tolerance, above):
    """Whether a row at `x` (`_position_nb`) is out of range on one side (`above`: past the
    target; else short of it). An undecided row (NaN) is kept."""
    if not abs(x - target) > tolerance:  # in range, or undecided (NaN)
        return False
    return x > target if above else x < target


@njit(cache=True, nogil=True, inline="always")
def _candidate_run_nb(quote_strike, quote_delta, lo, hi, by, target, tolerance, spot, order):
    """The quote rows of `lo .. hi - 1` that can be in range. The distance to the target grows
    away from it on each side of a run of rows in range when the rows' position is monotone in
    the row: by moneyness or offset (ascending strikes) always, by delta when the expiry's
    |delta| is known to be (`order` +1: non-decreasing in the strike, -1: non-increasing, every
    delta finite; 0: unknown). Then the rows short of the range come first and those past it
    last, two binary searches find the run between, and every row in range lies in it, in the
    same order, so the scans pick the same row. Otherwise: all of them."""
    if by == BY_DELTA and order == 0:
        return lo, hi
    low_first = not (by == BY_DELTA and order < 0)  # the rows below the target come first
    a = lo
    b = hi
    while a < b:  # the first row not short of the range
        mid = (a + b) // 2
        x = _position_nb(by, mid, quote_strike, quote_delta, spot)
        if _outside_nb(x, target, tolerance, not low_first):
            a = mid + 1
        else:
            b = mid
    first = a
    b = hi
    while a < b:  # the first row past it
        mid = (a + b) // 2
        x = _position_nb(by, mid, quote_strike, quote_delta, spot)
        if _outside_nb(x, target, tolerance, low_first):
            b = mid
        else:
            a = mid + 1
    return first, a


@njit(cache=True, nogil=True)
def select_strike_nb(quotes, lo, hi, by, target, tolerance, spot, min_oi, min_volume, max_spread,
                     order=0):
    """Step 2.6, one leg: the best candidate among quote rows `lo .. hi - 1` (one expiry and
    right, ascending strike). Return (quote row, status): status 0 = found, 1 = no strike in
    range, 2 = none liquid. `target` is |delta|, strike/spot or a strike (offset mode,
    already resolved); `order` is the expiry's |delta| order in the strike when known
    (`delta_order_nb`; 0: unknown, every row is scanned for a delta target).

    Not inlined, and given the quote columns it scans rather than the chain: its two loops
    keep their arrays in registers."""
    quote_bid = quotes.bid
    quote_ask = quotes.ask
    quote_strike = quotes.strike
    quote_delta = quotes.delta
    quote_open_interest = quotes.open_interest
    quote_volume = quotes.volume
    quote_log1p_open_interest = quotes.log1p_open_interest
    quote_log1p_volume = quotes.log1p_volume
    lo, hi = _candidate_run_nb(quote_strike, quote_delta, lo, hi, by, target, tolerance, spot,
                               order)
    max_rel = 0.0
    max_log_oi = 0.0
    max_log_vol = 0.0
    any_in_range = False
    first_liquid = hi
    last_liquid = lo - 1
    # first pass: range, liquidity, and the maxima that normalise the delta score
    for q in range(lo, hi):
        bid = quote_bid[q]
        ask = quote_ask[q]
        mid = 0.5 * (bid + ask)
        if not mid > 0.0:  # also false for NaN quotes
            continue
        if not _strike_distance_nb(by, target, quote_strike[q], quote_delta[q], spot) <= tolerance:
            continue
        any_in_range = True
        if max(quote_open_interest[q], 0) < min_oi or max(quote_volume[q], 0) < min_volume:
            continue
        rel = (ask - bid) / mid
        if rel > max_spread:  # NaN cap = off
            continue
        if q < first_liquid:
            first_liquid = q
        last_liquid = q
        max_rel = max(max_rel, rel)
        max_log_oi = max(max_log_oi, quote_log1p_open_interest[q])
        max_log_vol = max(max_log_vol, quote_log1p_volume[q])
    if not any_in_range:
        return -1, 1
    if last_liquid < first_liquid:
        return -1, 2
    best = -1
    best_score = np.inf
    for q in range(first_liquid, last_liquid + 1):
        bid = quote_bid[q]
        ask = quote_ask[q]
        mid = 0.5 * (bid + ask)
        if not mid > 0.0:
            continue
        dist = _strike_distance_nb(by, target, quote_strike[q], quote_delta[q], spot)
        if not dist <= tolerance:
            continue
        if max(quote_open_interest[q], 0) < min_oi or max(quote_volume[q], 0) < min_volume:
            continue
        rel = (ask - bid) / mid
        if rel > max_spread:
            continue
        if by == BY_DELTA:
            spread_norm = rel / max_rel if max_rel > 0.0 else 0.0
            a = quote_log1p_open_interest[q] / max_log_oi if max_log_oi > 0.0 else 0.0
            b = quote_log1p_volume[q] / max_log_vol if max_log_vol > 0.0 else 0.0
            depth_norm = (a + b) / 2.0
            score = dist / tolerance + 0.25 * spread_norm + 0.10 * (1.0 - depth_norm)
        else:
            score = dist
        if score < best_score:
            best_score = score
            best = q
    return best, 0


@njit(cache=True, nogil=True, inline="always")
def chain_quotes_nb(chain):
    """The quote columns strike selection scans (`select_strike_nb`)."""
    return Quotes(
        chain.quote_bid,
        chain.quote_ask,
        chain.quote_strike,
        chain.quote_delta,
        chain.quote_open_interest,
        chain.quote_volume,
        chain.quote_log1p_open_interest,
        chain.quote_log1p_volume,
    )


@njit(cache=True, nogil=True, inline="always")
def group_expiry_nb(chain, entry, d, grp):
    """Step 2.5 for expiry group `grp` (0 near, 1 far): its expiry on day `d`, -1 when none
    is in its window, -2 when no leg uses the group."""
    if not (entry.need_call[grp] or entry.need_put[grp]):
        return -2
    return select_expiry_nb(
        chain,
        d,
        entry.need_call[grp],
        entry.need_put[grp],
        entry.dte_target[grp],
        entry.dte_min[grp],
        entry.dte_max[grp],
    )


@njit(cache=True, nogil=True, inline="always")
def select_leg_nb(chain, quotes, params, i, d, spot, expiry, quote, delta_order=None):
    """Step 2.6 for leg `i` of expiry `expiry` (an offset leg reads its earlier leg's row in
    `quote`): (quote row, -1), or (-1, SkipReason). `delta_order`: each quote group's |delta|
    order in the strike (`delta_order_nb`), or None (unknown)."""
    base = P_LEG0 + i * LEG_SIZE
    g = find_group_nb(chain, d, int(params[base + LEG.right]), expiry)
    by = int(params[base + LEG.select_by])
    target = params[base + LEG.target]
    if by == BY_OFFSET:
        of = quote[int(params[base + LEG.of])]
        target = chain.quote_strike[of] + params[base + LEG.points]
    q, status = select_strike_nb(
        quotes,
        chain.group_quote_start[g],
        chain.group_quote_start[g + 1],
        by,
        target,
        params[base + LEG.tolerance],
        spot,
        params[base + LEG.min_oi],
        params[base + LEG.min_volume],
        params[base + LEG.max_spread],
        0 if delta_order is None else delta_order[g],
    )
    if status == 1:
        return -1, SKIP_NO_STRIKE
    if status == 2:
        return -1, SKIP_LIQUIDITY
    return q, -1


@njit(cache=True, nogil=True, inline="always")
def select_legs_nb(chain, params, entry, n_legs, d, spot, quote):
    """Steps 2.5-2.6: pick each expiry group's expiry, then each leg's strike in order; write
    the chosen quote rows into `quote` and return -1, or the SkipReason (`no_expiry`,
    `no_strike`, `liquidity`)."""
    quotes = chain_quotes_nb(chain)
    expiry_near = group_expiry_nb(chain, entry, d, 0)
    expiry_far = group_expiry_nb(chain, entry, d, 1)
    if expiry_near == -1 or expiry_far == -1:
        return SKIP_NO_EXPIRY
    for i in range(n_legs):
        expiry = expiry_far if int(params[P_LEG0 + i * LEG_SIZE + LEG.group]) == 1 else expiry_near
        q, skip = select_leg_nb(chain, quotes, params, i, d, spot, expiry, quote)
        if skip >= 0:
            return skip
        quote[i] = q
    return -1


@njit(cache=True, nogil=True)
def delta_order_nb(group_quote_start, quote_delta, out):
    """Per quote group (one day, right and expiry, ascending strike), the order of its |delta|
    in the strike into `out`: +1 non-decreasing (puts, as priced), -1 non-increasing (calls),
    0 neither, or some delta not finite (`select_strike_nb` then scans every strike). A group
    whose |delta| is constant is +1."""
    for g in range(out.shape[0]):
        lo = group_quote_start[g]
        hi = group_quote_start[g + 1]
        up = True
        down = True
        prev = abs(quote_delta[lo]) if lo < hi else 0.0
        finite = np.isfinite(prev)
        for q in range(lo + 1, hi):
            x = abs(quote_delta[q])
            finite &= np.isfinite(x)
            up &= x >= prev
            down &= x <= prev
            prev = x
        out[g] = 0 if not finite else (1 if up else (-1 if down else 0))
