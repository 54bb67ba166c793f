"""ORATS SMV Strikes files: wide rows, one row per trade date, ticker, expiry and strike.

Dates are written ``M/D/YYYY`` without padding (``1/5/2024``); ISO dates are accepted too.
Spot is ``stkPx`` (``spot_px`` is mostly null). Quotes are ``cBidPx``/``cAskPx`` and
``pBidPx``/``pAskPx``; zero bids are common and kept as valid quotes (counted as
``zero_bid``). IV is ``cMidIv``/``pMidIv``; volume ``cVolu``/``pVolu``; open interest
``cOi``/``pOi``. Tickers stay as written (``BRK_B``).

ORATS gives one greek set per strike, the call's (vega per volatility point, theta per
calendar day). Put greeks follow from put–call parity with the row's continuous rates as
decimals, ``r = iRate``, ``q = divRate``, and ``T = yte`` years, ``S = stkPx``::

    put delta = call delta - exp(-q T)
    put gamma = call gamma,   put vega = call vega
    put theta = call theta - (q S exp(-q T) - r K exp(-r T)) / 365
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gridbt._typing import FloatArray
from gridbt.data.adapters._batch import AdapterBatch, count_null, count_zero, make_batch, melt
from gridbt.data.adapters._io import (
    DEFAULT_BLOCK_SIZE,
    Member,
    iter_text_blocks,
    read_header,
    require_columns,
)
from gridbt.data.adapters._parse import (
    Block,
    dates,
    floats,
    guess_date_format,
    integers,
    texts,
)

__all__ = ["put_greeks", "read"]

DAYS_PER_YEAR = 365.0
REQUIRED = (
    "ticker",
    "trade_date",
    "stkPx",
    "expirDate",
    "yte",
    "strike",
    "cBidPx",
    "cAskPx",
    "pBidPx",
    "pAskPx",
    "iRate",
    "divRate",
    "delta",
    "gamma",
    "theta",
    "vega",
)
SIDES = {
    "C": {"bid": "cBidPx", "ask": "cAskPx", "iv": "cMidIv", "volume": "cVolu", "oi": "cOi"},
    "P": {"bid": "pBidPx", "ask": "pAskPx", "iv": "pMidIv", "volume": "pVolu", "oi": "pOi"},
}
OPTIONAL = tuple(side[key] for side in SIDES.values() for key in ("iv", "volume", "oi"))


def normalize(label: str) -> str:
    return label.strip()


def put_greeks(
    call_delta: FloatArray,
    call_theta: FloatArray,
    spot: FloatArray,
    strike: FloatArray,
    years: FloatArray,
    rate: FloatArray,
    dividend: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Return put delta and put theta (per calendar day) from call greeks by parity."""
    dividend_discount = np.exp(-dividend * years)
    rate_discount = np.exp(-rate * years)
    delta = call_delta - dividend_discount
    carry = dividend * spot * dividend_discount - rate * strike * rate_discount
    theta = call_theta - carry / DAYS_PER_YEAR
    return delta, theta


def _numpy(array: pa.Array) -> FloatArray:
    return np.asarray(pc.fill_null(array, float("nan")).to_numpy(zero_copy_only=False))


def _optional_floats(block: Block, name: str) -> pa.Array:
    if block.has(name):
        return floats(block, name)
    return pa.array(np.full(block.num_rows, np.nan))


def _optional_integers(block: Block, name: str) -> pa.Array:
    if block.has(name):
        return integers(block, name)
    return pa.nulls(block.num_rows, pa.int64())


def _convert(block: Block, underlying: str | None) -> AdapterBatch:
    raw_rows = block.num_rows
    flagged: dict[str, int] = {}
    if underlying is not None:
        before = block.num_rows
        block = block.filter(pc.equal(block.column("ticker"), underlying))
        flagged["other_underlying"] = before - block.num_rows
    spot = floats(block, "stkPx")
    strike = floats(block, "strike", required=True)
    shared = {
        "date": dates(block, "trade_date", guess_date_format(block.column("trade_date"))),
        "underlying": texts(block, "ticker"),
        "spot": spot,
        "expiry": dates(block, "expirDate", guess_date_format(block.column("expirDate"))),
        "strike": strike,
        "gamma": floats(block, "gamma"),
        "vega": floats(block, "vega"),
    }
    call_delta = floats(block, "delta")
    call_theta = floats(block, "theta")
    put_delta, put_theta = put_greeks(
        _numpy(call_delta),
        _numpy(call_theta),
        _numpy(spot),
        _numpy(strike),
        _numpy(floats(block, "yte")),
        _numpy(floats(block, "iRate")),
        _numpy(floats(block, "divRate")),
    )
    sides = {}
    for right, names in SIDES.items():
        sides[right] = {
            "bid": floats(block, names["bid"]),
            "ask": floats(block, names["ask"]),
            "iv": _optional_floats(block, names["iv"]),
            "volume": _optional_integers(block, names["volume"]),
            "open_interest": _optional_integers(block, names["oi"]),
        }
    sides["C"] |= {"delta": call_delta, "theta": call_theta}
    sides["P"] |= {"delta": pa.array(put_delta), "theta": pa.array(put_theta)}
    columns = melt(shared, sides["C"], sides["P"])
    flagged["zero_bid"] = count_zero(columns["bid"])
    if block.has("cMidIv") and block.has("pMidIv"):
        flagged["blank_iv"] = count_null(columns["iv"])
    return make_batch(columns, block, raw_rows, flagged)


def read(
    member: Member, *, underlying: str | None = None, block_size: int = DEFAULT_BLOCK_SIZE
) -> Iterator[AdapterBatch]:
    """Yield canonical batches from one ORATS SMV Strikes text member.

    When `underlying` is given, only rows of that ticker are kept; the others are counted as
    ``other_underlying``.
    """
    header = read_header(member, normalize)
    require_columns(member.source, header.names, REQUIRED, header.labels)
    include = REQUIRED + tuple(name for name in OPTIONAL if name in header.names)
    for block in iter_text_blocks(member, header, include, block_size=block_size):
        yield _convert(block, underlying)
