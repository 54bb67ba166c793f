"""Hand-computed backtest scenarios on tiny chains (docs/semantics.md), run on every engine.

Expected values are written as the arithmetic of the contract: fills, cash flows and P&L per
leg, with the multiplier 100 and the quotes of the chain built in each test.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import statistics
from typing import Any

import numpy as np
import pytest

from gridbt.data.pack import PackedChain, pack_chain
from gridbt.kernel.contract import D
from gridbt.kernel.enums import MAX_LEGS, ExitReason, SkipReason
from gridbt.kernel.result import BacktestResult
from gridbt.strategy.reference import run_reference
from gridbt.strategy.spec import StrategySpec
from gridbt.testing import ENGINES, ChainQuote, chain_from_quotes

pytestmark = pytest.mark.parametrize("engine", ENGINES)

NAN = math.nan
CAPITAL = 100_000.0
M = 100.0
MON = dt.date(2024, 1, 1)  # a Monday
EXP = dt.date(2024, 1, 19)  # 18 calendar days after MON
FILLER_EXPIRY = dt.date(2030, 1, 1)


def run(packed: PackedChain, spec: StrategySpec, engine: str) -> BacktestResult:
    """Run one engine and check the invariants every scenario shares."""
    if engine == "python":
        result = run_reference(packed, spec)
    else:
        try:
            from gridbt.strategy.backtest import run_backtest
        except ImportError as exc:
            pytest.skip(f"engine {engine!r} not importable: {exc}")
        result = run_backtest(packed, spec, engine="numba")
    trades = result.trades
    assert result.equity.shape == (packed.n_days,)
    assert result.legs.shape == (len(trades) * MAX_LEGS,)
    assert not result.in_market[-1]
    for t in trades:
        assert t["pnl"] == approx(t["entry_cash"] + t["exit_cash"] - t["commissions"])
    assert result.equity[-1] - spec.capital == approx(float(trades["pnl"].sum()))
    return result


def approx(x: float | list[float]) -> Any:
    return pytest.approx(np.asarray(x) if isinstance(x, list) else x, rel=1e-12, abs=1e-9)


def business_days(n: int, start: dt.date = MON) -> list[dt.date]:
    days: list[dt.date] = []
    day = start
    while len(days) < n:
        if day.weekday() < 5:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


class Chain:
    """A tiny chain: spots per trading day and explicit quotes by day index."""

    def __init__(self, spots: list[float], start: dt.date = MON) -> None:
        self.days = business_days(len(spots), start)
        self.spots = spots
        self.quotes: list[ChainQuote] = []

    def quote(
        self, d: int, expiry: dt.date, strike: float, right: str, bid: float, ask: float,
        delta: float = NAN, volume: int | None = 100, open_interest: int | None = 1000,
    ) -> Chain:
        self.quotes.append(
            ChainQuote(
                date=self.days[d], expiry=expiry, strike=strike, right=right, bid=bid, ask=ask,
                spot=self.spots[d], delta=delta, volume=volume, open_interest=open_interest,
            )
        )
        return self

    def series(
        self, expiry: dt.date, strike: float, right: str,
        quotes: list[tuple[float, float, float] | None],
    ) -> Chain:
        """Quote one contract on days 0.. as (bid, ask, delta); None = not quoted that day."""
        for d, q in enumerate(quotes):
            if q is not None:
                self.quote(d, expiry, strike, right, *q)
        return self

    def pack(self, **features: list[float]) -> PackedChain:
        """Pack the chain; a day without quotes gets one far, unselectable filler quote."""
        quoted = {q.date for q in self.quotes}
        filler = [
            ChainQuote(date=day, expiry=FILLER_EXPIRY, strike=1.0, right="C", bid=1.0, ask=1.1,
                       spot=spot)
            for day, spot in zip(self.days, self.spots, strict=True)
            if day not in quoted
        ]
        packed = pack_chain(chain_from_quotes(self.quotes + filler))
        assert packed.n_days == len(self.days)
        if features:
            packed = dataclasses.replace(
                packed,
                features=np.array([features[name] for name in features], dtype=np.float64),
                feature_names=tuple(features),
            )
        return packed


def leg(right: str, side: str, select: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return {"right": right, "side": side, "select": select, **kw}


def by_delta(target: float, tolerance: float = 0.1) -> dict[str, Any]:
    return {"by": "delta", "target": target, "tolerance": tolerance}


def by_moneyness(target: float, tolerance: float = 0.02) -> dict[str, Any]:
    return {"by": "moneyness", "target": target, "tolerance": tolerance}


def by_offset(of: int, points: float, tolerance: float = 0.0) -> dict[str, Any]:
    return {"by": "offset", "of": of, "points": points, "tolerance": tolerance}


SHORT_PUT = [leg("P", "short", by_delta(0.3))]


def make_spec(
    legs: list[dict[str, Any]],
    *,
    dte: tuple[int, int, int] = (20, 1, 40),
    dte_far: tuple[int, int, int] | None = None,
    slippage: float = 0.0,
    commission: float = 0.0,
    slippage_per_contract: float = 0.0,
    **sections: Any,
) -> StrategySpec:
    """A spec from legs; `dte` is (target, min, max); other sections go in as given."""
    structure: dict[str, Any] = {
        "dte": dict(zip(("target", "min", "max"), dte, strict=True)), "legs": legs,
    }
    if dte_far is not None:
        structure["dte_far"] = dict(zip(("target", "min", "max"), dte_far, strict=True))
    payload = {
        "capital": CAPITAL,
        "multiplier": M,
        "structure": structure,
        "execution": {"slippage": slippage, "commission_per_contract": commission,
                      "slippage_per_contract": slippage_per_contract},
        **sections,
    }
    return StrategySpec.model_validate(payload)


def spans(result: BacktestResult) -> list[tuple[int, int, int]]:
    t = result.trades
    return list(zip(t["entry_day"].tolist(), t["exit_day"].tolist(), t["exit_reason"].tolist(),
                    strict=True))


def no_skips(result: BacktestResult) -> bool:
    return not result.skips.any()


# -- exits ---------------------------------------------------------------------------------


def test_expiry_settles_at_intrinsic(engine: str) -> None:
    expiry = dt.date(2024, 1, 4)  # day 3
    chain = Chain([101.0, 101.0, 99.0, 97.0, 97.0]).series(
        expiry, 100.0, "P", [(1.00, 1.20, -0.30), (0.90, 1.00, -0.25), (1.50, 1.70, -0.45)]
    )
    r = run(chain.pack(), make_spec(SHORT_PUT, dte=(3, 1, 10)), engine)

    assert spans(r) == [(0, 3, ExitReason.EXPIRY)]
    t, lg = r.trades[0], r.legs[0]
    assert t["entry_cash"] == approx(1.10 * M)
    assert t["exit_cash"] == approx(-(100.0 - 97.0) * M)
    assert t["pnl"] == approx((1.10 - 3.0) * M)
    assert t["entry_premium"] == approx(-1.10 * M)
    assert t["mae"] == approx((1.10 - 3.0) * M)
    assert t["mfe"] == approx((1.10 - 0.95) * M)
    assert t["days_held"] == 3
    assert lg["settled"] == 1 and lg["units"] == -1.0
    assert lg["exit_fill"] == approx(100.0 - 97.0)
    assert r.equity == approx(
        [CAPITAL, CAPITAL + (1.10 - 0.95) * M, CAPITAL + (1.10 - 1.60) * M,
         CAPITAL + (1.10 - 3.0) * M, CAPITAL + (1.10 - 3.0) * M]
    )
    assert r.in_market.tolist() == [True, True, True, False, False]
    assert no_skips(r) and r.missing_quote_days == 0 and r.stale_fills == 0


def test_calendar_closes_at_front_expiry(engine: str) -> None:
    near, far = dt.date(2024, 1, 4), dt.date(2024, 2, 2)  # DTE 3 and 32 on day 0
    chain = (
        Chain([100.0, 100.0, 100.0, 102.0, 102.0])
        .series(near, 100.0, "C", [(1.0, 1.2, NAN), (0.8, 1.0, NAN), (0.5, 0.7, NAN)])
        .series(far, 100.0, "C", [(3.0, 3.4, NAN), (3.1, 3.3, NAN), (3.0, 3.2, NAN),
                                  (4.0, 4.4, NAN)])
    )
    spec = make_spec(
        [leg("C", "short", by_moneyness(1.0)),
         leg("C", "long", by_offset(0, 0.0), expiry_group=1)],
        dte=(3, 1, 5), dte_far=(30, 20, 40), slippage=0.5, commission=0.65,
    )
    r = run(chain.pack(), spec, engine)

    assert spans(r) == [(0, 3, ExitReason.EXPIRY)]
    t = r.trades[0]
    near_leg, far_leg = r.legs[0], r.legs[1]
    assert near_leg["entry_fill"] == approx(1.1 - 0.5 * 0.1)
    assert far_leg["entry_fill"] == approx(3.2 + 0.5 * 0.2)
    assert near_leg["settled"] == 1 and far_leg["settled"] == 0
    assert near_leg["exit_fill"] == approx(102.0 - 100.0)
    assert far_leg["exit_fill"] == approx(4.2 - 0.5 * 0.2)
    assert int(far_leg["expiry"]) == (far - dt.date(1970, 1, 1)).days
    assert t["entry_premium"] == approx((-1.1 + 3.2) * M)
    assert t["commissions"] == approx(3 * 0.65)
    assert t["entry_cash"] == approx((1.05 - 3.3) * M)
    assert t["exit_cash"] == approx(-2.0 * M + 4.1 * M)
    assert t["pnl"] == approx((1.05 - 3.3) * M - 2.0 * M + 4.1 * M - 3 * 0.65)
    assert r.equity[0] == approx(CAPITAL + (1.05 - 1.1) * M + (3.2 - 3.3) * M - 2 * 0.65)


def short_put_path(puts: list[tuple[float, float, float] | None], n_days: int) -> Chain:
    return Chain([100.0] * n_days).series(EXP, 100.0, "P", puts)


def test_stop_loss_on_credit(engine: str) -> None:
    chain = short_put_path(
        [(1.0, 1.2, -0.3), (1.9, 2.1, -0.4), (2.2, 2.4, -0.5), (1.0, 1.2, -0.3)], 4
    )
    spec = make_spec(SHORT_PUT, slippage=1.0, exit={"stop_loss": 1.0, "profit_target": 0.5})
    r = run(chain.pack(), spec, engine)
    # day 1: pnl = 1.1 - 2.0 = -0.9 > -1.0 * 1.1; day 2: 1.1 - 2.3 = -1.2 <= -1.1
    assert spans(r) == [(0, 2, ExitReason.STOP_LOSS)]
    assert r.legs[0]["entry_fill"] == approx(1.0)
    assert r.legs[0]["exit_fill"] == approx(2.4)
    assert r.trades[0]["pnl"] == approx((1.0 - 2.4) * M)


def test_profit_target_on_credit(engine: str) -> None:
    chain = short_put_path(
        [(1.0, 1.2, -0.3), (0.7, 0.9, -0.25), (0.45, 0.55, -0.2), (0.4, 0.5, -0.2)], 4
    )
    r = run(chain.pack(), make_spec(SHORT_PUT, exit={"profit_target": 0.5}), engine)
    # day 1: pnl 1.1 - 0.8 = 0.3 < 0.55; day 2: 1.1 - 0.5 = 0.6 >= 0.5 * 1.1
    assert spans(r) == [(0, 2, ExitReason.PROFIT_TARGET)]
    assert r.trades[0]["pnl"] == approx((1.1 - 0.5) * M)


def test_profit_target_on_debit(engine: str) -> None:
    chain = Chain([100.0] * 4).series(
        EXP, 100.0, "C", [(1.9, 2.1, 0.5), (2.5, 2.7, 0.55), (3.1, 3.3, 0.6), (3.5, 3.7, 0.65)]
    )
    spec = make_spec([leg("C", "long", by_delta(0.5))],
                     exit={"profit_target": 0.5, "stop_loss": 0.5})
    r = run(chain.pack(), spec, engine)
    # debit 2.0: day 1 pnl 0.6 < 1.0; day 2 pnl 1.2 >= 0.5 * 2.0
    assert spans(r) == [(0, 2, ExitReason.PROFIT_TARGET)]
    assert r.trades[0]["entry_premium"] == approx(2.0 * M)
    assert r.trades[0]["pnl"] == approx((3.2 - 2.0) * M)


def test_dte_exit(engine: str) -> None:
    expiry = dt.date(2024, 1, 11)  # DTE 10, 9, 8, 7, 6 on days 0..4
    chain = Chain([100.0] * 5).series(expiry, 100.0, "P", [(1.0, 1.2, -0.3)] * 5)
    r = run(chain.pack(), make_spec(SHORT_PUT, exit={"dte": 7}), engine)
    assert spans(r) == [(0, 3, ExitReason.DTE)]
    assert r.trades[0]["pnl"] == approx(0.0)


@pytest.mark.parametrize(
    ("unit", "exit_day", "days_held"), [("calendar", 2, 4), ("trading", 3, 5)]
)
def test_max_holding(engine: str, unit: str, exit_day: int, days_held: int) -> None:
    thursday = dt.date(2024, 1, 4)  # days: Thu, Fri, Mon, Tue, Wed
    chain = Chain([100.0] * 5, start=thursday).series(EXP, 100.0, "P", [(1.0, 1.2, -0.3)] * 5)
    spec = make_spec(SHORT_PUT, entry={"weekdays": [3]},
                     exit={"max_holding_days": 3, "period_unit": unit})
    r = run(chain.pack(), spec, engine)
    assert spans(r) == [(0, exit_day, ExitReason.MAX_HOLDING)]
    assert r.trades[0]["days_held"] == days_held


def flat_short_put_chain(n_days: int) -> PackedChain:
    return Chain([100.0] * n_days).series(EXP, 100.0, "P", [(1.0, 1.2, -0.3)] * n_days).pack()


def test_rebalance_exit_beats_end_of_data(engine: str) -> None:
    spec = make_spec(SHORT_PUT, exit={"rebalance_days": 2}, reentry={"same_day": True})
    r = run(flat_short_put_chain(5), spec, engine)
    assert spans(r) == [(0, 2, ExitReason.REBALANCE), (2, 4, ExitReason.REBALANCE)]
    assert r.in_market.tolist() == [True, True, True, True, False]


@pytest.mark.parametrize(
    ("same_day", "reentered"),
    [(True, True), (["rebalance"], True), (False, False), (["stop_loss", "dte"], False)],
)
def test_same_day_reentry(engine: str, same_day: Any, reentered: bool) -> None:
    spec = make_spec(SHORT_PUT, exit={"rebalance_days": 2}, reentry={"same_day": same_day})
    r = run(flat_short_put_chain(5), spec, engine)
    if reentered:
        assert spans(r) == [(0, 2, ExitReason.REBALANCE), (2, 4, ExitReason.REBALANCE)]
    else:
        assert spans(r) == [(0, 2, ExitReason.REBALANCE), (3, 4, ExitReason.END_OF_DATA)]
    assert r.in_market[2] == reentered


def test_no_same_day_reentry_after_expiry(engine: str) -> None:
    first, second = dt.date(2024, 1, 3), dt.date(2024, 1, 12)
    chain = (
        Chain([100.0] * 5)
        .series(first, 100.0, "P", [(1.0, 1.2, -0.3), (1.0, 1.2, -0.3)])
        .series(second, 100.0, "P", [None, None, (1.0, 1.2, -0.3), (1.0, 1.2, -0.3),
                                     (1.0, 1.2, -0.3)])
    )
    spec = make_spec(SHORT_PUT, reentry={"same_day": True})
    r = run(chain.pack(), spec, engine)
    assert spans(r) == [(0, 2, ExitReason.EXPIRY), (3, 4, ExitReason.END_OF_DATA)]


def test_delta_breach_on_short_legs_only(engine: str) -> None:
    chain = (
        Chain([100.0] * 4)
        .series(EXP, 95.0, "P", [(1.0, 1.2, -0.30), (1.1, 1.3, NAN), (1.5, 1.7, -0.55),
                                 (1.5, 1.7, -0.55)])
        .series(EXP, 105.0, "C", [(1.0, 1.2, 0.30), (2.0, 2.2, 0.70), (2.0, 2.2, 0.70),
                                  (2.0, 2.2, 0.70)])
    )
    spec = make_spec([leg("P", "short", by_delta(0.3)), leg("C", "long", by_delta(0.3))],
                     exit={"delta_breach": 0.5})
    r = run(chain.pack(), spec, engine)
    # day 1: the long call's 0.70 does not count and the put keeps its last delta -0.30
    assert spans(r) == [(0, 2, ExitReason.DELTA_BREACH)]
    assert r.trades[0]["pnl"] == approx((1.1 - 1.6) * M + (2.1 - 1.1) * M)


@pytest.mark.parametrize("inverted", [False, True])
def test_zscore_signal_entry_and_exit(engine: str, inverted: bool) -> None:
    x = [1.0, 2.0, 3.0, 0.0, 0.5, 2.0, 2.0]
    z3 = (x[3] - statistics.mean(x[0:3])) / statistics.stdev(x[0:3])
    z4 = (x[4] - statistics.mean(x[1:4])) / statistics.stdev(x[1:4])
    z5 = (x[5] - statistics.mean(x[2:5])) / statistics.stdev(x[2:5])
    assert z3 < -1.0 and -1.0 < z4 < -0.5 and z5 > -0.5  # long on 3, hold on 4, exit on 5
    chain = Chain([100.0] * 7).series(EXP, 100.0, "C", [(2.0, 2.2, 0.5)] * 7)
    signal = {"kind": "zscore", "feature": "x", "window": 3, "entry": 1.0, "exit": 0.5,
              "inverted": inverted}
    spec = make_spec([leg("C", "long", by_moneyness(1.0))], entry={"signal": signal})
    r = run(chain.pack(x=x), spec, engine)

    direction = -1 if inverted else 1
    assert spans(r) == [(3, 5, ExitReason.SIGNAL)]
    assert r.trades[0]["direction"] == direction
    assert r.legs[0]["units"] == direction
    assert r.skips[SkipReason.SIGNAL] == 3  # days 0-2: z undefined; day 5: no same-day entry
    assert r.skips.sum() == 3
    assert r.in_market.tolist() == [False, False, False, True, True, False, False]


def test_end_of_data_fills_at_last_quotes(engine: str) -> None:
    chain = short_put_path(
        [(1.0, 1.2, -0.3), (0.9, 1.1, -0.3), (0.8, 1.0, -0.3), (0.6, 0.8, -0.3)], 4
    )
    r = run(chain.pack(), make_spec(SHORT_PUT, slippage=0.5), engine)
    assert spans(r) == [(0, 3, ExitReason.END_OF_DATA)]
    assert r.legs[0]["entry_fill"] == approx(1.1 - 0.5 * 0.1)
    assert r.legs[0]["exit_fill"] == approx(0.7 + 0.5 * 0.1)
    assert r.trades[0]["pnl"] == approx((1.05 - 0.75) * M)
    assert no_skips(r)


# -- data gaps -----------------------------------------------------------------------------


def test_missing_quotes_carry_marks_and_fill_stale(engine: str) -> None:
    chain = (
        Chain([100.0] * 4)
        .series(EXP, 95.0, "P", [(1.0, 1.2, -0.2), None, (NAN, 1.3, -0.2), None])
        .series(EXP, 105.0, "C", [(0.8, 1.0, 0.2), None, (0.6, 0.8, 0.2), None])
    )
    spec = make_spec([leg("P", "short", by_delta(0.2)), leg("C", "short", by_delta(0.2))],
                     slippage=1.0)
    r = run(chain.pack(), spec, engine)

    assert spans(r) == [(0, 3, ExitReason.END_OF_DATA)]
    assert r.missing_quote_days == 3  # day 1 counts once for two legs; the NaN bid on day 2
    assert r.stale_fills == 2  # both legs close on quotes from earlier days
    put, call = r.legs[0], r.legs[1]
    assert put["exit_fill"] == approx(1.2)  # last usable quote: day 0
    assert call["exit_fill"] == approx(0.8)  # last usable quote: day 2
    cash = CAPITAL + 1.0 * M + 0.8 * M
    assert r.equity == approx(
        [cash - 1.1 * M - 0.9 * M, cash - 1.1 * M - 0.9 * M, cash - 1.1 * M - 0.7 * M,
         cash - 1.2 * M - 0.8 * M]
    )


# -- fills and costs -----------------------------------------------------------------------


def put_spread_chain() -> Chain:
    return (
        Chain([100.0, 100.0])
        .series(EXP, 100.0, "P", [(2.0, 2.4, -0.3), (1.5, 1.9, -0.25)])
        .series(EXP, 95.0, "P", [(0.8, 1.0, -0.15), (0.5, 0.7, -0.12)])
    )


PUT_SPREAD = [leg("P", "short", by_delta(0.3)), leg("P", "long", by_offset(0, -5.0))]


@pytest.mark.parametrize("s", [0.0, 0.5, 1.0])
def test_slippage_fills(engine: str, s: float) -> None:
    r = run(put_spread_chain().pack(), make_spec(PUT_SPREAD, slippage=s), engine)
    assert spans(r) == [(0, 1, ExitReason.END_OF_DATA)]
    short, long = r.legs[0], r.legs[1]
    assert (short["strike"], long["strike"]) == (100.0, 95.0)
    assert short["entry_fill"] == approx(2.2 - s * (2.2 - 2.0))
    assert long["entry_fill"] == approx(0.9 + s * (1.0 - 0.9))
    assert short["exit_fill"] == approx(1.7 + s * (1.9 - 1.7))
    assert long["exit_fill"] == approx(0.6 - s * (0.6 - 0.5))
    expected = ((2.2 - 0.2 * s) - (0.9 + 0.1 * s) - (1.7 + 0.2 * s) + (0.6 - 0.1 * s)) * M
    assert r.trades[0]["pnl"] == approx(expected)
    assert r.equity[0] == approx(CAPITAL - (0.2 * s + 0.1 * s) * M)


def test_commission_per_contract_per_leg(engine: str) -> None:
    legs = [leg("P", "short", by_delta(0.3)), leg("P", "long", by_offset(0, -5.0), qty=2)]
    spec = make_spec(legs, commission=0.65, sizing={"contracts": 3})
    r = run(put_spread_chain().pack(), spec, engine)
    t = r.trades[0]
    per_side = 0.65 * (1 + 2) * 3
    assert t["contracts"] == 3
    assert (r.legs[0]["units"], r.legs[1]["units"]) == (-1.0, 2.0)
    assert t["commissions"] == approx(2 * per_side)
    assert t["entry_premium"] == approx((-2.2 + 2 * 0.9) * 3 * M)
    assert t["entry_cash"] == approx(2.2 * 3 * M - 0.9 * 2 * 3 * M)
    assert t["exit_cash"] == approx(-1.7 * 3 * M + 0.6 * 2 * 3 * M)
    assert t["pnl"] == approx((2.2 - 1.8 - 1.7 + 1.2) * 3 * M - 2 * per_side)
    assert r.equity[0] == approx(CAPITAL - per_side)


@pytest.mark.parametrize("slip", [0.0, 0.05])
def test_slippage_per_contract_moves_fills_not_marks(engine: str, slip: float) -> None:
    chain = short_put_path(
        [(2.00, 2.20, -0.3), (1.40, 1.50, -0.25), (0.95, 1.05, -0.2), (0.90, 1.00, -0.2)], 4
    )
    spec = make_spec(SHORT_PUT, slippage=1.0, slippage_per_contract=slip, commission=0.65,
                     exit={"profit_target": 0.5})
    r = run(chain.pack(), spec, engine)

    # the premium and the target are on mids: C = 2.10, day 2's P&L 2.10 - 1.00 = 1.10 >=
    # 0.5 * 2.10 whatever the slippage (on the fills, 1.95 - 1.10 = 0.85 < 0.5 * 1.95)
    assert spans(r) == [(0, 2, ExitReason.PROFIT_TARGET)]
    t, lg = r.trades[0], r.legs[0]
    # sold at the bid less slip, bought back at the ask plus slip; per contract x 100
    assert lg["entry_fill"] == approx(2.00 - slip)
    assert lg["exit_fill"] == approx(1.05 + slip)
    assert t["entry_premium"] == approx(-2.10 * M)
    assert t["entry_cash"] == approx((2.00 - slip) * M)
    assert t["exit_cash"] == approx(-(1.05 + slip) * M)
    assert t["commissions"] == approx(2 * 0.65)
    # slip 0.05: 195.00 - 110.00 - 1.30 = 83.70, i.e. 2 fills x 0.05 x 100 = 10.00 below 93.70
    assert t["pnl"] == approx((2.00 - slip - 1.05 - slip) * M - 2 * 0.65)
    assert t["pnl"] == approx({0.0: 93.70, 0.05: 83.70}[slip])
    assert (t["mae"], t["mfe"]) == approx([0.0, (2.10 - 1.00) * M])  # on mids
    # paid against mid: the half spread, the slip and the commission, on both fill days
    assert r.daily[0, D.pnl_costs] == approx(-((0.10 + slip) * M + 0.65))
    assert r.daily[2, D.pnl_costs] == approx(-((0.05 + slip) * M + 0.65))
    assert r.equity[0] == approx(CAPITAL + (2.00 - slip - 2.10) * M - 0.65)
    assert r.equity[2] == approx(CAPITAL + t["pnl"])


def test_slippage_per_contract_skips_settlement_and_sales_stop_at_zero(engine: str) -> None:
    near, far = dt.date(2024, 1, 4), dt.date(2024, 2, 2)  # DTE 3 and 32 on day 0
    chain = (
        Chain([100.0, 100.0, 101.0, 102.0, 102.0])
        .series(near, 100.0, "P", [(1.00, 1.20, NAN), (0.80, 0.90, NAN), (0.40, 0.50, NAN)])
        .series(far, 120.0, "C", [(0.05, 0.15, NAN)] + [(0.00, 0.10, NAN)] * 4)
    )
    spec = make_spec(
        [leg("P", "long", by_moneyness(1.0)),
         leg("C", "long", by_moneyness(1.2), expiry_group=1)],
        dte=(3, 1, 5), dte_far=(30, 20, 40), slippage=1.0, slippage_per_contract=0.05,
        commission=0.65,
    )
    r = run(chain.pack(), spec, engine)

    assert spans(r) == [(0, 3, ExitReason.EXPIRY)]
    t, put, call = r.trades[0], r.legs[0], r.legs[1]
    # bought at ask + 0.05: put 1.20 + 0.05, call 0.15 + 0.05
    assert (put["entry_fill"], call["entry_fill"]) == approx([1.25, 0.20])
    assert t["entry_cash"] == approx(-(1.25 + 0.20) * M)
    # day 3: the put settles at intrinsic max(100 - 102, 0) = 0, without slippage or
    # commission; the far call is sold at bid 0 - 0.05, which fills at 0, not at -0.05
    assert put["settled"] == 1 and put["exit_fill"] == 0.0
    assert call["settled"] == 0 and call["exit_fill"] == 0.0
    assert t["exit_cash"] == 0.0
    assert t["commissions"] == approx(3 * 0.65)
    assert t["pnl"] == approx(-145.00 - 1.95)
    assert t["entry_premium"] == approx((1.10 + 0.10) * M)
    # costs against mid: entry 0.15 x 100 + 0.10 x 100 + 2 x 0.65; day 3 only the call's
    # 0.05 x 100 below its mid and its commission (the settlement costs nothing)
    assert r.daily[0, D.pnl_costs] == approx(-(15.0 + 10.0 + 1.30))
    assert r.daily[3, D.pnl_costs] == approx(-(5.0 + 0.65))


@pytest.mark.parametrize(("slip", "opened"), [(0.004, True), (0.01, False)])
def test_capital_counts_slippage_per_contract(engine: str, slip: float, opened: bool) -> None:
    chain = Chain([100.0] * 3).series(EXP, 100.0, "C", [(0.9, 1.1, 0.5)] * 3)
    spec = make_spec([leg("C", "long", by_delta(0.5))], slippage_per_contract=slip,
                     capital=100.5)
    r = run(chain.pack(), spec, engine)
    # a buy at mid 1.0 + slip needs (1.0 + slip) * 100: 100.40 fits in 100.5, 101.00 does not
    if opened:
        assert spans(r) == [(0, 2, ExitReason.END_OF_DATA)]
        assert r.legs[0]["entry_fill"] == approx(1.004)
    else:
        assert spans(r) == []
        assert r.skips[SkipReason.CAPITAL] == 2 and r.skips.sum() == 2


def test_short_direction_flips_every_leg(engine: str) -> None:
    chain = Chain([100.0] * 3).series(EXP, 100.0, "C", [(1.9, 2.1, 0.5)] * 2 + [(1.4, 1.6, 0.4)])
    spec = make_spec([leg("C", "long", by_delta(0.5))],
                     entry={"signal": {"kind": "always", "direction": "short"}})
    r = run(chain.pack(), spec, engine)
    assert r.trades[0]["direction"] == -1
    assert r.legs[0]["units"] == -1.0
    assert r.trades[0]["entry_cash"] == approx(2.0 * M)
    assert r.trades[0]["pnl"] == approx((2.0 - 1.5) * M)


# -- skips ---------------------------------------------------------------------------------


def test_filter_skips_nan_and_out_of_bounds_inclusive(engine: str) -> None:
    x = [NAN, 0.2, 0.9, 0.8, 0.8, 0.8]
    y = [1.0, 1.0, 1.0, 0.5, 1.0, 1.0]
    filters = [{"feature": "x", "min": 0.5, "max": 0.8}, {"feature": "y", "min": 1.0}]
    spec = make_spec(SHORT_PUT, entry={"filters": filters})
    r = run(short_put_path([(1.0, 1.2, -0.3)] * 6, 6).pack(x=x, y=y), spec, engine)
    assert spans(r) == [(4, 5, ExitReason.END_OF_DATA)]
    assert r.skips[SkipReason.FILTER] == 4 and r.skips.sum() == 4


def test_filter_is_checked_before_signal(engine: str) -> None:
    x = [1.0, 2.0, 3.0, 0.0, 0.0]
    y = [0.0, 1.0, 1.0, 1.0, 1.0]
    signal = {"kind": "zscore", "feature": "x", "window": 3, "entry": 1.0, "exit": 0.5}
    spec = make_spec(SHORT_PUT, entry={"signal": signal, "filters": [{"feature": "y", "min": 1}]})
    r = run(short_put_path([(1.0, 1.2, -0.3)] * 5, 5).pack(x=x, y=y), spec, engine)
    assert r.skips[SkipReason.FILTER] == 1 and r.skips[SkipReason.SIGNAL] == 2
    assert spans(r) == [(3, 4, ExitReason.END_OF_DATA)]


def test_no_expiry(engine: str) -> None:
    late = dt.date(2024, 2, 20)  # DTE 50 on day 0, outside [1, 40]
    chain = (
        Chain([100.0] * 4)
        .quote(0, late, 95.0, "P", 1.0, 1.2, -0.2).quote(0, late, 105.0, "C", 1.0, 1.2, 0.2)
        .quote(1, late, 95.0, "P", 1.0, 1.2, -0.2).quote(1, EXP, 105.0, "C", 1.0, 1.2, 0.2)
        .quote(2, EXP, 95.0, "P", 1.0, 1.2, -0.2).quote(2, EXP, 105.0, "C", 1.0, 1.2, 0.2)
        .quote(3, EXP, 95.0, "P", 1.0, 1.2, -0.2).quote(3, EXP, 105.0, "C", 1.0, 1.2, 0.2)
    )
    strangle = [leg("P", "short", by_delta(0.2)), leg("C", "short", by_delta(0.2))]
    r = run(chain.pack(), make_spec(strangle), engine)
    # day 0: only DTE 50; day 1: the DTE-18 expiry has no puts
    assert r.skips[SkipReason.NO_EXPIRY] == 2 and r.skips.sum() == 2
    assert spans(r) == [(2, 3, ExitReason.END_OF_DATA)]


def test_expiry_nearest_target_ties_to_earlier(engine: str) -> None:
    early, late = dt.date(2024, 1, 16), dt.date(2024, 1, 26)  # DTE 15 and 25
    chain = (
        Chain([100.0] * 2)
        .series(early, 100.0, "P", [(1.0, 1.2, -0.3)] * 2)
        .series(late, 100.0, "P", [(2.0, 2.2, -0.3)] * 2)
    )
    r = run(chain.pack(), make_spec(SHORT_PUT, dte=(20, 1, 40)), engine)
    assert int(r.legs[0]["expiry"]) == (early - dt.date(1970, 1, 1)).days
    r = run(chain.pack(), make_spec(SHORT_PUT, dte=(21, 1, 40)), engine)
    assert int(r.legs[0]["expiry"]) == (late - dt.date(1970, 1, 1)).days


def test_no_strike(engine: str) -> None:
    chain = (
        Chain([100.0] * 3)
        .quote(0, EXP, 100.0, "P", 2.0, 2.2, -0.50)  # out of range
        .quote(0, EXP, 90.0, "P", 0.0, 0.0, -0.30)  # in range but mid 0: not a candidate
        .quote(0, EXP, 92.0, "P", NAN, 0.5, -0.30)  # no bid: not a candidate
        .series(EXP, 97.0, "P", [None, (1.0, 1.2, -0.31), (1.0, 1.2, -0.31)])
    )
    r = run(chain.pack(), make_spec([leg("P", "short", by_delta(0.3, 0.05))]), engine)
    assert r.skips[SkipReason.NO_STRIKE] == 1 and r.skips.sum() == 1
    assert spans(r) == [(1, 2, ExitReason.END_OF_DATA)]
    assert r.legs[0]["strike"] == 97.0


def test_liquidity(engine: str) -> None:
    chain = (
        Chain([100.0] * 6)
        .quote(0, EXP, 100.0, "P", 1.0, 1.2, -0.3, volume=50, open_interest=10)
        .quote(1, EXP, 100.0, "P", 1.0, 1.2, -0.3, volume=50, open_interest=None)
        .quote(2, EXP, 100.0, "P", 1.0, 1.2, -0.3, volume=5, open_interest=500)
        .quote(3, EXP, 100.0, "P", 1.0, 1.6, -0.3, volume=50, open_interest=500)
        .quote(4, EXP, 100.0, "P", 1.0, 1.2, -0.3, volume=50, open_interest=500)
        .quote(5, EXP, 100.0, "P", 1.0, 1.2, -0.3, volume=50, open_interest=500)
    )
    spec = make_spec([leg("P", "short", by_delta(0.3), min_open_interest=100, min_volume=10,
                          max_relative_spread=0.2)])
    r = run(chain.pack(), spec, engine)
    # relative spreads: day 3 0.6 / 1.3 > 0.2, day 4 0.2 / 1.1 <= 0.2
    assert r.skips[SkipReason.LIQUIDITY] == 4 and r.skips.sum() == 4
    assert spans(r) == [(4, 5, ExitReason.END_OF_DATA)]


@pytest.mark.parametrize(("commission", "opened"), [(0.65, False), (0.0, True)])
def test_capital_counts_debit_and_commissions(engine: str, commission: float,
                                              opened: bool) -> None:
    chain = Chain([100.0] * 3).series(EXP, 100.0, "C", [(0.9, 1.1, 0.5)] * 3)
    spec = make_spec([leg("C", "long", by_delta(0.5))], commission=commission, capital=100.5)
    r = run(chain.pack(), spec, engine)
    # needs 1.0 * 100 + commission against equity 100.5
    if opened:
        assert spans(r) == [(0, 2, ExitReason.END_OF_DATA)]
        assert no_skips(r)
    else:
        assert spans(r) == []
        assert r.skips[SkipReason.CAPITAL] == 2 and r.skips.sum() == 2


def test_capital_counts_the_net_debit_of_a_credit_spread(engine: str) -> None:
    spec = make_spec(PUT_SPREAD, capital=50.0)
    r = run(put_spread_chain().pack(), spec, engine)
    # the long put alone costs 0.9 * 100 > 50, but the spread nets a credit of
    # (2.2 - 0.9) * 100, so the entry needs no cash (docs/semantics.md, entry step 7)
    assert len(spans(r)) == 1
    assert r.skips[SkipReason.CAPITAL] == 0


# -- strike selection ----------------------------------------------------------------------


@pytest.mark.parametrize("liquid_far_strike", [True, False])
def test_delta_selection_scores_spread_and_depth(engine: str, liquid_far_strike: bool) -> None:
    chain = Chain([100.0] * 2)
    for d in range(2):
        chain.quote(d, EXP, 95.0, "P", 0.5, 1.5, -0.30, volume=0, open_interest=0)
        if liquid_far_strike:
            chain.quote(d, EXP, 97.0, "P", 0.95, 1.05, -0.32, volume=100, open_interest=1000)
        else:
            chain.quote(d, EXP, 97.0, "P", 0.5, 1.5, -0.32, volume=0, open_interest=0)
    r = run(chain.pack(), make_spec([leg("P", "short", by_delta(0.3, 0.1))]), engine)
    if liquid_far_strike:
        score_95 = 0.0 / 0.1 + 0.25 * (1.0 / 1.0) + 0.10 * (1 - 0.0)
        score_97 = 0.02 / 0.1 + 0.25 * (0.1 / 1.0) + 0.10 * (1 - 1.0)
        assert score_97 < score_95
        assert r.legs[0]["strike"] == 97.0
    else:
        assert r.legs[0]["strike"] == 95.0


@pytest.mark.parametrize(("target", "strike"), [(0.8125, 96.0), (0.85, 112.0)])
def test_moneyness_selection_ties_to_lower_strike(engine: str, target: float,
                                                  strike: float) -> None:
    chain = Chain([128.0] * 2)
    for k in (96.0, 112.0, 120.0):  # K / spot = 0.75, 0.875, 0.9375
        chain.series(EXP, k, "P", [(1.0, 1.2, NAN)] * 2)
    r = run(chain.pack(), make_spec([leg("P", "short", by_moneyness(target, 0.1))]), engine)
    assert r.legs[0]["strike"] == strike


@pytest.mark.parametrize(
    ("strikes", "tolerance", "expected"),
    [((94.0, 95.0, 96.0), 0.0, 95.0), ((94.0, 96.0), 0.0, None), ((94.0, 96.0), 1.0, 94.0)],
)
def test_offset_selection(engine: str, strikes: tuple[float, ...], tolerance: float,
                          expected: float | None) -> None:
    chain = Chain([100.0] * 2).series(EXP, 100.0, "P", [(2.0, 2.2, NAN)] * 2)
    for k in strikes:
        chain.series(EXP, k, "P", [(1.0, 1.2, NAN)] * 2)
    legs = [leg("P", "short", by_moneyness(1.0)), leg("P", "long", by_offset(0, -5.0, tolerance))]
    r = run(chain.pack(), make_spec(legs), engine)
    if expected is None:
        assert spans(r) == [] and r.skips[SkipReason.NO_STRIKE] == 1
    else:
        assert (r.legs[0]["strike"], r.legs[1]["strike"]) == (100.0, expected)


# -- schedule ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weekdays", "expected"), [([2], []), ([1], [(1, 2, ExitReason.END_OF_DATA)])]
)
def test_no_entry_on_last_day(engine: str, weekdays: list[int],
                              expected: list[tuple[int, int, int]]) -> None:
    r = run(flat_short_put_chain(3), make_spec(SHORT_PUT, entry={"weekdays": weekdays}), engine)
    assert spans(r) == expected
    assert no_skips(r)
    assert r.equity == approx([CAPITAL] * 3)


def test_every_n_days(engine: str) -> None:
    spec = make_spec(SHORT_PUT, entry={"every_n_days": 2}, exit={"rebalance_days": 1})
    r = run(flat_short_put_chain(5), spec, engine)
    assert spans(r) == [(0, 1, ExitReason.REBALANCE), (2, 3, ExitReason.REBALANCE)]
