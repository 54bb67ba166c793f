"""Differential property tests: the numba kernel and the Python reference agree on random
chains and random strategies — every equity value, trade field, leg field and counter — with
a random day window (docs/semantics.md, Day window) in about a third of the examples."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridbt.data import blackscholes
from gridbt.data.pack import PackedChain, pack_chain
from gridbt.kernel.contract import D, leg_dt, trade_dt
from gridbt.kernel.enums import ExitReason, SizingBinding, SkipReason
from gridbt.kernel.result import BacktestResult
from gridbt.results.tables import DAILY_COLUMNS
from gridbt.strategy.backtest import run_backtest
from gridbt.strategy.spec import StrategySpec, parse_strategy
from gridbt.testing import ChainQuote, chain_from_quotes

RTOL = 1e-9
START = dt.date(2024, 1, 1)


@st.composite
def random_chains(draw: st.DrawFn) -> PackedChain:
    """A few weeks of quotes: random-walk spot, 2-4 expiries, a strike grid around spot,
    random spreads, holes (missing quotes), zero bids, missing volume/OI and NaN deltas."""
    n_days = draw(st.integers(8, 40))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    days = [
        START + dt.timedelta(days=i)
        for i in range(int(n_days * 1.5))
        if (START + dt.timedelta(days=i)).weekday() < 5
    ][:n_days]
    spot = 100.0 * np.exp(
        np.cumsum(rng.normal(0, draw(st.sampled_from([0.005, 0.02, 0.05])), n_days))
    )
    n_exp = draw(st.integers(2, 4))
    expiries = sorted(
        {
            days[0] + dt.timedelta(days=int(x))
            for x in rng.integers(3, int(n_days * 1.6) + 10, n_exp)
        }
    )
    step = draw(st.sampled_from([2.5, 5.0]))
    strikes = np.arange(70.0, 135.0, step)
    hole_rate = draw(st.sampled_from([0.0, 0.02, 0.15]))
    vol = draw(st.sampled_from([0.15, 0.3, 0.6]))
    quotes = []
    for d, day in enumerate(days):
        for expiry in expiries:
            if expiry < day:
                continue
            years = (expiry - day).days / 365.0
            for right in ("C", "P"):
                is_call = right == "C"
                smile = vol * (1 + 0.3 * (100.0 / strikes - 1))
                mid = blackscholes.price(spot[d], strikes, years, 0.0, 0.0, smile, is_call)
                greeks = blackscholes.greeks(spot[d], strikes, years, 0.0, 0.0, smile, is_call)
                delta = greeks.delta
                for k, strike in enumerate(strikes):
                    if rng.random() < hole_rate:
                        continue
                    half = max(0.01, mid[k] * rng.uniform(0.005, 0.15))
                    bid = max(round(mid[k] - half, 2), 0.0)
                    ask = round(mid[k] + half, 2) + 0.01
                    quotes.append(
                        ChainQuote(
                            date=day,
                            expiry=expiry,
                            strike=float(strike),
                            right=right,
                            bid=bid,
                            ask=ask,
                            spot=float(spot[d]),
                            delta=float(delta[k]) if rng.random() > 0.02 else float("nan"),
                            iv=float(smile[k]) if rng.random() > 0.01 else float("nan"),
                            gamma=float(greeks.gamma[k]) if rng.random() > 0.02 else float("nan"),
                            vega=float(greeks.vega[k]),
                            theta=float(greeks.theta[k]),
                            volume=None if rng.random() < 0.05 else int(rng.integers(0, 500)),
                            open_interest=None
                            if rng.random() < 0.05
                            else int(rng.integers(0, 5000)),
                        )
                    )
    packed = pack_chain(chain_from_quotes(quotes))
    # a noisy daily series for z-score signals and filters
    noise = rng.normal(0.0, 1.0, packed.n_days).cumsum()
    names = packed.feature_names + ("noise",)
    return dataclasses.replace(
        packed, features=np.vstack([packed.features, noise]), feature_names=names
    )


def _select(draw: st.DrawFn, leg_index: int) -> dict[str, object]:
    kind = draw(
        st.sampled_from(
            ["delta", "delta", "moneyness", "offset"]
            if leg_index
            else ["delta", "delta", "moneyness"]
        )
    )
    if kind == "delta":
        return {
            "by": "delta",
            "target": draw(st.floats(0.05, 0.6)),
            "tolerance": draw(st.sampled_from([0.05, 0.1, 0.3])),
        }
    if kind == "moneyness":
        return {
            "by": "moneyness",
            "target": draw(st.floats(0.8, 1.2)),
            "tolerance": draw(st.sampled_from([0.02, 0.05, 0.2])),
        }
    return {
        "by": "offset",
        "of": draw(st.integers(0, leg_index - 1)),
        "points": draw(st.sampled_from([-10.0, -5.0, 0.0, 5.0, 10.0])),
        "tolerance": draw(st.sampled_from([0.0, 2.5, 10.0])),
    }


def _maybe(draw: st.DrawFn, values: st.SearchStrategy[object]) -> object:
    return draw(st.one_of(st.none(), values))


@st.composite
def random_specs(draw: st.DrawFn) -> StrategySpec:
    n_legs = draw(st.integers(1, 4))
    two_groups = n_legs > 1 and draw(st.booleans())
    legs = []
    for i in range(n_legs):
        leg: dict[str, object] = {
            "right": draw(st.sampled_from(["C", "P"])),
            "side": draw(st.sampled_from(["long", "short"])),
            "qty": draw(st.integers(1, 3)),
            "select": _select(draw, i),
            "expiry_group": int(two_groups and i == n_legs - 1),
        }
        if draw(st.integers(0, 4)) == 0:
            leg["min_open_interest"] = draw(st.integers(0, 3000))
            leg["min_volume"] = draw(st.integers(0, 300))
            leg["max_relative_spread"] = draw(st.sampled_from([0.05, 0.2, 1.0]))
        legs.append(leg)
    lo = draw(st.integers(0, 20))
    structure: dict[str, object] = {
        "dte": {"target": lo + draw(st.integers(0, 15)), "min": lo, "max": lo + 30},
        "legs": legs,
    }
    if two_groups:
        far = draw(st.integers(10, 40))
        structure["dte_far"] = {"target": far, "min": far - 10, "max": far + 30}
    signal: dict[str, object]
    if draw(st.integers(0, 3)) == 0:
        signal = {
            "kind": "zscore",
            "feature": "noise",
            "window": draw(st.integers(2, 6)),
            "entry": draw(st.sampled_from([0.5, 1.0, 1.5])),
            "exit": draw(st.sampled_from([0.0, 0.3])),
            "inverted": draw(st.booleans()),
        }
    else:
        signal = {"kind": "always", "direction": draw(st.sampled_from(["long", "short"]))}
    filters = []
    if draw(st.integers(0, 4)) == 0:
        filters.append(
            {
                "feature": "noise",
                "min": _maybe(draw, st.floats(-3, 0)),
                "max": _maybe(draw, st.floats(0, 3)),
            }
        )
    reentry = draw(st.sampled_from([False, True, ["stop_loss", "profit_target"], ["dte"]]))
    payload = {
        "capital": draw(st.sampled_from([100_000.0, 2_000.0, 300.0])),
        "multiplier": draw(st.sampled_from([100.0, 10.0])),
        "structure": structure,
        "entry": {
            "weekdays": sorted(draw(st.sets(st.integers(0, 4), min_size=1))),
            "every_n_days": draw(st.integers(1, 3)),
            "filters": filters,
            "signal": signal,
        },
        "exit": {
            "profit_target": _maybe(draw, st.floats(0.05, 1.5)),
            "stop_loss": _maybe(draw, st.floats(0.1, 3.0)),
            "dte": _maybe(draw, st.integers(0, 20)),
            "max_holding_days": _maybe(draw, st.integers(1, 15)),
            "rebalance_days": _maybe(draw, st.integers(1, 15)),
            "delta_breach": _maybe(draw, st.floats(0.2, 0.95)),
            "period_unit": draw(st.sampled_from(["calendar", "trading"])),
        },
        "reentry": {"same_day": reentry},
        "execution": {
            "slippage": draw(st.sampled_from([0.0, 0.25, 1.0])),
            "slippage_per_contract": draw(st.sampled_from([0.0, 0.0, 0.01, 0.05])),
            "commission_per_contract": draw(st.sampled_from([0.0, 0.65, 5.0])),
        },
        "sizing": {"contracts": draw(st.integers(1, 5))},
    }
    if draw(st.integers(0, 2)) == 0:
        _risk_layer(draw, payload)
    return parse_strategy(payload)


_M, _O = "moneyness", "offset"
_TEMPLATES: dict[str, list[tuple[str, str, str, float]]] = {
    # (right, side, select by, moneyness target or offset points from the previous leg):
    # a wide moneyness tolerance finds a strike on most days
    "short_put": [("P", "short", _M, 0.95)],
    "long_call": [("C", "long", _M, 1.0)],
    "short_strangle": [("P", "short", _M, 0.92), ("C", "short", _M, 1.08)],
    "short_straddle": [("P", "short", _M, 1.0), ("C", "short", _M, 1.0)],
    "put_spread": [("P", "short", _M, 0.97), ("P", "long", _O, -10.0)],
    "iron_condor": [("P", "short", _M, 0.95), ("P", "long", _O, -10.0),
                    ("C", "short", _M, 1.05), ("C", "long", _O, 10.0)],
}


@st.composite
def random_risk_specs(draw: st.DrawFn) -> StrategySpec:
    """Tradeable structures (they open on most days) with the risk layer always on."""
    payload = _tradeable(draw)
    _risk_layer(draw, payload)
    return parse_strategy(payload)


@st.composite
def random_zscore_specs(draw: st.DrawFn) -> StrategySpec:
    """Tradeable structures entering on a z-score signal (the risk layer on in a third), so
    that windows starting late trade on a signal state carried from before the window."""
    payload = _tradeable(draw)
    payload["entry"] = {
        "every_n_days": draw(st.integers(1, 2)),
        "signal": {
            "kind": "zscore",
            "feature": "noise",
            "window": draw(st.integers(2, 6)),
            "entry": draw(st.sampled_from([0.3, 0.5, 1.0])),
            "exit": draw(st.sampled_from([0.0, 0.3])),
            "inverted": draw(st.booleans()),
        },
    }
    if draw(st.integers(0, 2)) == 0:
        _risk_layer(draw, payload)
    return parse_strategy(payload)


def _tradeable(draw: st.DrawFn) -> dict[str, object]:
    """The payload of a structure from `_TEMPLATES` with random exits and costs."""
    legs = []
    for right, side, by, where in _TEMPLATES[draw(st.sampled_from(sorted(_TEMPLATES)))]:
        select: dict[str, object] = (
            {"by": _M, "target": where, "tolerance": 0.25} if by == _M
            else {"by": _O, "of": len(legs) - 1, "points": where, "tolerance": 10.0}
        )
        legs.append({"right": right, "side": side, "qty": draw(st.integers(1, 2)),
                     "select": select})
    payload: dict[str, object] = {
        "structure": {"dte": {"target": draw(st.integers(5, 30)), "min": 1, "max": 90},
                      "legs": legs},
        "entry": {"every_n_days": draw(st.integers(1, 3))},
        "exit": {
            "profit_target": _maybe(draw, st.floats(0.2, 1.0)),
            "stop_loss": _maybe(draw, st.floats(0.5, 3.0)),
            "max_holding_days": _maybe(draw, st.integers(3, 15)),
            "period_unit": draw(st.sampled_from(["calendar", "trading"])),
        },
        "reentry": {"same_day": draw(st.booleans())},
        "execution": {
            "slippage": draw(st.sampled_from([0.0, 0.5])),
            "commission_per_contract": draw(st.sampled_from([0.0, 0.65])),
        },
    }
    return payload


def _risk_layer(draw: st.DrawFn, payload: dict[str, object]) -> None:
    """Switch parts of the risk layer on at random: sizing budgets, stress, margin, the margin
    account with financing, and the delta hedge (docs/semantics.md, Risk layer)."""
    model = draw(st.sampled_from(["none", "regt", "regt", "pm"]))
    hedged = draw(st.booleans())
    sizing: dict[str, object] = {"contracts": draw(st.integers(1, 5))}
    if draw(st.booleans()):
        sizing["risk_budget"] = draw(st.sampled_from([0.01, 0.05, 0.3]))
    if model != "none" and draw(st.booleans()):
        sizing["margin_budget"] = draw(st.sampled_from([0.1, 0.5, 1.0]))
    if draw(st.integers(0, 3)) == 0:
        sizing["kelly_fraction"] = draw(st.sampled_from([0.25, 1.0]))
        sizing["kelly_min_trades"] = draw(st.integers(1, 4))
    if draw(st.integers(0, 3)) == 0:
        sizing["vol_target"] = draw(st.sampled_from([0.05, 0.5]))
    if hedged and draw(st.booleans()):
        sizing["risk_basis"] = "entry_hedged"
    sizing["min_contracts"] = draw(st.sampled_from([0, 0, 1, 2]))
    sizing["max_contracts"] = draw(st.sampled_from([None, None, 3, 20]))
    if sizing["max_contracts"] is not None:
        sizing["min_contracts"] = min(int(sizing["min_contracts"]), int(sizing["max_contracts"]))
    stress: dict[str, object]
    if draw(st.booleans()):
        stress = {
            "scenarios": "named",
            "families": draw(st.lists(st.sampled_from(["core", "tail", "rr", "rr_tail"]),
                                      min_size=1, max_size=4)),
        }
    else:
        stress = {
            "spot": draw(st.sampled_from([[-0.1, 0.0, 0.1], [-0.3, -0.05, 0.05, 0.3]])),
            "vol": draw(st.sampled_from([[0.0], [-0.05, 0.1]])),
            "risk_reversal": draw(st.sampled_from([[0.0], [-0.05, 0.05]])),
            "rate": draw(st.sampled_from([[0.0], [0.01]])),
            "time_days": draw(st.sampled_from([[0.0], [0.0, 7.0], [400.0]])),
        }
    risk: dict[str, object] = {
        "rate": draw(st.sampled_from([0.0, 0.03])),
        "dividend": draw(st.sampled_from([0.0, 0.015])),
        "stress": stress,
        "margin": {
            "model": model,
            "broad_index": draw(st.booleans()),
            "house_multiplier": draw(st.sampled_from([1.0, 1.5, 3.0])),
            "house_floor": draw(st.sampled_from([0.0, 50.0])),
            "stress_multiplier": draw(st.sampled_from([1.0, 2.0])),
            "minimum": draw(st.sampled_from([0.0, 100.0])),
        },
        "account": {
            "maintenance_ratio": draw(st.sampled_from([0.75, 1.0, 1.5])),
            "grace_days": draw(st.sampled_from([0, 1, 1, 3])),
            "liquidation": draw(st.sampled_from(["full", "target"])),
            "liquidation_buffer": draw(st.sampled_from([0.0, 0.2])),
            "cash_rate": draw(st.sampled_from([0.0, 0.04])),
            "borrow_rate": draw(st.sampled_from([0.0, 0.08])),
        },
    }
    hedge: dict[str, object] = {"enabled": hedged}
    if hedged:
        band = draw(st.sampled_from(["none", "fixed", "fixed", "ww"]))
        hedge.update(
            band=band,
            half_width=draw(st.sampled_from([0.0, 5.0, 20.0])),
            ww_c=draw(st.sampled_from([0.5, 2.0])),
            ww_min=draw(st.sampled_from([0.0, 1.0])),
            ww_max=draw(st.sampled_from([10.0, 50.0])),
            ww_fee=draw(st.sampled_from([None, 0.0, 0.002])),
            rebalance_to="boundary" if band == "ww" else draw(
                st.sampled_from(["center", "boundary"])),
            every_days=draw(st.sampled_from([None, 1, 3]) if band != "none" else
                            st.sampled_from([1, 3])),
            combine=draw(st.sampled_from(["or", "and"])),
            target_delta=draw(st.sampled_from([0.0, 0.0, 10.0])),
            at_entry=draw(st.booleans()),
            min_trade=draw(st.sampled_from([0.0, 0.0, 25.0])),
            max_trade=draw(st.sampled_from([None, 100.0])),
            commission_per_share=draw(st.sampled_from([0.0, 0.005])),
            slippage_bps=draw(st.sampled_from([0.0, 1.0, 10.0])),
        )
    payload["sizing"] = sizing
    payload["risk"] = risk
    payload["hedge"] = hedge
    # an account near its margin, so that calls, cuts and liquidations happen
    payload["capital"] = draw(st.sampled_from([2_000.0, 6_000.0, 20_000.0, 100_000.0]))
    payload["multiplier"] = 100.0


@st.composite
def random_parity_specs(draw: st.DrawFn) -> StrategySpec:
    """Tradeable structures with the seed-parity options (docs/semantics.md, Fills; Delta
    hedge): slippage per option beyond the quote, and a delta hedge whose band is per contract
    or for the whole position, on 2-5 contracts (on one they are the same band); the rest of
    the risk layer on in half of the examples."""
    payload = _tradeable(draw)
    if draw(st.booleans()):
        _risk_layer(draw, payload)
    execution = payload["execution"]
    assert isinstance(execution, dict)
    execution["slippage"] = draw(st.sampled_from([0.0, 0.5, 1.0]))
    execution["slippage_per_contract"] = draw(st.sampled_from([0.0, 0.01, 0.05, 0.5]))
    sizing = payload.setdefault("sizing", {})
    assert isinstance(sizing, dict)
    sizing["contracts"] = draw(st.integers(2, 5))
    band = draw(st.sampled_from(["fixed", "ww"]))
    payload["hedge"] = {
        "enabled": True,
        "band": band,
        "band_units": draw(st.sampled_from(["per_contract", "position"])),
        "half_width": draw(st.sampled_from([1.0, 5.0, 20.0])),
        # 300 puts the Whalley-Wilmott width (~0.01 c shares here) inside [ww_min, ww_max]
        "ww_c": draw(st.sampled_from([2.0, 300.0])),
        "ww_min": draw(st.sampled_from([0.0, 1.0])),
        "ww_max": draw(st.sampled_from([10.0, 50.0])),
        "ww_fee": draw(st.sampled_from([None, 0.002])),
        "rebalance_to": "boundary" if band == "ww" else draw(
            st.sampled_from(["center", "boundary"])),
        "every_days": draw(st.sampled_from([None, None, 3])),
        "combine": draw(st.sampled_from(["or", "and"])),
        "target_delta": draw(st.sampled_from([0.0, 0.0, 10.0])),
        "at_entry": draw(st.booleans()),
        "min_trade": draw(st.sampled_from([0.0, 0.0, 5.0])),
        "commission_per_share": draw(st.sampled_from([0.0, 0.005])),
        "slippage_bps": draw(st.sampled_from([1.0, 10.0])),
    }
    return parse_strategy(payload)


_WINDOW_KINDS = ("full", "prefix", "suffix", "inner", "inner", "short", "empty", "outside")


@st.composite
def random_windows(draw: st.DrawFn, always: bool = False) -> tuple[str, float, float] | None:
    """A day window in about a third of the examples (every example when `always`), drawn as
    (kind, u, v) and resolved against the chain's length by `_window`; None = no window."""
    if not always and draw(st.integers(0, 2)) != 0:
        return None
    return draw(st.sampled_from(_WINDOW_KINDS)), draw(st.floats(0, 1)), draw(st.floats(0, 1))


