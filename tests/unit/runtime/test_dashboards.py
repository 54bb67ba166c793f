"""The Grafana dashboards (dashboards/*.json), their provisioning and the Prometheus config are
valid: unique ids, defined variables, and every metric they read is gridbt's
(`gridbt.runtime.metrics.METRIC_NAMES`) or one Ray documents. Whether each query returns data
from a live Ray is tests/integration/test_metrics_prometheus.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from gridbt.runtime.metrics import METRIC_NAMES

REPO = Path(__file__).resolve().parents[3]
DASHBOARDS = sorted((REPO / "dashboards").glob("*.json"))
#: Ray's system metrics as documented (Prometheus names), from
#: https://docs.ray.io/en/latest/ray-observability/reference/system-metrics.html
#: (doc/source/ray-observability/reference/system-metrics.rst in ray-project/ray)
RAY_DOCUMENTED_METRICS = frozenset({
    "ray_tasks", "ray_actors", "ray_resources", "ray_object_store_memory",
    "ray_placement_groups", "ray_memory_manager_worker_eviction_total",
    "ray_node_cpu_utilization", "ray_node_cpu_count", "ray_node_gpus_utilization",
    "ray_node_disk_usage", "ray_node_disk_free", "ray_node_disk_write_iops",
    "ray_node_disk_io_write_speed", "ray_node_disk_read_iops", "ray_node_disk_io_read_speed",
    "ray_node_mem_available", "ray_node_mem_shared_bytes", "ray_node_mem_used",
    "ray_node_mem_total", "ray_component_uss_mb", "ray_component_cpu_percentage",
    "ray_node_gram_available", "ray_node_gram_used", "ray_node_network_received",
    "ray_node_network_sent", "ray_node_network_receive_speed", "ray_node_network_send_speed",
    "ray_cluster_active_nodes", "ray_cluster_failed_nodes", "ray_cluster_pending_nodes",
})
GRAFANA_BUILTINS = {"__rate_interval", "__interval", "__range", "__interval_ms"}
METRIC = re.compile(r"\b(ray_[a-z0-9_]+)\b")
VARIABLE = re.compile(r"\$\{?(\w+)")


def load(path: Path) -> dict[str, Any]:
    board: dict[str, Any] = json.loads(path.read_text())
    return board


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in board["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))  # a collapsed row holds its panels
    return found


def expressions(board: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in panels(board) for t in p.get("targets", [])]
    exprs += [v["query"]["query"] for v in board["templating"]["list"] if v["type"] == "query"]
    return exprs


def test_there_are_dashboards_for_jobs_and_the_cluster() -> None:
    assert [p.name for p in DASHBOARDS] == ["gridbt_cluster.json", "gridbt_jobs.json"]
    uids = [load(p)["uid"] for p in DASHBOARDS]
    assert len(set(uids)) == len(uids)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_panel_ids_are_unique_and_every_panel_has_a_place(path: Path) -> None:
    board = load(path)
    ids = [p["id"] for p in panels(board)]
    assert len(ids) == len(set(ids)), ids
    for panel in panels(board):
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"]), panel["title"]
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["targets"], panel["title"]
            assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_datasources_and_variables_are_defined(path: Path) -> None:
    board = load(path)
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in panels(board):
        sources = [panel.get("datasource")] + [t.get("datasource") for t in
                                                panel.get("targets", [])]
        for source in filter(None, sources):
            assert source == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"]["uid"] == "${datasource}"
    for expr in expressions(board):
        for name in VARIABLE.findall(expr):
            assert name in variables or name in GRAFANA_BUILTINS, (path.name, expr)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_metric_is_gridbts_or_documented_by_ray(path: Path) -> None:
    used = {m for expr in expressions(load(path)) for m in METRIC.findall(expr)}
    assert used
    unknown = used - set(METRIC_NAMES) - RAY_DOCUMENTED_METRICS
    assert not unknown, f"{path.name} reads metrics nobody defines: {sorted(unknown)}"


def test_the_jobs_dashboard_reads_every_gridbt_metric() -> None:
    used = {m for expr in expressions(load(REPO / "dashboards/gridbt_jobs.json"))
            for m in METRIC.findall(expr)}
    families = {name.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum")
                for name in METRIC_NAMES}
    read = {name.removesuffix("_bucket") for name in used}
    assert families <= read | {f.removesuffix("_total") for f in read}, families - read


def test_prometheus_scrapes_rays_service_discovery_file() -> None:
    config = yaml.safe_load((REPO / "dashboards/prometheus/prometheus.yml").read_text())
    (scrape,) = config["scrape_configs"]
    assert scrape["file_sd_configs"] == [
        {"files": ["/tmp/ray/prom_metrics_service_discovery.json"]}]


def test_grafana_provisioning_points_at_prometheus_and_the_dashboards() -> None:
    provisioning = REPO / "dashboards/grafana/provisioning"
    (source,) = yaml.safe_load((provisioning / "datasources/prometheus.yaml").read_text())[
        "datasources"]
    assert source["type"] == "prometheus" and source["url"].endswith(":9090")
    (provider,) = yaml.safe_load((provisioning / "dashboards/gridbt.yaml").read_text())[
        "providers"]
    assert provider["type"] == "file" and provider["options"]["path"]
