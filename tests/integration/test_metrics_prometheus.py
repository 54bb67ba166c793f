"""gridbt's metrics on Ray's Prometheus endpoint, scraped by a real Prometheus with the shipped
configuration (dashboards/prometheus/prometheus.yml, its service-discovery file pointed at this
Ray): a short sweep and a short study on a live local Ray; then every query of every panel of
dashboards/*.json returns a series, and gridbt's counters equal the jobs' own counts."""

from __future__ import annotations

import json
import re
import socket
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from gridbt.optimize.study import StudyOutcome, run_study
from gridbt.sweep.driver import SweepOutcome, run_sweep
from gridbt.testing.prometheus import (
    PrometheusUnavailable,
    prometheus_binary,
    prometheus_server,
    query,
    query_range,
)

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
SHORT_PUT = REPO / "jobs/strategies/short_put_30d.yaml"
DASHBOARDS = sorted((REPO / "dashboards").glob("*.json"))
SWEEP, STUDY = "prom_sweep", "prom_study"
# what Grafana puts in place of the dashboards' variables (every job; the scrape interval is
# 1 s here, and Grafana's $__rate_interval is at least four of them)
VARIABLES = {"$__rate_interval": "4s", "$__interval": "1s", "$job": ".+"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Scraped:
    url: str
    started: float
    sweep: SweepOutcome
    sweep_json: dict[str, int]
    study: StudyOutcome


def value(url: str, expr: str) -> float:
    """The value of `expr` (one series) now."""
    (series,) = query(url, expr)
    return float(series["value"][1])


def wait_for(url: str, expr: str, wanted: float, seconds: float = 90) -> float:
    """Poll `expr` (one series) until it equals `wanted`; its last value."""
    deadline = time.monotonic() + seconds
    value = float("nan")
    while time.monotonic() < deadline:
        result = query(url, expr)
        if result:
            value = float(result[0]["value"][1])
            if value == wanted:
                return value
        time.sleep(0.5)
    return value


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory, chain: Path) -> Iterator[Scraped]:
    try:
        prometheus_binary()
    except PrometheusUnavailable as exc:
        pytest.skip(str(exc))
    tmp = tmp_path_factory.mktemp("prometheus")
    if ray.is_initialized():
        ray.shutdown()
    port = _free_port()
    # the file Ray's head keeps at /tmp/ray/prom_metrics_service_discovery.json, for this Ray
    discovery = tmp / "prom_metrics_service_discovery.json"
    discovery.write_text(json.dumps([{"labels": {"job": "ray"},
                                      "targets": [f"127.0.0.1:{port}"]}]))
    config = yaml.safe_load((REPO / "dashboards/prometheus/prometheus.yml").read_text())
    config["global"]["scrape_interval"] = config["global"]["evaluation_interval"] = "1s"
    (scrape,) = config["scrape_configs"]
    assert scrape["file_sd_configs"][0]["files"] == [
        "/tmp/ray/prom_metrics_service_discovery.json"]
    scrape["file_sd_configs"][0]["files"] = [str(discovery)]
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    # Ray reports its metrics every 10 s and its per-process CPU and memory every 5 s. Here
    # both are faster, so that the actors of these jobs (a second or two each) are sampled while
    # they live: the metrics once a second, the processes four times a second
    patch = pytest.MonkeyPatch()
    patch.setenv("REPORTER_UPDATE_INTERVAL_MS", "250")
    try:
        # Prometheus first: it scrapes a new target only on its next discovery round (every
        # 5 s), which Ray's start overlaps
        with prometheus_server(tmp / "prometheus.yml", tmp / "server") as url:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                     _metrics_export_port=port,
                     _system_config={"metrics_report_interval_ms": 1000})
            # the jobs start once Ray is scraped, as under a Prometheus that runs all along
            assert wait_for(url, "up", 1) == 1, "Prometheus never scraped Ray"
            started = time.time()
            sweep_path = tmp / "sweep.yaml"
            sweep_path.write_text(textwrap.dedent(f"""\
                name: {SWEEP}
                strategy: {SHORT_PUT}
                data: {chain}
                keep_equity: 2
                pbo_blocks: 6
                mlflow: {{enabled: false}}
                ray: {{batch_seconds: 0.1}}
                engine: day  # a grid of ~2 s, not ~0.5 s: its actors are sampled many times
                grid:
                  structure.legs.0.select.target: {{range: [0.05, 0.50, 0.005]}}
                  exit.profit_target: [0.3, 0.5, 0.7, null]
                  exit.stop_loss: [1.5, 2.0, 3.0, null]
                  exit.dte: [null, 7, 14]
                """))
            sweep = run_sweep(sweep_path, out=tmp / "sweep", progress=False, actors=2)
            study_path = tmp / "study.yaml"
            study_path.write_text(textwrap.dedent(f"""\
                name: {STUDY}
                strategy: {SHORT_PUT}
                data: {chain}
                pbo_blocks: 6
                mlflow: {{enabled: false}}
                sampler: {{kind: random, seed: 2}}
                trials: 48
                parallel: 8
                space:
                  structure.legs.0.select.target: {{float: [0.05, 0.50], step: 0.01}}
                  exit.stop_loss: {{categorical: [1.5, 2.0, 3.0, null]}}
                """))
            study = run_study(study_path, out=tmp / "study", progress=False, actors=2,
                              finish=False)
            sweep_json = json.loads((tmp / "sweep/sweep.json").read_text())
            yield Scraped(url, started, sweep, sweep_json, study)
    finally:
        ray.shutdown()
        patch.undo()


