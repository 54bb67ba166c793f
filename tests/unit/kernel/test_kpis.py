"""KPI kernel against the plain-Python reference, hand-computed cases and the registry."""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridbt.kernel import kpi_nb
from gridbt.kernel.kpi_nb import compute_kpis_nb, select_nb
from gridbt.kernel.kpi_reference import compute_kpis_reference
from gridbt.kernel.metrics import (
    ANNUALISATION,
    KPI_INDEX,
    METRIC_BY_NAME,
    METRICS,
    N_KPIS,
    YEAR_DAYS,
    kpis_from_dict,
    kpis_to_dict,
)

REL = 1e-9
# Values that are mathematically 0 (e.g. a mean return of exactly cancelling days) may come out
# as a few ulps of the summands in one implementation and exactly 0 in the other.
ABS = 1e-12
ROOT = math.sqrt(252.0)
DAY0 = 19723  # 2024-01-01


def kernel(
    equity: Sequence[float] | np.ndarray,
    dates: Sequence[int] | np.ndarray,
    capital: float,
    pnl: Sequence[float] | np.ndarray = (),
    held: Sequence[int] | np.ndarray = (),
    in_market: Sequence[bool] | np.ndarray | None = None,
    scratch: np.ndarray | None = None,
    margin: Sequence[float] | np.ndarray | None = None,
) -> dict[str, float]:
    equity_a = np.asarray(equity, dtype=np.float64)
    market = np.zeros(equity_a.shape[0], np.bool_) if in_market is None else in_market
    margin_a = np.zeros(equity_a.shape[0]) if margin is None else margin
    out = np.full(N_KPIS, -12345.0)
    compute_kpis_nb(
        equity_a,
        np.asarray(dates, dtype=np.int32),
        float(capital),
        np.asarray(pnl, dtype=np.float64),
        np.asarray(held, dtype=np.int64),
        np.asarray(market, dtype=np.bool_),
        np.asarray(margin_a, dtype=np.float64),
        np.empty(0) if scratch is None else scratch,
        out,
    )
    return kpis_to_dict(out)


def same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=REL, abs_tol=ABS)


def assert_kpis(actual: dict[str, float], expected: dict[str, float]) -> None:
    wrong = {k: (actual[k], v) for k, v in expected.items() if not same(actual[k], v)}
    assert not wrong, f"(kernel, expected) differ: {wrong}"


# --------------------------------------------------------------------------- property tests

def finite(low: float, high: float) -> st.SearchStrategy[float]:
    return st.floats(low, high, allow_nan=False, allow_infinity=False, allow_subnormal=False)


@st.composite
def equity_paths(draw: st.DrawFn, n_days: int, capital: float) -> np.ndarray:
    shape = draw(st.sampled_from(["flat", "monotone", "multiplicative", "ties", "additive"]))
    if shape == "flat":
        return np.full(n_days, capital * draw(st.sampled_from([1.0, 0.8, 1.25])))
    if shape == "additive":  # may cross zero: exercises ruin
        steps = draw(st.lists(finite(-0.6 * capital, 0.4 * capital),
                              min_size=n_days, max_size=n_days))
        return capital + np.cumsum(np.array(steps, dtype=np.float64))
    if shape == "monotone":
        size = finite(0.0, 0.05)
        returns = np.array(draw(st.lists(size, min_size=n_days, max_size=n_days)))
        returns *= draw(st.sampled_from([1.0, -1.0]))
    elif shape == "ties":  # repeated returns: ties in the tail and median selection
        values = st.sampled_from([0.0, 0.01, -0.01, 0.02, -0.03])
        returns = np.array(draw(st.lists(values, min_size=n_days, max_size=n_days)))
    else:
        step = finite(-0.5, 0.5)
        returns = np.array(draw(st.lists(step, min_size=n_days, max_size=n_days)))
    return np.asarray(capital * np.cumprod(1.0 + returns), dtype=np.float64)


