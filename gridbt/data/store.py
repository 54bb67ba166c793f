"""Chain directories: a Parquet dataset partitioned by year, plus `manifest.json`.

A chain directory is written whole into a temporary sibling and renamed into place, so a
reader sees either the old chain or the new one, never a half-written one. The manifest holds
the schema version, row counts, the date range, the content fingerprint of the chain, the
`import_key` of what produced it (so re-importing the same inputs is a no-op) and, per Parquet
file, its path, size in bytes, row count and blake2b-256 hash of its bytes, recorded when it
was written.

Every read checks the chain against its manifest, and refuses it (`DataError` naming the file)
on any mismatch:

- the manifest itself, always: `rows` is the sum of `rows_per_year`, which are the files' rows;
- a full read (`load_chain`, `read_chain`): each file's size and hash before it is decoded
  (the bytes hashed are the bytes decoded) and its row count after;
- `verify_chain` (packing, `gridbt data info`): also every fact of the manifest recomputed from
  the content (the fingerprint, days, dates, underlyings, rows per year);
- `check_chain_files` (a load served from the packed cache, every backtest and sweep): each
  file's size, and the hash of a file whose size, mtime, ctime or inode changed since it was
  last checked.

A chain written before the hashes were recorded has no `files`: it is read as before, with a
`DataWarning` saying how to record them (`gridbt data validate DIR --deep --fix`); its content
is still checked against its fingerprint whenever it is packed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gridbt._atomic import owned_temp, remove_dead_temps, write_json_atomic
from gridbt._typing import PathLike
from gridbt.data.errors import DataError, DataWarning, warn_data
from gridbt.data.schema import CHAIN_SCHEMA, SCHEMA_VERSION, conform

__all__ = [
    "MANIFEST_NAME",
    "ChainFile",
    "FileStamp",
    "LoadedChain",
    "Manifest",
    "chain_facts",
    "chain_fingerprint",
    "check_chain_files",
    "file_digest",
    "file_stamp",
    "load_chain",
    "partition_path",
    "read_chain",
    "read_manifest",
    "record_file_hashes",
    "verify_chain",
    "write_chain",
    "write_json_atomic",
]

MANIFEST_NAME = "manifest.json"
_PART = "part-0.parquet"
_HASH_BYTES = 32
_BLOCK = 1 << 20
#: (size in bytes, mtime ns, ctime ns, inode): a file whose stamp is unchanged was not written.
FileStamp = tuple[int, int, int, int]


@dataclass(frozen=True)
class ChainFile:
    """One Parquet file of a chain as written: path in the chain directory (POSIX), size in
    bytes, rows, and the blake2b-256 hash of its bytes (`b2sum -l 256 FILE` prints it)."""

    path: str
    bytes: int
    rows: int
    blake2b: str


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
    #: The Parquet files as written (none for an empty chain); None for a chain written by a
    #: gridbt that did not record them.
    files: tuple[ChainFile, ...] | None = None

    def content_key(self) -> str:
        """A digest of every fact the content determines: counts, dates, fingerprint, files.

        A packed chain cached under this key was packed from content verified against exactly
        these facts; a changed file or a changed fact gives another key.
        """
        facts = {name: value for name, value in asdict(self).items()
                 if name not in ("import_key", "created_by", "extra")}
        text = json.dumps(facts, sort_keys=True, separators=(",", ":"))
        return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


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
            digest.update(np.ascontiguousarray(encoded.indices.to_numpy()).data)
            continue
        values = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        if pa.types.is_date32(values.type):
            values = values.view(pa.int32())
        valid = pc.is_valid(values).to_numpy(zero_copy_only=False)
        digest.update(np.packbits(valid).data)
        filled = values.fill_null(0).to_numpy(zero_copy_only=False)
        digest.update(np.ascontiguousarray(filled).data)  # hashed in place, not copied
    return digest.hexdigest()


def partition_path(year: str | int) -> str:
    """The path of a year's Parquet file in a chain directory (POSIX, relative)."""
    return f"year={int(year)}/{_PART}"


def _year_of(table: pa.Table) -> np.ndarray:
    days = table.column("date").to_numpy().astype("datetime64[D]")
    years: np.ndarray = days.astype("datetime64[Y]").astype(np.int64) + 1970
    return years


