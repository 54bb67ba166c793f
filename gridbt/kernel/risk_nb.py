"""Scalar kernels of the risk layer: stress loss, margin, hedge band, Kelly and vol-target sizing
(semantics: docs/semantics.md, "Risk layer").

Array contract. Per-leg inputs are float64 or int64 arrays of length >= `n_legs` (only the
first `n_legs` entries are read): `units` = signed units `u_i` (side * direction * qty),
`right` = +1 call / -1 put, `strike`, `expiry` (int days since 1970-01-01), `iv` (decimal, NaN =
unknown), `mark` (currency per option), `delta` (per 1.0 of spot, NaN counts as 0). `today` is
the day's date (int days), `spot` the day's underlying price, `mult` the contract multiplier.
`scen` is the scenario block of the parameter vector (`contract.P_SCEN0 ..`), `SCEN_SIZE` values
per scenario laid out by `contract.S`. Results are per structure contract (no `N`). Only
`stress_worst_nb` allocates: its `n_legs` unshocked prices, once per call.
"""

import math

import numpy as np

from gridbt.data.blackscholes_nb import bs_price_nb
from gridbt.kernel.cache import njit
from gridbt.kernel.contract import SCEN_SIZE, S

#: Raw sizing counts above this are capped (docs/semantics.md, notation).
MAX_COUNT = 1e9
SQRT_252 = math.sqrt(252.0)


@njit(cache=True, nogil=True)
def floor_count_nb(a, b, c):
    """`floor(a * b / c)` left to right, capped at MAX_COUNT; +inf when `c <= 0`."""
    if not c > 0.0:
        return math.inf
    return min(np.floor(a * b / c), MAX_COUNT)


@njit(cache=True, nogil=True)
def per_contract_nb(units, greek, n_legs, mult):
    """`Σ_i u_i m g_i`, a greek per structure contract (`Δc`, `Γc`); a non-finite greek counts
    as 0."""
    total = 0.0
    for i in range(n_legs):
        g = greek[i]
        if g == g:
            total += units[i] * mult * g
    return total


@njit(cache=True, nogil=True)
def sigma_bar_nb(units, iv, n_legs):
    """`σ̄ = Σ|u_i|σ_i / Σ|u_i|` (NaN when some σ_i is NaN)."""
    num = 0.0
    den = 0.0
    for i in range(n_legs):
        a = abs(units[i])
        num += a * iv[i]
        den += a
    return num / den


@njit(cache=True, nogil=True)
def stress_worst_nb(
    spot, today, units, right, strike, expiry, iv, n_legs, mult, rate, dividend, scen, n_scen,
    hedged, hedge_per_contract,
):
    """Worst stress loss per contract and the index of its scenario: `(W, s)`.

    `hedged` adds `hedge_per_contract * S * ds` (the entry hedge, `target - Δc`) to every
    point. Returns `(NaN, -1)` when some leg's iv is not finite; `W = max(-min_s pnl_s, 0)`,
    the first scenario attaining the minimum wins.
    """
    for i in range(n_legs):
        if not math.isfinite(iv[i]):
            return math.nan, -1
    base_price = np.empty(n_legs)  # unshocked model prices, once per call
    for i in range(n_legs):
        base_price[i] = bs_price_nb(
            spot, strike[i], (expiry[i] - today) / 365.0, rate, dividend, iv[i], right[i] > 0
        )
    worst = math.inf
    worst_s = -1
    for s in range(n_scen):
        base = s * SCEN_SIZE
        ds = scen[base + S.spot]
        dv = scen[base + S.vol]
        drr = scen[base + S.rr]
        dr = scen[base + S.rate]
        dt = scen[base + S.years]
        shocked_spot = spot * (1.0 + ds)
        pnl = 0.0
        for i in range(n_legs):
            is_call = right[i] > 0
            rho = 1.0 if is_call else -1.0
            years = (expiry[i] - today) / 365.0
            p0 = base_price[i]
            ps = bs_price_nb(
                shocked_spot, strike[i], years - dt, rate + dr, dividend,
                iv[i] + dv + rho * drr / 2.0, is_call,
            )
            pnl += units[i] * mult * (ps - p0)
        if hedged:
            pnl += hedge_per_contract * spot * ds
        if pnl < worst:
            worst = pnl
            worst_s = s
    if worst_s < 0:
        return 0.0, -1
    return max(-worst, 0.0), worst_s


@njit(cache=True, nogil=True)
def _intrinsic_nb(is_call, x, k):
    return max(x - k, 0.0) if is_call else max(k - x, 0.0)


