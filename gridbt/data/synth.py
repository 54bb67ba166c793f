"""Deterministic synthetic SPX-like end-of-day option chain: the embedded default data set.

An index path with stochastic volatility and downward jumps, an implied-volatility surface
carrying a variance risk premium, put skew and a regime-dependent term structure, and
Black–Scholes–Merton quotes on a realistic SPX expiry and strike listing. The same profile and
seed always give byte-identical tables. See ``docs/synthetic_chain.md``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from gridbt._typing import FloatArray, Int32Array, IntArray
from gridbt.data import blackscholes, schema
from gridbt.data._history_model import build_path
from gridbt.data._synth_listing import (
    ExpirySchedule,
    accumulate_reach,
    expiry_schedule,
    listed_expiries,
    step_scale,
    strike_grid,
    strike_reach,
)
from gridbt.data._synth_path import STEP_YEARS, MarketPath, long_run_variance, simulate_path
from gridbt.data._synth_quotes import activity, atm_for_variance_swap, atm_vol, quote, smile
from gridbt.data.calendar import trading_days
from gridbt.data.errors import DataError

__all__ = [
    "PROFILES",
    "MarketModel",
    "SynthProfile",
    "synthesize_batches",
    "synthesize_chain",
]

UNDERLYING = "SPX"
#: Tenor of the variance swap the history chain's level is set at (the VIX's 30 days).
VARIANCE_SWAP_DAYS = 30
#: A day whose log-return is below this is flagged a jump on the real path.
JUMP_RETURN = -0.04


@dataclass(frozen=True)
class MarketModel:
    """Parameters of the simulated index, its variance and its implied-volatility surface.

    Rates are per year; the index is simulated in trading-day steps (1/252 year).
    """

    #: Expected arithmetic return of the index (jumps compensated), per year.
    drift: float = 0.08
    #: Median of the diffusive volatility; its log-variance reverts to ``2 log vol_median``.
    vol_median: float = 0.125
    #: Mean-reversion speed of log-variance, per year.
    vol_reversion: float = 5.0
    #: Volatility of log-variance, per square-root year.
    vol_of_vol: float = 1.5
    #: Correlation of index and log-variance shocks (leverage effect).
    correlation: float = -0.7
    #: Bounds on the diffusive volatility.
    vol_floor: float = 0.05
    vol_cap: float = 0.8
    #: Expected number of index jumps per year at the median variance; the intensity scales
    #: with ``(variance / vol_median**2) ** jump_clustering`` so crashes cluster in stress.
    jump_intensity: float = 0.6
    jump_clustering: float = 0.5
    #: A jump's log-return is ``-(jump_floor + Exp(jump_mean))``.
    jump_floor: float = 0.015
    jump_mean: float = 0.025
    #: A jump J raises log-variance by ``spike_base + spike_scale * |J|``.
    spike_base: float = 0.6
    spike_scale: float = 16.0
    #: Median of the risk-neutral over physical variance multiplier (the variance premium).
    premium_median: float = 1.35
    premium_reversion: float = 4.0
    premium_vol: float = 0.5
    #: Jump of the log variance premium on a crash day (fear).
    premium_spike: float = 0.3
    #: Bounds on the variance premium multiplier.
    premium_floor: float = 0.8
    premium_cap: float = 2.2
    #: Risk-neutral over physical mean-reversion speed of variance (slower: longer memory).
    risk_neutral_reversion: float = 0.6
    #: Put-skew slope per standardised-moneyness unit, and its saturation width. At the money
    #: the slope of implied vol per unit of log-moneyness is ``-skew_slope / sqrt(years)``.
    skew_slope: float = 0.3
    skew_width: float = 1.5
    #: Smile curvature (both wings).
    skew_curvature: float = 0.12
    #: Mean reversion and volatility of the log skew multiplier.
    skew_reversion: float = 3.0
    skew_vol: float = 0.4


@dataclass(frozen=True)
class SynthProfile:
    """Size and listing rules of a synthetic chain.

    Weekly (Friday) expiries are listed up to `weekly_horizon_days` calendar days ahead, or only
    the third-Friday monthlies when `weeklies` is false; quarterly expiries (third Friday of
    March, June, September, December) up to `quarterly_horizon_days`. Each day strikes reach
    ``±strike_range_sd`` at-the-money standard deviations, within `moneyness_bounds`, and a
    strike once listed stays listed until its expiry. Strike steps (5 points near the money
    for short expiries) double for expiries listed once the index has reached
    `step_doubling_spot`, and again at each further doubling, keeping the chain's size stable.
    """

    name: str
    n_days: int
    start: dt.date
    spot: float = 1800.0
    weeklies: bool = True
    weekly_horizon_days: int = 120
    quarterly_horizon_days: int = 365
    strike_range_sd: float = 4.0
    moneyness_bounds: tuple[float, float] = (0.4, 1.5)
    step_doubling_spot: float = 3000.0
    market: MarketModel = field(default_factory=MarketModel)
    #: Third-Friday monthlies are listed up to this many days ahead (None: the weekly horizon).
    monthly_horizon_days: int | None = None
    #: Weeklies (when `weeklies`) are listed only from this day on (None: from the start).
    weeklies_from: dt.date | None = None
    #: Build on the real S&P 500 path of 1999–2018 (`arch.data.sp500`) with the implied-vol
    #: level anchored to the real VIX, instead of a simulated path; `n_days`, `start` and
    #: `spot` are then those of the data. See ``docs/history_chain.md``.
    real_path: bool = False


PROFILES: dict[str, SynthProfile] = {
    "history": SynthProfile(
        name="history",
        n_days=5031,
        start=dt.date(1999, 1, 4),
        spot=1228.10,
        weekly_horizon_days=45,
        monthly_horizon_days=120,
        quarterly_horizon_days=365,
        weeklies_from=dt.date(2005, 10, 3),
        real_path=True,
    ),
    "synthetic": SynthProfile(name="synthetic", n_days=2520, start=dt.date(2014, 1, 2)),
    "small": SynthProfile(
        name="small",
        n_days=252,
        start=dt.date(2014, 1, 2),
        weeklies=False,
        weekly_horizon_days=70,
        quarterly_horizon_days=200,
        strike_range_sd=3.0,
    ),
}


def synthesize_chain(
    profile: str | SynthProfile = "history",
    seed: int = 7,
    *,
    rate: float = 0.02,
    dividend: float = 0.015,
) -> pa.Table:
    """Build a synthetic SPX end-of-day chain in canonical schema and order.

    Parameters
    ----------
    profile
        A name in `PROFILES` or a `SynthProfile`.
    seed
        Non-negative seed; equal seeds give byte-identical tables.
    rate, dividend
        Continuously compounded risk-free rate and dividend yield used for pricing.

    Returns
    -------
    pyarrow.Table
        `schema.CHAIN_SCHEMA`, sorted by `schema.SORT_KEYS`, one chunk per column.
    """
    batches = list(synthesize_batches(profile, seed, rate=rate, dividend=dividend))
    return pa.concat_tables(batches).combine_chunks()


def synthesize_batches(
    profile: str | SynthProfile = "history",
    seed: int = 7,
    *,
    rate: float = 0.02,
    dividend: float = 0.015,
) -> Iterator[pa.Table]:
    """Yield the chain of `synthesize_chain` one calendar year at a time.

    Each batch is canonical and sorted; concatenated in order they equal `synthesize_chain`.
    """
    resolved = _resolve(profile)
    _check_arguments(seed, rate, dividend)
    return _batches(resolved, int(seed), float(rate), float(dividend))


def _batches(resolved: SynthProfile, seed: int, rate: float, dividend: float) -> Iterator[pa.Table]:
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))
    horizon = max(
        resolved.weekly_horizon_days,
        resolved.quarterly_horizon_days,
        resolved.monthly_horizon_days or 0,
    )
    if resolved.real_path:
        days, path, long_run = _history_path(resolved, rng)
        schedule = _on_days(expiry_schedule(int(days[0]), int(days[-1]) + horizon), days)
    else:
        days = _trading_days(resolved.start, resolved.n_days)
        path = simulate_path(resolved.market, resolved.n_days, resolved.spot, rng)
        long_run = long_run_variance(resolved.market)
        schedule = expiry_schedule(int(days[0]), int(days[-1]) + horizon)
    pairs = _list_pairs(resolved, days, path, schedule, long_run)
    inputs = _Inputs(
        profile=resolved,
        days=days,
        path=path,
        schedule=schedule,
        pairs=pairs,
        seed=seed,
        rate=rate,
        dividend=dividend,
    )
    years = days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64)
    bounds = np.flatnonzero(np.diff(years)) + 1
    for start, stop in zip(np.r_[0, bounds], np.r_[bounds, days.shape[0]], strict=True):
        yield _build_batch(inputs, int(start), int(stop))


@dataclass(frozen=True)
class _Pairs:
    """Every listed (day, expiry) pair of the profile, day-major."""

    day: IntArray
    expiry_index: IntArray
    days_to_expiry: IntArray
    atm: FloatArray
    low: FloatArray
    high: FloatArray
    scale: IntArray


def _history_path(
    profile: SynthProfile, rng: np.random.Generator
) -> tuple[Int32Array, MarketPath, float]:
    """The real path, its variance state, and a premium that puts the 30-day variance swap of
    the surface at the level of `_history_model` (the real VIX where it exists)."""
    history = build_path(rng)
    market = profile.market
    n_days = history.days.shape[0]
    shock: FloatArray = np.asarray(rng.standard_normal(n_days), dtype=np.float64)
    log_skew = np.empty(n_days)
    log_skew[0] = 0.0
    step = math.sqrt(STEP_YEARS)
    for t in range(1, n_days):
        s = log_skew[t - 1]
        log_skew[t] = s - market.skew_reversion * s * STEP_YEARS + market.skew_vol * step * shock[t]
    skew = np.exp(np.clip(log_skew, -0.35, 0.35))
    years = VARIANCE_SWAP_DAYS / 365.0
    target_atm = atm_for_variance_swap(
        history.level,
        skew,
        years,
        market,
        range_sd=profile.strike_range_sd,
        moneyness_bounds=profile.moneyness_bounds,
    )
    long_run = history.fit.long_run_variance
    no_premium = atm_vol(
        history.variance, np.ones(n_days), np.full(n_days, years), market, long_run
    )
    path = MarketPath(
        spot=history.spot,
        variance=history.variance,
        premium=(target_atm / no_premium) ** 2,
        skew=skew,
        jump=history.log_return < JUMP_RETURN,
    )
    return history.days, path, long_run


def _on_days(schedule: ExpirySchedule, days: Int32Array) -> ExpirySchedule:
    """Move each expiry on a day the data has no close for (an unscheduled closure such as
    2001-09-14) back to the data's previous trading day."""
    inside = schedule.expiry <= days[-1]
    previous = days[np.maximum(np.searchsorted(days, schedule.expiry, side="right") - 1, 0)]
    expiry = np.where(inside, previous, schedule.expiry).astype(np.int32)
    return ExpirySchedule(expiry=expiry, monthly=schedule.monthly, quarterly=schedule.quarterly)


