"""Daily features on tiny packed chains, checked against hand computations and numpy."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pyarrow as pa
import pytest

from gridbt.data import features_nb
from gridbt.data.features import FEATURE_NAMES, FeatureConfig
from gridbt.data.pack import PackedChain, pack_chain
from gridbt.data.schema import sort_chain
from gridbt.testing import ChainQuote, chain_from_quotes, flat_vol_chain

STRIKES = [90.0, 95.0, 100.0, 105.0, 110.0]


def _weekdays(start: dt.date, n: int) -> list[dt.date]:
    out, day = [], start
    while len(out) < n:
        if day.weekday() < 5:
            out.append(day)
        day += dt.timedelta(days=1)
    return out


def _concat(*tables: pa.Table) -> pa.Table:
    return sort_chain(pa.concat_tables(tables))


def _on(packed: PackedChain, name: str, day: dt.date) -> float:
    index = np.flatnonzero(packed.day_date == (day - dt.date(1970, 1, 1)).days)
    assert index.size == 1, f"{day} not in chain"
    return float(packed.feature(name)[index[0]])


def test_flat_vol_gives_flat_atm_iv_on_days_with_a_live_expiry() -> None:
    days = _weekdays(dt.date(2024, 1, 2), 14)  # Jan 2 .. Jan 19
    expiries = [dt.date(2024, 1, 5), dt.date(2024, 1, 12), dt.date(2024, 1, 19)]
    spots = np.linspace(96.0, 104.0, len(days))
    spots[3] = 100.0  # exactly on a strike
    packed = pack_chain(flat_vol_chain(days, spots, expiries, STRIKES, vol=0.2, rate=0.03))
    iv = packed.feature("atm_iv_30")
    live = np.array([any(e > d for e in expiries) for d in days])
    assert live[:-1].all() and not live[-1]  # on Jan 19 only the expiring series is left
    np.testing.assert_allclose(iv[live], 0.2, rtol=0.0, atol=1e-12)
    assert np.isnan(iv[~live]).all()
    skew = packed.feature("skew_25d")
    np.testing.assert_array_equal(skew[live], 0.0)
    assert np.isnan(skew[~live]).all()


def test_atm_iv_is_nan_when_strikes_do_not_bracket_spot() -> None:
    days = [dt.date(2024, 3, 1), dt.date(2024, 3, 4)]
    packed = pack_chain(flat_vol_chain(days, [100.0, 120.0], [dt.date(2024, 4, 19)], STRIKES))
    iv = packed.feature("atm_iv_30")
    assert iv[0] == pytest.approx(0.2, abs=1e-12)
    assert np.isnan(iv[1])


def test_atm_iv_interpolates_total_variance_across_expiries() -> None:
    anchor = dt.date(2024, 6, 3)
    near, far = anchor + dt.timedelta(days=20), anchor + dt.timedelta(days=45)
    offsets = [-11, 0, 15, 16]  # near/far DTE: 31/56, 20/45, 5/30, 4/29
    days = [anchor + dt.timedelta(days=k) for k in offsets]
    spots = [100.0] * len(days)
    chain = _concat(flat_vol_chain(days, spots, [near], STRIKES, vol=0.15),
                    flat_vol_chain(days, spots, [far], STRIKES, vol=0.30))
    packed = pack_chain(chain)
    # 20 and 45 days out: variance 0.15² * 20 = 0.45 and 0.30² * 45 = 4.05; at 30 days
    # 0.45 + (4.05 - 0.45) * 10 / 25 = 1.89, i.e. a vol of sqrt(1.89 / 30)
    assert _on(packed, "atm_iv_30", anchor) == pytest.approx(math.sqrt(1.89 / 30), rel=1e-12)
    assert _on(packed, "atm_iv_30", days[0]) == pytest.approx(0.15, rel=1e-12)  # both beyond 30
    assert _on(packed, "atm_iv_30", days[2]) == pytest.approx(0.30, rel=1e-12)  # far is at 30
    assert _on(packed, "atm_iv_30", days[3]) == pytest.approx(0.30, rel=1e-12)  # both inside 30
    # the skew expiry is the one nearest 30 days; flat in strike -> 0
    assert _on(packed, "skew_25d", anchor) == 0.0


def test_atm_iv_interpolates_in_strike_and_averages_call_and_put() -> None:
    day, expiry, spot = dt.date(2024, 6, 3), dt.date(2024, 7, 3), 102.0
    ivs = {("C", 100.0): 0.20, ("C", 105.0): 0.25, ("P", 100.0): 0.22, ("P", 105.0): 0.27}
    quotes = [ChainQuote(day, expiry, strike, right, 1.0, 1.2, spot, iv=iv)
              for (right, strike), iv in ivs.items()]
    packed = pack_chain(chain_from_quotes(quotes))
    # 102 is 2/5 of the way from 100 to 105: call 0.22, put 0.24, mean 0.23
    assert float(packed.feature("atm_iv_30")[0]) == pytest.approx(0.23, rel=1e-12)


def test_atm_iv_uses_the_right_that_is_quoted_at_spot() -> None:
    day, expiry = dt.date(2024, 6, 3), dt.date(2024, 7, 3)
    quotes = [
        ChainQuote(day, expiry, 100.0, "C", 1.0, 1.2, 101.0, iv=0.30),
        ChainQuote(day, expiry, 105.0, "C", 1.0, 1.2, 101.0, iv=0.20),
        ChainQuote(day, expiry, 100.0, "P", 1.0, 1.2, 101.0, iv=float("nan")),
        ChainQuote(day, expiry, 105.0, "P", 1.0, 1.2, 101.0, iv=0.40),
    ]
    packed = pack_chain(chain_from_quotes(quotes))
    # the put cannot be interpolated at 101 (no usable iv below), so the call alone: 0.28
    assert float(packed.feature("atm_iv_30")[0]) == pytest.approx(0.28, rel=1e-12)


def test_rolling_rank_and_percentile_by_hand() -> None:
    values = np.array([1.0, 3.0, 2.0, 5.0, 4.0, np.nan, 0.0, 0.0])
    rank, pct = features_nb.rolling_rank_nb(values, 4)
    # window of 4 days ending today; defined from 2 finite values on
    # day 1 [1, 3]: x=3; day 2 [1, 3, 2]: x=2; day 3 [1, 3, 2, 5]: x=5; day 4 [3, 2, 5, 4]: x=4
    # day 5: x missing; day 6 [5, 4, nan, 0]: x=0; day 7 [4, nan, 0, 0]: x=0
    expected_rank = [np.nan, 1.0, 0.5, 1.0, 2 / 3, np.nan, 0.0, 0.0]
    expected_pct = [np.nan, 1 / 1, 1 / 2, 3 / 3, 2 / 3, np.nan, 0 / 2, 0 / 2]
    np.testing.assert_allclose(rank, expected_rank, rtol=1e-15, atol=0.0)
    np.testing.assert_allclose(pct, expected_pct, rtol=1e-15, atol=0.0)


def test_rolling_rank_of_a_flat_window_is_the_middle() -> None:
    rank, pct = features_nb.rolling_rank_nb(np.full(5, 0.2), 4)
    np.testing.assert_array_equal(rank, [np.nan, 0.5, 0.5, 0.5, 0.5])
    np.testing.assert_array_equal(pct, [np.nan, 0.0, 0.0, 0.0, 0.0])


def test_rolling_rank_needs_half_a_window_of_finite_values() -> None:
    values = np.array([np.nan, np.nan, np.nan, 1.0, 2.0, 3.0, 4.0])
    rank, _ = features_nb.rolling_rank_nb(values, 6)
    # window 6 needs 3 finite values: first on day 5
    assert np.isnan(rank[:5]).all()
    np.testing.assert_allclose(rank[5:], [1.0, 1.0], rtol=0.0, atol=0.0)


@pytest.fixture(scope="module")
def year_chain() -> tuple[PackedChain, np.ndarray]:
    """230 days of a random-walk spot under flat 0.2 vol, one expiry beyond the last day."""
    rng = np.random.default_rng(11)
    days = _weekdays(dt.date(2023, 1, 2), 230)
    spots = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.012, len(days))))
    expiry = days[-1] + dt.timedelta(days=60)
    table = flat_vol_chain(days, spots, [expiry], [40.0, 100.0, 250.0], vol=0.2)
    return pack_chain(table), np.asarray(spots)


def test_realised_vol_matches_numpy(year_chain: tuple[PackedChain, np.ndarray]) -> None:
    packed, spots = year_chain
    np.testing.assert_array_equal(packed.day_spot, spots)
    rv = packed.feature("rv_20")
    returns = np.diff(np.log(spots))
    expected = np.full(len(spots), np.nan)
    for i in range(20, len(spots)):
        expected[i] = np.std(returns[i - 20:i], ddof=1) * np.sqrt(252.0)
    assert np.isnan(rv[:20]).all()
    np.testing.assert_allclose(rv[20:], expected[20:], rtol=1e-12, atol=0.0)
    assert 0.15 < np.nanmean(rv) < 0.25  # 1.2% daily moves


@pytest.mark.parametrize("window", [20, 50, 200])
def test_sma_matches_numpy_convolution(
    year_chain: tuple[PackedChain, np.ndarray], window: int
) -> None:
    packed, spots = year_chain
    sma = packed.feature(f"sma_{window}")
    assert np.isnan(sma[: window - 1]).all()
    np.testing.assert_allclose(sma[window - 1:],
                               np.convolve(spots, np.ones(window) / window, mode="valid"),
                               rtol=1e-12, atol=0.0)


def test_derived_features(year_chain: tuple[PackedChain, np.ndarray]) -> None:
    packed, spots = year_chain
    assert packed.feature_names == FEATURE_NAMES
    assert packed.features.shape == (len(FEATURE_NAMES), len(spots))
    iv = packed.feature("atm_iv_30")
    np.testing.assert_allclose(iv, 0.2, rtol=0.0, atol=1e-12)
    np.testing.assert_array_equal(packed.feature("vrp"), iv - packed.feature("rv_20"))
    vrp = packed.feature("vrp")
    assert np.isnan(vrp[:20]).all() and np.isfinite(vrp[20:]).all()
    for window in (50, 200):
        trend = packed.feature(f"trend_{window}")
        sma = np.convolve(spots, np.ones(window) / window, mode="valid")
        assert np.isnan(trend[: window - 1]).all()
        np.testing.assert_allclose(trend[window - 1:], spots[window - 1:] / sma - 1.0,
                                   rtol=1e-10, atol=1e-13)
    # constant iv: rank is mid-range and nothing lies strictly below, from 126 values on
    rank, pct = packed.feature("iv_rank"), packed.feature("iv_percentile")
    assert np.isnan(rank[:125]).all() and np.isnan(pct[:125]).all()
    np.testing.assert_array_equal(rank[125:], 0.5)
    np.testing.assert_array_equal(pct[125:], 0.0)


def test_iv_rank_follows_the_configured_window() -> None:
    days = _weekdays(dt.date(2024, 2, 1), 9)
    expiry = dt.date(2024, 6, 21)
    vols = [0.20, 0.25, 0.15, 0.30, 0.22, 0.18, 0.35, 0.10, 0.26]
    table = _concat(*(flat_vol_chain([d], [100.0], [expiry], STRIKES, vol=v)
                      for d, v in zip(days, vols, strict=True)))
    packed = pack_chain(table, feature_config=FeatureConfig(rank_window=4))
    iv = packed.feature("atm_iv_30")
    np.testing.assert_allclose(iv, vols, rtol=0.0, atol=1e-12)
    rank, pct = packed.feature("iv_rank"), packed.feature("iv_percentile")
    for i in range(len(vols)):
        window = vols[max(0, i - 3): i + 1]
        if len(window) < 2:
            assert np.isnan(rank[i]) and np.isnan(pct[i])
            continue
        lo, hi, x = min(window), max(window), vols[i]
        assert rank[i] == pytest.approx((x - lo) / (hi - lo), abs=1e-10)
        assert pct[i] == pytest.approx(sum(v < x for v in window) / (len(window) - 1), abs=1e-15)


# Two-expiry example for `vix_30`, quoted on 2024-01-02: (call bid, call ask, put bid, put ask).
VIX_DAY = dt.date(2024, 1, 2)
VIX_NEAR = {  # 23 days: forward at K* = 100 (|C − P| = 0.2), K0 = 100
    65: (35.0, 35.4, 0.05, 0.10),  # past the second zero bid in a row: not used
    70: (30.0, 30.4, 0.0, 0.05),
    75: (25.0, 25.4, 0.0, 0.05),
    80: (20.0, 20.4, 0.05, 0.10),
    85: (15.0, 15.4, 0.0, 0.05),  # a single zero bid: skipped
    90: (10.2, 10.6, 0.10, 0.20),
    95: (5.6, 6.0, 0.5, 0.7),
    100: (2.0, 2.2, 1.8, 2.0),
    105: (0.4, 0.6, 5.2, 5.6),
    110: (0.05, 0.15, 10.0, 10.4),
    115: (0.0, 0.05, 15.0, 15.4),
    120: (0.0, 0.05, 20.0, 20.4),
    125: (0.05, 0.10, 25.0, 25.4),  # past the second zero bid: not used
}
VIX_NEXT = {  # 37 days: K* = 105 (C − P = −0.3), forward below 105, so K0 = 100
    75: (30.2, 30.6, 0.0, 0.05),
    80: (25.3, 25.7, 0.0, 0.05),
    85: (20.4, 20.8, 0.05, 0.10),
    90: (15.6, 16.0, 0.20, 0.30),
    95: (10.4, 10.8, 0.6, 0.8),
    100: (5.8, 6.2, 1.5, 1.7),
    105: (3.0, 3.2, 3.3, 3.5),
    110: (1.2, 1.4, 6.4, 6.8),
    115: (0.3, 0.4, 10.5, 10.9),
    120: (0.0, 0.05, 15.2, 15.6),
    125: (0.05, 0.10, 20.1, 20.5),
    130: (0.0, 0.05, 25.0, 25.4),
    135: (0.0, 0.05, 30.0, 30.4),
}


def _vix_quotes(expiry: dt.date, book: dict[int, tuple[float, float, float, float]]) -> list:
    out = []
    for strike, (cb, ca, pb, pa_) in book.items():
        for right, bid, ask in (("C", cb, ca), ("P", pb, pa_)):
            out.append(
                ChainQuote(date=VIX_DAY, expiry=expiry, strike=float(strike), right=right,
                           bid=bid, ask=ask, spot=100.0)
            )
    return out


def test_vix_30_matches_a_hand_computed_two_expiry_example() -> None:
    near, nxt = VIX_DAY + dt.timedelta(days=23), VIX_DAY + dt.timedelta(days=37)
    quotes = _vix_quotes(near, VIX_NEAR) + _vix_quotes(nxt, VIX_NEXT)
    # a 4-day expiry (under the 7-day minimum) and a 65-day one (beyond the next term) that
    # the method must not use: they carry the other terms' quotes
    quotes += _vix_quotes(VIX_DAY + dt.timedelta(days=4), VIX_NEXT)
    quotes += _vix_quotes(VIX_DAY + dt.timedelta(days=65), VIX_NEAR)
    packed = pack_chain(chain_from_quotes(quotes), feature_config=FeatureConfig(vix_rate=0.02))

    rate, t1, t2 = 0.02, 23 / 365, 37 / 365
    # near: F = 100 + e^{RT}(2.1 − 1.9); strikes used 80, 90, 95 (puts), 100 (K0: the mean of
    # 2.1 and 1.9), 105, 110 (calls); ΔK 10, 7.5, 5, 5, 5, 5
    f1 = 100.0 + math.exp(rate * t1) * 0.2
    strip1 = (10 / 80**2 * 0.075 + 7.5 / 90**2 * 0.15 + 5 / 95**2 * 0.6 + 5 / 100**2 * 2.0
              + 5 / 105**2 * 0.5 + 5 / 110**2 * 0.10)
    var1 = 2 / t1 * math.exp(rate * t1) * strip1 - (f1 / 100 - 1) ** 2 / t1
    # next: F = 105 + e^{RT}(3.1 − 3.4) < 105, K0 = 100 (mean of 6.0 and 1.6); strikes 85, 90, 95
    # (puts; 80 and 75 are two zero bids), 100, 105, 110, 115, 125 (calls; 120 a single zero
    # bid, 130 and 135 two); ΔK 5, 5, 5, 5, 5, 5, 7.5, 10
    f2 = 105.0 - math.exp(rate * t2) * 0.3
    strip2 = (5 / 85**2 * 0.075 + 5 / 90**2 * 0.25 + 5 / 95**2 * 0.7 + 5 / 100**2 * 3.8
              + 5 / 105**2 * 3.1 + 5 / 110**2 * 1.3 + 7.5 / 115**2 * 0.35 + 10 / 125**2 * 0.075)
    var2 = 2 / t2 * math.exp(rate * t2) * strip2 - (f2 / 100 - 1) ** 2 / t2
    weight = (37 - 30) / (37 - 23)
    expected = math.sqrt((t1 * var1 * weight + t2 * var2 * (1 - weight)) * 365 / 30)

    assert packed.feature("vix_30")[0] == pytest.approx(expected, rel=1e-12)
    assert 0.05 < expected < 0.5
    # one term alone gives its own variance; a day without both rights gives NaN
    alone = pack_chain(chain_from_quotes(_vix_quotes(nxt, VIX_NEXT)),
                       feature_config=FeatureConfig(vix_rate=0.02))
    assert alone.feature("vix_30")[0] == pytest.approx(math.sqrt(var2), rel=1e-12)
    calls = [q for q in _vix_quotes(nxt, VIX_NEXT) if q.right == "C"]
    assert math.isnan(pack_chain(chain_from_quotes(calls)).feature("vix_30")[0])


def test_vix_30_of_a_flat_smile_is_its_vol() -> None:
    from gridbt.data import blackscholes

    expiries = [VIX_DAY + dt.timedelta(days=d) for d in (21, 42)]
    strikes = np.arange(40.0, 200.0, 1.0)
    quotes = []
    for expiry in expiries:
        years = (expiry - VIX_DAY).days / 365
        for right in ("C", "P"):
            value = blackscholes.price(100.0, strikes, years, 0.02, 0.0, 0.2, right == "C")
            for strike, v in zip(strikes, value, strict=True):
                quotes.append(ChainQuote(date=VIX_DAY, expiry=expiry, strike=float(strike),
                                         right=right, bid=float(v), ask=float(v), spot=100.0))
    packed = pack_chain(chain_from_quotes(quotes))
    assert packed.feature("vix_30")[0] == pytest.approx(0.2, abs=2e-3)