def test_gridbt_counters_equal_the_jobs_own_counts(scraped: Scraped) -> None:
    url, computed = scraped.url, scraped.sweep_json["computed"]
    assert computed == scraped.sweep.computed > 1000
    done = f'sum(ray_gridbt_combinations_done_total{{gridbt_job="{SWEEP}"}})'
    assert wait_for(url, done, computed) == computed
    failed = f'sum(ray_gridbt_combinations_failed_total{{gridbt_job="{SWEEP}"}}) or vector(0)'
    assert wait_for(url, failed, scraped.sweep_json["failed"]) == scraped.sweep_json["failed"]
    planned = f'ray_gridbt_combinations_planned{{gridbt_job="{SWEEP}"}}'
    assert wait_for(url, planned, computed) == computed
    batches = f'sum(ray_gridbt_batch_seconds_count{{gridbt_job="{SWEEP}"}})'
    assert value(url, batches) > 1  # one observation per batch
    chain_bytes = f'ray_gridbt_chain_bytes{{gridbt_job="{SWEEP}"}}'
    assert value(url, chain_bytes) > 1e5
    warmups = query(url, f'ray_gridbt_actor_warmup_seconds{{gridbt_job="{SWEEP}"}}')
    assert sorted(s["metric"]["actor"] for s in warmups) == ["0", "1"]

    study = scraped.study
    trials = f'sum(ray_gridbt_study_trials{{gridbt_job="{STUDY}"}})'
    assert wait_for(url, trials, study.finished) == study.finished == 48
    rows = f'sum(ray_gridbt_combinations_done_total{{gridbt_job="{STUDY}"}})'
    assert wait_for(url, rows, study.backtests) == study.backtests
    planned_trials = f'ray_gridbt_study_trials_planned{{gridbt_job="{STUDY}"}}'
    assert wait_for(url, planned_trials, 48) == 48
    best = query(url, f'ray_gridbt_study_best_value{{gridbt_job="{STUDY}"}}')
    assert len(best) == 1
    in_flight = f'sum(ray_gridbt_batches_in_flight{{gridbt_job=~"{SWEEP}|{STUDY}"}})'
    assert wait_for(url, in_flight, 0) == 0  # both ended: nothing left in flight
    jobs = json.loads(_get_text(f"{url}/api/v1/label/gridbt_job/values"))["data"]
    assert {SWEEP, STUDY} <= set(jobs)


def _get_text(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, expression) of every panel target."""
    found = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                found.append((path.name, panel["title"], target["expr"]))
    return found


def substituted(expr: str) -> str:
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    assert "$" not in expr, f"a variable the test does not know: {expr}"
    return expr


def test_every_panel_query_returns_a_series(scraped: Scraped) -> None:
    # the counters are final once the last export is scraped; the panels ask over the jobs'
    # span, as Grafana asks over its time range
    wait_for(scraped.url, f'sum(ray_gridbt_study_trials{{gridbt_job="{STUDY}"}})', 48)
    time.sleep(2)  # a few more scrapes: rates need two samples
    queries = panel_queries()
    assert len(queries) > 20
    empty = [(name, title, expr) for name, title, expr in queries
             if not query_range(scraped.url, substituted(expr), scraped.started, time.time())]
    assert not empty, "panels whose query returns no series:\n" + "\n".join(
        f"{e} (now: {query(scraped.url, substituted(e[2]))})" for e in empty)


def test_every_template_variable_query_returns_values(scraped: Scraped) -> None:
    for path in DASHBOARDS:
        for variable in json.loads(path.read_text())["templating"]["list"]:
            if variable["type"] != "query":
                continue
            match = re.fullmatch(r"label_values\((\w+), (\w+)\)", variable["query"]["query"])
            assert match, variable
            metric, label = match.groups()
            values = json.loads(_get_text(
                f"{scraped.url}/api/v1/label/{label}/values?match[]={metric}"))["data"]
            assert values, (path.name, variable["name"])
