"""Reg-T margin per contract, hand-computed (docs/semantics.md, Margin models), on both the
numba helper and the reference: naked legs, the straddle/strangle rule, spreads at max loss,
calendars leg by leg, house multiplier and floor."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from gridbt.kernel.risk_nb import regt_margin_nb
from gridbt.strategy.reference_risk import RiskLeg, regt_margin
from gridbt.strategy.spec import MarginConfig

M = 100.0
S = 100.0
E1, E2 = 19_800, 19_830  # two expiries (days since 1970)

# (units, right, strike, mark, expiry)
Leg = tuple[float, int, float, float, int]


def _reference(legs: list[Leg], config: MarginConfig) -> float:
    risk = [RiskLeg(units=u, right=r, strike=k, years=0.1, vol=0.2, mark=mk)
            for u, r, k, mk, _ in legs]
    return regt_margin(risk, [e for *_, e in legs], S, M, config)


def _numba(legs: list[Leg], config: MarginConfig) -> float:
    cols = list(zip(*legs, strict=True))
    return float(regt_margin_nb(
        S, np.array(cols[0], float), np.array(cols[1], np.int64), np.array(cols[2], float),
        np.array(cols[4], np.int64), np.array(cols[3], float), len(legs), M,
        config.broad_index, config.min_underlying_pct, config.min_put_pct,
        config.house_multiplier, config.house_floor,
    ))


ENGINES: dict[str, Callable[[list[Leg], MarginConfig], float]] = {
    "python": _reference, "numba": _numba,
}
BROAD = MarginConfig(model="regt", broad_index=True)
NARROW = MarginConfig(model="regt", broad_index=False)


def short_put(k: float, mark: float, base: float = 0.15) -> float:
    return mark * M + max(base * S * M - max(S - k, 0.0) * M, 0.10 * k * M)


def short_call(k: float, mark: float, base: float = 0.15) -> float:
    return mark * M + max(base * S * M - max(k - S, 0.0) * M, 0.10 * S * M)


CASES: list[tuple[str, list[Leg], MarginConfig, float]] = [
    # an out-of-the-money put: 15% of spot less 5 OTM, above the 10%-of-strike floor
    ("short put", [(-1, -1, 95.0, 1.2, E1)], BROAD, 1.2 * M + (15 - 5) * M),
    # far out of the money: the 10%-of-strike floor binds
    ("deep OTM put", [(-1, -1, 80.0, 0.1, E1)], BROAD, 0.1 * M + 0.10 * 80 * M),
    ("equity base 20%", [(-2, -1, 95.0, 1.2, E1)], NARROW, 2 * (1.2 * M + (20 - 5) * M)),
    ("short call", [(-1, 1, 110.0, 0.8, E1)], BROAD, short_call(110.0, 0.8)),
    # strangle: the larger side's requirement plus the other side's value
    ("short strangle", [(-1, -1, 95.0, 1.2, E1), (-1, 1, 105.0, 1.0, E1)], BROAD,
     max(short_put(95.0, 1.2) + 1.0 * M, short_call(105.0, 1.0) + 1.2 * M)),
    # put credit spread 100/95: long put's value + max loss 5 points (less than naked)
    ("put credit spread", [(-1, -1, 100.0, 3.0, E1), (1, -1, 95.0, 1.2, E1)], BROAD,
     1.2 * M + 5 * M),
    # iron condor 90/95/105/110: long wings' value + the wider side's 5 points
    ("iron condor", [(-1, -1, 95.0, 1.2, E1), (1, -1, 90.0, 0.5, E1),
                     (-1, 1, 105.0, 1.0, E1), (1, 1, 110.0, 0.4, E1)], BROAD,
     (0.5 + 0.4) * M + 5 * M),
    # a call ratio spread (net short calls) is unbounded: margined naked, legs summed
    ("call ratio spread", [(1, 1, 100.0, 3.0, E1), (-2, 1, 105.0, 1.0, E1)], BROAD,
     3.0 * M + 2 * short_call(105.0, 1.0)),
    # a calendar is margined leg by leg: short near call naked, long far call at value
    ("calendar", [(-1, 1, 100.0, 2.0, E1), (1, 1, 100.0, 4.0, E2)], BROAD,
     short_call(100.0, 2.0) + 4.0 * M),
    ("long call", [(1, 1, 100.0, 3.0, E1)], BROAD, 3.0 * M),
    ("house multiplier", [(-1, -1, 95.0, 1.2, E1)],
     MarginConfig(model="regt", house_multiplier=1.5), 1.5 * (1.2 * M + 10 * M)),
    ("house floor", [(1, 1, 100.0, 3.0, E1)],
     MarginConfig(model="regt", house_floor=500.0), 500.0),
]


@pytest.mark.parametrize("engine", sorted(ENGINES))
@pytest.mark.parametrize(("legs", "config", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_regt_margin(engine: str, legs: list[Leg], config: MarginConfig, expected: float) -> None:
    assert ENGINES[engine](legs, config) == pytest.approx(expected, rel=1e-12)
