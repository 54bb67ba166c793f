"""Plot data: downsampling keeps a series' shape, a column's axis levels are the same however
they are found, ids and paths stay under the root."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridbt.results.discovery import discover, entry_id
from gridbt.results.plots import _levels_by_identity, axis_levels, axis_sort_key, downsample_indices
from gridbt.results.series import equity_of


@settings(max_examples=200, deadline=None)
@given(n=st.integers(2, 3000), points=st.integers(2, 600), seed=st.integers(0, 2**31),
       gaps=st.booleans())
def test_downsampling_keeps_first_last_max_min_within_the_budget(
        n: int, points: int, seed: int, gaps: bool) -> None:
    values = np.cumsum(np.random.default_rng(seed).normal(size=n))
    if gaps and n > 10:
        values[n // 3:n // 3 + 4] = np.nan
    index = downsample_indices(values, points)
    assert len(index) <= points or len(index) == n <= points
    assert index[0] == 0 and index[-1] == n - 1 and np.all(np.diff(index) > 0)
    if points >= 4:
        assert np.nanargmax(values) in index and np.nanargmin(values) in index


_GRID_VALUES = {
    "float": st.one_of(st.sampled_from([0.0, -0.0, float("nan"), 0.25, 1.0, -2.5]),
                       st.floats(-10, 10, allow_nan=False, width=32)),
    "int": st.integers(-5, 5),
    "bool": st.booleans(),
    "text": st.one_of(st.none(), st.sampled_from(["delta", "offset", "", "é"])),
    "mixed": st.one_of(st.none(), st.booleans(), st.integers(0, 2), st.sampled_from([1.0, 0.5]),
                       st.lists(st.integers(0, 4), max_size=3), st.just("x")),
}


@settings(max_examples=300, deadline=None)
@given(data=st.data(), kind=st.sampled_from(sorted(_GRID_VALUES)))
def test_axis_levels_are_the_same_factorised_or_item_by_item(data: st.DataObject,
                                                            kind: str) -> None:
    """The C factorisation a sweep's heatmaps use for numeric, boolean and text columns
    (a million rows in ~0.1 s rather than seconds) gives the levels, their order and each
    row's code that `axis_identity` item by item gives (NaN and None off, -0.0 as 0.0, 1 and
    True apart in a mixed column)."""
    items = data.draw(st.lists(_GRID_VALUES[kind], max_size=40))
    dtype = {"float": np.float64, "int": np.int64, "bool": np.bool_}.get(kind, object)
    column = pd.Series(np.array(items, dtype=dtype) if dtype is not object else
                       pd.array(items, dtype=object))
    got, want = axis_levels(column), _levels_by_identity(column.tolist())
    assert [repr(v) for v in got.values] == [repr(v) for v in want.values]
    assert got.codes.tolist() == want.codes.tolist()


def test_a_short_series_is_returned_whole() -> None:
    assert downsample_indices(np.arange(5.0), 5).tolist() == [0, 1, 2, 3, 4]


def test_equity_keeps_the_deepest_drawdown_and_the_attribution_totals() -> None:
    rng = np.random.default_rng(3)
    equity = 100 + np.cumsum(rng.normal(size=1000))
    pnl = rng.normal(size=1000)
    dates = np.datetime64("2020-01-01") + np.arange(1000)
    series = equity_of(dates, equity, 12, "file", {"pnl_delta": pnl, "spot": equity * 2})
    drawdown = equity / np.maximum.accumulate(equity) - 1
    assert min(series.drawdown) == pytest.approx(drawdown.min())
    assert sum(series.columns["pnl_delta"]) == pytest.approx(pnl.sum())
    assert series.columns["spot"] == [2 * e for e in series.equity]
    assert series.points == len(series.dates) <= 12 and series.days == 1000


def test_axis_order_is_numbers_text_booleans_then_off() -> None:
    values = [None, True, "b", 2.0, "a", 1, False]
    assert sorted(values, key=axis_sort_key) == [1, 2.0, "a", "b", False, True, None]


def test_ids_are_paths_under_the_root() -> None:
    assert entry_id(()) == "~"
    assert entry_id(("sweeps", "short_put")) == "sweeps~short_put"
    assert entry_id(("a b", "x~y", "é")) == "a%20b~x%7Ey~%C3%A9"


def test_discovery_reads_manifests_not_names(tmp_path: Path) -> None:
    (tmp_path / "sweeps" / "real").mkdir(parents=True)
    (tmp_path / "sweeps" / "real" / "sweep.json").write_text(
        '{"name": "real", "sweep": {}, "grid_signature": "x"}')
    (tmp_path / "sweeps" / "named_like_a_sweep").mkdir()
    (tmp_path / "sweeps" / "named_like_a_sweep" / "sweep.json").write_text('{"not": "one"}')
    (tmp_path / "out" / "bt").mkdir(parents=True)
    (tmp_path / "out" / "bt" / "summary.json").write_text(
        '{"strategy": {}, "kpis": {}, "data": {}, "engine": "numba"}')
    (tmp_path / "out" / "study").mkdir()
    (tmp_path / "out" / "study" / "summary.json").write_text(
        '{"study": "s", "objectives": []}')
    (tmp_path / "out" / "running").mkdir()  # a study that has not finished yet
    (tmp_path / "out" / "running" / "study.json").write_text(
        '{"study": "r", "objectives": [], "storage": "sqlite:///x/study.db"}')
    (tmp_path / "out" / "not_a_study").mkdir()
    (tmp_path / "out" / "not_a_study" / "study.json").write_text('{"study": "r"}')
    (tmp_path / ".hidden" / "x").mkdir(parents=True)
    (tmp_path / ".hidden" / "x" / "summary.json").write_text(
        '{"study": "s", "objectives": []}')
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "summary.json").write_text("{not json")
    found = {(e.kind, e.id) for e in discover(tmp_path.resolve())}
    assert found == {("sweep", "sweeps~real"), ("backtest", "out~bt"),
                     ("study", "out~study"), ("study", "out~running")}
