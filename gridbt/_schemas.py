"""Generate the JSON Schemas in `schemas/` from the pydantic models.

Run `python -m gridbt._schemas [DIRECTORY]` (default `schemas`) to write them, or add
`--check` to list the files that differ from the models and exit 1 if any do.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from gridbt._typing import PathLike
from gridbt.data.store import write_json_atomic
from gridbt.entries.spec import EntriesSpec
from gridbt.optimize.spec import StudySpec
from gridbt.strategy.spec import StrategySpec
from gridbt.strategy.summary import BacktestSummary
from gridbt.sweep.spec import SweepSpec

__all__ = [
    "JSON_SCHEMA_DIALECT", "SCHEMA_MODELS", "expected_schemas", "render_schema", "stale_schemas",
    "write_schemas",
]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

#: File name in `schemas/` -> the model it describes.
SCHEMA_MODELS: dict[str, type[BaseModel]] = {
    "entries.schema.json": EntriesSpec,
    "strategy.schema.json": StrategySpec,
    "study.schema.json": StudySpec,
    "summary.schema.json": BacktestSummary,
    "sweep.schema.json": SweepSpec,
}


def expected_schemas() -> dict[str, dict[str, Any]]:
    """Return every schema file name and the schema the models generate for it."""
    out = {}
    for filename, model in SCHEMA_MODELS.items():
        schema = {"$schema": JSON_SCHEMA_DIALECT, **model.model_json_schema()}
        out[filename] = schema
    return out


def render_schema(schema: dict[str, Any]) -> str:
    """Return the file text of a schema: JSON, indent 2, sorted keys, trailing newline."""
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"  # as `write_json_atomic` writes


def stale_schemas(directory: PathLike) -> list[str]:
    """Return the names of schema files in `directory` that are missing or differ."""
    root = Path(directory)
    stale = []
    for filename, schema in expected_schemas().items():
        path = root / filename
        if not path.is_file() or path.read_text(encoding="utf-8") != render_schema(schema):
            stale.append(filename)
    return stale


def write_schemas(directory: PathLike) -> list[Path]:
    """Write every schema into `directory` (each atomically) and return the paths written."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, schema in expected_schemas().items():
        write_json_atomic(root / filename, schema)
        written.append(root / filename)
    return written


def main(argv: list[str]) -> int:
    """Write the schemas (or, with `--check`, report stale ones); return the exit status."""
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    directory = args[0] if args else "schemas"
    if check:
        stale = stale_schemas(directory)
        for filename in stale:
            print(f"{Path(directory) / filename}: differs from the models", file=sys.stderr)
        return 1 if stale else 0
    for path in write_schemas(directory):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
