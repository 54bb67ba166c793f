"""A job's MLflow store opened ahead of its logging, on a thread, while the job starts.

Importing MLflow takes ~0.9 s and a new SQLite store ~1.3 s more (its tables and some fifty
migrations); both used to come after the results, before the first run was logged. Started
once the job's input is checked, they overlap Ray's start, the chain and the actors, where
the driver mostly waits.

A new SQLite store is made under a temporary name beside its place and renamed into it once
complete, under `_sqlite.creating`'s lock and only where there is no store yet: a job stopped
meanwhile leaves no half-migrated database (which MLflow would refuse to open), and the
temporary file goes at exit. The database holds nothing of its own path, so it is the store
MLflow would have made in place. Other stores (a server, PostgreSQL) are only imported for:
opening them may wait on the network. Nothing here reports an error: the logging meets it
again, and says what it is.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gridbt._sqlite import creating, sqlite_path

if TYPE_CHECKING:
    from gridbt.strategy.spec import TrackingConfig

__all__ = ["JobStoreAhead", "StoreAhead"]


class JobStoreAhead:
    """The `on_checked(job, out_dir)` hook of `run_sweep` and `run_study`: a `StoreAhead` of
    the job's runs (to `tracking_dir`, default the job's output directory) when its file
    logs to MLflow; `wait()` before logging."""

    def __init__(self, tracking_dir: Path | None, verbose: bool = False):
        self.tracking_dir, self.verbose = tracking_dir, verbose
        self.opening: StoreAhead | None = None

    def __call__(self, job: Any, out_dir: Path) -> None:
        if job.mlflow.enabled:
            store_dir = out_dir if self.tracking_dir is None else self.tracking_dir
            self.opening = StoreAhead(job.mlflow, store_dir, self.verbose)

    def wait(self) -> None:
        if self.opening is not None:
            self.opening.wait()


class StoreAhead:
    """Import MLflow and create the SQLite store a job's runs go to (`config` and `store_dir`
    as `jobs.tracking_uri` takes them) if it does not exist yet, on a daemon thread started
    now; `wait()` before logging to it. The calling thread imports nothing."""

    def __init__(self, config: TrackingConfig, store_dir: Path, verbose: bool = False):
        self.config, self.store_dir = config, store_dir
        self.tracking_uri = ""  # known once the thread has imported what resolves it
        self.verbose = verbose
        self.created = False  # whether this made the store (for the stage line and tests)
        self._temporary: Path | None = None
        self._thread = threading.Thread(target=self._run, name="gridbt-mlflow-store",
                                        daemon=True)
        atexit.register(self._discard)
        self._thread.start()

    def wait(self) -> None:
        """Return once the store is ready (or its making failed: the logging says why)."""
        self._thread.join()

    def _run(self) -> None:
        with contextlib.suppress(Exception):
            import mlflow.tracking  # noqa: F401  (the import is half the point)

            from gridbt.tracking.jobs import tracking_uri

            self.tracking_uri = tracking_uri(self.config, self.store_dir)
            path = sqlite_path(self.tracking_uri)
            if path is not None and not path.exists():
                self._create(path)

    def _create(self, path: Path) -> None:
        from mlflow.tracking import MlflowClient

        with creating(self.tracking_uri):
            if path.exists():  # another job made it meanwhile
                return
            temporary = path.with_name(f".{path.name}.creating-{os.getpid()}")
            self._temporary = temporary
            temporary.unlink(missing_ok=True)
            logger = logging.getLogger("mlflow")
            level = logger.level
            if not self.verbose:  # "Creating initial MLflow database tables..."
                logger.setLevel(max(level, logging.WARNING))
            try:
                MlflowClient(f"sqlite:///{temporary.resolve().as_posix()}").search_experiments(
                    max_results=1)
            finally:
                logger.setLevel(level)
            os.rename(temporary, path)
            self._temporary = None
            self.created = True

    def _discard(self) -> None:
        """At exit: the temporary store of a making the process did not wait for."""
        temporary = self._temporary
        if temporary is not None:
            temporary.unlink(missing_ok=True)
