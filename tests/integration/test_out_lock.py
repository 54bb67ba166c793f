"""One run at a time in a sweep's or a study's output directory, with real `gridbt` processes:
two started together (the second is refused, naming the first), one killed with SIGKILL (its
lock is stale, the next run takes it over), and result parts written twice, as concurrent
writers did before the lock, read back once by `--resume` and the final merge."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gridbt._lock import LOCK_NAME
from gridbt.data.default import ensure_synthetic_chain
from gridbt.sweep.results import ResultStore

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
GRIDBT = str(Path(sys.executable).with_name("gridbt"))
SMALL_GRID = """\
structure.legs.0.select.target: {range: [0.1, 0.4, 0.05]}
exit.profit_target: [0.25, 0.5, 0.75, null]
exit.stop_loss: [1.5, 2.0, 3.0, null]
"""  # 112 combinations
LONG_GRID = SMALL_GRID + """\
exit.dte: [null, 7, 14, 21]
exit.max_holding_days: [null, 10, 20, 40]
exit.rebalance_days: [null, 5, 10, 30]
"""  # 7,168: long enough to be killed part-way


def write_job(tmp_path: Path, kind: str, body: str) -> Path:
    chain = ensure_synthetic_chain(profile="small")[0]
    path = tmp_path / f"{kind}.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: lock_{kind}
        strategy: {REPO / 'jobs/strategies/short_put_30d.yaml'}
        data: {chain}
        pbo_blocks: 6
        mlflow: {{enabled: false}}
        """) + textwrap.dedent(body))
    return path


def write_sweep(tmp_path: Path, grid: str, batch_seconds: float = 0.02) -> Path:
    return write_job(tmp_path, "sweep", f"keep_equity: 3\nray: {{batch_seconds: "
                     f"{batch_seconds}, max_in_flight: 1}}\ngrid:\n" + textwrap.indent(grid, "  "))


def gridbt(*args: object, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GRIDBT, *map(str, args)], capture_output=True, text=True,
                          timeout=600, **kwargs)  # type: ignore[call-overload]


