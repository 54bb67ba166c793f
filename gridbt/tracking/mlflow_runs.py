"""Write runs to MLflow: one parent run and its child runs (a sweep's kept combinations, a
study's trials), each child with an equity curve.

Everything goes through `MlflowClient` with explicit run ids, never the global active run, so
the module is safe to call from library code. On a SQL store (the SQLite default included) the
child runs are written in bulk transactions by `gridbt.tracking._mlflow_sql`, over ten times
faster than the public per-run API, which remains the path for other stores.

Non-finite values: MLflow stores NaN but clamps +/-inf to +/-1.8e308, which then tops every
sort in the UI. A KPI that is NaN or infinite is therefore *not logged as a metric*; its name
and value are listed in the run tag ``gridbt.undefined_metrics`` (e.g. ``sharpe=nan``), so an
undefined KPI can be told apart from one that was never computed. Equity points that are not
finite are left out of the ``equity`` metric history but kept in ``equity.parquet``.

Children are given in rank order and get start times one millisecond apart, descending from
the first, so that the UI's default sort ("Created", newest first) lists them in that order.

Relocatable SQLite stores. An experiment gridbt creates in a SQLite store keeps its artifacts
in ``mlartifacts/`` beside the database under a proxied location (``mlflow-artifacts:/<name>``,
what ``mlflow server`` gives its own experiments), not an absolute path: the database and
``mlartifacts/`` move together, and ``mlflow ui --backend-store-uri sqlite:///<dir>/mlflow.db
--artifacts-destination <dir>/mlartifacts`` (`artifacts_destination`) serves them wherever
they are. gridbt writes such artifacts straight to that folder (`local_artifacts`).
"""

from __future__ import annotations

import json
import logging
import math
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlparse
from urllib.request import url2pathname

import numpy as np
import numpy.typing as npt

from gridbt._environ import environment
from gridbt._sqlite import creating, with_busy_timeout
from gridbt.tracking._mlflow_sql import RunRecord, insert_runs, sql_store
from gridbt.tracking.newstore import make_store

if TYPE_CHECKING:
    from mlflow.entities import Experiment, Metric
    from mlflow.tracking import MlflowClient

__all__ = [
    "EQUITY_ARTIFACT",
    "EQUITY_METRIC",
    "UNDEFINED_METRICS_TAG",
    "ChildRun",
    "ParentRun",
    "NOTE_TAG",
    "REMOTE_HISTORY_POINTS",
    "artifacts_destination",
    "default_tracking_uri",
    "local_artifacts",
    "log_runs",
    "param_value",
    "runs_url",
]

EQUITY_METRIC = "equity"
EQUITY_ARTIFACT = "equity.parquet"
UNDEFINED_METRICS_TAG = "gridbt.undefined_metrics"
_PARENT_TAG = "mlflow.parentRunId"
#: The description of an experiment or a run, as the MLflow UI shows and edits it.
NOTE_TAG = "mlflow.note.content"
#: Where `runs_url` points for a local store: `mlflow ui`'s default address.
_LOCAL_UI = "http://127.0.0.1:5000"
_SUPPRESS_URLS = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"
#: Proxied artifact locations, resolved by a tracking server against its artifacts destination.
_PROXIED = "mlflow-artifacts:"
_ARTIFACTS_DIR = "mlartifacts"
#: Children logged at once to a tracking server (benchmarks/mlflow_logging.py --http).
_HTTP_WORKERS = 8
#: Days of an ``equity`` history sent to a tracking server: the UI's line charts draw 320
#: sampled points of a curve (its ``get-history-bulk-interval`` calls ask for 320), so a chart
#: of the whole curve looks the same, at an eighth of 2,500 points' cost on the server.
REMOTE_HISTORY_POINTS = 320

_P = TypeVar("_P")
_M = TypeVar("_M")


