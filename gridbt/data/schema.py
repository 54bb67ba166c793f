"""The canonical option-chain schema (DESIGN.md, "The data contract").

One row per option quote per trading day. Units of the greeks, whoever computed them:
`delta` and `gamma` per 1.0 of underlying, `vega` per 1 volatility point (0.01), `theta`
per calendar day; `iv` is a decimal annualised volatility. Missing greeks are NaN.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

SCHEMA_VERSION = 1

GREEK_FIELDS = ("iv", "delta", "gamma", "vega", "theta")
#: Row order of a stored and packed chain: day-major, calls before puts, then expiry, strike.
SORT_KEYS = ("date", "right", "expiry", "strike")
RIGHTS = ("C", "P")

CHAIN_SCHEMA = pa.schema(
    [
        pa.field("date", pa.date32(), nullable=False),
        pa.field("underlying", pa.dictionary(pa.int32(), pa.string()), nullable=False),
        pa.field("spot", pa.float64()),
        pa.field("expiry", pa.date32(), nullable=False),
        pa.field("strike", pa.float64(), nullable=False),
        pa.field("right", pa.dictionary(pa.int8(), pa.string()), nullable=False),
        pa.field("bid", pa.float64()),
        pa.field("ask", pa.float64()),
        pa.field("iv", pa.float64()),
        pa.field("delta", pa.float64()),
        pa.field("gamma", pa.float64()),
        pa.field("vega", pa.float64()),
        pa.field("theta", pa.float64()),
        pa.field("volume", pa.int64()),
        pa.field("open_interest", pa.int64()),
    ],
    metadata={"gridbt.schema_version": str(SCHEMA_VERSION)},
)
COLUMNS = tuple(CHAIN_SCHEMA.names)


def conform(table: pa.Table) -> pa.Table:
    """Cast a table holding the canonical columns to `CHAIN_SCHEMA`, in canonical order.

    Missing greek, volume and open-interest columns are added as nulls; missing keys raise.
    A table already in the canonical schema is returned as is (no copy).
    """
    if table.schema.equals(CHAIN_SCHEMA, check_metadata=False):
        return table
    columns = []
    for field in CHAIN_SCHEMA:
        if field.name in table.column_names:
            column = table.column(field.name)
            if pa.types.is_dictionary(field.type) and not pa.types.is_dictionary(column.type):
                column = pc.cast(column, pa.string()).dictionary_encode()
            if pa.types.is_dictionary(field.type):
                column = pc.cast(column, field.type)
            elif column.type != field.type:
                column = pc.cast(column, field.type)
            if pa.types.is_floating(field.type) and column.null_count:
                column = pc.fill_null(column, float("nan"))
        elif field.name in GREEK_FIELDS or field.name in ("volume", "open_interest", "spot"):
            fill = float("nan") if pa.types.is_floating(field.type) else None
            column = pa.array([fill] * table.num_rows, type=field.type)
        else:
            raise KeyError(f"chain is missing required column {field.name!r}")
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=CHAIN_SCHEMA)


def sort_chain(table: pa.Table) -> pa.Table:
    """Sort a canonical chain into `SORT_KEYS` order (calls before puts)."""
    return table.take(sort_order(table))


def sort_order(table: pa.Table) -> pa.Array:
    """The row indices that sort a canonical chain into `SORT_KEYS` order (a stable sort)."""
    right_code = pc.cast(pc.equal(pc.cast(table.column("right"), pa.string()), "P"), pa.int8())
    keyed = table.append_column("_right_code", right_code)
    return pc.sort_indices(
        keyed,
        sort_keys=[
            ("date", "ascending"),
            ("_right_code", "ascending"),
            ("expiry", "ascending"),
            ("strike", "ascending"),
        ],
    )
