"""Implied-volatility surface, bid/ask quotes and trading activity of the synthetic chain."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from gridbt._typing import BoolArray, FloatArray, IntArray
from gridbt.data import blackscholes

if TYPE_CHECKING:
    from gridbt.data.synth import MarketModel

UInt64Array = npt.NDArray[np.uint64]

#: Quoted spread before rounding: (base + slope × value) × (1 + moneyness × |z|)
#: × (1 + tenor × years) × sqrt(stress), stress = ATM vol / 15% clipped to [0.75, 4].
_SPREAD_BASE = 0.05
_SPREAD_SLOPE = 0.012
_SPREAD_MONEYNESS = 0.12
_SPREAD_TENOR = 0.5
#: CBOE ticks for SPX: 0.05 below 3.00, 0.10 from 3.00.
_TICK_CHEAP, _TICK, _TICK_SWITCH = 0.05, 0.10, 3.0
#: Options worth less than this are quoted with a zero bid.
_ZERO_BID_BELOW = 0.075


def atm_vol(
    variance: FloatArray,
    premium: FloatArray,
    years: FloatArray,
    market: MarketModel,
    long_run: float,
) -> FloatArray:
    """Return at-the-money implied vol: risk-neutral expected average variance to expiry.

    Variance mean-reverts towards `long_run` (which includes jump variance) at the
    risk-neutral speed, so the term structure slopes up when variance is below its long-run
    level and inverts after a shock; `premium` scales it to carry the variance risk premium.
    """
    speed = market.vol_reversion * market.risk_neutral_reversion * years
    weight = np.where(speed > 1e-8, -np.expm1(-speed) / np.maximum(speed, 1e-8), 1.0)
    expected = long_run + (variance - long_run) * weight
    return np.asarray(np.sqrt(premium * expected), dtype=np.float64)


def smile(z: FloatArray, skew: FloatArray, market: MarketModel) -> FloatArray:
    """Return implied vol over ATM vol at standardised log-moneyness `z`.

    A put skew that saturates (tanh) plus a hyperbolic smile. `z` is log-moneyness over the
    ATM standard deviation, so per unit of log-moneyness the skew is steeper for short expiries.
    """
    width = market.skew_width
    slope = market.skew_slope * skew
    curve = market.skew_curvature * (np.sqrt(z * z + 1.0) - 1.0)
    return np.asarray(np.maximum(1.0 - slope * width * np.tanh(z / width) + curve, 0.3))


def quote(
    theo: FloatArray, z: FloatArray, years: FloatArray, atm: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Return (bid, ask) on the tick grid around the theoretical value `theo`.

    `bid <= theo <= ask`; spreads widen in relative terms for cheap, far-from-the-money,
    long-dated options and in stressed markets, and cheap options get a zero bid.
    """
    stress = np.sqrt(np.clip(atm / 0.15, 0.75, 4.0))
    spread = (_SPREAD_BASE + _SPREAD_SLOPE * theo) * (1.0 + _SPREAD_MONEYNESS * np.abs(z))
    half = 0.5 * spread * (1.0 + _SPREAD_TENOR * years) * stress
    tick = np.where(theo < _TICK_SWITCH, _TICK_CHEAP, _TICK)
    bid_ticks = np.maximum(np.floor((theo - half) / tick), 0.0)
    ask_ticks = np.maximum(np.ceil((theo + half) / tick), 1.0)
    bid = np.round(bid_ticks * tick, 2)
    ask = np.round(ask_ticks * tick, 2)
    cheap = theo < _ZERO_BID_BELOW
    bid = np.where(cheap, 0.0, bid)
    ask = np.where(cheap, np.where(theo < 0.5 * _TICK_CHEAP, _TICK_CHEAP, 2 * _TICK_CHEAP), ask)
    return bid, ask


