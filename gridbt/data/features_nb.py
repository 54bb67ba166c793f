"""Daily feature kernels over a packed chain.

Array contract: axis 0 = trading day. `day_*` arrays have n_days entries; group and quote
arrays follow the packed layout of `pack.py`. Output series are float64 with NaN where a value
is undefined (warm-up windows, days without a usable expiry).
"""

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _iv_at_spot_nb(lo, hi, spot, strike, iv):
    """Linear interpolation of iv in strike at `spot` within rows [lo, hi); NaN if not bracketed."""
    below = -1
    above = -1
    for q in range(lo, hi):
        if not (iv[q] == iv[q]) or iv[q] <= 0.0:
            continue
        if strike[q] <= spot:
            below = q
        elif above < 0:
            above = q
    if below >= 0 and above >= 0:
        w = (spot - strike[below]) / (strike[above] - strike[below])
        return iv[below] + w * (iv[above] - iv[below])
    if below >= 0 and strike[below] == spot:
        return iv[below]
    return np.nan


@njit(cache=True, nogil=True)
def atm_iv_nb(
    day_date,
    day_spot,
    day_group_start,
    day_put_group_start,
    group_expiry,
    group_quote_start,
    quote_strike,
    quote_iv,
    tenor_days,
):
    """ATM implied vol at a constant tenor: per expiry the mean of call and put iv interpolated
    at spot, then linear in total variance across expiries (flat vol beyond the ends)."""
    n_days = day_date.shape[0]
    out = np.full(n_days, np.nan)
    max_groups = 0
    for d in range(n_days):
        max_groups = max(max_groups, day_group_start[d + 1] - day_group_start[d])
    exp_days = np.empty(max_groups)
    exp_iv = np.empty(max_groups)
    for d in range(n_days):
        spot = day_spot[d]
        n_exp = 0
        # calls and puts are each sorted by expiry: merge them by expiry
        c = day_group_start[d]
        c_end = day_put_group_start[d]
        p = day_put_group_start[d]
        p_end = day_group_start[d + 1]
        while c < c_end or p < p_end:
            if p >= p_end or (c < c_end and group_expiry[c] < group_expiry[p]):
                expiry = group_expiry[c]
                v = _iv_at_spot_nb(
                    group_quote_start[c], group_quote_start[c + 1], spot, quote_strike, quote_iv
                )
                c += 1
            elif c >= c_end or group_expiry[p] < group_expiry[c]:
                expiry = group_expiry[p]
                v = _iv_at_spot_nb(
                    group_quote_start[p], group_quote_start[p + 1], spot, quote_strike, quote_iv
                )
                p += 1
            else:
                expiry = group_expiry[c]
                vc = _iv_at_spot_nb(
                    group_quote_start[c], group_quote_start[c + 1], spot, quote_strike, quote_iv
                )
                vp = _iv_at_spot_nb(
                    group_quote_start[p], group_quote_start[p + 1], spot, quote_strike, quote_iv
                )
                if vc == vc and vp == vp:
                    v = 0.5 * (vc + vp)
                elif vc == vc:
                    v = vc
                else:
                    v = vp
                c += 1
                p += 1
            t = expiry - day_date[d]
            if t > 0 and v == v:
                exp_days[n_exp] = t
                exp_iv[n_exp] = v
                n_exp += 1
        if n_exp == 0:
            continue
        if tenor_days <= exp_days[0]:
            out[d] = exp_iv[0]
        elif tenor_days >= exp_days[n_exp - 1]:
            out[d] = exp_iv[n_exp - 1]
        else:
            for k in range(1, n_exp):
                if exp_days[k] >= tenor_days:
                    t1, t2 = exp_days[k - 1], exp_days[k]
                    w1 = exp_iv[k - 1] ** 2 * t1
                    w2 = exp_iv[k] ** 2 * t2
                    w = w1 + (w2 - w1) * (tenor_days - t1) / (t2 - t1)
                    out[d] = math.sqrt(max(w, 0.0) / tenor_days)
                    break
    return out


