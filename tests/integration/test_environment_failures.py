"""Failures of the machine, not of the input: a full disk, a locked or newly created SQLite
store; and inputs that used to fail only after Ray started (a chain too short, `--out .`).

Each ends with one line naming the cause and what to do, exit code 3 for the environment
(2 for input, before Ray), and a status file that says `failed` with the error; `--resume`
recovers. The full disk is real: a 64 MiB tmpfs mounted in a private mount namespace
(`unshare`), filled with a balloon file but for 64 KiB.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from gridbt.data.default import ensure_synthetic_chain

REPO = Path(__file__).resolve().parents[2]
GRIDBT = str(Path(sys.executable).with_name("gridbt"))
ORATS = REPO / "tests/fixtures/vendors/orats/ORATS_SMV_Strikes_20240105.csv"
GRID = """\
    structure.legs.0.select.target: {range: [0.1, 0.4, 0.05]}
    exit.profit_target: [0.25, 0.5, 0.75, null]
    exit.stop_loss: [1.5, 2.0, 3.0, null]
    exit.dte: [null, 7, 14, 21]
    exit.max_holding_days: [null, 10, 20, 40]
    """
pytestmark = pytest.mark.integration


def write_sweep(folder: Path, *, data: Path | None = None, mlflow: str = "{enabled: false}",
                name: str = "sweep.yaml") -> Path:
    chain = data or ensure_synthetic_chain(profile="small")[0]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(f"""\
        name: env_faults
        strategy: {REPO / 'jobs/strategies/short_put_30d.yaml'}
        data: {chain}
        keep_equity: 3
        pbo_blocks: 6
        mlflow: {mlflow}
        ray: {{batch_seconds: 0.05, max_in_flight: 1}}
        grid:
        """) + textwrap.indent(textwrap.dedent(GRID), "  "))
    return path


def gridbt(*args: str | Path, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GRIDBT, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout)


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def results(out: Path) -> pd.DataFrame:
    frame = pd.read_parquet(out / "results.parquet").drop(columns=["node"])
    return frame.sort_values("combo").reset_index(drop=True)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished sweep's directory: the result every recovered run must equal."""
    tmp = tmp_path_factory.mktemp("uninterrupted")
    r = gridbt("sweep", write_sweep(tmp), "--out", tmp / "out", "--quiet", cwd=tmp)
    assert r.returncode == 0, r.stderr[-2000:]
    return tmp / "out"


# ---------------------------------------------------------------------- a chain too short
@pytest.fixture(scope="module")
def one_day_chain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("chains") / "one-day"
    r = gridbt("data", "import", "--format", "orats", ORATS, "--out", out, cwd=out.parent)
    assert r.returncode == 0 and "1 days" in r.stdout, r.stdout + r.stderr
    return out


@pytest.fixture(scope="module")
def empty_chain(tmp_path_factory: pytest.TempPathFactory, one_day_chain: Path) -> Path:
    from gridbt.data.store import read_chain, write_chain

    out = tmp_path_factory.mktemp("chains") / "empty"
    write_chain(read_chain(one_day_chain).slice(0, 0), out)
    return out


@pytest.mark.parametrize("which", ["one_day_chain", "empty_chain"])
def test_a_chain_too_short_is_refused_before_ray_starts(tmp_path: Path, which: str,
                                                        request: pytest.FixtureRequest) -> None:
    chain: Path = request.getfixturevalue(which)
    days = 1 if which == "one_day_chain" else 0
    path = write_sweep(tmp_path, data=chain)
    r = gridbt("sweep", path, "--out", tmp_path / "out", cwd=tmp_path)
    assert r.returncode == 2, r.stderr[-2000:]
    message = last_line(r.stderr)
    assert message == (f"gridbt: {chain}: the chain has {days} trading day{'s' * (days != 1)}; "
                       f"{path} (pbo_blocks: 6 time blocks of daily returns) needs at least 7: "
                       "use a longer chain")
    assert "Ray" not in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out" / "sweep.json").exists()


