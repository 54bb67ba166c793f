"""Stress scenarios of a strategy: the Cartesian shock grid or the named families.

Shock values of the named families are those of the reference engine (SEED_PARITY.md §1.13):
"v" and "rr" there are vol points, here decimals (5v = 0.05).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from gridbt.strategy.spec import StressConfig

__all__ = ["NAMED_FAMILIES", "Scenario", "scenarios"]


@dataclass(frozen=True)
class Scenario:
    """One stress point: relative spot shock, absolute vol shock, risk-reversal shock (call iv
    up by half, put iv down by half), absolute rate shock and calendar days of decay."""

    name: str
    spot: float
    vol: float
    risk_reversal: float = 0.0
    rate: float = 0.0
    time_days: float = 0.0


def _s(name: str, spot: float = 0.0, vol: float = 0.0, rr: float = 0.0) -> Scenario:
    return Scenario(name, spot, vol, rr)


NAMED_FAMILIES: dict[str, tuple[Scenario, ...]] = {
    "core": (
        _s("selloff_mild", -0.05, 0.02),
        _s("selloff_severe", -0.10, 0.05),
        _s("rally_mild", 0.05, -0.02),
        _s("rally_strong", 0.10, -0.04),
        _s("vol_up", vol=0.05),
        _s("vol_down", vol=-0.05),
    ),
    "tail": (
        _s("crash_extreme", -0.15, 0.08),
        _s("rally_extreme", 0.15, -0.05),
    ),
    "rr": (
        _s("steepen_mild", rr=-0.03),
        _s("steepen_severe", rr=-0.05),
        _s("flatten_mild", rr=0.03),
        _s("flatten_severe", rr=0.05),
        _s("selloff_steepen", -0.10, 0.05, -0.05),
        _s("rally_flatten", 0.10, -0.03, 0.05),
    ),
    "rr_tail": (
        _s("crash_steepen_extreme", -0.15, 0.08, -0.05),
        _s("rally_flatten_extreme", 0.15, -0.05, 0.05),
    ),
}


def _unique(values: list[float]) -> list[float]:
    return list(dict.fromkeys(values))


def scenarios(config: StressConfig) -> list[Scenario]:
    """The scenarios of `config`, in kernel order (grid: spot-major; named: family order)."""
    if config.scenarios == "named":
        out: list[Scenario] = []
        for family in dict.fromkeys(config.families):
            out.extend(NAMED_FAMILIES[family])
        return out
    grid = itertools.product(
        _unique(config.spot),
        _unique(config.vol),
        _unique(config.risk_reversal),
        _unique(config.rate),
        _unique(config.time_days),
    )
    return [
        Scenario(f"ds={ds:+.1%}|dv={dv:+.3f}|drr={drr:+.3f}|dr={dr:+.4f}|dt={dt:g}d",
                 ds, dv, drr, dr, dt)
        for ds, dv, drr, dr, dt in grid
    ]
