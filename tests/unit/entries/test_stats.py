"""Buckets against a plain loop, and the statistics table against the candidates table it
summarises."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridbt.entries.engine import find_candidates
from gridbt.entries.spec import BucketsConfig
from gridbt.entries.stats import assign, buckets_of, candidates_table, entries_table
from gridbt.strategy.spec import ExitConfig
from tests.unit.entries.conftest import market_chain, structure_strategy


def _reference(value: float, edges: list[float], top: float, closed: bool) -> int:
    """The bucket of docs/entries.md, by a loop: [e_j, e_j+1), then [e_k, top] or [e_k, top)."""
    if not math.isfinite(value):
        return -1
    for j in range(len(edges) - 1):
        if edges[j] <= value < edges[j + 1]:
            return j
    if top >= edges[-1] and edges[-1] <= value and (value <= top if closed else value < top):
        return len(edges) - 1
    return -1


@settings(max_examples=60, deadline=None)
@given(edges=st.lists(st.integers(0, 60), min_size=1, max_size=6, unique=True),
       top=st.integers(0, 70), closed=st.booleans(),
       values=st.lists(st.one_of(st.integers(-5, 80).map(float), st.just(float("nan"))),
                       min_size=1, max_size=40))
def test_buckets_match_a_plain_loop(edges: list[int], top: int, closed: bool,
                                    values: list[float]) -> None:
    edges_f = [float(e) for e in sorted(edges)]
    buckets = buckets_of(edges_f, float(top), closed)
    if not buckets:  # one edge above the top: nothing can be bucketed
        assert len(edges_f) == 1 and top < edges_f[0]
        return
    got = assign(np.array(values), buckets)
    assert got.tolist() == [_reference(v, edges_f, top, closed) for v in values]


def test_the_table_summarises_the_candidates_file() -> None:
    packed = market_chain()
    rules = [ExitConfig(), ExitConfig(profit_target=0.5, stop_loss=1.0)]
    spec = structure_strategy("put_spread", {"commission_per_contract": 0.65}, rules[0])
    found = find_candidates(packed, spec, rules)
    buckets = BucketsConfig(dte=[10, 30], delta=[0.1, 0.3])
    labels = ["hold", "managed"]
    table = entries_table(packed, found, buckets, 60, labels).to_pylist()
    rows = candidates_table(packed, found, labels).to_pylist()
    assert len(rows) == 2 * found.count
    for row in table:
        pnl = np.array([
            r["pnl"] for r in rows
            if r["exit_rule"] == row["exit_rule"]
            and row["dte_low"] <= r["dte"] and (r["dte"] < row["dte_high"]
                                               or (row["dte_high"] == 60 and r["dte"] <= 60))
            and row["delta_low"] <= r["abs_delta"]
            and (r["abs_delta"] < row["delta_high"] or row["delta_high"] == 1.0)
        ])
        assert row["count"] == pnl.size
        if pnl.size:
            assert row["mean"] == pytest.approx(pnl.mean())
            assert row["median"] == pytest.approx(np.median(pnl))
            assert row["win_rate"] == pytest.approx((pnl > 0).mean())
