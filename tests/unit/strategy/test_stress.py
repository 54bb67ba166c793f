"""Stress scenarios: the reference engine's default grid and named families, exactly."""

from __future__ import annotations

import pytest

from gridbt.strategy.spec import StressConfig
from gridbt.strategy.stress import NAMED_FAMILIES, scenarios


def test_default_grid_is_the_reference_engines_21_points() -> None:
    points = scenarios(StressConfig())
    assert len(points) == 21
    assert [(p.spot, p.vol) for p in points[:4]] == [
        (-0.15, -0.05), (-0.15, 0.0), (-0.15, 0.05), (-0.10, -0.05)
    ]
    assert {p.spot for p in points} == {-0.15, -0.10, -0.05, 0.0, 0.05, 0.10, 0.15}
    assert all(p.risk_reversal == p.rate == p.time_days == 0.0 for p in points)
    assert len({p.name for p in points}) == 21


def test_grid_drops_duplicate_shocks() -> None:
    points = scenarios(StressConfig(spot=[-0.1, -0.1, 0.0], vol=[0.0, 0.0], time_days=[0, 7]))
    assert [(p.spot, p.time_days) for p in points] == [
        (-0.1, 0.0), (-0.1, 7.0), (0.0, 0.0), (0.0, 7.0)
    ]


@pytest.mark.parametrize(
    ("family", "expected"),
    [
        ("core", [("selloff_mild", -0.05, 0.02, 0.0), ("selloff_severe", -0.10, 0.05, 0.0),
                  ("rally_mild", 0.05, -0.02, 0.0), ("rally_strong", 0.10, -0.04, 0.0),
                  ("vol_up", 0.0, 0.05, 0.0), ("vol_down", 0.0, -0.05, 0.0)]),
        ("tail", [("crash_extreme", -0.15, 0.08, 0.0), ("rally_extreme", 0.15, -0.05, 0.0)]),
        ("rr", [("steepen_mild", 0.0, 0.0, -0.03), ("steepen_severe", 0.0, 0.0, -0.05),
                ("flatten_mild", 0.0, 0.0, 0.03), ("flatten_severe", 0.0, 0.0, 0.05),
                ("selloff_steepen", -0.10, 0.05, -0.05), ("rally_flatten", 0.10, -0.03, 0.05)]),
        ("rr_tail", [("crash_steepen_extreme", -0.15, 0.08, -0.05),
                     ("rally_flatten_extreme", 0.15, -0.05, 0.05)]),
    ],
)
def test_named_families_match_the_reference(
    family: str, expected: list[tuple[str, float, float, float]]
) -> None:
    assert [(p.name, p.spot, p.vol, p.risk_reversal) for p in NAMED_FAMILIES[family]] == expected


def test_named_families_keep_their_order_once_each() -> None:
    config = StressConfig(scenarios="named", families=["tail", "core", "tail"])
    names = [p.name for p in scenarios(config)]
    assert names == [p.name for p in NAMED_FAMILIES["tail"] + NAMED_FAMILIES["core"]]
