"""A real Prometheus server for tests: Debian's `prometheus` binary with a given configuration,
its database in a temporary directory, on a free port of 127.0.0.1; and its HTTP query API."""

from __future__ import annotations

import json
import os
import shutil
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gridbt.testing.process import free_port, serving

__all__ = ["PrometheusUnavailable", "prometheus_binary", "prometheus_server", "query",
           "query_range"]


class PrometheusUnavailable(RuntimeError):
    """The Prometheus server binary is not installed here."""


def prometheus_binary() -> str:
    """The `prometheus` on PATH (or `$PROMETHEUS`)."""
    found = os.environ.get("PROMETHEUS") or shutil.which("prometheus")
    if not found:
        raise PrometheusUnavailable("prometheus is not installed (Debian: apt-get install "
                                    "prometheus; `make test` installs it)")
    return found



@contextmanager
def prometheus_server(config: Path, root: Path, *, timeout: float = 60.0) -> Iterator[str]:
    """Run Prometheus with `config`, its database in `root/tsdb`, and yield its URL once it is
    ready; stop it on exit. Its output goes to ``root/prometheus.log``."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [prometheus_binary(), f"--config.file={config}",
               f"--storage.tsdb.path={root / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}",
               "--storage.tsdb.retention.time=1d", "--log.level=warn"]
    with serving("prometheus", command, f"{url}/-/ready", root / "prometheus.log",
                 timeout=timeout):
        yield url


def _get(url: str, path: str, params: dict[str, str]) -> Any:
    full = f"{url}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(full, timeout=30) as response:
        body = json.loads(response.read())
    if body.get("status") != "success":
        raise RuntimeError(f"{full}: {body}")
    return body["data"]


def query(url: str, expr: str) -> list[dict[str, Any]]:
    """The instant vector of `expr` now: its series (`metric` labels, `value`)."""
    result: list[dict[str, Any]] = _get(url, "/api/v1/query", {"query": expr})["result"]
    return result


def query_range(url: str, expr: str, start: float, end: float,
                step: float = 1.0) -> list[dict[str, Any]]:
    """`expr` over [start, end] (Unix seconds), as a Grafana panel asks: its series."""
    result: list[dict[str, Any]] = _get(url, "/api/v1/query_range", {
        "query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"})[
        "result"]
    return result