def _window(drawn: tuple[str, float, float] | None, n: int) -> tuple[int, int] | None:
    """The (first, end) of a drawn window over `n` days: the whole chain, a prefix, a suffix,
    an inner range, 1-3 days, an empty one (end <= first) or one past both ends (clamped)."""
    if drawn is None:
        return None
    kind, u, v = drawn
    first = int(u * (n - 1))
    if kind == "full":
        return 0, n
    if kind == "prefix":
        return 0, 1 + int(v * (n - 1))
    if kind == "suffix":
        return first, n
    if kind == "inner":
        return first, first + 1 + int(v * (n - first - 1))
    if kind == "short":
        return first, min(first + 1 + int(v * 2.99), n)
    if kind == "empty":
        return first, first - int(v * 3)
    return -1 - int(u * 5), n + 1 + int(v * 5)  # outside: clamps to the whole chain


def _check_window(r: BacktestResult, capital: float, window: tuple[int, int], n: int) -> None:
    """The window's own contract, on one engine's result (not only kernel == reference)."""
    first, end = max(window[0], 0), min(window[1], n)
    assert r.window == ((first, end) if end > first else (min(first, n),) * 2)
    assert (r.equity[:first] == capital).all()
    last = r.equity[end - 1] if end > first else capital
    assert (r.equity[max(end, first):] == last).all()
    inside = np.zeros(n, dtype=bool)
    inside[first:end] = True
    assert not r.in_market[~inside].any()
    assert not (r.daily[~inside] != 0).any()
    if end > first:
        assert not r.in_market[end - 1]
        assert last == pytest.approx(capital + r.trades["pnl"].sum(), rel=1e-9, abs=1e-6)
    else:
        assert len(r.trades) == 0 and r.skips.sum() == 0
    assert ((r.trades["entry_day"] >= first) & (r.trades["entry_day"] < end - 1)).all()
    assert (r.trades["exit_day"] < end).all()


