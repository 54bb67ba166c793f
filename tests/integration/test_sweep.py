"""Sweeps on a real local Ray: results equal one-by-one backtests, resume, failures, MLflow."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from gridbt.data.default import load_packed
from gridbt.kernel.dispatch import kpis_of
from gridbt.kernel.enums import SkipReason
from gridbt.kernel.metrics import METRICS
from gridbt.runtime import BacktestActor
from gridbt.strategy.backtest import run_backtest
from gridbt.sweep.driver import run_sweep
from gridbt.sweep.grid import Grid
from gridbt.sweep.manifest import read_manifest
from gridbt.sweep.results import ResultStore
from gridbt.sweep.spec import SweepError, load_sweep

ray = pytest.importorskip("ray")
# the actor subclasses below travel to Ray workers by value: workers cannot import this file
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.usefixtures("local_ray")


def sweep_file(tmp_path: Path, chain: Path, extra: str = "", grid: str | None = None) -> Path:
    grid = grid or """\
          structure.legs.0.select.target: [0.15, 0.25, 0.35]
          exit.profit_target: [0.5, null]
          exit.stop_loss: [1.5, 3.0, null]
          exit.dte: [null, 14]
        """
    body = textwrap.dedent(f"""\
        name: test_sweep
        strategy: {REPO / 'jobs/strategies/short_put_30d.yaml'}
        data: {chain}
        keep_equity: 4
        pbo_blocks: 6
        mlflow: {{enabled: false}}
        ray: {{batch_seconds: 0.05}}
        grid:
        """) + textwrap.indent(textwrap.dedent(grid), "  ") + textwrap.dedent(extra)
    path = tmp_path / "sweep.yaml"
    path.write_text(body)
    return path


def test_results_equal_backtests_run_one_by_one(tmp_path: Path, chain: Path) -> None:
    path = sweep_file(tmp_path, chain)
    outcome = run_sweep(path, out=tmp_path / "out", progress=False, workdir=tmp_path)
    assert outcome.failed == 0 and not outcome.interrupted
    results = ResultStore(outcome.out_dir).read()
    assert len(results) == outcome.valid == outcome.computed == 36
    assert results["param_hash"].is_unique

    sweep, base = load_sweep(path)
    packed = load_packed(chain)
    grid = Grid(sweep, base, packed, str(path))
    for _, row in results.iterrows():
        spec = grid.spec_of(int(row["combo"]))
        assert spec.exit.stop_loss == (None if np.isnan(row["exit.stop_loss"])
                                       else row["exit.stop_loss"])
        single = run_backtest(packed, spec)
        expected = kpis_of(single, packed, spec.capital)
        for metric in METRICS:
            np.testing.assert_allclose(row[metric.name], expected[metric.name], rtol=1e-12,
                                       equal_nan=True, err_msg=metric.name)
        for k, reason in enumerate(SkipReason.NAMES):
            assert row[f"skip_{reason}"] == single.skips[k]

    manifest = read_manifest(outcome.out_dir)
    assert manifest is not None and manifest.status == "done"
    assert manifest.statistics["n_combinations"] == 36
    assert manifest.statistics["n_trials"] == manifest.statistics["n_outcomes"] \
        == results["outcome_hash"].nunique() < 36  # some combinations trade alike
    assert 0.0 <= manifest.statistics["pbo"] <= 1.0
    assert 0.0 <= manifest.statistics["deflated_sharpe"] <= 1.0
    # the kept equity curves are the best four outcomes (each under its best-ranked
    # combination), equal to their single runs
    ranked_rows = results.sort_values(["sharpe", "combo"], ascending=[False, True])
    best = ranked_rows.drop_duplicates("outcome_hash").head(4)
    top = pq.read_table(outcome.out_dir / "equity" / "top.parquet").to_pandas()
    assert top["combo"].tolist() == best["combo"].tolist()
    for combo, curve in zip(top["combo"], top["equity"], strict=True):
        np.testing.assert_allclose(curve, run_backtest(packed, grid.spec_of(combo)).equity,
                                   rtol=1e-12)
    assert manifest.best["combo"] == int(best["combo"].iloc[0])


def test_hedged_sweep_equals_backtests_run_one_by_one(tmp_path: Path, chain: Path) -> None:
    """The risk layer through Ray: the hedged, risk-sized strangle swept over its hedge rule.
    `hedge.every_days` is the slowest axis, so whole batches hold only its off value (null)
    and the parts must still agree on the column's type."""
    body = textwrap.dedent(f"""\
        name: hedged_test
        strategy: {REPO / 'jobs/strategies/hedged_short_strangle.yaml'}
        data: {chain}
        keep_equity: 2
        pbo_blocks: 4
        mlflow: {{enabled: false}}
        ray: {{batch_seconds: 0.02}}
        grid:
          hedge.every_days: [null, 5]
          hedge.half_width: [5.0, 30.0]
          hedge.rebalance_to: [center, boundary]
          sizing.risk_budget: [0.02, 0.05]
          risk.account.liquidation: [full, target]
        """)
    path = tmp_path / "hedged.yaml"
    path.write_text(body)
    outcome = run_sweep(path, out=tmp_path / "out", progress=False, workdir=tmp_path)
    assert outcome.failed == 0 and outcome.computed == 32
    results = ResultStore(outcome.out_dir).read()
    assert len(list((outcome.out_dir / "results").glob("part-*.parquet"))) > 1
    assert results["hedge.every_days"].isna().sum() == 16
    sweep, base = load_sweep(path)
    packed = load_packed(chain)
    grid = Grid(sweep, base, packed, str(path))
    for _, row in results.iterrows():
        single = run_backtest(packed, grid.spec_of(int(row["combo"])))
        assert len(single.trades) > 0 and (single.trades["hedge_pnl"] != 0).any()
        expected = kpis_of(single, packed, base.capital)
        for metric in METRICS:
            np.testing.assert_allclose(row[metric.name], expected[metric.name], rtol=1e-12,
                                       equal_nan=True, err_msg=metric.name)


