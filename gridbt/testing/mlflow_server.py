"""A real MLflow tracking server for tests and benchmarks: ``mlflow server`` on 127.0.0.1 with
a SQLite (or any other) backend store and a local artifact root, as a cluster's tracking
server is set up."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["mlflow_server"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def mlflow_server(root: Path, *, backend_store_uri: str | None = None, workers: int = 1,
                  timeout: float = 120.0) -> Iterator[str]:
    """Run ``mlflow server`` with its store in `root` (``mlflow.db``, ``mlartifacts/``) and
    `workers` processes, and yield its URL; stop it on exit. Its output goes to
    ``root/server.log``. `backend_store_uri` replaces the SQLite file (e.g.
    ``postgresql://...``)."""
    root.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        str(Path(sys.executable).with_name("mlflow")), "server",
        "--backend-store-uri",
        backend_store_uri or f"sqlite:///{(root / 'mlflow.db').resolve().as_posix()}",
        "--artifacts-destination", str((root / "mlartifacts").resolve()),
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
    ]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    # no job runner and its worker processes (GenAI scorers): nothing here uses them
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    with open(root / "server.log", "wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                  start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {server.returncode}: "
                                   f"{(root / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not answer at {url} in {timeout:.0f} s")
            time.sleep(0.2)
        yield url
    finally:
        # its own session: the group is the server and the workers it started, nothing else
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
