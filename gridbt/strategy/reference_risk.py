"""Plain-Python risk computations of the reference backtest (docs/semantics.md, "Risk layer").

Written for clarity and independently of the numba kernel: Black–Scholes–Merton repricing,
stress worst loss, Reg-T and portfolio-margin initial margin, the Whalley–Wilmott band,
Kelly's fraction and the volatility-target size. Legs come in as `RiskLeg` values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from gridbt.strategy.spec import MarginConfig
from gridbt.strategy.stress import Scenario

__all__ = [
    "MAX_COUNT",
    "RiskLeg",
    "bs_price",
    "floor_count",
    "kelly_optimal_fraction",
    "mean_vol",
    "pm_margin",
    "regt_margin",
    "stress_worst",
    "vol_target_count",
    "ww_half_width",
]

MAX_COUNT = 1e9  # a huge contract count is capped here
_CALL = 1


@dataclass(frozen=True)
class RiskLeg:
    """One open leg as the risk layer sees it: signed units per structure contract, right
    (+1 call, -1 put), strike, years to expiry, own implied vol and option mark."""

    units: float
    right: int
    strike: float
    years: float
    vol: float
    mark: float


def _norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def bs_price(
    spot: float, strike: float, years: float, rate: float, dividend: float, vol: float, right: int
) -> float:
    """Black–Scholes–Merton price; intrinsic at `years <= 0`, discounted forward intrinsic at
    `vol <= 0`."""
    if years <= 0.0:
        return max(right * (spot - strike), 0.0)
    df_q = math.exp(-dividend * years)
    df_r = math.exp(-rate * years)
    if vol <= 0.0:
        return max(right * (spot * df_q - strike * df_r), 0.0)
    sd = vol * math.sqrt(years)
    d1 = (math.log(spot / strike) + (rate - dividend) * years) / sd + 0.5 * sd
    d2 = d1 - sd
    if right == _CALL:
        return spot * df_q * _norm_cdf(d1) - strike * df_r * _norm_cdf(d2)
    return strike * df_r * _norm_cdf(-d2) - spot * df_q * _norm_cdf(-d1)


def stress_worst(
    legs: Sequence[RiskLeg],
    spot: float,
    multiplier: float,
    rate: float,
    dividend: float,
    shocks: Sequence[Scenario],
    hedge_delta: float = 0.0,
) -> tuple[float, int]:
    """Worst stress loss per contract `W >= 0` and the first scenario attaining the minimum
    P&L; (NaN, -1) when some leg's vol is not finite. `hedge_delta` (shares per contract,
    target minus options delta) adds the entry hedge's P&L `hedge_delta * spot * ds`."""
    if not legs or any(not math.isfinite(leg.vol) for leg in legs):
        return math.nan, -1
    base = [
        bs_price(spot, leg.strike, leg.years, rate, dividend, leg.vol, leg.right) for leg in legs
    ]
    worst_pnl, worst = math.inf, -1
    for s, shock in enumerate(shocks):
        pnl = 0.0
        for leg, p0 in zip(legs, base, strict=True):
            shocked = bs_price(
                spot * (1.0 + shock.spot),
                leg.strike,
                leg.years - shock.time_days / 365.0,
                rate + shock.rate,
                dividend,
                leg.vol + shock.vol + leg.right * shock.risk_reversal / 2.0,
                leg.right,
            )
            pnl += leg.units * multiplier * (shocked - p0)
        pnl += hedge_delta * spot * shock.spot
        if pnl < worst_pnl:  # the first minimum wins
            worst_pnl, worst = pnl, s
    return max(-worst_pnl, 0.0), worst


def _regt_leg(leg: RiskLeg, spot: float, m: float, base: float, config: MarginConfig) -> float:
    """Reg-T requirement of one unit of a leg (long: its value; short: value plus the
    naked add-on)."""
    value = leg.mark * m
    if leg.units > 0:
        return value
    if leg.right == _CALL:
        otm = max(leg.strike - spot, 0.0)
        return value + max(base * spot * m - otm * m, config.min_underlying_pct * spot * m)
    otm = max(spot - leg.strike, 0.0)
    return value + max(base * spot * m - otm * m, config.min_put_pct * leg.strike * m)


