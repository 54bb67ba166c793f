from __future__ import annotations

import dataclasses
import datetime as dt
import io

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from gridbt.data import blackscholes, schema
from gridbt.data.errors import DataError
from gridbt.data.synth import PROFILES, SynthProfile, synthesize_batches, synthesize_chain

RATE, DIVIDEND = 0.02, 0.015
# NYSE full-day closures of 2014, from the exchange's published calendar.
HOLIDAYS_2014 = [
    dt.date(2014, 1, 1),
    dt.date(2014, 1, 20),
    dt.date(2014, 2, 17),
    dt.date(2014, 4, 18),
    dt.date(2014, 5, 26),
    dt.date(2014, 7, 4),
    dt.date(2014, 9, 1),
    dt.date(2014, 11, 27),
    dt.date(2014, 12, 25),
]


@dataclasses.dataclass(frozen=True)
class Chain:
    table: pa.Table
    date: np.ndarray
    expiry: np.ndarray
    days_to_expiry: np.ndarray
    years: np.ndarray
    is_call: np.ndarray
    spot: np.ndarray
    strike: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    iv: np.ndarray
    delta: np.ndarray


def _columns(table: pa.Table) -> Chain:
    date = table.column("date").to_numpy().astype("datetime64[D]").astype(np.int64)
    expiry = table.column("expiry").to_numpy().astype("datetime64[D]").astype(np.int64)
    right = pc.cast(table.column("right"), pa.string())
    return Chain(
        table=table,
        date=date,
        expiry=expiry,
        days_to_expiry=expiry - date,
        years=(expiry - date) / 365.0,
        is_call=pc.equal(right, "C").to_numpy(zero_copy_only=False),
        spot=table.column("spot").to_numpy(),
        strike=table.column("strike").to_numpy(),
        bid=table.column("bid").to_numpy(),
        ask=table.column("ask").to_numpy(),
        iv=table.column("iv").to_numpy(),
        delta=table.column("delta").to_numpy(),
    )


@pytest.fixture(scope="module")
def small() -> Chain:
    return _columns(synthesize_chain("small"))


def _day_ranges(chain: Chain) -> list[tuple[int, int]]:
    starts = np.flatnonzero(np.r_[True, chain.date[1:] != chain.date[:-1]])
    return list(zip(starts, np.r_[starts[1:], chain.date.size], strict=True))


def _atm_iv(chain: Chain, lo: int, hi: int, days: int) -> float:
    """ATM call IV of the expiry nearest `days` calendar days out on the day in rows [lo, hi)."""
    dte = chain.days_to_expiry[lo:hi]
    target = dte[np.argmin(np.abs(dte - days))]
    rows = np.flatnonzero((dte == target) & chain.is_call[lo:hi]) + lo
    return float(chain.iv[rows[np.argmin(np.abs(chain.strike[rows] - chain.spot[lo]))]])


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def test_canonical_schema_and_order(small: Chain) -> None:
    table = small.table
    assert table.schema.equals(schema.CHAIN_SCHEMA, check_metadata=True)
    assert table.equals(schema.sort_chain(table))
    assert pc.unique(pc.cast(table.column("underlying"), pa.string())).to_pylist() == ["SPX"]
    assert all(table.column(name).null_count == 0 for name in table.column_names)


def test_small_profile_is_about_one_year(small: Chain) -> None:
    days = np.unique(small.date)
    assert days.size == PROFILES["small"].n_days == 252
    # 2014 had exactly 252 NYSE trading days.
    assert days[0] == (dt.date(2014, 1, 2) - dt.date(1970, 1, 1)).days
    assert days[-1] == (dt.date(2014, 12, 31) - dt.date(1970, 1, 1)).days
    assert small.spot[0] == pytest.approx(1800.0)
    assert small.table.num_rows / days.size > 200


def test_calendar_skips_weekends_and_holidays(small: Chain) -> None:
    days = np.unique(small.date).astype("datetime64[D]")
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    assert (weekday < 5).all()
    listed = {d.item() for d in days}
    assert not listed & set(HOLIDAYS_2014)


def test_keys_unique_and_expiries_after_quote_date(small: Chain) -> None:
    keys = np.stack(
        [small.date, small.expiry, np.rint(small.strike * 100).astype(np.int64), small.is_call], 1
    )
    assert np.unique(keys, axis=0).shape[0] == keys.shape[0]
    assert (small.days_to_expiry >= 1).all()