def chain_facts(table: pa.Table) -> dict[str, Any]:
    """The facts a manifest records about a canonical, sorted chain, computed from its content:
    rows, days, first and last date, underlyings, rows per year and the fingerprint."""
    dates = table.column("date")
    per_year = pc.value_counts(pc.year(dates)).to_pylist() if table.num_rows else []
    return {
        "rows": table.num_rows,
        "days": len(pc.unique(dates)),
        "first_date": str(pc.min(dates).as_py()) if table.num_rows else "",
        "last_date": str(pc.max(dates).as_py()) if table.num_rows else "",
        "underlyings": sorted(
            set(pc.cast(pc.unique(table.column("underlying")), pa.string()).to_pylist())
        ),
        "rows_per_year": {str(c["values"]): c["counts"]
                          for c in sorted(per_year, key=lambda c: c["values"])},
        "fingerprint": chain_fingerprint(table),
    }


def file_digest(path: PathLike) -> str:
    """The blake2b-256 hash of a file's bytes, read in blocks (`b2sum -l 256 FILE`)."""
    digest = hashlib.blake2b(digest_size=_HASH_BYTES)
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def file_stamp(path: PathLike) -> FileStamp:
    """What changes when a file is written, replaced or touched: size, mtime, ctime, inode."""
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def write_chain(
    table: pa.Table,
    out_dir: PathLike,
    *,
    import_key: str = "",
    extra: dict[str, Any] | None = None,
) -> Manifest:
    """Write a canonical, sorted chain atomically as `out_dir/year=YYYY/part-0.parquet`.

    `out_dir` must be absent, empty or an earlier chain (replaced atomically); any other
    directory raises `DataError` and is left as it was. Temporaries that writers killed
    earlier left beside `out_dir` are deleted first (`gridbt._atomic.remove_dead_temps`).
    """
    target = Path(out_dir)
    if target.is_dir() and not (target / MANIFEST_NAME).is_file() and any(target.iterdir()):
        # only an earlier chain is replaced: never delete a directory of someone else's files
        raise DataError(
            f"{target}: exists, is not empty and is not a gridbt chain (no {MANIFEST_NAME}); "
            "refusing to replace it"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_temps(target.parent, target.name)
    tmp = owned_temp(target)
    tmp.mkdir()
    try:
        table = conform(table)
        years = _year_of(table)
        files = []
        for year in np.unique(years):
            lo, hi = np.searchsorted(years, [year, year + 1])
            part = table.slice(int(lo), int(hi - lo))
            relative = partition_path(year)
            (tmp / f"year={year}").mkdir()
            pq.write_table(part, tmp / relative, row_group_size=1 << 20, compression="zstd")
            files.append(ChainFile(relative, (tmp / relative).stat().st_size, part.num_rows,
                                   file_digest(tmp / relative)))
        manifest = Manifest(
            schema_version=SCHEMA_VERSION,
            **chain_facts(table),
            import_key=import_key,
            extra=extra or {},
            files=tuple(files),
        )
        write_json_atomic(tmp / MANIFEST_NAME, asdict(manifest))
        if target.exists():
            old = owned_temp(target, "old")
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
    """Read the manifest of a chain directory and check that it agrees with itself.

    Raises
    ------
    DataError
        If there is none, it does not parse, is of another schema version, or its counts and
        files disagree (`rows` is not the sum of `rows_per_year`, or a file's rows differ).
    """
    path = Path(chain_dir) / MANIFEST_NAME
    if not path.is_file():
        raise DataError("not a gridbt chain directory (no manifest.json)", path=chain_dir)
    try:
        payload = json.loads(path.read_text())
        listed = payload.pop("files", None)
        files = None if listed is None else tuple(ChainFile(**entry) for entry in listed)
        manifest = Manifest(**payload, files=files)
    except (json.JSONDecodeError, TypeError, AttributeError) as exc:
        raise DataError(f"unreadable manifest: {exc}", path=path) from exc
    if manifest.schema_version != SCHEMA_VERSION:
        raise DataError(
            f"schema version {manifest.schema_version} is not supported "
            f"(expected {SCHEMA_VERSION})",
            path=path,
            column="schema_version",
            value=manifest.schema_version,
        )
    _check_manifest(manifest, path)
    return manifest


def _edited(path: Path, field: str, message: str, value: object) -> DataError:
    return DataError(f"{message}; the manifest was edited or damaged: re-import the chain",
                     path=path, column=field, value=value)


def _check_manifest(manifest: Manifest, path: Path) -> None:
    """The manifest's own consistency: what can be checked without reading the chain."""
    try:
        per_year = {int(year): int(rows) for year, rows in manifest.rows_per_year.items()}
        total = sum(per_year.values())
    except (TypeError, ValueError, AttributeError) as exc:
        raise _edited(path, "rows_per_year", f"not a map of year to rows ({exc})",
                      manifest.rows_per_year) from None
    if not isinstance(manifest.rows, int) or manifest.rows != total or min(per_year.values(),
                                                                            default=0) < 0:
        raise _edited(path, "rows", f"not the sum of rows_per_year ({total:,})", manifest.rows)
    if manifest.files is None:
        return
    expected = {partition_path(year): rows for year, rows in per_year.items()}
    listed = [f.path for f in manifest.files]
    if sorted(listed) != sorted(expected):
        raise _edited(path, "files", f"the files are not those of rows_per_year "
                      f"({', '.join(sorted(expected))})", listed)
    for entry in manifest.files:
        if entry.rows != expected[entry.path]:
            raise _edited(path, "files", f"{entry.path} has {entry.rows!r} rows, rows_per_year "
                          f"says {expected[entry.path]:,}", entry.rows)
        if not (isinstance(entry.bytes, int) and entry.bytes > 0 and isinstance(entry.blake2b, str)
                and len(entry.blake2b) == 2 * _HASH_BYTES):
            raise _edited(path, "files", f"{entry.path}: not a size and a blake2b-256 hash",
                          asdict(entry))


def _unhashed_warning(chain_dir: PathLike) -> None:
    warn_data(
        f"{chain_dir}: written by an older gridbt: no hashes of its files are recorded, so "
        "damage to them is found only when the chain is packed again; run "
        f"`gridbt data validate {chain_dir} --deep --fix` to record them"
    )


def _damaged(chain_dir: PathLike, manifest: Manifest, path: Path, message: str) -> DataError:
    try:
        rewritten = read_manifest(chain_dir).content_key() != manifest.content_key()
    except DataError:
        rewritten = True
    if rewritten:  # replaced whole by another write while it was read: not damage
        return DataError("the chain was rewritten while it was read; run again", path=chain_dir)
    return DataError(f"{message}: the file changed after the chain was written (damaged, "
                     "truncated or replaced); re-import or re-synthesize the chain", path=path)


@dataclass(frozen=True)
class LoadedChain:
    """A chain read and checked against its manifest (see the module)."""

    manifest: Manifest
    table: pa.Table
    #: `file_stamp` of each file read, as it was while it was read and checked.
    stamps: dict[str, FileStamp]


def load_chain(
    chain_dir: PathLike, *, start: dt.date | None = None, end: dt.date | None = None
) -> LoadedChain:
    """Read a chain directory as one canonical table in stored (sorted) order, checking each
    file read against the manifest (size, blake2b, rows).

    Raises
    ------
    DataError
        Naming the file, if one is missing, unreadable, or differs from the manifest.
    """
    manifest = read_manifest(chain_dir)
    if manifest.files is None:
        _unhashed_warning(chain_dir)
    recorded = {f.path: f for f in manifest.files or ()}
    parts, stamps = [], {}
    for year in sorted(manifest.rows_per_year, key=int):
        if (start and int(year) < start.year) or (end and int(year) > end.year):
            continue
        relative = partition_path(year)
        path = Path(chain_dir) / relative
        try:
            before = file_stamp(path)
            data = path.read_bytes()
            stamp = file_stamp(path)
        except OSError as exc:
            raise DataError(f"cannot read chain partition: {exc}", path=path) from exc
        entry = recorded.get(relative)
        if entry is not None:
            if len(data) != entry.bytes:
                raise _damaged(chain_dir, manifest, path,
                               f"{len(data):,} bytes, manifest.json records {entry.bytes:,}")
            digest = hashlib.blake2b(data, digest_size=_HASH_BYTES).hexdigest()
            if digest != entry.blake2b:
                raise _damaged(chain_dir, manifest, path, f"its bytes hash to {digest[:16]}…, "
                               f"manifest.json records {entry.blake2b[:16]}…")
        try:
            part = pq.read_table(pa.BufferReader(data), schema=CHAIN_SCHEMA)
        except (OSError, pa.ArrowInvalid) as exc:
            raise DataError(f"cannot read chain partition: {exc}", path=path) from exc
        if part.num_rows != manifest.rows_per_year[year]:
            raise DataError(f"{part.num_rows:,} rows, manifest.json records "
                            f"{manifest.rows_per_year[year]:,}; re-import the chain", path=path)
        parts.append(part)
        if stamp == before:
            stamps[relative] = stamp
    table = pa.concat_tables(parts) if parts else CHAIN_SCHEMA.empty_table()
    if start or end:
        mask = pc.and_(
            pc.greater_equal(table.column("date"), pa.scalar(start or dt.date.min, pa.date32())),
            pc.less_equal(table.column("date"), pa.scalar(end or dt.date.max, pa.date32())),
        )
        table = table.filter(mask)
    return LoadedChain(manifest, table, stamps)


def read_chain(
    chain_dir: PathLike, *, start: dt.date | None = None, end: dt.date | None = None
) -> pa.Table:
    """Read a chain directory back as one canonical table in stored (sorted) order, each file
    checked against the manifest (`load_chain`)."""
    return load_chain(chain_dir, start=start, end=end).table


def verify_chain(chain_dir: PathLike) -> LoadedChain:
    """Read the whole chain (`load_chain`, its table combined into one chunk per column) and
    check every fact of its manifest against the content: fingerprint, rows, days, first and
    last date, underlyings, rows per year.

    Raises
    ------
    DataError
        Naming the file and the fact that differs.
    """
    loaded = load_chain(chain_dir)
    # one chunk per column: the facts take a quarter of the time, and packing needs it anyway
    loaded = replace(loaded, table=loaded.table.combine_chunks())
    facts = chain_facts(loaded.table)
    recorded = asdict(loaded.manifest)
    for name, value in facts.items():
        if recorded[name] != value:
            raise DataError(
                f"manifest.json records {name} {recorded[name]!r}, the chain's content gives "
                f"{value!r}: the manifest was edited or the chain damaged; re-import the chain",
                path=Path(chain_dir) / MANIFEST_NAME,
                column=name,
            )
    return loaded


def check_chain_files(
    chain_dir: PathLike, manifest: Manifest, known: Mapping[str, FileStamp] | None = None
) -> dict[str, FileStamp]:
    """The check of a load that does not read the chain: each file exists with the size the
    manifest records, and a file whose stamp differs from `known` (or is not in it) is hashed.

    Returns
    -------
    dict[str, FileStamp]
        The stamp of every file, as checked now.

    Raises
    ------
    DataError
        Naming the file, if one is missing or differs from the manifest.
    """
    if manifest.files is None:
        _unhashed_warning(chain_dir)
        return {}
    known = known or {}
    stamps = {}
    for entry in manifest.files:
        path = Path(chain_dir) / entry.path
        try:
            stamp = file_stamp(path)
        except OSError as exc:
            raise DataError(f"chain file missing or unreadable: {exc}; re-import the chain",
                            path=path) from exc
        if stamp[0] != entry.bytes:
            raise _damaged(chain_dir, manifest, path,
                           f"{stamp[0]:,} bytes, manifest.json records {entry.bytes:,}")
        if tuple(known.get(entry.path, ())) != stamp:
            digest = file_digest(path)
            if digest != entry.blake2b:
                raise _damaged(chain_dir, manifest, path, f"its bytes hash to {digest[:16]}…, "
                               f"manifest.json records {entry.blake2b[:16]}…")
            if file_stamp(path) != stamp:
                continue  # written while it was hashed: not vouched for, checked again next time
        stamps[entry.path] = stamp
    return stamps


def record_file_hashes(chain_dir: PathLike) -> Manifest:
    """Record the files of a chain written before their hashes were (`files` None) in its
    manifest, once its content is verified against the manifest (`verify_chain`).

    Returns the manifest as it is now (unchanged if it had its files already).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        loaded = verify_chain(chain_dir)
    if loaded.manifest.files is not None:
        return loaded.manifest
    files = []
    for year, rows in sorted(loaded.manifest.rows_per_year.items(), key=lambda item: int(item[0])):
        relative = partition_path(year)
        path = Path(chain_dir) / relative
        stamp = file_stamp(path)
        digest = file_digest(path)
        if file_stamp(path) != stamp or loaded.stamps.get(relative) != stamp:
            raise DataError("changed while its hash was recorded; run again", path=path)
        files.append(ChainFile(relative, stamp[0], rows, digest))
    manifest = replace(loaded.manifest, files=tuple(files))
    remove_dead_temps(chain_dir, MANIFEST_NAME)  # of an earlier run killed while writing it
    write_json_atomic(Path(chain_dir) / MANIFEST_NAME, asdict(manifest))
    return manifest
