"""Strict, vectorised parsing of raw vendor columns into typed Arrow arrays.

A `Block` is one chunk of raw columns (strings from CSV, or typed from Parquet) together with
where it came from, so every parse failure names the file, the column, the data row and the
value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

import pyarrow as pa
import pyarrow.compute as pc

from gridbt.data.errors import DataError

ISO_DATE = "%Y-%m-%d"
US_DATE = "%m/%d/%Y"
#: Values some vendors write for "no value" in numeric columns.
NULL_TOKENS = ("NULL", "null", "NA", "N/A", "n/a", "None", "none", "#N/A", "-")
_NUMBER_PATTERN = (
    r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$|^[+-]?(?i:nan|inf|infinity)$"
)
_MIN_YEAR, _MAX_YEAR = 1900, 2200


@dataclass(frozen=True)
class Block:
    """One block of raw columns from one source.

    `rows` holds the 1-based data row of every remaining row once the block has been
    filtered; before that, row i is `first_row + i`.
    """

    columns: Mapping[str, pa.Array]
    source: str
    first_row: int
    num_rows: int
    labels: Mapping[str, str] = field(default_factory=dict)
    rows: pa.Array | None = None

    def has(self, name: str) -> bool:
        return name in self.columns

    def column(self, name: str) -> pa.Array:
        return self.columns[name]

    def label(self, name: str) -> str:
        return self.labels.get(name, name)

    def row_of(self, index: int) -> int:
        if self.rows is None:
            return self.first_row + index
        return int(self.rows[index].as_py())

    def error(
        self, message: str, name: str | None = None, index: int | None = None, value: object = None
    ) -> DataError:
        row = None if index is None else self.row_of(index)
        if row is None:
            message = f"{message} (in the block starting at data row {self.first_row})"
        column = None if name is None else self.label(name)
        return DataError(message, path=self.source, row=row, column=column, value=value)

    def filter(self, keep: pa.Array) -> Block:
        """Return the rows where `keep` is true, remembering their original row numbers."""
        keep = pc.fill_null(keep, False)
        positions = pc.indices_nonzero(keep)
        rows = (
            pc.add(positions, pa.scalar(self.first_row, pa.uint64()))
            if self.rows is None
            else pc.take(self.rows, positions)
        )
        columns = {name: pc.take(array, positions) for name, array in self.columns.items()}
        return Block(columns, self.source, self.first_row, len(positions), self.labels, rows)

    def map_columns(self, names: list[str], function: Callable[[pa.Array], pa.Array]) -> Block:
        columns = dict(self.columns)
        for name in names:
            if name in columns:
                columns[name] = function(columns[name])
        return Block(columns, self.source, self.first_row, self.num_rows, self.labels, self.rows)


def _first_true(mask: pa.Array) -> int | None:
    positions = pc.indices_nonzero(pc.fill_null(mask, False))
    return None if len(positions) == 0 else int(positions[0].as_py())


def _plain(array: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(array.type):
        return array.dictionary_decode()
    return array


def _is_text(array: pa.Array) -> bool:
    return bool(pa.types.is_string(array.type) or pa.types.is_large_string(array.type))


def trim(array: pa.Array) -> pa.Array:
    """Strip surrounding whitespace from a string array and turn empty strings into nulls."""
    if not _is_text(array):
        return array
    trimmed = pc.utf8_trim_whitespace(array)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, trimmed.type), trimmed)


def _cast_numbers(block: Block, name: str, array: pa.Array) -> pa.Array:
    try:
        return pc.cast(array, pa.float64())
    except pa.ArrowInvalid as exc:
        tokens = pc.is_in(array, value_set=pa.array(NULL_TOKENS, array.type))
        if pc.any(tokens).as_py():
            cleaned = pc.if_else(tokens, pa.scalar(None, array.type), array)
            return _cast_numbers(block, name, cleaned)
        valid = pc.match_substring_regex(array, _NUMBER_PATTERN)
        index = _first_true(pc.invert(valid))
        if index is None:
            raise block.error(f"not a number: {exc}", name) from exc
        value = array[index].as_py()
        raise block.error("not a number", name, index, value) from exc


def floats(block: Block, name: str, *, required: bool = False) -> pa.Array:
    """Parse a column as float64; blanks become nulls, or an error when `required`."""
    array = _plain(block.column(name))
    if _is_text(array):
        out = _cast_numbers(block, name, array)
    elif pa.types.is_floating(array.type) or pa.types.is_integer(array.type) or pa.types.is_decimal(
        array.type
    ):
        out = pc.cast(array, pa.float64())
    else:
        raise block.error(f"expected numbers, found a column of type {array.type}", name)
    if required:
        index = _first_true(pc.invert(pc.fill_null(pc.is_finite(out), False)))
        if index is not None:
            raw = block.column(name)[index].as_py()
            raise block.error("missing or non-finite value", name, index, raw)
    return out


def integers(block: Block, name: str) -> pa.Array:
    """Parse a column of counts as int64 (nullable); accepts whole numbers written as `12.0`."""
    array = _plain(block.column(name))
    if pa.types.is_integer(array.type):
        return pc.cast(array, pa.int64())
    values = floats(block, name)
    values = pc.if_else(pc.is_nan(values), pa.scalar(None, pa.float64()), values)
    whole = pc.and_(pc.is_finite(values), pc.equal(pc.floor(values), values))
    index = _first_true(pc.invert(whole))
    if index is not None:
        raise block.error("not a whole number", name, index, block.column(name)[index].as_py())
    return pc.cast(values, pa.int64(), safe=False)


def _date_values(values: pa.Array, date_format: str) -> pa.Array:
    # Distinct values only, so Python's strptime is cheap; unlike Arrow's it rejects 2/30/2024.
    parsed: list[date | None] = []
    for value in values.to_pylist():
        try:
            day = datetime.strptime(value, date_format).date()  # noqa: DTZ007
        except (TypeError, ValueError):
            day = None
        parsed.append(day if day is not None and _MIN_YEAR <= day.year <= _MAX_YEAR else None)
    return pa.array(parsed, pa.date32())


def dates(block: Block, name: str, date_format: str = ISO_DATE) -> pa.Array:
    """Parse a required date column; `date_format` is a strptime format for text columns."""
    array = _plain(block.column(name))
    if pa.types.is_date32(array.type):
        out = array
    elif pa.types.is_date64(array.type) or pa.types.is_timestamp(array.type):
        out = pc.cast(array, pa.date32(), safe=False)
    elif _is_text(array):
        encoded = pc.dictionary_encode(array)
        parsed = _date_values(encoded.dictionary, date_format)
        bad_codes = pc.indices_nonzero(pc.is_null(parsed))
        if len(bad_codes):
            bad_codes = pc.cast(bad_codes, encoded.indices.type)
            index = _first_true(pc.is_in(encoded.indices, value_set=bad_codes))
            assert index is not None
            raise block.error(
                f"not a date in format {date_format!r}", name, index, array[index].as_py()
            )
        out = pc.take(parsed, encoded.indices)
    else:
        raise block.error(f"expected dates, found a column of type {array.type}", name)
    index = _first_true(pc.is_null(out))
    if index is not None:
        raise block.error("missing date", name, index)
    return out


def guess_date_format(array: pa.Array) -> str:
    """Return `US_DATE` when the first non-blank value has slashes, else `ISO_DATE`."""
    array = _plain(array)
    if not _is_text(array):
        return ISO_DATE
    valid = pc.drop_null(array)
    if len(valid) and "/" in str(valid[0].as_py()):
        return US_DATE
    return ISO_DATE


def rights(block: Block, name: str) -> pa.Array:
    """Parse option rights written C/P, call/put or Call/Put (any case) into "C"/"P"."""
    array = _plain(block.column(name))
    if not _is_text(array):
        raise block.error(f"expected C/P text, found a column of type {array.type}", name)
    encoded = pc.dictionary_encode(array)
    words = pc.utf8_upper(pc.utf8_trim_whitespace(encoded.dictionary))
    is_call = pc.is_in(words, value_set=pa.array(["C", "CALL"]))
    is_put = pc.is_in(words, value_set=pa.array(["P", "PUT"]))
    mapped = pc.if_else(is_call, "C", pc.if_else(is_put, "P", pa.scalar(None, pa.string())))
    out = pc.take(mapped, encoded.indices)
    index = _first_true(pc.is_null(out))
    if index is not None:
        value = array[index].as_py()
        message = "missing value" if value is None else "not an option right (C/P, call/put)"
        raise block.error(message, name, index, value)
    return out


def texts(block: Block, name: str) -> pa.Array:
    """Return a required text column; blanks raise."""
    array = _plain(block.column(name))
    if not _is_text(array):
        array = pc.cast(array, pa.string())
    index = _first_true(pc.is_null(array))
    if index is not None:
        raise block.error("missing value", name, index)
    return array