def _payoff_floor(legs: Sequence[RiskLeg]) -> float:
    """min over x in {0} and the strikes of the expiry payoff sum u_i * intrinsic_i(x)."""
    points = [0.0] + [leg.strike for leg in legs]
    return min(
        sum(leg.units * max(leg.right * (x - leg.strike), 0.0) for leg in legs) for x in points
    )


def regt_margin(
    legs: Sequence[RiskLeg], expiries: Sequence[int], spot: float, m: float, config: MarginConfig
) -> float:
    """Reg-T style initial margin per structure contract, house rules applied."""
    base = 0.15 if config.broad_index else 0.20
    req = [_regt_leg(leg, spot, m, base, config) for leg in legs]
    shorts = [i for i, leg in enumerate(legs) if leg.units < 0]
    longs = [i for i, leg in enumerate(legs) if leg.units > 0]
    short_rights = sorted(legs[i].right for i in shorts)
    if (
        not longs
        and len(shorts) == 2
        and short_rights == [-1, 1]
        and abs(legs[shorts[0]].units) == abs(legs[shorts[1]].units)
    ):
        call = shorts[0] if legs[shorts[0]].right == _CALL else shorts[1]
        put = shorts[1] if call == shorts[0] else shorts[0]
        units = abs(legs[call].units)
        naked = units * max(req[call] + legs[put].mark * m, req[put] + legs[call].mark * m)
    else:
        naked = sum(abs(leg.units) * r for leg, r in zip(legs, req, strict=True))
    net_call_units = sum(leg.units for leg in legs if leg.right == _CALL)
    total = naked
    if len(set(expiries)) == 1 and longs and net_call_units >= 0:
        long_value = sum(legs[i].units * legs[i].mark for i in longs)
        spread = m * (long_value + max(0.0, -_payoff_floor(legs)))
        total = min(naked, spread)
    return max(total * config.house_multiplier, config.house_floor)


def pm_margin(worst: float, config: MarginConfig) -> float:
    """Portfolio-margin proxy per contract from the unhedged worst stress loss."""
    return max(
        max(worst * config.stress_multiplier, config.minimum) * config.house_multiplier,
        config.house_floor,
    )


def floor_count(a: float, b: float, c: float) -> float:
    """floor(a * b / c) evaluated left to right, capped at MAX_COUNT; +inf when `c <= 0`."""
    if not c > 0:
        return math.inf
    x = a * b / c
    return MAX_COUNT if x >= MAX_COUNT else float(math.floor(x))


def kelly_optimal_fraction(pnls: Sequence[float]) -> float:
    """Kelly's f* from closed trade P&Ls (0 without wins, the win rate without losses)."""
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p < 0]
    n, w, l = len(pnls), len(wins), len(losses)
    if w == 0:
        return 0.0
    p = w / n
    if l == 0:
        return p
    b = (math.fsum(wins) / w) / (-math.fsum(losses) / l)
    return p - (1.0 - p) / b


def mean_vol(legs: Sequence[RiskLeg]) -> float:
    """The |units|-weighted mean implied vol of the legs (NaN when one is not finite)."""
    weight = sum(abs(leg.units) for leg in legs)
    return sum(abs(leg.units) * leg.vol for leg in legs) / weight


def vol_target_count(
    equity: float, target: float, delta: float, gamma: float, spot: float, sigma: float
) -> float:
    """Contracts whose delta-gamma normal P&L volatility is `target` of equity per year."""
    sigma_d = sigma / math.sqrt(252.0)
    sd = math.sqrt((delta * spot * sigma_d) ** 2 + 0.5 * (gamma * spot**2 * sigma_d**2) ** 2)
    return floor_count(equity, target, sd * math.sqrt(252.0))


def ww_half_width(
    c: float, fee: float, gamma: float, sigma: float, spot: float, low: float, high: float
) -> float:
    """Whalley–Wilmott half-width c * (fee / (|gamma| sigma spot^2))^(1/3), clamped to
    [low, high]; `high` without gamma exposure or a finite vol, `low` without a fee."""
    scale = abs(gamma) * sigma * spot**2
    if not math.isfinite(sigma) or not scale > 0:
        return high
    if fee == 0:
        return low
    width: float = c * (fee / scale) ** (1.0 / 3.0)
    return min(max(width, low), high)
