"""Errors raised by the data layer; every message names the file, the place and the value.

Rows are numbered one way everywhere: `data row N` is the N-th row of data in the file named,
counted from 1, a header line not counted (the first row under the header is data row 1; in a
Parquet file, its first row).
"""

from __future__ import annotations

import warnings
from typing import Any

from gridbt._typing import PathLike

#: The messages `warn_data` has shown in this process (the warnings module's registry).
_SHOWN: dict[Any, Any] = {}


class DataError(ValueError):
    """Bad input data: names the file, and where known the data row (from 1), the column and
    the value."""

    def __init__(
        self,
        message: str,
        *,
        path: PathLike | None = None,
        row: int | None = None,
        column: str | None = None,
        value: object = None,
    ) -> None:
        self.path = None if path is None else str(path)
        self.row = row
        self.column = column
        self.value = value
        where = []
        if self.path is not None:
            where.append(self.path)
        if row is not None:
            where.append(f"data row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        prefix = ": ".join([", ".join(where)]) if where else ""
        suffix = "" if value is None else f" (value: {value!r})"
        super().__init__(f"{prefix}: {message}{suffix}" if prefix else f"{message}{suffix}")


class ValidationError(DataError):
    """A validation check whose policy is `error` found offending rows."""


class DataWarning(UserWarning):
    """Data that is used, but that the user should know about (e.g. a chain without hashes)."""


def warn_data(message: str) -> None:
    """Warn with a `DataWarning`, shown once per message in a process as
    `gridbt:0: DataWarning: message`: about the data, not a line of gridbt's own source."""
    warnings.warn_explicit(message, DataWarning, "gridbt", 0, module="gridbt", registry=_SHOWN)
