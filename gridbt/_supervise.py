"""Commands that run Ray do so in a child process, watched by the process the user started.

Ray ends its driver with `_exit(1)`, printing nothing, when the raylet or the object store on
the driver's machine dies (killed, or out of memory); and when a driver is killed, Ray's agent
processes outlive it for a minute, trying to report to a GCS that died with it. Neither can be
handled inside the driver. So `gridbt sweep`, `optimize` and `demo` fork once their arguments
are parsed (`supervise`):

- the child runs the command. It leads a process group of its own, which every Ray process it
  starts on this machine joins (GCS, raylet, dashboard, agents; Ray's workers make groups of
  their own and exit when their raylet is gone). It tells the parent, over a socket pair, the
  status files it writes (`note_status`), where Ray's logs are (`note_ray_logs`) and, last, its
  exit code. Then it ends at once (`os._exit`, after releasing its directory locks and flushing
  its output): a normal exit would wait for Ray's graceful shutdown, a second and more after
  the command's last line, where the parent's kill of the group below takes no time;
- the parent only waits. It passes Ctrl-C on, and SIGTERM and SIGHUP as Ctrl-C (the run stops
  as after Ctrl-C: status `interrupted`, exit 130; Ray's handlers make a SIGTERM sent to the
  child itself end it abruptly), and Ctrl-Z and `fg`. A signal the command was started with
  ignored stays ignored, as Unix commands keep it: SIGHUP under `nohup`, SIGINT in a script's
  background job (`gridbt sweep FILE &`), which a Ctrl-C meant for the script must not stop.
  The child always takes the parent's Ctrl-C, even when it inherited SIGINT ignored: a SIGTERM
  to such a background sweep stops it as it stops any other. When the child has
  ended, it kills what is left of the child's process group. A child that ended without giving
  its exit code (Ray's `_exit`, or a signal such as the kernel's out-of-memory SIGKILL) leaves
  status files that still say `running`: the parent marks them `failed` with the cause, prints
  one line saying what happened and what to do, and exits 3;
- when the parent dies, even by `kill -9`, the child reads the end of the socket and kills
  its whole process group, itself included: nothing of the run, Ray included, outlives the
  command the user started.

Where `os.fork` is missing, or with `GRIDBT_SUPERVISE=0`, the command runs in the process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from gridbt._errors import EXIT_ENVIRONMENT, EXIT_FAILED
from gridbt._status import mark_failed

__all__ = ["command_pid", "note_ray_logs", "note_status", "supervise"]

_channel: socket.socket | None = None  # the child's end, in the child only
_statuses: list[Path] = []  # the child's status files
_FORWARD: dict[int, int] = {signal.SIGINT: signal.SIGINT, signal.SIGTERM: signal.SIGINT,
            signal.SIGHUP: signal.SIGINT}


def command_pid() -> int:
    """The PID of the command the user started: the watching parent in a supervised child
    (the process to stop: it ends the child and Ray with it), else this process."""
    return os.getppid() if _channel is not None else os.getpid()


def supervise(run: Callable[[], int], label: str) -> int:
    """Run `run()` in a child process watched by this one (see the module docstring) and
    return its exit code; `label` names the run in the message of an abrupt end ("the
    sweep")."""
    if not hasattr(os, "fork") or os.environ.get("GRIDBT_SUPERVISE") == "0":
        return run()
    parent_end, child_end = socket.socketpair()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        parent_end.close()
        return _child(child_end, run)
    child_end.close()
    with contextlib.suppress(OSError):  # the child does it too; whichever is first
        os.setpgid(pid, pid)
    return _Parent(pid, parent_end, label).wait()


def note_status(path: Path) -> None:
    """In a supervised child: `path` is a JSON status file (`"status": "running"` while the run
    runs) to mark failed if the child ends abruptly. Elsewhere, nothing."""
    if _channel is not None:
        _statuses.append(Path(path).resolve())
        _send({"status": str(_statuses[-1])})


def note_ray_logs(directory: str) -> None:
    """In a supervised child: where the local Ray session keeps its logs. Elsewhere, nothing."""
    _send({"ray_logs": directory})


def _send(message: dict[str, Any]) -> None:
    if _channel is not None:
        with contextlib.suppress(OSError):
            _channel.sendall((json.dumps(message) + "\n").encode())


# ---------------------------------------------------------------------- the child
def _child(channel: socket.socket, run: Callable[[], int]) -> NoReturn:
    global _channel
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    # only the parent signals this process group (a terminal's Ctrl-C reaches the parent):
    # what it forwards must interrupt the run even where SIGINT was inherited ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    _channel = channel
    threading.Thread(target=_watch_parent, args=(channel,), name="gridbt-supervised",
                     daemon=True).start()
    try:
        code = run()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else EXIT_FAILED
    except BaseException:
        traceback.print_exc()
        code = EXIT_FAILED
    _end_now(code)


def _end_now(code: int) -> NoReturn:
    """End the child as soon as the command is done. Everything the run writes is closed and
    renamed into place by then (results, status files, MLflow's database), so what is left of
    a normal exit is Ray's graceful shutdown: a second and more of waiting for its daemons
    after the last line, which the parent's kill of this process group does at once (as
    after Ctrl-C). gridbt's own exit work (output, directory locks, log handlers) is done
    here first."""
    from gridbt._lock import release_all  # _lock asks this module whose run a lock is

    release_all()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    _send({"exit": code})
    os._exit(code)


def _watch_parent(channel: socket.socket) -> None:
    """The parent never writes: the socket ends when it dies. Then record the run failed and
    end this process group (this process, and Ray's processes on this machine), as a kill of
    the parent asked."""
    with contextlib.suppress(OSError):
        while channel.recv(1024):
            pass
    for path in _statuses:
        mark_failed(path, "stopped: the gridbt process that ran it was killed")
    if os.getpgid(0) == os.getpid():  # this process leads its group: Ray's processes too
        os.killpg(0, signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


# ---------------------------------------------------------------------- the parent
class _Parent:
    def __init__(self, pid: int, channel: socket.socket, label: str):
        self.pid, self.channel, self.label = pid, channel, label
        self.forwarded: list[int] = []
        self.buffer = b""

    def wait(self) -> int:
        for sig in _FORWARD:
            if signal.getsignal(sig) is not signal.SIG_IGN:  # nohup's SIGHUP stays ignored
                signal.signal(sig, self._forward)
        signal.signal(signal.SIGTSTP, self._stop)
        status = self._wait_for_child()
        messages = self._messages()
        codes = [m["exit"] for m in messages if "exit" in m]
        if codes:
            return int(codes[-1])
        return self._abrupt(status, messages)

    def _forward(self, signum: int, _frame: FrameType | None) -> None:
        self.forwarded.append(signum)
        with contextlib.suppress(OSError):
            os.kill(self.pid, _FORWARD[signum])

    def _stop(self, _signum: int, _frame: FrameType | None) -> None:
        """Ctrl-Z: stop the child, then this process; `fg` continues both."""
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGSTOP)
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTSTP)  # stops here until SIGCONT
        signal.signal(signal.SIGTSTP, self._stop)
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGCONT)

    def _wait_for_child(self) -> int:
        """Wait for the child to end; kill what is left of its process group while the child
        is still unreaped (so its pid, the group's id, cannot be reused); its wait status."""
        waitid = getattr(os, "waitid", None)
        if waitid is not None and hasattr(os, "WNOWAIT"):
            with contextlib.suppress(ChildProcessError):
                waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)
        with contextlib.suppress(OSError):
            os.killpg(self.pid, signal.SIGKILL)
        _, status = os.waitpid(self.pid, 0)
        return status

    def _messages(self) -> list[dict[str, Any]]:
        self.channel.setblocking(False)
        with contextlib.suppress(OSError):
            while chunk := self.channel.recv(65536):
                self.buffer += chunk
        out = []
        for line in self.buffer.splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    def _abrupt(self, status: int, messages: list[dict[str, Any]]) -> int:
        """The child ended without its exit code: say why, mark its statuses failed, exit 3."""
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            name = signal.Signals(sig).name if sig in signal.Signals.__members__.values() \
                else str(sig)
            cause = f"its process was killed by {name}" + (
                " (by hand, or by the kernel when memory ran out)" if sig == signal.SIGKILL
                else "")
        else:
            code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else status
            cause = (f"its process exited with code {code} without finishing, as Ray ends a "
                     "driver whose raylet or object store on this machine died (killed, or "
                     "out of memory)")
        marked = [path for path in dict.fromkeys(m["status"] for m in messages if "status" in m)
                  if mark_failed(Path(path), f"{self.label} stopped abruptly: {cause}")]
        logs = [m["ray_logs"] for m in messages if "ray_logs" in m]
        where = f"; Ray's logs are in {logs[-1]}" if logs else ""
        recorded = f"; {', '.join(marked)} now says failed" if marked else ""
        print(f"gridbt: {self.label} stopped abruptly: {cause}{recorded}{where}; what is on "
              "disk is kept: run the same command with --resume to continue", file=sys.stderr)
        return EXIT_ENVIRONMENT

