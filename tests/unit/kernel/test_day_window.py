"""The day window (docs/semantics.md, Day window): hand-computed windowed backtests on tiny
chains, on every engine; a whole-chain window equals no window bit for bit; the z-score signal
does not depend on the window; batch KPIs of windowed rows are the KPIs of the sliced run."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any

import numpy as np
import pytest

from gridbt.data.pack import PackedChain, pack_chain
from gridbt.kernel.contract import N_SCALARS, P_LEG0, C, D, P, leg_dt, trade_dt
from gridbt.kernel.dispatch import kpis_of, run_batch, run_params
from gridbt.kernel.enums import ExitReason, SkipReason
from gridbt.kernel.kpi_reference import compute_kpis_reference
from gridbt.kernel.metrics import KPI_INDEX, METRICS
from gridbt.kernel.result import BacktestResult, window_bounds
from gridbt.strategy.backtest import Engine, run_backtest
from gridbt.strategy.encode import encode_spec
from gridbt.strategy.spec import StrategySpec
from gridbt.testing import ENGINES, ChainQuote, chain_from_quotes, flat_vol_chain

CAPITAL = 100_000.0
M = 100.0
MON = dt.date(2024, 1, 1)  # a Monday
EXP = dt.date(2024, 3, 15)  # after every day of the tiny chains
N = 10  # days of the tiny chains


def business_days(n: int, start: dt.date = MON) -> list[dt.date]:
    days: list[dt.date] = []
    day = start
    while len(days) < n:
        if day.weekday() < 5:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def mid(d: int) -> float:
    """The one put's mid on day d: it rises by 0.1 a day, so a short put loses 10 a day."""
    return 1.1 + 0.1 * d


def put_chain(**features: list[float]) -> PackedChain:
    """Spot 100 every day; one 100 put quoted mid(d) -/+ 0.1 with delta -0.3 on every day."""
    quotes = [
        ChainQuote(date=day, expiry=EXP, strike=100.0, right="P", bid=mid(d) - 0.1,
                   ask=mid(d) + 0.1, spot=100.0, delta=-0.3, volume=100, open_interest=1000)
        for d, day in enumerate(business_days(N))
    ]
    packed = pack_chain(chain_from_quotes(quotes))
    assert packed.n_days == N
    if features:
        packed = dataclasses.replace(
            packed,
            features=np.array(list(features.values()), dtype=np.float64),
            feature_names=tuple(features),
        )
    return packed


def short_put(**sections: Any) -> StrategySpec:
    payload = {
        "capital": CAPITAL,
        "multiplier": M,
        "structure": {
            "dte": {"target": 60, "min": 1, "max": 90},
            "legs": [{"right": "P", "side": "short",
                      "select": {"by": "delta", "target": 0.3, "tolerance": 0.1}}],
        },
        "execution": {"slippage": 0.0, "commission_per_contract": 0.0},
        **sections,
    }
    return StrategySpec.model_validate(payload)


def spans(result: BacktestResult) -> list[tuple[int, int, int]]:
    t = result.trades
    return list(zip(t["entry_day"].tolist(), t["exit_day"].tolist(), t["exit_reason"].tolist(),
                    strict=True))


def approx(x: float | list[float]) -> Any:
    return pytest.approx(np.asarray(x) if isinstance(x, list) else x, rel=1e-12, abs=1e-9)


def assert_identical(a: BacktestResult, b: BacktestResult) -> None:
    """Every output equal bit for bit (NaN where NaN)."""
    np.testing.assert_array_equal(a.equity, b.equity, strict=True)
    np.testing.assert_array_equal(a.in_market, b.in_market, strict=True)
    np.testing.assert_array_equal(a.daily, b.daily, strict=True)
    np.testing.assert_array_equal(a.skips, b.skips, strict=True)
    assert (a.missing_quote_days, a.stale_fills) == (b.missing_quote_days, b.stale_fills)
    assert len(a.trades) == len(b.trades)
    for records, other, dtype in ((a.trades, b.trades, trade_dt), (a.legs, b.legs, leg_dt)):
        for name in dtype.names or ():
            np.testing.assert_array_equal(records[name], other[name], err_msg=name, strict=True)


