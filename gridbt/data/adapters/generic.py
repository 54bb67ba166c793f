"""Generic long-format CSV or Parquet chains, mapped column by column.

`column_map` maps canonical names to source columns (``{"date": "quotedate", ...}``) and is
then the complete list of columns read, so a source column whose units differ from the
canonical ones (annual theta, say) is simply left out. Without a `column_map`, the columns
whose names are canonical are read. Required: date, expiry, strike, right, bid, ask, and
underlying unless the caller names one. Unmapped optional columns
(spot, iv, greeks, volume, open interest) become NaN or null. Text dates are parsed with
`date_format` (strptime, default ISO ``%Y-%m-%d``); rights may be C/P, call/put, Call/Put.
Parquet files are read one row group at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pyarrow as pa
import pyarrow.compute as pc

from gridbt.data.adapters._batch import AdapterBatch, constant_text, make_batch
from gridbt.data.adapters._io import (
    DEFAULT_BLOCK_SIZE,
    Member,
    iter_parquet_blocks,
    iter_text_blocks,
    parquet_columns,
    read_header,
)
from gridbt.data.adapters._parse import ISO_DATE, Block, dates, floats, integers, rights, texts
from gridbt.data.errors import DataError
from gridbt.data.schema import COLUMNS

__all__ = ["REQUIRED", "read", "resolve_column_map"]

REQUIRED = ("date", "expiry", "strike", "right", "bid", "ask")
FLOAT_COLUMNS = ("spot", "bid", "ask", "iv", "delta", "gamma", "vega", "theta")
COUNT_COLUMNS = ("volume", "open_interest")


def resolve_column_map(
    available: tuple[str, ...],
    column_map: Mapping[str, str] | None,
    *,
    underlying: str | None,
    source: str,
) -> dict[str, str]:
    """Return {canonical: source column} for a file, checking that required columns exist."""
    unknown = sorted(set(column_map or {}) - set(COLUMNS))
    if unknown:
        raise ValueError(f"column_map has unknown canonical names {unknown}; known: {COLUMNS}")
    if column_map is None:
        mapping = {name: name for name in COLUMNS if name in available}
    else:
        mapping = dict(column_map)
    required = REQUIRED if underlying is not None else (*REQUIRED, "underlying")
    for name in required:
        if name not in mapping:
            raise DataError(
                f"missing required column (map one with column_map={{{name!r}: ...}})",
                path=source,
                column=name,
            )
    for name, column in mapping.items():
        if column not in available:
            raise DataError(f"missing column mapped to {name!r}", path=source, column=column)
    return mapping


def _convert(
    block: Block, mapping: Mapping[str, str], underlying: str | None, date_format: str
) -> AdapterBatch:
    raw_rows = block.num_rows
    flagged: dict[str, int] = {}
    if "underlying" in mapping:
        if underlying is not None:
            names = pc.cast(block.column(mapping["underlying"]), pa.string())
            before = block.num_rows
            block = block.filter(pc.equal(names, underlying))
            flagged["other_underlying"] = before - block.num_rows
        symbols = texts(block, mapping["underlying"])
    else:
        assert underlying is not None
        symbols = constant_text(underlying, block.num_rows)
    columns = {
        "date": dates(block, mapping["date"], date_format),
        "underlying": symbols,
        "expiry": dates(block, mapping["expiry"], date_format),
        "strike": floats(block, mapping["strike"], required=True),
        "right": rights(block, mapping["right"]),
    }
    for name in FLOAT_COLUMNS:
        if name in mapping:
            columns[name] = floats(block, mapping[name])
    for name in COUNT_COLUMNS:
        if name in mapping:
            columns[name] = integers(block, mapping[name])
    return make_batch(columns, block, raw_rows, flagged)


def read(
    member: Member,
    *,
    column_map: Mapping[str, str] | None = None,
    underlying: str | None = None,
    date_format: str | None = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> Iterator[AdapterBatch]:
    """Yield canonical batches from one generic CSV/text or Parquet member.

    When the file has an underlying column and `underlying` is given, only that
    underlying's rows are kept (the others are counted as ``other_underlying``); without an
    underlying column, `underlying` names the chain.
    """
    if member.kind == "parquet":
        available = parquet_columns(member)
    else:
        header = read_header(member, str.strip)
        available = header.names
    mapping = resolve_column_map(
        available, column_map, underlying=underlying, source=member.source
    )
    include = tuple(dict.fromkeys(mapping.values()))
    if member.kind == "parquet":
        blocks = iter_parquet_blocks(member, include)
    else:
        blocks = iter_text_blocks(member, header, include, block_size=block_size)
    for block in blocks:
        yield _convert(block, mapping, underlying, date_format or ISO_DATE)
