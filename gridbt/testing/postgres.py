"""A real PostgreSQL server for tests: ``initdb`` and ``pg_ctl`` (Debian's `postgresql`
package) in a temporary directory, on a free port of 127.0.0.1, as a cluster's study storage
and MLflow backend store are set up.

PostgreSQL refuses to run as root: under root the server runs as the ``postgres`` user (the
one Debian's package creates; created here when missing), which then owns its directory.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gridbt.testing.process import free_port

__all__ = ["PostgresUnavailable", "create_database", "postgres_bin", "postgres_server"]

_USER = "postgres"  # the server's OS user when the tests run as root
_ROLE = "gridbt"  # the database role the tests connect as (trust authentication, local only)


class PostgresUnavailable(RuntimeError):
    """PostgreSQL's server binaries are not installed here."""


def postgres_bin() -> Path:
    """The newest installed ``/usr/lib/postgresql/<version>/bin`` (or ``$PG_BIN``)."""
    if override := os.environ.get("PG_BIN"):
        return Path(override)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name.split(".")[0]))
    if not found:
        raise PostgresUnavailable("PostgreSQL's initdb is not installed (Debian: apt-get install "
                                  "postgresql; `make test` installs it)")
    return Path(found[-1]).parent



def _as_server_user() -> list[str]:
    """The command prefix that runs the server's tools as a non-root user, when root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", _USER], check=True)
    return ["runuser", "-u", _USER, "--"]


def _chown(path: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam(_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)


@contextmanager
def postgres_server(*, timeout: float = 60.0) -> Iterator[str]:
    """Run a PostgreSQL server in a new temporary directory and yield its base URL
    (``postgresql://gridbt@127.0.0.1:<port>``, trust authentication, TCP on 127.0.0.1 only);
    stop it (``pg_ctl stop -m fast``) and delete the directory on exit.

    The directory is made directly under the temporary root (not under pytest's per-user
    directory, which the server's user could not enter)."""
    bin_dir = postgres_bin()
    prefix = _as_server_user()
    root = Path(tempfile.mkdtemp(prefix="gridbt-postgres-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    for folder in (root, sockets):
        _chown(folder)
    port = free_port()
    subprocess.run([*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", _ROLE,
                    "--auth=trust", "--encoding=UTF8", "--no-instructions"],
                   check=True, capture_output=True)
    with open(data / "postgresql.conf", "a") as conf:
        # a throwaway server: no durability, little memory, many clients (two drivers, MLflow)
        conf.write(f"listen_addresses = '127.0.0.1'\nport = {port}\n"
                   f"unix_socket_directories = '{sockets}'\nfsync = off\n"
                   "synchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n"
                   "shared_buffers = 32MB\n")
    log = root / "server.log"
    subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w",
                    "-t", str(int(timeout)), "start"], check=True, capture_output=True)
    try:
        deadline = time.monotonic() + timeout
        while True:  # `-w` waited for the socket; make sure TCP answers too
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not listen on {port}: {log.read_text()}")
            time.sleep(0.1)
        yield f"postgresql://{_ROLE}@127.0.0.1:{port}"
    finally:
        subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w",
                        "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def create_database(base_url: str, name: str) -> str:
    """Create database `name` on the server at `base_url`; its URL."""
    import psycopg

    connection = psycopg.connect(f"{base_url}/postgres")
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()
    return f"{base_url}/{name}"
