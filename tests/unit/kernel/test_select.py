"""Strike selection scans only the run of strikes that can be in range
(`select_nb._candidate_run_nb`, two binary searches) by moneyness or offset, and by delta when
the expiry's |delta| order in the strike is known (`delta_order_nb`): it must pick the row, and
report the status, a scan of the whole expiry would (docs/semantics.md, step 2.6)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gridbt.kernel.enums import SelectBy
from gridbt.kernel.select_nb import delta_order_nb, select_strike_nb
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


@st.composite
def _delta_expiry(draw: st.DrawFn) -> Quotes:
    """One expiry's quotes in ascending strike whose |delta| runs up the strikes (puts), down
    them (calls), or neither (noise, a NaN delta), with equal neighbours, unquoted and illiquid
    rows, open interest and volume spread out so that the delta score's depth and spread terms
    matter."""
    n = draw(st.integers(1, 40))
    strike = np.cumsum(np.full(n, 5.0)) + 3000.0
    steps = np.array(draw(st.lists(st.sampled_from([0.0, 0.01, 0.02, 0.05, 0.1]), min_size=n,
                                   max_size=n)))
    shape = draw(st.sampled_from(["up", "down", "noise", "nan"]))
    delta = np.minimum(np.cumsum(steps), 1.0)
    if shape == "down":
        delta = delta[::-1].copy()
    elif shape == "noise":
        delta = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n)))
    elif shape == "nan":
        delta[draw(st.integers(0, n - 1))] = np.nan
    signed = -delta if draw(st.booleans()) else delta  # puts carry a negative delta
    bid = np.array(draw(st.lists(st.sampled_from([np.nan, 0.0, 0.05, 1.0, 2.5]), min_size=n,
                                 max_size=n)))
    ask = bid + np.array(draw(st.lists(st.sampled_from([0.05, 0.5, 3.0]), min_size=n,
                                       max_size=n)))
    oi = np.array(draw(st.lists(st.sampled_from([-1, 0, 10, 500]), min_size=n, max_size=n)),
                  dtype=np.int64)
    vol = np.array(draw(st.lists(st.sampled_from([-1, 0, 3, 90]), min_size=n, max_size=n)),
                   dtype=np.int64)
    return Quotes(bid, ask, strike, signed, oi, vol, np.log1p(np.maximum(oi, 0)),
                  np.log1p(np.maximum(vol, 0)))


@settings(max_examples=500, deadline=None)
@given(data=st.data(), quotes=_delta_expiry())
def test_delta_with_a_known_order_picks_what_a_full_scan_picks(data: st.DataObject,
                                                               quotes: Quotes) -> None:
    """`delta_order_nb` flags the expiry; with its flag, selection by delta scans only the run
    that can be in range and must agree with the scan of every strike (order 0)."""
    n = len(quotes.strike)
    order = np.empty(1, dtype=np.int8)
    delta_order_nb(np.array([0, n], dtype=np.int64), quotes.delta, order)
    magnitude = np.abs(quotes.delta)
    if np.isfinite(magnitude).all():
        assert order[0] == (1 if (np.diff(magnitude) >= 0).all()
                            else -1 if (np.diff(magnitude) <= 0).all() else 0)
    else:
        assert order[0] == 0
    target = data.draw(st.one_of(st.sampled_from(list(np.nan_to_num(magnitude))),
                                 st.floats(0.0, 1.0)))
    tol = data.draw(st.sampled_from([0.01, 0.05, 0.1, 1.0, np.nan]))  # the spec: > 0
    min_oi = data.draw(st.sampled_from([0.0, 10.0]))
    min_volume = data.draw(st.sampled_from([0.0, 3.0]))
    max_spread = data.draw(st.sampled_from([np.nan, 0.5, 2.0]))
    args = (quotes, 0, n, SelectBy.DELTA, target, tol, 3000.0, min_oi, min_volume, max_spread)
    assert tuple(select_strike_nb(*args, int(order[0]))) == tuple(select_strike_nb(*args, 0))