@njit(cache=True, nogil=True)
def rolling_rank_nb(values, window):
    """IV rank (position between trailing min and max) and percentile (share of the other
    window values strictly below today), both in [0, 1], over the `window` days ending today;
    defined once at least half a window of finite values is available."""
    n = values.shape[0]
    rank = np.full(n, np.nan)
    pct = np.full(n, np.nan)
    for i in range(n):
        x = values[i]
        if not (x == x):
            continue
        lo = np.inf
        hi = -np.inf
        below = 0
        count = 0
        for j in range(max(0, i - window + 1), i + 1):
            v = values[j]
            if v == v:
                lo = min(lo, v)
                hi = max(hi, v)
                count += 1
                if v < x:
                    below += 1
        if count < max(2, (window + 1) // 2):
            continue
        rank[i] = (x - lo) / (hi - lo) if hi > lo else 0.5
        pct[i] = below / (count - 1) if count > 1 else 0.5
    return rank, pct


@njit(cache=True, nogil=True)
def realised_vol_nb(spot, window, periods_per_year):
    """Annualised standard deviation of daily log returns over the trailing `window` returns."""
    n = spot.shape[0]
    out = np.full(n, np.nan)
    for i in range(window, n):
        mean = 0.0
        for j in range(i - window + 1, i + 1):
            mean += math.log(spot[j] / spot[j - 1])
        mean /= window
        var = 0.0
        for j in range(i - window + 1, i + 1):
            r = math.log(spot[j] / spot[j - 1]) - mean
            var += r * r
        out[i] = math.sqrt(var / (window - 1) * periods_per_year)
    return out


@njit(cache=True, nogil=True)
def sma_nb(values, window):
    n = values.shape[0]
    out = np.full(n, np.nan)
    total = 0.0
    for i in range(n):
        total += values[i]
        if i >= window:
            total -= values[i - window]
        if i >= window - 1:
            out[i] = total / window
    return out


@njit(cache=True, nogil=True)
def _iv_nearest_delta_nb(lo, hi, delta, iv, target):
    best = -1
    best_dist = np.inf
    for q in range(lo, hi):
        if not (delta[q] == delta[q] and iv[q] == iv[q]):
            continue
        dist = abs(delta[q] - target)
        if dist < best_dist:
            best_dist = dist
            best = q
    return iv[best] if best >= 0 else np.nan


@njit(cache=True, nogil=True)
def skew_25d_nb(
    day_date,
    day_group_start,
    day_put_group_start,
    group_expiry,
    group_quote_start,
    quote_delta,
    quote_iv,
    tenor_days,
):
    """25-delta risk-reversal skew: iv of the put nearest delta -0.25 minus iv of the call
    nearest +0.25, in the expiry (quoted in both rights) nearest `tenor_days`."""
    n_days = day_date.shape[0]
    out = np.full(n_days, np.nan)
    for d in range(n_days):
        best_c = -1
        best_p = -1
        best_dist = np.inf
        p = day_put_group_start[d]
        p_end = day_group_start[d + 1]
        for c in range(day_group_start[d], day_put_group_start[d]):
            t = group_expiry[c] - day_date[d]
            if t <= 0:
                continue
            while p < p_end and group_expiry[p] < group_expiry[c]:
                p += 1
            if p >= p_end or group_expiry[p] != group_expiry[c]:
                continue
            dist = abs(t - tenor_days)
            if dist < best_dist:
                best_dist = dist
                best_c = c
                best_p = p
        if best_c < 0:
            continue
        put_iv = _iv_nearest_delta_nb(
            group_quote_start[best_p], group_quote_start[best_p + 1], quote_delta, quote_iv, -0.25
        )
        call_iv = _iv_nearest_delta_nb(
            group_quote_start[best_c], group_quote_start[best_c + 1], quote_delta, quote_iv, 0.25
        )
        out[d] = put_iv - call_iv
    return out


@njit(cache=True, nogil=True)
def _mid_nb(bid, ask, q):
    """Mid of quote row `q`, NaN when either side is missing or the ask is not positive."""
    if not (bid[q] == bid[q] and ask[q] == ask[q]) or ask[q] <= 0.0 or bid[q] < 0.0:
        return np.nan
    return 0.5 * (bid[q] + ask[q])


@njit(cache=True, nogil=True)
def _otm_strikes_nb(start, stop, step, strike, bid, ask, work_k, work_q, n):
    """Append to `work_k`/`work_q` from position `n` the strikes and mids of quote rows
    `range(start, stop, step)`, walking away from the money: a zero bid is skipped, and two
    in a row end the walk (Cboe's cut-off). Returns the new count."""
    zeros = 0
    for q in range(start, stop, step):
        if not (bid[q] > 0.0):
            zeros += 1
            if zeros == 2:
                break
            continue
        zeros = 0
        mq = _mid_nb(bid, ask, q)
        if mq == mq:
            work_k[n] = strike[q]
            work_q[n] = mq
            n += 1
    return n


@njit(cache=True, nogil=True)
def vix_term_variance_nb(c_lo, c_hi, p_lo, p_hi, strike, bid, ask, years, rate, work_k, work_q):
    """Cboe VIX variance of one expiry from its call rows [c_lo, c_hi) and put rows [p_lo, p_hi)
    (each sorted by strike); NaN when no strike has both a call and a put mid.

    Forward from put-call parity at the strike minimising |C − P|; K0 the highest such strike at
    or below the forward; out-of-the-money puts below K0 and calls above it, skipping zero bids
    and stopping at the second zero bid in a row; at K0 the mean of the call and put mids;
    ΔK half the distance between the neighbouring included strikes (the one-sided distance at
    the ends). `work_k`, `work_q` are scratch arrays of at least c_hi − c_lo + p_hi − p_lo + 1.
    """
    growth = math.exp(rate * years)
    # forward: merge calls and puts by strike
    best = np.inf
    k_star = np.nan
    diff_star = 0.0
    c = c_lo
    p = p_lo
    while c < c_hi and p < p_hi:
        if strike[c] < strike[p]:
            c += 1
        elif strike[p] < strike[c]:
            p += 1
        else:
            mc = _mid_nb(bid, ask, c)
            mp = _mid_nb(bid, ask, p)
            if mc == mc and mp == mp and abs(mc - mp) < best:
                best = abs(mc - mp)
                k_star = strike[c]
                diff_star = mc - mp
            c += 1
            p += 1
    if not (k_star == k_star):
        return np.nan
    forward = k_star + growth * diff_star
    # K0: the highest strike quoted in both rights at or below the forward (else the lowest)
    k0 = np.nan
    k0_call = -1
    k0_put = -1
    c = c_lo
    p = p_lo
    while c < c_hi and p < p_hi:
        if strike[c] < strike[p]:
            c += 1
        elif strike[p] < strike[c]:
            p += 1
        else:
            mc = _mid_nb(bid, ask, c)
            mp = _mid_nb(bid, ask, p)
            if mc == mc and mp == mp and (strike[c] <= forward or k0_call < 0):
                k0 = strike[c]
                k0_call = c
                k0_put = p
            if strike[c] > forward and k0_call >= 0:
                break
            c += 1
            p += 1
    if k0_call < 0:
        return np.nan
    # included strikes, ascending: puts below K0 (collected downwards), K0, calls above K0
    n = _otm_strikes_nb(k0_put - 1, p_lo - 1, -1, strike, bid, ask, work_k, work_q, 0)
    for i in range(n // 2):
        j = n - 1 - i
        work_k[i], work_k[j] = work_k[j], work_k[i]
        work_q[i], work_q[j] = work_q[j], work_q[i]
    work_k[n] = k0
    work_q[n] = 0.5 * (_mid_nb(bid, ask, k0_call) + _mid_nb(bid, ask, k0_put))
    n += 1
    n = _otm_strikes_nb(k0_call + 1, c_hi, 1, strike, bid, ask, work_k, work_q, n)
    if n < 2:
        return np.nan
    total = 0.0
    for i in range(n):
        if i == 0:
            dk = work_k[1] - work_k[0]
        elif i == n - 1:
            dk = work_k[n - 1] - work_k[n - 2]
        else:
            dk = 0.5 * (work_k[i + 1] - work_k[i - 1])
        total += dk / (work_k[i] * work_k[i]) * work_q[i]
    ratio = forward / k0 - 1.0
    return 2.0 / years * growth * total - ratio * ratio / years


@njit(cache=True, nogil=True)
def vix_nb(
    day_date,
    day_group_start,
    day_put_group_start,
    group_expiry,
    group_quote_start,
    quote_strike,
    quote_bid,
    quote_ask,
    rate,
    tenor_days,
    min_days,
):
    """Cboe VIX-method volatility at `tenor_days` (decimal, 0.20 = VIX 20) from OTM quotes.

    Terms: expiries quoted in both rights with at least `min_days` calendar days left; the near
    term is the latest at or before the tenor and the next term the earliest after it (the two
    nearest on one side when none brackets it; one term alone gives its own variance). The two
    term variances σ²T are interpolated linearly in days to the tenor and annualised; time is
    calendar days / 365 (end-of-day quotes carry no minutes)."""
    n_days = day_date.shape[0]
    out = np.full(n_days, np.nan)
    max_rows = 1
    for d in range(n_days):
        max_rows = max(max_rows, group_quote_start[day_group_start[d + 1]]
                       - group_quote_start[day_group_start[d]] + 1)
    work_k = np.empty(max_rows)
    work_q = np.empty(max_rows)
    max_groups = 1
    for d in range(n_days):
        max_groups = max(max_groups, day_group_start[d + 1] - day_group_start[d])
    term_days = np.empty(max_groups)
    term_var = np.empty(max_groups)
    for d in range(n_days):
        n_terms = 0
        p = day_put_group_start[d]
        p_end = day_group_start[d + 1]
        for c in range(day_group_start[d], day_put_group_start[d]):
            t = group_expiry[c] - day_date[d]
            while p < p_end and group_expiry[p] < group_expiry[c]:
                p += 1
            if p >= p_end:
                break
            if group_expiry[p] != group_expiry[c] or t < min_days:
                continue
            years = t / 365.0
            v = vix_term_variance_nb(
                group_quote_start[c], group_quote_start[c + 1],
                group_quote_start[p], group_quote_start[p + 1],
                quote_strike, quote_bid, quote_ask, years, rate, work_k, work_q,
            )
            if v == v and v > 0.0:
                term_days[n_terms] = t
                term_var[n_terms] = v
                n_terms += 1
        if n_terms == 0:
            continue
        if n_terms == 1:
            out[d] = math.sqrt(term_var[0])
            continue
        nxt = n_terms
        for k in range(n_terms):
            if term_days[k] > tenor_days:
                nxt = k
                break
        if nxt == 0:
            nxt = 1
        elif nxt == n_terms:
            nxt = n_terms - 1
        near = nxt - 1
        n1 = term_days[near]
        n2 = term_days[nxt]
        w1 = (n2 - tenor_days) / (n2 - n1)
        total = n1 / 365.0 * term_var[near] * w1 + n2 / 365.0 * term_var[nxt] * (1.0 - w1)
        if total > 0.0:
            out[d] = math.sqrt(total * 365.0 / tenor_days)
    return out