def lock_owner(out: Path) -> int | None:
    try:
        return int(json.loads((out / LOCK_NAME).read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


def raw_rows(out: Path) -> pa.Table:
    """Every row of the result parts, as written (no de-duplication)."""
    return pq.read_table(sorted((out / "results").glob("part-*.parquet")),
                         columns=["combo", "param_hash"])


@pytest.fixture
def sessions() -> Iterator[list[subprocess.Popen[str]]]:
    """Runs started in their own session: whatever is left of them (a killed driver's local
    Ray) is killed with them at the end."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def test_two_sweeps_started_together_one_runs_the_other_is_refused_naming_it(
    tmp_path: Path, sessions: list[subprocess.Popen[str]]
) -> None:
    path, out = write_sweep(tmp_path, SMALL_GRID), tmp_path / "out"
    for resume in ([], ["--resume"]):  # a plain run and a --resume, both at once
        sessions.append(subprocess.Popen(
            [GRIDBT, "sweep", str(path), "--out", str(out), "--quiet", *resume], text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
            start_new_session=True))
    ended = [(proc, *proc.communicate(timeout=600)) for proc in sessions]
    assert sorted(proc.returncode for proc, _, _ in ended) == [0, 2], [e for _, _, e in ended]
    (winner, stdout, _), = [e for e in ended if e[0].returncode == 0]
    (loser, _, refusal), = [e for e in ended if e[0].returncode == 2]
    assert refusal.startswith(f"gridbt: {out.resolve()}: in use by another gridbt run: "
                              f"PID {winner.pid} of user ")
    assert f"on host {socket.gethostname()}, since " in refusal
    assert f"kill {winner.pid}" in refusal and "Traceback" not in refusal
    # the winner's results alone: one row per parameter hash, and counted so
    rows = raw_rows(out)
    assert rows.num_rows == 112 and len(set(rows.column("param_hash").to_pylist())) == 112
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["status"] == "done" and manifest["runs"] == 1
    stats = manifest["statistics"]
    assert manifest["computed"] == 112 == stats["n_combinations"]
    assert stats["n_trials"] == stats["n_outcomes"] <= 112  # a trial is a distinct outcome
    assert f"from {stats['n_trials']:,.0f} trials by luck alone" in stdout
    assert (out / LOCK_NAME).read_text() == ""  # released at the winner's exit


def test_the_lock_of_a_killed_sweep_is_stale_and_resume_takes_it_over(
    tmp_path: Path, sessions: list[subprocess.Popen[str]]
) -> None:
    path, out = write_sweep(tmp_path, LONG_GRID), tmp_path / "out"
    first = subprocess.Popen([GRIDBT, "sweep", str(path), "--out", str(out), "--quiet"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             cwd=tmp_path, start_new_session=True)
    sessions.append(first)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and first.poll() is None:
        if len(list((out / "results").glob("part-*.parquet"))) >= 3:
            break
        time.sleep(0.1)
    assert first.poll() is None, f"the sweep ended before it could be killed: {first.communicate()}"
    os.kill(first.pid, signal.SIGKILL)  # the command the user started, as the OOM killer would
    first.wait()
    assert lock_owner(out) == first.pid  # its lock file still names it
    with contextlib.suppress(ProcessLookupError):  # its run and local Ray end with it, or
        os.killpg(first.pid, signal.SIGKILL)  # are ended here (GRIDBT_SUPERVISE=0)

    r = gridbt("sweep", path, "--out", out, "--resume", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (f"{out.resolve()}: took over the lock left by PID {first.pid} of user "
            in r.stderr)
    assert "(no longer running)" in r.stderr
    assert ResultStore(out).read()["combo"].tolist() == list(range(7 * 4 ** 5))
    assert (out / LOCK_NAME).read_text() == ""


def test_result_parts_written_twice_are_read_back_once_by_resume_and_the_final_merge(
    tmp_path: Path
) -> None:
    # small batches, so that the grid lands in several parts
    path, out = write_sweep(tmp_path, SMALL_GRID, batch_seconds=0.001), tmp_path / "out"
    r = gridbt("sweep", path, "--out", out, "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    parts = sorted((out / "results").glob("part-*.parquet"))
    assert len(parts) >= 4
    # a second writer, started a second later, wrote the first half of the grid again, as two
    # sweeps on one directory did before it was locked
    run = parts[0].name.split("-")[1]
    started = dt.datetime.strptime(f"{run}+0000", "%Y%m%dT%H%M%S%f%z")  # a UTC time
    later = (started + dt.timedelta(seconds=1)).strftime("%Y%m%dT%H%M%S%f")
    for k, part in enumerate(parts[: len(parts) // 2], start=1):
        table = pq.read_table(part)
        node = pa.array(["second writer"] * table.num_rows, type=pa.string())
        table = table.set_column(table.schema.get_field_index("node"), "node", node)
        pq.write_table(table, out / "results" / f"part-{later}-{k:06d}.parquet")
    # and the last batch never landed (the run was stopped): --resume computes it
    missing = sum(pq.read_metadata(p).num_rows for p in parts[-1:])
    for part in parts[-1:]:
        part.unlink()
    rows = raw_rows(out)
    unique = len(set(rows.column("param_hash").to_pylist()))
    assert rows.num_rows > unique == 112 - missing

    r = gridbt("sweep", path, "--out", out, "--resume", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"{missing:,} combinations computed" in r.stdout
    assert f"{112 - missing:,} already done" in r.stdout
    merged = pd.read_parquet(out / "results.parquet")
    assert len(merged) == 112 and merged["param_hash"].is_unique
    assert sorted(merged["combo"]) == list(range(112))
    assert "second writer" not in set(merged["node"])  # the first written row is kept
    manifest = json.loads((out / "sweep.json").read_text())
    stats = manifest["statistics"]
    assert manifest["computed"] == 112 == stats["n_combinations"]
    assert stats["n_trials"] == stats["n_outcomes"] <= 112  # a trial is a distinct outcome
    assert f"from {stats['n_trials']:,.0f} trials by luck alone" in r.stdout
    # the summary's top table shows each combination once
    top = r.stdout.split("top combinations by")[1].split("\n\n")[0].splitlines()[2:]
    assert len(top) == 10 and len({line.split(None, 1)[1] for line in top}) == 10


def test_a_study_directory_is_locked_too(
    tmp_path: Path, sessions: list[subprocess.Popen[str]]
) -> None:
    path = write_job(tmp_path, "study", """\
        space:
          structure.legs.0.select.target: {float: [0.1, 0.4], step: 0.01}
          exit.profit_target: {float: [0.2, 0.9], step: 0.05}
        trials: 60
        parallel: 4
        """)
    out = tmp_path / "out"
    first = subprocess.Popen([GRIDBT, "optimize", str(path), "--out", str(out), "--quiet"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=tmp_path, start_new_session=True)
    sessions.append(first)
    deadline = time.monotonic() + 300
    while (time.monotonic() < deadline and first.poll() is None
           and lock_owner(out) != first.pid and not (out / "study.db").exists()):
        time.sleep(0.05)
    assert first.poll() is None, "the study ended before a second run could start"

    second = gridbt("optimize", path, "--out", out, "--resume", "--quiet", cwd=tmp_path)
    assert second.returncode == 2, second.stderr[-3000:]
    assert second.stderr.startswith(f"gridbt: {out.resolve()}: in use by another gridbt run: "
                                    f"PID {first.pid} of user ")
    assert f"optimize {path} --out {out} --quiet" in second.stderr  # its command
    stdout, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert sum(summary["trials"].values()) == 60  # no second driver's trials
    assert (out / LOCK_NAME).read_text() == ""
