"""Failures of the machine a command runs on, and the exit codes every `gridbt` command ends with.

- 0: done.
- 1: a check the command ran found problems (`gridbt data validate`), or an unexpected error
  (a bug, printed with its traceback).
- 2: bad input (a file, an option, a chain, an output directory); nothing was started.
- 3: the environment failed (disk full, a locked database, Ray's processes or every actor
  gone); what was written is kept, and the message says what to do, usually to free the
  resource and run the same command with `--resume`.
- 130: interrupted (Ctrl-C; SIGTERM and SIGHUP too for the commands that run Ray);
  `--resume` continues.

An `EnvironmentFailure` carries a one-line message naming the cause and what to do. Code
that writes or talks to a service turns the low-level error into one with
`environment_failure`, which recognises the errors that are the environment's, not the
input's or gridbt's. This module imports nothing heavy: the CLI catches its errors by name.
"""

from __future__ import annotations

import errno

__all__ = [
    "EXIT_ENVIRONMENT",
    "EXIT_FAILED",
    "EXIT_INPUT",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EnvironmentFailure",
    "environment_cause",
    "environment_failure",
    "failure_text",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INPUT = 2
EXIT_ENVIRONMENT = 3
EXIT_INTERRUPTED = 130

#: OS errors that say the machine, not the input, failed a write: the cause, and what to do
_OS_CAUSES = {
    errno.ENOSPC: ("no space left on the device", "free space there"),
    errno.EDQUOT: ("the disk quota is exhausted", "free space or raise the quota"),
    errno.EFBIG: ("a file would exceed the file size limit", "raise the limit (ulimit -f)"),
    errno.EROFS: ("the file system is read-only", "make it writable"),
    errno.EIO: ("an input/output error (a failing disk or network file system)",
                "check the disk"),
    errno.EACCES: ("permission denied", "fix the permissions"),
}
#: SQLite's words for a database another connection holds
_LOCKED = ("database is locked", "database table is locked", "database is busy")
_LOCKED_CAUSE = ("the database is locked by another process",
                 "let that process finish, or stop it")


class EnvironmentFailure(Exception):
    """The environment failed a command (disk, database, Ray); the message names the cause and
    what to do. Exit code 3."""


def environment_cause(error: BaseException) -> tuple[str, str] | None:
    """What in the environment `error` (or an error it was raised from) says failed, and what
    to do about it, in a few words each; None when it is not an environment failure."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _OS_CAUSES:
            cause, action = _OS_CAUSES[current.errno]
            return f"{cause} [Errno {current.errno}]", action
        if any(words in str(current).lower() for words in _LOCKED):
            return _LOCKED_CAUSE
        orig = getattr(current, "orig", None)  # SQLAlchemy keeps the driver's error there
        current = orig if isinstance(orig, BaseException) and id(orig) not in seen else \
            current.__cause__ or current.__context__
    return None


def environment_failure(error: BaseException, doing: str, then: str) -> EnvironmentFailure | None:
    """`error` as an `EnvironmentFailure` saying "`doing`: cause; what to do, `then`", or None
    when it is not the environment's (the caller re-raises it as it is)."""
    if isinstance(error, EnvironmentFailure):
        return error
    found = environment_cause(error)
    if found is None:
        return None
    cause, action = found
    where = getattr(error, "filename", None)
    detail = f" ({where})" if where and str(where) not in doing else ""
    return EnvironmentFailure(f"{doing}: {cause}{detail}; {action}, {then}")


def failure_text(error: BaseException) -> str:
    """The one line a failed run records: the message, with the error's kind when it is not
    one of gridbt's own."""
    text = str(error).splitlines()[0] if str(error) else ""
    if type(error).__module__.startswith("gridbt"):
        return text or type(error).__name__
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