# -- clamping ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "bounds"),
    [
        (None, (0, N)),
        ((0, N), (0, N)),
        ((-5, N + 5), (0, N)),
        ((0.0, math.nan), (0, N)),
        ((math.nan, 4.0), (0, 4)),
        ((3, 7), (3, 7)),
        ((7, 3), (7, 7)),
        ((N + 3, N + 9), (N, N)),
        ((2, -1), (2, 2)),
    ],
)
def test_window_bounds_clamp(window: tuple[float, float] | None, bounds: tuple[int, int]) -> None:
    assert window_bounds(window, N) == bounds
    if window is not None:
        # the kernel's clamp is the same rule: it reports the window it ran
        params = encode_spec(short_put(), put_chain())
        params[P.window_first], params[P.window_end] = window
        r = run_params(put_chain(), params)
        assert r.window == bounds
        assert (r.equity[: bounds[0]] == CAPITAL).all()


def test_encode_writes_the_whole_chain() -> None:
    params = encode_spec(short_put(), put_chain())
    assert params[P.window_first] == 0.0 and math.isnan(params[P.window_end])
    assert N_SCALARS == 75 and P_LEG0 == N_SCALARS


# -- a whole-chain window is no window -----------------------------------------------------


def market_chain(n_days: int = 60) -> PackedChain:
    days = business_days(n_days)
    rng = np.random.default_rng(7)
    spots = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.015, n_days)))
    expiries = [dt.date(2024, 1, 19), dt.date(2024, 2, 16), dt.date(2024, 3, 15),
                dt.date(2024, 4, 19), dt.date(2024, 5, 17)]
    packed = pack_chain(flat_vol_chain(days, spots.tolist(), expiries,
                                       np.arange(70.0, 131.0, 2.5).tolist()))
    noise = rng.normal(0.0, 1.0, packed.n_days).cumsum()
    return dataclasses.replace(packed, features=np.vstack([packed.features, noise]),
                               feature_names=packed.feature_names + ("noise",))


def market_spec(kind: str) -> StrategySpec:
    """A short put with exits, and variants with a z-score signal or the risk layer on."""
    sections: dict[str, Any] = {
        "exit": {"profit_target": 0.5, "stop_loss": 1.5, "dte": 7},
        "entry": {"every_n_days": 2},
        "reentry": {"same_day": True},
    }
    if kind == "zscore":
        sections["entry"]["signal"] = {"kind": "zscore", "feature": "noise", "window": 5,
                                       "entry": 0.5, "exit": 0.0}
    if kind == "risk":
        sections.update(
            sizing={"risk_budget": 0.05, "max_contracts": 10},
            risk={"margin": {"model": "regt"},
                  "account": {"liquidation": "target", "cash_rate": 0.04}},
            hedge={"enabled": True, "half_width": 10.0, "at_entry": True, "slippage_bps": 1.0},
        )
    return short_put(**sections)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kind", ["plain", "zscore", "risk"])
def test_whole_chain_window_is_bit_identical(engine: Engine, kind: str) -> None:
    packed, spec = market_chain(), market_spec(kind)
    plain = run_backtest(packed, spec, engine)
    assert len(plain.trades) >= 3
    for window in [(0, packed.n_days), (-4, packed.n_days + 10)]:
        assert_identical(run_backtest(packed, spec, engine, window=window), plain)
    # the batch path: a whole-chain row gives the KPIs of the row without a window, bit for bit
    row = encode_spec(spec, packed)
    full = row.copy()
    full[P.window_first], full[P.window_end] = 0.0, float(packed.n_days)
    kpis, skips, _, curves, *_ = run_batch(packed, np.vstack([row, full]), np.ones(2, bool))
    np.testing.assert_array_equal(kpis[0], kpis[1], strict=True)
    np.testing.assert_array_equal(curves[0], curves[1], strict=True)
    np.testing.assert_array_equal(curves[0], run_backtest(packed, spec).equity, strict=True)
    np.testing.assert_array_equal(skips[0], skips[1], strict=True)


