"""`gridbt sweep` while its processes are killed, with real signals: every backtest actor again
and again, the only worker node of a cluster, the raylet, the command itself."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from gridbt.data.default import ensure_synthetic_chain
from gridbt.testing.process import (
    alive,
    as_started,
    descendants,
    named,
    parts_on_disk,
    wait_for_results,
)

REPO = Path(__file__).resolve().parents[2]
GRIDBT = str(Path(sys.executable).with_name("gridbt"))
#: 57,344 combinations: about a second on two actors on trade tables (the kills and restarts
#: make it last), about three on the day kernel
GRID = """\
    structure.legs.0.select.target: {range: [0.1, 0.4, 0.05]}
    exit.profit_target: [0.25, 0.5, 0.75, null]
    exit.stop_loss: [1.5, 2.0, 3.0, null]
    exit.dte: [null, 7, 14, 21]
    exit.max_holding_days: [null, 10, 20, 40]
    exit.rebalance_days: [null, 5, 10, 30]
    structure.dte.target: [30, 31, 32, 33, 34, 35, 36, 37]
    """
pytestmark = pytest.mark.integration


def write_sweep(tmp_path: Path, ray: str = "", engine: str = "auto", grid: str = GRID) -> Path:
    chain = ensure_synthetic_chain(profile="small")[0]
    path = tmp_path / "sweep.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: faults
        engine: {engine}
        strategy: {REPO / 'jobs/strategies/short_put_30d.yaml'}
        data: {chain}
        keep_equity: 3
        pbo_blocks: 6
        mlflow: {{enabled: false}}
        ray: {{batch_seconds: 0.1, max_in_flight: 2{ray}}}
        grid:
        """) + textwrap.indent(textwrap.dedent(grid), "  "))
    return path


def start(path: Path, out: Path, *args: str,
          ignored: tuple[signal.Signals, ...] = ()) -> subprocess.Popen[str]:
    """`gridbt sweep` on `path`, started as from a terminal, with the signals `ignored`
    ignored (as `nohup` or a script's background job starts it)."""
    command = [GRIDBT, "sweep", str(path), "--out", str(out), "--quiet", *args]
    return subprocess.Popen(as_started(command, ignored=ignored), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=path.parent)


def results(out: Path) -> pd.DataFrame:
    frame = pd.read_parquet(out / "results.parquet").drop(columns=["node"])
    return frame.sort_values("combo").reset_index(drop=True)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    tmp = tmp_path_factory.mktemp("uninterrupted")
    r = subprocess.run([GRIDBT, "sweep", str(write_sweep(tmp)), "--out", str(tmp / "out"),
                        "--quiet"], capture_output=True, text=True, cwd=tmp, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return results(tmp / "out")


def test_every_actor_killed_again_and_again_the_sweep_ends_with_the_uninterrupted_result(
        tmp_path: Path, uninterrupted: pd.DataFrame) -> None:
    out = tmp_path / "out"
    proc = start(write_sweep(tmp_path), out)
    wait_for_results(proc, out)
    killed: list[int] = []
    rounds = 0
    while rounds < 6 and proc.poll() is None:  # each round kills every actor there is
        actors = alive(named(descendants(proc.pid), "ray::BacktestActor"))
        if not actors:
            time.sleep(0.05)
            continue
        for actor in actors:
            actor.send_signal(signal.SIGKILL)
        killed += [a.pid for a in actors]
        rounds += 1
        time.sleep(0.3 if rounds % 2 else 1.0)  # mid-restart, and once warm again
    assert rounds == 6, "the sweep ended before its actors were killed six times"
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-3000:]
    assert len(set(killed)) == len(killed) >= rounds  # each round killed new processes
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["status"] == "done" and manifest["failed"] == 0
    assert not (out / "failures").exists()
    pd.testing.assert_frame_equal(results(out), uninterrupted)