@dataclass(frozen=True)
class ChildRun:
    """One child run: a kept parameter combination of a sweep, or a trial of a study.

    Parameters
    ----------
    name
        Run name shown in the MLflow UI.
    params
        Dotted parameter paths to values; None means the rule is switched off.
    metrics
        KPIs by name; NaN and infinite values are listed in a tag instead of logged.
    dates
        ``datetime64[D]`` trading days, one per equity point.
    equity
        ``float64`` daily equity, same length as `dates`.
    tags
        Extra run tags.
    files
        Files uploaded as the run's artifacts beside ``equity.parquet``, under their own names
        (a tear sheet, trades, the strategy that reproduces the run).
    """

    name: str
    params: Mapping[str, object]
    metrics: Mapping[str, float]
    dates: npt.NDArray[np.datetime64]
    equity: npt.NDArray[np.float64]
    tags: Mapping[str, str] = field(default_factory=dict)
    files: Sequence[Path] = ()


@dataclass(frozen=True)
class ParentRun:
    """The job as a whole: a sweep or a study.

    Parameters
    ----------
    name
        Run name shown in the MLflow UI.
    params
        Sweep-level parameters (grid definition, engine, data source).
    metrics
        Sweep-level metrics (combinations evaluated, deflated Sharpe, PBO, ...).
    tags
        Run tags, e.g. the gridbt version and the chain's fingerprint.
    artifacts
        Files or directories, uploaded under their own names.
    texts
        Artifact file name to text content (job file, summary JSON, ...).
    description
        The job file's description: the parent run's and, when it has none yet, the
        experiment's (the ``mlflow.note.content`` tag).
    """

    name: str
    params: Mapping[str, object]
    metrics: Mapping[str, float]
    tags: Mapping[str, str]
    artifacts: Sequence[Path]
    texts: Mapping[str, str] = field(default_factory=dict)
    description: str = ""


def default_tracking_uri(workdir: Path) -> str:
    """Return the embedded default store: ``sqlite:///<absolute workdir>/mlflow.db``."""
    return f"sqlite:///{(Path(workdir).resolve() / 'mlflow.db').as_posix()}"


def _sqlite_file(tracking_uri: str) -> Path | None:
    """The database file of a SQLite tracking URI (relative to the working directory when the
    URI is), or None for any other store."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    database = urlparse(tracking_uri).path[1:]
    return None if database in ("", ":memory:") else Path(database)


def local_artifacts(tracking_uri: str, artifact_uri: str) -> Path | None:
    """Where a run's (or an experiment's) artifacts are on this machine, for a SQLite store:
    a proxied ``mlflow-artifacts:/…`` location under ``mlartifacts/`` beside the database, a
    ``file:`` one as it says. None when the artifacts are remote (a tracking server's)."""
    database = _sqlite_file(tracking_uri)
    if artifact_uri.startswith(_PROXIED):
        if database is None:
            return None
        relative = urlparse(artifact_uri).path.lstrip("/")
        return database.parent / _ARTIFACTS_DIR / relative
    if artifact_uri.startswith("file:"):
        return Path(url2pathname(urlparse(artifact_uri).path))
    return None if "://" in artifact_uri or ":" in artifact_uri.split("/")[0] \
        else Path(artifact_uri)


def artifacts_destination(tracking_uri: str) -> Path | None:
    """For a SQLite store, the folder ``mlflow ui --artifacts-destination`` takes to serve the
    artifacts of the experiments gridbt created in it (``mlartifacts/`` beside the database);
    None for any other store."""
    database = _sqlite_file(tracking_uri)
    return None if database is None else database.parent / _ARTIFACTS_DIR


def param_value(value: object) -> str:
    """Render a parameter value as it is logged, as a job file writes it.

    None (a rule switched off) becomes ``"off"``, booleans ``"true"``/``"false"``; integers
    are written as integers (``7``) and floats by their shortest round-trip repr (``0.6``,
    ``2.0``); strings stay as they are and anything else is JSON-encoded (nulls in it as
    ``null``). The caller gives values their written type (`gridbt.tracking.jobs` does, from
    the grid or the search space): a 7 read back as the float 7.0 is logged ``7.0``.
    """
    if isinstance(value, np.generic):
        value = value.item()
    if value is None:
        return "off"
    if isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value, default=str, sort_keys=True)


