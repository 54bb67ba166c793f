"""The lock on a result directory (`gridbt._lock`), against real processes: one that holds it,
one killed with SIGKILL while holding it, one that exits normally; and a reader's view of it
(`lock_state`), which takes nothing and writes nothing."""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gridbt import _lock
from gridbt._inputs import InputError
from gridbt._lock import LOCK_NAME, DirectoryLocked, LockState, lock_directory, lock_state

REPO = Path(__file__).resolve().parents[2]
HOLD = ("import sys, time\nfrom gridbt._lock import lock_directory\n"
        "lock_directory(sys.argv[1])\nprint('locked', flush=True)\ntime.sleep(600)\n")


def holder(directory: Path) -> subprocess.Popen[str]:
    """A process that locks `directory` and sleeps; returns once it holds the lock."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(directory)], env=env, text=True,
                            stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
    return proc


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture(autouse=True)
def release_locks() -> Iterator[None]:
    yield
    for lock in list(_lock._HELD.values()):
        lock.release()


def snapshot(directory: Path) -> dict[str, tuple[int, int, bytes]]:
    return {str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns,
                                            p.read_bytes())
            for p in sorted(directory.rglob("*")) if p.is_file()}


def test_a_second_process_is_refused_naming_the_owner_and_nothing_is_touched(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    out = tmp_path / "out"
    (out / "results").mkdir(parents=True)
    (out / "results" / "part-1.parquet").write_bytes(b"rows")
    processes.append(owner := holder(out))
    before = snapshot(out)
    with pytest.raises(DirectoryLocked) as refused:
        lock_directory(out)
    message = str(refused.value)
    assert isinstance(refused.value, InputError)  # the CLI's exit 2, no traceback
    assert message.startswith(f"{out}: in use by another gridbt run: PID {owner.pid} of user ")
    assert f"on host {socket.gethostname()}, since " in message and " ago)" in message
    assert f"kill {owner.pid}" in message and "--resume" in message
    assert refused.value.owner is not None and refused.value.owner.pid == owner.pid
    assert snapshot(out) == before


def test_the_lock_of_a_killed_process_is_stale_and_taken_over(
    tmp_path: Path, processes: list[subprocess.Popen[str]], caplog: pytest.LogCaptureFixture
) -> None:
    processes.append(owner := holder(tmp_path))
    os.kill(owner.pid, signal.SIGKILL)
    owner.wait()
    left = json.loads((tmp_path / LOCK_NAME).read_text())
    assert left["pid"] == owner.pid  # kill -9 left its body behind
    with caplog.at_level(logging.INFO, logger="gridbt.stages"):
        lock = lock_directory(tmp_path)
    assert lock.previous is not None and lock.previous.pid == owner.pid
    assert f"took over the lock left by PID {owner.pid} " in caplog.text
    assert "(no longer running)" in caplog.text
    assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    lock.release()
    assert lock.path.read_text() == ""


def test_a_lock_is_held_once_per_process_and_freed_by_release_or_a_normal_exit(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    lock = lock_directory(tmp_path)
    (tmp_path / "sub").mkdir()
    assert lock_directory(tmp_path / "sub" / "..") is lock  # the same directory, held already
    body = json.loads(lock.path.read_text())
    assert body["host"] == socket.gethostname() and body["pid"] == os.getpid()
    assert {"user", "started", "command"} <= set(body)
    lock.release()
    assert not lock.held and lock.path.read_text() == ""
    # another process takes it, and its normal exit releases it (empties the body)
    code = "import sys\nfrom gridbt._lock import lock_directory\nlock_directory(sys.argv[1])\n"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, check=True)
    assert lock.path.read_text() == ""
    assert lock_directory(tmp_path).previous is None


def test_a_lock_left_on_another_host_is_never_taken_over(tmp_path: Path) -> None:
    body = {"host": "other-node", "pid": os.getpid(), "user": "alice",
            "started": "2024-05-01T09:30:00+00:00", "command": "gridbt sweep big.yaml"}
    (tmp_path / LOCK_NAME).write_text(json.dumps(body))
    before = snapshot(tmp_path)
    with pytest.raises(DirectoryLocked) as refused:
        lock_directory(tmp_path)
    message = str(refused.value)
    assert (f"PID {os.getpid()} of user alice on host other-node, since 2024-05-01 09:30:00 "
            "UTC") in message
    assert "gridbt cannot tell whether it still runs" in message
    assert f"delete {tmp_path / LOCK_NAME} and run again" in message
    assert snapshot(tmp_path) == before


def test_without_flock_a_lock_of_this_host_holds_while_its_process_lives(
    tmp_path: Path, processes: list[subprocess.Popen[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_flock(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(_lock.fcntl, "flock", no_flock)
    processes.append(alive := subprocess.Popen(["sleep", "600"], text=True))
    body = {"host": socket.gethostname(), "pid": alive.pid, "user": "bob",
            "started": "2024-05-01T09:30:00+00:00", "command": "gridbt optimize s.yaml"}
    (tmp_path / LOCK_NAME).write_text(json.dumps(body))
    with pytest.raises(DirectoryLocked, match=f"PID {alive.pid} of user bob"):
        lock_directory(tmp_path)
    alive.kill()
    alive.wait()
    lock = lock_directory(tmp_path)
    assert lock.previous is not None and lock.previous.pid == alive.pid


# ---------------------------------------------------------------------- lock_state: a reader
def test_lock_state_sees_a_holder_a_killed_one_and_a_released_one_and_writes_nothing(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    assert lock_state(tmp_path) == LockState(held=False, owner=None)  # no lock file
    processes.append(owner := holder(tmp_path))
    before = snapshot(tmp_path)
    state = lock_state(tmp_path)
    assert state.held and state.owner is not None and state.owner.pid == owner.pid
    assert state.owner.host == socket.gethostname()
    assert snapshot(tmp_path) == before  # read only: the body, size and mtime as they were
    os.kill(owner.pid, signal.SIGKILL)
    owner.wait()
    state = lock_state(tmp_path)  # the body is left behind, the flock is gone
    assert not state.held and state.owner is not None and state.owner.pid == owner.pid
    assert snapshot(tmp_path) == before
    code = "import sys\nfrom gridbt._lock import lock_directory\nlock_directory(sys.argv[1])\n"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, check=True)
    assert lock_state(tmp_path) == LockState(held=False, owner=None)  # released: emptied


def test_lock_state_counts_an_unreleased_lock_of_another_host_as_held(tmp_path: Path) -> None:
    body = {"host": "other-node", "pid": 1, "user": "alice",
            "started": "2024-05-01T09:30:00+00:00", "command": "gridbt sweep big.yaml"}
    (tmp_path / LOCK_NAME).write_text(json.dumps(body))
    state = lock_state(tmp_path)
    assert state.held and state.owner is not None and state.owner.host == "other-node"


def test_lock_state_without_flock_asks_whether_the_owner_lives(
    tmp_path: Path, processes: list[subprocess.Popen[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_flock(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(_lock.fcntl, "flock", no_flock)
    processes.append(alive := subprocess.Popen(["sleep", "600"], text=True))
    body = {"host": socket.gethostname(), "pid": alive.pid, "user": "bob",
            "started": "2024-05-01T09:30:00+00:00", "command": "gridbt optimize s.yaml"}
    (tmp_path / LOCK_NAME).write_text(json.dumps(body))
    assert lock_state(tmp_path).held
    alive.kill()
    alive.wait()
    state = lock_state(tmp_path)
    assert not state.held and state.owner is not None and state.owner.pid == alive.pid


def test_a_run_starting_during_a_readers_probe_is_not_refused(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    """A reader's probe holds a shared flock for an instant; a run that meets it waits."""
    (tmp_path / LOCK_NAME).write_text("")
    probe = ("import fcntl, os, sys, time\nfd = os.open(sys.argv[1], os.O_RDONLY)\n"
             "fcntl.flock(fd, fcntl.LOCK_SH)\nprint('probing', flush=True)\ntime.sleep(0.1)\n")
    processes.append(reader := subprocess.Popen(
        [sys.executable, "-c", probe, str(tmp_path / LOCK_NAME)], text=True,
        stdout=subprocess.PIPE))
    assert reader.stdout is not None and reader.stdout.readline() == "probing\n"
    lock = lock_directory(tmp_path)
    assert lock.held and lock.previous is None
