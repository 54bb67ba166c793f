"""`gridbt sweep` as a user runs it: bad files fail fast, Ctrl-C keeps results, --resume ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from gridbt.data.default import ensure_synthetic_chain
from gridbt.report.drawing import usable_cpus
from gridbt.sweep.results import ResultStore
from gridbt.testing.process import alive, as_started, descendants, named, wait_for_results
from gridbt.tracking.artifacts import RunArtifacts

REPO = Path(__file__).resolve().parents[2]
GRIDBT = str(Path(sys.executable).with_name("gridbt"))


def write_sweep(tmp_path: Path, grid: str, extra: str = "") -> Path:
    chain = ensure_synthetic_chain(profile="small")[0]
    path = tmp_path / "sweep.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: cli_sweep
        strategy: {REPO / 'jobs/strategies/short_put_30d.yaml'}
        data: {chain}
        keep_equity: 3
        pbo_blocks: 6
        mlflow: {{experiment: cli_sweep}}
        ray: {{batch_seconds: 0.02, max_in_flight: 1}}
        grid:
        """) + textwrap.indent(textwrap.dedent(grid), "  ") + extra)
    return path


def test_a_bad_sweep_file_fails_before_any_work(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, "structure.legs.0.select.target: [0.2, 1.4]\n")
    r = subprocess.run([GRIDBT, "sweep", str(path), "--out", str(tmp_path / "out")],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 2
    assert str(path) in r.stderr
    assert "structure.legs[0].select.target" in r.stderr and "1.4" in r.stderr
    assert "Ray" not in r.stderr  # rejected before Ray started
    assert not (tmp_path / "out").exists()


def test_ctrl_c_keeps_finished_batches_and_resume_completes(tmp_path: Path) -> None:
    # on the day kernel, a few seconds: long enough to be interrupted part-way (the trade
    # tables would finish this grid in well under a second, sometimes before the signal lands)
    path = write_sweep(tmp_path, """\
        structure.legs.0.select.target: {range: [0.05, 0.5, 0.01]}
        exit.profit_target: [0.25, 0.5, 0.75, null]
        exit.stop_loss: [1.5, 2.0, 3.0, null]
        exit.dte: [null, 7, 14, 21]
        exit.max_holding_days: [null, 10, 20, 40]
        exit.rebalance_days: [null, 5, 10, 30]
        """, "engine: day\n")
    total = 46 * 4 ** 5
    out = tmp_path / "out"
    # a Ctrl-C at a terminal: SIGINT at its default, even if these tests run in the background
    proc = subprocess.Popen(as_started([GRIDBT, "sweep", str(path), "--out", str(out), "--quiet"]),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path)
    wait_for_results(proc, out, parts=3)  # before the grid ends
    os.kill(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-2000:]
    assert "sweep interrupted" in stdout and "--resume" in stdout
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["status"] == "interrupted"
    kept = ResultStore(out).read()
    assert 0 < len(kept) < total and kept["param_hash"].is_unique

    r = subprocess.run([GRIDBT, "sweep", str(path), "--out", str(out), "--resume", "--quiet"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"{len(kept):,} already done" in r.stdout
    results = ResultStore(out).read()
    assert results["combo"].tolist() == list(range(total))
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["status"] == "done" and manifest["runs"] == 2
    assert "mlflow ui --backend-store-uri sqlite:///" in r.stdout
    assert (out / "mlflow.db").is_file() and not (tmp_path / "mlflow.db").exists()  # in --out
    # the workflow after the grid: a heatmap per pair of varied paths, logged with the parent
    heatmaps = sorted(p.name for p in (out / "heatmaps").glob("heatmap_sharpe__*.png"))
    assert len(heatmaps) == 10  # the first 10 of the 6 paths' 15 pairs
    from mlflow.tracking import MlflowClient

    client = MlflowClient(manifest["mlflow"]["tracking_uri"])
    logged = set(RunArtifacts(client.tracking_uri).list(manifest["mlflow"]["run_id"]))
    assert set(heatmaps) <= logged and "results.parquet" in logged
    # the overfitting defence: deflated Sharpe, PBO and the out-of-sample degradation
    assert "deflated Sharpe" in r.stdout and "probability of backtest overfitting" in r.stdout
    stats = manifest["statistics"]
    assert (f"Sharpe falls from {stats['cscv_is_sharpe']:.2f} to "
            f"{stats['cscv_oos_sharpe']:.2f}") in r.stdout
    assert stats["oos_degradation"] == pytest.approx(
        stats["cscv_is_sharpe"] - stats["cscv_oos_sharpe"])


def test_a_finished_sweep_ends_with_everything_written_and_nothing_left_running(
        tmp_path: Path) -> None:
    """The command ends as soon as it has said everything: its child skips Ray's graceful
    shutdown, and the supervising process kills what Ray left (`gridbt._supervise`). Nothing
    the run wrote may suffer: the last lines printed, the lock released, every MLflow run
    finished, and no Ray process left behind."""
    path = write_sweep(tmp_path, """\
        structure.legs.0.select.target: [0.1, 0.2, 0.3]
        exit.profit_target: [0.25, 0.5, null]
        exit.stop_loss: [2.0, null]
        """)
    out = tmp_path / "out"
    proc = subprocess.Popen(as_started([GRIDBT, "sweep", str(path), "--out", str(out)]),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path)
    seen: dict[int, psutil.Process] = {}
    found: set[str] = set()  # names read while they run (a dead process has no command line)
    while proc.poll() is None:  # every process the run starts, as it starts them
        running = descendants(proc.pid)
        seen.update((p.pid, p) for p in running)
        found.update(name for name in ("raylet", "gcs_server", "ray::BacktestActor")
                     if named(running, name))
        if any(_drawing_worker(p) for p in running):  # the heatmaps' and tear sheets'
            found.add("drawing")
        time.sleep(0.05)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr[-3000:]
    drawing = {"drawing"} if usable_cpus() > 1 else set()  # else drawn in the command itself
    assert found == {"raylet", "gcs_server", "ray::BacktestActor", *drawing}, found
    session = list(seen.values())
    ended = time.monotonic()
    while alive(session) and time.monotonic() - ended < 10:
        time.sleep(0.1)
    assert alive(session) == [], f"left behind {time.monotonic() - ended:.1f} s after"

    assert "sweep finished: 18 combinations" in stdout
    assert stdout.rstrip().endswith("#/experiments/1/runs?workflowType=machine_learning")
    assert (out / ".gridbt.lock").read_text() == ""  # released, as at a normal exit
    assert json.loads((out / "sweep.json").read_text())["status"] == "done"
    from mlflow.tracking import MlflowClient

    manifest = json.loads((out / "sweep.json").read_text())
    client = MlflowClient(manifest["mlflow"]["tracking_uri"])
    runs = client.search_runs([manifest["mlflow"]["experiment_id"]])
    assert len(runs) == 1 + 3 and {r.info.status for r in runs} == {"FINISHED"}
    children = [r for r in runs if "gridbt.param_hash" in r.data.tags]
    assert len(children) == 3
    for child in children:  # its tear sheet, drawn by a worker, logged with it
        assert "tearsheet.png" in RunArtifacts(client.tracking_uri).list(child.info.run_id)


def _run_watching(args: list[str], cwd: Path) -> tuple[str, set[str]]:
    """Run `gridbt` with `args`; its stdout and which of Ray's processes (and whether drawing
    workers) it started."""
    proc = subprocess.Popen(as_started([GRIDBT, *args]), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=cwd)
    found: set[str] = set()
    while proc.poll() is None:
        running = descendants(proc.pid)
        found.update(name for name in ("raylet", "gcs_server", "ray::BacktestActor")
                     if named(running, name))
        if any(_drawing_worker(p) for p in running):
            found.add("drawing")
        time.sleep(0.05)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr[-3000:]
    return stdout, found


def test_a_finished_sweep_resumed_starts_ray_only_to_backtest_what_it_lacks(
        tmp_path: Path) -> None:
    """`--resume` of a finished sweep (`make demo` run again) has nothing to run: it starts no
    Ray, keeps its ranking, curves, heatmaps and MLflow run and says what it said before.
    Ranked by another objective, the top combinations' curves are not all on disk: then it
    ranks again, starts Ray to backtest them, and draws the heatmaps again."""
    path = write_sweep(tmp_path, """\
        structure.legs.0.select.target: [0.1, 0.2, 0.3]
        exit.profit_target: [0.25, 0.5, null]
        exit.stop_loss: [2.0, null]
        exit.dte: [7, null]
        """, "zip:\n  - [exit.stop_loss, exit.dte]\n")
    out = tmp_path / "out"
    first, found = _run_watching(["sweep", str(path), "--out", str(out)], tmp_path)
    assert "ray::BacktestActor" in found
    before = json.loads((out / "sweep.json").read_text())
    top = out / "equity" / "top.parquet"
    written = top.stat().st_mtime_ns
    ranked_at = (out / "results.parquet").stat().st_mtime_ns
    heatmaps = sorted((out / "heatmaps").iterdir())
    assert [p.name for p in heatmaps] == sorted(before["heatmaps"]["files"])
    # a heatmap a pair of axes, the zipped stop and DTE exit one axis (named by the stop)
    assert [p.name for p in heatmaps] == sorted(
        f"heatmap_sharpe__{x}__{y}.png" for x, y in [
            ("structure.legs.0.select.target", "exit.profit_target"),
            ("structure.legs.0.select.target", "exit.stop_loss"),
            ("exit.profit_target", "exit.stop_loss")])
    drawn = [p.stat().st_mtime_ns for p in heatmaps]

    again, found = _run_watching(["sweep", str(path), "--out", str(out), "--resume"], tmp_path)
    assert found == set()  # no Ray, and nothing drawn
    assert "sweep finished: nothing left to compute (18 already done" in again
    after = json.loads((out / "sweep.json").read_text())
    assert after["status"] == "done" and after["runs"] == 2
    for key in ("statistics", "best", "engines", "computed", "mlflow", "heatmaps"):
        assert after[key] == before[key], key
    assert top.stat().st_mtime_ns == written
    # the last finish stands (same results, settings and gridbt): nothing ranked again
    assert (out / "results.parquet").stat().st_mtime_ns == ranked_at
    assert [p.stat().st_mtime_ns for p in heatmaps] == drawn
    # the same summary, top table and statistics as the run that computed them
    assert again.split("\n", 1)[1] == first.split("\n", 1)[1]

    path.write_text(path.read_text() + "objective: {kpi: sharpe, direction: minimize}\n")
    worst, found = _run_watching(["sweep", str(path), "--out", str(out), "--resume"], tmp_path)
    assert "ray::BacktestActor" in found
    assert "top combinations by sharpe (min)" in worst
    ranked = json.loads((out / "sweep.json").read_text())
    results = ResultStore(out).read()
    assert ranked["best"]["param_hash"] == results.loc[results["sharpe"].idxmin(), "param_hash"]
    assert ranked["mlflow"]["run_id"] != before["mlflow"]["run_id"]  # other children
    assert top.stat().st_mtime_ns != written
    assert (out / "results.parquet").stat().st_mtime_ns != ranked_at
    assert all(p.stat().st_mtime_ns != t for p, t in zip(heatmaps, drawn, strict=True))
    assert ranked["heatmaps"]["facts"] != before["heatmaps"]["facts"]


def _drawing_worker(process: psutil.Process) -> bool:
    """Whether `process` is one of `gridbt.report.drawing`'s spawned workers."""
    try:
        return "--multiprocessing-fork" in process.cmdline()
    except psutil.Error:
        return False
