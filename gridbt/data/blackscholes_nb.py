"""Black–Scholes–Merton pricing, greeks and implied volatility as numba scalar kernels.

Array contract: every `*_nb` loop takes flat, equal-length float64 arrays (bool for `is_call`)
and writes into preallocated outputs. Units: `years` is calendar days / 365, rates and
dividend yields are continuous decimals, `vol` is a decimal. Greeks: delta and gamma per 1.0
of underlying, vega per volatility point (0.01), theta per calendar day. NaN in, NaN out.
At or after expiry (`years <= 0`) the price is intrinsic and gamma, vega and theta are 0.
"""

import math

import numpy as np
from numba import njit

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
IV_MIN = 1e-4
IV_MAX = 5.0


@njit(cache=True, nogil=True)
def norm_cdf_nb(x):
    return 0.5 * math.erfc(-x / _SQRT2)


@njit(cache=True, nogil=True)
def norm_pdf_nb(x):
    return _INV_SQRT_2PI * math.exp(-0.5 * x * x)


@njit(cache=True, nogil=True)
def bs_price_nb(spot, strike, years, rate, dividend, vol, is_call):
    if years <= 0.0:
        return max(spot - strike, 0.0) if is_call else max(strike - spot, 0.0)
    df_q = math.exp(-dividend * years)
    df_r = math.exp(-rate * years)
    if vol <= 0.0:
        fwd_value = spot * df_q - strike * df_r
        return max(fwd_value, 0.0) if is_call else max(-fwd_value, 0.0)
    sd = vol * math.sqrt(years)
    d1 = (math.log(spot / strike) + (rate - dividend) * years) / sd + 0.5 * sd
    d2 = d1 - sd
    if is_call:
        return spot * df_q * norm_cdf_nb(d1) - strike * df_r * norm_cdf_nb(d2)
    return strike * df_r * norm_cdf_nb(-d2) - spot * df_q * norm_cdf_nb(-d1)


@njit(cache=True, nogil=True)
def bs_greeks_nb(spot, strike, years, rate, dividend, vol, is_call):
    """Return (delta, gamma, vega per vol point, theta per calendar day)."""
    if years <= 0.0 or vol <= 0.0:
        itm = spot > strike if is_call else spot < strike
        delta = (1.0 if is_call else -1.0) if itm else 0.0
        return delta, 0.0, 0.0, 0.0
    df_q = math.exp(-dividend * years)
    df_r = math.exp(-rate * years)
    sqrt_t = math.sqrt(years)
    sd = vol * sqrt_t
    d1 = (math.log(spot / strike) + (rate - dividend) * years) / sd + 0.5 * sd
    d2 = d1 - sd
    pdf = norm_pdf_nb(d1)
    gamma = df_q * pdf / (spot * sd)
    vega = spot * df_q * pdf * sqrt_t / 100.0
    decay = -spot * df_q * pdf * vol / (2.0 * sqrt_t)
    if is_call:
        delta = df_q * norm_cdf_nb(d1)
        theta = (
            decay
            - rate * strike * df_r * norm_cdf_nb(d2)
            + dividend * spot * df_q * norm_cdf_nb(d1)
        )
    else:
        delta = -df_q * norm_cdf_nb(-d1)
        theta = (
            decay
            + rate * strike * df_r * norm_cdf_nb(-d2)
            - dividend * spot * df_q * norm_cdf_nb(-d1)
        )
    return delta, gamma, vega, theta / 365.0


@njit(cache=True, nogil=True)
def implied_vol_nb(price, spot, strike, years, rate, dividend, is_call):
    """Safeguarded Newton on [IV_MIN, IV_MAX]; NaN when the price admits no volatility."""
    if not (price == price and spot > 0.0 and strike > 0.0 and years > 0.0):
        return np.nan
    lower = bs_price_nb(spot, strike, years, rate, dividend, IV_MIN, is_call)
    upper = bs_price_nb(spot, strike, years, rate, dividend, IV_MAX, is_call)
    tol = 1e-10 * max(1.0, price)
    if price < lower - tol or price > upper + tol:
        return np.nan
    if price <= lower:
        return IV_MIN
    lo, hi = IV_MIN, IV_MAX
    vol = 0.2
    for _ in range(100):
        value = bs_price_nb(spot, strike, years, rate, dividend, vol, is_call)
        diff = value - price
        if diff == 0.0:
            return vol
        if diff > 0.0:
            hi = vol
        else:
            lo = vol
        vega = bs_greeks_nb(spot, strike, years, rate, dividend, vol, is_call)[2] * 100.0
        step_ok = False
        if vega > 1e-12:
            step = diff / vega
            candidate = vol - step
            if lo < candidate < hi:
                # converge on the vol step, not the price residual: a residual relative to a
                # large price leaves low-vega (deep in-the-money) vols wrong by up to 1e-5
                if abs(step) < 1e-10:
                    return candidate
                vol = candidate
                step_ok = True
        if not step_ok:
            vol = 0.5 * (lo + hi)
        if hi - lo < 1e-12:
            return vol
    return vol


@njit(cache=True, nogil=True)
def bs_price_array_nb(spot, strike, years, rate, dividend, vol, is_call, out):
    for i in range(out.shape[0]):
        out[i] = bs_price_nb(spot[i], strike[i], years[i], rate[i], dividend[i], vol[i], is_call[i])


@njit(cache=True, nogil=True)
def bs_greeks_array_nb(
    spot, strike, years, rate, dividend, vol, is_call, delta, gamma, vega, theta
):
    for i in range(delta.shape[0]):
        d, g, v, t = bs_greeks_nb(
            spot[i], strike[i], years[i], rate[i], dividend[i], vol[i], is_call[i]
        )
        delta[i] = d
        gamma[i] = g
        vega[i] = v
        theta[i] = t


@njit(cache=True, nogil=True)
def implied_vol_array_nb(price, spot, strike, years, rate, dividend, is_call, out):
    for i in range(out.shape[0]):
        out[i] = implied_vol_nb(
            price[i], spot[i], strike[i], years[i], rate[i], dividend[i], is_call[i]
        )
