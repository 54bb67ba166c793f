"""Strategy spec validation messages and the stable hash."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gridbt.strategy.spec import SpecError, StrategySpec, load_strategy, parse_strategy

Payload = dict[str, Any]


def _base() -> Payload:
    return {
        "name": "test",
        "structure": {
            "dte": {"target": 45, "min": 30, "max": 60},
            "legs": [
                {"right": "P", "side": "short", "select": {"by": "delta", "target": 0.3}},
                {"right": "P", "side": "long",
                 "select": {"by": "offset", "of": 0, "points": -50, "tolerance": 25}},
            ],
        },
    }


def _mutated(change: Callable[[Payload], None]) -> Payload:
    payload = _base()
    change(payload)
    return payload


def _set(path: str, value: object) -> Callable[[Payload], None]:
    def change(payload: Payload) -> None:
        node: Any = payload
        parts = path.split(".")
        for part in parts[:-1]:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        last = parts[-1]
        if last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value
    return change


def _delete(path: str) -> Callable[[Payload], None]:
    def change(payload: Payload) -> None:
        node: Any = payload
        parts = path.split(".")
        for part in parts[:-1]:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[parts[-1]]
    return change


# (change to the valid base payload, text the message must contain)
BAD_SPECS: list[tuple[str, Callable[[Payload], None], list[str]]] = [
    ("delta out of range", _set("structure.legs.1.select", {"by": "delta", "target": 1.4}),
     ["structure.legs[1].select.target: 1.4 is not a delta in (0, 1)"]),
    ("dte min above max", _set("structure.dte", {"target": 45, "min": 70, "max": 60}),
     ["structure.dte: need min <= target <= max", "70", "60"]),
    ("offset of a later leg", _set("structure.legs.0.select", {"by": "offset", "of": 1,
                                                                 "points": 5}),
     ["structure.legs[0].select.of: 1 must name an earlier leg"]),
    ("offset of itself", _set("structure.legs.1.select.of", 1),
     ["structure.legs[1].select.of: 1 must name an earlier leg (< 1)"]),
    ("unknown top-level key", _set("bogus", 3),
     ["bogus: unknown key; expected one of: name, capital", "(got 3)"]),
    ("misspelt exit key", _set("exit.profit_taget", 0.5),
     ["exit.profit_taget: unknown key, did you mean 'profit_target'? (got 0.5)"]),
    ("misspelt key in a delta select", _set("structure.legs.0.select.tolerence", 0.1),
     ["structure.legs[0].select.tolerence: unknown key, did you mean 'tolerance'?"]),
    ("misspelt key in an offset select", _set("structure.legs.1.select.point", 5),
     ["structure.legs[1].select.point: unknown key, did you mean 'points'?"]),
    ("misspelt key in a z-score signal",
     _set("entry.signal", {"kind": "zscore", "feature": "iv_rank", "windw": 20}),
     ["entry.signal.windw: unknown key, did you mean 'window'?"]),
    ("capital not a number", _set("capital", "lots"), ["capital: ", "(got 'lots')"]),
    ("qty not an integer", _set("structure.legs.0.qty", "two"),
     ["structure.legs[0].qty: ", "integer", "(got 'two')"]),
    ("qty above the cap", _set("structure.legs.0.qty", 101),
     ["structure.legs[0].qty: ", "100", "(got 101)"]),
    ("far expiry group without dte_far", _set("structure.legs.1.expiry_group", 1),
     ["structure.legs[1].expiry_group: 1 needs structure.dte_far"]),
    ("expiry group 2", _set("structure.legs.1.expiry_group", 2),
     ["structure.legs[1].expiry_group: ", "(got 2)"]),
    ("weekday 7", _set("entry.weekdays", [0, 7]),
     ["entry.weekdays: 7 is not a weekday (Monday = 0 .. Sunday = 6)"]),
    ("weekdays not a list", _set("entry.weekdays", "mon"),
     ["entry.weekdays: ", "list", "(got 'mon')"]),
    ("unknown right", _set("structure.legs.0.right", "X"),
     ["structure.legs[0].right: Input should be 'C' or 'P' (got 'X')"]),
    ("missing side", _delete("structure.legs.0.side"),
     ["structure.legs[0].side: missing required key"]),
    ("missing structure", _delete("structure"), ["structure: missing required key"]),
    ("unknown selector", _set("structure.legs.0.select", {"by": "gamma", "target": 0.3}),
     ["structure.legs[0].select.by: 'gamma' is not one of 'delta', 'moneyness', 'offset'"]),
    ("selector without by takes delta", _set("structure.legs.0.select", {"target": 1.3}),
     ["structure.legs[0].select.target: 1.3 is not a delta in (0, 1)"]),
    ("negative tolerance", _set("structure.legs.0.select.tolerance", -1),
     ["structure.legs[0].select.tolerance: ", "greater than 0", "(got -1)"]),
    ("re-entry on expiry", _set("reentry.same_day", ["expiry"]),
     ["reentry.same_day[0]: ", "'rebalance'", "(got 'expiry')"]),
    ("re-entry flag not a bool or list", _set("reentry.same_day", 3),
     ["reentry.same_day: ", "boolean", "list", "(got 3)"]),
    ("window not a mapping", _set("structure.dte", 45),
     ["structure.dte: expected a mapping of keys to values (got 45)"]),
    ("delta breach of 1.5", _set("exit.delta_breach", 1.5),
     ["exit.delta_breach: ", "less than 1", "(got 1.5)"]),
    ("no legs", _set("structure.legs", []), ["structure.legs: ", "at least 1"]),
    ("five legs", _set("structure.legs", [_base()["structure"]["legs"][0]] * 5),
     ["structure.legs: ", "at most 4"]),
    ("z-score without feature", _set("entry.signal", {"kind": "zscore"}),
     ["entry.signal.feature: missing required key"]),
    ("filter bound not a number", _set("entry.filters", [{"feature": "vrp", "min": "low"}]),
     ["entry.filters[0].min: ", "(got 'low')"]),
    ("margin budget without a margin model", _set("sizing", {"margin_budget": 0.5}),
     ["sizing.margin_budget: needs risk.margin.model regt or pm"]),
    ("entry-hedged risk without a hedge", _set("sizing", {"risk_budget": 0.02,
                                                          "risk_basis": "entry_hedged"}),
     ["sizing.risk_basis: entry_hedged needs hedge.enabled"]),
    ("risk budget above 1", _set("sizing.risk_budget", 1.5),
     ["sizing.risk_budget: ", "less than or equal to 1", "(got 1.5)"]),
    ("min contracts above max", _set("sizing", {"min_contracts": 5, "max_contracts": 2}),
     ["sizing.min_contracts: 5 exceeds max_contracts 2"]),
    ("spot shock through zero", _set("risk", {"stress": {"spot": [-0.1, -1.2]}}),
     ["risk.stress.spot: -1.2 would take spot to or below 0"]),
    ("stress grid too large", _set("risk", {"stress": {"spot": [i / 100 for i in range(9)],
                                                       "vol": [0.0, 0.01, 0.02, 0.03],
                                                       "rate": [0.0, 0.01]}}),
     ["risk.stress.scenarios: the grid has 72 scenarios, at most 64"]),
    ("unknown stress family", _set("risk", {"stress": {"scenarios": "named",
                                                       "families": ["crash"]}}),
     ["risk.stress.families[0]: ", "(got 'crash')"]),
    ("unknown margin model", _set("risk", {"margin": {"model": "span"}}),
     ["risk.margin.model: ", "(got 'span')"]),
    ("hedge without band or period", _set("hedge", {"enabled": True, "band": "none"}),
     ["hedge.band: 'none' needs every_days"]),
    ("Whalley-Wilmott band to the centre", _set("hedge", {"band": "ww"}),
     ["hedge.rebalance_to: the Whalley-Wilmott band trades to the boundary"]),
    ("misspelt hedge key", _set("hedge", {"half_widht": 3}),
     ["hedge.half_widht: unknown key, did you mean 'half_width'?"]),
    ("negative slippage per contract", _set("execution.slippage_per_contract", -0.01),
     ["execution.slippage_per_contract: ", "greater than or equal to 0", "(got -0.01)"]),
    ("infinite slippage per contract", _set("execution.slippage_per_contract", float("inf")),
     ["execution.slippage_per_contract: ", "finite number", "(got inf)"]),
    ("NaN slippage per contract", _set("execution.slippage_per_contract", float("nan")),
     ["execution.slippage_per_contract: ", "(got nan)"]),
    ("slippage per contract not a number", _set("execution.slippage_per_contract", "1 cent"),
     ["execution.slippage_per_contract: ", "(got '1 cent')"]),
    ("unknown band units", _set("hedge.band_units", "shares"),
     ["hedge.band_units: Input should be 'per_contract' or 'position' (got 'shares')"]),
]


@pytest.mark.parametrize(("change", "expected"), [c[1:] for c in BAD_SPECS],
                         ids=[c[0] for c in BAD_SPECS])
def test_bad_spec_message_names_path_and_value(
    change: Callable[[Payload], None], expected: list[str]
) -> None:
    with pytest.raises(SpecError) as info:
        parse_strategy(_mutated(change), "job.yaml")
    message = str(info.value)
    assert message.startswith("job.yaml: invalid strategy spec\n  ")
    for text in expected:
        assert text in message
    # pydantic's internal union tags must not leak into the paths
    for tag in ("function-after", "list[", "literal[", ".bool", ".delta.", ".zscore."):
        assert tag not in message


def test_base_payload_is_valid() -> None:
    spec = parse_strategy(_base())
    assert spec.structure.legs[1].select.by == "offset"


def test_every_error_is_reported_on_its_own_line() -> None:
    payload = _mutated(_set("capital", -5))
    _set("entry.weekdays", [9])(payload)
    _set("exit.stopp_loss", 2)(payload)
    with pytest.raises(SpecError) as info:
        parse_strategy(payload)
    lines = str(info.value).splitlines()
    assert lines[0] == "invalid strategy spec"
    assert sorted(line.split(":")[0].strip() for line in lines[1:]) == [
        "capital", "entry.weekdays", "exit.stopp_loss",
    ]


@pytest.mark.parametrize("payload", [None, [1, 2], "short put", 3])
def test_payload_that_is_not_a_mapping(payload: object) -> None:
    with pytest.raises(SpecError, match=r"expected a mapping of keys to values \(got "):
        parse_strategy(payload)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text(text)
    return path


def test_load_strategy_names_the_file_and_the_field(tmp_path: Path) -> None:
    path = _write(tmp_path, """\
