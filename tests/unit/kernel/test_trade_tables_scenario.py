"""A hand-computed trade-table scenario: one short put quoted on six days, a 50% profit
target, no same-day re-entry. The tables hold the put's path; the walk books two trades whose
P&L is worked out below, and agrees with the day kernel."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from gridbt.data.pack import PackedChain, pack_chain
from gridbt.kernel.dispatch import run_batch
from gridbt.kernel.metrics import kpis_to_dict
from gridbt.kernel.tables import build_tables, run_batch_tables, trade_path
from gridbt.strategy.encode import encode_spec
from gridbt.strategy.spec import parse_strategy
from gridbt.testing import ChainQuote, chain_from_quotes

START = dt.date(2024, 1, 1)  # a Monday
MIDS = (2.0, 1.8, 1.5, 0.9, 0.8, 0.7)  # the put's mid on days 0..5
CAPITAL = 10_000.0


@pytest.fixture(scope="module")
def chain() -> PackedChain:
    days = [START + dt.timedelta(days=i) for i in (0, 1, 2, 3, 4, 7)]  # Mon-Fri, Mon
    quotes = [
        ChainQuote(date=day, expiry=START + dt.timedelta(days=30), strike=95.0, right="P",
                   bid=mid - 0.05, ask=mid + 0.05, spot=100.0, delta=-0.3)
        for day, mid in zip(days, MIDS, strict=True)
    ]
    return pack_chain(chain_from_quotes(quotes), fingerprint="scenario")


def _row(chain: PackedChain) -> np.ndarray:
    spec = parse_strategy({
        "name": "scenario",
        "capital": CAPITAL,
        "structure": {
            "dte": {"target": 30, "min": 1, "max": 90},
            "legs": [{"right": "P", "side": "short",
                      "select": {"by": "moneyness", "target": 0.95, "tolerance": 0.25}}],
        },
        "exit": {"profit_target": 0.5, "stop_loss": None, "dte": None},
        "reentry": {"same_day": False},
        "execution": {"slippage": 0.0, "commission_per_contract": 0.65},
    })
    return encode_spec(spec, chain)


def test_tables_hold_the_puts_path(chain: PackedChain) -> None:
    tables = build_tables(chain, _row(chain))
    assert list(tables.skip) == [-1, -1, -1, -1, -1, -2]  # no entry on the last day
    # entered on day 0: held through days 1..5, the last one the end of the data
    assert tables.length[0] == 5
    assert tables.value_entry[0] == pytest.approx(-2.0)  # short one unit at mid 2.0
    path = trade_path(chain, tables, 0)
    np.testing.assert_allclose(path.value, [-m for m in MIDS[1:]])
    pnl = (trade_path(chain, tables, 2).value - tables.value_entry[2]) * 100.0  # entered at 1.5
    np.testing.assert_allclose(pnl, [150.0 - 90.0, 150.0 - 80.0, 150.0 - 70.0])
    np.testing.assert_allclose(path.short_delta, 0.3)
    assert np.all(path.flags == 1)  # the one leg quoted every day


def test_walk_books_the_hand_computed_trades(chain: PackedChain) -> None:
    rows = _row(chain)[None, :]
    out = run_batch_tables(chain, rows, np.array([True]), min_group_rows=0)
    # trade 1: sell at 2.00 on day 0; P&L per unit 2.0 - mid reaches 50% of 2.0 at mid 0.9
    # (day 3): 100 x (2.0 - 0.9) - 2 x 0.65 = 108.7. No re-entry on day 3: trade 2 sells
    # at 0.80 on day 4 and is closed at the end of the data (day 5) at 0.70:
    # 100 x 0.1 - 1.3 = 8.7.
    kpis = kpis_to_dict(out.kpis[0])
    assert kpis["trade_count"] == 2
    assert kpis["total_pnl"] == pytest.approx(108.7 + 8.7)
    expected = CAPITAL + np.array([200 - 200 - 0.65,  # day 0: cash +200 - 0.65, short put -200
                                   200 - 180 - 0.65, 200 - 150 - 0.65, 108.7,
                                   108.7 + 80 - 80 - 0.65, 108.7 + 8.7])
    np.testing.assert_allclose(out.equity[0], expected)
    day = run_batch(chain, rows, np.array([True]))
    np.testing.assert_array_equal(out.outcome, day.outcome)
    np.testing.assert_allclose(out.kpis, day.kpis, rtol=1e-9, equal_nan=True)
