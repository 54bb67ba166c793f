"""Daily features that entry filters read (one value per trading day, NaN during warm-up).

| name | meaning |
|---|---|
| `atm_iv_30` | 30-calendar-day ATM implied vol (call/put iv at spot, total-variance interpolation in expiry) |
| `iv_rank` | (iv − trailing min) / (trailing max − min) of `atm_iv_30` over `rank_window` days, in [0, 1]; defined from half a window on |
| `iv_percentile` | share of the trailing window's `atm_iv_30` values below today's, in [0, 1] |
| `rv_20` | 20-day realised vol of spot log returns, annualised with 252 |
| `vrp` | `atm_iv_30 − rv_20` (volatility risk premium, vol points as decimals) |
| `sma_20`, `sma_50`, `sma_200` | simple moving averages of spot |
| `trend_50`, `trend_200` | spot / SMA − 1 |
| `skew_25d` | iv of the put nearest −0.25 delta minus iv of the call nearest +0.25, expiry nearest 30 days |
| `vix_30` | 30-day variance-swap vol by the Cboe VIX method from the out-of-the-money bid/ask mids (decimal: 0.20 is a VIX of 20); see `features_nb.vix_nb` |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gridbt._typing import FloatArray
from gridbt.data import features_nb as nb

if TYPE_CHECKING:
    from gridbt.data.pack import PackedChain

__all__ = ["FEATURE_NAMES", "FeatureConfig", "compute_features"]

FEATURE_NAMES = (
    "atm_iv_30",
    "iv_rank",
    "iv_percentile",
    "rv_20",
    "vrp",
    "sma_20",
    "sma_50",
    "sma_200",
    "trend_50",
    "trend_200",
    "skew_25d",
    "vix_30",
)


@dataclass(frozen=True)
class FeatureConfig:
    """Windows of the daily features (in trading days; the IV tenor in calendar days)."""

    iv_tenor_days: int = 30
    rank_window: int = 252
    rv_window: int = 20
    #: Risk-free rate of the VIX method's forward and discounting (the synthetic chains are
    #: priced at 0.02); expiries with fewer calendar days left are not used as terms.
    vix_rate: float = 0.02
    vix_min_days: int = 7


def compute_features(
    packed: PackedChain, config: FeatureConfig
) -> tuple[tuple[str, ...], FloatArray]:
    """Return feature names and a (n_features, n_days) array for a packed chain."""
    iv = nb.atm_iv_nb(
        packed.day_date,
        packed.day_spot,
        packed.day_group_start,
        packed.day_put_group_start,
        packed.group_expiry,
        packed.group_quote_start,
        packed.quote_strike,
        packed.quote_iv,
        float(config.iv_tenor_days),
    )
    rank, pct = nb.rolling_rank_nb(iv, config.rank_window)
    rv = nb.realised_vol_nb(packed.day_spot, config.rv_window, 252.0)
    spot = packed.day_spot
    sma20, sma50, sma200 = (nb.sma_nb(spot, w) for w in (20, 50, 200))
    skew = nb.skew_25d_nb(
        packed.day_date,
        packed.day_group_start,
        packed.day_put_group_start,
        packed.group_expiry,
        packed.group_quote_start,
        packed.quote_delta,
        packed.quote_iv,
        float(config.iv_tenor_days),
    )
    vix = nb.vix_nb(
        packed.day_date,
        packed.day_group_start,
        packed.day_put_group_start,
        packed.group_expiry,
        packed.group_quote_start,
        packed.quote_strike,
        packed.quote_bid,
        packed.quote_ask,
        float(config.vix_rate),
        float(config.iv_tenor_days),
        float(config.vix_min_days),
    )
    values = np.vstack(
        [
            iv,
            rank,
            pct,
            rv,
            iv - rv,
            sma20,
            sma50,
            sma200,
            spot / sma50 - 1.0,
            spot / sma200 - 1.0,
            skew,
            vix,
        ]
    )
    return FEATURE_NAMES, np.ascontiguousarray(values)
