"""A shared tracking server: `mlflow server` with a PostgreSQL backend store and a local
artifact root (the stand-in for object storage) receives a real sweep and a real study through
the tracking URI only, read back through `MlflowClient`. The bulk SQL path
(`gridbt.tracking._mlflow_sql`) is not used over HTTP; on a `postgresql://` tracking URI it is,
and writes what the public API writes."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from gridbt.testing.mlflow_server import mlflow_server
from gridbt.testing.postgres import create_database
from gridbt.tracking._mlflow_sql import sql_store
from gridbt.workflows.study import study_job
from gridbt.workflows.sweep import sweep_job

pytest.importorskip("ray")
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("local_ray")]
REPO = Path(__file__).resolve().parents[2]
SHORT_PUT = REPO / "jobs/strategies/short_put_30d.yaml"
KEPT = 2


@pytest.fixture(scope="module")
def server(postgres: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("tracking")
    store = create_database(postgres, "mlflow_server")
    with mlflow_server(root, backend_store_uri=store) as url:
        yield url
    # the server kept the artifacts in its own root, not in the client's directories
    assert any((root / "mlartifacts").rglob("strategy.yaml"))


def sweep_file(tmp_path: Path, chain: Path, name: str, tracking_uri: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: {name}
        strategy: {SHORT_PUT}
        data: {chain}
        keep_equity: {KEPT}
        pbo_blocks: 6
        ray: {{batch_seconds: 0.05}}
        mlflow: {{tracking_uri: "{tracking_uri}"}}
        grid:
          structure.legs.0.select.target: {{range: [0.15, 0.35, 0.1]}}
          exit.profit_target: [0.5, null]
          exit.stop_loss: [2.0, null]
        """))
    return path


def children_of(client: MlflowClient, logged: dict[str, Any]) -> list[Any]:
    return client.search_runs(
        [logged["experiment_id"]], f"tags.mlflow.parentRunId = '{logged['run_id']}'",
        order_by=["attributes.start_time DESC"], max_results=1000)


def read_back(client: MlflowClient, logged: dict[str, Any], tmp_path: Path) -> list[Any]:
    """The sweep's parent and children as logged: parameters, metrics, an artifact."""
    parent = client.get_run(logged["run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.data.params["grid.exit.stop_loss"] == "2.0, off"
    assert parent.data.metrics["sweep/combinations"] == 12
    children = children_of(client, logged)
    assert [c.data.metrics["rank"] for c in children] == [float(r) for r in range(1, KEPT + 1)]
    for child in children:
        assert child.data.params["exit.stop_loss"] in {"2.0", "off"}
        assert "sharpe" in child.data.metrics
    first = children[0].info.run_id
    assert len(client.get_metric_history(first, "equity")) > 200
    local = Path(client.download_artifacts(first, "strategy.yaml", str(tmp_path / first)))
    assert local.read_text().startswith("name:")
    return children


def test_a_sweep_logs_to_the_tracking_server_with_a_postgresql_store(
        server: str, tmp_path: Path, chain: Path) -> None:
    path = sweep_file(tmp_path, chain, "pg_sweep", server)
    outcome = sweep_job(path, out=tmp_path / "out", progress=False, workdir=tmp_path)
    assert outcome.manifest is not None and outcome.manifest.mlflow
    logged = outcome.manifest.mlflow
    assert logged["tracking_uri"] == server
    client = MlflowClient(server)
    assert sql_store(client) is None  # over HTTP: MLflow's public API, never the bulk SQL path
    children = read_back(client, logged, tmp_path)
    assert children[0].info.artifact_uri.startswith("mlflow-artifacts:")
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()


def test_a_study_logs_to_the_tracking_server_given_by_the_environment(
        server: str, tmp_path: Path, chain: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    path = tmp_path / "study.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: pg_study
        strategy: {SHORT_PUT}
        data: {chain}
        pbo_blocks: 6
        trials: 12
        parallel: 6
        sampler: {{kind: random, seed: 3}}
        keep_equity: 2
        space:
          exit.profit_target: {{float: [0.2, 0.9], step: 0.1}}
          exit.stop_loss: {{categorical: [2.0, 3.5, null]}}
        """))
    outcome = study_job(path, out=tmp_path / "out", progress=False, workdir=tmp_path)
    logged = outcome.summary["mlflow"]
    assert logged["tracking_uri"] == server
    client = MlflowClient(server)
    parent = client.get_run(logged["run_id"])
    assert parent.info.status == "FINISHED"
    assert "study/best_sharpe" in parent.data.metrics
    names = {a.path for a in client.list_artifacts(logged["run_id"])}
    assert {"summary.json", "trials.parquet", "strategy.yaml"} <= names
    children = children_of(client, logged)
    assert children
    assert [c.data.metrics["rank"] for c in children] == [
        float(r) for r in range(1, len(children) + 1)]
    for child in children:
        assert child.data.params["exit.stop_loss"] in {"2.0", "3.5", "off"}
        assert "is_sharpe" in child.data.metrics
    assert not (tmp_path / "mlflow.db").exists()


def test_a_postgresql_tracking_uri_takes_the_bulk_path_and_reads_back_the_same(
        postgres: str, tmp_path: Path, chain: Path) -> None:
    store = create_database(postgres, "mlflow_direct")
    client = MlflowClient(store)
    client.search_experiments()  # creates MLflow's tables
    assert sql_store(client) is not None  # the bulk path is taken on PostgreSQL too
    path = sweep_file(tmp_path, chain, "pg_direct", store)
    outcome = sweep_job(path, out=tmp_path / "out", progress=False, workdir=tmp_path)
    assert outcome.manifest is not None and outcome.manifest.mlflow
    read_back(client, outcome.manifest.mlflow, tmp_path)
