"""A candidate's outcome is the day kernel's: the backtest of the strategy forced onto that
candidate (its DTE as the whole window, leg 0 by the exact moneyness of its strike, a day
window starting on its entry day) opens the same legs and closes them on the same day, for the
same reason, with the same P&L, whatever the structure, exit rule and execution costs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridbt.data.pack import PackedChain
from gridbt.entries.engine import find_candidates
from gridbt.kernel.enums import MAX_LEGS
from gridbt.strategy.backtest import run_backtest
from gridbt.strategy.spec import ExitConfig, StrategySpec, parse_strategy
from tests.unit.entries.conftest import STRUCTURES, market_chain, structure_strategy

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


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(structure=st.sampled_from(sorted(STRUCTURES)), rules=st.lists(exit_rules, min_size=1,
       max_size=3), execution=executions, pick=st.integers(0, 10**6))
def test_a_candidate_is_the_kernels_backtest_forced_onto_it(
    structure: str, rules: list[ExitConfig], execution: dict[str, float], pick: int
) -> None:
    packed = market_chain()
    spec = structure_strategy(structure, execution, rules[0])
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
    packed = market_chain()
    spec = structure_strategy("put_spread", {}, ExitConfig())
    found = find_candidates(packed, spec, [ExitConfig()])
    assert (found.rows[:, 2:MAX_LEGS] == -1).all() and (found.rows[:, :2] >= 0).all()
    assert (np.diff(found.day) >= 0).all()
    assert found.day_start[-1] == found.count
    assert found.day.max() < packed.n_days - 1  # no entry on the last day


def test_threads_walk_the_same_outcomes() -> None:
    packed = market_chain()
    rules = [ExitConfig(), ExitConfig(profit_target=0.5, stop_loss=1.0, dte=5)]
    spec = structure_strategy("iron_condor", {"slippage": 0.5}, rules[0])
    one = find_candidates(packed, spec, rules)
    three = find_candidates(packed, spec, rules, threads=3)
    for name in ("rows", "entry_cash", "risk", "pnl", "exit_day", "exit_reason"):
        np.testing.assert_array_equal(getattr(one, name), getattr(three, name))
