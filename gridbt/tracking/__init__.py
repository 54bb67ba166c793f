"""MLflow tracking of sweeps and studies.

Public modules: `jobs` (the runs of a finished sweep or study, built from its result
directory) and `mlflow_runs` (writing a parent run and its child runs, equity curves included).
"""

__all__ = ["jobs", "mlflow_runs"]
