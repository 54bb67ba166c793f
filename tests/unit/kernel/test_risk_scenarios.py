"""Hand-computed risk-layer scenarios (docs/semantics.md, Risk layer), run on every engine:
a margin call with grace days, a partial (target) liquidation, a hedge band crossing, and a
day's P&L attribution. Expected values are written as the contract's arithmetic."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pytest

from gridbt.data.pack import PackedChain, pack_chain
from gridbt.kernel.contract import D
from gridbt.kernel.enums import MAX_LEGS, ExitReason, SizingBinding, SkipReason
from gridbt.kernel.result import BacktestResult
from gridbt.strategy.backtest import run_backtest
from gridbt.strategy.spec import StrategySpec, parse_strategy
from gridbt.testing import ENGINES, ChainQuote, chain_from_quotes

pytestmark = pytest.mark.parametrize("engine", ENGINES)

M = 100.0
MON = dt.date(2024, 1, 1)
EXP = dt.date(2024, 2, 16)


def approx(x: Any) -> Any:
    return pytest.approx(np.asarray(x) if isinstance(x, list) else x, rel=1e-12, abs=1e-9)


def days(n: int) -> list[dt.date]:
    out, day = [], MON
    while len(out) < n:
        if day.weekday() < 5:
            out.append(day)
        day += dt.timedelta(days=1)
    return out


def chain(
    spots: list[float], right: str, strike: float, quotes: list[dict[str, float] | None]
) -> PackedChain:
    """One contract quoted on each day whose dict is not None: mid, and optionally half
    (spread), delta, gamma, vega, theta, iv. A far strike nobody selects fills every day."""
    rows = [
        ChainQuote(date=day, expiry=EXP, strike=1_000.0, right="C", bid=0.05, ask=0.10,
                   spot=spot)
        for day, spot in zip(days(len(spots)), spots, strict=True)
    ]
    for day, spot, q in zip(days(len(spots)), spots, quotes, strict=True):
        if q is None:
            continue
        half = q.get("half", 0.05)
        rows.append(
            ChainQuote(
                date=day, expiry=EXP, strike=strike, right=right, bid=q["mid"] - half,
                ask=q["mid"] + half, spot=spot, delta=q.get("delta", math.nan),
                gamma=q.get("gamma", 0.0), vega=q.get("vega", 0.0), theta=q.get("theta", 0.0),
                iv=q.get("iv", 0.2),
            )
        )
    return pack_chain(chain_from_quotes(rows))


def spec(right: str, side: str, **sections: Any) -> StrategySpec:
    payload: dict[str, Any] = {
        "capital": 100_000.0,
        "multiplier": M,
        "structure": {
            "dte": {"target": 40, "min": 1, "max": 60},
            "legs": [{"right": right, "side": side,
                      "select": {"by": "moneyness", "target": 1.0, "tolerance": 0.5}}],
        },
        "execution": {"slippage": 0.0, "commission_per_contract": 0.0},
    }
    payload.update(sections)
    return parse_strategy(payload)


def run(packed: PackedChain, s: StrategySpec, engine: str) -> BacktestResult:
    r = run_backtest(packed, s, engine)  # type: ignore[arg-type]
    assert r.equity[-1] == approx(s.capital + float(r.trades["pnl"].sum()))
    parts = r.daily[:, [D.pnl_delta, D.pnl_gamma, D.pnl_vega, D.pnl_theta,
                        D.pnl_costs, D.pnl_financing, D.pnl_residual]].sum(axis=1)
    assert parts == pytest.approx(np.diff(r.equity, prepend=s.capital), rel=1e-9, abs=1e-7)
    return r


# Reg-T short put at the money, broad index: IMc = 100 mark + max(0.15 S 100 - OTM, 0.10 K 100)
REGT = {"model": "regt", "broad_index": True}


def regt_put(mark: float, spot: float, strike: float = 100.0) -> float:
    return mark * M + max(0.15 * spot * M - max(spot - strike, 0.0) * M, 0.10 * strike * M)


SPOTS = [100.0, 95.0, 95.0, 95.0, 100.0]
PUT_MARKS = [2.0, 5.5, 5.5, 5.5, 2.0]


def put_chain() -> PackedChain:
    return chain(SPOTS, "P", 100.0, [{"mid": m} for m in PUT_MARKS])


def test_margin_call_after_grace_days(engine: str) -> None:
    account = {"maintenance_ratio": 1.0, "grace_days": 1, "liquidation": "full"}
    s = spec("P", "short", capital=2_000.0, risk={"margin": REGT, "account": account})
    r = run(put_chain(), s, engine)

    # day 0: IM 1700 <= equity 2000. day 1: equity 2000 + 200 - 550 = 1650 < IM 1975: call 1,
    # within grace. day 2: call 2 > grace 1: liquidated at mid 5.5 (flat from then on)
    t = r.trades
    assert t["exit_reason"].tolist()[0] == ExitReason.MARGIN_CALL
    assert (t["entry_day"][0], t["exit_day"][0]) == (0, 2)
    assert t["pnl"][0] == approx((2.0 - 5.5) * M)
    assert t["margin_per_contract"][0] == approx(regt_put(2.0, 100.0))
    assert r.daily[:, D.margin_call_days].tolist()[:3] == [0.0, 1.0, 0.0]
    assert r.daily[1, D.initial_margin] == approx(regt_put(5.5, 95.0))
    assert r.daily[1, D.maintenance_margin] == approx(regt_put(5.5, 95.0))
    assert r.equity[:3] == approx([2000.0, 1650.0, 1650.0])
    # day 3: a new entry would need IM 1975 > equity 1650: refused as capital
    assert len(t) == 1
    assert r.skips[SkipReason.CAPITAL] == 1 and r.skips.sum() == 1


def test_recovery_within_grace_resets_the_call(engine: str) -> None:
    account = {"maintenance_ratio": 1.0, "grace_days": 3}
    s = spec("P", "short", capital=2_000.0, risk={"margin": REGT, "account": account})
    r = run(put_chain(), s, engine)

    assert r.trades["exit_reason"].tolist() == [ExitReason.END_OF_DATA]
    assert r.daily[:, D.margin_call_days].tolist() == [0.0, 1.0, 2.0, 3.0, 0.0]
    assert r.trades["pnl"][0] == approx(0.0)


@pytest.mark.parametrize(("buffer", "kept"), [(0.0, 3), (0.2, 2)])
def test_partial_liquidation_to_target(engine: str, buffer: float, kept: int) -> None:
    account = {"maintenance_ratio": 1.0, "grace_days": 0, "liquidation": "target",
               "liquidation_buffer": buffer}
    s = spec("P", "short", capital=8_000.0, sizing={"contracts": 4},
             risk={"margin": REGT, "account": account})
    r = run(put_chain(), s, engine)

    # day 1: cash 8800, legs -4 * 550: equity 6600 < MM 4 * 1975 = 7900, grace 0 -> liquidate
    # K = floor(6600 / (1.0 * 1975 * (1 + buffer)))
    assert kept == math.floor(6600.0 / (1.0 * regt_put(5.5, 95.0) * (1 + buffer)))
    closed = 4 - kept
    t = r.trades
    assert t["exit_reason"].tolist() == [ExitReason.MARGIN_PARTIAL, ExitReason.END_OF_DATA]
    assert t["contracts"].tolist() == [closed, kept]
    assert t["exit_day"].tolist() == [1, 4]
    assert t["entry_day"].tolist() == [0, 0]
    f = closed / 4
    assert t["entry_cash"][0] == approx(f * 4 * 2.0 * M)
    assert t["exit_cash"][0] == approx(-closed * 5.5 * M)
    assert t["pnl"][0] == approx(closed * (2.0 - 5.5) * M)
    assert t["entry_premium"][0] == approx(-f * 4 * 2.0 * M)
    assert t["entry_cash"][1] == approx((1 - f) * 4 * 2.0 * M)
    assert t["pnl"][1] == approx(0.0)  # the rest closes at 2.0, where it was sold
    assert r.legs["exit_fill"][0] == approx(5.5)
    assert r.legs["exit_fill"][MAX_LEGS] == approx(2.0)  # trade 1's first leg row
    assert r.daily[:, D.contracts].tolist() == [4.0, kept, kept, kept, 0.0]
    # after the cut the account is out of the call: day 2 equity vs kept contracts' margin
    assert r.daily[2, D.margin_call_days] == 0.0


def test_margin_call_liquidates_on_a_stale_quote(engine: str) -> None:
    quotes: list[dict[str, float] | None] = [{"mid": m} for m in PUT_MARKS]
    quotes[2] = None  # no quote on the liquidation day
    account = {"maintenance_ratio": 1.0, "grace_days": 1}
    s = spec("P", "short", capital=2_000.0, risk={"margin": REGT, "account": account})
    r = run(chain(SPOTS, "P", 100.0, quotes), s, engine)

    # the mark carries at 5.5 and the margin at day 1's 1975: still in the call on day 2,
    # liquidated at the quote carried from day 1 (mid 5.5, slippage 0)
    t = r.trades
    assert t["exit_reason"][0] == ExitReason.MARGIN_CALL and t["exit_day"][0] == 2
    assert r.legs["exit_fill"][0] == approx(5.5)
    assert r.stale_fills == 1 and r.missing_quote_days == 1


def test_partial_liquidation_resizes_the_hedge(engine: str) -> None:
    quotes = [{"mid": m, "delta": d} for m, d in zip(PUT_MARKS, [-0.5, -0.7, -0.7, -0.7, -0.5],
                                                      strict=True)]
    account = {"maintenance_ratio": 1.0, "grace_days": 0, "liquidation": "target"}
    s = spec("P", "short", capital=8_000.0, sizing={"contracts": 4},
             risk={"margin": REGT, "account": account},
             hedge={"enabled": True, "half_width": 1_000.0, "at_entry": True})
    r = run(chain(SPOTS, "P", 100.0, quotes), s, engine)

    # entry: 4 short puts of delta -0.5 = +200 shares: the hedge sells 200. Day 1: equity
    # 6600 + 200 x 5 on the hedge = 7600 < 7900 -> keep floor(7600 / 1975) = 3, hedge -150
    assert r.daily[:, D.hedge_shares].tolist() == approx([-200.0, -150.0, -150.0, -150.0, 0.0])
    t = r.trades
    assert t["exit_reason"].tolist() == [ExitReason.MARGIN_PARTIAL, ExitReason.END_OF_DATA]
    assert t["contracts"].tolist() == [1.0, 3.0]
    # the cut row takes a quarter of the short hedge's entry and buys 50 back at 95
    assert t["hedge_pnl"][0] == approx(0.25 * 200 * 100.0 - 50 * 95.0)
    assert t["hedge_pnl"][1] == approx(0.75 * 200 * 100.0 - 150 * 100.0)


CALL_DAYS = [
    {"spot": 100.0, "mid": 3.00, "delta": 0.50},
    {"spot": 101.0, "mid": 3.50, "delta": 0.55},
    {"spot": 103.0, "mid": 4.60, "delta": 0.65},
    {"spot": 102.0, "mid": 4.00, "delta": 0.60},
]


def call_chain() -> PackedChain:
    return chain([d["spot"] for d in CALL_DAYS], "C", 100.0,
                 [{"mid": d["mid"], "delta": d["delta"]} for d in CALL_DAYS])


def hedged_short_call(rebalance_to: str) -> StrategySpec:
    return spec("C", "short", hedge={
        "enabled": True, "band": "fixed", "half_width": 10.0, "rebalance_to": rebalance_to,
        "at_entry": True, "slippage_bps": 10.0, "commission_per_share": 0.01,
    })


def hedge_trade(q: float, spot: float) -> tuple[float, float]:
    """(cash flow, cost) of buying q shares (selling when q < 0) at 10 bps and 0.01/share."""
    fill = spot * (1 + math.copysign(10.0, q) / 1e4)
    return -q * fill - abs(q) * 0.01, abs(q) * spot * 10.0 / 1e4 + abs(q) * 0.01


@pytest.mark.parametrize(("rebalance_to", "bought_day2"), [("center", 15.0), ("boundary", 5.0)])
def test_hedge_band_crossing(engine: str, rebalance_to: str, bought_day2: float) -> None:
    r = run(call_chain(), hedged_short_call(rebalance_to), engine)

    # entry: option delta -50 shares -> buy 50. day 1: net -55 + 50 = -5, inside +-10.
    # day 2: net -65 + 50 = -15 crosses the band: to the centre (buy 15) or the edge -10 (buy 5)
    held = 50.0 + bought_day2
    assert r.daily[:, D.hedge_shares].tolist() == approx([50.0, 50.0, held, 0.0])
    assert r.daily[:, D.delta].tolist()[:3] == approx([-50.0, -55.0, -65.0])
    assert r.daily[2, D.net_delta] == approx(held - 65.0)
    flows = [hedge_trade(50.0, 100.0), hedge_trade(bought_day2, 103.0), hedge_trade(-held, 102.0)]
    t = r.trades[0]
    assert t["exit_reason"] == ExitReason.END_OF_DATA
    assert t["hedge_pnl"] == approx(math.fsum(f for f, _ in flows))
    assert t["hedge_cost"] == approx(math.fsum(c for _, c in flows))
    assert t["pnl"] == approx((3.00 - 4.00) * M + t["hedge_pnl"])


@pytest.mark.parametrize(
    ("band_units", "rebalance_to", "held"),
    [("per_contract", "center", [100.0, 100.0, 130.0]),
     ("position", "center", [100.0, 110.0, 130.0]),
     ("per_contract", "boundary", [100.0, 100.0, 114.0]),
     ("position", "boundary", [100.0, 102.0, 122.0])],
)
def test_hedge_band_for_the_whole_position(
    engine: str, band_units: str, rebalance_to: str, held: list[float]
) -> None:
    s = spec("C", "short", sizing={"contracts": 2}, hedge={
        "enabled": True, "band": "fixed", "half_width": 8.0, "band_units": band_units,
        "rebalance_to": rebalance_to, "at_entry": True, "slippage_bps": 10.0,
        "commission_per_share": 0.01,
    })
    r = run(call_chain(), s, engine)

    # 2 short calls: option delta -100, -110, -130 shares; the entry buys 100.
    # per_contract: 8 shares per contract; day 1 net -110 + 100 = -10, i.e. -5 per contract:
    # inside. Day 2 -130 + 100 = -30 (-15 per contract) is out: to the centre, buy 30; to the
    # edge -8 per contract (-16 for the position), buy 14.
    # position: 8 shares for the whole position (4 per contract); day 1's -10 is out: buy 10
    # to the centre (day 2: -130 + 110 = -20, buy 20) or 2 to the edge -8 (day 2: -130 + 102
    # = -28, buy 20 to -8).
    assert r.daily[:, D.hedge_shares].tolist() == approx([*held, 0.0])
    assert r.daily[:, D.delta].tolist()[:3] == approx([-100.0, -110.0, -130.0])
    spots = [d["spot"] for d in CALL_DAYS]
    trades = np.diff([0.0, *held, 0.0])
    flows = [hedge_trade(q, spot) for q, spot in zip(trades, spots, strict=True) if q != 0]
    t = r.trades[0]
    assert t["hedge_pnl"] == approx(math.fsum(f for f, _ in flows))
    assert t["hedge_cost"] == approx(math.fsum(c for _, c in flows))
    assert t["pnl"] == approx(2 * (3.00 - 4.00) * M + t["hedge_pnl"])


@pytest.mark.parametrize(("band_units", "held"), [("per_contract", [200.0, 200.0, 200.0]),
                                                  ("position", [200.0, 210.0, 230.0])])
def test_whalley_wilmott_band_for_the_whole_position(
    engine: str, band_units: str, held: list[float]
) -> None:
    quotes = [{"mid": m, "delta": d, "gamma": 0.02, "iv": 0.2}
              for m, d in zip([3.00, 3.40, 3.90, 3.50], [0.50, 0.55, 0.60, 0.52], strict=True)]
    s = spec("C", "short", sizing={"contracts": 4}, hedge={
        "enabled": True, "band": "ww", "band_units": band_units, "ww_c": 1000.0,
        "ww_fee": 0.016, "ww_max": 50.0, "rebalance_to": "boundary", "at_entry": True,
        "commission_per_share": 0.01,
    })
    r = run(chain([100.0] * 4, "C", 100.0, quotes), s, engine)

    # gamma per contract -1 x 100 x 0.02 = -2, sigma 0.2, S = 100: |gamma| sigma S^2 = 4,000
    # per contract, 16,000 for the 4 contracts. per_contract: hw = 1000 (0.016 / 4000)^(1/3)
    # = 15.87 shares per contract, never crossed (net -5, then -10). position: hw =
    # 1000 (0.016 / 16000)^(1/3) = 10 shares for the position, 2.5 per contract. The entry
    # buys 4 x 50 = 200; day 1 net -55 + 50 = -5 per contract: buy 4 x 2.5 = 10 to the edge;
    # day 2 -60 + 52.5 = -7.5: buy 4 x 5 = 20
    assert 1000.0 * (0.016 / 4000.0) ** (1 / 3) == pytest.approx(15.874, abs=1e-3)
    assert 1000.0 * (0.016 / 16000.0) ** (1 / 3) == pytest.approx(10.0, rel=1e-12)
    assert r.daily[:, D.hedge_shares].tolist() == approx([*held, 0.0])
    t = r.trades[0]
    # spot never moves: the hedge's P&L is its commissions, 0.01 a share bought and sold
    assert t["hedge_cost"] == approx(2 * held[-1] * 0.01)
    assert t["hedge_pnl"] == approx(-2 * held[-1] * 0.01)
    assert t["pnl"] == approx(4 * (3.00 - 3.50) * M + t["hedge_pnl"])


ATTR_DAYS = [  # a long call with vendor greeks: delta, gamma, vega per vol point, theta per day
    {"spot": 100.0, "mid": 3.00, "delta": 0.5, "gamma": 0.04, "vega": 0.2, "theta": -0.05,
     "iv": 0.20},
    {"spot": 102.0, "mid": 4.23, "delta": 0.6, "gamma": 0.05, "vega": 0.25, "theta": -0.06,
     "iv": 0.21},
    {"spot": 101.0, "mid": 3.60, "delta": 0.55, "gamma": 0.05, "vega": 0.25, "theta": -0.06,
     "iv": 0.20},
]


def test_attribution_of_a_day(engine: str) -> None:
    packed = chain([d["spot"] for d in ATTR_DAYS], "C", 100.0, ATTR_DAYS)
    s = spec("C", "long", execution={"slippage": 0.5, "commission_per_contract": 1.0})
    r = run(packed, s, engine)
    d = r.daily

    # day 0: entry pays half the spread (0.025) and a commission of 1: all of it is cost
    assert d[0, D.pnl_costs] == approx(-(0.025 * M + 1.0))
    assert d[0, D.pnl_residual] == approx(0.0)
    # day 1 with day 0's greeks: delta 50 sh x 2, gamma 1/2 x 4 x 2^2, vega 20 x 1 pt, theta -5
    assert d[1, D.pnl_delta] == approx(50.0 * 2.0)
    assert d[1, D.pnl_gamma] == approx(0.5 * 4.0 * 4.0)
    assert d[1, D.pnl_vega] == approx(20.0 * (0.21 - 0.20) * 100)
    assert d[1, D.pnl_theta] == approx(-5.0 * 1)
    assert d[1, D.pnl_residual] == approx((4.23 - 3.00) * M - (100 + 8 + 20 - 5))
    assert d[1, [D.delta, D.gamma, D.vega, D.theta]].tolist() == approx(
        [60.0, 5.0, 25.0, -6.0])
    # day 2 (last): exit at 3.60 - 0.025 with commission 1
    assert d[2, D.pnl_costs] == approx(-(0.025 * M + 1.0))
    assert d[2, D.pnl_delta] == approx(60.0 * -1.0)
    assert d[2, D.contracts] == 0.0 and d[2, D.delta] == 0.0


def test_risk_budget_sizes_on_the_worst_stress_loss(engine: str) -> None:
    packed = chain(SPOTS, "P", 100.0, [{"mid": m, "iv": 0.2} for m in PUT_MARKS])
    s = spec("P", "short", sizing={"risk_budget": 0.05, "max_contracts": 50},
             risk={"stress": {"spot": [-0.10, 0.0, 0.10], "vol": [0.0, 0.05]}})
    r = run(packed, s, engine)

    from gridbt.data import blackscholes

    years = (EXP - MON).days / 365.0
    base = float(blackscholes.price(100.0, 100.0, years, 0.0, 0.0, 0.2, False))
    worst = float(blackscholes.price(90.0, 100.0, years, 0.0, 0.0, 0.25, False))
    loss = (worst - base) * M
    t = r.trades[0]
    assert t["risk_per_contract"] == pytest.approx(loss, rel=1e-9)
    assert t["worst_scenario"] == 1  # (spot -10%, vol +5): second point of the spot-major grid
    expected = math.floor(100_000.0 * 0.05 / t["risk_per_contract"])
    assert t["contracts"] == expected
    assert t["risk_contracts"] == expected
    assert t["sizing_binding"] == SizingBinding.RISK_BUDGET