@njit(cache=True, nogil=True)
def regt_margin_nb(
    spot, units, right, strike, expiry, mark, n_legs, mult, broad_index, min_underlying_pct,
    min_put_pct, house_multiplier, house_floor,
):
    """Reg-T initial margin per contract `IMc` at marks `mark` (straddle/strangle rule and the
    spread-at-max-loss rule included)."""
    base = 0.15 if broad_index else 0.20
    naked = 0.0
    n_long = 0
    n_short_call = 0
    n_short_put = 0
    req_call = 0.0
    req_put = 0.0
    mark_call = 0.0
    mark_put = 0.0
    units_call = 0.0
    units_put = 0.0
    call_units = 0.0
    long_value = 0.0
    one_expiry = True
    for i in range(n_legs):
        u = units[i]
        k = strike[i]
        is_call = right[i] > 0
        if is_call:
            call_units += u
        if expiry[i] != expiry[0]:
            one_expiry = False
        if u > 0:
            req = mark[i] * mult
            n_long += 1
            long_value += u * mark[i]
        elif is_call:
            req = mark[i] * mult + max(
                base * spot * mult - max(k - spot, 0.0) * mult, min_underlying_pct * spot * mult
            )
            n_short_call += 1
            req_call = req
            mark_call = mark[i]
            units_call = abs(u)
        else:
            req = mark[i] * mult + max(
                base * spot * mult - max(spot - k, 0.0) * mult, min_put_pct * k * mult
            )
            n_short_put += 1
            req_put = req
            mark_put = mark[i]
            units_put = abs(u)
        naked += abs(u) * req
    if n_long == 0 and n_short_call == 1 and n_short_put == 1 and units_call == units_put:
        naked = units_call * max(req_call + mark_put * mult, req_put + mark_call * mult)
    req_total = naked
    if one_expiry and n_long > 0 and call_units >= 0.0:
        low = 0.0
        for j in range(-1, n_legs):
            x = 0.0 if j < 0 else strike[j]
            payoff = 0.0
            for i in range(n_legs):
                payoff += units[i] * _intrinsic_nb(right[i] > 0, x, strike[i])
            if j < 0 or payoff < low:
                low = payoff
        spread = mult * (long_value + max(0.0, -low))
        req_total = min(naked, spread)
    return max(req_total * house_multiplier, house_floor)


@njit(cache=True, nogil=True)
def pm_margin_nb(worst_loss, stress_multiplier, minimum, house_multiplier, house_floor):
    """Portfolio-margin proxy per contract from the unhedged worst stress loss `W`."""
    return max(max(worst_loss * stress_multiplier, minimum) * house_multiplier, house_floor)


@njit(cache=True, nogil=True)
def ww_half_width_nb(ww_c, fee, gamma_c, sigma_bar, spot, ww_min, ww_max):
    """Whalley–Wilmott band half-width per contract, clamped to [ww_min, ww_max]."""
    scale = abs(gamma_c) * sigma_bar * spot**2
    if not (math.isfinite(sigma_bar) and scale > 0.0):
        return ww_max
    if fee == 0.0:
        return ww_min
    hw = ww_c * (fee / scale) ** (1.0 / 3.0)
    return min(max(hw, ww_min), ww_max)


@njit(cache=True, nogil=True)
def kelly_star_nb(n, wins, losses, sum_wins, sum_losses):
    """Kelly fraction `f*` from `n` closed rows, `wins` with P&L > 0 summing to `sum_wins` and
    `losses` with P&L < 0 summing to `sum_losses` (negative)."""
    if wins == 0:
        return 0.0
    p = wins / n
    if losses == 0:
        return p
    b = (sum_wins / wins) / (-sum_losses / losses)
    return p - (1.0 - p) / b


@njit(cache=True, nogil=True)
def vol_target_sd_nb(delta_c, gamma_c, spot, sigma_bar):
    """One-day P&L standard deviation per contract, delta-gamma normal approximation."""
    sigma_d = sigma_bar / SQRT_252
    a = delta_c * spot * sigma_d
    b = gamma_c * spot**2 * sigma_d**2
    return math.sqrt(a**2 + 0.5 * b**2)


@njit(cache=True, nogil=True)
def hedge_clip_nb(q, min_trade, max_trade):
    """Clip `q` to `max_trade` (NaN = no cap), then 0 when below `min_trade` or exactly 0."""
    if abs(q) > max_trade:
        q = max_trade if q > 0.0 else -max_trade
    if abs(q) < min_trade or q == 0.0:
        return 0.0
    return q


@njit(cache=True, nogil=True)
def hedge_fill_nb(q, spot, bps, commission):
    """A hedge trade of `q` shares: `(share cash flow, commission cash flow, cost)`, cash flows
    signed as cash moves (`-q * fill`, `-|q| * commission`), cost >= 0."""
    sign = 1.0 if q > 0.0 else -1.0
    fill = spot * (1.0 + sign * bps / 1e4)
    size = abs(q)
    fee = size * commission
    return -q * fill, -fee, size * spot * bps / 1e4 + fee