def _list_pairs(
    profile: SynthProfile,
    days: Int32Array,
    path: MarketPath,
    schedule: ExpirySchedule,
    long_run: float,
) -> _Pairs:
    day, expiry_index = listed_expiries(
        days,
        schedule,
        weeklies=profile.weeklies,
        weekly_horizon_days=profile.weekly_horizon_days,
        quarterly_horizon_days=profile.quarterly_horizon_days,
        monthly_horizon_days=profile.monthly_horizon_days,
        weeklies_from=(
            None
            if profile.weeklies_from is None
            else (profile.weeklies_from - dt.date(1970, 1, 1)).days
        ),
    )
    days_to_expiry = schedule.expiry[expiry_index].astype(np.int64) - days[day]
    years = days_to_expiry / 365.0
    atm = atm_vol(path.variance[day], path.premium[day], years, profile.market, long_run)
    # An expiry keeps the strike steps it was listed with (its first pair, pairs day-major).
    listed, first_pair = np.unique(expiry_index, return_index=True)
    first_listed = np.zeros(schedule.expiry.shape[0], dtype=np.int64)
    first_listed[listed] = first_pair
    scale = step_scale(path.spot[day], profile.step_doubling_spot)[first_listed[expiry_index]]
    low, high = strike_reach(
        path.spot[day],
        atm * np.sqrt(years),
        days_to_expiry,
        scale,
        range_sd=profile.strike_range_sd,
        moneyness_bounds=profile.moneyness_bounds,
    )
    low, high = accumulate_reach(low, high, expiry_index)
    return _Pairs(day, expiry_index, days_to_expiry, atm, low, high, scale)