def test_small_lists_monthlies_and_quarterlies(small: Chain) -> None:
    expiries = np.unique(small.expiry).astype("datetime64[D]")
    dates = [e.item() for e in expiries]
    # Third Fridays (or the Thursday before when the Friday is a holiday).
    assert all(15 <= (d + dt.timedelta(days=4 - d.weekday())).day <= 21 for d in dates)
    # April 2014's third Friday was Good Friday: the expiry moves to Thursday the 17th.
    assert dt.date(2014, 4, 17) in dates
    assert dt.date(2014, 4, 18) not in dates
    far = small.days_to_expiry > PROFILES["small"].weekly_horizon_days
    far_months = {e.item().month for e in small.expiry[far].astype("datetime64[D]")}
    assert far.any() and far_months <= {3, 6, 9, 12}
    per_day = [np.unique(small.expiry[lo:hi]).size for lo, hi in _day_ranges(small)]
    assert 2 <= min(per_day) and max(per_day) <= 6


def test_weekly_listing_and_holiday_fridays() -> None:
    profile = dataclasses.replace(
        PROFILES["synthetic"], name="weeks", n_days=25, start=dt.date(2014, 6, 2)
    )
    chain = _columns(synthesize_chain(profile))
    first_day = chain.date == chain.date[0]
    expiries = [e.item() for e in np.unique(chain.expiry[first_day]).astype("datetime64[D]")]
    weeklies = [e for e in expiries if (e - dt.date(2014, 6, 2)).days <= 120]
    # Every Friday out to 120 days; 4 July 2014 was a holiday Friday, so Thursday the 3rd.
    assert len(weeklies) == 17
    assert dt.date(2014, 7, 3) in weeklies and dt.date(2014, 7, 4) not in weeklies
    assert all(e.weekday() == 4 for e in weeklies if e != dt.date(2014, 7, 3))
    quarterlies = [e for e in expiries if e not in weeklies]
    assert quarterlies == [dt.date(2014, 12, 19), dt.date(2015, 3, 20)]
    assert chain.days_to_expiry.max() <= 365


def test_listed_contracts_stay_listed_until_expiry(small: Chain) -> None:
    key = (small.expiry * 10**8 + np.rint(small.strike * 100).astype(np.int64)) * 2 + small.is_call
    ranges = _day_ranges(small)
    for (lo, hi), (next_lo, next_hi) in zip(ranges[:-1], ranges[1:], strict=True):
        alive = small.expiry[lo:hi] > small.date[next_lo]
        assert np.isin(key[lo:hi][alive], key[next_lo:next_hi]).all()
        assert not np.isin(key[lo:hi][~alive], key[next_lo:next_hi]).any()


def test_strike_spacing_near_and_far(small: Chain) -> None:
    lo, hi = _day_ranges(small)[0]
    rows = np.arange(lo, hi)
    near_expiry = small.expiry[rows][np.argmin(small.days_to_expiry[rows])]
    calls = rows[small.is_call[rows] & (small.expiry[rows] == near_expiry)]
    strikes = small.strike[calls]
    gaps = np.diff(strikes)
    spot = small.spot[lo]
    assert (gaps > 0).all()
    assert gaps[np.abs(strikes[1:] - spot) < 20].max() == 5.0
    assert gaps.max() >= 25.0
    assert strikes.min() < spot * 0.95 and strikes.max() > spot * 1.03
    longest = small.expiry[rows].max()
    long_strikes = small.strike[rows[small.is_call[rows] & (small.expiry[rows] == longest)]]
    assert np.diff(long_strikes).min() >= 10.0
    assert np.ptp(long_strikes) > np.ptp(strikes)


def test_quotes_are_ordered_and_on_the_tick_grid(small: Chain) -> None:
    assert (small.bid >= 0).all() and (small.bid <= small.ask).all() and (small.ask > 0).all()
    for price in (small.bid, small.ask):
        assert np.allclose(np.round(price / 0.05) * 0.05, price, atol=1e-9)
    dear = small.bid >= 3.0
    for price in (small.bid[dear], small.ask[dear]):
        assert np.allclose(np.round(price / 0.1) * 0.1, price, atol=1e-9)
    assert (small.bid == 0).any()
    theo = blackscholes.price(
        small.spot, small.strike, small.years, RATE, DIVIDEND, small.iv, small.is_call
    )
    assert ((theo >= small.bid - 1e-9) & (theo <= small.ask + 1e-9)).all()
    assert (small.bid[theo < 0.05] == 0).all()


