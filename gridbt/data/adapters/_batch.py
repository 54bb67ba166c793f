"""The unit adapters yield, and the helpers that assemble it from parsed columns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gridbt.data.adapters._parse import Block
from gridbt.data.schema import conform


@dataclass(frozen=True)
class AdapterBatch:
    """One block of a vendor file converted to the canonical chain schema.

    Attributes
    ----------
    table
        Rows in `CHAIN_SCHEMA`, not sorted.
    source
        The file read; a zip member is written ``archive.zip::member.csv``.
    flagged
        Counts of vendor quirks met in this block (only non-zero counts), e.g.
        ``{"nonstandard_delivery": 3, "blank_iv": 10}``.
    first_row
        1-based data row of the source at which this block starts.
    raw_rows
        Vendor rows read in this block (a wide vendor row becomes two canonical rows).
    rows
        The data row of the source (from 1) each row of `table` came from; None when they are
        `first_row`, `first_row + 1`, ... in order.
    """

    table: pa.Table
    source: str
    flagged: dict[str, int] = field(default_factory=dict)
    first_row: int = 1
    raw_rows: int = 0
    rows: np.ndarray | None = None

    def data_rows(self) -> np.ndarray:
        """The data row of the source (from 1) of each row of `table`, int64."""
        if self.rows is not None:
            return self.rows
        return np.arange(self.first_row, self.first_row + self.table.num_rows, dtype=np.int64)


def constant_text(value: str, length: int) -> pa.Array:
    """Return a dictionary array holding `value` `length` times."""
    indices = pa.array(np.zeros(length, dtype=np.int32))
    return pa.DictionaryArray.from_arrays(indices, pa.array([value]))


def melt(
    shared: Mapping[str, pa.Array],
    calls: Mapping[str, pa.Array],
    puts: Mapping[str, pa.Array],
) -> dict[str, pa.Array]:
    """Stack the call side of wide rows above the put side, with a `right` column."""
    length = next(iter(shared.values())).__len__()
    columns = {name: pa.concat_arrays([array, array]) for name, array in shared.items()}
    for name, call in calls.items():
        columns[name] = pa.concat_arrays([call, puts[name]])
    codes = np.repeat(np.array([0, 1], dtype=np.int8), length)
    columns["right"] = pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(["C", "P"]))
    return columns


def count_null(array: pa.Array) -> int:
    """Count null or NaN values."""
    if pa.types.is_floating(array.type):
        return int(pc.sum(pc.invert(pc.fill_null(pc.is_finite(array), False))).as_py() or 0)
    return int(array.null_count)


def count_zero(array: pa.Array) -> int:
    """Count values equal to zero."""
    return int(pc.sum(pc.fill_null(pc.equal(array, 0.0), False)).as_py() or 0)


def make_batch(
    columns: Mapping[str, pa.Array], block: Block, raw_rows: int, flagged: Mapping[str, int]
) -> AdapterBatch:
    """Conform parsed canonical columns to the chain schema and wrap them with their origin.

    The columns hold the block's rows in order, once, or twice for wide rows (`melt`: the
    call sides above the put sides).
    """
    table = conform(pa.table(dict(columns)))
    counts = {name: int(count) for name, count in flagged.items() if count}
    if block.rows is None:
        rows = np.arange(block.first_row, block.first_row + block.num_rows, dtype=np.int64)
    else:
        rows = np.asarray(block.rows.to_numpy(zero_copy_only=False), dtype=np.int64)
    if block.num_rows and table.num_rows % block.num_rows:
        raise AssertionError(f"{table.num_rows} canonical rows from {block.num_rows} rows")
    copies = table.num_rows // block.num_rows if block.num_rows else 0
    return AdapterBatch(table, block.source, counts, block.first_row, raw_rows,
                        np.tile(rows, copies))
