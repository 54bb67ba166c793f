"""Vendor files -> validated canonical chain directory, in one call."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from gridbt._typing import PathLike
from gridbt.data.adapters import read_vendor_files
from gridbt.data.errors import DataError
from gridbt.data.schema import CHAIN_SCHEMA
from gridbt.data.store import Manifest, read_manifest, write_chain
from gridbt.data.validate import CHECKS, RowOrigins, ValidationConfig, ValidationReport, validate

__all__ = ["ImportResult", "import_files", "import_key"]


@dataclass(frozen=True)
class ImportResult:
    manifest: Manifest
    report: ValidationReport | None
    flagged: dict[str, int] = field(default_factory=dict)
    unchanged: bool = False


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def import_key(
    fmt: str,
    paths: Sequence[PathLike],
    config: ValidationConfig,
    column_map: Mapping[str, str] | None,
    underlying: str | None,
    date_format: str | None = None,
) -> str:
    """Return a hash of everything an import depends on: file contents, format and options."""
    files = []
    for p in sorted(Path(x) for x in paths):
        if not p.is_file():
            raise DataError("no such file", path=p)
        files.append([p.name, _file_digest(p)])
    payload = {
        "format": fmt,
        "files": files,
        "config": asdict(config),
        "column_map": dict(column_map or {}),
        "underlying": underlying,
        "schema": CHAIN_SCHEMA.to_string(),
    }
    if date_format is not None:
        payload["date_format"] = date_format
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def import_files(
    fmt: str,
    paths: Sequence[PathLike],
    out_dir: PathLike,
    *,
    config: ValidationConfig | None = None,
    column_map: Mapping[str, str] | None = None,
    underlying: str | None = None,
    date_format: str | None = None,
    force: bool = False,
) -> ImportResult:
    """Read vendor files, validate them and write a chain directory atomically.

    Re-importing the same files with the same options is a no-op (`unchanged=True`).

    Raises
    ------
    DataError
        If a file cannot be read, or no quote row is left to write (naming the files, and the
        check that dropped the most rows).
    """
    config = config or ValidationConfig()
    key = import_key(fmt, paths, config, column_map, underlying, date_format)
    out = Path(out_dir)
    if not force and (out / "manifest.json").is_file():
        existing = read_manifest(out)
        if existing.import_key == key:
            return ImportResult(existing, None, unchanged=True)
    batches: list[pa.Table] = []
    sources: dict[str, int] = {}
    source_of: list[np.ndarray] = []
    rows_of: list[np.ndarray] = []
    flagged: dict[str, int] = {}
    for batch in read_vendor_files(fmt, list(paths), column_map=column_map, underlying=underlying,
                                   date_format=date_format):
        batches.append(batch.table)
        index = sources.setdefault(batch.source, len(sources))
        source_of.append(np.full(batch.table.num_rows, index, dtype=np.int32))
        rows_of.append(batch.data_rows())
        for name, count in batch.flagged.items():
            flagged[name] = flagged.get(name, 0) + count
    source = ", ".join(str(p) for p in paths)
    if not batches or sum(b.num_rows for b in batches) == 0:
        filtered = ", ".join(f"{n:,} {name}" for name, n in sorted(flagged.items()))
        raise DataError("no quote rows found in the input files"
                        + (f" (rows left out: {filtered})" if filtered else ""), path=source)
    table = pa.concat_tables(batches)
    origins = RowOrigins(tuple(sources), np.concatenate(source_of), np.concatenate(rows_of))
    del batches, source_of, rows_of
    clean, report = validate(table, config, source=source, origins=origins)
    if clean.num_rows == 0:
        raise DataError(_nothing_left(report), path=source)
    manifest = write_chain(
        clean,
        out,
        import_key=key,
        extra={"format": fmt, "validation": report.to_dict(), "flagged": flagged},
    )
    return ImportResult(manifest, report, flagged)


def _nothing_left(report: ValidationReport) -> str:
    """Why validation left no row: the checks that dropped rows, most first, with an example
    of the first, and the policy that would keep its rows."""
    text = f"validation dropped all {report.rows_in:,} quote rows, so nothing was written"
    dropped = sorted((c for c in report.checks if c.policy == "drop" and c.touched),
                     key=lambda c: -c.touched)
    if not dropped:
        return text
    main = dropped[0]
    text += f": {main.name} dropped {main.touched:,} (its policy is drop"
    text += f"; e.g. {main.example})" if main.example else ")"
    if len(dropped) > 1:
        text += ", then " + ", ".join(f"{c.name} {c.touched:,}" for c in dropped[1:])
    keep = [p for p in CHECKS[main.name][0] if p in ("repair", "report")]
    if keep:
        text += f"; `--policy {main.name}={keep[0]}` keeps those rows"
    return text