def test_spreads_wider_in_relative_terms_for_cheap_options(small: Chain) -> None:
    mid = 0.5 * (small.bid + small.ask)
    relative = (small.ask - small.bid) / mid
    cheap = (mid > 0.3) & (mid < 2.0)
    dear = (mid > 20.0) & (mid < 100.0)
    assert np.median(relative[cheap]) > 3 * np.median(relative[dear])


def test_greeks_match_the_quoted_vol(small: Chain) -> None:
    greeks = blackscholes.greeks(
        small.spot, small.strike, small.years, RATE, DIVIDEND, small.iv, small.is_call
    )
    for name in ("delta", "gamma", "vega", "theta"):
        np.testing.assert_allclose(small.table.column(name).to_numpy(), getattr(greeks, name))
    assert ((small.delta[small.is_call] > 0) & (small.delta[small.is_call] < 1)).all()
    assert ((small.delta[~small.is_call] > -1) & (small.delta[~small.is_call] < 0)).all()
    assert (small.iv > 0.03).all() and (small.iv < 3.0).all()


def test_put_call_parity_within_the_spread(small: Chain) -> None:
    calls, puts = np.flatnonzero(small.is_call), np.flatnonzero(~small.is_call)
    call_key = np.stack([small.date[calls], small.expiry[calls], small.strike[calls]], 1)
    put_key = np.stack([small.date[puts], small.expiry[puts], small.strike[puts]], 1)
    np.testing.assert_array_equal(call_key, put_key)  # every strike lists both rights
    mid = 0.5 * (small.bid + small.ask)
    half = 0.5 * (small.ask - small.bid)
    t = small.years[calls]
    forward_value = small.spot[calls] * np.exp(-DIVIDEND * t) - small.strike[calls] * np.exp(
        -RATE * t
    )
    error = np.abs(mid[calls] - mid[puts] - forward_value)
    assert (error <= half[calls] + half[puts] + 1e-9).all()


def test_no_static_arbitrage_across_strikes(small: Chain) -> None:
    calls = np.flatnonzero(small.is_call)
    theo = blackscholes.price(
        small.spot[calls],
        small.strike[calls],
        small.years[calls],
        RATE,
        DIVIDEND,
        small.iv[calls],
        True,
    )
    same = (small.date[calls][1:] == small.date[calls][:-1]) & (
        small.expiry[calls][1:] == small.expiry[calls][:-1]
    )
    slope = np.diff(theo) / np.diff(small.strike[calls])
    assert (slope[same] <= 1e-12).all()
    both = same[1:] & same[:-1]
    assert (np.diff(slope)[both] >= -1e-8).all()


def test_variance_premium_skew_and_term_structure(small: Chain) -> None:
    ranges = _day_ranges(small)
    spot = small.spot[[lo for lo, _ in ranges]]
    returns = np.diff(np.log(spot))
    atm, realised, put25, call25, slope, inverted, short_skew, long_skew = ([] for _ in range(8))
    for i, (lo, hi) in enumerate(ranges):
        atm.append(_atm_iv(small, lo, hi, 30))
        if i + 21 < len(ranges):
            realised.append(np.sqrt(252.0 * np.mean(returns[i : i + 21] ** 2)))
        dte = small.days_to_expiry[lo:hi]
        month = dte[np.argmin(np.abs(dte - 30))]
        rows = np.arange(lo, hi)[dte == month]
        puts, calls = rows[~small.is_call[rows]], rows[small.is_call[rows]]
        put25.append(small.iv[puts[np.argmin(np.abs(small.delta[puts] + 0.25))]])
        call25.append(small.iv[calls[np.argmin(np.abs(small.delta[calls] - 0.25))]])
        front, back = _atm_iv(small, lo, hi, 0), _atm_iv(small, lo, hi, 400)
        slope.append(back - front)
        inverted.append(front > back)
        for days, out in ((20, short_skew), (400, long_skew)):
            target = dte[np.argmin(np.abs(dte - days))]
            p = np.arange(lo, hi)[(dte == target) & ~small.is_call[lo:hi]]
            k, v = np.log(small.strike[p] / spot[i]), small.iv[p]
            out.append((np.interp(-0.03, k, v) - np.interp(0.0, k, v)) / 0.03)
    atm_arr = np.asarray(atm)
    # Implied above subsequently realised on average: the variance risk premium.
    assert atm_arr[: len(realised)].mean() / np.mean(realised) > 1.05
    assert np.mean(np.asarray(put25) > np.asarray(call25)) > 0.9
    assert np.mean(np.asarray(short_skew) > np.asarray(long_skew)) > 0.9
    calm = atm_arr < np.median(atm_arr)
    stressed = atm_arr > np.quantile(atm_arr, 0.9)
    assert np.mean(np.asarray(slope)[calm] > 0) > 0.9
    assert np.mean(np.asarray(inverted)[stressed]) > 0.8


