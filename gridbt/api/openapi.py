"""The OpenAPI document of the results API, committed as `schemas/openapi.json`.

`python -m gridbt.api.openapi [FILE]` writes it (default `schemas/openapi.json`); with
`--check` it exits 1, naming the file, if the committed document differs from the app's.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from gridbt._atomic import atomic_path
from gridbt.api.app import create_app, openapi_text
from gridbt.results.catalog import Catalog

__all__ = ["DEFAULT_PATH", "main", "openapi_document"]

DEFAULT_PATH = Path("schemas") / "openapi.json"


def openapi_document() -> str:
    """The document's text (independent of any root: the app is built over an empty one)."""
    with tempfile.TemporaryDirectory() as empty:
        return openapi_text(create_app(Catalog(empty)))


def main(argv: list[str]) -> int:
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    path = Path(args[0]) if args else DEFAULT_PATH
    text = openapi_document()
    if check:
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            print(f"{path}: differs from the app; run python -m gridbt.api.openapi",
                  file=sys.stderr)
            return 1
        return 0
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
