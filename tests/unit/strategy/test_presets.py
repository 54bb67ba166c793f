"""Presets: registry, overrides, YAML files, and the structures they describe."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from gridbt.data import blackscholes
from gridbt.strategy.presets import PRESETS, preset, strategy_yaml, write_preset_files
from gridbt.strategy.spec import (
    SelectDelta,
    SelectOffset,
    SignalAlways,
    SignalZScore,
    SpecError,
    StrategySpec,
    load_strategy,
    parse_strategy,
)

JOBS = Path(__file__).resolve().parents[3] / "jobs" / "strategies"

EXPECTED_PRESETS = {
    "short_put", "short_call", "short_strangle", "short_straddle", "iron_condor",
    "iron_butterfly", "put_credit_spread", "call_credit_spread", "put_debit_spread",
    "call_debit_spread", "long_straddle", "butterfly", "risk_reversal", "calendar", "diagonal",
    "vrp_short_straddle", "skew_risk_reversal", "hedged_short_strangle",
}


def test_registry_holds_every_preset() -> None:
    assert set(PRESETS) == EXPECTED_PRESETS
    for name, factory in PRESETS.items():
        spec = factory()
        assert isinstance(spec, StrategySpec)
        assert spec.name == name
        assert preset(name) == spec


def test_presets_are_distinct_strategies() -> None:
    hashes = {factory().stable_hash() for factory in PRESETS.values()}
    assert len(hashes) == len(PRESETS)


@pytest.mark.parametrize("name", sorted(EXPECTED_PRESETS))
def test_preset_arguments_are_keyword_only_and_documented(name: str) -> None:
    factory = PRESETS[name]
    parameters = inspect.signature(factory).parameters
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters.values())
    common = {"name", "dte_target", "dte_tolerance", "profit_target", "stop_loss", "exit_dte",
              "max_holding_days", "contracts"}
    assert common <= set(parameters)
    doc = inspect.getdoc(factory) or ""
    for parameter in set(parameters) - common:
        assert parameter in doc, f"{name}: {parameter} is not documented"


# ---- the structures, priced on a flat-vol Black–Scholes chain ----------------------------------

SPOT = 4000.0
STRIKES = np.arange(3000.0, 5000.0 + 1.0, 5.0)
VOL = 0.2
SPOTS_AT_EXPIRY = np.arange(0.0, 8000.0 + 1.0, 5.0)


@dataclass(frozen=True)
class Leg:
    right: str
    units: int
    strike: float
    days: int


def resolve(spec: StrategySpec) -> list[Leg]:
    """Pick strikes the way docs/semantics.md describes, on a frictionless 5-point chain."""
    legs: list[Leg] = []
    for leg in spec.structure.legs:
        window = spec.structure.dte if leg.expiry_group == 0 else spec.structure.dte_far
        assert window is not None
        days = window.target
        select = leg.select
        if isinstance(select, SelectDelta):
            delta = blackscholes.greeks(SPOT, STRIKES, days / 365.0, 0.0, 0.0, VOL,
                                        leg.right == "C").delta
            distance = np.abs(np.abs(delta) - select.target)
        elif isinstance(select, SelectOffset):
            distance = np.abs(STRIKES - (legs[select.of].strike + select.points))
        else:
            distance = np.abs(STRIKES / SPOT - select.target)
        i = int(np.argmin(distance))
        assert distance[i] <= select.tolerance
        side = 1 if leg.side == "long" else -1
        legs.append(Leg(leg.right, side * leg.qty, float(STRIKES[i]), days))
    return legs


def _price(leg: Leg, spot: Any, days: float) -> Any:
    return blackscholes.price(spot, leg.strike, days / 365.0, 0.0, 0.0, VOL, leg.right == "C")


def entry_value(legs: list[Leg]) -> float:
    """Σ units · premium: negative for a credit."""
    return float(sum(leg.units * _price(leg, SPOT, leg.days) for leg in legs))


def pnl_at_front_expiry(legs: list[Leg]) -> Any:
    front = min(leg.days for leg in legs)
    value = np.zeros_like(SPOTS_AT_EXPIRY)
    for leg in legs:
        if leg.days == front:
            sign = 1.0 if leg.right == "C" else -1.0
            value += leg.units * np.maximum(sign * (SPOTS_AT_EXPIRY - leg.strike), 0.0)
        else:
            value += leg.units * _price(leg, SPOTS_AT_EXPIRY, leg.days - front)
    return value - entry_value(legs)


def net_delta(legs: list[Leg]) -> float:
    return float(sum(
        leg.units * blackscholes.greeks(SPOT, leg.strike, leg.days / 365.0, 0.0, 0.0, VOL,
                                        leg.right == "C").delta
        for leg in legs
    ))


CREDIT = ["short_put", "short_call", "short_strangle", "short_straddle", "iron_condor",
          "iron_butterfly", "put_credit_spread", "call_credit_spread", "vrp_short_straddle"]
DEBIT = ["put_debit_spread", "call_debit_spread", "long_straddle", "butterfly", "calendar",
         "diagonal"]


@pytest.mark.parametrize("name", CREDIT)
def test_credit_presets_collect_premium(name: str) -> None:
    assert entry_value(resolve(preset(name))) < -1.0


@pytest.mark.parametrize("name", DEBIT)
def test_debit_presets_pay_premium(name: str) -> None:
    assert entry_value(resolve(preset(name))) > 1.0


@pytest.mark.parametrize("name", ["short_straddle", "short_strangle", "iron_condor",
                                  "iron_butterfly", "long_straddle", "vrp_short_straddle"])
def test_neutral_presets_have_small_delta(name: str) -> None:
    assert abs(net_delta(resolve(preset(name)))) < 0.1


@pytest.mark.parametrize("name", ["risk_reversal", "skew_risk_reversal"])
def test_risk_reversals_are_long_delta_for_a_long_signal(name: str) -> None:
    legs = resolve(preset(name))
    assert {(leg.right, leg.units) for leg in legs} == {("P", -1), ("C", 1)}
    assert 0.4 < net_delta(legs) < 0.6  # +0.25 call, −(−0.25) put
    assert abs(entry_value(legs)) < 0.3 * max(_price(leg, SPOT, leg.days) for leg in legs)


def test_short_put_loses_strike_minus_credit_at_zero() -> None:
    legs = resolve(preset("short_put"))
    credit = -entry_value(legs)
    pnl = pnl_at_front_expiry(legs)
    assert pnl.max() == pytest.approx(credit)
    assert pnl[0] == pytest.approx(-(legs[0].strike - credit))
    assert legs[0].strike < SPOT


@pytest.mark.parametrize("name", ["short_call", "short_straddle", "short_strangle"])
def test_naked_short_calls_lose_without_bound(name: str) -> None:
    pnl = pnl_at_front_expiry(resolve(preset(name)))
    assert pnl[-1] < -3000.0


@pytest.mark.parametrize(("name", "right"), [("put_credit_spread", "P"),
                                             ("call_credit_spread", "C")])
def test_credit_spreads_risk_width_minus_credit(name: str, right: str) -> None:
    legs = resolve(preset(name))
    short, long = legs
    assert (short.right, short.units, long.right, long.units) == (right, -1, right, 1)
    assert long.strike - short.strike == (50.0 if right == "C" else -50.0)
    credit = -entry_value(legs)
    pnl = pnl_at_front_expiry(legs)
    assert pnl.max() == pytest.approx(credit)
    assert pnl.min() == pytest.approx(-(50.0 - credit))


@pytest.mark.parametrize(("name", "right"), [("put_debit_spread", "P"),
                                             ("call_debit_spread", "C")])
def test_debit_spreads_gain_width_minus_debit(name: str, right: str) -> None:
    legs = resolve(preset(name))
    long, short = legs
    assert (long.units, short.units) == (1, -1)
    assert short.strike - long.strike == (50.0 if right == "C" else -50.0)
    assert abs(long.strike - SPOT) <= 25.0  # bought near the money
    debit = entry_value(legs)
    pnl = pnl_at_front_expiry(legs)
    assert pnl.min() == pytest.approx(-debit)
    assert pnl.max() == pytest.approx(50.0 - debit)


def test_iron_condor_shape() -> None:
    legs = resolve(preset("iron_condor"))
    short_put, short_call, long_put, long_call = legs
    assert long_put.strike < short_put.strike < SPOT < short_call.strike < long_call.strike
    assert short_put.strike - long_put.strike == 50.0
    assert long_call.strike - short_call.strike == 50.0
    credit = -entry_value(legs)
    pnl = pnl_at_front_expiry(legs)
    assert pnl.max() == pytest.approx(credit)
    assert pnl.min() == pytest.approx(-(50.0 - credit))


def test_iron_butterfly_shape() -> None:
    legs = resolve(preset("iron_butterfly"))
    short_put, short_call, long_put, long_call = legs
    assert short_put.strike == short_call.strike
    assert abs(short_put.strike - SPOT) <= 25.0
    assert (long_put.strike, long_call.strike) == (short_put.strike - 50, short_put.strike + 50)
    credit = -entry_value(legs)
    pnl = pnl_at_front_expiry(legs)
    assert pnl.max() == pytest.approx(credit)
    assert pnl.min() == pytest.approx(-(50.0 - credit))


def test_butterfly_is_one_two_one() -> None:
    legs = resolve(preset("butterfly"))
    by_strike = sorted(legs, key=lambda leg: leg.strike)
    assert [leg.units for leg in by_strike] == [1, -2, 1]
    assert all(leg.right == "C" for leg in legs)
    lower, body, upper = (leg.strike for leg in by_strike)
    assert body - lower == upper - body == 50.0
    debit = entry_value(legs)
    pnl = pnl_at_front_expiry(legs)
    assert pnl.min() == pytest.approx(-debit)
    assert pnl.max() == pytest.approx(50.0 - debit)
    assert SPOTS_AT_EXPIRY[np.argmax(pnl)] == body


def test_long_straddle_profits_from_large_moves() -> None:
    legs = resolve(preset("long_straddle"))
    pnl = pnl_at_front_expiry(legs)
    assert pnl[0] > 0 and pnl[-1] > 0
    assert pnl.min() == pytest.approx(-entry_value(legs), rel=0.02)


@pytest.mark.parametrize("right", ["C", "P"])
def test_calendar_same_strike_near_short_far_long(right: str) -> None:
    spec = preset("calendar", right=right)
    assert spec.structure.dte_far is not None
    assert spec.structure.dte_far.min > spec.structure.dte.max
    near, far = resolve(spec)
    assert (near.units, far.units) == (-1, 1)
    assert near.strike == far.strike
    assert near.days < far.days
    pnl = pnl_at_front_expiry([near, far])
    assert SPOTS_AT_EXPIRY[np.argmax(pnl)] == near.strike
    assert pnl.max() > 0


@pytest.mark.parametrize("right", ["C", "P"])
def test_diagonal_buys_far_leg_deeper_in_the_money(right: str) -> None:
    near, far = resolve(preset("diagonal", right=right, width=100))
    assert (near.units, far.units) == (-1, 1)
    assert far.strike - near.strike == (-100.0 if right == "C" else 100.0)
    assert near.days < far.days


WING_PRESETS = ["iron_condor", "iron_butterfly", "put_credit_spread", "call_credit_spread",
                "put_debit_spread", "call_debit_spread", "butterfly"]


def _diff(a: object, b: object, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in a for d in _diff(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in _diff(x, y, f"{path}[{i}]")]
    return [] if a == b else [path]


@pytest.mark.parametrize("name", WING_PRESETS)
def test_wing_width_moves_only_the_wing_offsets(name: str) -> None:
    narrow, wide = preset(name, wing_width=25.0), preset(name)
    changed = _diff(narrow.model_dump(mode="json"), wide.model_dump(mode="json"))
    assert changed and all(p.endswith(".select.points") for p in changed)
    strikes = [leg.strike for leg in resolve(narrow)]
    wings = 0
    for i, leg in enumerate(narrow.structure.legs):
        if isinstance(leg.select, SelectOffset) and leg.select.points != 0:
            assert abs(strikes[i] - strikes[leg.select.of]) == 25.0
            wings += 1
    assert wings >= 1


@pytest.mark.parametrize("name", [*WING_PRESETS, "diagonal"])
@pytest.mark.parametrize("width", [0.0, -50.0])
def test_wing_width_must_be_positive(name: str, width: float) -> None:
    key = "width" if name == "diagonal" else "wing_width"
    with pytest.raises(SpecError, match=rf"preset '{name}': {key}: .* must be > 0"):
        preset(name, **{key: width})


# ---- reference-engine presets (SEED_PARITY.md §1.1) -----------------------------------------

def test_vrp_short_straddle_matches_the_reference() -> None:
    spec = preset("vrp_short_straddle")
    assert [(leg.right, leg.side, leg.qty) for leg in spec.structure.legs] == [
        ("P", "short", 1), ("C", "short", 1)]
    for leg in spec.structure.legs:
        assert leg.select == SelectDelta(target=0.5, tolerance=0.1)
        assert leg.expiry_group == 0
    dte = spec.structure.dte
    assert (dte.target, dte.min, dte.max) == (30, 23, 37)
    assert spec.structure.dte_far is None
    assert spec.exit.rebalance_days == 5
    assert spec.exit.max_holding_days is None
    assert spec.exit.profit_target is None and spec.exit.stop_loss is None
    assert spec.exit.dte is None and spec.exit.delta_breach is None
    assert spec.exit.period_unit == "calendar"
    assert spec.reentry.same_day == ["rebalance"]
    assert spec.sizing.contracts == 1
    assert spec.entry.signal == SignalAlways(direction="long")  # short legs, held as written


def test_skew_risk_reversal_matches_the_reference() -> None:
    spec = preset("skew_risk_reversal")
    legs = {leg.right: leg for leg in spec.structure.legs}
    assert (legs["C"].side, legs["P"].side) == ("long", "short")
    for leg in legs.values():
        assert leg.select == SelectDelta(target=0.25, tolerance=0.1)
    assert spec.entry.signal == SignalZScore(kind="zscore", feature="skew_25d", window=60,
                                             entry=1.5, exit=0.5, inverted=True)
    assert spec.exit.max_holding_days == 30
    assert spec.exit.rebalance_days is None
    assert spec.exit.profit_target is None and spec.exit.stop_loss is None
    assert spec.reentry.same_day is False
    dte = spec.structure.dte
    assert (dte.target, dte.min, dte.max) == (30, 23, 37)


# ---- preset() overrides ----------------------------------------------------------------------

def test_hedged_short_strangle_turns_the_risk_layer_on() -> None:
    spec = PRESETS["hedged_short_strangle"](hedge_band=7.5, hedge_every_days=5)
    assert [leg.side for leg in spec.structure.legs] == ["short", "short"]
    assert spec.hedge.enabled and spec.hedge.at_entry
    assert (spec.hedge.half_width, spec.hedge.every_days) == (7.5, 5)
    assert spec.sizing.risk_basis == "entry_hedged" and spec.sizing.risk_budget == 0.05
    assert spec.risk.margin.model == "regt" and spec.risk.account.liquidation == "target"


def test_preset_passes_arguments_to_the_function() -> None:
    spec = preset("iron_condor", put_delta=0.2, wing_width=75, name="ic", exit_dte=None)
    assert spec.name == "ic"
    assert spec.structure.legs[0].select == SelectDelta(target=0.2, tolerance=0.05)
    assert spec.structure.legs[2].select.points == -75  # type: ignore[union-attr]
    assert spec.exit.dte is None


def test_preset_sets_spec_paths() -> None:
    spec = preset("put_credit_spread", wing_width=30, **{
        "execution.slippage": 0.5,
        "structure.legs[1].min_open_interest": 100,
        "entry.filters": [{"feature": "iv_rank", "min": 0.3}],
        "capital": 50_000,
    })
    assert spec.execution.slippage == 0.5
    assert spec.structure.legs[1].min_open_interest == 100
    assert spec.structure.legs[0].min_open_interest == 0
    assert spec.entry.filters[0].feature == "iv_rank"
    assert spec.capital == 50_000.0
    assert spec.structure.legs[1].select.points == -30  # type: ignore[union-attr]


def test_preset_path_into_an_unset_section() -> None:
    spec = preset("short_put", **{"structure.dte_far": {"target": 90, "min": 60, "max": 120},
                                  "structure.legs[0].expiry_group": 1})
    assert spec.structure.legs[0].expiry_group == 1


@pytest.mark.parametrize(
    ("name", "overrides", "expected"),
    [
        ("iron_condour", {}, "unknown preset 'iron_condour'; did you mean 'iron_condor'?\n"
                            "  presets: butterfly, calendar,"),
        ("iron_condor", {"wingwidth": 5}, "'wingwidth' is neither an argument (put_delta"),
        ("short_put", {"structure.legs[3].qty": 2}, "no item [3]"),
        ("short_put", {"structure..legs": 2}, "is not a spec path"),
        ("short_put", {"delta": 1.4},
         "preset 'short_put': invalid strategy spec\n  structure.legs[0].select.target: 1.4"),
        ("short_put", {"exit.profit_taget": 0.3},
         "exit.profit_taget: unknown key, did you mean 'profit_target'?"),
        ("calendar", {"far_dte_target": 40},
         "preset 'calendar': the far window starts at 25 days, not after the near window's "
         "end at 37 days"),
        ("diagonal", {"dte_target": 60},
         "the far window starts at 45 days, not after the near window's end at 67 days"),
        ("short_put", {"dte_target": -5}, "structure.dte.target: "),
        ("short_put", {"dte_tolerance": -5}, "structure.dte: need min <= target <= max"),
    ],
    ids=["unknown preset", "unknown argument", "bad index", "bad path", "bad delta",
         "misspelt path", "calendar windows overlap", "diagonal windows overlap",
         "negative days", "negative tolerance"],
)
def test_preset_errors(name: str, overrides: dict[str, Any], expected: str) -> None:
    with pytest.raises(SpecError) as info:
        preset(name, **overrides)
    assert expected in str(info.value)


# ---- YAML files -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(EXPECTED_PRESETS))
def test_job_file_matches_preset(name: str) -> None:
    assert load_strategy(JOBS / f"{name}.yaml") == PRESETS[name]()


def test_job_directory_holds_presets_and_the_example() -> None:
    names = {p.stem for p in JOBS.glob("*.yaml")}
    assert names == EXPECTED_PRESETS | {"short_put_30d"}


def test_short_put_30d_is_the_issue_example() -> None:
    spec = load_strategy(JOBS / "short_put_30d.yaml")
    assert spec.name == "short_put_30d"
    assert (spec.capital, spec.multiplier) == (100_000.0, 100.0)
    dte = spec.structure.dte
    assert (dte.target, dte.min, dte.max) == (45, 30, 60)
    assert len(spec.structure.legs) == 1
    leg = spec.structure.legs[0]
    assert (leg.right, leg.side, leg.qty) == ("P", "short", 1)
    assert leg.select == SelectDelta(target=0.30, tolerance=0.10)
    assert spec.entry.weekdays == [0, 1, 2, 3, 4]
    assert spec.entry.every_n_days == 1
    assert spec.entry.filters == []
    assert (spec.exit.profit_target, spec.exit.stop_loss, spec.exit.dte) == (0.5, 2.0, 21)
    assert spec.exit.max_holding_days is None and spec.exit.delta_breach is None
    assert spec.reentry.same_day is False
    assert (spec.execution.slippage, spec.execution.commission_per_contract) == (0.0, 0.65)
    assert spec.sizing.contracts == 1


@pytest.mark.parametrize("name", sorted(EXPECTED_PRESETS))
def test_strategy_yaml_round_trips(name: str) -> None:
    spec = preset(name, **{"entry.filters": [{"feature": "vrp", "min": 0.0, "max": None}],
                           "structure.legs[0].max_relative_spread": 0.25})
    text = strategy_yaml(spec, header="line one\nline two")
    assert text.startswith("# line one\n# line two\n")
    assert parse_strategy(yaml.safe_load(text)) == spec
    assert max(len(line) for line in text.splitlines()) <= 100


def test_write_preset_files(tmp_path: Path) -> None:
    written = write_preset_files(tmp_path / "out")
    assert {p.stem for p in written} == EXPECTED_PRESETS
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in written)
    for path in written:
        assert load_strategy(path) == PRESETS[path.stem]()
        assert path.read_text() == (JOBS / path.name).read_text()