def _resolve(profile: str | SynthProfile) -> SynthProfile:
    if isinstance(profile, SynthProfile):
        resolved = profile
    elif profile in PROFILES:
        resolved = PROFILES[profile]
    else:
        raise DataError(
            f"unknown synthetic chain profile; known: {', '.join(sorted(PROFILES))}",
            column="profile",
            value=profile,
        )
    if resolved.n_days < 1:
        raise DataError("a profile needs at least one day", column="n_days", value=resolved.n_days)
    for name in ("spot", "strike_range_sd", "step_doubling_spot"):
        value = getattr(resolved, name)
        if not (math.isfinite(value) and value > 0.0):
            raise DataError("must be a positive number", column=name, value=value)
    # Monthlies are at most 35 days apart and quarterlies 98, plus a day for a holiday Friday.
    if resolved.weekly_horizon_days < 36 and resolved.quarterly_horizon_days < 99:
        raise DataError(
            "listing horizons leave days without any expiry: need weekly_horizon_days >= 36"
            " or quarterly_horizon_days >= 99",
            column="weekly_horizon_days",
            value=(resolved.weekly_horizon_days, resolved.quarterly_horizon_days),
        )
    low, high = resolved.moneyness_bounds
    if not 0.0 < low < 1.0 < high:
        raise DataError(
            "moneyness bounds must satisfy 0 < low < 1 < high",
            column="moneyness_bounds",
            value=resolved.moneyness_bounds,
        )
    return resolved