@st.composite
def backtests(draw: st.DrawFn) -> dict[str, object]:
    n_days = draw(st.integers(0, 60))
    capital = draw(finite(1.0, 1e7))
    gaps = draw(st.lists(st.integers(1, 4), min_size=n_days, max_size=n_days))
    dates = DAY0 + np.cumsum(gaps) - gaps[0] if n_days else np.zeros(0, np.int64)
    n_trades = draw(st.one_of(st.just(0), st.just(1), st.integers(0, 40)))
    pnl_value = st.one_of(
        finite(-1e4, 1e4), st.sampled_from([0.0, 250.0, -250.0])
    )
    return {
        "equity": draw(equity_paths(n_days, capital)),
        "dates": np.asarray(dates, dtype=np.int32),
        "capital": capital,
        "pnl": np.array(draw(st.lists(pnl_value, min_size=n_trades, max_size=n_trades))),
        "held": np.array(draw(st.lists(st.integers(0, 90), min_size=n_trades,
                                       max_size=n_trades)), dtype=np.int64),
        "in_market": np.array(draw(st.lists(st.booleans(), min_size=n_days,
                                            max_size=n_days)), dtype=np.bool_),
        "margin": np.array(draw(st.lists(st.one_of(st.just(0.0), finite(0.0, 1e6)),
                                         min_size=n_days, max_size=n_days))),
        "scratch": draw(st.sampled_from(["none", "exact", "oversized"])),
    }


@settings(max_examples=400, deadline=None)
@given(backtests())
def test_kernel_matches_reference(case: dict[str, object]) -> None:
    equity = case["equity"]
    pnl = case["pnl"]
    assert isinstance(equity, np.ndarray) and isinstance(pnl, np.ndarray)
    need = max(equity.shape[0] - 1, pnl.shape[0])
    scratch = {
        "none": np.empty(0),
        "exact": np.full(need, np.nan),
        "oversized": np.full(need + 7, 1e300),
    }[str(case["scratch"])]
    args = (case["equity"], case["dates"], case["capital"], pnl, case["held"], case["in_market"])
    margin = case["margin"]
    expected = compute_kpis_reference(*args, margin)  # type: ignore[arg-type]
    actual = kernel(*args, scratch=scratch, margin=margin)  # type: ignore[arg-type]
    assert list(expected) == [m.name for m in METRICS]
    assert_kpis(actual, expected)
    assert not any(math.isinf(v) for v in actual.values())


