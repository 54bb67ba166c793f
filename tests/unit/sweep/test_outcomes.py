"""Distinct outcomes: combinations with the same trades count once in the deflated Sharpe's
trials, in CSCV and in the top table, under the best-ranked of them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridbt.sweep.finish import (
    BLOCK_COLUMNS,
    SAME_OUTCOME,
    distinct_outcomes,
    overfitting_statistics,
    ranked,
)


def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "combo": [0, 1, 2, 3, 4, 5],
        "sharpe": [0.5, 1.2, 1.2, 0.9, np.nan, 0.5],
        "outcome_hash": [7, 3, 3, 5, 9, 7],  # combos 1, 2 trade alike; so do 0, 5
    })


def test_distinct_outcomes_keep_the_best_ranked_combination_of_each() -> None:
    distinct = distinct_outcomes(ranked(frame(), "sharpe", maximize=True))
    assert distinct["combo"].tolist() == [1, 3, 0, 4]
    assert distinct[SAME_OUTCOME].tolist() == [2, 1, 2, 1]
    worst_first = distinct_outcomes(ranked(frame(), "sharpe", maximize=False))
    assert worst_first["combo"].tolist() == [0, 3, 1, 4]


def test_rows_without_an_outcome_hash_are_each_their_own_outcome() -> None:
    old = frame().drop(columns="outcome_hash")
    assert len(distinct_outcomes(old)) == 6
    mixed = frame().astype({"outcome_hash": "float64"})
    mixed.loc[[0, 5], "outcome_hash"] = np.nan
    distinct = distinct_outcomes(ranked(mixed, "sharpe", True))
    assert sorted(distinct["combo"].tolist()) == [0, 1, 3, 4, 5]


def test_the_deflated_sharpe_counts_distinct_outcomes() -> None:
    rng = np.random.default_rng(0)
    n, days, blocks = 6, 240, 4
    results = frame()
    returns = rng.normal(0.0005, 0.01, (n, days))
    returns[2], returns[5] = returns[1], returns[0]  # alike trades, alike curves
    split = returns.reshape(n, blocks, -1)
    results["block_n"] = list(np.full((n, blocks), split.shape[2], dtype=float))
    results["block_sum"] = list(split.sum(axis=2))
    results["block_sumsq"] = list((split**2).sum(axis=2))
    best_first = ranked(results, "sharpe", True)
    equity = 1e5 * np.cumprod(1 + returns[1])[None, :]
    distinct = distinct_outcomes(best_first)
    stats = overfitting_statistics(distinct, equity)
    assert stats["n_trials"] == 4
    raw = overfitting_statistics(best_first, equity)
    assert raw["n_trials"] == 6 and raw["expected_max_sharpe"] != stats["expected_max_sharpe"]
    assert set(BLOCK_COLUMNS) <= set(results.columns)