def test_a_study_on_a_chain_too_short_is_refused_before_ray_starts(tmp_path: Path,
                                                                   one_day_chain: Path) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: short_chain
        strategy: {REPO / 'jobs/strategies/short_put_30d.yaml'}
        data: {one_day_chain}
        trials: 4
        space:
          exit.profit_target: {{float: [0.2, 0.9]}}
        mlflow: {{enabled: false}}
        """))
    r = gridbt("optimize", path, "--out", tmp_path / "out", cwd=tmp_path)
    assert r.returncode == 2, r.stderr[-2000:]
    assert last_line(r.stderr).startswith(f"gridbt: {one_day_chain}: the chain has 1 trading "
                                          f"day; {path} (its in-sample span")
    assert "Ray" not in r.stderr and "Traceback" not in r.stderr


# ---------------------------------------------------------------------- --out .
def test_out_is_refused_where_it_would_mix_with_other_files(tmp_path: Path) -> None:
    path = write_sweep(tmp_path)
    (tmp_path / "notes.txt").write_text("mine\n")
    r = gridbt("sweep", path, "--out", ".", cwd=tmp_path)
    assert r.returncode == 2, r.stderr[-2000:]
    assert last_line(r.stderr) == (
        "gridbt: --out . (the working directory): holds other files (notes.txt, sweep.yaml) "
        "and no sweep.json, so it is not the result directory of an earlier run; results go "
        "into a directory of their own: choose a new or empty one")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "sweep.yaml"]
    study = tmp_path / "study"
    study.mkdir()
    (study / "results.csv").write_text("mine\n")
    r = gridbt("optimize", REPO / "jobs/studies/demo_study.yaml", "--out", study, cwd=tmp_path)
    assert r.returncode == 2 and "holds other files (results.csv) and no study.json" in r.stderr


# ---------------------------------------------------------------------- a full disk
def _namespace() -> list[str] | None:
    """How to enter a private mount namespace where this user may mount a tmpfs, if any."""
    for command in (["unshare", "-m"], ["unshare", "-Urm"]):
        try:
            probe = subprocess.run([*command, "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"],
                                   capture_output=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            continue
        if probe.returncode == 0:
            return command
    return None


def test_a_full_disk_fails_the_sweep_with_one_line_and_resume_recovers(
        tmp_path: Path, uninterrupted: Path) -> None:
    namespace = _namespace()
    if namespace is None:
        pytest.skip("cannot mount a tmpfs in a private mount namespace here (unshare)")
    prepared = tmp_path / "prepared"  # what a kill during finishing leaves: the grid whole
    shutil.copytree(uninterrupted, prepared)
    for done in ("results.parquet", "equity", "heatmaps"):
        shutil.rmtree(prepared / done) if (prepared / done).is_dir() else \
            (prepared / done).unlink()
    manifest = json.loads((prepared / "sweep.json").read_text())
    (prepared / "sweep.json").write_text(json.dumps({**manifest, "status": "grid-done",
                                                     "statistics": {}, "best": {}}))
    report = tmp_path / "report.json"
    r = subprocess.run([*namespace, sys.executable, __file__, "disk-full",
                        str(write_sweep(tmp_path)), str(tmp_path / "disk"), str(prepared),
                        str(report)], capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    runs = json.loads(report.read_text())
    disk = tmp_path / "disk"

    # the writer thread: the disk fills during the grid
    assert runs["writer"]["code"] == 3, runs["writer"]["stderr"]
    message = last_line(runs["writer"]["stderr"])
    assert message == (f"gridbt: writing results to {disk / 'w' / 'results'}: no space left on "
                       "the device [Errno 28]; free space there, then run the same command "
                       "with --resume (the results on disk are kept)")
    failed = json.loads((tmp_path / "w-failed" / "sweep.json").read_text())
    assert failed["status"] == "failed" and failed["error"] == message.removeprefix("gridbt: ")
    written = pd.read_parquet(tmp_path / "w-failed" / "results")
    assert failed["computed"] == len(written) < failed["valid_combinations"]
    assert runs["writer_resume"]["code"] == 0, runs["writer_resume"]["stderr"]
    pd.testing.assert_frame_equal(results(tmp_path / "w-resumed"), results(uninterrupted))

    # the merge: the grid is whole, results.parquet does not fit
    assert runs["merge"]["code"] == 3, runs["merge"]["stderr"]
    message = last_line(runs["merge"]["stderr"])
    assert message == (f"gridbt: finishing the sweep in {disk / 'm'}: no space left on the "
                       "device [Errno 28]; free space there, then run the same command with "
                       "--resume (the results on disk are kept)")
    failed = json.loads((tmp_path / "m-failed" / "sweep.json").read_text())
    assert failed["status"] == "failed" and failed["error"] == message.removeprefix("gridbt: ")
    assert runs["merge_resume"]["code"] == 0, runs["merge_resume"]["stderr"]
    assert json.loads((tmp_path / "m-resumed" / "sweep.json").read_text())["status"] == "done"
    pd.testing.assert_frame_equal(results(tmp_path / "m-resumed"), results(uninterrupted))


def _disk_full(sweep: Path, disk: Path, prepared: Path, report: Path) -> None:
    """In a private mount namespace: a sweep on a full tmpfs, twice (during the grid, then
    while finishing), each time resumed once space is free; the directories copied out."""
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(disk)], check=True)
    runs: dict[str, dict[str, object]] = {}

    def fill() -> Path:
        balloon = disk / "balloon"
        stat = os.statvfs(disk)
        with open(balloon, "wb") as f:
            os.posix_fallocate(f.fileno(), 0, max(stat.f_bavail * stat.f_frsize - (64 << 10), 1))
        return balloon

    def run(key: str, out: Path, copy: str, *args: str) -> None:
        r = gridbt("sweep", sweep, "--out", disk / out, "--quiet", *args, cwd=sweep.parent)
        runs[key] = {"code": r.returncode, "stderr": r.stderr[-4000:]}
        shutil.copytree(disk / out, report.parent / copy)

    balloon = fill()
    run("writer", Path("w"), "w-failed")
    balloon.unlink()
    run("writer_resume", Path("w"), "w-resumed", "--resume")
    shutil.copytree(prepared, disk / "m")
    balloon = fill()
    run("merge", Path("m"), "m-failed", "--resume")
    balloon.unlink()
    run("merge_resume", Path("m"), "m-resumed", "--resume")
    report.write_text(json.dumps(runs))


# ---------------------------------------------------------------------- SQLite stores
def test_a_locked_mlflow_database_fails_the_sweep_with_one_line_and_resume_logs_it(
        tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    database = tmp_path / "mlflow.db"
    MlflowClient(f"sqlite:///{database}").search_experiments()  # the store exists
    path = write_sweep(tmp_path, mlflow=f"{{tracking_uri: 'sqlite:///{database}?timeout=1', "
                                        "experiment: locked}")
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process writing, for longer than the timeout
    try:
        r = gridbt("sweep", path, "--out", tmp_path / "out", "--quiet", cwd=tmp_path)
    finally:
        holder.rollback()
        holder.close()
    assert r.returncode == 3, r.stderr[-3000:]
    message = last_line(r.stderr)
    assert message == (f"gridbt: logging to MLflow at sqlite:///{database}?timeout=1: the "
                       "database is locked by another process; let that process finish, or stop "
                       "it, then run the same command with --resume to log the runs (the "
                       "results are final)")
    assert "Traceback" not in r.stderr
    manifest = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert manifest["status"] == "failed" and manifest["error"] == message.removeprefix("gridbt: ")
    assert (tmp_path / "out" / "results.parquet").is_file()  # the sweep itself was done

    r = gridbt("sweep", path, "--out", tmp_path / "out", "--quiet", "--resume", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    manifest = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert manifest["status"] == "done" and manifest["error"] == ""
    run = MlflowClient(f"sqlite:///{database}").get_run(manifest["mlflow"]["run_id"])
    assert run.info.status == "FINISHED"


# each process imports what it needs, says "ready" and waits for the word to go: the parent
# gives it to all four at once, once every one is ready
_CREATE_MLFLOW = """
import sys
from gridbt.tracking.mlflow_runs import ParentRun, log_runs
print("ready", flush=True)
sys.stdin.readline()
log_runs(sys.argv[1], "race", ParentRun(name=sys.argv[2], params={}, metrics={}, tags={},
         artifacts=[]), [])