@pytest.mark.parametrize("seed", range(4))
def test_kernel_matches_reference_on_ten_years(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 2520
    equity = 1e5 * np.cumprod(1.0 + rng.standard_t(3, n) * 0.01)
    dates = (DAY0 + np.arange(n) * 7 // 5).astype(np.int32)
    pnl = np.round(rng.normal(40.0, 600.0, 400), 2)
    held = rng.integers(1, 60, 400)
    in_market = rng.random(n) < 0.7
    args = (equity, dates, 1e5, pnl, held, in_market)
    assert_kpis(kernel(*args, scratch=np.empty(n)), compute_kpis_reference(*args))


def tail_case(n_neg: int, n_zero: int, n_pos: int, seed: int) -> np.ndarray:
    """An equity curve whose daily returns are `n_neg` losses, `n_zero` flat days (exactly 0)
    and `n_pos` gains, shuffled."""
    rng = np.random.default_rng(seed)
    losses = -rng.pareto(3.0, n_neg) * 0.01 - 1e-6
    returns = np.concatenate([losses, np.zeros(n_zero), rng.uniform(1e-4, 0.03, n_pos)])
    rng.shuffle(returns)
    return 1e5 * np.cumprod(np.concatenate([[1.0], 1.0 + returns]))


def tied_tail_case(n_neg: int, n_zero: int, seed: int) -> np.ndarray:
    """Equity at 100 with `n_neg` one-day dips of exactly -1/4, -1/8 or -1/16 (each followed by
    the gain back to 100) and `n_zero` flat days: losses tied on values that are exactly the
    tail bounds worst / 2 and worst / 4."""
    rng = np.random.default_rng(seed)
    days = [100.0 * (1.0 + loss) for loss in rng.choice([-0.25, -0.125, -0.0625], n_neg)]
    days += [None] * n_zero
    order = rng.permutation(len(days))
    equity = [100.0]
    for i in order:
        equity += [100.0] if days[i] is None else [days[i], 100.0]
    return np.array(equity)


# 400 returns: the tail is the k = 20 smallest.
@pytest.mark.parametrize(
    ("n_neg", "n_zero", "n_pos"),
    [
        (300, 60, 40),  # many losses: the tail is gathered below a bound
        (20, 200, 180),  # exactly k losses
        (21, 0, 379),  # k + 1 losses
        (19, 1, 380),  # k - 1 losses and one flat day
        (19, 0, 381),  # k - 1 losses, no flat day: full selection
        (12, 300, 88),  # fewer losses than k, flat days fill the tail
        (12, 8, 380),  # fewer losses than k, exactly enough flat days
        (12, 3, 385),  # fewer losses and flat days than k: full selection
        (0, 400, 0),  # all flat
        (0, 0, 400),  # no loss at all
        (400, 0, 0),  # every day a loss
    ],
)
def test_cvar_tail_shortcuts_match_the_reference(n_neg: int, n_zero: int, n_pos: int) -> None:
    for seed in range(5):
        equity = tail_case(n_neg, n_zero, n_pos, seed)
        assert_same_as_reference(equity)


# 2 * n_neg + n_zero returns: k = 20 (390 to 400 returns) or 21 (401 to 420)
@pytest.mark.parametrize(("n_neg", "n_zero"), [(150, 100), (20, 360), (10, 380), (10, 395)])
def test_cvar_tail_with_losses_tied_on_the_bounds_matches_the_reference(
    n_neg: int, n_zero: int
) -> None:
    for seed in range(5):
        assert_same_as_reference(tied_tail_case(n_neg, n_zero, seed))


def assert_same_as_reference(equity: np.ndarray) -> None:
    dates = DAY0 + np.arange(equity.shape[0])
    args = (equity, dates, float(equity[0]), [], [], np.zeros(equity.shape[0], np.bool_))
    expected = compute_kpis_reference(*args)
    assert_kpis(kernel(*args, scratch=np.empty(equity.shape[0] - 1)), expected)
    assert_kpis(kernel(*args), expected)


def test_cvar_tail_stops_at_ruin_mid_curve() -> None:
    # ruined on day 200 of 400: the tail is the worst 5% of the 200 returns up to it
    equity = tail_case(150, 150, 99, 0)
    equity[200] = -5.0
    assert_same_as_reference(equity)
    assert kernel(equity, DAY0 + np.arange(equity.shape[0]), 1e5)["worst_day"] < -1.0


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([-2.0, -1.0, 0.0, 0.5, 1.0, 3.0]) | finite(-1e3, 1e3),
             min_size=1, max_size=50),
    st.data(),
)
def test_select_partitions_around_the_kth_smallest(
    values: list[float], data: st.DataObject
) -> None:
    a = np.array(values)
    k = data.draw(st.integers(0, len(values) - 1))
    kth = select_nb(a, len(values), k)
    assert kth == sorted(values)[k] == a[k]
    assert np.all(a[:k] <= kth) and np.all(a[k + 1:] >= kth)
    assert sorted(a.tolist()) == sorted(values)


# --------------------------------------------------------------------------- hand-computed


