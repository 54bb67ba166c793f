"""MLflow imported ahead, on a thread, while a sweep draws its heatmaps.

A sweep logs to MLflow last, after its heatmaps and its kept runs' tear sheets, and importing
MLflow (with its SQL tracking store) is most of that stage: ~1 s of one core, with the other
idle. Started on a thread with the heatmaps, the import overlaps the drawing: the heatmaps take
~0.6 s longer (the import takes CPU from the drawing workers' start, and the GIL from the
heatmaps' data) and the MLflow stage ~1 s less, 0.25-0.4 s off the command on 2 cores
(docs/sweeps.md). Not earlier: during Ray's start or the grid it would take its CPU from them.
Not with the tear sheets (the kept runs' backtests then wait for the GIL: 0.1 s gained), nor in
a study, whose drawing workers start with its tear sheets (0.1 s).
"""

from __future__ import annotations

import threading

__all__ = ["import_mlflow_ahead"]

#: What a store that is no SQL database (a tracking server, Databricks) does not need
_REMOTE = ("http://", "https://", "databricks")


def import_mlflow_ahead(tracking_uri: str) -> threading.Thread:
    """Start importing MLflow's client (and, unless `tracking_uri` is a server, its SQL store)
    on a thread, and return it. The logging's own imports then find the modules loaded, or wait
    for them (Python's per-module import locks). An import that fails here is left for the
    logging's own import to raise. Not a daemon: a run stopped meanwhile exits once the
    import is done, never in the middle of it."""

    def load() -> None:
        try:
            import mlflow.tracking  # noqa: F401

            if not tracking_uri.startswith(_REMOTE):
                import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
        except Exception:  # raised again where the logging imports it
            pass

    thread = threading.Thread(target=load, name="gridbt-mlflow-import")
    thread.start()
    return thread