def _check_arguments(seed: int, rate: float, dividend: float) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**63:
        raise DataError("seed must be a non-negative integer", column="seed", value=seed)
    for name, value in (("rate", rate), ("dividend", dividend)):
        if not math.isfinite(value):
            raise DataError(f"{name} must be finite", column=name, value=value)


def _trading_days(start: dt.date, n_days: int) -> Int32Array:
    span = n_days * 7 // 5 + 30
    while True:
        days = trading_days(start, start + dt.timedelta(days=span))
        if days.shape[0] >= n_days:
            return days[:n_days]
        span *= 2


@dataclass(frozen=True)
class _Inputs:
    """Everything a batch needs besides its day range."""

    profile: SynthProfile
    days: Int32Array
    path: MarketPath
    schedule: ExpirySchedule
    pairs: _Pairs
    seed: int
    rate: float
    dividend: float


def _build_batch(inputs: _Inputs, start: int, stop: int) -> pa.Table:
    profile, path, pairs = inputs.profile, inputs.path, inputs.pairs
    first_pair, stop_pair = np.searchsorted(pairs.day, [start, stop])
    batch = slice(int(first_pair), int(stop_pair))
    pair_day, pair_expiry = pairs.day[batch], pairs.expiry_index[batch]
    expiry = inputs.schedule.expiry[pair_expiry]
    days_to_expiry = pairs.days_to_expiry[batch]
    years = days_to_expiry / 365.0
    pair_spot = path.spot[pair_day]
    pair_atm = pairs.atm[batch]
    pair_of_strike, strikes = strike_grid(pairs.low[batch], pairs.high[batch], pairs.scale[batch])

    # Day-major rows, each day's calls (by expiry, strike) before its puts.
    n_days = stop - start
    per_day = np.bincount(pair_day[pair_of_strike] - start, minlength=n_days)
    first = np.cumsum(per_day) - per_day
    row_day = np.repeat(np.arange(n_days), 2 * per_day)
    local = np.arange(row_day.shape[0]) - 2 * first[row_day]
    is_call = local < per_day[row_day]
    slot = first[row_day] + np.where(is_call, local, local - per_day[row_day])
    pair = pair_of_strike[slot]
    strike = strikes[slot]

    spot, t, atm = pair_spot[pair], years[pair], pair_atm[pair]
    forward = spot * np.exp((inputs.rate - inputs.dividend) * t)
    z = np.log(strike / forward) / (atm * np.sqrt(t))
    iv = atm * smile(z, path.skew[pair_day[pair]], profile.market)
    args = (spot, strike, t, inputs.rate, inputs.dividend, iv, is_call)
    theo = blackscholes.price(*args)
    greeks = blackscholes.greeks(*args)
    bid, ask = quote(theo, z, t, atm)
    date = inputs.days[pair_day[pair]]
    expiry_row = expiry[pair]
    strike_cents = np.rint(strike * 100.0).astype(np.int64)
    volume, open_interest = activity(
        z,
        strike,
        is_call,
        days_to_expiry[pair],
        inputs.schedule.monthly[pair_expiry[pair]],
        inputs.schedule.quarterly[pair_expiry[pair]],
        atm,
        (expiry_row.astype(np.int64), strike_cents, is_call.astype(np.int64)),
        date.astype(np.int64),
        inputs.seed,
    )

    n_rows = date.shape[0]
    table = pa.table(
        {
            "date": pa.array(date, type=pa.date32()),
            "underlying": pa.DictionaryArray.from_arrays(
                pa.array(np.zeros(n_rows, dtype=np.int32)), pa.array([UNDERLYING])
            ),
            "spot": spot,
            "expiry": pa.array(expiry_row, type=pa.date32()),
            "strike": strike,
            "right": pa.DictionaryArray.from_arrays(
                pa.array((~is_call).astype(np.int8)), pa.array(list(schema.RIGHTS))
            ),
            "bid": bid,
            "ask": ask,
            "iv": iv,
            "delta": greeks.delta,
            "gamma": greeks.gamma,
            "vega": greeks.vega,
            "theta": greeks.theta,
            "volume": volume,
            "open_interest": open_interest,
        }
    )
    return schema.sort_chain(schema.conform(table))
