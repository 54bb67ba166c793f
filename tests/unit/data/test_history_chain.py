"""The history chain: the real S&P 500 path of 1999–2018 with a modelled surface anchored to
the real VIX (docs/history_chain.md). One session-scoped build serves every test."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from arch.data import sp500

from gridbt.data.synth import synthesize_batches
from tests.unit.data.conftest import HistoryChain

pytestmark = pytest.mark.slow

EPOCH = dt.date(1970, 1, 1)


def _day(value: str) -> int:
    return (dt.date.fromisoformat(value) - EPOCH).days


def _real_close() -> tuple[np.ndarray, np.ndarray]:
    data = sp500.load()
    days = data.index.to_numpy().astype("datetime64[D]").astype(np.int64)
    return days, data["Close"].to_numpy()


def test_spot_is_the_real_close_on_every_real_trading_day(history_chain: HistoryChain) -> None:
    days, close = _real_close()
    packed = history_chain.packed
    np.testing.assert_array_equal(packed.day_date, days)
    assert days.shape[0] == 5031
    np.testing.assert_array_equal(packed.day_spot, np.round(close, 2))
    assert np.abs(packed.day_spot - close).max() < 0.005
    # every row of a day carries that day's spot
    spot_rows = history_chain.table.column("spot").to_numpy()
    np.testing.assert_array_equal(spot_rows, packed.day_spot[history_chain.row_day])


def test_listing_monthlies_before_weeklies_and_expiries_on_trading_days(
    history_chain: HistoryChain,
) -> None:
    packed = history_chain.packed
    expiry = packed.group_expiry
    group_day = np.repeat(np.arange(packed.day_date.shape[0]), np.diff(packed.day_group_start))
    quote_day = packed.day_date[group_day]
    expiry_date = expiry.astype("datetime64[D]").astype(object)
    third_week = np.array([15 <= d.day <= 21 or d.weekday() != 4 for d in expiry_date])
    before = quote_day < _day("2005-10-03")
    # before October 2005 only third-Friday monthlies (or their holiday-moved Thursday)
    assert third_week[before].all()
    assert not third_week[~before].all()
    # an expiry inside the data is one of its trading days (Good Fridays moved to Thursday)
    inside = expiry <= packed.day_date[-1]
    assert np.isin(expiry[inside], packed.day_date).all()
    assert _day("2003-04-17") in expiry and _day("2003-04-18") not in expiry
    # every day lists quarterlies out to between 9 and 12 months
    last = np.maximum.reduceat(expiry - quote_day, packed.day_group_start[:-1])
    assert last.min() >= 260


def test_rows_per_day_and_size(history_chain: HistoryChain) -> None:
    per_day = np.diff(history_chain.packed.day_quote_start)
    assert 4_000_000 < history_chain.table.num_rows < 7_000_000
    assert per_day.min() >= 300


def test_same_seed_same_bytes(history_chain: HistoryChain) -> None:
    first = next(iter(synthesize_batches("history")))
    n = first.num_rows
    assert first.equals(history_chain.table.slice(0, n))
    other = next(iter(synthesize_batches("history", seed=8)))
    assert not other.column("bid").equals(first.column("bid"))
    # the spot is the data's whatever the seed
    def day_spot(table: pa.Table) -> np.ndarray:
        _, first_row = np.unique(table.column("date").to_numpy(), return_index=True)
        return np.asarray(table.column("spot").to_numpy()[first_row])

    np.testing.assert_array_equal(day_spot(other), day_spot(first))

