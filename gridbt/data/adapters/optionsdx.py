"""OptionsDX end-of-day files: wide rows, call and put of one strike side by side.

Layout: ``[QUOTE_UNIXTIME], [QUOTE_READTIME], [QUOTE_DATE], ...`` — bracketed headers and
values padded with a space after each comma. Each row is melted into a call row and a put
row. Spot is ``UNDERLYING_LAST``; blank IVs become NaN; there is no open interest (null);
``C_SIZE``/``P_SIZE`` (``"bid x ask"`` strings) are not read. The underlying comes from the
file name prefix (``spx_eod_202401.txt`` -> ``SPX``) unless the caller names it.

Greek units. OptionsDX does not document them; they were checked against a published raw
row (SPY, 2021-12-01 16:00, expiry the same day, strike 310, spot 450.44, C_IV 3.96413,
P_IV 2.52135). With Black–Scholes at about 0.73 calendar days to expiry the row's
C_DELTA 0.98574 and C_GAMMA 0.00047 are reproduced (0.986, 0.00045); C_VEGA 0.00756 matches
the vega per 1.0 of volatility divided by 100 (0.0072), so vega is per volatility point; and
C_THETA -0.41528 / P_THETA -0.00494 equal the value the options lose over one calendar day
(0.418 / 0.0051 at that expiry), not an annual rate (about -714 per year). Both units are
therefore already the canonical ones and are passed through unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pyarrow as pa

from gridbt.data.adapters._batch import AdapterBatch, constant_text, count_null, make_batch, melt
from gridbt.data.adapters._io import (
    DEFAULT_BLOCK_SIZE,
    Member,
    iter_text_blocks,
    read_header,
    require_columns,
)
from gridbt.data.adapters._parse import ISO_DATE, Block, dates, floats, integers, trim
from gridbt.data.errors import DataError

__all__ = ["read", "underlying_from_name"]

SHARED = ("QUOTE_DATE", "UNDERLYING_LAST", "EXPIRE_DATE", "STRIKE")
SIDE_FIELDS = ("BID", "ASK", "IV", "DELTA", "GAMMA", "VEGA", "THETA", "VOLUME")
REQUIRED = SHARED + tuple(f"{side}_{name}" for side in "CP" for name in SIDE_FIELDS)
_CRYPTO_MARKER = "INSTRUMENT_NAME"
_NAME_PATTERN = re.compile(r"^([A-Za-z0-9.^]+?)_")


def normalize(label: str) -> str:
    """Turn ``" [C_BID]"`` into ``"C_BID"``."""
    return label.strip().strip("[]").strip().upper()


def underlying_from_name(name: str) -> str | None:
    """Return the underlying encoded in an OptionsDX file name, e.g. SPX for spx_eod_202401.txt."""
    match = _NAME_PATTERN.match(name)
    return None if match is None else match.group(1).upper()


def _side(block: Block, side: str) -> dict[str, pa.Array]:
    return {
        "bid": floats(block, f"{side}_BID"),
        "ask": floats(block, f"{side}_ASK"),
        "iv": floats(block, f"{side}_IV"),
        "delta": floats(block, f"{side}_DELTA"),
        "gamma": floats(block, f"{side}_GAMMA"),
        "vega": floats(block, f"{side}_VEGA"),
        "theta": floats(block, f"{side}_THETA"),
        "volume": integers(block, f"{side}_VOLUME"),
    }


def _convert(block: Block, underlying: str) -> AdapterBatch:
    raw_rows = block.num_rows
    block = block.map_columns(list(block.columns), trim)
    shared = {
        "date": dates(block, "QUOTE_DATE", ISO_DATE),
        "underlying": constant_text(underlying, block.num_rows),
        "spot": floats(block, "UNDERLYING_LAST"),
        "expiry": dates(block, "EXPIRE_DATE", ISO_DATE),
        "strike": floats(block, "STRIKE", required=True),
    }
    calls, puts = _side(block, "C"), _side(block, "P")
    columns = melt(shared, calls, puts)
    flagged = {"blank_iv": count_null(columns["iv"])}
    return make_batch(columns, block, raw_rows, flagged)


def read(
    member: Member, *, underlying: str | None = None, block_size: int = DEFAULT_BLOCK_SIZE
) -> Iterator[AdapterBatch]:
    """Yield canonical batches from one OptionsDX text member."""
    header = read_header(member, normalize)
    if _CRYPTO_MARKER in header.names:
        raise DataError(
            "the OptionsDX crypto layout is not supported",
            path=member.source,
            column=header.labels[_CRYPTO_MARKER],
        )
    labels = {name: f"[{name}]" for name in REQUIRED} | header.labels
    require_columns(member.source, header.names, REQUIRED, labels)
    name = underlying or underlying_from_name(member.name)
    if not name:
        raise DataError(
            f"cannot tell the underlying from the file name {member.name!r}; pass underlying=",
            path=member.source,
        )
    for block in iter_text_blocks(member, header, REQUIRED, block_size=block_size):
        yield _convert(block, name)