def runs_url(tracking_uri: str, experiment_id: str) -> str:
    """The MLflow UI page listing an experiment's runs (the table, not the GenAI overview).

    A tracking server (``http(s)://``) serves its own UI; any other store is opened with
    ``mlflow ui``, at ``http://127.0.0.1:5000`` by default.
    """
    base = tracking_uri.rstrip("/") if tracking_uri.startswith(("http://", "https://")) \
        else _LOCAL_UI
    return f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"


def log_runs(
    tracking_uri: str,
    experiment: str,
    parent: ParentRun,
    children: Sequence[ChildRun],
    *,
    bulk: bool = True,
    history_points: int | None = None,
    on_child: Callable[[], None] | None = None,
    verbose: bool = False,
) -> str:
    """Log a parent run with one nested child run per entry of `children`.

    The experiment is created when missing; for a SQLite store its artifacts go to
    ``mlartifacts/`` beside the database file (an existing experiment keeps its location). A
    SQLite store is opened with a busy timeout (`gridbt._sqlite`), and created, when new,
    under a lock on its directory, so concurrent runs share it.
    Each child gets its parameters, KPIs, the equity curve as the metric history ``equity``
    (step = day index, timestamp = the trading day at 00:00 UTC) and as the artifact
    ``equity.parquet`` (columns date, equity). All runs end FINISHED; if logging fails, the
    parent (and a child being logged through the public API) is marked FAILED.

    Parameters
    ----------
    tracking_uri
        MLflow tracking URI, e.g. from `default_tracking_uri`.
    experiment
        Experiment name.
    parent
        The job-level run (a sweep or a study).
    children
        The kept combinations or trials, logged in order.
    bulk
        Write child runs straight into a SQL store in a few large transactions (the default);
        False forces MLflow's public per-run API, which other stores always use.
    history_points
        Days of each ``equity`` metric history: 0 = every day; None (the default) = every
        day on a local store, `REMOTE_HISTORY_POINTS` to a tracking server, whose SQL store
        takes about 0.1 ms a point (``equity.parquet`` always holds every day).
    on_child
        Called after each child run is staged (bulk) or logged (public API): progress.
    verbose
        Keep MLflow's INFO lines (e.g. creating or upgrading a new store's tables); by
        default only its warnings and errors show.

    Returns
    -------
    str
        The parent run id.
    """
    from mlflow.entities import RunStatus
    from mlflow.tracking import MlflowClient

    points = history_points if history_points is not None else (
        REMOTE_HISTORY_POINTS if _remote(tracking_uri) else 0)
    records = [_record(child, points) for child in children]
    with _mlflow_info(verbose), creating(tracking_uri):
        make_store(tracking_uri)  # a new SQLite store, from the kept template
        client = MlflowClient(with_busy_timeout(tracking_uri))
        found = _experiment(client, tracking_uri, experiment)
    with _no_run_urls(verbose):
        if parent.description and not found.tags.get(NOTE_TAG):
            client.set_experiment_tag(found.experiment_id, NOTE_TAG, parent.description)
        now = _now_ms()
        # Rank order as creation order, newest first: child i starts len - i ms after the parent.
        records = [
            replace(record, start_time=now + len(records) - i) for i, record in enumerate(records)
        ]
        note = {NOTE_TAG: parent.description} if parent.description else {}
        parent_run = client.create_run(
            found.experiment_id,
            start_time=now,
            tags={**parent.tags, **note, **_undefined_tag(parent.metrics)},
            run_name=parent.name,
        )
        parent_id: str = parent_run.info.run_id
        open_runs = [parent_id]
        try:
            parent_metrics = _finite_metrics(parent.metrics)
            _log_values(client, parent_id, _params(parent.params), parent_metrics, now)
            _log_parent_files(_repository(parent_run.info.artifact_uri, tracking_uri), parent)
            store = sql_store(client) if bulk else None
            with tempfile.TemporaryDirectory(prefix="gridbt-mlflow-") as staging:
                if store is not None:
                    runs = _bulk_runs(found, parent_id, children, records, Path(staging),
                                      tracking_uri, on_child)
                    insert_runs(store, found.experiment_id, parent_run.info.user_id, runs)
                else:
                    def log_one(i: int) -> None:
                        folder = Path(staging) / str(i)
                        folder.mkdir()
                        _log_child(client, found, parent_id, children[i], records[i], folder,
                                   open_runs)

                    _each(log_one, len(children), _workers(tracking_uri), on_child)
            client.set_terminated(parent_id, RunStatus.to_string(RunStatus.FINISHED))
        except BaseException:
            for run_id in open_runs:
                # Never let the clean-up hide the error that caused it.
                with suppress(Exception):
                    client.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))
            raise
    return parent_id


