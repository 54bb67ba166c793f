"""Write files whole or not at all: to a temporary name beside the target, then rename.

A directory written whole (a chain, a packed-chain cache entry) is built in a hidden sibling
named by `owned_temp`, which records the writer: `.NAME.<uuid>.<pid>@<host>.tmp`. A writer
killed with `kill -9` leaves it behind; `remove_dead_temps` deletes such siblings once their
writer is gone (a process of this host that no longer runs), and never those of a live process
or of another host, which it cannot see.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gridbt._typing import PathLike

__all__ = [
    "atomic_path",
    "owned_temp",
    "remove_dead_temps",
    "write_json_atomic",
    "write_parquet_atomic",
]

#: `.NAME.<32 hex>.<pid>@<host>.<kind>`; the older form `.NAME.<32 hex>.<kind>` has no owner.
_TEMP = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{32}(?:\.(?P<pid>\d+)@(?P<host>[^/]+))?"
                   r"\.(?P<kind>tmp|old)$")


@contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` if the block succeeds."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(path: PathLike, payload: object) -> None:
    """Write JSON (indent 2, sorted keys) atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def write_parquet_atomic(path: PathLike, table: object) -> None:
    """Write a pyarrow Table as Parquet atomically."""
    import pyarrow.parquet as pq

    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def owned_temp(target: PathLike, kind: str = "tmp") -> Path:
    """A hidden sibling of `target` that names this process as its writer (see the module)."""
    target = Path(target)
    owner = f"{os.getpid()}@{socket.gethostname()}"
    return target.with_name(f".{target.name}.{uuid.uuid4().hex}.{owner}.{kind}")


def remove_dead_temps(directory: PathLike, name: str | None = None,
                      legacy_age: float = 3600.0) -> list[Path]:
    """Delete the hidden temporaries in `directory` whose writer is dead; return them.

    Parameters
    ----------
    directory
        Where the temporaries are (the parent of the targets).
    name
        Only the temporaries of this target name; all of them when None.
    legacy_age
        A temporary named without its writer (by an older gridbt) is deleted once it has not
        changed for this many seconds.
    """
    removed: list[Path] = []
    try:
        entries = list(Path(directory).iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP.match(entry.name)
        if match is None or (name is not None and match["name"] != name):
            continue
        try:
            if match["pid"] is None:
                dead = time.time() - entry.lstat().st_mtime > legacy_age
            else:
                dead = not _alive(int(match["pid"]), match["host"])
            if dead:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
                removed.append(entry)
        except OSError:
            continue  # removed by another process meanwhile, or not ours to remove
    return removed


def _alive(pid: int, host: str) -> bool:
    """Whether a writer may still run: unknown (another host) counts as alive."""
    if host != socket.gethostname() or pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True
