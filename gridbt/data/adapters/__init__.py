"""Vendor adapters: end-of-day option chain files in, canonical Arrow batches out.

Every adapter streams its files block by block (`pyarrow.csv.open_csv`, or Parquet row
groups) and yields one `AdapterBatch` per block, already conformed to
`gridbt.data.schema.CHAIN_SCHEMA` and unsorted. Files may be plain, gzip or zip (every .csv
and .txt member is read); a file that cannot be read raises `gridbt.data.errors.DataError`
naming the file, the row, the column and the value.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from gridbt._typing import PathLike
from gridbt.data.adapters import cboe, generic, optionsdx, orats
from gridbt.data.adapters._batch import AdapterBatch
from gridbt.data.adapters._io import DEFAULT_BLOCK_SIZE, iter_members
from gridbt.data.errors import DataError
from gridbt.data.schema import COLUMNS

__all__ = ["DEFAULT_BLOCK_SIZE", "FORMATS", "AdapterBatch", "read_vendor_files"]

FORMATS = ("optionsdx", "cboe", "orats", "csv")
_VENDORS = {"optionsdx": optionsdx.read, "cboe": cboe.read, "orats": orats.read}


def read_vendor_files(
    fmt: str,
    paths: Sequence[PathLike],
    *,
    column_map: Mapping[str, str] | None = None,
    underlying: str | None = None,
    date_format: str | None = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> Iterator[AdapterBatch]:
    """Read vendor files one block at a time as canonical chain batches.

    Parameters
    ----------
    fmt
        One of `FORMATS`: ``optionsdx``, ``cboe``, ``orats`` or ``csv`` (generic CSV/Parquet).
    paths
        Files to read, in order; plain, ``.gz`` or ``.zip`` (Parquet for ``csv`` only).
    column_map
        ``csv`` only: canonical column name -> source column name, the complete list of
        columns to read. Without it, columns named like canonical ones are read.
    underlying
        OptionsDX and unmapped ``csv``: the underlying's name (OptionsDX otherwise takes it
        from the file name). Cboe, ORATS and ``csv`` with an underlying column: keep only
        this underlying's rows.
    date_format
        ``csv`` only: strptime format of text dates (default ISO ``%Y-%m-%d``).
    block_size
        Bytes of text parsed per block; bounds the memory one batch needs.

    Returns
    -------
    Iterator[AdapterBatch]
        Lazily yields one batch per block read, with its source and counts of vendor quirks.

    Raises
    ------
    ValueError
        At call time, for an unknown format or option, or a `column_map` key that is not a
        canonical column.
    DataError
        While iterating, when a file is missing, empty, truncated, lacks a required column,
        or holds a value that does not parse.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    if fmt != "csv" and (column_map is not None or date_format is not None):
        raise ValueError("column_map and date_format apply to the 'csv' format only")
    unknown = sorted(set(column_map or {}) - set(COLUMNS))
    if unknown:
        raise ValueError(f"column_map has unknown canonical names {unknown}; known: {COLUMNS}")
    if block_size < 1024:
        raise ValueError(f"block_size must be at least 1024 bytes, got {block_size}")
    if isinstance(paths, (str, bytes)):
        raise TypeError("paths must be a sequence of paths, not a single string")
    return _read(fmt, list(paths), column_map, underlying, date_format, block_size)


def _read(
    fmt: str,
    paths: list[PathLike],
    column_map: Mapping[str, str] | None,
    underlying: str | None,
    date_format: str | None,
    block_size: int,
) -> Iterator[AdapterBatch]:
    for path in paths:
        for member in iter_members(path):
            if fmt == "csv":
                yield from generic.read(
                    member,
                    column_map=column_map,
                    underlying=underlying,
                    date_format=date_format,
                    block_size=block_size,
                )
            elif member.kind == "parquet":
                raise DataError(f"{fmt} files are text, not Parquet", path=member.source)
            else:
                yield from _VENDORS[fmt](member, underlying=underlying, block_size=block_size)
