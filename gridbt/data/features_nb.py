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
