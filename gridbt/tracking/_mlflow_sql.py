"""Bulk insert of finished runs into MLflow's SQL tracking store (SQLite, PostgreSQL, MySQL).

MLflow's public API spends at least six transactions on a run (create, params, metrics, tags,
terminate) and builds an ORM object per metric row, about 0.1 ms each on SQLite: 0.5 s per
child with a 2,500-day equity curve, some nine minutes for 1,000 children. This module
streams runs into a few large transactions with executemany inserts into MLflow's own table
models, producing the rows `create_run` + `log_batch` + `set_terminated` would produce.

It relies on MLflow internals (the store's `engine`, `mlflow.store.tracking.dbmodels.models`,
the validation helpers), so it runs only on the MLflow versions it is tested on
(`TESTED_MLFLOW`) and only when the database's tables have the columns it writes, and every
required column is one it writes; `sql_store` returns None otherwise (or when the internals are
missing) and the caller falls back to the public API. tests/integration/test_mlflow_sweep.py
reads both paths back through `MlflowClient` and requires them to agree.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gridbt._typing import FloatArray, IntArray
from gridbt._versions import major_minor

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

__all__ = ["TESTED_MLFLOW", "RunRecord", "insert_runs", "sql_store", "tested_mlflow"]

#: MLflow versions (major.minor) whose tables the bulk insert is tested against
#: (tests/integration/test_mlflow_sweep.py); any other version uses the public API.
TESTED_MLFLOW = ("3.17",)
RUN_NAME_TAG = "mlflow.runName"
_RUN_COLUMNS = frozenset({
    "run_uuid", "name", "source_type", "source_name", "entry_point_name", "user_id", "status",
    "start_time", "end_time", "deleted_time", "source_version", "lifecycle_stage",
    "artifact_uri", "experiment_id",
})
_METRIC_COLUMNS = frozenset({"run_uuid", "key", "value", "timestamp", "step", "is_nan"})
#: The columns written, by table.
COLUMNS: dict[str, frozenset[str]] = {
    "runs": _RUN_COLUMNS,
    "tags": frozenset({"run_uuid", "key", "value"}),
    "params": frozenset({"run_uuid", "key", "value"}),
    "metrics": _METRIC_COLUMNS,
    "latest_metrics": _METRIC_COLUMNS,
}
# Rows held in memory per executemany (tens of MB of row dicts) and rows per transaction.
# Metric rows land all over the (key, timestamp, ...) primary-key index, so each transaction
# rewrites much of it: fewer, larger transactions and a 256 MiB page cache (connection-local)
# cut the system time of 1,000 children from 17 s to 4 s (benchmarks/mlflow_logging.py).
_EXECUTE_ROWS = 50_000
_COMMIT_ROWS = 500_000
_SQLITE_CACHE_KIB = 256 * 1024


@dataclass(frozen=True)
class RunRecord:
    """Everything logged for one run, already rendered to MLflow's value types.

    `metrics` are logged once at `start_time`, step 0; `history_key` holds the points
    (`steps`, `timestamps` in ms since the epoch, `values`), all finite, steps increasing.
    """

    name: str
    start_time: int
    tags: Mapping[str, str]
    params: Mapping[str, str]
    metrics: Mapping[str, float]
    history_key: str
    steps: IntArray
    timestamps: IntArray
    values: FloatArray


def tested_mlflow() -> bool:
    """Whether the installed MLflow is one of `TESTED_MLFLOW` (its major.minor)."""
    import mlflow

    return major_minor(mlflow.__version__) in TESTED_MLFLOW


def sql_store(client: MlflowClient) -> Any | None:
    """Return the client's SQLAlchemy tracking store, or None if it is another kind of store,
    an MLflow version outside `TESTED_MLFLOW`, or tables that do not match `COLUMNS`."""
    if not tested_mlflow():
        return None
    try:
        from mlflow.store.tracking.dbmodels import models  # noqa: F401
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        store = client._tracking_client.store
    except (ImportError, AttributeError):
        return None
    if not (isinstance(store, SqlAlchemyStore) and hasattr(store, "engine")):
        return None
    return store if _schema_matches(store.engine) else None


def _schema_matches(engine: Any) -> bool:
    """Every column written exists, and every column that needs a value is written."""
    import sqlalchemy

    inspector = sqlalchemy.inspect(engine)
    for table, written in COLUMNS.items():
        try:
            columns = inspector.get_columns(table)
        except sqlalchemy.exc.NoSuchTableError:
            return False
        names = {c["name"] for c in columns}
        required = {c["name"] for c in columns if not c.get("nullable", True)
                    and c.get("default") is None and c.get("autoincrement") is not True}
        if not written <= names or not required <= written:
            return False
    return True


def insert_runs(
    store: Any, experiment_id: str, user_id: str, runs: Iterable[tuple[str, str, RunRecord]]
) -> None:
    """Insert FINISHED runs, given as (run id, artifact URI, record), consuming `runs` lazily.

    Runs are committed whole, a few hundred thousand rows per transaction; if an error
    interrupts, the runs of earlier transactions stay and the current transaction is rolled
    back. Parameters, tags and KPIs go through MLflow's own validation first, so a bad key
    fails here as it would through `MlflowClient.log_batch`.
    """
    with store.engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # As MLflow's own sessions do: wait for a concurrent writer (e.g. the UI) to finish.
            connection.exec_driver_sql("PRAGMA busy_timeout = 20000")
            cache = connection.exec_driver_sql("PRAGMA cache_size").scalar()
            connection.exec_driver_sql(f"PRAGMA cache_size = -{_SQLITE_CACHE_KIB}")
        try:
            rows = _Rows(experiment_id, user_id)
            pending = 0
            for run_id, artifact_uri, record in runs:
                rows.add(run_id, artifact_uri, record)
                if rows.count >= _EXECUTE_ROWS:
                    pending += rows.execute(connection)
                if pending >= _COMMIT_ROWS:
                    connection.commit()
                    pending = 0
            rows.execute(connection)
            connection.commit()
        finally:
            if sqlite:
                # The connection goes back to MLflow's pool: leave it as it was.
                connection.rollback()
                connection.exec_driver_sql(f"PRAGMA cache_size = {int(cache)}")


@dataclass
class _Rows:
    """Rows of the runs, tags, params, metrics and latest_metrics tables, pending insert."""

    experiment_id: str
    user_id: str
    tables: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    count: int = 0

    def add(self, run_id: str, artifact_uri: str, record: RunRecord) -> None:
        from mlflow.entities import LifecycleStage, Metric, Param, RunStatus, RunTag, SourceType
        from mlflow.utils.validation import _validate_batch_log_data

        tags = {**record.tags, RUN_NAME_TAG: record.name}
        kpis = [Metric(k, v, record.start_time, 0) for k, v in record.metrics.items()]
        _, params, run_tags = _validate_batch_log_data(  # type: ignore[no-untyped-call]
            kpis,
            [Param(k, v) for k, v in record.params.items()],
            [RunTag(k, v) for k, v in tags.items()],
        )
        run = {
            "run_uuid": run_id,
            "name": record.name,
            "source_type": SourceType.to_string(SourceType.UNKNOWN),
            "source_name": "",
            "entry_point_name": "",
            "user_id": self.user_id,
            "status": RunStatus.to_string(RunStatus.FINISHED),
            "start_time": record.start_time,
            "end_time": max(time.time_ns() // 1_000_000, record.start_time),
            "deleted_time": None,
            "source_version": "",
            "lifecycle_stage": LifecycleStage.ACTIVE,
            "artifact_uri": artifact_uri,
            "experiment_id": int(self.experiment_id),
        }
        kpi_rows = [_metric_row(run_id, m.key, m.value, m.timestamp, m.step) for m in kpis]
        history = [
            _metric_row(run_id, record.history_key, value, stamp, step)
            for step, stamp, value in zip(
                record.steps.tolist(),
                record.timestamps.tolist(),
                record.values.tolist(),
                strict=True,
            )
        ]
        # MLflow's latest value is the one with the largest (step, timestamp, value): the last.
        latest = kpi_rows + history[-1:]
        for table, rows in (
            ("runs", [run]),
            ("tags", [{"run_uuid": run_id, "key": t.key, "value": t.value} for t in run_tags]),
            ("params", [{"run_uuid": run_id, "key": p.key, "value": p.value} for p in params]),
            ("metrics", kpi_rows + history),
            ("latest_metrics", latest),
        ):
            self.tables.setdefault(table, []).extend(rows)
            self.count += len(rows)

    def execute(self, connection: Any) -> int:
        """Insert the pending rows (parents first, for foreign keys); return how many."""
        import sqlalchemy
        from mlflow.store.tracking.dbmodels.models import (
            SqlLatestMetric,
            SqlMetric,
            SqlParam,
            SqlRun,
            SqlTag,
        )

        for model in (SqlRun, SqlTag, SqlParam, SqlMetric, SqlLatestMetric):
            if rows := self.tables.get(model.__tablename__):
                connection.execute(sqlalchemy.insert(model.__table__), rows)
        count, self.count = self.count, 0
        self.tables.clear()
        return count


def _metric_row(run_id: str, key: str, value: float, stamp: int, step: int) -> dict[str, object]:
    return {
        "run_uuid": run_id,
        "key": key,
        "value": value,
        "timestamp": stamp,
        "step": step,
        "is_nan": False,
    }