def _assert_records_close(a: np.ndarray, b: np.ndarray, dtype: np.dtype, what: str) -> None:
    assert len(a) == len(b), f"{what}: {len(a)} vs {len(b)} rows"
    for name in dtype.names:
        x, y = a[name].astype(np.float64), b[name].astype(np.float64)
        np.testing.assert_allclose(
            x, y, rtol=RTOL, atol=1e-9, equal_nan=True, err_msg=f"{what}.{name}"
        )


@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(packed=random_chains(), spec=random_specs(), drawn=random_windows())
def test_kernel_matches_reference(
    packed: PackedChain, spec: StrategySpec, drawn: tuple[str, float, float] | None
) -> None:
    window = _window(drawn, packed.n_days)
    fast = run_backtest(packed, spec, "numba", window=window)
    slow = run_backtest(packed, spec, "python", window=window)
    if window is not None:
        _check_window(fast, spec.capital, window, packed.n_days)
        _check_window(slow, spec.capital, window, packed.n_days)
    np.testing.assert_allclose(fast.equity, slow.equity, rtol=RTOL, atol=1e-9, err_msg="equity")
    _assert_records_close(fast.trades, slow.trades, trade_dt, "trades")
    _assert_records_close(fast.legs, slow.legs, leg_dt, "legs")
    np.testing.assert_array_equal(fast.skips, slow.skips, err_msg="skips")
    np.testing.assert_array_equal(fast.in_market, slow.in_market, err_msg="in_market")
    assert fast.missing_quote_days == slow.missing_quote_days
    assert fast.stale_fills == slow.stale_fills
    for name, col in DAILY_COLUMNS.items():
        np.testing.assert_allclose(
            fast.daily[:, col], slow.daily[:, col], rtol=RTOL, atol=1e-7, equal_nan=True,
            err_msg=f"daily.{name}",
        )


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(packed=random_chains(), spec=random_risk_specs(), drawn=random_windows())
def test_kernel_matches_reference_with_the_risk_layer(
    packed: PackedChain, spec: StrategySpec, drawn: tuple[str, float, float] | None
) -> None:
    inner = test_kernel_matches_reference.hypothesis.inner_test  # type: ignore[attr-defined]
    inner(packed, spec, drawn)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(packed=random_chains(), spec=random_zscore_specs(), drawn=random_windows(always=True))
