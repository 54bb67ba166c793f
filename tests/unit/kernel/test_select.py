"""Strike selection by moneyness or offset scans only the run of strikes that can be in range
(`select_nb._candidate_run_nb`, two binary searches): it must pick the row, and report the
status, a scan of the whole expiry would (docs/semantics.md, step 2.6)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gridbt.kernel.enums import SelectBy
from gridbt.kernel.select_nb import select_strike_nb
from gridbt.kernel.state import Quotes


def _full_scan(quotes: Quotes, by: int, target: float, tol: float, spot: float, min_oi: float,
               max_spread: float) -> tuple[int, int]:
    """Step 2.6 over every row, in plain Python: the first row of the smallest distance among
    the quoted, in-range, liquid ones; status 1 when none is in range, 2 when none liquid."""
    in_range = False
    best, best_dist = -1, math.inf
    for q in range(len(quotes.strike)):
        bid, ask = quotes.bid[q], quotes.ask[q]
        mid = 0.5 * (bid + ask)
        if not mid > 0.0:
            continue
        x = quotes.strike[q] / spot if by == SelectBy.MONEYNESS else quotes.strike[q]
        dist = abs(x - target)
        if not dist <= tol:
            continue
        in_range = True
        if max(quotes.open_interest[q], 0) < min_oi or (ask - bid) / mid > max_spread:
            continue
        if dist < best_dist:
            best, best_dist = q, dist
    if not in_range:
        return -1, 1
    return (best, 0) if best >= 0 else (-1, 2)


@st.composite
def _expiry(draw: st.DrawFn) -> tuple[Quotes, float]:
    """One expiry's quotes in ascending strike (steps of 0.5 to 25 points, some unquoted or
    illiquid) and a spot."""
    n = draw(st.integers(1, 40))
    steps = draw(st.lists(st.sampled_from([0.5, 1.0, 2.5, 5.0, 25.0]), min_size=n, max_size=n))
    strike = np.cumsum(steps) + draw(st.sampled_from([5.0, 100.0, 3000.0]))
    bid = np.array(draw(st.lists(st.sampled_from([np.nan, 0.0, 0.05, 1.0, 2.5]),
                                 min_size=n, max_size=n)))
    ask = bid + np.array(draw(st.lists(st.sampled_from([0.05, 0.5, 3.0]), min_size=n,
                                       max_size=n)))
    oi = np.array(draw(st.lists(st.sampled_from([-1, 0, 10, 500]), min_size=n, max_size=n)),
                  dtype=np.int64)
    zeros = np.zeros(n)
    quotes = Quotes(bid, ask, strike, zeros, oi, oi, zeros, zeros)
    return quotes, float(strike[draw(st.integers(0, n - 1))])


@settings(max_examples=400, deadline=None)
@given(data=st.data(), expiry=_expiry())
def test_moneyness_and_offset_pick_what_a_full_scan_picks(data: st.DataObject,
                                                          expiry: tuple[Quotes, float]) -> None:
    quotes, spot = expiry
    by = data.draw(st.sampled_from([SelectBy.MONEYNESS, SelectBy.OFFSET]))
    strikes = quotes.strike
    if by == SelectBy.OFFSET:
        # targets on a strike, between two, beyond either end; tolerances hitting strikes exactly
        target = data.draw(st.one_of(st.sampled_from(list(strikes)),
                                     st.floats(strikes[0] - 30, strikes[-1] + 30)))
        tol = data.draw(st.sampled_from([0.0, 0.5, 1.0, 2.5, 5.0, 100.0, np.nan]))
    else:
        target = data.draw(st.one_of(st.sampled_from(list(strikes / spot)),
                                     st.floats(0.5, 1.5)))
        tol = data.draw(st.sampled_from([0.0, 0.001, 0.02, 0.1, 1.0, np.nan]))
    min_oi = data.draw(st.sampled_from([0.0, 10.0, 1000.0]))
    max_spread = data.draw(st.sampled_from([np.nan, 0.5, 2.0]))
    n = len(strikes)
    got = select_strike_nb(quotes, 0, n, by, target, tol, spot, min_oi, 0.0, max_spread)
    assert tuple(got) == _full_scan(quotes, by, target, tol, spot, min_oi, max_spread)