structure:
  dte: {target: 45, min: 30, max: 60}
  legs:
    - {right: P, side: short, select: {by: delta, target: 0.3}}
    - {right: P, side: long, select: {by: delta, target: 1.4}}
entry:
  weekdays: [0, 7]
""")
    with pytest.raises(SpecError) as info:
        load_strategy(path)
    message = str(info.value)
    assert message.startswith(f"{path}: invalid strategy spec")
    assert "structure.legs[1].select.target: 1.4 is not a delta in (0, 1)" in message
    assert "entry.weekdays: 7 is not a weekday" in message


def test_load_strategy_reads_a_valid_file(tmp_path: Path) -> None:
    path = _write(tmp_path, """\
name: put_spread
structure:
  dte: {target: 30, min: 20, max: 40}
  legs:
    - {right: P, side: short, select: {by: delta, target: 0.25}}
    - {right: P, side: long, select: {by: offset, of: 0, points: -25, tolerance: 10}}
exit: {profit_target: 0.5}
""")
    spec = load_strategy(path)
    assert spec.name == "put_spread"
    assert spec.structure.legs[1].select.by == "offset"
    assert spec.structure.legs[1].select.points == -25.0
    assert spec.exit.profit_target == 0.5
    assert spec.exit.stop_loss is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "expected a mapping of keys to values (got None)"),
        ("structure: [unclosed\n", "cannot read strategy file"),
        ("structure:\n  dte: {target: 45, min: 30, max: 60}\n  legs: []\n", "structure.legs: "),
    ],
    ids=["empty file", "bad YAML", "no legs"],
)
def test_load_strategy_bad_files(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_strategy(path)
    assert str(info.value).startswith(f"{path}: ")
    assert expected in str(info.value)


def test_load_strategy_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(SpecError, match="nope.yaml: cannot read strategy file"):
        load_strategy(path)


# ---- stable hash -------------------------------------------------------------------------------

def _rich() -> Payload:
    """A spec with every field set, most away from their defaults."""
    return {
        "name": "rich",
        "capital": 250000.0,
        "multiplier": 50.0,
        "structure": {
            "dte": {"target": 30, "min": 20, "max": 40},
            "dte_far": {"target": 90, "min": 60, "max": 120},
            "legs": [
                {"right": "C", "side": "short", "qty": 2,
                 "select": {"by": "delta", "target": 0.3, "tolerance": 0.05},
                 "expiry_group": 0, "min_open_interest": 10, "min_volume": 5,
                 "max_relative_spread": 0.2},
                {"right": "P", "side": "long", "qty": 1,
                 "select": {"by": "moneyness", "target": 0.9, "tolerance": 0.03},
                 "expiry_group": 0, "min_open_interest": 0, "min_volume": 0,
                 "max_relative_spread": None},
                {"right": "C", "side": "long", "qty": 1,
                 "select": {"by": "offset", "of": 0, "points": 50.0, "tolerance": 10.0},
                 "expiry_group": 1, "min_open_interest": 1, "min_volume": 1,
                 "max_relative_spread": 0.5},
            ],
        },
        "entry": {
            "weekdays": [0, 2, 4],
            "every_n_days": 2,
            "filters": [{"feature": "iv_rank", "min": 0.2, "max": 0.8}],
            "signal": {"kind": "zscore", "feature": "vrp", "window": 40, "entry": 1.5,
                       "exit": 0.25, "inverted": True},
        },
        "exit": {"profit_target": 0.5, "stop_loss": 2.0, "dte": 7, "max_holding_days": 30,
                 "rebalance_days": 5, "delta_breach": 0.4, "period_unit": "trading"},
        "reentry": {"same_day": ["rebalance", "profit_target"]},
        "execution": {"slippage": 0.25, "slippage_per_contract": 0.01,
                      "commission_per_contract": 1.0},
        "sizing": {"contracts": 3, "risk_budget": 0.02, "risk_basis": "unhedged",
                   "margin_budget": 0.5, "kelly_fraction": 0.5, "kelly_min_trades": 20,
                   "vol_target": 0.1, "min_contracts": 1, "max_contracts": 30},
        "risk": {
            "rate": 0.03, "dividend": 0.015,
            "stress": {"scenarios": "named", "families": ["core", "tail"],
                       "spot": [-0.2, 0.0, 0.2], "vol": [-0.04, 0.06], "risk_reversal": [0.02],
                       "rate": [0.01], "time_days": [5.0]},
            "margin": {"model": "pm", "broad_index": False, "min_underlying_pct": 0.12,
                       "min_put_pct": 0.11, "house_multiplier": 1.5, "house_floor": 100.0,
                       "stress_multiplier": 1.2, "minimum": 50.0},
            "account": {"maintenance_ratio": 0.8, "grace_days": 2, "liquidation": "target",
                        "liquidation_buffer": 0.1, "cash_rate": 0.04, "borrow_rate": 0.07},
        },
        "hedge": {"enabled": True, "band": "fixed", "band_units": "position",
                  "half_width": 12.0, "ww_c": 1.5,
                  "ww_min": 1.0, "ww_max": 40.0, "ww_fee": 0.001, "rebalance_to": "boundary",
                  "every_days": 3, "combine": "and", "target_delta": 5.0, "at_entry": True,
                  "min_trade": 2.0, "max_trade": 500.0, "commission_per_share": 0.005,
                  "slippage_bps": 2.0},
        "mlflow": {"enabled": False, "tracking_uri": "sqlite:///runs.db", "experiment": "rich"},
    }


_SWAP = {"C": "P", "P": "C", "long": "short", "short": "long", "calendar": "trading",
         "trading": "calendar", "unhedged": "entry_hedged", "named": "grid", "pm": "regt",
         "target": "full", "fixed": "ww", "boundary": "center", "and": "or",
         "position": "per_contract"}
_TAGS = {"by", "kind"}


def _leaves(node: object, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(node, list) and any(isinstance(item, dict) for item in node):
        for i, item in enumerate(node):
            yield from _leaves(item, (*path, i))
    else:
        yield path


def _candidates(value: object) -> list[object]:
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1, value - 1]
    if isinstance(value, float):
        return [value + 0.01, value - 0.01, value * 0.5]
    if isinstance(value, str):
        return [_SWAP.get(value, value + "_x")]
    if isinstance(value, list):
        return [value[:-1], [*value, 5], [*value, "stop_loss"]]
    assert value is None
    return [0.5, 1, 10]


def _replaced(payload: Payload, path: tuple[str | int, ...], value: object) -> Payload:
    out = copy.deepcopy(payload)
    node: Any = out
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return out


def test_rich_spec_is_valid_and_round_trips() -> None:
    spec = parse_strategy(_rich())
    assert parse_strategy(spec.model_dump(mode="json")) == spec
    assert spec.model_dump(mode="json") == _rich()


def test_stable_hash_equal_for_equal_specs() -> None:
    first = parse_strategy(_rich())
    reordered = dict(reversed(list(_rich().items())))
    reordered["capital"] = 250000  # an int where the model holds a float
    second = parse_strategy(reordered)
    assert first == second
    assert first.stable_hash() == second.stable_hash()
    assert len(first.stable_hash()) == 16


def test_stable_hash_ignores_the_name() -> None:
    payload = _rich()
    payload["name"] = "another name"
    assert parse_strategy(payload).stable_hash() == parse_strategy(_rich()).stable_hash()


def test_stable_hash_changes_with_every_parameter() -> None:
    base = _rich()
    base_hash = parse_strategy(base).stable_hash()
    seen = {base_hash}
    checked = 0
    for path in _leaves(base):
        if path == ("name",) or path[-1] in _TAGS or path[0] == "mlflow":
            continue  # names and where runs are logged are not the strategy
        value: Any = base
        for part in path:
            value = value[part]
        for candidate in _candidates(value):
            try:
                spec = parse_strategy(_replaced(base, path, candidate))
            except SpecError:
                continue
            assert spec.stable_hash() != base_hash, path
            seen.add(spec.stable_hash())
            break
        else:
            pytest.fail(f"no valid change found for {path}")
        checked += 1
    assert checked >= 100  # every leaf of the rich spec
    assert len(seen) == checked + 1  # and each change gives its own hash


def test_the_mlflow_section_is_not_part_of_the_hash() -> None:
    logged = _rich()
    plain = {k: v for k, v in logged.items() if k != "mlflow"}
    assert parse_strategy(logged).stable_hash() == parse_strategy(plain).stable_hash()


def test_stable_hash_changes_with_selector_kind_and_leg_count() -> None:
    base = _base()
    by_moneyness = _mutated(_set("structure.legs.0.select", {"by": "moneyness", "target": 0.3}))
    one_leg = _mutated(lambda p: p["structure"]["legs"].pop())
    hashes = {parse_strategy(p).stable_hash() for p in (base, by_moneyness, one_leg)}
    assert len(hashes) == 3


def test_defaults_hash_like_explicit_values() -> None:
    explicit = _mutated(_set("execution", {"slippage": 0.0, "commission_per_contract": 0.65}))
    assert parse_strategy(explicit).stable_hash() == parse_strategy(_base()).stable_hash()


def test_spec_is_frozen() -> None:
    spec = parse_strategy(_base())
    with pytest.raises(ValueError, match="frozen"):
        spec.capital = 1.0  # type: ignore[misc]
    assert isinstance(spec, StrategySpec)


def test_selector_and_signal_tags_default_to_delta_and_always() -> None:
    from gridbt.strategy.spec import SelectDelta, SignalAlways, parse_strategy

    spec = parse_strategy({
        "structure": {"dte": {"target": 30, "min": 20, "max": 40},
                      "legs": [{"right": "P", "side": "short", "select": {"target": 0.2}}]},
        "entry": {"signal": {"direction": "short"}},
    })
    assert spec.structure.legs[0].select == SelectDelta(target=0.2)
    assert spec.entry.signal == SignalAlways(direction="short")
