"""Opening vendor files (plain, gzip, zip, Parquet) and reading them in blocks.

Text files are streamed with `pyarrow.csv.open_csv`, every wanted column read as strings so
that parsing (and its error messages) stays in `_parse`. Compression is recognised by the
file's magic bytes, not its name.
"""

from __future__ import annotations

import csv
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from gridbt._typing import PathLike
from gridbt.data.adapters._parse import Block
from gridbt.data.errors import DataError

#: The streaming CSV reader keeps roughly 40 blocks in flight (measured with pyarrow 25), so
#: peak memory while reading is about 40 x block_size whatever the file size.
DEFAULT_BLOCK_SIZE = 4 << 20
TEXT_SUFFIXES = (".csv", ".txt")
_MAX_HEADER_BYTES = 1 << 20
_READ_ERRORS = (pa.ArrowInvalid, OSError, EOFError, zlib.error, zipfile.BadZipFile)


@dataclass(frozen=True)
class Member:
    """One readable table inside a path: the file itself, or one member of a zip archive.

    `open` returns a fresh binary stream (a pyarrow stream or a zip member) on every call.
    """

    source: str
    name: str
    kind: Literal["text", "parquet"]
    open: Callable[[], IO[bytes]]


@dataclass(frozen=True)
class Header:
    """Column names of a text member: normalised names and their labels as written."""

    names: tuple[str, ...]
    labels: dict[str, str]


def _magic(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(4)
    except FileNotFoundError:
        raise DataError("file not found", path=path) from None
    except OSError as exc:
        raise DataError(f"cannot open file: {exc}", path=path) from exc


def iter_members(path: PathLike) -> Iterator[Member]:
    """Yield the readable tables in `path` (a zip archive yields each .csv/.txt member)."""
    path = Path(path)
    magic = _magic(path)
    if not magic:
        raise DataError("empty file", path=path)
    if magic[:2] == b"PK":
        yield from _zip_members(path)
    elif magic[:2] == b"\x1f\x8b":
        name = path.name[:-3] if path.name.lower().endswith(".gz") else path.name
        yield Member(str(path), name, "text", lambda: pa.input_stream(str(path), "gzip"))
    elif magic == b"PAR1":
        yield Member(str(path), path.name, "parquet", lambda: pa.input_stream(str(path)))
    else:
        yield Member(str(path), path.name, "text", lambda: pa.input_stream(str(path)))


def _zip_members(path: Path) -> Iterator[Member]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"not a readable zip archive: {exc}", path=path) from exc
    with archive:
        infos = [
            info
            for info in archive.infolist()
            if not info.is_dir()
            and not info.filename.startswith("__MACOSX/")
            and info.filename.lower().endswith(TEXT_SUFFIXES)
        ]
        if not infos:
            raise DataError("zip archive holds no .csv or .txt member", path=path)
        for info in infos:
            yield Member(
                f"{path}::{info.filename}",
                Path(info.filename).name,
                "text",
                partial(archive.open, info),
            )


def read_header(member: Member, normalize: Callable[[str], str]) -> Header:
    """Read and normalise the header line of a text member."""
    data = b""
    try:
        with member.open() as stream:
            while b"\n" not in data and len(data) < _MAX_HEADER_BYTES:
                chunk = stream.read(1 << 16)
                if not chunk:
                    break
                data += chunk
    except _READ_ERRORS as exc:
        raise DataError(f"cannot read file: {exc}", path=member.source) from exc
    line = data.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError("header is not UTF-8 text", path=member.source) from exc
    if not text.strip():
        raise DataError("empty file (no header line)", path=member.source)
    raw = next(csv.reader([text]))
    names: list[str] = []
    labels: dict[str, str] = {}
    for position, label in enumerate(raw):
        name = normalize(label) or f"_column_{position}"
        if name in labels:
            raise DataError("duplicate column in header", path=member.source, column=label.strip())
        names.append(name)
        labels[name] = label.strip()
    return Header(tuple(names), labels)


def require_columns(
    source: str, available: Sequence[str], required: Sequence[str], labels: dict[str, str]
) -> None:
    """Raise `DataError` naming the first required column that is missing."""
    for name in required:
        if name not in available:
            raise DataError("missing required column", path=source, column=labels.get(name, name))


class _InvalidRows:
    def __init__(self) -> None:
        self.last: pacsv.InvalidRow | None = None

    def __call__(self, row: pacsv.InvalidRow) -> str:
        self.last = row
        return "error"


def _read_error(source: str, exc: Exception, invalid: _InvalidRows, next_row: int) -> DataError:
    row = invalid.last
    if row is not None and row.number is not None:
        return DataError(
            f"malformed row: expected {row.expected_columns} fields, found {row.actual_columns}",
            path=source,
            row=row.number - 1,
            value=row.text,
        )
    return DataError(
        f"cannot read file in the block starting at data row {next_row}: {exc}", path=source
    )


def iter_text_blocks(
    member: Member, header: Header, include: Sequence[str], *, block_size: int = DEFAULT_BLOCK_SIZE
) -> Iterator[Block]:
    """Stream a text member in blocks of about `block_size` bytes, `include` columns as strings."""
    invalid = _InvalidRows()
    read_options = pacsv.ReadOptions(
        block_size=block_size, skip_rows=1, column_names=list(header.names), use_threads=False
    )
    parse_options = pacsv.ParseOptions(invalid_row_handler=invalid)
    convert_options = pacsv.ConvertOptions(
        include_columns=list(include),
        column_types={name: pa.string() for name in include},
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        null_values=[""],
    )
    next_row = 1
    with member.open() as stream:
        try:
            reader = pacsv.open_csv(
                stream,
                read_options=read_options,
                parse_options=parse_options,
                convert_options=convert_options,
            )
        except _READ_ERRORS as exc:
            raise _read_error(member.source, exc, invalid, next_row) from exc
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except _READ_ERRORS as exc:
                raise _read_error(member.source, exc, invalid, next_row) from exc
            if batch.num_rows == 0:
                continue
            columns = {name: batch.column(name) for name in include}
            yield Block(columns, member.source, next_row, batch.num_rows, header.labels)
            next_row += batch.num_rows
    if next_row == 1:
        raise DataError("file has a header but no data rows", path=member.source)


def parquet_columns(member: Member) -> tuple[str, ...]:
    """Return the column names of a Parquet member."""
    try:
        with member.open() as stream:
            return tuple(pq.ParquetFile(stream).schema_arrow.names)
    except _READ_ERRORS as exc:
        raise DataError(f"not a readable Parquet file: {exc}", path=member.source) from exc


def iter_parquet_blocks(member: Member, include: Sequence[str]) -> Iterator[Block]:
    """Read a Parquet member one row group at a time."""
    next_row = 1
    with member.open() as stream:
        try:
            parquet = pq.ParquetFile(stream)
        except _READ_ERRORS as exc:
            raise DataError(f"not a readable Parquet file: {exc}", path=member.source) from exc
        for group in range(parquet.num_row_groups):
            try:
                table = parquet.read_row_group(group, columns=list(include))
            except _READ_ERRORS as exc:
                raise DataError(
                    f"cannot read row group {group} (from data row {next_row}): {exc}",
                    path=member.source,
                ) from exc
            if table.num_rows == 0:
                continue
            table = table.combine_chunks()
            columns = {name: table.column(name).chunk(0) for name in include}
            yield Block(columns, member.source, next_row, table.num_rows)
            next_row += table.num_rows
    if next_row == 1:
        raise DataError("file has no data rows", path=member.source)
