"""Daily path of the synthetic market: index level, variance state and surface factors.

The index follows a stochastic-volatility jump diffusion: log-variance is an Ornstein–Uhlenbeck
process correlated with the index, and compound-Poisson downward jumps in the index come with
upward jumps in log-variance and in the variance risk premium, so crashes and volatility spikes
arrive together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gridbt._typing import BoolArray, FloatArray

if TYPE_CHECKING:
    from gridbt.data.synth import MarketModel

#: Simulation step: one trading day.
STEP_YEARS = 1.0 / 252.0


@dataclass(frozen=True)
class MarketPath:
    """State at each trading day's close, shape (n_days,)."""

    spot: FloatArray
    #: Instantaneous physical variance in force from this close to the next.
    variance: FloatArray
    #: Risk-neutral over physical variance multiplier.
    premium: FloatArray
    #: Multiplier of the put-skew slope.
    skew: FloatArray
    jump: BoolArray


def jump_moments(market: MarketModel) -> tuple[float, float]:
    """Return E[exp(J) - 1] and E[J^2] of one index jump J = -(floor + Exp(mean))."""
    floor, mean = market.jump_floor, market.jump_mean
    compensator = math.exp(-floor) / (1.0 + mean) - 1.0
    second = floor * floor + 2.0 * floor * mean + 2.0 * mean * mean
    return compensator, second


def long_run_variance(market: MarketModel) -> float:
    """Return the long-run mean of total physical variance (diffusion plus jumps), per year.

    Approximate: jumps are counted at their intensity at the median variance.
    """
    spike_mean = market.spike_base + market.spike_scale * (market.jump_floor + market.jump_mean)
    spike_second = spike_mean**2 + (market.spike_scale * market.jump_mean) ** 2
    log_mean = 2.0 * math.log(market.vol_median) + market.jump_intensity * spike_mean / (
        market.vol_reversion
    )
    log_var = (market.vol_of_vol**2 + market.jump_intensity * spike_second) / (
        2.0 * market.vol_reversion
    )
    _, jump_second = jump_moments(market)
    return math.exp(log_mean + 0.5 * log_var) + market.jump_intensity * jump_second


def simulate_path(
    market: MarketModel, n_days: int, spot: float, rng: np.random.Generator
) -> MarketPath:
    """Simulate `n_days` closes starting from `spot` on day 0."""
    dt = STEP_YEARS
    sqrt_dt = math.sqrt(dt)
    shock_variance = rng.standard_normal(n_days)
    shock_index = rng.standard_normal(n_days)
    shock_premium = rng.standard_normal(n_days)
    shock_skew = rng.standard_normal(n_days)
    jump_draw = rng.random(n_days)
    jump_size = -(market.jump_floor + rng.exponential(market.jump_mean, n_days))
    jump = np.zeros(n_days, dtype=np.bool_)

    rho = market.correlation
    index_noise = rho * shock_variance + math.sqrt(1.0 - rho * rho) * shock_index
    compensator, _ = jump_moments(market)
    median_variance = market.vol_median**2

    log_variance_mean = 2.0 * math.log(market.vol_median)
    log_variance_bounds = (2.0 * math.log(market.vol_floor), 2.0 * math.log(market.vol_cap))
    log_premium_mean = math.log(market.premium_median)
    premium_bounds = (math.log(market.premium_floor), math.log(market.premium_cap))

    log_spot = np.empty(n_days)
    log_variance = np.empty(n_days)
    log_premium = np.empty(n_days)
    log_skew = np.empty(n_days)
    log_spot[0] = math.log(spot)
    log_variance[0] = log_variance_mean
    log_premium[0] = log_premium_mean
    log_skew[0] = 0.0
    for t in range(1, n_days):
        x = log_variance[t - 1]
        variance = math.exp(x)
        intensity = market.jump_intensity * (variance / median_variance) ** market.jump_clustering
        probability = min(intensity * dt, 0.5)
        jump[t] = jump_draw[t] < probability
        drift = market.drift - probability / dt * compensator - 0.5 * variance
        step = drift * dt + math.sqrt(variance) * sqrt_dt * index_noise[t]
        x += market.vol_reversion * (log_variance_mean - x) * dt
        x += market.vol_of_vol * sqrt_dt * shock_variance[t]
        y = log_premium[t - 1]
        y += market.premium_reversion * (log_premium_mean - y) * dt
        y += market.premium_vol * sqrt_dt * shock_premium[t]
        if jump[t]:
            step += jump_size[t]
            x += market.spike_base - market.spike_scale * jump_size[t]
            y += market.premium_spike
        log_spot[t] = log_spot[t - 1] + step
        log_variance[t] = min(max(x, log_variance_bounds[0]), log_variance_bounds[1])
        log_premium[t] = min(max(y, premium_bounds[0]), premium_bounds[1])
        s = log_skew[t - 1]
        log_skew[t] = s - market.skew_reversion * s * dt + market.skew_vol * sqrt_dt * shock_skew[t]

    return MarketPath(
        spot=np.exp(log_spot),
        variance=np.exp(log_variance),
        premium=np.exp(log_premium),
        skew=np.exp(np.clip(log_skew, -0.35, 0.35)),
        jump=jump,
    )
