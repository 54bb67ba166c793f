"""Grouped statistics (`plots.group_stats`, `grouped_nb`) equal pandas' group-by, exactly for
the order statistics, compiled and as plain Python."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridbt.results import grouped_nb, plots
from gridbt.results.models import Heatmap
from gridbt.results.plots import group_stats, heatmap_of_frame

QUANTILES = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0)


@pytest.fixture(params=["numba", "python"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The compiled kernels, or their Python source run as it is."""
    if request.param == "python":
        for name in ("group_stats_nb", "group_quantiles_nb", "_select_nb"):
            monkeypatch.setattr(grouped_nb, name, getattr(grouped_nb, name).py_func)
    yield request.param


def _expected(values: np.ndarray, groups: np.ndarray, selected: np.ndarray,
              n_groups: int) -> pd.DataFrame:
    frame = pd.DataFrame({"v": values, "g": groups})[selected & (groups >= 0)]
    grouped = frame.groupby("g")["v"]
    out = pd.DataFrame({"rows": grouped.size(), "count": grouped.count(), "min": grouped.min(),
                        "max": grouped.max(), "mean": grouped.mean(),
                        "median": grouped.median()})
    for q in QUANTILES:
        out[f"q{q}"] = grouped.quantile(q)
    return out.reindex(range(n_groups))


def _check(values: np.ndarray, groups: np.ndarray, selected: np.ndarray, n_groups: int,
           higher: bool) -> None:
    stats = group_stats(values, groups, n_groups, higher_is_better=higher, selected=selected,
                        quantiles=QUANTILES)
    want = _expected(values, groups, selected, n_groups)
    np.testing.assert_array_equal(stats.rows, want["rows"].fillna(0))
    np.testing.assert_array_equal(stats.count, want["count"].fillna(0))
    np.testing.assert_array_equal(stats.min, want["min"])
    np.testing.assert_array_equal(stats.max, want["max"])
    np.testing.assert_allclose(stats.mean, want["mean"], rtol=1e-13, atol=1e-15)
    for k, q in enumerate(QUANTILES):  # 0.5: the median, (a + b) / 2 as pandas' median
        expected = want["median"] if q == 0.5 else want[f"q{q}"]
        np.testing.assert_array_equal(stats.quantiles[:, k], expected)
    median = group_stats(values, groups, n_groups, higher_is_better=higher, selected=selected,
                         quantiles=(0.5,))
    np.testing.assert_array_equal(median.aggregate("median"), want["median"])
    for g in range(n_groups):  # the best row: the first of the group's best values
        members = np.flatnonzero(selected & (groups == g) & ~np.isnan(values))
        if not len(members):
            assert stats.best[g] == -1
            continue
        top = values[members].max() if higher else values[members].min()
        assert stats.best[g] == members[values[members] == top][0]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 400), n_groups=st.integers(1, 12), seed=st.integers(0, 2**31),
       ties=st.booleans(), higher=st.booleans())
def test_group_stats_equal_pandas(n: int, n_groups: int, seed: int, ties: bool,
                                  higher: bool) -> None:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=n)
    if ties:
        values = np.round(values * 2) / 2  # many equal values
    values[rng.random(n) < 0.15] = np.nan
    groups = rng.integers(-1, n_groups, n)  # -1: a row in no group
    selected = rng.random(n) < 0.8
    _check(values, groups, selected, n_groups, higher)


def test_the_python_source_gives_the_same_answers(engine: str) -> None:
    rng = np.random.default_rng(7)
    values = np.round(rng.normal(size=300), 1)
    values[::11] = np.nan
    groups = rng.integers(0, 5, 300)
    _check(values, groups, rng.random(300) < 0.7, 6, higher=False)  # group 5 is empty


def test_large_groups_are_exact() -> None:
    rng = np.random.default_rng(11)
    values = rng.standard_t(3, size=200_000)
    groups = rng.integers(0, 7, 200_000)
    _check(values, groups, rng.random(200_000) < 0.6, 7, higher=True)


def test_aggregates_count_empty_cells_as_null_and_all_undefined_as_zero() -> None:
    values = np.array([1.0, np.nan, 3.0, np.nan])
    stats = group_stats(values, np.array([0, 1, 0, 1]), 3, higher_is_better=True)
    np.testing.assert_array_equal(stats.aggregate("count"), [2.0, 0.0, np.nan])
    np.testing.assert_array_equal(stats.aggregate("mean"), [2.0, np.nan, np.nan])
    with pytest.raises(ValueError, match="ascending"):
        group_stats(values, np.zeros(4, dtype=np.int64), 1, higher_is_better=True,
                    quantiles=(0.5, 0.25))


def test_a_frame_heatmap_equals_a_pandas_group_by(engine: str) -> None:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"x": rng.choice([0.1, 0.2, 0.3], 500),
                          "y": rng.choice([1.0, 2.0, None], 500),
                          "m": rng.normal(size=500),
                          "param_hash": [f"{i:016x}" for i in range(500)]})
    frame.loc[::7, "m"] = np.nan
    for agg in plots.AGGREGATES:
        heatmap = heatmap_of_frame(frame, "x", "y", "m", higher_is_better=True, agg=agg)
        assert Heatmap.model_validate(heatmap.model_dump()) == heatmap  # built unvalidated
        grouped = frame.assign(y=frame["y"].fillna(-1.0)).groupby(["y", "x"])["m"]
        want = getattr(grouped, agg)()
        for i, y in enumerate(heatmap.y_values):
            for j, x in enumerate(heatmap.x_values):
                expected = want[(-1.0 if y is None else y, x)]
                assert heatmap.values[i][j] == pytest.approx(expected, rel=1e-15)
