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
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INPUT = 2
EXIT_ENVIRONMENT = 3
EXIT_INTERRUPTED = 130

#: OS errors that say the machine, not the input, failed a write
_OS_CAUSES = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.EFBIG: "a file would exceed the file size limit",
    errno.EROFS: "the file system is read-only",
    errno.EIO: "an input/output error (a failing disk or network file system)",
    errno.EACCES: "permission denied",
}
#: SQLite's words for a database another connection holds
_LOCKED = ("database is locked", "database table is locked", "database is busy")


class EnvironmentFailure(Exception):
    """The environment failed a command (disk, database, Ray); the message names the cause and
    what to do. Exit code 3."""


def environment_cause(error: BaseException) -> str | None:
    """What in the environment `error` (or an error it was raised from) says failed, in a few
    words; None when it is not an environment failure."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, EnvironmentFailure):
            return str(current)
        if isinstance(current, OSError) and current.errno in _OS_CAUSES:
            return f"{_OS_CAUSES[current.errno]} [Errno {current.errno}]"
        text = str(current).lower()
        if any(words in text for words in _LOCKED):
            return "the database is locked by another process"
        # SQLAlchemy wraps the driver's error in `.orig`
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) and id(orig) not in seen else \
            current.__cause__ or current.__context__
    return None


def environment_failure(error: BaseException, doing: str, remedy: str) -> EnvironmentFailure | None:
    """`error` as an `EnvironmentFailure` saying "`doing`: cause; `remedy`", or None when it is
    not the environment's (then the caller re-raises it as it is)."""
    if isinstance(error, EnvironmentFailure):
        return error
    cause = environment_cause(error)
    if cause is None:
        return None
    where = getattr(error, "filename", None)
    detail = f" ({where})" if where and str(where) not in doing else ""
    return EnvironmentFailure(f"{doing}: {cause}{detail}; {remedy}")
