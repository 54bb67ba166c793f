"""The committed OpenAPI document (`schemas/openapi.json`) is the app's."""

from __future__ import annotations

from pathlib import Path

from gridbt.api.openapi import main, openapi_document

SCHEMA = Path(__file__).resolve().parents[3] / "schemas" / "openapi.json"


def test_the_committed_openapi_document_is_the_apps() -> None:
    assert SCHEMA.is_file(), f"{SCHEMA} missing: run python -m gridbt.api.openapi"
    assert SCHEMA.read_text(encoding="utf-8") == openapi_document(), (
        f"{SCHEMA} differs from the app: run python -m gridbt.api.openapi")


def test_check_names_a_stale_document(tmp_path: Path, capsys: object) -> None:
    stale = tmp_path / "openapi.json"
    stale.write_text("{}\n")
    assert main([str(stale), "--check"]) == 1
    assert main([str(stale)]) == 0
    assert main([str(stale), "--check"]) == 0
    assert stale.read_text() == openapi_document()


def test_every_route_answers_a_typed_object_and_errors_are_documented() -> None:
    import json

    document = json.loads(openapi_document())
    for path, methods in document["paths"].items():
        assert list(methods) == ["get"], path
        ok = methods["get"]["responses"]["200"]["content"]
        if path != "/api/events":
            schema = ok["application/json"]["schema"]
            assert "$ref" in schema or schema.get("type") == "array", path
