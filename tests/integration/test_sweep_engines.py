"""`engine: auto` and `engine: day` on a real local Ray give the same result rows (KPIs to 1e-9,
outcome hashes equal), and sweep.json counts the combinations each engine ran, and why."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from gridbt.kernel.enums import SkipReason
from gridbt.kernel.metrics import METRICS
from gridbt.sweep.driver import run_sweep
from gridbt.sweep.manifest import read_manifest
from gridbt.sweep.results import ResultStore

pytest.importorskip("ray")
REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.usefixtures("local_ray")


GRID = """\
  exit.profit_target: [0.5, null]
  structure.legs.0.select.target: [0.15, 0.3]
  exit.stop_loss: [1.5, null]
  hedge.enabled: [false, true]   # delta hedging: the day kernel's, in either sweep
"""


def sweep_file(tmp_path: Path, chain: Path, engine: str, more: str = "",
               grid: str = GRID) -> Path:
    path = tmp_path / f"{engine}.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: engines_{engine}
        strategy: {REPO / 'jobs/strategies/short_put_30d.yaml'}
        data: {chain}
        engine: {engine}
        keep_equity: 2
        pbo_blocks: 4
        mlflow: {{enabled: false}}
        ray: {{batch_seconds: 0.05}}
        grid:
        """) + grid + more)
    return path


def small_group_file(tmp_path: Path, chain: Path, engine: str) -> Path:
    """Two entry groups (by delta) of 8 exit combinations each, but the constraints leave the
    0.15-delta group 3: too few rows to gain on trade tables (`MIN_GROUP_ROWS`)."""
    path = sweep_file(tmp_path, chain, engine, textwrap.dedent("""          exit.dte: [null, 14]
        constraints:
          - structure.legs.0.select.target > 0.2 or exit.dte < 10
          - structure.legs.0.select.target > 0.2 or exit.profit_target + exit.stop_loss > 5
        """))
    return path


def test_auto_and_day_sweeps_give_identical_rows_and_count_their_engines(
    tmp_path: Path, chain: Path
) -> None:
    auto = run_sweep(small_group_file(tmp_path, chain, "auto"), out=tmp_path / "auto",
                     progress=False, workdir=tmp_path)
    day = run_sweep(small_group_file(tmp_path, chain, "day"), out=tmp_path / "day",
                    progress=False, workdir=tmp_path)
    assert auto.computed == day.computed == 22 and auto.failed == day.failed == 0

    a = ResultStore(auto.out_dir).read().set_index("param_hash").sort_index()
    d = ResultStore(day.out_dir).read().set_index("param_hash").sort_index()
    assert a.index.tolist() == d.index.tolist() and len(a) == 22
    assert a["combo"].tolist() == d["combo"].tolist()  # ids do not depend on the walk
    for metric in METRICS:
        np.testing.assert_allclose(a[metric.name], d[metric.name], rtol=1e-9, atol=1e-9,
                                   equal_nan=True, err_msg=metric.name)
    for reason in SkipReason.NAMES:
        assert (a[f"skip_{reason}"] == d[f"skip_{reason}"]).all()
    assert a["outcome_hash"].dtype == np.int64
    assert (a["outcome_hash"] == d["outcome_hash"]).all()

    hedged = a["hedge.enabled"].astype(bool)
    small = ~hedged & (a["structure.legs.0.select.target"] < 0.2)
    big = ~hedged & ~small
    assert (a.loc[hedged, "engine"] == "day").all() and (a.loc[big, "engine"] == "tables").all()
    assert (a.loc[hedged, "fallback"] == "delta_hedge").all()
    assert (a.loc[big, "fallback"] == "").all()
    # the group left with 3 rows ran on the day kernel, and its rows say so
    assert small.sum() == 3 and (a.loc[small, "engine"] == "day").all()
    assert (a.loc[small, "fallback"] == "small_group").all()
    assert (d["engine"] == "day").all() and (d["fallback"] == "engine_day").all()
    for part in (auto.out_dir / "results").glob("part-*.parquet"):
        # a batch is a day-kernel batch or a trade-table batch (whose small groups ran on the
        # day kernel), never both
        reasons = set(pq.read_table(part, columns=["fallback"]).column("fallback").to_pylist())
        assert reasons == {"delta_hedge"} or "delta_hedge" not in reasons

    auto_manifest, day_manifest = read_manifest(auto.out_dir), read_manifest(day.out_dir)
    assert auto_manifest is not None and day_manifest is not None
    replayed = auto_manifest.engines.pop("replayed")
    assert auto_manifest.engines == {"engine": "auto", "tables": 8, "day": 14,
                                     "fallback": {"delta_hedge": 11, "small_group": 3}}
    # a row not walked made a walked row's trades: it cannot outnumber the repeats
    assert 0 <= replayed <= 8 - a.loc[big, "outcome_hash"].nunique()
    assert day_manifest.engines == {"engine": "day", "tables": 0, "day": 22, "replayed": 0,
                                    "fallback": {"engine_day": 22}}
    for m in (auto_manifest, day_manifest):
        assert m.statistics["n_combinations"] == 22
        assert m.statistics["n_trials"] == m.statistics["n_outcomes"] \
            == a["outcome_hash"].nunique()
    assert auto_manifest.statistics == day_manifest.statistics
    merged = ResultStore(auto.out_dir).read_summary()
    assert merged["outcome_hash"].dtype == np.int64 and len(merged) == 22