def test_five_day_path_by_hand() -> None:
    # Mon, Tue, Wed, next Mon, Tue; peak 110 on day 1, trough 99 on day 2, new high on day 4.
    dates = [DAY0, DAY0 + 1, DAY0 + 2, DAY0 + 5, DAY0 + 6]
    equity = [100.0, 110.0, 99.0, 104.5, 121.0]
    pnl = [15.0, -5.0, 0.0, 30.0]
    held = [3, 1, 2, 4]
    in_market = [False, True, True, False, True]
    returns = [Fraction(1, 10), Fraction(-1, 10), Fraction(1, 18), Fraction(3, 19)]
    mean = sum(returns) / 4
    variance = sum((r - mean) ** 2 for r in returns) / 3
    cagr = 1.21 ** (365.25 / 6) - 1
    expected = {
        "total_return": 0.21,
        "final_equity": 121.0,
        "total_pnl": 21.0,
        "max_drawdown": 11 / 110,
        "max_drawdown_days": 5.0,  # from the peak's date (day 1) to recovery (day 6)
        "cagr": cagr,
        "calmar": cagr / 0.1,
        "annual_volatility": math.sqrt(variance) * ROOT,
        "sharpe": float(mean) / math.sqrt(variance) * ROOT,
        "sortino": float(mean) / math.sqrt(0.01 / 4) * ROOT,  # one losing day of -10%
        "worst_day": -0.1,
        "cvar_95": -0.1,  # ceil(5% of 4 returns) = the single worst one
        "win_rate": 0.5,  # a zero P&L trade is not a win
        "profit_factor": 45 / 5,
        "avg_trade_pnl": 10.0,
        "median_trade_pnl": 7.5,  # (0 + 15) / 2
        "avg_days_held": 2.5,
        "trade_count": 4.0,
        "exposure": 0.6,
    }
    actual = kernel(equity, dates, 100.0, pnl, held, in_market)
    assert_kpis(actual, expected)
    assert_kpis(compute_kpis_reference(equity, dates, 100.0, pnl, held, in_market), expected)


def test_return_on_margin_divides_the_total_pnl_by_the_peak_margin() -> None:
    dates = [DAY0, DAY0 + 1, DAY0 + 2, DAY0 + 3]
    equity = [100.0, 104.0, 98.0, 112.0]
    margin = [0.0, 30.0, 48.0, 0.0]
    expected = {"return_on_margin": 12.0 / 48.0, "total_pnl": 12.0}
    assert_kpis(kernel(equity, dates, 100.0, margin=margin), expected)
    in_market = [False] * 4
    reference = compute_kpis_reference(equity, dates, 100.0, [], [], in_market, margin)
    assert_kpis(reference, expected)


def test_return_on_margin_is_nan_without_margin() -> None:
    dates = [DAY0, DAY0 + 1]
    assert math.isnan(kernel([100.0, 101.0], dates, 100.0)["return_on_margin"])
    assert math.isnan(
        compute_kpis_reference([100.0, 101.0], dates, 100.0, [], [], [False, False])[
            "return_on_margin"
        ]
    )
    assert math.isnan(kernel([100.0, 101.0], dates, 100.0, margin=[0.0, 0.0])["return_on_margin"])


def test_drawdown_that_never_recovers_lasts_until_the_last_date() -> None:
    actual = kernel([100.0, 90.0, 95.0], [DAY0, DAY0 + 3, DAY0 + 10], 100.0)
    assert_kpis(actual, {"max_drawdown": 0.1, "max_drawdown_days": 10.0})


def test_loss_on_the_first_day_is_a_drawdown_from_capital() -> None:
    actual = kernel([95.0, 100.0, 102.0], [DAY0, DAY0 + 4, DAY0 + 5], 100.0)
    assert_kpis(actual, {"max_drawdown": 0.05, "max_drawdown_days": 4.0,
                         "total_return": 0.02})


