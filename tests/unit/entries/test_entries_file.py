"""Entries files: the shipped example loads and matches its schema; bad files are refused with
the file, the field and the value named."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from gridbt.entries.spec import EntriesError, load_entries, rule_label
from gridbt.strategy.spec import ExitConfig

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "jobs" / "entries" / "short_put_entries.yaml"
INLINE = {"structure": {"dte": {"target": 45, "min": 30, "max": 60},
                        "legs": [{"right": "P", "side": "short", "select": {"target": 0.3}}]}}


def _write(tmp_path: Path, payload: dict[str, object]) -> Path:
    path = tmp_path / "entries.yaml"
    path.write_text(yaml.safe_dump(payload))
    return path


def _base(**changes: object) -> dict[str, object]:
    payload: dict[str, object] = {"name": "e", "strategy": INLINE,
                                  "buckets": {"dte": [30, 45], "delta": [0.1, 0.3]}}
    payload.update(changes)
    return payload


def test_the_example_loads_with_its_strategy_and_matches_the_schema() -> None:
    spec, strategy = load_entries(EXAMPLE)
    assert strategy.name == "short_put_30d" and spec.buckets.by == "delta"
    assert [rule_label(r) for r in spec.exits or []] == ["expiry", "pt=0.5",
                                                         "pt=0.5 sl=2 dte=7"]
    schema = json.loads((REPO / "schemas" / "entries.schema.json").read_text())
    jsonschema.validate(yaml.safe_load(EXAMPLE.read_text()), schema)


@pytest.mark.parametrize(("buckets", "expected"), [
    ({"dte": [30, 20], "delta": [0.1]}, "buckets.dte[1]: 20 does not exceed 30"),
    ({"dte": [-1, 20], "delta": [0.1]}, "buckets.dte[0]: -1 is negative"),
    ({"dte": [30], "delta": [0.1, 1.5]}, "buckets.delta[1]: 1.5 is not an |delta| in [0, 1]"),
    ({"dte": [30], "delta": [0.1], "moneyness": [0.0]}, "buckets: give exactly one of delta and"),
    ({"dte": [30]}, "buckets: give exactly one of delta and moneyness"),
    ({"dte": [], "delta": [0.1]}, "buckets.dte: List should have at least 1 item"),
    ({"dte": [30], "delta": [0.1], "vega": [1]}, "buckets.vega: unknown key"),
])
def test_bad_buckets_name_the_file_field_and_value(tmp_path: Path, buckets: dict[str, object],
                                                   expected: str) -> None:
    path = _write(tmp_path, _base(buckets=buckets))
    with pytest.raises(EntriesError) as error:
        load_entries(path)
    assert str(path) in str(error.value) and expected in str(error.value)


@pytest.mark.parametrize(("changes", "expected"), [
    ({"exits": [{"profit_target": -1}]}, "exits[0].profit_target"),
    ({"strategy": "missing.yaml"}, "strategy: cannot read 'missing.yaml'"),
    ({"strategy": {**INLINE, "hedge": {"enabled": True}}}, "hedge.enabled: true is not"),
    ({"strategy": {**INLINE, "entry": {"signal": {"kind": "zscore", "feature": "iv_rank"}}}},
     "entry.signal.kind: 'zscore' is not supported"),
    ({"buckets": {"dte": [90], "delta": [0.1]}}, "buckets.dte[0]: 90 is above"),
    ({"strategy": {"structure": {
        "dte": {"target": 20, "min": 10, "max": 30}, "dte_far": {"target": 60, "min": 45,
                                                                "max": 90},
        "legs": [{"right": "C", "side": "long", "expiry_group": 1, "select": {"target": 0.5}},
                 {"right": "C", "side": "short", "select": {"by": "offset", "of": 0,
                                                            "points": 0.0}}]}}},
     "structure.legs[0].expiry_group: 1 is not supported"),
])
def test_unusable_files_are_refused(tmp_path: Path, changes: dict[str, object],
                                    expected: str) -> None:
    with pytest.raises(EntriesError, match=None) as error:
        load_entries(_write(tmp_path, _base(**changes)))
    assert expected in str(error.value)


def test_rule_labels() -> None:
    assert rule_label(ExitConfig()) == "expiry"
    assert rule_label(ExitConfig(max_holding_days=5, period_unit="trading",
                                 delta_breach=0.4)) == "hold=5 delta=0.4 trading"