def test_volume_and_open_interest_concentrate_near_the_money_and_near_expiries(
    small: Chain,
) -> None:
    volume = small.table.column("volume").to_numpy()
    open_interest = small.table.column("open_interest").to_numpy()
    assert volume.dtype == np.int64 and (volume >= 0).all() and (open_interest >= 0).all()
    near = np.abs(np.abs(small.delta) - 0.5) < 0.1
    far = np.abs(small.delta) < 0.05
    assert volume[near].mean() > 3 * volume[far].mean()
    assert open_interest[near].mean() > open_interest[far].mean()
    assert volume[small.days_to_expiry <= 30].mean() > volume[small.days_to_expiry > 90].mean()


def test_same_seed_same_bytes_other_seed_differs(small: Chain) -> None:
    again = synthesize_chain("small", seed=7)
    assert _parquet_bytes(again) == _parquet_bytes(small.table)
    other = synthesize_chain("small", seed=8)
    assert not np.array_equal(other.column("spot").to_numpy()[-1:], small.spot[-1:])


def test_batches_concatenate_to_the_chain() -> None:
    profile = dataclasses.replace(
        PROFILES["small"], name="year-end", n_days=30, start=dt.date(2014, 12, 1)
    )
    batches = list(synthesize_batches(profile, seed=3))
    assert len(batches) == 2
    years = [pc.unique(pc.year(b.column("date"))).to_pylist() for b in batches]
    assert years == [[2014], [2015]]
    assert pa.concat_tables(batches).combine_chunks().equals(synthesize_chain(profile, seed=3))


def test_jumps_and_drift_over_ten_years() -> None:
    # Same market model, seed and length as "synthetic", so the same index path; thin listing.
    thin = dataclasses.replace(
        PROFILES["synthetic"],
        name="thin",
        weeklies=False,
        weekly_horizon_days=36,
        quarterly_horizon_days=0,
        strike_range_sd=0.1,
    )
    growth = []
    for seed in (7, 11, 12, 13, 14):
        table = synthesize_chain(thin, seed=seed)
        dates = table.column("date").to_numpy()
        first = np.flatnonzero(np.r_[True, dates[1:] != dates[:-1]])
        spot = table.column("spot").to_numpy()[first]
        assert spot.size == PROFILES["synthetic"].n_days
        returns = np.diff(np.log(spot))
        if seed == 7:
            assert np.abs(returns).max() > 0.04
        growth.append(np.log(spot[-1] / spot[0]))
    assert np.mean(growth) > 0


@pytest.mark.parametrize(
    ("profile", "seed", "message"),
    [
        ("nope", 7, "unknown synthetic chain profile"),
        ("small", -1, "seed"),
        (SynthProfile(name="empty", n_days=0, start=dt.date(2014, 1, 2)), 7, "at least one day"),
        (
            SynthProfile(
                name="gaps",
                n_days=10,
                start=dt.date(2014, 1, 2),
                weekly_horizon_days=35,
                quarterly_horizon_days=98,
            ),
            7,
            "without any expiry",
        ),
    ],
)
def test_bad_arguments_raise_data_error(
    profile: str | SynthProfile, seed: int, message: str
) -> None:
    with pytest.raises(DataError, match=message):
        synthesize_batches(profile, seed)