print("logged")
"""
_CREATE_OPTUNA = """
import sys
import optuna
from gridbt.optimize.samplers import open_storage
print("ready", flush=True)
sys.stdin.readline()
optuna.create_study(storage=open_storage(sys.argv[1]), study_name=sys.argv[2])
print("logged")
"""


@pytest.mark.parametrize("store", ["mlflow", "optuna"])
def test_runs_that_create_one_new_sqlite_store_at_once_all_succeed(tmp_path: Path,
                                                                  store: str) -> None:
    script = _CREATE_MLFLOW if store == "mlflow" else _CREATE_OPTUNA
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO),
                                                       os.environ.get("PYTHONPATH", "")])}
    for attempt in range(3):  # each on a new database, four processes at the same instant
        url = f"sqlite:///{tmp_path / f'{store}{attempt}.db'}"
        procs = [subprocess.Popen([sys.executable, "-c", script, url, f"r{k}"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
                 for k in range(4)]
        for p in procs:  # every one has imported MLflow or Optuna
            assert p.stdout is not None
            if p.stdout.readline().strip() != "ready":
                pytest.fail(f"a process did not start: {p.communicate()[1][-2000:]}")
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        outputs = [p.communicate(timeout=300) for p in procs]
        for p, (out, err) in zip(procs, outputs, strict=True):
            assert p.returncode == 0 and out.strip() == "logged", err[-2000:]


def test_sqlite_stores_wait_for_a_lock_instead_of_failing_at_once(tmp_path: Path) -> None:
    from gridbt.optimize.samplers import open_storage

    storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    with storage.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 60_000


if __name__ == "__main__" and sys.argv[1:2] == ["disk-full"]:
    _disk_full(*map(Path, sys.argv[2:6]))
