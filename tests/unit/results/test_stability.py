"""Rank stability over time blocks, held to scipy's Spearman and to the daily returns
themselves (not to the block statistics the code reads)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from gridbt.kernel.overfitting import block_return_stats
from gridbt.results import stability
from gridbt.results.stability import spearman, stability_of


def _curves(n_runs: int, n_days: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    edge = rng.normal(0, 2e-4, n_runs)[:, None]  # a persistent part, so ranks correlate
    returns = edge + rng.normal(0, 1e-2, (n_runs, n_days - 1))
    return 100.0 * np.cumprod(np.concatenate([np.ones((n_runs, 1)), 1 + returns], axis=1),
                              axis=1)


def _sharpe(r: np.ndarray) -> np.ndarray:
    return r.mean(axis=1) / r.std(axis=1, ddof=1)


def test_block_and_half_rank_correlations_match_the_returns() -> None:
    n_runs, n_days, n_blocks = 60, 301, 6
    equity = _curves(n_runs, n_days, 1)
    dates = np.datetime64("2001-01-01") + np.arange(n_days)
    got = stability_of(block_return_stats(equity, n_blocks), dates)

    returns = equity[:, 1:] / equity[:, :-1] - 1
    pieces = np.array_split(np.arange(n_days - 1), n_blocks)
    per_block = [_sharpe(returns[:, idx]) for idx in pieces]
    want = [spearmanr(per_block[b], per_block[b + 1]).statistic for b in range(n_blocks - 1)]
    assert [b.rank_correlation_next for b in got.blocks[:-1]] == pytest.approx(want, abs=1e-12)
    assert got.blocks[-1].rank_correlation_next is None
    assert got.mean_rank_correlation == pytest.approx(np.mean(want), abs=1e-12)
    # a block's days: those whose return it holds (the return into day t is returns[t - 1])
    assert [(b.first, b.last) for b in got.blocks] == [
        (str(dates[idx[0] + 1]), str(dates[idx[-1] + 1])) for idx in pieces]

    first = np.concatenate(pieces[: n_blocks // 2])
    second = np.concatenate(pieces[n_blocks // 2:])
    a, b = _sharpe(returns[:, first]) * np.sqrt(252), _sharpe(returns[:, second]) * np.sqrt(252)
    assert got.halves_rank_correlation == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)
    assert got.halves == [str(dates[first[0] + 1]), str(dates[first[-1] + 1]),
                          str(dates[second[0] + 1]), str(dates[second[-1] + 1])]
    top = np.argsort(-a)[:6]
    assert got.top_decile_percentile == pytest.approx(
        np.median(pd.Series(b).rank(pct=True).to_numpy()[top]))
    assert got.runs == n_runs and len(got.points) == n_runs
    assert np.allclose(sorted(map(tuple, got.points)), sorted(zip(a, b, strict=True)),
                       rtol=1e-12, atol=0)


def test_many_runs_are_drawn_evenly_by_first_half_rank(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stability, "MAX_POINTS", 11)
    equity = _curves(101, 121, 2)
    got = stability_of(block_return_stats(equity, 4), np.datetime64("2001-01-01")
                       + np.arange(121))
    firsts = [p[0] for p in got.points]
    assert len(firsts) == 11 and firsts == sorted(firsts, reverse=True)
    assert got.runs == 101  # every run ranked, 11 drawn: the best, the worst and between
    returns = equity[:, 1:] / equity[:, :-1] - 1
    first_half = np.concatenate(np.array_split(np.arange(120), 4)[:2])
    in_sample = _sharpe(returns[:, first_half]) * np.sqrt(252)
    assert (firsts[0], firsts[-1]) == pytest.approx((in_sample.max(), in_sample.min()))


def test_spearman_needs_three_varying_values() -> None:
    assert spearman(np.array([1.0, 2.0]), np.array([2.0, 1.0])) is None
    assert spearman(np.array([1.0, 1.0, 1.0]), np.array([1.0, 2.0, 3.0])) is None
    assert spearman(np.array([1.0, 2.0, 3.0, np.nan]), np.array([3.0, 2.0, 1.0, 0.0])) == \
        pytest.approx(-1.0)
