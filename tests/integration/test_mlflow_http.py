"""Logging to a real MLflow tracking server over HTTP (the public API path), read back
through `MlflowClient` and the REST API."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from gridbt.testing.mlflow_server import mlflow_server
from gridbt.tracking.mlflow_runs import (
    EQUITY_ARTIFACT,
    EQUITY_METRIC,
    NOTE_TAG,
    ChildRun,
    ParentRun,
    log_runs,
    runs_url,
)

pytestmark = pytest.mark.integration
DAYS = 300


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with mlflow_server(tmp_path_factory.mktemp("server")) as url:
        yield url


def children(folder: Path) -> list[ChildRun]:
    dates = np.busday_offset(np.datetime64("2020-01-02"), np.arange(DAYS), roll="forward")
    rng = np.random.default_rng(0)
    (folder / "strategy.yaml").write_text("name: kept\n")
    return [
        ChildRun(name=f"#{rank} SL{rank}", params={"exit.stop_loss": float(rank),
                                                   "exit.dte": None if rank == 2 else 7},
                 metrics={"rank": float(rank), "sharpe": 1.0 / rank},
                 dates=dates, equity=100_000.0 * np.cumprod(1 + rng.normal(0, 0.01, DAYS)),
                 files=[folder / "strategy.yaml"] if rank == 1 else [])
        for rank in (1, 2, 3)
    ]


def test_a_sweep_logged_over_http_reads_back(server: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    parent = ParentRun(name="http_sweep", params={"grid.exit.dte": "off, 7"},
                       metrics={"combinations": 3.0}, tags={"gridbt.kind": "sweep"},
                       artifacts=[], texts={"sweep.yaml": "name: http_sweep\n"},
                       description="over HTTP")
    parent_id = log_runs(server, "http_sweep", parent, children(tmp_path))
    assert "View run" not in capsys.readouterr().out  # MLflow's per-run lines: one per child
    client = MlflowClient(server)
    run = client.get_run(parent_id)
    assert run.info.status == "FINISHED" and run.data.tags[NOTE_TAG] == "over HTTP"
    experiment_id = run.info.experiment_id
    assert client.get_experiment(experiment_id).tags[NOTE_TAG] == "over HTTP"
    listed = client.search_runs([experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'",
                                order_by=["attributes.start_time DESC"])
    assert [r.info.run_name for r in listed] == ["#1 SL1", "#2 SL2", "#3 SL3"]
    assert [r.data.params for r in listed] == [
        {"exit.stop_loss": "1.0", "exit.dte": "7"}, {"exit.stop_loss": "2.0", "exit.dte": "off"},
        {"exit.stop_loss": "3.0", "exit.dte": "7"}]
    first = listed[0].info.run_id
    assert len(client.get_metric_history(first, EQUITY_METRIC)) == DAYS
    assert sorted(a.path for a in client.list_artifacts(first)) == [EQUITY_ARTIFACT,
                                                                     "strategy.yaml"]
    local = client.download_artifacts(first, "strategy.yaml", str(tmp_path / "dl"))
    assert Path(local).read_text() == "name: kept\n"
    # the server keeps the artifacts under its own root, not where the client ran
    assert listed[0].info.artifact_uri.startswith("mlflow-artifacts:")
    # the REST API, as the UI reads it
    request = urllib.request.Request(
        f"{server}/api/2.0/mlflow/runs/search", method="POST",
        data=json.dumps({"experiment_ids": [experiment_id],
                         "filter": "params.`exit.dte` = 'off'"}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        body = json.loads(response.read())
    assert [r["info"]["run_name"] for r in body["runs"]] == ["#2 SL2"]
    assert runs_url(server, experiment_id) == (
        f"{server}/#/experiments/{experiment_id}/runs?workflowType=machine_learning")