def _workers(tracking_uri: str) -> int:
    """Children logged at once: a tracking server answers requests in parallel and each child
    is a handful of round trips; a local store is written one child at a time."""
    return _HTTP_WORKERS if _remote(tracking_uri) else 1


def _remote(tracking_uri: str) -> bool:
    return tracking_uri.startswith(("http://", "https://"))


def _each(work: Callable[[int], None], count: int, workers: int,
          on_done: Callable[[], None] | None) -> None:
    """`work(i)` for i in range(count) on `workers` threads, `on_done()` after each; the first
    error (or Ctrl-C) cancels what has not started and is raised once the running ones end."""
    if workers <= 1 or count <= 1:
        for i in range(count):
            work(i)
            if on_done is not None:
                on_done()
        return
    with ThreadPoolExecutor(max_workers=min(workers, count),
                            thread_name_prefix="gridbt-mlflow") as pool:
        futures = [pool.submit(work, i) for i in range(count)]
        try:
            for future in as_completed(futures):
                future.result()
                if on_done is not None:
                    on_done()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


@contextmanager
def _mlflow_info(verbose: bool) -> Iterator[None]:
    """MLflow's INFO lines off (a new SQLite store announces creating and upgrading its
    tables), unless `verbose`; its warnings and errors still show."""
    logger = logging.getLogger("mlflow")
    level = logger.level
    if not verbose:
        logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


@contextmanager
def _no_run_urls(verbose: bool) -> Iterator[None]:
    """Unless `verbose`, no "View run ... at" lines on stdout, which a tracking server's
    client prints for each finished run after reading it back: a request per run saved."""
    with environment({} if verbose else {_SUPPRESS_URLS: "true"}):
        yield


def _record(child: ChildRun, points: int = 0) -> RunRecord:
    """Validate a child and render it to MLflow's value types (shared by both paths)."""
    if np.ndim(child.equity) != 1 or np.shape(child.dates) != np.shape(child.equity):
        raise ValueError(
            f"child run {child.name!r}: dates {np.shape(child.dates)} and equity "
            f"{np.shape(child.equity)} must be 1-D arrays of the same length"
        )
    if EQUITY_METRIC in child.metrics:
        raise ValueError(
            f"child run {child.name!r}: KPI name {EQUITY_METRIC!r} is reserved for the equity "
            "curve's metric history"
        )
    for path in map(Path, child.files):
        if path.name == EQUITY_ARTIFACT:
            raise ValueError(f"child run {child.name!r}: file name {EQUITY_ARTIFACT!r} is reserved")
        if not path.is_file():
            raise FileNotFoundError(f"child run {child.name!r}: artifact {path} does not exist")
    values = np.asarray(child.equity, dtype=np.float64)
    stamps = np.asarray(child.dates, dtype="datetime64[D]").astype("datetime64[ms]")
    steps = _sampled(values, points)
    return RunRecord(
        name=child.name,
        start_time=_now_ms(),
        tags={**child.tags, **_undefined_tag(child.metrics)},
        params=_params(child.params),
        metrics=_finite_metrics(child.metrics),
        history_key=EQUITY_METRIC,
        steps=steps,
        timestamps=stamps.astype(np.int64)[steps],
        values=values[steps],
    )