def test_existing_results_need_resume(tmp_path: Path, chain: Path) -> None:
    path = sweep_file(tmp_path, chain, grid="exit.stop_loss: [1.5, null]\n")
    run_sweep(path, out=tmp_path / "out", progress=False, finish=False)
    with pytest.raises(SweepError, match="pass --resume"):
        run_sweep(path, out=tmp_path / "out", progress=False)
    other = sweep_file(tmp_path, chain, grid="exit.stop_loss: [2.5, null]\n")
    with pytest.raises(SweepError, match="different sweep"):
        run_sweep(other, out=tmp_path / "out", progress=False, resume=True)


def test_interrupted_sweep_resumes_without_recomputing(tmp_path: Path, chain: Path) -> None:
    # on the day kernel, whose first batches are small: the grid takes several batches (on
    # trade tables its three entry groups take two), so the interrupt lands mid-sweep
    path = sweep_file(tmp_path, chain, extra="engine: day\n")
    seen: list[int] = []

    def interrupt(done: int) -> None:
        seen.append(done)
        if len(seen) == 2:
            raise KeyboardInterrupt  # what Ctrl-C raises in the driver

    first = run_sweep(path, out=tmp_path / "out", progress=False, on_batch=interrupt)
    assert first.interrupted and 0 < first.computed < first.valid
    manifest = read_manifest(first.out_dir)
    assert manifest is not None and manifest.status == "interrupted"
    kept = ResultStore(first.out_dir).read()
    assert len(kept) == first.computed

    second = run_sweep(path, out=tmp_path / "out", progress=False, resume=True)
    assert second.already_done == first.computed
    assert second.computed == second.valid - first.computed
    results = ResultStore(second.out_dir).read()
    assert results["combo"].tolist() == list(range(36))
    assert results["param_hash"].is_unique
    # the first run's rows are untouched
    merged = results.set_index("param_hash").loc[kept["param_hash"], "sharpe"].to_numpy()
    np.testing.assert_array_equal(merged, kept["sharpe"].to_numpy())
    # sweep.json counts the grid's time over both runs, and a resume with nothing left adds
    # none (it said "ran 0 ms" after one)
    resumed = read_manifest(second.out_dir)
    assert resumed is not None and resumed.runs == 2
    assert resumed.seconds == pytest.approx(manifest.seconds + second.seconds)
    run_sweep(path, out=tmp_path / "out", progress=False, resume=True)
    again = read_manifest(second.out_dir)
    assert again is not None and again.runs == 3 and again.seconds == resumed.seconds > 0


class FailingActor(BacktestActor):
    """Raises on any batch holding one poisoned combination (delta 0.35, stop 3, DTE exit 14,
    no profit target), on every attempt."""

    def run(self, params: np.ndarray, keep_equity: bool, engine: str = "day") -> Any:
        from gridbt.kernel.contract import LEG, P_LEG0, P

        poisoned = ((params[:, P_LEG0 + LEG.target] == 0.35) & (params[:, P.stop_loss] == 3.0)
                    & np.isnan(params[:, P.profit_target]) & (params[:, P.dte_exit] == 14))
        if poisoned.any():
            raise RuntimeError("poisoned batch")
        return super().run(params, keep_equity, engine)