def test_longest_of_several_drawdowns_wins() -> None:
    equity = [100.0, 80.0, 100.0, 99.0, 99.5, 101.0]
    dates = [DAY0, DAY0 + 1, DAY0 + 2, DAY0 + 3, DAY0 + 10, DAY0 + 12]
    # a 20% fall lasting 2 days (0 -> 2), then a 1% fall lasting 10 days (2 -> 12)
    assert_kpis(kernel(equity, dates, 100.0), {"max_drawdown": 0.2, "max_drawdown_days": 10.0})


def test_flat_equity() -> None:
    actual = kernel([100.0] * 4, [DAY0, DAY0 + 1, DAY0 + 2, DAY0 + 3], 100.0)
    assert_kpis(actual, {
        "total_return": 0.0, "cagr": 0.0, "annual_volatility": 0.0, "sharpe": 0.0,
        "sortino": 0.0, "max_drawdown": 0.0, "max_drawdown_days": 0.0, "calmar": math.nan,
        "worst_day": 0.0, "cvar_95": 0.0, "trade_count": 0.0, "win_rate": math.nan,
        "return_on_margin": math.nan,
        "profit_factor": math.nan, "avg_trade_pnl": math.nan, "median_trade_pnl": math.nan,
        "avg_days_held": math.nan, "exposure": 0.0,
    })


def test_ruin_stops_the_returns() -> None:
    # r_1 = 0 / 50 - 1 = -1; the close of day 1 is 0, so later returns are undefined.
    actual = kernel([50.0, 0.0, 20.0, 30.0], [DAY0, DAY0 + 1, DAY0 + 2, DAY0 + 3], 100.0)
    assert_kpis(actual, {
        "total_return": -0.7, "worst_day": -1.0, "cvar_95": -1.0,
        "annual_volatility": math.nan, "sharpe": math.nan, "sortino": -1.0 / 1.0 * ROOT,
        "max_drawdown": 1.0, "max_drawdown_days": 3.0, "cagr": 0.3 ** (365.25 / 3) - 1,
    })


def test_negative_final_equity() -> None:
    actual = kernel([50.0, -10.0], [DAY0, DAY0 + 7], 100.0)
    assert_kpis(actual, {"total_return": -1.1, "cagr": -1.0, "max_drawdown": 1.1,
                         "calmar": -1.0 / 1.1, "total_pnl": -110.0, "worst_day": -1.2})


def test_one_trade() -> None:
    won = kernel([100.0, 120.0], [DAY0, DAY0 + 1], 100.0, [20.0], [1], [True, False])
    assert_kpis(won, {"trade_count": 1.0, "win_rate": 1.0, "profit_factor": math.nan,
                      "avg_trade_pnl": 20.0, "median_trade_pnl": 20.0, "avg_days_held": 1.0,
                      "exposure": 0.5})
    lost = kernel([100.0, 80.0], [DAY0, DAY0 + 1], 100.0, [-20.0], [1])
    assert_kpis(lost, {"win_rate": 0.0, "profit_factor": 0.0, "median_trade_pnl": -20.0})


def test_cvar_averages_the_worst_five_percent() -> None:
    # 21 returns -> ceil(1.05) = 2 worst: -4% and -3%
    returns = [0.01] * 19 + [-0.03, -0.04]
    equity = 100.0 * np.cumprod(1.0 + np.array([0.0, *returns]))
    actual = kernel(equity, DAY0 + np.arange(22), 100.0)
    assert_kpis(actual, {"cvar_95": -0.035, "worst_day": -0.04})


def test_undefined_or_overflowing_values_are_nan() -> None:
    rising = kernel([100.0, 101.0, 103.0], [DAY0, DAY0 + 1, DAY0 + 2], 100.0)
    assert math.isnan(rising["sortino"])  # no losing day: would be +inf
    boom = kernel([1.0, 1e10], [DAY0, DAY0 + 1], 1.0)
    assert math.isnan(boom["cagr"]) and math.isnan(boom["calmar"])  # 1e10 ** 365.25
    one_day = kernel([105.0], [DAY0], 100.0)
    assert_kpis(one_day, {"total_return": 0.05, "cagr": math.nan, "sharpe": math.nan,
                          "worst_day": math.nan, "max_drawdown": 0.0})


