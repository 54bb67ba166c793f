"""One run at a time in a result directory: an exclusive lock held by the process that runs a
sweep or a study there, from before its expensive work until it exits.

The lock is `fcntl.flock` on `<directory>/.gridbt.lock`, whose body names the owner (host, PID,
user, start time, command) as JSON, for the message a second run is refused with. The kernel
releases a flock when its process dies, even by `kill -9`, so on one host the lock needs no
clean-up: a body left behind by a dead owner is taken over, with a stage line saying whose it
was. A release (`DirectoryLock.release`, or the process's normal exit) empties the body.

Across hosts on a shared filesystem, flock may not be honoured (NFS mounted with `nolock` or
`local_lock=flock`) and a PID means nothing on another host. So a lock file whose body names
another host, and which was not released, is never taken over: the run is refused, naming that
owner, and the user deletes the file once that run is known to be gone. Where the filesystem
has no flock at all (ENOLCK, EOPNOTSUPP), the body alone decides: an owner on this host holds
the directory while its PID is alive.

`lock_state` tells a reader (the results API) whether a run holds a directory now, without
taking the lock or writing anything: a shared flock tried on a read-only descriptor and
released at once. A run that starts in that instant finds the lock taken, so `lock_directory`
tries again for a quarter of a second before it refuses.
"""

from __future__ import annotations

import atexit
import datetime as dt
import errno
import fcntl
import getpass
import json
import os
import shlex
import socket
import stat
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from gridbt._inputs import InputError
from gridbt._stages import stage
from gridbt._supervise import command_pid

if TYPE_CHECKING:
    from gridbt._typing import PathLike  # _typing imports numpy

__all__ = ["LOCK_NAME", "DirectoryLock", "DirectoryLocked", "LockState", "Owner",
           "lock_directory", "lock_state", "release_all"]

LOCK_NAME = ".gridbt.lock"
_NO_FLOCK = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS,
                       errno.EINVAL})
_HELD: dict[Path, DirectoryLock] = {}
_PATIENCE = 0.25  # seconds a run waits for a lock held by a reader's probe


@dataclass(frozen=True)
class Owner:
    """Who holds a lock: the body of the lock file."""

    host: str
    pid: int
    user: str
    started: str  # ISO 8601, UTC
    command: str

    @classmethod
    def this_process(cls) -> Owner:
        argv = [Path(sys.argv[0]).name or "python", *sys.argv[1:]] if sys.argv else ["python"]
        # the command the user started, whose PID they would stop (`gridbt._supervise`)
        return cls(host=socket.gethostname(), pid=command_pid(), user=_user(),
                   started=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                   command=shlex.join(argv))

    @classmethod
    def parse(cls, text: str) -> Owner | None:
        """The owner a lock file's body names; None if it is empty or not one."""
        try:
            payload = json.loads(text)
            owner = cls(**{f.name: payload[f.name] for f in fields(cls)})
        except (ValueError, TypeError, KeyError):
            return None
        return owner if isinstance(owner.pid, int) and isinstance(owner.host, str) else None

    def describe(self) -> str:
        try:
            since = dt.datetime.fromisoformat(self.started)
            ago = _duration((dt.datetime.now(dt.UTC) - since).total_seconds())
            when = f"{since.strftime('%Y-%m-%d %H:%M:%S %Z')} ({ago} ago)"
        except (TypeError, ValueError):
            when = str(self.started)
        return (f"PID {self.pid} of user {self.user} on host {self.host}, since {when}: "
                f"{self.command}")


class DirectoryLocked(InputError):
    """The directory is another run's; the message names the owner and says what to do."""

    def __init__(self, message: str, owner: Owner | None):
        super().__init__(message)
        self.owner = owner


class DirectoryLock:
    """A directory locked by this process until `release` or the process's exit."""

    def __init__(self, directory: Path, fd: int, owner: Owner, previous: Owner | None):
        self.directory = directory
        self.path = directory / LOCK_NAME
        self.owner = owner
        self.previous = previous  # the dead owner whose lock this one took over, if any
        self._fd = fd
        self._pid = os.getpid()  # the process holding the descriptor (the owner's child, if
        # supervised)

    @property
    def held(self) -> bool:
        return self._fd >= 0

    def release(self) -> None:
        """Empty the lock file's body and unlock (a no-op in a forked child, or done twice)."""
        if self._fd < 0 or os.getpid() != self._pid:
            return
        _HELD.pop(self.directory, None)
        fd, self._fd = self._fd, -1
        try:
            os.ftruncate(fd, 0)
        except OSError:  # a body left behind is taken over as stale by the next run
            pass
        finally:
            os.close(fd)  # closing the only descriptor releases the flock


