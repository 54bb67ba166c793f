"""A local Ray started by gridbt (`runtime.cluster.init_ray`): its processes retry a socket that
is not listening yet every 50 ms, not every second (`QUICK_CONNECT`), unless the user says
otherwise, and the driver's own environment is left as it was."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from gridbt._versions import major_minor
from gridbt.runtime.cluster import QUICK_CONNECT, TESTED_RAY, quick_connect

pytestmark = pytest.mark.integration

_SCRIPT = textwrap.dedent("""\
    import json, os
    import psutil
    import ray
    from gridbt.runtime.cluster import init_ray
    init_ray(None)
    raylet = next(p for p in psutil.Process().children(recursive=True) if p.name() == "raylet")
    seen = {k: v for k, v in raylet.environ().items() if k.startswith("RAY_raylet_client")}
    print(json.dumps({"raylet": seen, "driver": {k: v for k, v in os.environ.items()
                                                 if k.startswith("RAY_raylet_client")},
                      "version": ray.__version__}))
    ray.shutdown()
    """)


def _start(**env: str) -> dict[str, object]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RAY_raylet_client")}
    r = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True,
                       timeout=300, env=environ | env)
    assert r.returncode == 0, r.stderr[-3000:]
    found: dict[str, object] = json.loads(r.stdout.splitlines()[-1])
    return found


def test_a_local_rays_processes_retry_every_50_ms_and_the_drivers_environment_is_kept() -> None:
    found = _start()
    assert major_minor(str(found["version"])) in TESTED_RAY  # else: measure again
    assert found["raylet"] == QUICK_CONNECT
    assert found["driver"] == {}  # only while Ray starts


def test_the_users_own_ray_settings_win() -> None:
    found = _start(RAY_raylet_client_connect_timeout_milliseconds="700")
    assert found["raylet"] == {"RAY_raylet_client_connect_timeout_milliseconds": "700",
                               "RAY_raylet_client_num_connect_attempts": "200"}
    assert found["driver"] == {"RAY_raylet_client_connect_timeout_milliseconds": "700"}


def test_only_tested_ray_versions_get_them() -> None:
    assert quick_connect(f"{TESTED_RAY[0]}.3", {}) == QUICK_CONNECT
    assert quick_connect("2.59.1", {}) == {}
    assert quick_connect("3.0.0", {}) == {}
    assert quick_connect(f"{TESTED_RAY[0]}.0", {"RAY_raylet_client_num_connect_attempts": "5"}) \
        == {"RAY_raylet_client_connect_timeout_milliseconds": "50"}
