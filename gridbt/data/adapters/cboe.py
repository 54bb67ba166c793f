"""Cboe DataShop "Option EOD Summary" files, with or without the Calcs columns.

One row per contract. Index underlyings carry a ``^`` prefix, which is stripped (``^SPX`` ->
``SPX``); SPX and SPXW roots are both kept under the same underlying, so (date, expiry,
strike, right) may repeat across roots and validation reports it. Quotes are the 15:45
``bid_1545``/``ask_1545`` (Cboe's recommendation for fills). Spot is
``active_underlying_price_1545`` when present and positive, else the mid of
``underlying_bid_1545``/``underlying_ask_1545`` when both are positive, else NaN (index bid/ask
are zero without a Cboe index licence). Rows with a non-empty ``delivery_code`` (non-standard
deliverable) are dropped and counted as ``nonstandard_delivery``. Without Calcs the greeks are
NaN. With Calcs, ``vega_1545`` is per volatility point and ``theta_1545`` per calendar day
(checked against a published row: a 7-day put with IV 2.0133 on spot 131.505, strike 65 has
vega 0.0021 and theta -0.0302, Black–Scholes gives 0.00207 and -0.0298), so they pass
through unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gridbt.data.adapters._batch import AdapterBatch, count_null, make_batch
from gridbt.data.adapters._io import (
    DEFAULT_BLOCK_SIZE,
    Member,
    iter_text_blocks,
    read_header,
    require_columns,
)
from gridbt.data.adapters._parse import (
    ISO_DATE,
    Block,
    dates,
    floats,
    integers,
    rights,
    texts,
    trim,
)

__all__ = ["read"]

REQUIRED = (
    "underlying_symbol",
    "quote_date",
    "expiration",
    "strike",
    "option_type",
    "bid_1545",
    "ask_1545",
)
SPOT_COLUMNS = ("active_underlying_price_1545", "underlying_bid_1545", "underlying_ask_1545")
GREEK_COLUMNS = {
    "iv": "implied_volatility_1545",
    "delta": "delta_1545",
    "gamma": "gamma_1545",
    "vega": "vega_1545",
    "theta": "theta_1545",
}
COUNT_COLUMNS = {"volume": "trade_volume", "open_interest": "open_interest"}
DELIVERY = "delivery_code"
OPTIONAL = SPOT_COLUMNS + tuple(GREEK_COLUMNS.values()) + tuple(COUNT_COLUMNS.values()) + (
    DELIVERY,
)


def normalize(label: str) -> str:
    return label.strip().lower()


def _strip_caret(array: pa.Array) -> pa.Array:
    return pc.utf8_ltrim(array, characters="^")


def _positive(values: pa.Array) -> pa.Array:
    return pc.fill_null(pc.greater(values, 0.0), False)


def _spot(block: Block) -> pa.Array:
    nan = pa.scalar(float("nan"), pa.float64())
    spot = pa.array(np.full(block.num_rows, np.nan))
    if block.has("underlying_bid_1545") and block.has("underlying_ask_1545"):
        bid = floats(block, "underlying_bid_1545")
        ask = floats(block, "underlying_ask_1545")
        both = pc.and_(_positive(bid), _positive(ask))
        spot = pc.if_else(both, pc.divide(pc.add(bid, ask), 2.0), nan)
    if block.has("active_underlying_price_1545"):
        active = floats(block, "active_underlying_price_1545")
        spot = pc.if_else(_positive(active), active, spot)
    return spot


def _convert(block: Block, underlying: str | None) -> AdapterBatch:
    raw_rows = block.num_rows
    flagged: dict[str, int] = {}
    block = block.map_columns(["underlying_symbol"], _strip_caret)
    if underlying is not None:
        before = block.num_rows
        block = block.filter(pc.equal(block.column("underlying_symbol"), underlying))
        flagged["other_underlying"] = before - block.num_rows
    if block.has(DELIVERY):
        nonstandard = pc.is_valid(trim(block.column(DELIVERY)))
        before = block.num_rows
        block = block.filter(pc.invert(nonstandard))
        flagged["nonstandard_delivery"] = before - block.num_rows
    columns = {
        "date": dates(block, "quote_date", ISO_DATE),
        "underlying": texts(block, "underlying_symbol"),
        "spot": _spot(block),
        "expiry": dates(block, "expiration", ISO_DATE),
        "strike": floats(block, "strike", required=True),
        "right": rights(block, "option_type"),
        "bid": floats(block, "bid_1545"),
        "ask": floats(block, "ask_1545"),
    }
    for name, column in GREEK_COLUMNS.items():
        if block.has(column):
            columns[name] = floats(block, column)
    for name, column in COUNT_COLUMNS.items():
        if block.has(column):
            columns[name] = integers(block, column)
    if "iv" in columns:
        flagged["blank_iv"] = count_null(columns["iv"])
    return make_batch(columns, block, raw_rows, flagged)


def read(
    member: Member, *, underlying: str | None = None, block_size: int = DEFAULT_BLOCK_SIZE
) -> Iterator[AdapterBatch]:
    """Yield canonical batches from one Cboe Option EOD Summary text member.

    When `underlying` is given, only its rows are kept (``^`` ignored); the others are counted
    as ``other_underlying``.
    """
    header = read_header(member, normalize)
    require_columns(member.source, header.names, REQUIRED, header.labels)
    include = REQUIRED + tuple(name for name in OPTIONAL if name in header.names)
    wanted = None if underlying is None else underlying.lstrip("^")
    for block in iter_text_blocks(member, header, include, block_size=block_size):
        yield _convert(block, wanted)