def activity(
    z: FloatArray,
    strike: FloatArray,
    is_call: BoolArray,
    days_to_expiry: IntArray,
    monthly: BoolArray,
    quarterly: BoolArray,
    atm: FloatArray,
    contract_key: tuple[IntArray, ...],
    day_key: IntArray,
    seed: int,
) -> tuple[IntArray, IntArray]:
    """Return (volume, open interest): most near the money, on near and standard expiries.

    Open interest carries a per-contract factor that is stable from day to day; volume is
    exponential noise around its level, so far strikes often trade nothing.
    """
    out_of_money = np.where(is_call, z > 0.0, z < 0.0)
    side = np.where(out_of_money, np.where(is_call, 1.0, 1.5), 0.35)
    cents = np.rint(strike * 100.0).astype(np.int64)
    round_strike = np.where(
        cents % 10_000 == 0,
        2.5,
        np.where(cents % 5_000 == 0, 1.7, np.where(cents % 2_500 == 0, 1.25, 1.0)),
    )
    listing = 1.0 + 1.5 * monthly + 1.0 * quarterly
    common = side * round_strike * listing

    regime = np.clip(atm / 0.15, 0.7, 3.0)
    tenor = (10.0 / (days_to_expiry + 10.0)) ** 0.8
    volume_level = 1500.0 * np.exp(-0.5 * (z / 0.9) ** 2) * tenor * regime * common
    contract = _hash(seed, *contract_key)
    daily = _hash(seed, day_key, *contract_key)
    volume = np.floor(volume_level * -np.log1p(-_uniform(daily)))

    stable = np.exp(0.6 * _normal(contract) - 0.18)
    wobble = 0.85 + 0.3 * _uniform(_mix(daily ^ np.uint64(0x5851F42D4C957F2D)))
    oi_level = 2500.0 * np.exp(-0.5 * (z / 1.6) ** 2) * listing * common * stable * wobble
    open_interest = np.floor(oi_level / (1.0 + days_to_expiry / 365.0))
    return volume.astype(np.int64), open_interest.astype(np.int64)


def _mix(x: UInt64Array) -> UInt64Array:
    """splitmix64 finaliser: a bijective avalanche of 64-bit keys."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _hash(seed: int, *keys: IntArray) -> UInt64Array:
    """Hash integer key columns and the seed into uniformly spread 64-bit words."""
    state = np.full(keys[0].shape, seed, dtype=np.uint64)
    state = _mix(state + np.uint64(0x9E3779B97F4A7C15))
    for key in keys:
        state = _mix(state ^ key.astype(np.int64).view(np.uint64))
    return state


def _uniform(bits: UInt64Array) -> FloatArray:
    """Map 64-bit words to floats in [0, 1)."""
    return (bits >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _normal(bits: UInt64Array) -> FloatArray:
    """Map 64-bit words to standard normals (Box–Muller on two derived uniforms)."""
    first = _uniform(bits)
    second = _uniform(_mix(bits ^ np.uint64(0xD1B54A32D192ED03)))
    return np.sqrt(-2.0 * np.log1p(-first)) * np.cos(2.0 * np.pi * second)


def atm_for_variance_swap(
    level: FloatArray,
    skew: FloatArray,
    years: float,
    market: MarketModel,
    *,
    range_sd: float,
    moneyness_bounds: tuple[float, float],
) -> FloatArray:
    """Return the ATM vol whose smile has the variance-swap vol `level` at tenor `years`.

    The variance swap is the (undiscounted, forward-normalised) out-of-the-money strip
    ``2/T ∫ OTM(k) e^-k dk`` over the strikes the chain lists, within ``range_sd`` ATM
    deviations and `moneyness_bounds`; solved by fixed-point iteration on the ratio of the
    strip's vol to the ATM vol, which depends on the ATM vol only through the strike bounds.
    """
    unit = np.linspace(-1.0, 1.0, 801)
    atm = np.asarray(level, dtype=np.float64).copy()
    root = np.sqrt(years)
    low, high = np.log(moneyness_bounds[0]), np.log(moneyness_bounds[1])
    for _ in range(4):
        deviation = atm * root
        k_low = np.maximum(-range_sd * deviation, low)
        k_high = np.minimum(range_sd * deviation, high)
        k = np.where(unit < 0.0, -unit * k_low[:, None], unit * k_high[:, None])
        z = k / deviation[:, None]
        iv = atm[:, None] * smile(z, skew[:, None], market)
        is_call = np.broadcast_to(k > 0.0, k.shape)
        otm = blackscholes.price(1.0, np.exp(k), years, 0.0, 0.0, iv, is_call)
        integrand = otm * np.exp(-k)
        strip = np.sum(0.5 * (integrand[:, 1:] + integrand[:, :-1]) * np.diff(k, axis=1), axis=1)
        swap = np.sqrt(np.maximum(2.0 / years * strip, 1e-12))
        atm = atm * level / swap
    return atm
