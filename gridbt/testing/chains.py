"""Tiny canonical chains for tests: explicit quotes, or a flat-vol Black–Scholes grid."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from gridbt.data import blackscholes
from gridbt.data.schema import conform, sort_chain


@dataclass(frozen=True)
class ChainQuote:
    date: dt.date
    expiry: dt.date
    strike: float
    right: str
    bid: float
    ask: float
    spot: float
    delta: float = float("nan")
    iv: float = 0.2
    gamma: float = 0.0
    vega: float = 0.0
    theta: float = 0.0
    volume: int | None = 100
    open_interest: int | None = 1000


def chain_from_quotes(quotes: Sequence[ChainQuote], underlying: str = "SPX") -> pa.Table:
    """Build a sorted canonical chain from explicit quotes."""
    cols: dict[str, list[object]] = {k: [] for k in ChainQuote.__dataclass_fields__}
    for q in quotes:
        for k in cols:
            cols[k].append(getattr(q, k))
    cols["underlying"] = [underlying] * len(quotes)
    return sort_chain(conform(pa.table(cols)))


def flat_vol_chain(
    days: Sequence[dt.date],
    spots: Sequence[float],
    expiries: Sequence[dt.date],
    strikes: Sequence[float],
    *,
    vol: float = 0.2,
    rate: float = 0.0,
    half_spread: float = 0.05,
    underlying: str = "SPX",
) -> pa.Table:
    """Every (day, expiry >= day, strike, right) quoted at Black–Scholes mid ± `half_spread`."""
    rows: dict[str, list[object]] = {
        k: [] for k in ("date", "expiry", "strike", "right", "spot", "bid", "ask", "iv",
                        "delta", "gamma", "vega", "theta", "volume", "open_interest")
    }
    for day, spot in zip(days, spots, strict=True):
        for expiry in expiries:
            if expiry < day:
                continue
            years = (expiry - day).days / 365.0
            for right in ("C", "P"):
                k = np.asarray(strikes, dtype=float)
                is_call = right == "C"
                mid = blackscholes.price(spot, k, years, rate, 0.0, vol, is_call)
                g = blackscholes.greeks(spot, k, years, rate, 0.0, vol, is_call)
                for i, strike in enumerate(k):
                    rows["date"].append(day)
                    rows["expiry"].append(expiry)
                    rows["strike"].append(float(strike))
                    rows["right"].append(right)
                    rows["spot"].append(float(spot))
                    rows["bid"].append(max(float(mid[i]) - half_spread, 0.0))
                    rows["ask"].append(float(mid[i]) + half_spread)
                    rows["iv"].append(vol)
                    rows["delta"].append(float(g.delta[i]))
                    rows["gamma"].append(float(g.gamma[i]))
                    rows["vega"].append(float(g.vega[i]))
                    rows["theta"].append(float(g.theta[i]))
                    rows["volume"].append(100)
                    rows["open_interest"].append(1000)
    rows["underlying"] = [underlying] * len(rows["date"])
    return sort_chain(conform(pa.table(rows)))