@pytest.fixture
def cluster() -> Iterator[object]:
    """A head node without CPUs (no actor can run there) and one worker node with two."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    cluster.add_node(num_cpus=2)
    cluster.wait_for_nodes()
    yield cluster
    cluster.shutdown()


def test_when_no_actor_can_come_back_the_sweep_fails_saying_so(tmp_path: Path,
                                                              cluster: object) -> None:
    out = tmp_path / "out"
    path = write_sweep(tmp_path, ray=", restart_timeout: 2")
    proc = start(path, out, "--address", cluster.address)  # type: ignore[attr-defined]
    wait_for_results(proc, out)
    started = time.monotonic()
    worker = cluster.list_all_nodes()[1]  # type: ignore[attr-defined]
    cluster.remove_node(worker, allow_graceful=False)  # type: ignore[attr-defined]  # SIGKILL
    stdout, stderr = proc.communicate(timeout=300)
    waited = time.monotonic() - started
    assert proc.returncode == 3, stderr[-3000:]
    message = stderr.strip().splitlines()[-1]
    assert message.startswith("gridbt: no backtest actor could be had"), message
    assert "ray.restart_timeout" in message
    assert 4 <= waited < 60  # the actors, then their replacements, had 2 s each
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["status"] == "failed"
    assert manifest["error"] == message.removeprefix("gridbt: ")
    written = pd.read_parquet(out / "results")
    assert 0 < manifest["computed"] == len(written) < manifest["valid_combinations"]


def test_a_killed_raylet_ends_the_sweep_with_one_line_and_resume_recovers(
        tmp_path: Path, uninterrupted: pd.DataFrame) -> None:
    out = tmp_path / "out"
    path = write_sweep(tmp_path)
    proc = start(path, out)
    wait_for_results(proc, out)
    session = descendants(proc.pid)
    raylets = named(session, "raylet")
    assert len(raylets) == 1
    raylets[0].send_signal(signal.SIGKILL)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 3, stderr[-3000:]
    message = stderr.strip().splitlines()[-1]
    assert message.startswith("gridbt: the sweep stopped abruptly: its process exited with "
                              "code 1"), message
    assert "raylet" in message and f"{out / 'sweep.json'} now says failed" in message
    assert "--resume" in message and "Ray's logs are in /" in message
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["status"] == "failed" and "raylet" in manifest["error"]
    deadline = time.monotonic() + 10
    while alive(session) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert alive(session) == []

    r = subprocess.run([GRIDBT, "sweep", str(path), "--out", str(out), "--resume", "--quiet"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((out / "sweep.json").read_text())["status"] == "done"
    pd.testing.assert_frame_equal(results(out), uninterrupted)


def test_a_killed_command_takes_its_ray_processes_with_it(tmp_path: Path,
                                                          uninterrupted: pd.DataFrame) -> None:
    out = tmp_path / "out"
    path = write_sweep(tmp_path)
    proc = start(path, out)
    wait_for_results(proc, out)
    session = descendants(proc.pid)
    for name in ("raylet", "gcs_server", "ray::DashboardAgent", "ray::BacktestActor"):
        assert named(session, name), f"no {name} process in {session}"
    os.kill(proc.pid, signal.SIGKILL)  # the command the user started, as `kill -9` does
    proc.communicate(timeout=60)
    killed = time.monotonic()
    while alive(session) and time.monotonic() - killed < 10:
        time.sleep(0.1)
    assert alive(session) == [], f"left behind {time.monotonic() - killed:.1f} s after"
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["status"] == "failed" and "was killed" in manifest["error"]

    r = subprocess.run([GRIDBT, "sweep", str(path), "--out", str(out), "--resume", "--quiet"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    pd.testing.assert_frame_equal(results(out), uninterrupted)


def test_sigterm_stops_the_sweep_as_ctrl_c_does(tmp_path: Path) -> None:
    out = tmp_path / "out"
    # the day kernel's few seconds: the signal lands mid-grid even on a loaded machine
    proc = start(write_sweep(tmp_path, engine="day"), out)
    wait_for_results(proc, out)
    os.kill(proc.pid, signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-3000:]
    assert "sweep interrupted" in stdout
    assert json.loads((out / "sweep.json").read_text())["status"] == "interrupted"


def test_ignored_signals_stay_ignored_and_sigterm_still_stops_the_sweep(tmp_path: Path) -> None:
    """`nohup gridbt sweep FILE &` in a script: SIGHUP and SIGINT ignored. Both leave the sweep
    running (a Ctrl-C meant for the script, a hangup), and a SIGTERM still stops it as a Ctrl-C
    does, although the child that runs it inherited SIGINT ignored."""
    out = tmp_path / "out"
    # twice the grid of the SIGTERM test: it must outlast the ignored signals
    grid = GRID.replace("{range: [0.1, 0.4, 0.05]}", "{range: [0.1, 0.4, 0.025]}")
    assert grid != GRID
    proc = start(write_sweep(tmp_path, engine="day", grid=grid), out,
                 ignored=(signal.SIGINT, signal.SIGHUP))
    wait_for_results(proc, out)
    os.kill(proc.pid, signal.SIGINT)
    os.kill(proc.pid, signal.SIGHUP)
    wait_for_results(proc, out, parts=parts_on_disk(out) + 3)  # still running and writing
    os.kill(proc.pid, signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-3000:]
    assert "sweep interrupted" in stdout
    assert json.loads((out / "sweep.json").read_text())["status"] == "interrupted"
