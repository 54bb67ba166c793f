"""The artifacts of runs in a SQLite MLflow store, read from disk as ``mlflow ui`` would serve
them, without starting a server: experiments gridbt creates in a SQLite store keep proxied
``mlflow-artifacts:`` locations, which MLflow's client resolves only through a server.
"""

from __future__ import annotations

from pathlib import Path

from gridbt.tracking.mlflow_runs import local_artifacts

__all__ = ["RunArtifacts"]


class RunArtifacts:
    """`list` and `path` of a run's artifacts, like `MlflowClient.list_artifacts` and
    `download_artifacts`, for a SQLite store (`tracking_uri`)."""

    def __init__(self, tracking_uri: str):
        from mlflow.tracking import MlflowClient

        self.tracking_uri = tracking_uri
        self.client = MlflowClient(tracking_uri)

    def root(self, run_id: str) -> Path:
        uri = self.client.get_run(run_id).info.artifact_uri
        local = local_artifacts(self.tracking_uri, uri)
        if local is None:
            raise ValueError(f"run {run_id}: artifacts at {uri} are not on this machine")
        return local

    def list(self, run_id: str, path: str = "") -> list[str]:
        """The entries of folder `path`, as paths from the run's artifact root, sorted."""
        root = self.root(run_id)
        folder = root / path
        if not folder.is_dir():
            return []
        return sorted((entry.relative_to(root)).as_posix() for entry in folder.iterdir())

    def path(self, run_id: str, path: str = "") -> Path:
        """The local file or folder of artifact `path` ("" = the whole run's)."""
        local = self.root(run_id) / path
        if not local.exists():
            raise FileNotFoundError(f"run {run_id}: no artifact {path!r}")
        return local