def lock_directory(directory: PathLike) -> DirectoryLock:
    """Lock `directory` (created if missing) for this process, until it exits or the lock is
    released; return the lock this process already holds if it does.

    Raises `DirectoryLocked` naming the owner (host, PID, user, since when, command) and what
    to do when another process holds it; the directory's contents are left as they were.
    """
    root = Path(directory).resolve()
    if (held := _HELD.get(root)) is not None:
        return held
    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, _file_mode(root))
    except OSError as exc:
        raise InputError(f"{root}: cannot open its lock file {path}: {exc.strerror}; choose "
                         "another output directory") from None
    me = Owner.this_process()
    try:
        flocked = _flock(fd)
        previous = Owner.parse(_read(fd)) if flocked is not None else _owner_of_taken(fd, me)
        if flocked is None or (previous is not None and not _gone(previous, me, flocked)):
            raise DirectoryLocked(_refusal(root, path, previous, me, flocked), previous)
        _write(fd, me)
    except BaseException:
        os.close(fd)
        raise
    lock = _HELD[root] = DirectoryLock(root, fd, me, previous)
    if previous is not None:
        stage("%s: took over the lock left by %s (no longer running)", root,
              previous.describe())
    return lock


@dataclass(frozen=True)
class LockState:
    """A directory's lock as a reader sees it (`lock_state`)."""

    held: bool  # a run holds it, or may (an unreleased lock of another host)
    owner: Owner | None  # whom the lock file names: the holder, or the run that left it


def lock_state(directory: PathLike) -> LockState:
    """Whether a run holds `directory`'s lock now, and whom its lock file names; read-only.

    The lock file is opened read-only and probed with a non-blocking shared flock, released
    at once; nothing is written. Held: another process holds the flock. Free: no lock file, or
    no process holds it, except that a body naming another host which was not released counts
    as held, as `lock_directory` counts it (flock may not reach that host). Where the
    filesystem has no flock, the body decides: an owner on this host holds the lock while its
    PID lives; one on another host, always. A lock file this process may not read counts as
    held, by nobody it can name.
    """
    path = Path(directory) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except PermissionError:  # another user's lock this one may not read: cannot tell
        return LockState(True, None)
    except OSError:
        return LockState(False, None)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return LockState(False, None)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return LockState(True, Owner.parse(_read(fd)))
        except OSError as exc:
            if exc.errno not in _NO_FLOCK:
                raise
            owner = Owner.parse(_read(fd))
            here = socket.gethostname()
            return LockState(owner is not None and (owner.host != here or _alive(owner.pid)),
                             owner)
        fcntl.flock(fd, fcntl.LOCK_UN)
        owner = Owner.parse(_read(fd))
        return LockState(owner is not None and owner.host != socket.gethostname(), owner)
    finally:
        os.close(fd)


@atexit.register
def release_all() -> None:
    """Release every lock this process holds (also run at its normal exit)."""
    for lock in list(_HELD.values()):
        lock.release()


def _flock(fd: int) -> bool | None:
    """True: locked; False: this filesystem has no flock; None: another process holds it (for
    longer than a reader's probe does)."""
    deadline = time.monotonic() + _PATIENCE
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.01)
            continue
        except OSError as exc:
            if exc.errno in _NO_FLOCK:
                return False
            raise
        return True


def _gone(owner: Owner, me: Owner, flocked: bool) -> bool:
    """Whether the owner a body names is known to be gone, so its lock may be taken over."""
    if owner.host != me.host:
        return False  # its PID means nothing here, and flock may not reach its host
    # on one host a held flock is never free: the owner died (its PID may be reused since)
    return flocked or owner.pid == me.pid or not _alive(owner.pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _owner_of_taken(fd: int, me: Owner, wait: float = 1.0) -> Owner | None:
    """The owner of a lock another process holds; it may be writing its body right now, so
    an empty body, or one naming a dead process of this host, is read again for a moment."""
    deadline = time.monotonic() + wait
    while True:
        owner = Owner.parse(_read(fd))
        settled = owner is not None and (owner.host != me.host or _alive(owner.pid))
        if settled or time.monotonic() >= deadline:
            return owner
        time.sleep(0.05)


def _refusal(root: Path, path: Path, owner: Owner | None, me: Owner,
             flocked: bool | None) -> str:
    if owner is None:
        return (f"{root}: in use by another gridbt run (its lock file {path} does not say "
                "which yet); wait for it to end, or choose another output directory")
    text = f"{root}: in use by another gridbt run: {owner.describe()}. "
    if flocked is not None and owner.host != me.host:
        return text + (f"It runs, or ran, on another host than this one ({me.host}), so gridbt "
                       "cannot tell whether it still runs: wait for it to end, or, once it is "
                       f"known to be gone, delete {path} and run again")
    stop = f"kill {owner.pid}" + ("" if owner.host == me.host else f" on {owner.host}")
    return text + (f"Wait for it to end, or stop it ({stop}; then continue it with --resume), "
                   "or choose another output directory")


def _read(fd: int) -> str:
    return os.pread(fd, 1 << 16, 0).decode(errors="replace")


def _write(fd: int, owner: Owner) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(asdict(owner)) + "\n").encode(), 0)
    os.fsync(fd)


def _file_mode(directory: Path) -> int:
    """The lock file is as writable as its directory: a group-shared directory's lock file is
    group-writable, so a second user's run can read and take it."""
    return directory.stat().st_mode & 0o666


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def _duration(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
