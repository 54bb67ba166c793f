"""Black–Scholes–Merton price, greeks and implied vol: QuantLib and no-arbitrage identities."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import pytest
import QuantLib as ql

from gridbt.data import blackscholes as bs

N_QUANTLIB = 1500
N_GRID = 20_000


class Cases(NamedTuple):
    spot: np.ndarray
    strike: np.ndarray
    days: np.ndarray
    rate: np.ndarray
    dividend: np.ndarray
    vol: np.ndarray
    is_call: np.ndarray

    @property
    def years(self) -> np.ndarray:
        return self.days / 365.0


def _draw(n: int, seed: int) -> Cases:
    rng = np.random.default_rng(seed)
    spot = np.exp(rng.uniform(0.0, np.log(5000.0), n))
    return Cases(
        spot=spot,
        strike=spot * np.exp(rng.uniform(-0.8, 0.8, n)),
        days=rng.integers(1, 731, n).astype(np.float64),
        rate=rng.uniform(-0.01, 0.08, n),
        dividend=rng.uniform(0.0, 0.05, n),
        vol=rng.uniform(0.05, 1.5, n),
        is_call=rng.random(n) < 0.5,
    )


@pytest.fixture(scope="module")
def grid() -> Cases:
    return _draw(N_GRID, seed=20240607)


@pytest.fixture(scope="module")
def evaluation_date() -> Iterator[object]:
    settings = ql.Settings.instance()
    before = settings.evaluationDate
    today = ql.Date(15, ql.January, 2024)
    settings.evaluationDate = today
    yield today
    settings.evaluationDate = before


def _quantlib(today: object, spot: float, strike: float, days: int, rate: float,
              dividend: float, vol: float, is_call: bool) -> tuple[float, ...]:
    day_count = ql.Actual365Fixed()
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(spot)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, dividend, day_count)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, rate, day_count)),
        ql.BlackVolTermStructureHandle(
            ql.BlackConstantVol(today, ql.NullCalendar(), vol, day_count)),
    )
    option = ql.VanillaOption(
        ql.PlainVanillaPayoff(ql.Option.Call if is_call else ql.Option.Put, strike),
        ql.EuropeanExercise(today + days),
    )
    option.setPricingEngine(ql.AnalyticEuropeanEngine(process))
    # QuantLib's vega is per 1.0 of vol; thetaPerDay() is theta() / 365 (checked below)
    return (option.NPV(), option.delta(), option.gamma(), option.vega() / 100.0,
            option.thetaPerDay(), option.theta() / 365.0)


def test_price_and_greeks_match_quantlib(evaluation_date: object) -> None:
    c = _draw(N_QUANTLIB, seed=7)
    # edge corners: 1 day and 730 days, ATM, extreme vols and rates
    corners = Cases(
        spot=np.array([100.0, 100.0, 100.0, 100.0, 4000.0, 1.5]),
        strike=np.array([100.0, 100.0, 80.0, 130.0, 4000.0, 1.2]),
        days=np.array([1.0, 730.0, 1.0, 730.0, 30.0, 365.0]),
        rate=np.array([-0.01, 0.08, 0.0, -0.01, 0.05, 0.08]),
        dividend=np.array([0.0, 0.05, 0.05, 0.0, 0.015, 0.0]),
        vol=np.array([0.05, 1.5, 1.5, 0.05, 0.2, 0.7]),
        is_call=np.array([True, False, False, True, True, False]),
    )
    c = Cases(*(np.concatenate([a, b]) for a, b in zip(c, corners, strict=True)))
    reference = np.array([
        _quantlib(evaluation_date, *map(float, row[:2]), int(row[2]), *map(float, row[3:6]),
                  bool(row[6]))
        for row in zip(*c, strict=True)
    ])
    np.testing.assert_array_equal(reference[:, 4], reference[:, 5])  # thetaPerDay is per 365

    ours = np.column_stack([
        bs.price(c.spot, c.strike, c.years, c.rate, c.dividend, c.vol, c.is_call),
        *bs.greeks(c.spot, c.strike, c.years, c.rate, c.dividend, c.vol, c.is_call),
    ])
    # 1e-8 relative, with an absolute floor far below a cent for the values that underflow in
    # deep out-of-the-money tails (QuantLib's normal CDF is less accurate there than erfc)
    scales = {"price": c.spot, "delta": 1.0, "gamma": 1.0 / c.spot, "vega": c.spot,
              "theta": c.spot / 365.0}
    for j, (name, scale) in enumerate(scales.items()):
        error = np.abs(ours[:, j] - reference[:, j])
        allowed = 1e-8 * np.abs(reference[:, j]) + 1e-13 * scale
        worst = int(np.argmax(error / allowed))
        assert np.all(error <= allowed), (
            f"{name}: ours {ours[worst, j]!r} vs QuantLib {reference[worst, j]!r} at "
            f"{[float(a[worst]) for a in c]}"
        )


def test_put_call_parity(grid: Cases) -> None:
    c = grid
    call = bs.price(c.spot, c.strike, c.years, c.rate, c.dividend, c.vol, True)
    put = bs.price(c.spot, c.strike, c.years, c.rate, c.dividend, c.vol, False)
    fwd_spot = c.spot * np.exp(-c.dividend * c.years)
    pv_strike = c.strike * np.exp(-c.rate * c.years)
    assert np.all(np.abs((call - put) - (fwd_spot - pv_strike)) <= 1e-10 * (fwd_spot + pv_strike))

    gc = bs.greeks(c.spot, c.strike, c.years, c.rate, c.dividend, c.vol, True)
    gp = bs.greeks(c.spot, c.strike, c.years, c.rate, c.dividend, c.vol, False)
    np.testing.assert_allclose(gc.delta - gp.delta, np.exp(-c.dividend * c.years),
                               rtol=0.0, atol=1e-14)
    np.testing.assert_allclose(gc.gamma, gp.gamma, rtol=1e-14, atol=0.0)
    np.testing.assert_allclose(gc.vega, gp.vega, rtol=1e-14, atol=0.0)
    # d/dt of the parity identity, per calendar day
    theta_gap = (c.dividend * fwd_spot - c.rate * pv_strike) / 365.0
    assert np.all(np.abs((gc.theta - gp.theta) - theta_gap)
                  <= 1e-12 * (fwd_spot + pv_strike) / 365.0)


def test_theta_is_the_value_lost_over_one_calendar_day() -> None:
    spot, strike, days, rate, dividend, vol = 100.0, 105.0, 90.0, 0.03, 0.01, 0.25
    for is_call in (True, False):
        today = bs.price(spot, strike, days / 365.0, rate, dividend, vol, is_call)
        tomorrow = bs.price(spot, strike, (days - 1.0) / 365.0, rate, dividend, vol, is_call)
        theta = bs.greeks(spot, strike, days / 365.0, rate, dividend, vol, is_call).theta
        assert theta < 0.0
        assert float(theta) == pytest.approx(float(tomorrow - today), rel=1e-2)


def test_vega_and_delta_units_by_finite_difference() -> None:
    spot, strike, years, rate, dividend, vol = 250.0, 240.0, 45 / 365, 0.04, 0.02, 0.3
    g = bs.greeks(spot, strike, years, rate, dividend, vol, True)
    up = bs.price(spot, strike, years, rate, dividend, vol + 0.005, True)
    down = bs.price(spot, strike, years, rate, dividend, vol - 0.005, True)
    assert float(g.vega) == pytest.approx(float(up - down), rel=1e-4)  # per vol point
    h = 0.01
    ups, mid, downs = (bs.price(s, strike, years, rate, dividend, vol, True)
                       for s in (spot + h, spot, spot - h))
    assert float(g.delta) == pytest.approx(float(ups - downs) / (2 * h), rel=1e-6)
    assert float(g.gamma) == pytest.approx(float(ups - 2 * mid + downs) / h**2, rel=1e-4)


def test_implied_vol_round_trip(grid: Cases) -> None:
    c = grid
    premium = bs.price(c.spot, c.strike, c.years, c.rate, c.dividend, c.vol, c.is_call)
    vega = bs.greeks(c.spot, c.strike, c.years, c.rate, c.dividend, c.vol, c.is_call).vega
    iv = bs.implied_vol(premium, c.spot, c.strike, c.years, c.rate, c.dividend, c.is_call)
    usable = vega > 1e-4
    assert usable.mean() > 0.8
    error = np.abs(iv - c.vol)
    worst = int(np.nanargmax(np.where(usable, error, -1.0)))
    assert np.all(error[usable] <= 1e-7), (
        f"iv {iv[worst]!r} for vol {c.vol[worst]!r} at {[float(a[worst]) for a in c]}, "
        f"premium {premium[worst]!r}, vega {vega[worst]!r}"
    )
    # where vega is negligible the vol is ill-determined, but a solution still exists
    assert np.all(np.isfinite(iv))


def test_implied_vol_is_nan_outside_no_arbitrage_bounds(grid: Cases) -> None:
    c = grid
    years = c.years
    fwd_spot = c.spot * np.exp(-c.dividend * years)
    pv_strike = c.strike * np.exp(-c.rate * years)
    lower = np.where(c.is_call, np.maximum(fwd_spot - pv_strike, 0.0),
                     np.maximum(pv_strike - fwd_spot, 0.0))
    upper = np.where(c.is_call, fwd_spot, pv_strike)
    gap = 1e-3 * c.spot
    for bad in (lower - gap, upper + gap, -np.abs(lower) - 1.0):
        iv = bs.implied_vol(bad, c.spot, c.strike, years, c.rate, c.dividend, c.is_call)
        assert np.all(np.isnan(iv))
    nan_cases = [
        (np.nan, 100.0, 100.0, 0.1),  # missing price
        (5.0, 0.0, 100.0, 0.1),  # no spot
        (5.0, 100.0, 0.0, 0.1),  # no strike
        (5.0, np.nan, 100.0, 0.1),
    ]
    for premium, spot, strike, years_ in nan_cases:
        assert np.isnan(bs.implied_vol(premium, spot, strike, years_, 0.01, 0.0, True))


@pytest.mark.parametrize("years", [0.0, -1.0 / 365])
def test_at_and_after_expiry_price_is_intrinsic_and_iv_undefined(years: float) -> None:
    spot = np.array([90.0, 100.0, 110.0])
    strike = 100.0
    call = bs.price(spot, strike, years, 0.05, 0.02, 0.3, True)
    put = bs.price(spot, strike, years, 0.05, 0.02, 0.3, False)
    np.testing.assert_array_equal(call, [0.0, 0.0, 10.0])
    np.testing.assert_array_equal(put, [10.0, 0.0, 0.0])
    for is_call, premium in ((True, call), (False, put)):
        iv = bs.implied_vol(premium, spot, strike, years, 0.05, 0.02, is_call)
        assert np.all(np.isnan(iv))
        g = bs.greeks(spot, strike, years, 0.05, 0.02, 0.3, is_call)
        itm = np.array([False, False, True]) if is_call else np.array([True, False, False])
        np.testing.assert_array_equal(g.delta, np.where(itm, 1.0 if is_call else -1.0, 0.0))
        for value in (g.gamma, g.vega, g.theta):
            np.testing.assert_array_equal(value, 0.0)


def test_zero_vol_prices_the_discounted_forward_intrinsic() -> None:
    years, rate, dividend = 0.5, 0.04, 0.01
    spot, strike = np.array([90.0, 100.0, 110.0]), 100.0
    forward = spot * np.exp(-dividend * years) - strike * np.exp(-rate * years)
    np.testing.assert_allclose(bs.price(spot, strike, years, rate, dividend, 0.0, True),
                               np.maximum(forward, 0.0), rtol=1e-15, atol=0.0)
    np.testing.assert_allclose(bs.price(spot, strike, years, rate, dividend, 0.0, False),
                               np.maximum(-forward, 0.0), rtol=1e-15, atol=0.0)


def test_broadcasting_matches_elementwise_scalars() -> None:
    spot = np.array([[90.0], [100.0], [115.0]])  # (3, 1)
    strike = np.array([[80.0, 95.0, 100.0, 120.0]])  # (1, 4)
    years = np.array([10.0, 60.0, 200.0]).reshape(3, 1, 1) / 365.0  # (3, 1, 1)
    is_call = np.array([[True, False, True, False]])  # (1, 4)
    rate, dividend, vol = 0.03, 0.01, 0.25

    shape = (3, 3, 4)
    premium = bs.price(spot, strike, years, rate, dividend, vol, is_call)
    g = bs.greeks(spot, strike, years, rate, dividend, vol, is_call)
    iv = bs.implied_vol(premium, spot, strike, years, rate, dividend, is_call)
    assert premium.shape == iv.shape == shape
    assert all(field.shape == shape for field in g)
    for t, i, j in np.ndindex(*shape):
        args = (float(spot[i, 0]), float(strike[0, j]), float(years[t, 0, 0]), rate, dividend,
                vol, bool(is_call[0, j]))
        assert premium[t, i, j] == bs.price(*args)
        scalar = bs.greeks(*args)
        assert tuple(f[t, i, j] for f in g) == tuple(float(f) for f in scalar)
        assert iv[t, i, j] == bs.implied_vol(premium[t, i, j], *args[:-2], args[-1])
    usable = g.vega > 1e-4
    assert usable.sum() > 20
    np.testing.assert_allclose(iv[usable], vol, rtol=0.0, atol=1e-9)


def test_scalar_inputs_give_zero_dimensional_arrays() -> None:
    premium = bs.price(100.0, 100.0, 0.25, 0.0, 0.0, 0.2, True)
    assert isinstance(premium, np.ndarray) and premium.shape == ()
    # ATM forward, zero rates: C = S (2 N(sd/2) - 1), here sd = 0.1
    assert float(premium) == pytest.approx(100.0 * (2 * _norm_cdf(0.05) - 1.0), rel=1e-14)
    assert bs.greeks(100.0, 100.0, 0.25, 0.0, 0.0, 0.2, True).delta.shape == ()
    assert bs.implied_vol(premium, 100.0, 100.0, 0.25, 0.0, 0.0, True).shape == ()


def _norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))
