"""A real MLflow tracking server for tests and benchmarks: ``mlflow server`` on 127.0.0.1 with
a SQLite (or any other) backend store and a local artifact root, as a cluster's tracking
server is set up."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gridbt.testing.process import free_port, serving

__all__ = ["mlflow_server"]



@contextmanager
def mlflow_server(root: Path, *, backend_store_uri: str | None = None, workers: int = 1,
                  timeout: float = 120.0) -> Iterator[str]:
    """Run ``mlflow server`` with its store in `root` (``mlflow.db``, ``mlartifacts/``) and
    `workers` processes, and yield its URL; stop it on exit. Its output goes to
    ``root/server.log``. `backend_store_uri` replaces the SQLite file (e.g.
    ``postgresql://...``)."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
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
    with serving("mlflow server", command, f"{url}/health", root / "server.log", env=env,
                 timeout=timeout):
        yield url