def _sampled(values: npt.NDArray[np.float64], points: int) -> npt.NDArray[np.int64]:
    """The days of the ``equity`` history: every finite one, or with `points` > 0 and more days
    than that, `points` evenly spaced ones plus the lowest and highest (first and last are
    among the spaced ones), so a chart keeps the curve's ends, peak and trough."""
    steps = np.flatnonzero(np.isfinite(values)).astype(np.int64)
    if points <= 0 or len(steps) <= points:
        return steps
    spaced = steps[np.linspace(0, len(steps) - 1, points).round().astype(np.int64)]
    extremes = steps[[int(np.argmin(values[steps])), int(np.argmax(values[steps]))]]
    return np.union1d(spaced, extremes)


def _bulk_runs(
    found: Experiment,
    parent_id: str,
    children: Sequence[ChildRun],
    records: Sequence[RunRecord],
    staging: Path,
    tracking_uri: str,
    on_child: Callable[[], None] | None,
) -> Iterator[tuple[str, str, RunRecord]]:
    """Yield (run id, artifact URI, record) for `insert_runs`, uploading each equity first."""
    from mlflow.utils.uri import append_to_uri_path

    for child, record in zip(children, records, strict=True):
        run_id = uuid.uuid4().hex
        artifact_uri: str = append_to_uri_path(  # type: ignore[no-untyped-call]
            found.artifact_location, run_id, "artifacts"
        )
        # Artifact first: a run that is visible in the store always has its curve.
        _upload_equity(artifact_uri, child, staging, tracking_uri)
        yield run_id, artifact_uri, replace(record, tags={**record.tags, _PARENT_TAG: parent_id})
        if on_child is not None:
            on_child()


def _log_child(
    client: MlflowClient,
    found: Experiment,
    parent_id: str,
    child: ChildRun,
    record: RunRecord,
    staging: Path,
    open_runs: list[str],
) -> None:
    """Log one child through the public API; it stays in `open_runs` until it is finished."""
    from mlflow.entities import Metric, RunStatus

    run = client.create_run(
        found.experiment_id,
        start_time=record.start_time,
        tags={**record.tags, _PARENT_TAG: parent_id},
        run_name=record.name,
    )
    open_runs.append(run.info.run_id)  # list.append and .remove are atomic: threads share it
    history = [
        Metric(record.history_key, value, stamp, step)
        for step, stamp, value in zip(
            record.steps.tolist(), record.timestamps.tolist(), record.values.tolist(), strict=True
        )
    ]
    _log_values(client, run.info.run_id, record.params, record.metrics, record.start_time, history)
    _upload_equity(run.info.artifact_uri, child, staging, client.tracking_uri)
    client.set_terminated(
        run.info.run_id,
        RunStatus.to_string(RunStatus.FINISHED),
        end_time=max(_now_ms(), record.start_time),
    )
    open_runs.remove(run.info.run_id)


def _log_values(
    client: MlflowClient,
    run_id: str,
    params: Mapping[str, str],
    metrics: Mapping[str, float],
    now: int,
    history: Sequence[Metric] = (),
) -> None:
    from mlflow.entities import Metric, Param

    param_list = [Param(key, value) for key, value in params.items()]
    metric_list = [Metric(key, value, now, 0) for key, value in metrics.items()]
    metric_list.extend(history)
    for param_batch, metric_batch in _batches(param_list, metric_list):
        client.log_batch(run_id, metrics=metric_batch, params=param_batch)


def _batches(params: list[_P], metrics: list[_M]) -> Iterator[tuple[list[_P], list[_M]]]:
    """Split into as few `log_batch` calls as MLflow's limits allow, params first."""
    from mlflow.utils.validation import (
        MAX_ENTITIES_PER_BATCH,
        MAX_METRICS_PER_BATCH,
        MAX_PARAMS_TAGS_PER_BATCH,
    )

    p = m = 0
    while p < len(params) or m < len(metrics):
        param_batch = params[p : p + MAX_PARAMS_TAGS_PER_BATCH]
        room = min(MAX_METRICS_PER_BATCH, MAX_ENTITIES_PER_BATCH - len(param_batch))
        metric_batch = metrics[m : m + room]
        p += len(param_batch)
        m += len(metric_batch)
        yield param_batch, metric_batch


