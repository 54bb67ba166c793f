"""The one Ray bootstrap of sweeps and studies, and what the cluster offers."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import Any

from gridbt._environ import environment
from gridbt._errors import EnvironmentFailure
from gridbt._stages import seconds_since, stage
from gridbt._supervise import note_ray_logs
from gridbt._versions import major_minor

__all__ = ["QUICK_CONNECT", "TESTED_RAY", "ClusterError", "cluster_cpus", "init_ray",
           "quick_connect"]

# Ray's notice that a new local Ray has token authentication on (its default since 2.5x):
# informational, printed as a WARNING on every start; the notice that it is *off* stays
_TOKEN_LOGGER = "ray._private.authentication.authentication_token_setup"
_TOKEN_NOTICE = "Token authentication is enabled for this Ray cluster"


#: Ray's retry of a socket that is not listening yet: `raylet_client_connect_timeout_milliseconds`
#: (1 s) between `raylet_client_num_connect_attempts` (10) tries. A new local Ray's raylet starts
#: its object store on a thread and connects to it at once; when it gets there first, it sleeps
#: the full second: Ray's start took 2.4-2.5 s, or in 11 of 32 starts on this machine 3.4-3.5 s.
#: Retried every 50 ms, 200 times (the same 10 s of patience), a start took 2.4-2.6 s in 24 of 24
#: (docs/sweeps.md).
#: Set through Ray's `RAY_<setting>` environment overrides for the processes a local start
#: spawns (its raylet, and the workers it starts), unless the user set them, on the Ray versions
#: this is measured on (`TESTED_RAY`); others start as Ray does by default.
QUICK_CONNECT = {"RAY_raylet_client_connect_timeout_milliseconds": "50",
                 "RAY_raylet_client_num_connect_attempts": "200"}
#: Ray versions (major.minor) whose start `QUICK_CONNECT` is measured and tested on
TESTED_RAY = ("2.60",)


class ClusterError(EnvironmentFailure):
    """The actors cannot run (none starts, or none can be had); the message says why. An
    environment failure (exit code 3)."""


class _DropTokenNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(_TOKEN_NOTICE)


def init_ray(address: str | None, *, dashboard: bool = False, verbose: bool = False) -> None:
    """Connect to the Ray at `address` (or `$RAY_ADDRESS`), or start a local one; a no-op when
    connected.

    A local Ray starts what a sweep needs and no more: no dashboard unless `dashboard` (its
    nine head processes cost ~0.5 s of start-up and ~0.6 CPU-s on 2 cores), workers' output
    kept in Ray's log files (`log_to_driver=False`) and the driver's Ray logger at WARNING,
    minus Ray's notice that token authentication is on. `verbose` shows all of it: workers'
    output, Ray's INFO lines and the notice. Its processes retry a socket not listening yet
    every 50 ms instead of every second (`QUICK_CONNECT`).
    """
    import ray

    if ray.is_initialized():
        return
    started = time.perf_counter()
    target = address or os.environ.get("RAY_ADDRESS") or None
    if not verbose:
        token_logger = logging.getLogger(_TOKEN_LOGGER)
        if not any(isinstance(f, _DropTokenNotice) for f in token_logger.filters):
            token_logger.addFilter(_DropTokenNotice())
    options: dict[str, Any] = {
        "log_to_driver": verbose,
        "logging_level": logging.INFO if verbose else logging.WARNING,
    }
    if target is None:
        stage("starting Ray (local%s)", ", with its dashboard" if dashboard else "")
        # "local": always a new Ray, never one that `ray start` left running on this machine
        with environment(quick_connect(ray.__version__, os.environ)):
            context = ray.init(address="local", include_dashboard=dashboard, **options)
        info: dict[str, Any] = getattr(context, "address_info", {})  # a RayContext's
        if session := info.get("session_dir"):
            note_ray_logs(os.path.join(session, "logs"))
    else:
        stage("connecting to Ray at %s", target)
        try:
            ray.init(address=target, **options)
        except ConnectionError as exc:
            raise ClusterError(f"cannot connect to Ray at {target}: {exc}; check the address "
                               "and that the cluster is up") from None
    stage("Ray ready in %.2f s: %d CPUs", seconds_since(started), cluster_cpus())


def quick_connect(ray_version: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The `QUICK_CONNECT` settings a local start of Ray `ray_version` gets in an environment
    `environ`: those the user has not set, on a tested version; none on another."""
    if major_minor(ray_version) not in TESTED_RAY:
        return {}
    return {name: value for name, value in QUICK_CONNECT.items() if name not in environ}


def cluster_cpus() -> int:
    """CPUs in the connected Ray cluster (at least 1)."""
    import ray

    resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
    return max(1, int(resources.get("CPU", 1)))
