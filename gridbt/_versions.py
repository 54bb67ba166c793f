"""Library versions as the pins of what relies on their internals are written: `major.minor`."""

from __future__ import annotations

__all__ = ["major_minor"]


def major_minor(version: str) -> str:
    """`version`'s release series, "2.60" of "2.60.0" (what `TESTED_RAY` and `TESTED_MLFLOW`
    list)."""
    return ".".join(version.split(".")[:2])
