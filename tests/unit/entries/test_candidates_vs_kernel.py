"""A candidate's outcome is the day kernel's: the backtest of the strategy forced onto that
candidate (its DTE as the whole window, leg 0 by the exact moneyness of its strike, a day
window starting on its entry day) opens the same legs and closes them on the same day, for the
same reason, with the same P&L, whatever the structure, exit rule and execution costs."""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridbt.data.pack import PackedChain, pack_chain
from gridbt.entries.engine import find_candidates
from gridbt.kernel.enums import MAX_LEGS
from gridbt.strategy.backtest import run_backtest
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
def chain() -> PackedChain:
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

exit_rules = st.builds(
    ExitConfig,
    profit_target=st.sampled_from([None, 0.25, 0.5]),
    stop_loss=st.sampled_from([None, 0.5, 1.0, 2.0]),
    dte=st.sampled_from([None, 3, 10]),
    max_holding_days=st.sampled_from([None, 5, 12]),
    rebalance_days=st.sampled_from([None, 20]),
    delta_breach=st.sampled_from([None, 0.45]),
    period_unit=st.sampled_from(["calendar", "trading"]),
)
executions = st.fixed_dictionaries({
    "slippage": st.sampled_from([0.0, 0.5, 1.0]),
    "slippage_per_contract": st.sampled_from([0.0, 0.01]),
    "commission_per_contract": st.sampled_from([0.0, 0.65]),
})


def _strategy(structure: str, execution: dict[str, float], exit_rule: ExitConfig,
              **overrides: Any) -> StrategySpec:
    payload: dict[str, Any] = {
        "capital": 1e9, "structure": STRUCTURES[structure], "execution": execution,
        "exit": exit_rule.model_dump(), "entry": {"weekdays": [0, 1, 2, 3, 4, 5, 6]},
    }
    payload.update(overrides)
    return parse_strategy(payload)


def _forced(spec: StrategySpec, packed: PackedChain, day: int, row: int) -> StrategySpec:
    """`spec` opening exactly the candidate anchored on quote `row` on `day`."""
    dte = int(packed.quote_expiry[row] - packed.day_date[day])
    structure = spec.structure.model_dump()
    structure["dte"] = {"target": dte, "min": dte, "max": dte}
    structure["legs"][0]["select"] = {
        "by": "moneyness", "target": float(packed.quote_strike[row] / packed.day_spot[day]),
        "tolerance": 1e-9,
    }
    return parse_strategy({**spec.model_dump(exclude={"mlflow"}), "structure": structure})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(structure=st.sampled_from(sorted(STRUCTURES)), rules=st.lists(exit_rules, min_size=1,
       max_size=3), execution=executions, pick=st.integers(0, 10**6))
def test_a_candidate_is_the_kernels_backtest_forced_onto_it(
    structure: str, rules: list[ExitConfig], execution: dict[str, float], pick: int
) -> None:
    packed = chain()
    spec = _strategy(structure, execution, rules[0])
    found = find_candidates(packed, spec, rules)
    assert found.count > 0
    k = pick % found.count
    day = int(found.day[k])
    n_legs = len(spec.structure.legs)
    for r, rule in enumerate(rules):
        forced = _forced(spec.model_copy(update={"exit": rule}), packed, day,
                         int(found.rows[k, 0]))
        result = run_backtest(packed, forced, window=(day, packed.n_days))
        assert len(result.trades) >= 1
        trade = result.trades[0]
        assert trade["entry_day"] == day
        legs = result.legs[:n_legs]
        rows = found.rows[k, :n_legs]
        np.testing.assert_array_equal(legs["strike"], packed.quote_strike[rows])
        np.testing.assert_array_equal(legs["expiry"], packed.quote_expiry[rows])
        assert trade["exit_day"] == found.exit_day[r, k]
        assert trade["exit_reason"] == found.exit_reason[r, k]
        assert found.pnl[r, k] == pytest.approx(trade["pnl"], rel=1e-9, abs=1e-7)


def test_rows_past_the_structure_are_unused_and_days_are_day_major() -> None:
    packed = chain()
    found = find_candidates(packed, _strategy("put_spread", {}, ExitConfig()), [ExitConfig()])
    assert (found.rows[:, 2:MAX_LEGS] == -1).all() and (found.rows[:, :2] >= 0).all()
    assert (np.diff(found.day) >= 0).all()
    assert found.day_start[-1] == found.count
    assert found.day.max() < packed.n_days - 1  # no entry on the last day