def test_the_engine_override_runs_a_resumed_sweep_on_the_day_kernel(
    tmp_path: Path, chain: Path
) -> None:
    path = sweep_file(tmp_path, chain, "auto", "  exit.dte: [null, 7, 14, 21]\n")
    seen: list[int] = []

    def interrupt(done: int) -> None:
        seen.append(done)
        if len(seen) == 2:
            raise KeyboardInterrupt

    first = run_sweep(path, out=tmp_path / "out", progress=False, on_batch=interrupt)
    assert first.interrupted and 0 < first.computed < 64
    second = run_sweep(path, out=tmp_path / "out", progress=False, resume=True, engine="day")
    assert second.already_done == first.computed
    assert second.computed == 64 - first.computed
    results = ResultStore(second.out_dir).read()
    assert sorted(results["combo"]) == list(range(64)) and results["param_hash"].is_unique
    manifest = read_manifest(second.out_dir)
    assert manifest is not None and manifest.engines["engine"] == "day"
    assert manifest.engines["day"] + manifest.engines["tables"] == 64
    # every combination of the resumed run ran on the day kernel, the first run's as they ran
    assert manifest.engines["fallback"]["engine_day"] == second.computed


def test_gridbt_sweep_engine_day_prints_the_engines_and_distinct_outcomes(
    tmp_path: Path, chain: Path
) -> None:
    path = sweep_file(tmp_path, chain, "auto")
    r = subprocess.run([sys.executable, "-m", "gridbt.cli", "sweep", str(path), "--engine", "day",
                        "--out", str(tmp_path / "out"), "--quiet"], capture_output=True,
                       text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "engines (day): 0 combinations on trade tables, 16 on the day kernel " \
        "(engine_day 16)" in r.stdout
    manifest = read_manifest(tmp_path / "out")
    assert manifest is not None and manifest.sweep["engine"] == "day"
    n = int(manifest.statistics["n_outcomes"])
    assert f"16 combinations, {n:,} distinct outcomes (trade sequences)" in r.stdout
    assert f"from {n:,} trials by luck alone" in r.stdout


def test_combinations_that_repeat_a_walked_ones_trades_are_counted_as_not_walked(
    tmp_path: Path, chain: Path
) -> None:
    """Stops at 40 to 70 times the credit are never reached on this chain: within an entry
    group the four rows make the same trades, so the first is walked and the other three copy
    it. sweep.json and the summary count them; their rows equal the day kernel's."""
    path = sweep_file(tmp_path, chain, "auto", grid="""\
  structure.legs.0.select.target: [0.2, 0.3]
  exit.stop_loss: [40, 50, 60, 70]
""")

    def interrupt(done: int) -> None:  # after the first batch (one entry group) is on disk
        raise KeyboardInterrupt

    first = run_sweep(path, out=tmp_path / "auto", progress=False, on_batch=interrupt)
    assert first.interrupted and 0 < first.computed < 8
    manifest = read_manifest(first.out_dir)
    assert manifest is not None and manifest.engines["replayed"] == first.computed // 4 * 3
    auto = run_sweep(path, out=tmp_path / "auto", progress=False, resume=True)
    day = run_sweep(path, out=tmp_path / "day", progress=False, engine="day")
    manifest = read_manifest(auto.out_dir)
    assert manifest is not None and manifest.status == "done"
    # counted over both runs, and kept by the finish (which counts engines from the rows)
    assert manifest.engines["tables"] == 8 and manifest.engines["replayed"] == 6
    assert read_manifest(day.out_dir).engines["replayed"] == 0  # type: ignore[union-attr]
    a = ResultStore(auto.out_dir).read().set_index("param_hash").sort_index()
    d = ResultStore(day.out_dir).read().set_index("param_hash").sort_index()
    assert (a.groupby("structure.legs.0.select.target")["outcome_hash"].nunique() == 1).all()
    assert (a["outcome_hash"] == d["outcome_hash"]).all()
    for metric in METRICS:
        np.testing.assert_allclose(a[metric.name], d[metric.name], rtol=1e-9, atol=1e-9,
                                   equal_nan=True, err_msg=metric.name)
    from gridbt.report.sweep import format_engines

    assert "(6 of them not walked: they repeated an earlier one's trades)" in \
        format_engines(manifest.engines)
