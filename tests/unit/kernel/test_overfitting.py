"""Overfitting statistics: block statistics, CSCV against a naive oracle, DSR against the paper."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gridbt.kernel.overfitting import (
    block_return_stats,
    daily_returns,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    sharpe_from_block_stats,
)

# Bailey & López de Prado (2014), "The Deflated Sharpe Ratio", section "A numerical example":
# 5 years of daily returns at 250 a year, annualised Sharpe 2.5, N = 100 trials whose
# annualised Sharpe ratios have variance 1/2, skewness -3, kurtosis 10. The paper converts to
# per-period units and prints SR_0 = 0.1132 and DSR = 0.9004 (four decimals); with N = 46 the
# DSR is 0.9505, and with normal returns up to N = 88 trials keep it above 0.95.
PAPER_YEAR = 250
PAPER_SHARPE = 2.5 / math.sqrt(PAPER_YEAR)
PAPER_VARIANCE = 0.5 / PAPER_YEAR
PAPER_N_OBS = 1250
PAPER_DECIMALS = 5e-5


def equity_from_returns(returns: np.ndarray, start: float = 100.0) -> np.ndarray:
    ones = np.ones(returns.shape[:-1] + (1,))
    return start * np.cumprod(np.concatenate((ones, 1.0 + returns), axis=-1), axis=-1)


def naive_sharpe(x: np.ndarray) -> float:
    std = float(np.std(x, ddof=1)) if x.size >= 2 else 0.0
    return float(np.mean(x)) / std if std > 0.0 else 0.0


def naive_cscv(returns: np.ndarray, n_blocks: int) -> dict[str, np.ndarray | float]:
    """CSCV straight from the paper, on the full (rows x days) return matrix, with loops."""
    n_rows = returns.shape[0]
    blocks = np.array_split(np.arange(returns.shape[1]), n_blocks)
    logits, best_rows, is_best, oos_best, masks = [], [], [], [], []
    for chosen in itertools.combinations(range(n_blocks), n_blocks // 2):
        in_days = np.concatenate([blocks[b] for b in chosen])
        out_days = np.concatenate([blocks[b] for b in range(n_blocks) if b not in chosen])
        is_sharpe = [naive_sharpe(returns[i, in_days]) for i in range(n_rows)]
        oos_sharpe = [naive_sharpe(returns[i, out_days]) for i in range(n_rows)]
        best = 0
        for i in range(1, n_rows):
            if is_sharpe[i] > is_sharpe[best]:
                best = i
        target = oos_sharpe[best]
        below = sum(1 for s in oos_sharpe if s < target)
        tied = sum(1 for s in oos_sharpe if s == target)
        w = (below + (tied + 1) / 2) / (n_rows + 1)
        logits.append(math.log(w / (1 - w)))
        best_rows.append(best)
        is_best.append(is_sharpe[best])
        oos_best.append(target)
        masks.append([b in chosen for b in range(n_blocks)])
    logit_array = np.array(logits)
    return {
        "logits": logit_array,
        "pbo": float(np.mean(logit_array <= 0)),
        "best_index": np.array(best_rows),
        "in_sample_sharpe": np.array(is_best),
        "out_of_sample_sharpe": np.array(oos_best),
        "slope": float(np.polyfit(is_best, oos_best, 1)[0]),
        "prob_oos_loss": float(np.mean(np.array(oos_best) < 0)),
        "splits": np.array(masks),
    }


# --- daily returns and block statistics ------------------------------------------------------


def test_daily_returns_are_zero_after_a_non_positive_close() -> None:
    equity = np.array([[100.0, 50.0, 0.0, 10.0, 20.0], [100.0, 110.0, 99.0, -5.0, -4.0]])
    expected = np.array([[-0.5, -1.0, 0.0, 1.0], [0.1, -0.1, -104.0 / 99.0, 0.0]])
    np.testing.assert_allclose(daily_returns(equity), expected, rtol=1e-15)
    np.testing.assert_allclose(daily_returns(equity[0]), expected[0], rtol=1e-15)
    missing = daily_returns(np.array([100.0, np.nan, 110.0, 121.0]))
    np.testing.assert_array_equal(np.isnan(missing), [True, True, False])


@pytest.mark.parametrize("n_blocks", [1, 4, 7, 52])
def test_block_stats_equal_a_direct_computation(n_blocks: int) -> None:
    rng = np.random.default_rng(3)
    equity = equity_from_returns(rng.normal(0.0005, 0.02, (6, 52)))
    equity[4, 30:] = 0.0  # a blown-up row
    stats = block_return_stats(equity, n_blocks)
    assert stats.shape == (6, n_blocks, 3)
    for row in range(6):
        curve = equity[row]
        returns = [curve[t] / curve[t - 1] - 1.0 if curve[t - 1] > 0 else 0.0 for t in range(1, 53)]
        for block, days in enumerate(np.array_split(np.array(returns), n_blocks)):
            assert stats[row, block, 0] == len(days)
            assert stats[row, block, 1] == pytest.approx(sum(days), rel=1e-12, abs=1e-15)
            assert stats[row, block, 2] == pytest.approx(sum(days**2), rel=1e-12)


def test_block_stats_of_one_curve_drop_the_row_axis() -> None:
    equity = equity_from_returns(np.random.default_rng(4).normal(0.0, 0.01, (3, 40)))
    np.testing.assert_array_equal(
        block_return_stats(equity[1], 5), block_return_stats(equity, 5)[1]
    )


@pytest.mark.parametrize("n_blocks", [0, 40])
def test_block_stats_need_a_return_in_every_block(n_blocks: int) -> None:
    with pytest.raises(ValueError, match="n_blocks"):
        block_return_stats(np.linspace(100.0, 120.0, 40), n_blocks)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_sharpe_from_block_stats_equals_numpy_on_concatenated_returns(data: st.DataObject) -> None:
    n_rows = data.draw(st.integers(1, 4))
    n_days = data.draw(st.integers(3, 80))
    returns = data.draw(
        hnp.arrays(np.float64, (n_rows, n_days - 1), elements=st.floats(-0.5, 0.5, width=64))
    )
    n_blocks = data.draw(st.integers(1, min(8, n_days - 1)))
    masks = data.draw(
        st.lists(
            st.lists(st.booleans(), min_size=n_blocks, max_size=n_blocks).filter(any),
            min_size=1,
            max_size=3,
        )
    )
    equity = equity_from_returns(returns)
    actual_returns = daily_returns(equity)
    stats = block_return_stats(equity, n_blocks)
    together = sharpe_from_block_stats(stats, np.array(masks))
    assert together.shape == (len(masks), n_rows)
    for k, mask in enumerate(masks):
        one = sharpe_from_block_stats(stats, np.array(mask))
        assert one.shape == (n_rows,)
        for row in range(n_rows):
            blocks = np.array_split(actual_returns[row], n_blocks)
            x = np.concatenate([b for b, keep in zip(blocks, mask, strict=True) if keep])
            if x.size < 2:
                assert one[row] == together[k, row] == 0.0
                continue
            # Sums lose the spread of nearly constant returns (documented); keep it clear of that.
            assume(np.std(x) > 1e-3 * math.sqrt(np.mean(x**2)))
            expected = naive_sharpe(x)
            assert one[row] == pytest.approx(expected, rel=1e-7, abs=1e-9)
            assert together[k, row] == pytest.approx(expected, rel=1e-7, abs=1e-9)


@pytest.mark.parametrize("daily", [0.0, 1e-7, 0.001, 0.0123, -0.02])
@pytest.mark.parametrize("n_days", [3, 100, 2501])
def test_sharpe_of_constant_returns_is_zero(daily: float, n_days: int) -> None:
    equity = equity_from_returns(np.full(n_days - 1, daily))
    stats = block_return_stats(equity, 2)
    np.testing.assert_allclose(daily_returns(equity), daily, rtol=1e-9, atol=1e-15)
    assert sharpe_from_block_stats(stats, np.array([True, True])) == 0.0
    assert sharpe_from_block_stats(stats, np.array([True, False])) == 0.0


# --- probability of backtest overfitting -----------------------------------------------------


@pytest.mark.parametrize("n_blocks", [6, 8])
def test_pbo_equals_a_naive_cscv_on_the_full_return_matrix(n_blocks: int) -> None:
    rng = np.random.default_rng(n_blocks)
    drift = rng.normal(0.0, 0.0005, (10, 1))
    drift[1] = 0.0025
    returns = drift + rng.normal(0.0, 0.01, (10, 203))
    # An exact tie: in sample the lower row wins, out of sample the two ranks are averaged.
    returns[6] = returns[1]
    equity = equity_from_returns(returns)
    naive = naive_cscv(daily_returns(equity), n_blocks)

    result = probability_of_backtest_overfitting(block_return_stats(equity, n_blocks))

    assert result.n_splits == math.comb(n_blocks, n_blocks // 2)
    assert result.n_blocks == n_blocks
    np.testing.assert_array_equal(result.splits, naive["splits"])
    np.testing.assert_array_equal(result.best_index, naive["best_index"])
    np.testing.assert_array_equal(result.logits, naive["logits"])
    assert result.pbo == naive["pbo"]
    assert result.prob_oos_loss == naive["prob_oos_loss"]
    np.testing.assert_allclose(result.in_sample_sharpe, naive["in_sample_sharpe"], rtol=1e-10)
    np.testing.assert_allclose(
        result.out_of_sample_sharpe, naive["out_of_sample_sharpe"], rtol=1e-10
    )
    assert result.performance_degradation_slope == pytest.approx(naive["slope"], rel=1e-8)
    # The data exercise the tie rules and both signs of the logit.
    assert 1 in result.best_index and 6 not in result.best_index
    assert 0.0 < result.pbo < 1.0


def test_median_rank_counts_as_overfit_and_a_flat_out_of_sample_is_no_loss() -> None:
    def block(mean: float) -> list[float]:
        return [mean + 0.01, mean - 0.01, mean + 0.01, mean - 0.01]

    def sharpe(mean: float) -> float:
        return naive_sharpe(np.array(block(mean)))

    # Two blocks, so two splits. Row 0 stops trading in block 1 (flat, Sharpe 0).
    rows = [block(0.006) + [0.0] * 4, block(0.003) + block(0.007), block(-0.001) + block(-0.002)]
    stats = np.array([[[4.0, sum(x), sum(v * v for v in x)] for x in (r[:4], r[4:])] for r in rows])

    result = probability_of_backtest_overfitting(stats)

    # Each in-sample best ranks 2nd of 3 out of sample: w = 1/2, logit 0, which is overfit.
    np.testing.assert_array_equal(result.best_index, [0, 1])
    np.testing.assert_array_equal(result.logits, [0.0, 0.0])
    assert result.pbo == 1.0
    assert result.prob_oos_loss == 0.0
    assert result.out_of_sample_sharpe[0] == 0.0
    assert result.out_of_sample_sharpe[1] == pytest.approx(sharpe(0.003), rel=1e-12)
    slope = sharpe(0.003) / (sharpe(0.007) - sharpe(0.006))
    assert result.performance_degradation_slope == pytest.approx(slope, rel=1e-9)
    one_split = probability_of_backtest_overfitting(stats, max_splits=1)
    assert one_split.n_splits == 1 and math.isnan(one_split.performance_degradation_slope)


def test_pbo_of_pure_noise_is_near_one_half() -> None:
    pbos = []
    for seed in range(16):
        returns = np.random.default_rng(seed).normal(0.0, 0.01, (100, 600))
        stats = block_return_stats(equity_from_returns(returns), 10)
        pbos.append(probability_of_backtest_overfitting(stats).pbo)
    # One data set's PBO varies a lot (its splits share days); the mean over 16 does not.
    assert 0.4 <= np.mean(pbos) <= 0.6


def test_pbo_of_a_real_edge_among_noise_is_near_zero() -> None:
    rng = np.random.default_rng(11)
    returns = rng.normal(0.0, 0.01, (100, 1000))
    returns[37] += 0.004
    returns[90] = returns[37]  # an identical combination, as when a parameter never binds
    stats = block_return_stats(equity_from_returns(returns), 10)

    result = probability_of_backtest_overfitting(stats)

    assert result.pbo <= 0.02
    assert np.mean(result.best_index == 37) >= 0.95 and 90 not in result.best_index
    assert result.prob_oos_loss <= 0.02
    # At the top out of sample the two copies share ranks 99 and 100.
    top = 99.5 / 101
    assert np.median(result.logits) == pytest.approx(math.log(top / (1 - top)), rel=1e-12)


def test_sampled_splits_are_distinct_exhaustive_splits_with_the_same_logits() -> None:
    returns = np.random.default_rng(5).normal(0.0, 0.01, (60, 480))
    stats = block_return_stats(equity_from_returns(returns), 12)
    full = probability_of_backtest_overfitting(stats, max_splits=None)
    position = {mask.tobytes(): i for i, mask in enumerate(full.splits)}

    sample = probability_of_backtest_overfitting(stats, max_splits=300, seed=3)

    assert full.n_splits == 924 and sample.n_splits == 300
    rows = [position[mask.tobytes()] for mask in sample.splits]
    assert len(set(rows)) == 300 and rows == sorted(rows)
    np.testing.assert_array_equal(sample.logits, full.logits[rows])
    np.testing.assert_array_equal(sample.best_index, full.best_index[rows])
    # Each sampled split comes with its complement, as in the full CSCV.
    assert {(~m).tobytes() for m in sample.splits} == {m.tobytes() for m in sample.splits}
    assert abs(sample.pbo - full.pbo) <= 0.1


def test_split_sample_is_seeded() -> None:
    returns = np.random.default_rng(6).normal(0.0, 0.01, (20, 300))
    stats = block_return_stats(equity_from_returns(returns), 12)
    first = probability_of_backtest_overfitting(stats, max_splits=101, seed=1)
    again = probability_of_backtest_overfitting(stats, max_splits=101, seed=1)
    other = probability_of_backtest_overfitting(stats, max_splits=101, seed=2)
    assert first.n_splits == 101 and len({m.tobytes() for m in first.splits}) == 101
    assert (first.splits.sum(axis=1) == 6).all()
    np.testing.assert_array_equal(first.splits, again.splits)
    np.testing.assert_array_equal(first.logits, again.logits)
    assert not np.array_equal(first.splits, other.splits)


def test_max_splits_at_or_above_the_total_evaluates_every_split() -> None:
    returns = np.random.default_rng(7).normal(0.0, 0.01, (5, 90))
    stats = block_return_stats(equity_from_returns(returns), 6)
    assert probability_of_backtest_overfitting(stats, max_splits=20).n_splits == 20
    assert probability_of_backtest_overfitting(stats, max_splits=19).n_splits == 19


@pytest.mark.parametrize(
    ("shape", "kwargs", "message"),
    [
        ((1, 4, 3), {}, "at least 2 rows"),
        ((5, 5, 3), {}, "even number of blocks"),
        ((5, 0, 3), {}, "even number of blocks"),
        ((5, 64, 3), {}, "even number of blocks"),
        ((5, 4, 2), {}, "shape"),
        ((5, 4, 3), {"max_splits": 0}, "max_splits"),
    ],
)
def test_pbo_rejects_bad_input(
    shape: tuple[int, ...], kwargs: dict[str, int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        probability_of_backtest_overfitting(np.ones(shape), **kwargs)


def test_impossible_stats_are_rejected() -> None:
    stats = np.ones((3, 4, 3))
    stats[1, 2, 1] = np.nan
    with pytest.raises(ValueError, match="finite"):
        probability_of_backtest_overfitting(stats)
    with pytest.raises(ValueError, match="finite"):
        sharpe_from_block_stats(stats, np.ones(4, dtype=bool))
    stats[1, 2, 1] = 0.0
    stats[0, 1, 2] = -1.0
    with pytest.raises(ValueError, match="sums of squares"):
        probability_of_backtest_overfitting(stats)
    with pytest.raises(ValueError, match="at least one return"):
        sharpe_from_block_stats(np.ones((3, 4, 3)), np.zeros(4, dtype=bool))


# --- deflated Sharpe ratio -------------------------------------------------------------------


def test_expected_max_sharpe_reproduces_the_papers_benchmark() -> None:
    assert expected_max_sharpe(100, PAPER_VARIANCE) == pytest.approx(0.1132, abs=PAPER_DECIMALS)


def test_psr_at_the_papers_benchmark_reproduces_its_dsr() -> None:
    def dsr(n_trials: int, skew: float, kurtosis: float) -> float:
        benchmark = expected_max_sharpe(n_trials, PAPER_VARIANCE)
        return probabilistic_sharpe_ratio(PAPER_SHARPE, benchmark, PAPER_N_OBS, skew, kurtosis)

    assert dsr(100, -3.0, 10.0) == pytest.approx(0.9004, abs=PAPER_DECIMALS)
    assert dsr(46, -3.0, 10.0) == pytest.approx(0.9505, abs=PAPER_DECIMALS)
    assert dsr(88, 0.0, 3.0) >= 0.95 > dsr(89, 0.0, 3.0)


def test_deflated_sharpe_ratio_of_returns_reproduces_the_paper() -> None:
    # Skewness -3 with kurtosis 10 sits on the bound kurtosis >= skew**2 + 1, which only
    # two-valued returns reach: a fixed gain on most days and a fixed loss on the others (a
    # short option's profile). 105 loss days in 1250 give skew -2.9994, kurtosis 9.9965.
    loss_day = np.arange(PAPER_N_OBS) < 105
    shape = np.where(loss_day, -1.0, 0.0)
    shape = (shape - shape.mean()) / shape.std(ddof=1)
    returns = 0.01 * (shape + PAPER_SHARPE)

    result = deflated_sharpe_ratio(returns, n_trials=100, sharpe_variance=PAPER_VARIANCE)

    assert result.sharpe == pytest.approx(PAPER_SHARPE, rel=1e-12)
    assert result.skew == pytest.approx(-3.0, abs=1e-3)
    assert result.kurtosis == pytest.approx(10.0, abs=1e-2)
    assert result.n_obs == PAPER_N_OBS and result.n_trials == 100
    assert result.expected_max_sharpe == pytest.approx(0.1132, abs=PAPER_DECIMALS)
    assert result.dsr == pytest.approx(0.9004, abs=PAPER_DECIMALS)
    assert result.psr_zero == pytest.approx(
        probabilistic_sharpe_ratio(result.sharpe, 0.0, PAPER_N_OBS, result.skew, result.kurtosis)
    )
    assert result.psr_zero > result.dsr


def test_deflated_sharpe_ratio_uses_the_sample_moments_of_the_returns() -> None:
    returns = np.random.default_rng(8).gamma(2.0, 0.01, 500) - 0.015
    result = deflated_sharpe_ratio(returns, n_trials=30, sharpe_variance=0.002)
    centred = returns - returns.mean()
    m2 = np.mean(centred**2)
    assert result.sharpe == pytest.approx(returns.mean() / returns.std(ddof=1), rel=1e-12)
    assert result.skew == pytest.approx(np.mean(centred**3) / m2**1.5, rel=1e-10)
    assert result.kurtosis == pytest.approx(np.mean(centred**4) / m2**2, rel=1e-10)
    assert result.skew > 0.5  # gamma returns: the moments are not the normal defaults
    fewer = deflated_sharpe_ratio(returns, n_trials=3, sharpe_variance=0.002)
    assert fewer.dsr > result.dsr


def test_deflated_sharpe_ratio_of_constant_returns_has_zero_sharpe() -> None:
    result = deflated_sharpe_ratio(np.full(50, 0.001), n_trials=10, sharpe_variance=0.01)
    assert (result.sharpe, result.skew, result.kurtosis) == (0.0, 0.0, 3.0)
    assert result.psr_zero == 0.5


@pytest.mark.parametrize(
    ("sharpe", "benchmark", "n_obs", "skew", "kurtosis"),
    [
        (0.1, 0.0, 101, 0.0, 3.0),
        (0.2, 0.05, 500, -1.0, 6.0),
        (0.05, 0.08, 2500, 0.7, 4.5),
        (-0.1, 0.0, 60, -2.0, 12.0),
    ],
)
def test_psr_matches_its_closed_form(
    sharpe: float, benchmark: float, n_obs: int, skew: float, kurtosis: float
) -> None:
    z = (sharpe - benchmark) * math.sqrt(n_obs - 1)
    z /= math.sqrt(1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2)
    expected = 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))
    actual = probabilistic_sharpe_ratio(sharpe, benchmark, n_obs, skew, kurtosis)
    assert actual == pytest.approx(expected, rel=1e-12)


def test_psr_is_one_half_at_the_benchmark_and_rejects_impossible_moments() -> None:
    assert probabilistic_sharpe_ratio(0.1, 0.1, 100, -1.0, 5.0) == 0.5
    with pytest.raises(ValueError, match="kurtosis"):
        probabilistic_sharpe_ratio(3.0, 0.0, 100, 0.0, 0.0)
    with pytest.raises(ValueError, match="n_obs"):
        probabilistic_sharpe_ratio(0.1, 0.0, 1, 0.0, 3.0)


def test_expected_max_sharpe_grows_with_trials_and_scales_with_the_spread() -> None:
    trials = [1, 2, 5, 10, 100, 1_000, 10_000, 1_000_000]
    values = [expected_max_sharpe(n, 0.01) for n in trials]
    assert values[0] == 0.0
    assert all(a < b for a, b in itertools.pairwise(values))
    assert expected_max_sharpe(100, 0.04) == pytest.approx(2.0 * expected_max_sharpe(100, 0.01))
    with pytest.raises(ValueError, match="n_trials"):
        expected_max_sharpe(0, 0.01)
    with pytest.raises(ValueError, match="sharpe_variance"):
        expected_max_sharpe(10, -0.01)


@pytest.mark.parametrize("n_trials", [10, 100, 1000])
def test_expected_max_sharpe_approximates_the_mean_maximum_of_normals(n_trials: int) -> None:
    draws = np.random.default_rng(n_trials).standard_normal((4000, n_trials))
    simulated = float(draws.max(axis=1).mean())
    assert expected_max_sharpe(n_trials, 1.0) == pytest.approx(simulated, rel=0.03)