def test_a_batch_that_keeps_failing_is_recorded_and_the_sweep_goes_on(
    tmp_path: Path, chain: Path
) -> None:
    path = sweep_file(tmp_path, chain, extra="ray: {batch_seconds: 0.05, max_attempts: 2}\n")
    path.write_text(path.read_text().replace("ray: {batch_seconds: 0.05}\n", ""))
    outcome = run_sweep(path, out=tmp_path / "out", progress=False, actor_cls=FailingActor,
                        finish=False)
    store = ResultStore(outcome.out_dir)
    failures, results = store.failures(), store.read()
    assert outcome.failed == len(failures) > 0
    assert (failures["attempts"] == 2).all()
    assert failures["error"].str.contains("poisoned batch").all()
    assert len(results) + len(failures) == outcome.valid
    assert not set(results["combo"]) & set(failures["combo"])
    # the poisoned combination: delta 0.35 (2), pt null (1), stop 3.0 (1), dte 14 (1) -> 33
    assert 33 in set(failures["combo"])


class DyingActor(BacktestActor):
    """Kills its own process on its first batch, once per test (a marker file says so)."""

    def run(self, params: np.ndarray, keep_equity: bool, engine: str = "day") -> Any:
        marker = Path(os.environ["GRIDBT_TEST_MARKER"])
        if not marker.exists():
            marker.write_text("died")
            os._exit(1)
        return super().run(params, keep_equity, engine)


def test_a_dead_actor_loses_no_combination(tmp_path: Path, chain: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "marker"
    path = sweep_file(tmp_path, chain)
    monkeypatch.setenv("GRIDBT_TEST_MARKER", str(marker))
    ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"GRIDBT_TEST_MARKER": str(marker)}})
    outcome = run_sweep(path, out=tmp_path / "out", progress=False, actor_cls=DyingActor,
                        finish=False)
    assert marker.read_text() == "died"
    results = ResultStore(outcome.out_dir).read()
    assert outcome.failed == 0
    assert results["combo"].tolist() == list(range(outcome.valid))


def test_actors_share_one_read_only_chain(chain: Path) -> None:
    from gridbt.strategy.encode import encode_spec

    packed = load_packed(chain)
    ref = ray.put(packed)
    _, base = load_sweep(REPO / "jobs/sweeps/short_put_grid.yaml")
    actors = [ray.remote(BacktestActor).remote(encode_spec(base, packed), 4) for _ in range(2)]
    infos = ray.get([a.call.remote([ref], "ready") for a in actors], timeout=300)
    for info in infos:
        assert info["chain_read_only"] and not info["chain_owns_memory"]
        assert info["chain_bytes"] > 1_000_000
        assert not info["contract_major_shared"]  # no trade tables expected: none made
    assert len({i["pid"] for i in infos}) == 2
    for a in actors:
        ray.kill(a)


def test_a_sweep_pool_shares_one_contract_major_copy(chain: Path) -> None:
    """With trade tables expected, the pool puts the chain's contract-major copy in the object
    store and every actor reads it there (not a copy of its own), and the batches it runs on
    trade tables give what the day kernel gives."""
    from gridbt.kernel.dispatch import run_batch
    from gridbt.runtime import ActorPool, RayConfig, to_wire
    from gridbt.strategy.encode import STANDARD_FEATURES, encode_spec

    packed = load_packed(chain)
    sweep, base = load_sweep(REPO / "jobs/sweeps/short_put_grid.yaml")
    rows = np.concatenate([b.params for b in Grid(sweep, base, STANDARD_FEATURES).blocks()])[:40]
    pool = ActorPool(packed, encode_spec(base, STANDARD_FEATURES), 4, RayConfig(), 2,
                     tables=True)
    try:
        assert all(info["contract_major_shared"] for info in pool.ready_info)
        got = ray.get(pool.call(0, "run", rows, False, "tables"), timeout=300)
        assert not got.day_rows.all()  # some groups ran on the tables
        want = run_batch(packed, rows, n_blocks=4)
        np.testing.assert_allclose(got.kpis, want.kpis, rtol=1e-9, atol=1e-9, equal_nan=True)
        assert np.array_equal(got.outcome, want.outcome)
        # the same rows as the scheduler sends them (`runtime.wire`): the same outputs
        wired = ray.get(pool.call(1, "run", to_wire(rows), False, "tables"), timeout=300)
        np.testing.assert_array_equal(wired.kpis, got.kpis)
        assert np.array_equal(wired.outcome, got.outcome)
    finally:
        pool.close()
