"""Shared fixtures of the entries tests: a small market chain with missing quotes, and
strategies of several structures on it."""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

import numpy as np
import pyarrow as pa

from gridbt.data.pack import PackedChain, pack_chain
from gridbt.strategy.spec import ExitConfig, StrategySpec, parse_strategy
from gridbt.testing import flat_vol_chain


def _business_days(n: int, start: dt.date) -> list[dt.date]:
    days, day = [], start
    while len(days) < n:
        if day.weekday() < 5:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


@cache
def market_chain() -> PackedChain:
    """40 trading days of a random spot path, five expiries, and about 4% of the quotes
    missing (marks carry, exits fill stale)."""
    rng = np.random.default_rng(11)
    days = _business_days(40, dt.date(2024, 1, 2))
    spots = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, len(days))))
    expiries = [dt.date(2024, 1, 19), dt.date(2024, 2, 2), dt.date(2024, 2, 16),
                dt.date(2024, 3, 15), dt.date(2024, 4, 19)]
    table = flat_vol_chain(days, spots.tolist(), expiries, np.arange(80.0, 121.0, 2.5).tolist(),
                           vol=0.3)
    keep = rng.random(table.num_rows) > 0.04
    return pack_chain(table.filter(pa.array(keep)))


def _leg(right: str, side: str, select: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"right": right, "side": side, "select": select, **extra}


STRUCTURES: dict[str, dict[str, Any]] = {
    "short_put": {"dte": {"target": 30, "min": 10, "max": 60},
                  "legs": [_leg("P", "short", {"by": "delta", "target": 0.3})]},
    "long_call": {"dte": {"target": 30, "min": 10, "max": 60},
                  "legs": [_leg("C", "long", {"by": "delta", "target": 0.3}, qty=2)]},
    "put_spread": {"dte": {"target": 30, "min": 10, "max": 60},
                   "legs": [_leg("P", "short", {"by": "delta", "target": 0.3}),
                            _leg("P", "long", {"by": "offset", "of": 0, "points": -5.0})]},
    "iron_condor": {"dte": {"target": 30, "min": 10, "max": 60},
                    "legs": [_leg("P", "short", {"by": "delta", "target": 0.2}),
                             _leg("P", "long", {"by": "offset", "of": 0, "points": -5.0,
                                                "tolerance": 2.5}),
                             _leg("C", "short", {"by": "delta", "target": 0.2,
                                                 "tolerance": 0.2}),
                             _leg("C", "long", {"by": "offset", "of": 2, "points": 5.0})]},
    "calendar": {"dte": {"target": 20, "min": 10, "max": 40},
                 "dte_far": {"target": 60, "min": 45, "max": 120},
                 "legs": [_leg("C", "short", {"by": "moneyness", "target": 1.0}),
                          _leg("C", "long", {"by": "offset", "of": 0, "points": 0.0},
                               expiry_group=1)]},
}

def structure_strategy(structure: str, execution: dict[str, float], exit_rule: ExitConfig,
              **overrides: Any) -> StrategySpec:
    payload: dict[str, Any] = {
        "capital": 1e9, "structure": STRUCTURES[structure], "execution": execution,
        "exit": exit_rule.model_dump(), "entry": {"weekdays": [0, 1, 2, 3, 4, 5, 6]},
    }
    payload.update(overrides)
    return parse_strategy(payload)
