"""Processes the tests start for real: servers (a free port on 127.0.0.1, and a process run in
a session of its own until its health URL answers, then stopped with everything it started),
commands started with the signal dispositions a shell would give them, and a sweep's progress
on disk while it runs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import psutil

__all__ = ["alive", "as_started", "descendants", "free_port", "named", "parts_on_disk", "serving",
           "wait_for_results"]


_EXEC_WITH_SIGNALS = (
    "import os, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.SIG_DFL)\n"
    "for number in filter(None, sys.argv[1].split(',')):\n"
    "    signal.signal(int(number), signal.SIG_IGN)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


def as_started(command: list[str], *, ignored: Iterable[signal.Signals] = ()) -> list[str]:
    """`command` (its first item a path) started as a shell starts it: SIGINT at its default
    action, as for a command typed at a terminal, whatever the tests inherited (run as a
    script's background job, they have SIGINT ignored, and so would every command they start),
    and the signals `ignored` ignored: SIGHUP under `nohup`, SIGINT in a script's background
    job. Dispositions other than ignore are reset by `exec`; the process keeps its pid."""
    numbers = ",".join(str(int(s)) for s in ignored)
    return [sys.executable, "-c", _EXEC_WITH_SIGNALS, numbers, *command]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(name: str, command: list[str], health: str, log_path: Path, *,
            env: Mapping[str, str] | None = None, timeout: float = 60.0) -> Iterator[None]:
    """Run `command` (output to `log_path`) until a GET of `health` answers 200, then yield;
    on exit stop its process group (SIGTERM, then SIGKILL after 15 s). A process that exits
    or does not answer within `timeout` seconds raises, with the end of its log."""
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                  env=None if env is None else dict(env),
                                  start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"{name} exited with {server.returncode}: "
                                   f"{log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(health, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not answer at {health} in {timeout:.0f} s: "
                                   f"{log_path.read_text()[-2000:]}")
            time.sleep(0.2)
        yield
    finally:
        # its own session: the group is the server and what it started, nothing else
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def parts_on_disk(out: Path) -> int:
    """The result parts a sweep has written to its directory `out` so far."""
    return len(list((out / "results").glob("part-*.parquet")))


def wait_for_results(proc: subprocess.Popen[str], out: Path, parts: int = 2,
                     timeout: float = 300) -> None:
    """Until the sweep `proc` has written `parts` result parts to `out` (its grid is under
    way); an `AssertionError` if it ends or stalls first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if parts_on_disk(out) >= parts:
            return
        time.sleep(0.05)
    raise AssertionError(f"the sweep ended or stalled before it wrote {parts} parts: "
                         f"{proc.poll()}")


def descendants(pid: int) -> list[psutil.Process]:
    """Every process `pid` started, and they started, that is still its descendant."""
    try:
        children: list[psutil.Process] = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return children


def named(processes: list[psutil.Process], prefix: str) -> list[psutil.Process]:
    """The processes whose command line starts with `prefix` (Ray's workers set theirs to
    `ray::<class>.<method>`; its binaries are found by path)."""
    found = []
    for p in processes:
        try:
            cmdline = p.cmdline()
        except psutil.Error:
            continue
        if cmdline and (cmdline[0].startswith(prefix) or cmdline[0].endswith("/" + prefix)):
            found.append(p)
    return found


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    """The processes of `processes` still running (a zombie has ended)."""
    out = []
    for p in processes:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out
