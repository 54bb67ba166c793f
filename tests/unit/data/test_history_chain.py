"""The history chain: the real S&P 500 path of 1999–2018 with a modelled surface anchored to
the real VIX (docs/history_chain.md). One session-scoped build serves every test."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from arch.data import sp500, vix

from gridbt.data import features_nb
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



def _dates(history_chain: HistoryChain) -> np.ndarray:
    return history_chain.packed.day_date.astype("datetime64[D]")


def _between(history_chain: HistoryChain, first: str, stop: str) -> np.ndarray:
    dates = _dates(history_chain)
    return np.asarray((dates >= np.datetime64(first)) & (dates < np.datetime64(stop)))


def test_vix_30_tracks_the_real_vix_on_2014_to_2018(history_chain: HistoryChain) -> None:
    data = vix.load()
    days = data.index.to_numpy().astype("datetime64[D]").astype(np.int64)
    level = data["vix"].to_numpy() / 100.0
    packed = history_chain.packed
    common, chain_index, vix_index = np.intersect1d(
        packed.day_date.astype(np.int64), days, return_indices=True
    )
    assert common.shape[0] >= 1250  # 2014-01-03 .. 2018-12-31
    ours = packed.feature("vix_30")[chain_index]
    real = level[vix_index]
    assert np.isfinite(ours).all()
    assert np.corrcoef(ours, real)[0, 1] >= 0.95
    assert np.mean(np.abs(ours - real)) * 100.0 <= 1.5


def test_vix_30_reaches_45_in_october_and_november_2008(history_chain: HistoryChain) -> None:
    crisis = history_chain.packed.feature("vix_30")[
        _between(history_chain, "2008-10-01", "2008-12-01")
    ]
    assert np.nanmax(crisis) >= 0.45
    assert np.nanmean(crisis) >= 0.40


def test_volatility_clustering_and_fat_tails(history_chain: HistoryChain) -> None:
    returns = np.diff(np.log(history_chain.packed.day_spot))
    size = np.abs(returns)
    for lag in (1, 5, 20):
        assert np.corrcoef(size[lag:], size[:-lag])[0, 1] > 0.15
    excess_kurtosis = np.mean((returns - returns.mean()) ** 4) / returns.var() ** 2 - 3.0
    assert excess_kurtosis > 3.0
    level = history_chain.packed.feature("vix_30")
    assert np.isfinite(level).all()
    assert np.corrcoef(level[1:], level[:-1])[0, 1] > 0.9


def test_implied_variance_exceeds_realised_on_average(history_chain: HistoryChain) -> None:
    packed = history_chain.packed
    returns = np.diff(np.log(packed.day_spot))
    window = 21
    level = packed.feature("vix_30")[: returns.shape[0] - window + 1]
    squared = np.r_[0.0, np.cumsum(returns * returns)]
    realised = 252.0 * (squared[window:] - squared[:-window]) / window
    premium = level**2 - realised
    assert np.mean(premium) > 0.0
    assert np.median(premium) > 0.0
    assert np.mean(level - np.sqrt(realised)) > 0.01
    assert np.mean(premium > 0.0) > 0.6


def test_put_skew_and_term_structure_by_regime(history_chain: HistoryChain) -> None:
    packed = history_chain.packed
    assert (packed.feature("skew_25d") > 0.0).all()
    near = packed.feature("atm_iv_30")
    far = features_nb.atm_iv_nb(
        packed.day_date, packed.day_spot, packed.day_group_start, packed.day_put_group_start,
        packed.group_expiry, packed.group_quote_start, packed.quote_strike, packed.quote_iv,
        180.0,
    )
    calm = near < np.quantile(near, 0.5)
    stressed = near > np.quantile(near, 0.9)
    assert np.mean(far[calm] > near[calm]) > 0.9
    assert np.mean(far[stressed] < near[stressed]) > 0.9


def test_volatility_regimes(history_chain: HistoryChain) -> None:
    level = history_chain.packed.feature("vix_30")
    assert 0.02 < np.mean(level > 0.30) < 0.15
    assert 0.2 < np.mean(level < 0.15) < 0.6

    def mean(first: str, stop: str) -> float:
        return float(np.mean(level[_between(history_chain, first, stop)]))

    assert mean("2017-01-01", "2018-01-01") < 0.13
    assert mean("2005-01-01", "2007-01-01") < 0.16
    for first, stop in (("2002-07-01", "2002-11-01"), ("2008-09-15", "2009-04-01"),
                        ("2011-08-01", "2011-11-01")):
        assert mean(first, stop) > 0.25


def test_an_entry_filter_on_vix_30_opens_only_when_it_passes(history_chain: HistoryChain) -> None:
    from gridbt.strategy.backtest import run_backtest
    from gridbt.strategy.presets import load_spec
    from gridbt.workflows.jobfiles import job_file

    spec = load_spec(job_file("strategies/short_put_30d.yaml"))
    data = spec.model_dump()
    data["entry"]["filters"] = [{"feature": "vix_30", "min": 0.25}]
    filtered = type(spec).model_validate(data)
    packed = history_chain.packed
    every = run_backtest(packed, spec).trades
    calm_excluded = run_backtest(packed, filtered).trades
    assert 0 < calm_excluded.shape[0] < every.shape[0]
    assert (packed.feature("vix_30")[calm_excluded["entry_day"]] >= 0.25).all()
