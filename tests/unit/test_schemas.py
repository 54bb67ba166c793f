"""JSON Schemas in schemas/ stay in step with the models, and job files validate against them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import ValidationError

from gridbt import _schemas
from gridbt._schemas import (
    expected_schemas,
    render_schema,
    stale_schemas,
    write_schemas,
)
from gridbt.optimize.spec import StudySpec
from gridbt.strategy.paths import set_path
from gridbt.strategy.spec import SpecError, parse_strategy

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
JOB_FILES = sorted((ROOT / "jobs" / "strategies").glob("*.yaml"))


def _validator(filename: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / filename).read_text())
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("filename", sorted(expected_schemas()))
def test_schema_file_matches_the_models(filename: str) -> None:
    path = SCHEMAS / filename
    assert path.is_file(), f"{path} missing: run python -m gridbt._schemas"
    expected = render_schema(expected_schemas()[filename])
    assert path.read_text(encoding="utf-8") == expected, (
        f"{path} differs from the models: run python -m gridbt._schemas"
    )


def test_no_stale_schemas() -> None:
    assert stale_schemas(SCHEMAS) == []


@pytest.mark.parametrize("filename", sorted(expected_schemas()))
def test_schema_is_valid_draft_2020_12(filename: str) -> None:
    schema = json.loads((SCHEMAS / filename).read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_strategy_schema_describes_the_spec() -> None:
    schema = expected_schemas()["strategy.schema.json"]
    assert schema["title"] == "StrategySpec"
    assert schema["required"] == ["structure"]
    assert schema["additionalProperties"] is False
    assert {"LegSpec", "SelectDelta", "SelectOffset", "SignalZScore"} <= set(schema["$defs"])


def test_rendering_is_deterministic(tmp_path: Path) -> None:
    first = write_schemas(tmp_path / "a")
    second = write_schemas(tmp_path / "b")
    for a, b in zip(first, second, strict=True):
        text = a.read_text()
        assert text == b.read_text()
        assert text.endswith("}\n") and not text.endswith("\n\n")
        assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(expected_schemas())


def test_drift_is_detected(tmp_path: Path) -> None:
    assert stale_schemas(tmp_path) == sorted(expected_schemas())  # missing files
    write_schemas(tmp_path)
    assert stale_schemas(tmp_path) == []
    path = tmp_path / "strategy.schema.json"
    schema = json.loads(path.read_text())
    schema["$defs"]["LegSpec"]["properties"]["qty"]["maximum"] = 1000
    path.write_text(render_schema(schema))
    assert stale_schemas(tmp_path) == ["strategy.schema.json"]


def test_command_line_writes_and_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "schemas"
    assert _schemas.main(["--check", str(target)]) == 1
    assert "strategy.schema.json: differs from the models" in capsys.readouterr().err
    assert _schemas.main([str(target)]) == 0
    assert _schemas.main(["--check", str(target)]) == 0
    assert stale_schemas(target) == []


@pytest.mark.parametrize("path", JOB_FILES, ids=[p.name for p in JOB_FILES])
def test_job_files_validate_against_the_schema(path: Path) -> None:
    payload = yaml.safe_load(path.read_text())
    errors = [e.message for e in _validator("strategy.schema.json").iter_errors(payload)]
    assert errors == []


SWEEP_FILES = sorted((ROOT / "jobs" / "sweeps").glob("*.yaml"))


@pytest.mark.parametrize("path", SWEEP_FILES, ids=[p.name for p in SWEEP_FILES])
def test_sweep_files_validate_against_the_schema(path: Path) -> None:
    payload = yaml.safe_load(path.read_text())
    errors = [e.message for e in _validator("sweep.schema.json").iter_errors(payload)]
    assert errors == []


def test_sweep_schema_rejects_an_unknown_key() -> None:
    payload = yaml.safe_load(SWEEP_FILES[0].read_text())
    payload["gird"] = {}
    assert list(_validator("sweep.schema.json").iter_errors(payload))


STUDY_FILES = sorted((ROOT / "jobs" / "studies").glob("*.yaml"))


@pytest.mark.parametrize("path", STUDY_FILES, ids=[p.name for p in STUDY_FILES])
def test_study_files_validate_against_the_schema(path: Path) -> None:
    payload = yaml.safe_load(path.read_text())
    errors = [e.message for e in _validator("study.schema.json").iter_errors(payload)]
    assert errors == []


def test_study_schema_describes_the_spec() -> None:
    schema = expected_schemas()["study.schema.json"]
    assert schema["title"] == "StudySpec"
    assert schema["required"] == ["name", "strategy", "space"]
    assert schema["additionalProperties"] is False
    kinds = schema["properties"]["space"]["additionalProperties"]["anyOf"]
    assert [k["required"] for k in kinds] == [["float"], ["int"], ["categorical"]]
    assert {"SamplerConfig", "PrunerConfig", "WalkForward"} <= set(schema["$defs"])


def _short_put_study() -> dict[str, Any]:
    payload = yaml.safe_load((ROOT / "jobs" / "studies" / "short_put_tpe.yaml").read_text())
    assert isinstance(payload, dict)
    return payload


@pytest.mark.parametrize(
    ("keys", "value"),
    [
        (("trails",), 300),
        (("space", "exit.stop_loss"), {"low": 1.0, "high": 2.0}),
        (("space", "exit.stop_loss"), {"float": [1.0, 2.0], "int": [1, 2]}),
        (("space", "exit.stop_loss"), {"float": [1.0, 2.0], "stepp": 0.1}),
        (("space", "exit.stop_loss"), {"categorical": []}),
        (("space", "structure.dte.target"), {"int": [30, 60], "step": 0}),
        (("sampler", "kind"), "annealing"),
        (("sampler", "seeed"), 1),
        (("pruner", "kind"), "early"),
        (("walk_forward",), {"folds": 0}),
        (("walk_forward",), {"scheme": "expanding"}),
        (("objectives",), ["sharpie"]),
        (("objectives",), []),
        (("trials",), 0),
        (("name",), "short put"),
    ],
)
def test_study_schema_rejects_what_the_model_rejects(keys: tuple[str, ...], value: object) -> None:
    payload = _short_put_study()
    node = payload
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    assert list(_validator("study.schema.json").iter_errors(payload))
    with pytest.raises(ValidationError):
        StudySpec.model_validate(payload)


def test_study_schema_admits_when_with_one_value() -> None:
    payload = _short_put_study()
    payload["space"]["exit.max_holding_days"] = {"int": [10, 40], "when": {"exit.stop_loss": 2.0}}
    StudySpec.model_validate(payload)
    assert list(_validator("study.schema.json").iter_errors(payload)) == []


def test_job_files_exist() -> None:
    assert len(SWEEP_FILES) >= 3
    assert len(STUDY_FILES) >= 3
    assert len(JOB_FILES) >= 18


def _short_put() -> dict[str, Any]:
    payload = yaml.safe_load((ROOT / "jobs" / "strategies" / "short_put_30d.yaml").read_text())
    assert isinstance(payload, dict)
    return payload


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("bogus", 1),
        ("exit.stop_loss", -1.0),
        ("structure.legs.0.right", "X"),
        ("structure.legs.0.select.by", "gamma"),
        ("structure.legs.0.qty", 0),
        ("structure.dte.min", "thirty"),
        ("entry.every_n_days", 0),
        ("reentry.same_day", ["expiry"]),
        ("execution.slippage", 1.5),
        ("execution.slippage_per_contract", -0.01),
        ("hedge.band_units", "shares"),
    ],
)
def test_schema_and_models_reject_the_same_mistakes(path: str, value: object) -> None:
    payload = _short_put()
    set_path(payload, path, value, create=True)
    assert list(_validator("strategy.schema.json").iter_errors(payload))
    with pytest.raises(SpecError):
        parse_strategy(payload)