def test_no_days_keeps_trade_kpis() -> None:
    actual = kernel([], [], 100.0, [10.0, -5.0, 1.0], [2, 3, 4])
    assert math.isnan(actual["total_return"]) and math.isnan(actual["exposure"])
    assert_kpis(actual, {"trade_count": 3.0, "profit_factor": 11 / 5, "median_trade_pnl": 1.0,
                         "avg_days_held": 3.0})


@pytest.mark.parametrize(
    ("equity", "capital", "pnl"),
    [([100.0, math.nan], 100.0, []), ([100.0, 101.0], 0.0, []),
     ([100.0, 101.0], math.inf, []), ([100.0, 101.0], 100.0, [math.inf])],
)
def test_non_finite_or_invalid_input_gives_all_nan(
    equity: list[float], capital: float, pnl: list[float]
) -> None:
    held = [1] * len(pnl)
    args = (equity, [DAY0, DAY0 + 1], capital, pnl, held, [False, False])
    assert all(math.isnan(v) for v in kernel(*args).values())
    assert all(math.isnan(v) for v in compute_kpis_reference(*args).values())


def test_compensated_sums_keep_small_trades_next_to_large_ones() -> None:
    # naive left-to-right summation loses every 1.0 next to 1e16
    pnl = [1e16, *([1.0] * 10), -1e16]
    actual = kernel([100.0], [DAY0], 100.0, pnl, [1] * len(pnl))
    assert actual["avg_trade_pnl"] == 10.0 / 12


# --------------------------------------------------------------------------- registry


def test_registry_names_are_unique_and_indexed_in_order() -> None:
    names = [m.name for m in METRICS]
    assert len(set(names)) == len(names) == N_KPIS
    assert len({m.label for m in METRICS}) == N_KPIS
    assert KPI_INDEX == {name: i for i, name in enumerate(names)}
    assert all(METRIC_BY_NAME[name] is METRICS[i] for i, name in enumerate(names))
    assert all(m.description and m.unit in {"ratio", "fraction", "currency", "days", "count"}
               for m in METRICS)


def test_registry_holds_the_design_kpis() -> None:
    design = {
        "total_return", "cagr", "annual_volatility", "sharpe", "sortino", "max_drawdown",
        "max_drawdown_days", "calmar", "win_rate", "profit_factor", "avg_trade_pnl",
        "median_trade_pnl", "avg_days_held", "trade_count", "exposure", "worst_day", "cvar_95",
        "final_equity", "total_pnl", "return_on_margin",
    }
    assert set(KPI_INDEX) == design
    assert not METRIC_BY_NAME["max_drawdown"].higher_is_better
    assert METRIC_BY_NAME["sharpe"].higher_is_better


def test_kernel_vector_positions_match_the_registry() -> None:
    assert kpi_nb.N_KPIS_NB == N_KPIS
    assert kpi_nb.ANNUALISATION_NB == ANNUALISATION and kpi_nb.YEAR_DAYS_NB == YEAR_DAYS
    for name, i in KPI_INDEX.items():
        assert getattr(kpi_nb, f"I_{name.upper()}") == i, name


def test_kpis_to_dict_and_back() -> None:
    vector = np.arange(N_KPIS, dtype=np.float64)
    named = kpis_to_dict(vector)
    assert list(named) == [m.name for m in METRICS]
    assert named["sharpe"] == KPI_INDEX["sharpe"]
    np.testing.assert_array_equal(kpis_from_dict(named), vector)
    assert math.isnan(kpis_from_dict({"sharpe": 1.0})[KPI_INDEX["cagr"]])
    with pytest.raises(ValueError, match="shape"):
        kpis_to_dict(vector[:-1])
    with pytest.raises(KeyError):
        kpis_from_dict({"not_a_kpi": 1.0})