def _upload_equity(artifact_uri: str, child: ChildRun, staging: Path, tracking_uri: str) -> None:
    """Upload the child's ``equity.parquet`` and its `files` (`_repository`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq


    table = pa.table(
        {
            "date": pa.array(np.asarray(child.dates, dtype="datetime64[D]"), type=pa.date32()),
            "equity": pa.array(np.asarray(child.equity, dtype=np.float64), type=pa.float64()),
        }
    )
    local = staging / EQUITY_ARTIFACT
    pq.write_table(table, local)
    # The run's artifact URI is known already; going through the client would cost a get_run.
    repository = _repository(artifact_uri, tracking_uri)
    repository.log_artifact(str(local))
    for path in child.files:
        repository.log_artifact(str(path))


def _log_parent_files(repository: Any, parent: ParentRun) -> None:
    for path in map(Path, parent.artifacts):
        if path.is_dir():
            repository.log_artifacts(str(path), artifact_path=path.name)
        elif path.is_file():
            repository.log_artifact(str(path))
        else:
            raise FileNotFoundError(f"parent run artifact {path} does not exist")
    with tempfile.TemporaryDirectory(prefix="gridbt-texts-") as staging:
        for name, text in parent.texts.items():
            local = Path(staging) / name  # a name may hold folders: notes/readme.md
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_text(text)
            folder = Path(name).parent.as_posix()
            repository.log_artifact(str(local), artifact_path=None if folder == "." else folder)


def _experiment(client: MlflowClient, tracking_uri: str, name: str) -> Experiment:
    from mlflow.entities import LifecycleStage
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode

    found = client.get_experiment_by_name(name)
    if found is None:
        try:
            client.create_experiment(name, _artifact_root(tracking_uri, name))
        except MlflowException as error:
            # Another process created it between our lookup and create: use theirs.
            if error.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
                raise
        found = client.get_experiment_by_name(name)
        assert found is not None
    if found.lifecycle_stage != LifecycleStage.ACTIVE:
        raise ValueError(
            f"MLflow experiment {name!r} is deleted; restore it (mlflow experiments restore) "
            "or choose another experiment name"
        )
    return found


def _artifact_root(tracking_uri: str, name: str) -> str | None:
    """For a SQLite store, ``mlflow-artifacts:/<name>`` (under ``mlartifacts/`` beside the
    database, wherever it moves); None (the server's or MLflow's default) otherwise. Two names
    that clean to the same folder are harmless: run ids are unique."""
    if _sqlite_file(tracking_uri) is None:
        return None
    folder = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "experiment"
    return f"{_PROXIED}/{folder}"


def _repository(artifact_uri: str, tracking_uri: str) -> Any:
    """The artifact repository a run's artifacts are written to: the local folder of a
    proxied location in a SQLite store, else MLflow's for the URI (a tracking server's
    ``mlflow-artifacts:`` resolved against `tracking_uri`, not the process's global one)."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    if artifact_uri.startswith(_PROXIED):
        local = local_artifacts(tracking_uri, artifact_uri)
        if local is not None:
            local.mkdir(parents=True, exist_ok=True)
            return get_artifact_repository(local.resolve().as_uri())
    return get_artifact_repository(artifact_uri, tracking_uri=tracking_uri)


def _params(params: Mapping[str, object]) -> dict[str, str]:
    return {key: param_value(value) for key, value in params.items()}


def _finite_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    return {key: float(value) for key, value in metrics.items() if math.isfinite(float(value))}


def _undefined_tag(metrics: Mapping[str, float]) -> dict[str, str]:
    undefined = [
        f"{key}={float(value)}" for key, value in metrics.items() if not math.isfinite(value)
    ]
    return {UNDEFINED_METRICS_TAG: ",".join(undefined)} if undefined else {}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
