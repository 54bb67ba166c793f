"""A job's MLflow store opened ahead of its logging, while the job starts.

Importing MLflow takes ~0.9 s and a new SQLite store ~1.3 s more (its tables and some fifty
migrations); both used to come after the results, before the first run was logged. Started
on a thread once a sweep's or a study's input is checked, they overlap Ray's start, the chain
and the actors, where the driver mostly waits.

A new SQLite store is made under a temporary name beside its place and renamed into it once
complete, under `_sqlite.creating`'s lock and only where there is no store yet: a job stopped
meanwhile leaves no half-migrated database (which MLflow would refuse to open), and the
temporary file goes at exit. The database holds nothing of its own path, so it is the store
MLflow would have made in place. Other stores (a server, PostgreSQL) are not opened ahead:
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
    now; `wait()` before logging to it.

    For a caller that mostly waits meanwhile (a driver waiting on Ray). Not for one busy with
    Python of its own: `gridbt backtest` gained nothing from it, on a thread (they take turns
    for the GIL) or in a child process (which must import MLflow from scratch, longer than the
    backtest takes)."""

    def __init__(self, config: TrackingConfig, store_dir: Path, verbose: bool = False):
        from gridbt.tracking.mlflow_runs import job_tracking_uri  # light: no MLflow

        self.tracking_uri = job_tracking_uri(config.tracking_uri, store_dir)
        self.verbose = verbose
        self.created = False  # whether this made the store (known once waited for)
        self._temporary: list[Path] = []  # the store being made, until renamed into place
        self._thread = threading.Thread(target=self._run, name="gridbt-mlflow-store",
                                        daemon=True)
        atexit.register(_discard, self._temporary)
        self._thread.start()

    def wait(self) -> None:
        """Return once the store is ready (or its making failed: the logging says why)."""
        self._thread.join()

    def _run(self) -> None:
        with contextlib.suppress(Exception):
            import mlflow.tracking  # noqa: F401  (the import is half the point, a server's too)

            self.created = _make_store(self.tracking_uri, self.verbose, self._temporary)


def _make_store(tracking_uri: str, verbose: bool = False,
               temporary: list[Path] | None = None) -> bool:
    """Create the SQLite store of `tracking_uri` under a temporary name beside it and rename it
    into place, if it is a SQLite file not there yet; return whether this made it. The
    temporary path is in `temporary` while it is being made (for a discard at exit)."""
    path = sqlite_path(tracking_uri)
    if path is None or path.exists():
        return False
    from mlflow.tracking import MlflowClient

    with creating(tracking_uri):
        if path.exists():  # another job made it meanwhile
            return False
        made = path.with_name(f".{path.name}.creating-{os.getpid()}")
        if temporary is not None:
            temporary.append(made)
        made.unlink(missing_ok=True)
        logger = logging.getLogger("mlflow")
        level = logger.level
        if not verbose:  # "Creating initial MLflow database tables..."
            logger.setLevel(max(level, logging.WARNING))
        try:
            MlflowClient(f"sqlite:///{made.resolve().as_posix()}").search_experiments(
                max_results=1)
            os.rename(made, path)
        finally:
            logger.setLevel(level)
            if temporary is not None:
                temporary.remove(made)
            made.unlink(missing_ok=True)  # only left when the making failed
        return True


def _discard(temporary: list[Path]) -> None:
    """At exit: a store being made that the process did not wait for."""
    for made in temporary:
        made.unlink(missing_ok=True)
