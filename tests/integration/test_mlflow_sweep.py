"""Logging a sweep to a real MLflow SQLite store, read back through `MlflowClient`.

Every check runs on both write paths: the bulk SQL path (the default on SQL stores) and
MLflow's public per-run API; `test_bulk_and_public_paths_agree` compares them run by run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from gridbt.tracking.artifacts import RunArtifacts
from gridbt.tracking.mlflow_runs import (
    EQUITY_ARTIFACT,
    EQUITY_METRIC,
    NOTE_TAG,
    UNDEFINED_METRICS_TAG,
    ChildRun,
    ParentRun,
    default_tracking_uri,
    log_runs,
    runs_url,
)

pytestmark = pytest.mark.integration

PARENT_TAG = "mlflow.parentRunId"
MANY_PARAMS = 130  # above MLflow's 100 params per log_batch
LONG_CURVE = 1_250  # above MLflow's 1,000 metrics per log_batch
DESCRIPTION = "Short puts: which delta and exits hold up"


def trading_days(count: int) -> np.ndarray:
    return np.busday_offset(np.datetime64("2019-01-02"), np.arange(count), roll="forward")


def curve(count: int, seed: int) -> np.ndarray:
    steps = np.random.default_rng(seed).normal(2e-4, 1e-2, count)
    return 100_000.0 * np.cumprod(1.0 + steps)


def make_children() -> list[ChildRun]:
    gappy = curve(20, 1)
    gappy[5] = np.nan  # a day without a mark: kept in the artifact, left out of the history
    return [
        ChildRun(
            name="combo-0",
            params={
                "exit.profit_target": 0.5,
                "exit.stop_loss": None,
                "entry.weekday": "mon",
                "hedge.enabled": True,
                "structure.dte.target": 45,
                "structure.legs.0.select.target": np.float64(0.3),
                "exit.dte": np.int64(7),
                "sizing.risk_budget": 0.1 + 0.2,
                "structure.legs.1.select.target": 2.0,
                "entry.weekdays": [0, None],
            },
            metrics={"sharpe": 1.25, "max_drawdown": -0.18, "trade_count": 41.0},
            dates=trading_days(LONG_CURVE),
            equity=curve(LONG_CURVE, 0),
            tags={"gridbt.params_hash": "a1b2"},
        ),
        ChildRun(
            name="combo-1",
            params={"exit.profit_target": 0.75, "exit.stop_loss": 2.0},
            metrics={"sharpe": math.nan, "profit_factor": math.inf, "trade_count": 0.0},
            dates=trading_days(20),
            equity=gappy,
        ),
        ChildRun(
            name="combo-2",
            params={f"grid.p{i:03d}": i for i in range(MANY_PARAMS)},
            metrics={"sharpe": -0.4},
            dates=trading_days(30),
            equity=curve(30, 2),
        ),
    ]


@dataclass(frozen=True)
class Logged:
    client: MlflowClient
    uri: str
    root: Path
    parent_id: str
    children: dict[str, Run]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mlflow")


@pytest.fixture(scope="module")
def parent_files(store: Path) -> tuple[Path, Path]:
    summary = store / "inputs" / "summary.json"
    report = store / "inputs" / "report"
    report.mkdir(parents=True)
    summary.write_text('{"combinations": 3}')
    (report / "heatmap.png").write_bytes(b"\x89PNG fake")
    return summary, report


def log_example(store: Path, parent_files: tuple[Path, Path], bulk: bool) -> Logged:
    uri = default_tracking_uri(store)
    parent = ParentRun(
        name="sweep-short-put",
        params={"grid.size": 3, "engine": "numba", "data": None},
        metrics={"combinations": 3.0, "pbo": 0.21, "deflated_sharpe": math.nan},
        tags={"gridbt.version": "0.1.0", "gridbt.data_fingerprint": "f00d"},
        artifacts=list(parent_files),
        texts={"job.yaml": "name: short-put\n", "notes/readme.md": "# sweep\n"},
        description=DESCRIPTION,
    )
    experiment = "sweep-bulk" if bulk else "sweep-public"
    parent_id = log_runs(uri, experiment, parent, make_children(), bulk=bulk)
    client = MlflowClient(uri)
    parent_run = client.get_run(parent_id)
    found = client.search_runs(
        [parent_run.info.experiment_id], filter_string=f"tags.`{PARENT_TAG}` = '{parent_id}'"
    )
    return Logged(client, uri, store, parent_id, {run.info.run_name: run for run in found})


@pytest.fixture(scope="module")
def bulk_logged(store: Path, parent_files: tuple[Path, Path]) -> Logged:
    return log_example(store, parent_files, bulk=True)


@pytest.fixture(scope="module")
def public_logged(store: Path, parent_files: tuple[Path, Path]) -> Logged:
    return log_example(store, parent_files, bulk=False)


@pytest.fixture(params=["bulk_logged", "public_logged"], ids=["bulk", "public"])
def logged(request: pytest.FixtureRequest) -> Logged:
    result: Logged = request.getfixturevalue(request.param)
    return result


def test_parent_and_children_are_linked_and_finished(logged: Logged) -> None:
    parent = logged.client.get_run(logged.parent_id)
    assert parent.info.run_name == "sweep-short-put"
    assert parent.info.status == "FINISHED"
    assert PARENT_TAG not in parent.data.tags
    assert sorted(logged.children) == ["combo-0", "combo-1", "combo-2"]
    for run in logged.children.values():
        assert run.info.status == "FINISHED"
        assert run.info.experiment_id == parent.info.experiment_id
        assert run.data.tags[PARENT_TAG] == logged.parent_id
        assert run.info.end_time >= run.info.start_time


def test_parent_params_metrics_and_tags(logged: Logged) -> None:
    data = logged.client.get_run(logged.parent_id).data
    assert data.params == {"grid.size": "3", "engine": "numba", "data": "off"}
    assert data.metrics == {"combinations": 3.0, "pbo": 0.21}
    assert data.tags["gridbt.version"] == "0.1.0"
    assert data.tags["gridbt.data_fingerprint"] == "f00d"
    assert data.tags[UNDEFINED_METRICS_TAG] == "deflated_sharpe=nan"


def test_child_params_read_as_the_yaml_with_none_as_off(logged: Logged) -> None:
    assert logged.children["combo-0"].data.params == {
        "exit.profit_target": "0.5",
        "exit.stop_loss": "off",
        "entry.weekday": "mon",
        "hedge.enabled": "true",
        "structure.dte.target": "45",
        "structure.legs.0.select.target": "0.3",
        "exit.dte": "7",  # an int stays an int, numpy's too
        "sizing.risk_budget": "0.30000000000000004",  # shortest round-trip repr
        "structure.legs.1.select.target": "2.0",  # a float stays a float
        "entry.weekdays": "[0, null]",
    }
    assert logged.children["combo-0"].data.tags["gridbt.params_hash"] == "a1b2"


def test_params_are_searchable_as_written(logged: Logged) -> None:
    experiment = logged.client.get_run(logged.parent_id).info.experiment_id
    for query in ("params.`exit.dte` = '7'", "params.`exit.stop_loss` = 'off'"):
        found = logged.client.search_runs([experiment], filter_string=query)
        assert [r.info.run_id for r in found] == [logged.children["combo-0"].info.run_id]


def test_children_start_in_reverse_order_so_the_first_is_newest(logged: Logged) -> None:
    parent = logged.client.get_run(logged.parent_id)
    names = ["combo-0", "combo-1", "combo-2"]  # the order they were given in
    starts = [logged.children[n].info.start_time for n in names]
    assert starts == sorted(starts, reverse=True) and len(set(starts)) == 3
    assert min(starts) > parent.info.start_time
    for run in logged.children.values():
        assert run.info.end_time >= run.info.start_time
    # the UI's default sort: newest first
    listed = logged.client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.`{PARENT_TAG}` = '{logged.parent_id}'",
        order_by=["attributes.start_time DESC"],
    )
    assert [r.info.run_name for r in listed] == names


def test_description_on_the_parent_and_the_experiment(logged: Logged) -> None:
    parent = logged.client.get_run(logged.parent_id)
    assert parent.data.tags[NOTE_TAG] == DESCRIPTION
    experiment = logged.client.get_experiment(parent.info.experiment_id)
    assert experiment.tags[NOTE_TAG] == DESCRIPTION
    for run in logged.children.values():
        assert NOTE_TAG not in run.data.tags


def test_an_experiment_keeps_its_own_description(store: Path) -> None:
    uri = default_tracking_uri(store)
    client = MlflowClient(uri)
    experiment_id = client.create_experiment("described")
    client.set_experiment_tag(experiment_id, NOTE_TAG, "written in the UI")
    parent = ParentRun(name="p", params={}, metrics={}, tags={}, artifacts=[],
                       description="from the sweep file")
    run_id = log_runs(uri, "described", parent, [])
    assert client.get_experiment(experiment_id).tags[NOTE_TAG] == "written in the UI"
    assert client.get_run(run_id).data.tags[NOTE_TAG] == "from the sweep file"


def test_runs_url_opens_the_runs_table() -> None:
    local = runs_url("sqlite:////tmp/x/mlflow.db", "3")
    assert local == "http://127.0.0.1:5000/#/experiments/3/runs?workflowType=machine_learning"
    served = runs_url("http://tracking:5000/", "7")
    assert served == "http://tracking:5000/#/experiments/7/runs?workflowType=machine_learning"


def test_more_params_than_one_batch_holds_are_all_logged(logged: Logged) -> None:
    params = logged.children["combo-2"].data.params
    assert params == {f"grid.p{i:03d}": str(i) for i in range(MANY_PARAMS)}


def test_kpis_are_metrics_and_non_finite_ones_are_listed_in_a_tag(logged: Logged) -> None:
    first = logged.children["combo-0"].data
    assert {k: v for k, v in first.metrics.items() if k != EQUITY_METRIC} == {
        "sharpe": 1.25,
        "max_drawdown": -0.18,
        "trade_count": 41.0,
    }
    assert UNDEFINED_METRICS_TAG not in first.tags
    undefined = logged.children["combo-1"].data
    assert set(undefined.metrics) == {"trade_count", EQUITY_METRIC}
    assert undefined.tags[UNDEFINED_METRICS_TAG] == "sharpe=nan,profit_factor=inf"


@pytest.mark.parametrize("name", ["combo-0", "combo-1", "combo-2"])
def test_equity_history_has_every_finite_day(logged: Logged, name: str) -> None:
    child = next(c for c in make_children() if c.name == name)
    run = logged.children[name]
    history = sorted(
        logged.client.get_metric_history(run.info.run_id, EQUITY_METRIC), key=lambda m: m.step
    )
    kept = np.flatnonzero(np.isfinite(child.equity))
    assert len(history) == len(kept)
    assert [m.step for m in history] == kept.tolist()
    np.testing.assert_array_equal([m.value for m in history], child.equity[kept])
    expected_ms = child.dates[kept].astype("datetime64[ms]").astype(np.int64)
    assert [m.timestamp for m in history] == expected_ms.tolist()
    # The run's summary value is the last day's equity.
    assert run.data.metrics[EQUITY_METRIC] == child.equity[kept[-1]]


def test_long_curve_spans_several_batches(logged: Logged) -> None:
    history = logged.client.get_metric_history(
        logged.children["combo-0"].info.run_id, EQUITY_METRIC
    )
    assert len(history) == LONG_CURVE
    assert {m.step for m in history} == set(range(LONG_CURVE))


@pytest.mark.parametrize("name", ["combo-0", "combo-1"])
def test_equity_artifact_holds_the_whole_curve(logged: Logged, name: str, tmp_path: Path) -> None:
    child = next(c for c in make_children() if c.name == name)
    run_id = logged.children[name].info.run_id
    assert RunArtifacts(logged.client.tracking_uri).list(run_id) == [EQUITY_ARTIFACT]
    local = RunArtifacts(logged.client.tracking_uri).path(run_id, EQUITY_ARTIFACT)
    table = pq.read_table(local)
    assert table.column_names == ["date", "equity"]
    assert str(table.schema.field("date").type) == "date32[day]"
    np.testing.assert_array_equal(
        table.column("date").to_numpy().astype("datetime64[D]"), child.dates
    )
    np.testing.assert_array_equal(table.column("equity").to_numpy(), child.equity)  # NaN kept


def test_parent_artifacts_and_texts(logged: Logged, tmp_path: Path) -> None:
    client = logged.client
    top = RunArtifacts(client.tracking_uri).list(logged.parent_id)
    assert top == ["job.yaml", "notes", "report", "summary.json"]
    assert RunArtifacts(client.tracking_uri).list(logged.parent_id, "report") == [
        "report/heatmap.png"
    ]
    out = Path(RunArtifacts(client.tracking_uri).path(logged.parent_id, ""))
    assert (out / "summary.json").read_text() == '{"combinations": 3}'
    assert (out / "report" / "heatmap.png").read_bytes() == b"\x89PNG fake"
    assert (out / "job.yaml").read_text() == "name: short-put\n"
    assert (out / "notes" / "readme.md").read_text() == "# sweep\n"


def test_artifacts_live_beside_the_database(logged: Logged) -> None:
    experiment = logged.client.get_experiment(
        logged.client.get_run(logged.parent_id).info.experiment_id
    )
    # proxied, not an absolute path: the store and its artifacts move together
    assert experiment.artifact_location == f"mlflow-artifacts:/{experiment.name}"
    run_id = logged.children["combo-0"].info.run_id
    on_disk = logged.root / "mlartifacts" / experiment.name / run_id / "artifacts"
    assert (on_disk / EQUITY_ARTIFACT).is_file()


def _readback(client: MlflowClient, run: Run) -> dict[str, object]:
    history = client.get_metric_history(run.info.run_id, EQUITY_METRIC)
    tags = {k: v for k, v in run.data.tags.items() if k != PARENT_TAG}
    return {
        "status": run.info.status,
        "user": run.info.user_id,
        "lifecycle": run.info.lifecycle_stage,
        "params": run.data.params,
        "metrics": run.data.metrics,
        "tags": tags,
        "history": sorted((m.step, m.timestamp, m.value) for m in history),
        "artifacts": RunArtifacts(client.tracking_uri).list(run.info.run_id),
    }


def test_bulk_and_public_paths_agree(bulk_logged: Logged, public_logged: Logged) -> None:
    client = bulk_logged.client
    bulk = {name: _readback(client, run) for name, run in bulk_logged.children.items()}
    public = {name: _readback(client, run) for name, run in public_logged.children.items()}
    assert len(bulk) == 3
    assert bulk == public


def test_logging_twice_makes_two_parent_runs(store: Path) -> None:
    uri = default_tracking_uri(store)
    parent = ParentRun(name="again", params={}, metrics={}, tags={}, artifacts=[])
    child = make_children()[1]
    first = log_runs(uri, "repeat", parent, [child])
    second = log_runs(uri, "repeat", parent, [child])
    client = MlflowClient(uri)
    assert first != second
    experiments = {client.get_run(i).info.experiment_id for i in (first, second)}
    assert len(experiments) == 1
    runs = client.search_runs(list(experiments))
    parents = [r for r in runs if PARENT_TAG not in r.data.tags]
    assert sorted(r.info.run_id for r in parents) == sorted([first, second])
    assert sorted(r.data.tags[PARENT_TAG] for r in runs if PARENT_TAG in r.data.tags) == sorted(
        [first, second]
    )


def test_missing_parent_artifact_marks_the_parent_failed(store: Path, tmp_path: Path) -> None:
    uri = default_tracking_uri(store)
    parent = ParentRun(
        name="broken", params={}, metrics={}, tags={}, artifacts=[tmp_path / "missing.json"]
    )
    with pytest.raises(FileNotFoundError, match="missing.json"):
        log_runs(uri, "broken", parent, make_children()[1:2])
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("broken")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert [(r.info.run_name, r.info.status) for r in runs] == [("broken", "FAILED")]


def test_bad_curve_is_rejected_before_anything_is_logged(store: Path) -> None:
    uri = default_tracking_uri(store)
    bad = ChildRun("bad", {}, {}, trading_days(5), curve(4, 0))
    parent = ParentRun(name="p", params={}, metrics={}, tags={}, artifacts=[])
    with pytest.raises(ValueError, match="'bad'.*same length"):
        log_runs(uri, "rejected", parent, [bad])
    assert MlflowClient(uri).get_experiment_by_name("rejected") is None


def test_default_tracking_uri_is_an_absolute_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert default_tracking_uri(Path("work")) == f"sqlite:///{tmp_path.resolve()}/work/mlflow.db"


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "public"])
def test_child_files_are_uploaded_beside_the_equity(store: Path, tmp_path: Path,
                                                    bulk: bool) -> None:
    uri = default_tracking_uri(store)
    (tmp_path / "strategy.yaml").write_text("name: kept\n")
    (tmp_path / "tearsheet.png").write_bytes(b"\x89PNG fake")
    child = ChildRun("kept", {}, {}, trading_days(3), curve(3, 0),
                     files=[tmp_path / "strategy.yaml", tmp_path / "tearsheet.png"])
    parent = ParentRun(name="p", params={}, metrics={}, tags={}, artifacts=[])
    parent_id = log_runs(uri, f"files-{bulk}", parent, [child], bulk=bulk)
    client = MlflowClient(uri)
    [run] = client.search_runs([client.get_run(parent_id).info.experiment_id],
                               filter_string=f"tags.`{PARENT_TAG}` = '{parent_id}'")
    names = RunArtifacts(client.tracking_uri).list(run.info.run_id)
    assert names == [EQUITY_ARTIFACT, "strategy.yaml", "tearsheet.png"]
    local = RunArtifacts(client.tracking_uri).path(run.info.run_id, "strategy.yaml")
    assert Path(local).read_text() == "name: kept\n"


def test_a_child_file_named_like_the_equity_is_refused(store: Path, tmp_path: Path) -> None:
    (tmp_path / EQUITY_ARTIFACT).write_bytes(b"")
    child = ChildRun("clash", {}, {}, trading_days(3), curve(3, 0),
                     files=[tmp_path / EQUITY_ARTIFACT])
    parent = ParentRun(name="p", params={}, metrics={}, tags={}, artifacts=[])
    with pytest.raises(ValueError, match="reserved"):
        log_runs(default_tracking_uri(store), "clash", parent, [child])
    assert MlflowClient(default_tracking_uri(store)).get_experiment_by_name("clash") is None


@pytest.mark.parametrize("mismatch", ["version", "missing column", "required column"])
def test_bulk_path_falls_back_to_the_public_api(store: Path, monkeypatch: pytest.MonkeyPatch,
                                                mismatch: str) -> None:
    import mlflow

    from gridbt.tracking import _mlflow_sql, mlflow_runs

    uri = default_tracking_uri(store)
    log_runs(uri, "schema-probe", ParentRun("p", {}, {}, {}, []), [])  # the tables exist
    client = MlflowClient(uri)
    assert _mlflow_sql.sql_store(client) is not None  # the version and tables tested on
    if mismatch == "version":
        monkeypatch.setattr(mlflow, "__version__", "3.99.0")
    elif mismatch == "missing column":
        columns = {**_mlflow_sql.COLUMNS, "runs": _mlflow_sql.COLUMNS["runs"] | {"gone"}}
        monkeypatch.setattr(_mlflow_sql, "COLUMNS", columns)
    else:  # a required column of a newer schema that the insert would leave empty
        columns = {**_mlflow_sql.COLUMNS, "params": frozenset({"run_uuid", "key"})}
        monkeypatch.setattr(_mlflow_sql, "COLUMNS", columns)
    assert _mlflow_sql.sql_store(client) is None

    def no_bulk(*args: object) -> None:
        raise AssertionError("the bulk insert ran on a mismatch")

    monkeypatch.setattr(mlflow_runs, "insert_runs", no_bulk)
    parent = ParentRun(name="fallback", params={}, metrics={}, tags={}, artifacts=[])
    parent_id = log_runs(uri, f"fallback-{mismatch}", parent, make_children()[:2])
    found = client.search_runs([client.get_run(parent_id).info.experiment_id],
                               filter_string=f"tags.`{PARENT_TAG}` = '{parent_id}'")
    assert sorted(r.info.run_name for r in found) == ["combo-0", "combo-1"]
    assert all(r.info.status == "FINISHED" for r in found)


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "public"])
def test_a_sampled_history_keeps_the_ends_the_peak_and_the_trough(store: Path,
                                                                   bulk: bool) -> None:
    """What a tracking server gets by default (`REMOTE_HISTORY_POINTS`): spaced days, the
    first, the last, the lowest and the highest; the artifact keeps every day."""
    days = 1000
    equity = curve(days, 7)
    child = ChildRun("sampled", {}, {}, trading_days(days), equity)
    parent = ParentRun(name="p", params={}, metrics={}, tags={}, artifacts=[])
    uri = default_tracking_uri(store)
    parent_id = log_runs(uri, f"sampled-{bulk}", parent, [child], bulk=bulk, history_points=50)
    client = MlflowClient(uri)
    [run] = client.search_runs([client.get_run(parent_id).info.experiment_id],
                               filter_string=f"tags.`{PARENT_TAG}` = '{parent_id}'")
    history = client.get_metric_history(run.info.run_id, EQUITY_METRIC)
    steps = {m.step for m in history}
    assert 50 <= len(steps) <= 52
    assert {0, days - 1, int(np.argmin(equity)), int(np.argmax(equity))} <= steps
    assert all(m.value == equity[m.step] for m in history)
    assert run.data.metrics[EQUITY_METRIC] == equity[-1]
    table = pq.read_table(RunArtifacts(uri).path(run.info.run_id, EQUITY_ARTIFACT))
    assert table.num_rows == days