# -- a window equals its own expectations --------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_window_closes_end_of_data_on_its_last_day(engine: Engine) -> None:
    packed, spec = put_chain(), short_put()
    r = run_backtest(packed, spec, engine, window=(3, 8))
    # enter on 3 at mid(3) = 1.4, held through 7 = the window's end of data, out at mid(7)
    assert spans(r) == [(3, 7, ExitReason.END_OF_DATA)]
    t = r.trades[0]
    assert t["entry_cash"] == approx(mid(3) * M)
    assert t["exit_cash"] == approx(-mid(7) * M)
    assert t["pnl"] == approx((mid(3) - mid(7)) * M)
    assert t["days_held"] == 6  # Thu 4 Jan -> Wed 10 Jan
    assert r.legs[0]["exit_fill"] == approx(mid(7))
    assert r.equity == approx([CAPITAL] * 4 + [CAPITAL - 10.0 * k for k in (1, 2, 3, 4)]
                              + [CAPITAL - 40.0] * 2)
    assert r.in_market.tolist() == [False] * 3 + [True] * 4 + [False] * 3
    assert r.window == (3, 8)
    outside = np.r_[0:3, 8:N]
    assert not r.daily[outside].any()
    assert r.daily[3:7, D.contracts].tolist() == [1.0] * 4 and r.daily[7, D.contracts] == 0
    # the day's P&L of the window's first day starts from capital with a flat book
    assert r.daily[3, D.pnl_costs] == approx(0.0)
    assert not r.skips.any()
    # no window: the same strategy holds from day 0 to the chain's last day
    assert spans(run_backtest(packed, spec, engine)) == [(0, N - 1, ExitReason.END_OF_DATA)]


@pytest.mark.parametrize("engine", ENGINES)
def test_every_n_days_counts_from_the_window(engine: Engine) -> None:
    spec = short_put(entry={"every_n_days": 3},
                     exit={"rebalance_days": 1, "period_unit": "trading"},
                     reentry={"same_day": True})
    packed = put_chain()
    r = run_backtest(packed, spec, engine, window=(4, N))
    # scheduled on 4 and 7 ((d - 4) % 3 == 0); 9 is the last day; the chain's own schedule
    # (d % 3 == 0) would have entered on 6
    assert spans(r) == [(4, 5, ExitReason.REBALANCE), (7, 8, ExitReason.REBALANCE)]
    assert r.trades["pnl"].tolist() == approx([-10.0, -10.0])
    assert r.equity[-1] == approx(CAPITAL - 20.0)
    assert not r.skips.any()
    whole = run_backtest(packed, spec, engine)
    assert [s[0] for s in spans(whole)] == [0, 3, 6]


@pytest.mark.parametrize("engine", ENGINES)
def test_no_entry_on_or_after_the_windows_last_day(engine: Engine) -> None:
    packed = put_chain()
    spec = short_put(exit={"max_holding_days": 1, "period_unit": "trading"},
                     reentry={"same_day": True})
    r = run_backtest(packed, spec, engine, window=(2, 4))
    # out on 3 by max_holding (before end_of_data in the rule order); no re-entry on 3
    assert spans(r) == [(2, 3, ExitReason.MAX_HOLDING)]
    assert r.equity[3:].tolist() == approx([CAPITAL - 10.0] * (N - 3))
    assert not r.in_market[4:].any()
    for window in [(5, 6), (6, 4), (N, N + 3)]:  # one day, empty, past the chain
        r = run_backtest(packed, spec, engine, window=window)
        assert len(r.trades) == 0 and not r.skips.any() and not r.in_market.any()
        assert r.equity.tolist() == [CAPITAL] * N
        assert not r.daily.any()
    # a window past the chain's end clamps to it: END_OF_DATA on the chain's last day
    r = run_backtest(packed, short_put(), engine, window=(8, 100))
    assert spans(r) == [(8, N - 1, ExitReason.END_OF_DATA)]
    assert r.window == (8, N)


# -- the signal is a property of the chain ------------------------------------------------


def zscore_directions(x: list[float], window: int, entry: float, exit_: float) -> list[int]:
    """The contract's state machine (docs/semantics.md, Signals), from day 0."""
    state, out = 0, []
    for d in range(len(x)):
        if d >= window:
            prior = x[d - window:d]
            mean = sum(prior) / window
            std = math.sqrt(sum((v - mean) ** 2 for v in prior) / (window - 1))
            if std > 0:
                z = (x[d] - mean) / std
                if state == 0:
                    state = 1 if z < -entry else (-1 if z > entry else 0)
                elif state == 1 and z >= -exit_:
                    state = 0
                elif state == -1 and z <= exit_:
                    state = 0
        out.append(state)
    return out


