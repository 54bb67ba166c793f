"""A hand-computed scenario: three short-put candidates on a five-day chain, three exit rules.

Days d0..d4 = 2024-01-02, 03, 04, 05, 08; spot 100, 98, 96, 97, 99. Expiries E1 = 01-05
(DTE 3 on d0), E2 = 01-12 (DTE 10). Only d0's quotes have open interest, so with the leg's
`min_open_interest: 10` the candidates are d0's three puts:

- A: E1 K100, bid/ask 2.0/2.2, delta -0.50; marks 3.1 (d1), 4.2 (d2); settles at 3 on d3.
- B: E2 K95, 1.0/1.2, delta -0.25; marks 1.5 (d1, ask 1.6), missing on d2, 0.6 (d3), 0.4 (d4).
- C: E2 K90, 0.4/0.6, delta -0.10: below the first delta edge, in no bucket.

Fills at bid/ask (slippage 1), commission 0.65, multiplier 100. Selling at the bid: A's entry
cash 200 - 0.65 = 199.35 (premium on mids C = 2.1), B's 100 - 0.65 = 99.35 (C = 1.1).

- `{}` (hold): A settles on d3 at 100 - 97 = 3: 199.35 - 300 = -100.65 (a loss: short sign).
  B is open at the end of data (d4), bought back at the ask 0.5: 99.35 - 50.65 = 48.70.
- `{profit_target: 0.4}`: A never profits: -100.65 at expiry. B: on d3 its mid P&L is
  1.1 - 0.6 = 0.5 >= 0.4 x 1.1: bought back at 0.7: 99.35 - 70.65 = 28.70.
- `{stop_loss: 0.4, max_holding_days: 2}`: A on d1: 2.1 - 3.1 = -1.0 <= -0.84: stop, bought
  at 3.2: 199.35 - 320.65 = -121.30. B on d1: -0.4 > -0.44; on d2 (held 2 days) it is not
  quoted: max holding, filled stale at d1's ask 1.6: 99.35 - 160.65 = -61.30.

Buckets: DTE edges [2, 5] with the window's max 12 give [2,5) and the kept last [5,12]; A is in
[2,5), B in [5,12]. Risk (a short put's max loss, strike x 100 - entry cash): A 9,800.65,
B 9,400.65.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from gridbt.data.pack import PackedChain, pack_chain
from gridbt.entries.engine import find_candidates
from gridbt.entries.spec import BucketsConfig
from gridbt.entries.stats import entries_table
from gridbt.kernel.enums import ExitReason
from gridbt.strategy.spec import ExitConfig, StrategySpec, parse_strategy
from gridbt.testing import ChainQuote, chain_from_quotes

D = [dt.date(2024, 1, d) for d in (2, 3, 4, 5, 8)]
SPOT = [100.0, 98.0, 96.0, 97.0, 99.0]
E1, E2 = dt.date(2024, 1, 5), dt.date(2024, 1, 12)
RULES = [ExitConfig(), ExitConfig(profit_target=0.4),
         ExitConfig(stop_loss=0.4, max_holding_days=2)]


def _q(day: int, expiry: dt.date, strike: float, bid: float, ask: float,
       delta: float) -> ChainQuote:
    return ChainQuote(D[day], expiry, strike, "P", bid, ask, SPOT[day], delta=delta,
                      open_interest=1000 if day == 0 else 0)


def scenario_chain() -> PackedChain:
    quotes = [
        _q(0, E1, 100.0, 2.0, 2.2, -0.50), _q(1, E1, 100.0, 3.0, 3.2, -0.6),
        _q(2, E1, 100.0, 4.0, 4.4, -0.7), _q(3, E1, 100.0, 2.9, 3.1, -0.9),
        _q(0, E2, 95.0, 1.0, 1.2, -0.25), _q(1, E2, 95.0, 1.4, 1.6, -0.3),
        _q(3, E2, 95.0, 0.5, 0.7, -0.2), _q(4, E2, 95.0, 0.3, 0.5, -0.1),
        _q(0, E2, 90.0, 0.4, 0.6, -0.10), _q(1, E2, 90.0, 0.7, 0.9, -0.1),
        _q(2, E2, 90.0, 0.8, 1.0, -0.1), _q(3, E2, 90.0, 0.3, 0.5, -0.1),
        _q(4, E2, 90.0, 0.1, 0.3, -0.05),
    ]
    return pack_chain(chain_from_quotes(quotes))


def scenario_strategy() -> StrategySpec:
    return parse_strategy({
        "structure": {"dte": {"target": 10, "min": 1, "max": 12},
                      "legs": [{"right": "P", "side": "short", "min_open_interest": 10,
                                "select": {"by": "delta", "target": 0.3}}]},
        "execution": {"slippage": 1.0, "commission_per_contract": 0.65},
    })


def test_three_candidates_by_hand() -> None:
    packed = scenario_chain()
    found = find_candidates(packed, scenario_strategy(), RULES)
    assert found.count == 3 and (found.day == 0).all()
    strikes = packed.quote_strike[found.rows[:, 0]]
    a, b, c = (int(np.flatnonzero(strikes == k)[0]) for k in (100.0, 95.0, 90.0))
    assert found.entry_cash[[a, b, c]] == pytest.approx([199.35, 99.35, 39.35])
    expected = {  # rule: (A's P&L, reason, exit day), (B's ...)
        0: ((-100.65, ExitReason.EXPIRY, 3), (48.70, ExitReason.END_OF_DATA, 4)),
        1: ((-100.65, ExitReason.EXPIRY, 3), (28.70, ExitReason.PROFIT_TARGET, 3)),
        2: ((-121.30, ExitReason.STOP_LOSS, 1), (-61.30, ExitReason.MAX_HOLDING, 2)),
    }
    for r, outcomes in expected.items():
        for k, (pnl, reason, day) in zip((a, b), outcomes, strict=True):
            assert found.pnl[r, k] == pytest.approx(pnl, abs=1e-9), (r, k)
            assert found.exit_reason[r, k] == reason
            assert found.exit_day[r, k] == day
    assert found.risk[[a, b]] == pytest.approx([9800.65, 9400.65])


def test_the_buckets_keep_the_last_partial_one() -> None:
    packed = scenario_chain()
    found = find_candidates(packed, scenario_strategy(), RULES)
    buckets = BucketsConfig(dte=[2, 5], delta=[0.2, 0.4])
    table = entries_table(packed, found, buckets, 12, ["hold", "pt", "sl+hold"]).to_pylist()
    assert len(table) == 3 * 2 * 2  # rules x DTE buckets x delta buckets, empty ones included
    assert {r["dte_bucket"] for r in table} == {"[2,5)", "[5,12]"}
    assert {r["delta_bucket"] for r in table} == {"[0.2,0.4)", "[0.4,1]"}
    full = {(r["exit_rule"], r["dte_bucket"], r["delta_bucket"]): r for r in table
            if r["count"]}
    assert sorted(full) == sorted(
        (rule, dte, delta) for rule in ("hold", "pt", "sl+hold")
        for dte, delta in (("[2,5)", "[0.4,1]"), ("[5,12]", "[0.2,0.4)"))
    )  # C (|delta| 0.10) is in no bucket
    a = full[("hold", "[2,5)", "[0.4,1]")]
    assert a["count"] == 1 and a["mean"] == pytest.approx(-100.65)
    assert a["win_rate"] == 0.0 and a["risk_mean"] == pytest.approx(-100.65 / 9800.65)
    assert a["days_held_mean"] == 3.0
    b = full[("pt", "[5,12]", "[0.2,0.4)")]
    assert b["median"] == pytest.approx(28.70) and b["win_rate"] == 1.0
    assert full[("sl+hold", "[5,12]", "[0.2,0.4)")]["mean"] == pytest.approx(-61.30)


def test_buckets_end_below_the_window() -> None:
    """A window max below the last edge: no last bucket, and what lies above is in none."""
    packed = scenario_chain()
    found = find_candidates(packed, scenario_strategy(), RULES[:1])
    table = entries_table(packed, found, BucketsConfig(dte=[2, 5, 20], moneyness=[-0.2, 0.0]),
                          12, ["hold"]).to_pylist()
    assert [r["dte_bucket"] for r in table][::2] == ["[2,5)", "[5,20)"]
    counts = {(r["dte_bucket"], r["moneyness_bucket"]): r["count"] for r in table}
    # moneyness: A 100/100 - 1 = 0 -> [0,inf); B -0.05 and C -0.10 -> [-0.2,0)
    assert counts == {("[2,5)", "[-0.2,0)"): 0, ("[2,5)", "[0,inf)"): 1,
                      ("[5,20)", "[-0.2,0)"): 2, ("[5,20)", "[0,inf)"): 0}
