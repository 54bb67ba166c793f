"""Chain directories: a Parquet dataset partitioned by year, plus `manifest.json`.

A chain directory is written whole into a temporary sibling and renamed into place, so a
reader sees either the old chain or the new one, never a half-written one. The manifest holds
the schema version, row counts, the date range, the content fingerprint of the chain and the
`import_key` of what produced it (so re-importing the same inputs is a no-op).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gridbt._atomic import write_json_atomic
from gridbt._typing import PathLike
from gridbt.data.errors import DataError
from gridbt.data.schema import CHAIN_SCHEMA, SCHEMA_VERSION, conform

__all__ = [
    "MANIFEST_NAME",
    "Manifest",
    "chain_fingerprint",
    "read_chain",
    "read_manifest",
    "write_chain",
    "write_json_atomic",
]

MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class Manifest:
    schema_version: int
    rows: int
    days: int
    first_date: str
    last_date: str
    underlyings: list[str]
    rows_per_year: dict[str, int]
    fingerprint: str
    import_key: str = ""
    created_by: str = "gridbt"
    extra: dict[str, Any] = field(default_factory=dict)


def chain_fingerprint(table: pa.Table) -> str:
    """Return a content hash of a canonical, sorted chain (independent of chunking)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"gridbt-chain-v{SCHEMA_VERSION}".encode())
    for name in CHAIN_SCHEMA.names:
        column = table.column(name)
        digest.update(name.encode())
        if pa.types.is_dictionary(column.type):
            decoded = pc.cast(column, pa.string()).combine_chunks()
            encoded = pc.dictionary_encode(decoded)
            digest.update("\x1f".join(encoded.dictionary.to_pylist()).encode())
            digest.update(np.ascontiguousarray(encoded.indices.to_numpy()).tobytes())
            continue
        values = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        if pa.types.is_date32(values.type):
            values = values.view(pa.int32())
        valid = pc.is_valid(values).to_numpy(zero_copy_only=False)
        digest.update(np.packbits(valid).tobytes())
        filled = values.fill_null(0).to_numpy(zero_copy_only=False)
        digest.update(np.ascontiguousarray(filled).tobytes())
    return digest.hexdigest()


def _year_of(table: pa.Table) -> np.ndarray:
    days = table.column("date").to_numpy().astype("datetime64[D]")
    years: np.ndarray = days.astype("datetime64[Y]").astype(np.int64) + 1970
    return years


def write_chain(
    table: pa.Table,
    out_dir: PathLike,
    *,
    import_key: str = "",
    extra: dict[str, Any] | None = None,
) -> Manifest:
    """Write a canonical, sorted chain atomically as `out_dir/year=YYYY/part-0.parquet`.

    `out_dir` must be absent, empty or an earlier chain (replaced atomically); any other
    directory raises `DataError` and is left as it was.
    """
    target = Path(out_dir)
    if target.is_dir() and not (target / MANIFEST_NAME).is_file() and any(target.iterdir()):
        # only an earlier chain is replaced: never delete a directory of someone else's files
        raise DataError(
            f"{target}: exists, is not empty and is not a gridbt chain (no {MANIFEST_NAME}); "
            "refusing to replace it"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    tmp.mkdir()
    try:
        table = conform(table)
        years = _year_of(table)
        rows_per_year: dict[str, int] = {}
        for year in np.unique(years):
            lo, hi = np.searchsorted(years, [year, year + 1])
            part = table.slice(int(lo), int(hi - lo))
            (tmp / f"year={year}").mkdir()
            pq.write_table(
                part,
                tmp / f"year={year}" / "part-0.parquet",
                row_group_size=1 << 20,
                compression="zstd",
            )
            rows_per_year[str(int(year))] = part.num_rows
        dates = table.column("date")
        underlyings = sorted(
            set(pc.cast(table.column("underlying"), pa.string()).unique().to_pylist())
        )
        manifest = Manifest(
            schema_version=SCHEMA_VERSION,
            rows=table.num_rows,
            days=len(pc.unique(dates)),
            first_date=str(pc.min(dates).as_py()) if table.num_rows else "",
            last_date=str(pc.max(dates).as_py()) if table.num_rows else "",
            underlyings=underlyings,
            rows_per_year=rows_per_year,
            fingerprint=chain_fingerprint(table),
            import_key=import_key,
            extra=extra or {},
        )
        write_json_atomic(tmp / MANIFEST_NAME, asdict(manifest))
        if target.exists():
            old = target.with_name(f".{target.name}.{uuid.uuid4().hex}.old")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def read_manifest(chain_dir: PathLike) -> Manifest:
    """Read and check the manifest of a chain directory."""
    path = Path(chain_dir) / MANIFEST_NAME
    if not path.is_file():
        raise DataError("not a gridbt chain directory (no manifest.json)", path=chain_dir)
    try:
        payload = json.loads(path.read_text())
        manifest = Manifest(**payload)
    except (json.JSONDecodeError, TypeError) as exc:
        raise DataError(f"unreadable manifest: {exc}", path=path) from exc
    if manifest.schema_version != SCHEMA_VERSION:
        raise DataError(
            f"schema version {manifest.schema_version} is not supported "
            f"(expected {SCHEMA_VERSION})",
            path=path,
            column="schema_version",
            value=manifest.schema_version,
        )
    return manifest


def read_chain(
    chain_dir: PathLike, *, start: dt.date | None = None, end: dt.date | None = None
) -> pa.Table:
    """Read a chain directory back as one canonical table in stored (sorted) order."""
    manifest = read_manifest(chain_dir)
    parts = []
    for year in sorted(manifest.rows_per_year, key=int):
        if (start and int(year) < start.year) or (end and int(year) > end.year):
            continue
        path = Path(chain_dir) / f"year={year}" / "part-0.parquet"
        try:
            parts.append(pq.read_table(path, schema=CHAIN_SCHEMA))
        except (OSError, pa.ArrowInvalid) as exc:
            raise DataError(f"cannot read chain partition: {exc}", path=path) from exc
    table = pa.concat_tables(parts) if parts else CHAIN_SCHEMA.empty_table()
    if start or end:
        mask = pc.and_(
            pc.greater_equal(table.column("date"), pa.scalar(start or dt.date.min, pa.date32())),
            pc.less_equal(table.column("date"), pa.scalar(end or dt.date.max, pa.date32())),
        )
        table = table.filter(mask)
    return table
