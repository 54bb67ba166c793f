"""A sweep's runs in DuckDB (`results.runs`): result parts read once per hash, and heatmaps and
slices over the numpy columns equal pandas, for grid paths of every type."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gridbt.results.columns import ColumnCache
from gridbt.results.models import Heatmap
from gridbt.results.query import QueryError
from gridbt.results.runs import RunStore, SweepRuns
from gridbt.sweep.finish import SAME_OUTCOME, distinct_outcomes, ranked

PATHS = ["x", "kind", "hedge", "days"]
FINGERPRINT = "f" * 32


def _parts(directory: Path, frame: pd.DataFrame, sizes: list[int]) -> None:
    (directory / "results").mkdir(parents=True, exist_ok=True)
    start = 0
    for k, size in enumerate(sizes, start=1):
        chunk = frame.iloc[start:start + size]
        start += size
        fields = [
            ("combo", pa.int64()), ("param_hash", pa.string()), ("x", pa.float64()),
            ("kind", pa.string()), ("hedge", pa.bool_()), ("days", pa.list_(pa.int64())),
            ("sharpe", pa.float64()), ("trade_count", pa.float64()),
            ("data_fingerprint", pa.string())]
        if "outcome_hash" in frame.columns:
            fields.append(("outcome_hash", pa.int64()))
        table = pa.Table.from_pandas(chunk, preserve_index=False, schema=pa.schema(fields))
        pq.write_table(table, directory / "results" / f"part-20250101T000000000000-{k:06d}"
                       ".parquet")


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    n = 600
    sharpe = rng.normal(size=n)
    sharpe[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame({
        "combo": np.arange(n), "param_hash": [f"{i:016x}" for i in range(n)],
        "x": rng.choice([0.1, 0.2, 0.3, np.nan], n),
        "kind": rng.choice(["put", "call", None], n),
        "hedge": pd.array(rng.choice([True, False, None], n), dtype="boolean"),
        "days": [None if i % 7 == 0 else [i % 3, 4] for i in range(n)],
        "sharpe": sharpe, "trade_count": rng.integers(0, 20, n).astype(float),
        "data_fingerprint": FINGERPRINT})


def _runs(tmp_path: Path) -> SweepRuns:
    store = RunStore(refresh_seconds=0.0, columns=ColumnCache(budget=2**20))
    return store.sweep(tmp_path, tmp_path, FINGERPRINT, PATHS)


def _key(value: object) -> object:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    return tuple(value) if isinstance(value, list | np.ndarray) else value


def test_a_hash_written_twice_is_read_once_the_first_written(tmp_path: Path,
                                                             frame: pd.DataFrame) -> None:
    again = frame.iloc[:50].assign(sharpe=99.0)  # a second writer's rows, later parts
    _parts(tmp_path, pd.concat([frame, again]), [300, 300, 50])
    runs = _runs(tmp_path)
    assert runs.count() == 600
    page = runs.page("s", ["-sharpe"], None, 5, 0)
    assert page.total == 600 and all(r.kpis["sharpe"] != 99.0 for r in page.rows)


@pytest.mark.parametrize("path", ["kind", "hedge", "days"])
@pytest.mark.parametrize("agg", ["median", "max", "count"])
def test_heatmaps_over_paths_of_every_type_equal_pandas(tmp_path: Path, frame: pd.DataFrame,
                                                        path: str, agg: str) -> None:
    _parts(tmp_path, frame, [250, 250, 100])
    runs = _runs(tmp_path)
    heatmap = runs.heatmap("x", path, "sharpe", agg, True, filter_text="trade_count >= 5")
    assert Heatmap.model_validate_json(heatmap.model_dump_json()) == heatmap
    kept = frame[frame["trade_count"] >= 5]
    assert heatmap.runs == len(kept)
    for i, y in enumerate(heatmap.y_values):
        for j, x in enumerate(heatmap.x_values):
            cell = kept[[(_key(a), _key(b)) == (_key(x), _key(y))
                         for a, b in zip(kept["x"], kept[path], strict=True)]]
            assert heatmap.counts[i][j] == len(cell)
            values = cell["sharpe"].dropna()
            want = {"median": values.median(), "max": values.max(),
                    "count": float(len(values))}[agg] if len(cell) else None
            if want is None or (agg != "count" and values.empty):
                assert heatmap.values[i][j] is None
            else:
                assert heatmap.values[i][j] == want
            if not values.empty:
                best = cell.set_index("param_hash")["sharpe"][heatmap.best[i][j]]
                assert best == values.max()


def test_slices_equal_pandas_quartiles(tmp_path: Path, frame: pd.DataFrame) -> None:
    _parts(tmp_path, frame, [600])
    slices = _runs(tmp_path).slices("kind", "sharpe", True, "x != 0.2")
    kept = frame[(frame["x"] != 0.2) | frame["x"].isna()]
    assert [r.value for r in slices.rows] == ["call", "put", None]
    for row in slices.rows:
        values = kept[kept["kind"].isna() if row.value is None
                      else kept["kind"] == row.value]["sharpe"].dropna()
        assert row.count == len(values) and row.median == values.median()
        assert (row.q1, row.q3) == (values.quantile(0.25), values.quantile(0.75))
        assert (row.min, row.max) == (values.min(), values.max())
        assert row.mean == pytest.approx(values.mean(), rel=1e-14)


def test_columns_are_read_again_when_the_results_change(tmp_path: Path,
                                                       frame: pd.DataFrame) -> None:
    _parts(tmp_path, frame.iloc[:300], [300])
    runs = _runs(tmp_path)
    assert runs.heatmap("x", "kind", "sharpe", "count", True).runs == 300
    assert runs.store.columns.nbytes > 0
    _parts(tmp_path, frame, [300, 300])  # a running sweep wrote another part
    assert runs.heatmap("x", "kind", "sharpe", "count", True).runs == 600
    assert runs.slices("x", "sharpe", True).rows[0].count == frame[
        frame["x"] == 0.1]["sharpe"].count()


# the sorted runs read a few pages' worth at a time (growing), or one window over them all
SCANS = [65_536, 0]


@pytest.mark.parametrize("scan", SCANS)
@pytest.mark.parametrize("crowded", [False, True])
def test_a_page_of_distinct_outcomes_is_the_sweep_summarys_top_table(
        tmp_path: Path, frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, scan: int,
        crowded: bool) -> None:
    monkeypatch.setattr("gridbt.results.runs._DISTINCT_SCAN", scan)
    rng = np.random.default_rng(7)
    hashes = pd.array(rng.integers(0, 150, len(frame)), dtype="Int64")
    if crowded:  # the best 300 runs one outcome: the first read of 256 finds one
        hashes[np.argsort(-frame["sharpe"].fillna(-np.inf).to_numpy())[:300]] = 999
    hashes[rng.random(len(frame)) < 0.05] = pd.NA  # results written before outcome hashes
    frame = frame.assign(outcome_hash=hashes)
    _parts(tmp_path, frame, [250, 250, 100])
    runs = _runs(tmp_path)
    passing = frame[frame["trade_count"] >= 5]
    # what `gridbt sweep` prints: each outcome once under its best-ranked run, and `same`
    expected = distinct_outcomes(ranked(passing, "sharpe", maximize=True))
    page = runs.page("s", ["-sharpe"], "trade_count >= 5", 40, 10, distinct=True)
    assert page.distinct and page.total == len(expected) < len(passing)
    assert [r.combo for r in page.rows] == expected["combo"].iloc[10:50].tolist()
    assert [r.same for r in page.rows] == expected[SAME_OUTCOME].iloc[10:50].tolist()
    assert sum(r.same or 0 for r in runs.page("s", ["-sharpe"], "trade_count >= 5", 1000, 0,
                                              distinct=True).rows) == len(passing)
    # any sort order: the first run of each outcome in it, the rest of the page as usual
    by_x = runs.page("s", ["x", "-trade_count"], None, 1000, 0, distinct=True)
    plain = runs.page("s", ["x", "-trade_count"], None, 1000, 0)
    seen: set[object] = set()
    firsts = []
    for row in plain.rows:
        outcome = frame.loc[row.combo, "outcome_hash"]
        key = ("own", row.combo) if outcome is pd.NA else outcome
        if key not in seen:
            seen.add(key)
            firsts.append(row.combo)
    assert [r.combo for r in by_x.rows] == firsts
    assert all(r.same is None for r in plain.rows) and not plain.distinct
    # the hash is read, not offered as a column to filter or sort by
    assert "outcome_hash" not in runs.columns()
    with pytest.raises(QueryError, match="unknown key 'outcome_hash'"):
        runs.page("s", ["outcome_hash"], None, 5, 0)


def test_runs_without_outcome_hashes_are_each_their_own_outcome(
        tmp_path: Path, frame: pd.DataFrame) -> None:
    _parts(tmp_path, frame, [600])
    page = _runs(tmp_path).page("s", ["-sharpe"], None, 20, 0, distinct=True)
    assert page.total == 600 and [r.same for r in page.rows] == [1] * 20


def test_a_zip_group_is_stepped_as_one_axis_named_by_its_first_path(tmp_path: Path) -> None:
    """Sensitivity moves a zip group's paths together, as the grid does: the wings of a condor
    (`a` below the short strike, `b` above it, zipped: -1 with 1, -2 with 2, -3 with 3) are one
    axis, and the rest of the group follows its first path even where their sorted orders run
    opposite ways."""
    rows = [(a, -a, c) for a in (-1.0, -2.0, -3.0) for c in (0.5, 1.0)]
    frame = pd.DataFrame({
        "combo": np.arange(len(rows)), "param_hash": [f"{i:016x}" for i in range(len(rows))],
        "a": [r[0] for r in rows], "b": [r[1] for r in rows], "c": [r[2] for r in rows],
        "sharpe": [10.0 * r[0] + r[2] + (50.0 if r[0] == -2.0 and r[2] == 0.5 else 0.0)
                   + 100.0 for r in rows],
        "data_fingerprint": FINGERPRINT})
    (tmp_path / "results").mkdir()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False),
                   tmp_path / "results" / "part-20250101T000000000000-000001.parquet")
    runs = RunStore(refresh_seconds=0.0, columns=ColumnCache(budget=2**20)).sweep(
        tmp_path, tmp_path, FINGERPRINT, ["a", "b", "c"])
    (best,) = runs.top("sharpe", True, 1)
    assert (best.params["a"], best.params["b"], best.params["c"]) == (-2.0, 2.0, 0.5)
    sharpe = {(r[0], r[2]): s for r, s in zip(rows, frame["sharpe"], strict=True)}
    zipped = runs.neighbourhood(best, "sharpe", True, zips=[["a", "b"]])
    assert zipped.sensitivity == {"a": [sharpe[-3.0, 0.5], sharpe[-1.0, 0.5]],
                                  "c": [None, sharpe[-2.0, 1.0]]}
    # without the zip each path steps alone, onto pairs the grid does not hold
    alone = runs.neighbourhood(best, "sharpe", True)
    assert alone.sensitivity["a"] == alone.sensitivity["b"] == [None, None]