def test_kernel_matches_reference_with_zscore_windows(
    packed: PackedChain, spec: StrategySpec, drawn: tuple[str, float, float]
) -> None:
    inner = test_kernel_matches_reference.hypothesis.inner_test  # type: ignore[attr-defined]
    inner(packed, spec, drawn)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(packed=random_chains(), spec=random_parity_specs(), drawn=random_windows())
def test_kernel_matches_reference_with_the_parity_options(
    packed: PackedChain, spec: StrategySpec, drawn: tuple[str, float, float] | None
) -> None:
    inner = test_kernel_matches_reference.hypothesis.inner_test  # type: ignore[attr-defined]
    inner(packed, spec, drawn)


def test_random_specs_exercise_the_semantics() -> None:
    """Guard against a vacuous property test: the drawn cases must produce trades, every
    exit reason and most skip reasons somewhere."""
    reasons: set[int] = set()
    skips = np.zeros(len(SkipReason.NAMES), dtype=np.int64)
    trades = 0

    @settings(
        max_examples=150,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(packed=random_chains(), spec=random_specs())
    def collect(packed: PackedChain, spec: StrategySpec) -> None:
        nonlocal trades
        r = run_backtest(packed, spec, "numba")
        trades += len(r.trades)
        reasons.update(int(x) for x in r.trades["exit_reason"])
        skips[:] += r.skips

    collect()
    assert trades > 100
    assert len(reasons) >= 7, f"exit reasons seen: {sorted(reasons)}"
    assert (skips > 0).sum() >= 5, f"skip counts: {skips}"


def test_random_specs_exercise_the_risk_layer() -> None:
    """Guard against a vacuous risk layer: margin calls (full and partial), hedge trades,
    financing, every sizing rule binding, and the sizing skips must all occur."""
    seen: dict[str, int] = dict.fromkeys(
        ["margin_call", "margin_partial", "hedge_trades", "financing", "call_days",
         "sizing_skip", "invalid_market"], 0
    )
    bindings: set[int] = set()

    @settings(
        max_examples=150,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(packed=random_chains(), spec=random_risk_specs())
    def collect(packed: PackedChain, spec: StrategySpec) -> None:
        r = run_backtest(packed, spec, "numba")
        t = r.trades
        seen["margin_call"] += int((t["exit_reason"] == ExitReason.MARGIN_CALL).sum())
        seen["margin_partial"] += int((t["exit_reason"] == ExitReason.MARGIN_PARTIAL).sum())
        seen["hedge_trades"] += int((t["hedge_pnl"] != 0).sum())
        seen["financing"] += int((t["financing"] != 0).sum())
        seen["call_days"] += int((r.daily[:, D.margin_call_days] > 0).sum())
        seen["sizing_skip"] += int(r.skips[SkipReason.SIZING])
        seen["invalid_market"] += int(r.skips[SkipReason.INVALID_MARKET])
        bindings.update(int(b) for b in t["sizing_binding"])

    collect()
    assert all(v > 0 for v in seen.values()), {k: v for k, v in seen.items() if not v}
    assert len(bindings) >= 6, [SizingBinding.NAMES[b] for b in sorted(bindings)]


def test_random_parity_specs_exercise_the_options() -> None:
    """Guard against vacuous parity options: in the drawn parity strategies, with a fixed and
    with a Whalley-Wilmott band, the band's unit must change the backtest (the same strategy
    with the band in the other unit hedges otherwise); trades must pay slippage per option,
    and some sales must hit the floor at 0 (a bid below the slippage)."""
    matters = {"fixed": 0, "ww": 0}
    slipped = {"trades": 0, "sales_at_zero": 0}

    @settings(
        max_examples=60,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(packed=random_chains(), spec=random_parity_specs())
    def collect(packed: PackedChain, spec: StrategySpec) -> None:
        hedge = spec.hedge
        units = "per_contract" if hedge.band_units == "position" else "position"
        other = spec.model_copy(update={"hedge": hedge.model_copy(update={"band_units": units})})
        r = run_backtest(packed, spec, "numba")
        changed = not np.array_equal(r.equity, run_backtest(packed, other, "numba").equity)
        matters[hedge.band] += changed
        if spec.execution.slippage_per_contract > 0:
            slipped["trades"] += len(r.trades)
            legs = r.legs[r.legs["units"] != 0]
            at_zero = (legs["settled"] == 0) & (legs["exit_fill"] == 0) & (legs["units"] > 0)
            slipped["sales_at_zero"] += int(at_zero.sum())

    collect()
    assert all(v >= 5 for v in matters.values()), matters
    assert slipped["trades"] > 20 and slipped["sales_at_zero"] > 0, slipped


def test_random_windows_exercise_the_window() -> None:
    """Guard against a vacuous window: windowed examples (the risk layer included) must trade
    inside windows that start late, close positions END_OF_DATA on a window's last day before
    the chain's last day, enter on the window's first day, and draw empty and short windows."""
    seen: dict[str, int] = dict.fromkeys(
        ["late_trades", "end_of_window_exits", "entry_on_first", "empty", "short",
         "zscore_late_trades", "risk_layer_late_trades"], 0
    )

    def observe(packed: PackedChain, spec: StrategySpec, window: tuple[int, int]) -> None:
        r = run_backtest(packed, spec, "numba", window=window)
        first, end = r.window or (0, packed.n_days)
        t = r.trades
        seen["empty"] += int(end == first)
        seen["short"] += int(0 < end - first <= 3)
        if first > 0:
            seen["late_trades"] += len(t)
            seen["entry_on_first"] += int((t["entry_day"] == first).sum())
            if spec.entry.signal.kind == "zscore":
                seen["zscore_late_trades"] += len(t)
            if spec.risk.margin.model != "none" or spec.hedge.enabled:
                seen["risk_layer_late_trades"] += len(t)
        if end < packed.n_days:
            at_end = (t["exit_reason"] == ExitReason.END_OF_DATA) & (t["exit_day"] == end - 1)
            seen["end_of_window_exits"] += int(at_end.sum())

    for specs in (random_specs(), random_risk_specs(), random_zscore_specs()):

        @settings(
            max_examples=100,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(packed=random_chains(), spec=specs, drawn=random_windows(always=True))
        def collect(
            packed: PackedChain, spec: StrategySpec, drawn: tuple[str, float, float]
        ) -> None:
            window = _window(drawn, packed.n_days)
            assert window is not None
            observe(packed, spec, window)

        collect()
    assert all(v > 0 for v in seen.values()), {k: v for k, v in seen.items() if not v}


@pytest.mark.parametrize("engine", ["numba", "python"])
def test_equity_identity(engine: str) -> None:
    """Final equity = capital + sum of trade P&L (the book is flat at the end)."""

    @settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(packed=random_chains(), spec=random_specs())
    def check(packed: PackedChain, spec: StrategySpec) -> None:
        r = run_backtest(packed, spec, engine)  # type: ignore[arg-type]
        assert r.equity[-1] == pytest.approx(
            spec.capital + r.trades["pnl"].sum(), rel=1e-9, abs=1e-6
        )
        assert not r.in_market[-1]

    check()
