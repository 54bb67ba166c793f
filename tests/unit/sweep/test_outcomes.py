"""Distinct outcomes: combinations with the same trades count once in the deflated Sharpe's
trials, in CSCV and in the top table, under the best-ranked of them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from gridbt.sweep.finish import (
    BLOCK_COLUMNS,
    SAME_OUTCOME,
    block_matrix,
    distinct_outcomes,
    overfitting_statistics,
    ranked,
)
from gridbt.sweep.results import arrow_lists


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


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.sampled_from([0.5, -0.0, 0.0, 1.2, -3.0, np.nan, np.inf]),
                       max_size=30),
       maximize=st.booleans(), seed=st.integers(0, 2**16))
def test_ranking_is_sort_values_by_the_kpi_then_the_combination(
        values: list[float], maximize: bool, seed: int) -> None:
    """`ranked` takes one lexsort order (fast over Arrow list columns): the order pandas'
    stable sort gives, NaN last, ties (-0.0 and 0.0 too) by combination id."""
    combos = np.random.default_rng(seed).permutation(len(values))
    results = pd.DataFrame({"combo": combos, "sharpe": values})
    want = results.sort_values(["sharpe", "combo"], ascending=[not maximize, True],
                               na_position="last", kind="stable")
    assert ranked(results, "sharpe", maximize)["combo"].tolist() == want["combo"].tolist()


def test_block_statistics_read_as_arrow_lists_or_as_rows_are_the_same(tmp_path: Path) -> None:
    """What `ResultStore.read` gives (Arrow lists, `results.arrow_lists`) and lists of arrays
    (a study's frame) make the same (rows, blocks) matrix and PBO, sorted and filtered."""
    rng = np.random.default_rng(1)
    n, blocks = 40, 6
    stats = {"block_n": np.full((n, blocks), 21.0),
             "block_sum": rng.normal(0.002, 0.05, size=(n, blocks)),
             "block_sumsq": rng.uniform(0.001, 0.01, size=(n, blocks))}
    table = pa.table({"combo": np.arange(n), "sharpe": rng.normal(size=n),
                      **{name: pa.FixedSizeListArray.from_arrays(pa.array(m.ravel()), blocks)
                         for name, m in stats.items()}})
    pq.write_table(table, tmp_path / "r.parquet")
    arrow = pq.read_table(tmp_path / "r.parquet").to_pandas(types_mapper=arrow_lists)
    rows = pd.DataFrame({"combo": np.arange(n), "sharpe": table["sharpe"].to_numpy(),
                         **{name: list(m) for name, m in stats.items()}})
    assert isinstance(arrow["block_sum"].dtype, pd.ArrowDtype)
    for frame_ in (arrow, rows):
        best = ranked(frame_, "sharpe", True).iloc[5:30]  # a slice of another order
        order = best["combo"].to_numpy()
        for name in BLOCK_COLUMNS:
            np.testing.assert_array_equal(block_matrix(best[name]), stats[name][order])
    equity = 1e5 * np.cumprod(1 + rng.normal(0, 0.01, 200))[None, :]
    assert overfitting_statistics(arrow, equity) == overfitting_statistics(rows, equity)
