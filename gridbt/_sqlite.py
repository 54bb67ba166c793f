"""SQLite stores (MLflow's tracking database, Optuna's storage) shared safely by concurrent runs.

- Every connection waits up to `BUSY_TIMEOUT` seconds for another process's lock instead of
  failing at once with "database is locked": `with_busy_timeout` adds `timeout=` to a
  `sqlite:///` URL, which SQLAlchemy hands to `sqlite3.connect` (a URL that sets its own
  timeout keeps it).
- A store's creation (its tables and migrations, run by MLflow or Optuna when they open a new
  database) happens under an exclusive lock on the database's directory (`creating`): two
  runs that create one new database at once otherwise race ("table ... already exists",
  "duplicate column name").

Neither reaches into MLflow or Optuna: both act on the URL and the file system only.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

__all__ = ["BUSY_TIMEOUT", "creating", "sqlite_path", "with_busy_timeout"]

BUSY_TIMEOUT = 60.0
_PREFIX = "sqlite:///"


def sqlite_path(url: str) -> Path | None:
    """The database file of a `sqlite:///` URL; None for other URLs and in-memory databases."""
    if not url.startswith(_PREFIX):
        return None
    path = url.removeprefix(_PREFIX).partition("?")[0]
    return None if path in ("", ":memory:") else Path(path)


def with_busy_timeout(url: str) -> str:
    """`url` with `timeout=BUSY_TIMEOUT` when it is a SQLite file without a timeout of its own."""
    if sqlite_path(url) is None or "timeout" in parse_qs(url.partition("?")[2]):
        return url
    return f"{url}{'&' if '?' in url else '?'}timeout={BUSY_TIMEOUT:g}"


@contextlib.contextmanager
def creating(url: str) -> Iterator[None]:
    """Hold an exclusive lock on the directory of `url`'s database while its store is opened
    (and created, if new); a no-op for other URLs, or where the file system has no locks."""
    path = sqlite_path(url)
    if path is None:
        yield
        return
    try:
        import fcntl
    except ImportError:  # no flock (Windows): creation is not serialised
        yield
        return
    folder = path.resolve().parent
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):  # a file system without flock: go on unlocked
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock
