"""MLflow tracking of sweeps and studies.

Public modules: `jobs` (the runs of a finished sweep or study, built from its result
directory), `mlflow_runs` (writing a parent run and its child runs, equity curves included),
`artifacts` (reading a SQLite store's run artifacts from disk, without a server), `newstore` (a
new SQLite store, made from a kept template) and `preload` (MLflow imported on a thread while a
sweep draws).
"""

__all__ = ["artifacts", "jobs", "mlflow_runs", "newstore", "preload"]
