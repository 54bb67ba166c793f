"""Studies on a real PostgreSQL server (Optuna's RDB storage): a driver process killed midway
resumes with no trial lost or duplicated, and two driver processes share one study."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from gridbt.optimize.samplers import open_storage
from gridbt.optimize.study import ATTR_DRIVER, ATTR_RESULT
from gridbt.testing.postgres import create_database

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
SHORT_PUT = REPO / "jobs/strategies/short_put_30d.yaml"
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
ENV = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
                    "GRIDBT_SUPERVISE": "0"}


def study_file(tmp_path: Path, chain: Path, storage: str, trials: int, parallel: int,
               name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: {name}
        strategy: {SHORT_PUT}
        data: {chain}
        pbo_blocks: 6
        mlflow: {{enabled: false}}
        space:
          structure.legs.0.select.target: {{float: [0.05, 0.50], step: 0.01}}
          exit.profit_target: {{float: [0.2, 0.9], step: 0.05}}
          exit.stop_loss: {{categorical: [1.0, 1.5, 2.0, 2.5, 3.0, null]}}
        sampler: {{kind: random, seed: 11}}
        trials: {trials}
        parallel: {parallel}
        storage: {storage}
        """))
    return path


def stored(storage: str, name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=open_storage(storage)).get_trials()


def finished_in(storage: str) -> int:
    """Finished trials in the database, read with SQL: opening an Optuna storage here would
    race the driver's creation of the tables."""
    import psycopg

    with contextlib.closing(psycopg.connect(storage)) as connection, \
            connection.cursor() as cursor:
        try:
            cursor.execute("SELECT count(*) FROM trials WHERE state IN "
                           "('COMPLETE', 'PRUNED', 'FAIL')")
        except psycopg.errors.UndefinedTable:  # not created yet
            return 0
        return int(cursor.fetchone()[0])


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the driver (as the OOM killer would), then the Ray it started."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def test_a_killed_driver_resumes_on_postgresql_without_losing_or_repeating_trials(
    postgres: str, tmp_path: Path, chain: Path
) -> None:
    storage = create_database(postgres, "killed")
    name = "pg_killed"
    path = study_file(tmp_path, chain, storage, trials=96, parallel=8, name=name)
    command = [sys.executable, "-m", "gridbt.cli", "optimize", str(path), "--out",
               str(tmp_path / "out"), "--quiet", "--actors", "1"]
    proc = subprocess.Popen(command, env=ENV, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while finished_in(storage) < 16:
            assert proc.poll() is None, "the driver ended before it was killed"
            assert time.monotonic() < deadline, "no 16 trials stored in 240 s"
            time.sleep(0.05)
    finally:
        kill_group(proc)
    before = {t.number: (t.params, t.values, t.user_attrs[ATTR_RESULT])
              for t in stored(storage, name)}
    assert 16 <= len(before) < 96
    # gridbt never stores a running trial: the batch in flight died with the driver
    assert all(t.state in FINISHED for t in stored(storage, name))

    done = subprocess.run([*command, "--resume"], env=ENV, cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    trials = stored(storage, name)
    assert [t.number for t in trials] == list(range(96))  # none lost, none twice
    assert all(t.state in FINISHED for t in trials)
    assert {t.number: (t.params, t.values, t.user_attrs[ATTR_RESULT])
            for t in trials[:len(before)]} == before
    assert len({t.user_attrs[ATTR_DRIVER] for t in trials}) == 2  # the killed run, the resumed
    status = json.loads((tmp_path / "out/study.json").read_text())
    assert status["status"] == "done" and status["storage"] == storage


# each driver holds at its first batch until the other has reached its own, so that both run
# the study at once whatever their start-up times; then it lets the other catch up a little at
# each batch
DRIVER = """\
import atexit, json, sys, time
from pathlib import Path
from gridbt.optimize.study import run_study

path, out, me, other = sys.argv[1:]
# on any exit, say so: the other driver stops waiting for this one
atexit.register(lambda: Path(me + ".exit").touch())

def on_batch(finished):
    Path(me).touch()  # both drivers run their first batch before either goes on
    deadline = time.monotonic() + 180
    while not (Path(other).exists() or Path(other + ".exit").exists()) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.1)

outcome = run_study(path, out=out, resume=True, actors=1, progress=False, finish=False,
                    on_batch=on_batch)
print(json.dumps({"computed": outcome.computed, "finished": outcome.finished}))
"""


def finish_all(procs: list[subprocess.Popen[str]], timeout: float) -> list[str]:
    """Wait for every process; the first to fail (or the timeout) stops the others, whose
    process groups are killed, and fails the test with its stderr. Returns their stdouts."""
    deadline = time.monotonic() + timeout
    while any(p.poll() is None for p in procs) and time.monotonic() < deadline \
            and not any(p.poll() not in (None, 0) for p in procs):
        time.sleep(0.2)
    failed = [p for p in procs if p.poll() not in (None, 0)]
    late = [p for p in procs if p.poll() is None]
    for p in late:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
    outputs = [p.communicate() for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p not in failed, f"driver exited with {p.returncode}: {err[-3000:]}"
        assert p not in late, f"driver still running after {timeout:.0f} s: {err[-3000:]}"
    return [out for out, _ in outputs]


def test_two_drivers_share_one_study_on_postgresql(postgres: str, tmp_path: Path,
                                                   chain: Path) -> None:
    storage = create_database(postgres, "shared")
    name, budget, parallel = "pg_shared", 60, 4
    path = study_file(tmp_path, chain, storage, trials=budget, parallel=parallel, name=name)
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    drivers = [subprocess.Popen(
        [sys.executable, str(script), str(path), str(tmp_path / f"out{i}"),
         str(tmp_path / f"at{i}"), str(tmp_path / f"at{1 - i}")],
        env=ENV, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True) for i in (0, 1)]
    outcomes = [json.loads(out.strip().splitlines()[-1]) for out in finish_all(drivers, 600)]

    trials = stored(storage, name)
    n = len(trials)
    # the budget is the study's, shared: exceeded at most by what the other driver had asked
    # and not stored when it was reached (its running batch and the next one)
    assert budget <= n <= budget + 2 * parallel
    assert [t.number for t in trials] == list(range(n))
    assert all(t.state in FINISHED for t in trials)
    by_driver: dict[str, int] = {}
    for t in trials:
        by_driver[t.user_attrs[ATTR_DRIVER]] = by_driver.get(t.user_attrs[ATTR_DRIVER], 0) + 1
    # each driver's trials are in storage once: the storage holds exactly what both computed
    assert sorted(by_driver.values()) == sorted(o["computed"] for o in outcomes)
    assert all(o["computed"] > 0 for o in outcomes)
    # each driver's sampler and budget saw the other's trials
    assert all(o["finished"] >= budget for o in outcomes)


def test_drivers_opening_a_new_database_at_once_all_get_the_storage(postgres: str) -> None:
    """Optuna makes a new database's types and tables on open, without a lock: openers that
    lose the race open again (`open_storage`) rather than fail."""
    from concurrent.futures import ThreadPoolExecutor

    storage = create_database(postgres, "race")
    barrier = threading.Barrier(4)

    def open_at_once(_: int) -> str:
        barrier.wait()
        return type(open_storage(storage)).__name__

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(open_at_once, range(4))) == ["RDBStorage"] * 4
    assert optuna.get_all_study_summaries(storage=open_storage(storage)) == []