X = [1.0, 2.0, 3.0, 0.0, 0.2, 0.1, -0.5, 5.0, 6.0, 9.0]  # z: -2.0 -0.96 -0.58 -6 13.4 1.5 1.6
SIGNAL = {"kind": "zscore", "feature": "x", "window": 3, "entry": 1.0, "exit": 0.5}


@pytest.mark.parametrize("engine", ENGINES)
def test_zscore_signal_does_not_depend_on_the_window(engine: Engine) -> None:
    expected = zscore_directions(X, 3, 1.0, 0.5)
    assert expected == [0, 0, 0, 1, 1, 1, 1, 0, -1, -1]  # long from 3, out on 7, short on 8
    packed = put_chain(x=X)
    spec = short_put(entry={"signal": SIGNAL})
    # a two-day window [f, f + 2) can enter on f only: it does so in the signal's direction
    for f in range(N - 1):
        r = run_backtest(packed, spec, engine, window=(f, f + 2))
        if expected[f] == 0:
            assert len(r.trades) == 0 and r.skips[SkipReason.SIGNAL] == 1, f
        else:
            assert r.trades["direction"].tolist() == [expected[f]], f
            assert spans(r)[0][:2] == (f, f + 1), f
    # a window starting inside the long spell enters at once and exits on the signal on 7
    r = run_backtest(packed, spec, engine, window=(5, N))
    assert spans(r) == [(5, 7, ExitReason.SIGNAL), (8, 9, ExitReason.END_OF_DATA)]
    assert r.trades["direction"].tolist() == [1, -1]
    whole = run_backtest(packed, spec, engine)
    assert spans(whole) == [(3, 7, ExitReason.SIGNAL), (8, 9, ExitReason.END_OF_DATA)]


# -- batch KPIs over the window ------------------------------------------------------------


def _same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@pytest.mark.parametrize("kind", ["plain", "zscore", "risk"])
def test_batch_kpis_of_windowed_rows(kind: str) -> None:
    packed, spec = market_chain(), market_spec(kind)
    n = packed.n_days
    # a whole-chain row first, so that later rows reuse dirty scratch buffers
    windows = [(0, n), (10, 40), (25, n), (0, 18), (30, 31), (33, 20), (12, 50), (0, n)]
    base = encode_spec(spec, packed)
    rows = np.tile(base, (len(windows), 1))
    rows[:, P.window_first] = [w[0] for w in windows]
    rows[:, P.window_end] = [w[1] for w in windows]
    kpis, skips, counters, curves, *_ = run_batch(packed, rows, np.ones(len(windows), bool))
    traded = 0
    for k, window in enumerate(windows):
        single = run_backtest(packed, spec, window=window)
        first, end = window_bounds(window, n)
        np.testing.assert_array_equal(curves[k], single.equity, strict=True)
        np.testing.assert_array_equal(skips[k], single.skips, strict=True)
        assert counters[k, C.missing_quote_days] == single.missing_quote_days
        # the same KPI kernel on the sliced single run: equal bit for bit
        of = kpis_of(single, packed, spec.capital)
        np.testing.assert_array_equal(kpis[k], [of[m.name] for m in METRICS], strict=True)
        margin = single.daily[first:end, D.initial_margin]
        expected = compute_kpis_reference(
            single.equity[first:end], packed.day_date[first:end], spec.capital,
            single.trades["pnl"], single.trades["days_held"], single.in_market[first:end],
            margin if kind == "risk" else None,
        )
        wrong = {m: (kpis[k, KPI_INDEX[m]], v) for m, v in expected.items()
                 if not _same(kpis[k, KPI_INDEX[m]], v)}
        assert not wrong, (window, wrong)
        if end - first > 1:
            assert kpis[k, KPI_INDEX["final_equity"]] == single.equity[end - 1]
            assert kpis[k, KPI_INDEX["exposure"]] == approx(
                single.in_market[first:end].mean())
        traded += len(single.trades)
    assert traded > 10
    # a window that is not the whole chain has KPIs of its own
    assert kpis[1, KPI_INDEX["exposure"]] != kpis[0, KPI_INDEX["exposure"]]
    assert math.isnan(kpis[5, KPI_INDEX["sharpe"]])  # the empty window: no days
    assert kpis[5, KPI_INDEX["trade_count"]] == 0.0
