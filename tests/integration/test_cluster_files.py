"""The files that take a sweep from a laptop to a cluster (cluster/), checked as Ray and KubeRay
read them, and cluster/local.sh run for real: a head and a worker node on this machine."""

from __future__ import annotations

import copy
import json
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import psutil
import pyarrow.parquet as pq
import pytest
import ray
import ray.autoscaler
import yaml

REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / "cluster"
LAUNCHER = CLUSTER / "ray-cluster.yaml"
RAYCLUSTER = CLUSTER / "kuberay" / "raycluster.yaml"
RAYJOB = CLUSTER / "kuberay" / "rayjob.yaml"
LOCAL_SH = CLUSTER / "local.sh"
RAY_SCHEMA = Path(ray.autoscaler.__file__).parent / "ray-schema.json"
# Where cluster/Dockerfile puts the repo's jobs/ folder.
IMAGE_JOBS = "/app/jobs"

pytestmark = pytest.mark.integration


def load_documents(path: Path) -> list[dict[str, Any]]:
    with path.open() as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def kuberay_resource(path: Path, kind: str) -> dict[str, Any]:
    (resource,) = [doc for doc in load_documents(path) if doc["kind"] == kind]
    return resource


def cluster_spec(path: Path) -> dict[str, Any]:
    resource = kuberay_resource(path, "RayJob" if path == RAYJOB else "RayCluster")
    spec: dict[str, Any] = resource["spec"]
    return spec["rayClusterSpec"] if path == RAYJOB else spec


def pod_specs(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Head pod first, then one pod spec per worker group."""
    groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
    return [group["template"]["spec"] for group in groups]


def test_every_cluster_yaml_parses_into_mappings() -> None:
    paths = sorted(CLUSTER.rglob("*.yaml"))
    assert {LAUNCHER, RAYCLUSTER, RAYJOB} <= set(paths)
    for path in paths:
        documents = load_documents(path)
        assert documents, path
        assert all(isinstance(doc, dict) for doc in documents), path


def test_launcher_config_validates_against_the_schema_ray_ships() -> None:
    if not RAY_SCHEMA.is_file():
        pytest.skip(f"this ray has no {RAY_SCHEMA.name}")
    schema = json.loads(RAY_SCHEMA.read_text())
    (config,) = load_documents(LAUNCHER)
    jsonschema.validate(config, schema)
    # The schema is strict about node types, so a misspelt key would have been caught.
    broken = copy.deepcopy(config)
    broken["available_node_types"]["gridbt.worker"]["min_worker"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_launcher_config_as_ray_up_completes_it_installs_nothing_at_boot() -> None:
    util = pytest.importorskip("ray.autoscaler._private.util")
    (config,) = load_documents(LAUNCHER)
    # What `ray up` does first: merge the provider's defaults, then check the result.
    prepared = util.prepare_config(copy.deepcopy(config))
    util.validate_config(prepared)
    # Ray's AWS defaults would pip-install a Ray wheel and boto3 on every node.
    assert prepared["setup_commands"] == []
    assert prepared["head_setup_commands"] == []
    assert prepared["worker_setup_commands"] == []
    head = prepared["available_node_types"][prepared["head_node_type"]]
    assert head["resources"] == {"CPU": 0}, "backtest actors must stay off the head"
    worker_types = [
        t
        for name, t in prepared["available_node_types"].items()
        if name != prepared["head_node_type"]
    ]
    assert worker_types and all(t["max_workers"] >= t["min_workers"] for t in worker_types)


def test_dockerfile_builds_on_the_ray_and_python_of_this_project() -> None:
    dockerfile = (CLUSTER / "Dockerfile").read_text()
    match = re.search(r"^ARG RAY_IMAGE=rayproject/ray:(\S+)$", dockerfile, re.MULTILINE)
    assert match, "the base image is the official rayproject/ray"
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    python = project["requires-python"].removeprefix(">=").replace(".", "")
    assert match.group(1) == f"{ray.__version__}-py{python}"
    assert re.search(rf"^COPY\b.* jobs {IMAGE_JOBS}$", dockerfile, re.MULTILINE)
    assert re.search(r"^ENV NUMBA_CACHE_DIR=", dockerfile, re.MULTILINE)


def test_launcher_and_kuberay_run_one_image_of_the_installed_ray_version() -> None:
    (config,) = load_documents(LAUNCHER)
    image = config["docker"]["image"]
    assert not image.startswith("rayproject/"), "the image must carry gridbt"
    for path in (RAYCLUSTER, RAYJOB):
        spec = cluster_spec(path)
        assert spec["rayVersion"] == ray.__version__, path
        images = {c["image"] for pod in pod_specs(spec) for c in pod["containers"]}
        assert images == {image}, path


def test_kuberay_manifests_declare_head_and_workers_with_resources() -> None:
    for path in (RAYCLUSTER, RAYJOB):
        for doc in load_documents(path):
            if doc["kind"] in ("RayCluster", "RayJob"):
                assert doc["apiVersion"] == "ray.io/v1", path
        spec = cluster_spec(path)
        assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0", path
        (workers,) = spec["workerGroupSpecs"]
        assert 0 <= workers["minReplicas"] <= workers["replicas"] <= workers["maxReplicas"]
        for pod in pod_specs(spec):
            for container in pod["containers"]:
                resources = container["resources"]
                assert resources["limits"]["cpu"] and resources["limits"]["memory"], path


def head_mounts(path: Path) -> dict[str, str]:
    """Mount path -> PersistentVolumeClaim name, for the head container of a manifest."""
    head = pod_specs(cluster_spec(path))[0]
    claims = {
        v["name"]: v["persistentVolumeClaim"]["claimName"]
        for v in head.get("volumes", [])
        if "persistentVolumeClaim" in v
    }
    (container,) = head["containers"]
    return {m["mountPath"]: claims[m["name"]] for m in container.get("volumeMounts", [])}


def test_kuberay_volumes_are_claims_declared_next_to_them() -> None:
    for path in (RAYCLUSTER, RAYJOB):
        declared = {
            doc["metadata"]["name"]
            for doc in load_documents(path)
            if doc["kind"] == "PersistentVolumeClaim"
        }
        mounts = head_mounts(path)
        assert {"/data", "/results"} <= set(mounts), path
        assert set(mounts.values()) <= declared, path


def test_rayjob_runs_a_sweep_file_of_this_repo_into_the_results_volume() -> None:
    entrypoint = shlex.split(kuberay_resource(RAYJOB, "RayJob")["spec"]["entrypoint"])
    assert entrypoint[:2] == ["gridbt", "sweep"]
    sweep_file = entrypoint[2]
    assert sweep_file.startswith(IMAGE_JOBS + "/")
    assert entrypoint[entrypoint.index("--address") + 1] == "auto"
    out = entrypoint[entrypoint.index("--out") + 1]
    assert any(out.startswith(mount + "/") for mount in head_mounts(RAYJOB)), out
    # The image copies the repo's jobs/ to /app/jobs; the file must exist there.
    in_repo = REPO / "jobs" / Path(sweep_file).relative_to(IMAGE_JOBS)
    assert in_repo.is_file(), f"{sweep_file} is {in_repo.relative_to(REPO)}, which is missing"


# --- cluster/local.sh -----------------------------------------------------------------------


def run_local_sh(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(LOCAL_SH), *args], capture_output=True, text=True, env=env, timeout=600
    )


def test_local_sh_without_a_cluster_stops_cleanly_and_reports_none() -> None:
    with tempfile.TemporaryDirectory(prefix="gbt-", dir="/tmp") as state:
        env = os.environ | {"RAY": ray_executable()}
        stopped = run_local_sh("stop", "--dir", state, env=env)
        assert stopped.returncode == 0, stopped.stderr
        status = run_local_sh("status", "--dir", state, env=env)
        assert status.returncode == 1
        assert "no local cluster" in status.stdout
        bad = run_local_sh("start", "--workers", "two", "--dir", state, env=env)
        assert bad.returncode != 0
        assert "two" in bad.stderr


def ray_executable() -> str:
    beside = Path(sys.executable).with_name("ray")
    found = str(beside) if beside.is_file() else shutil.which("ray")
    if found is None:
        pytest.skip("no ray executable")
    return found


def free_port_pair() -> int:
    """A port p such that p and p + 1 (the Ray client server) are both free right now."""
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("", 0))
            port = int(a.getsockname()[1])
            if port >= 65000:
                continue
            with socket.socket() as b:
                try:
                    b.bind(("", port + 1))
                except OSError:
                    continue
            return port
    raise RuntimeError("no two adjacent free ports")


def cluster_ports() -> tuple[int, int]:
    """GCS port (the client server takes the next one) and a dashboard port, all distinct."""
    port = free_port_pair()
    dashboard_port = free_port_pair()
    while dashboard_port in (port, port + 1) or port == dashboard_port + 1:
        dashboard_port = free_port_pair()
    return port, dashboard_port


def session_processes(sessions: set[int], since: float = 0.0) -> list[psutil.Process]:
    """Live processes in the given sessions (created at or after `since`, against pid reuse)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if (
                os.getsid(proc.pid) in sessions
                and proc.create_time() >= since
                and proc.status() != psutil.STATUS_ZOMBIE
            ):
                found.append(proc)
        except (ProcessLookupError, PermissionError, psutil.Error):
            pass
    return found


@dataclass(frozen=True)
class LocalCluster:
    address: str
    dashboard_port: int
    state: Path
    sessions: set[int]
    env: dict[str, str]
    start_output: str


@pytest.fixture
def local_cluster() -> Iterator[LocalCluster]:
    """Head + 1 worker (1 CPU each) on ports away from Ray's defaults; always torn down."""
    port, dashboard_port = cluster_ports()
    # a margin for the clock-tick resolution of create_time
    started_at = time.time() - 1
    # Short, because Ray's unix socket paths under it must stay below ~100 characters.
    state = Path(tempfile.mkdtemp(prefix="gbt-", dir="/tmp"))
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_MODE")}
    # Token auth (local.sh's default) with a token of our own: ~/.ray is left alone.
    env |= {"RAY": ray_executable(), "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    sessions: set[int] = set()
    try:
        started = run_local_sh(
            "start", "--workers", "1", "--cpus", "1", "--head-cpus", "1",
            "--port", str(port), "--dashboard-port", str(dashboard_port),
            "--object-store-memory", str(100 * 1024 * 1024), "--dir", str(state),
            env=env,
        )  # fmt: skip
        if (state / "nodes").is_file():
            sessions = {int(line.split()[1]) for line in (state / "nodes").read_text().splitlines()}
        assert started.returncode == 0, started.stdout + started.stderr
        yield LocalCluster(
            f"127.0.0.1:{port}", dashboard_port, state, sessions, env, started.stdout
        )
    finally:
        run_local_sh("stop", "--dir", str(state), env=env)
        # Should stop have failed, nothing of this cluster may outlive the test.
        for proc in session_processes(sessions, since=started_at):
            proc.kill()
        shutil.rmtree(state, ignore_errors=True)


CONNECT = textwrap.dedent(
    """
    import json, sys, time
    import ray

    ray.init(address=sys.argv[1], logging_level="ERROR")
    deadline = time.monotonic() + 60
    while True:
        alive = [n for n in ray.nodes() if n["Alive"]]
        if len(alive) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    print(json.dumps({"nodes": len(alive), "cpus": ray.cluster_resources().get("CPU", 0)}))
    """
)


def start_decoy_raylet(directory: Path) -> subprocess.Popen[bytes]:
    """A process named like another cluster's raylet: what a global `ray stop` would kill."""
    decoy = directory / "raylet"
    decoy.symlink_to(shutil.which("sleep") or "/bin/sleep")
    return subprocess.Popen([str(decoy), "300"], start_new_session=True)


@pytest.mark.slow
def test_local_sh_runs_a_two_node_cluster_and_stops_only_its_own_processes(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    c = local_cluster
    assert c.address in c.start_output
    assert f"gridbt sweep {REPO}/jobs/sweeps/short_put_grid.yaml --address {c.address}" in (
        c.start_output
    )
    assert f"ray job submit --address http://127.0.0.1:{c.dashboard_port} -- gridbt sweep" in (
        c.start_output
    )
    assert len(c.sessions) == 2, "one session per node"

    client_env = c.env | {"RAY_AUTH_MODE": "token"}
    seen = subprocess.run(
        [sys.executable, "-c", CONNECT, c.address],
        capture_output=True, text=True, env=client_env, timeout=300,
    )  # fmt: skip
    assert seen.returncode == 0, seen.stderr
    # Two nodes with 1 CPU each: left to Ray, every node would claim all of the machine's cores.
    assert json.loads(seen.stdout.strip().splitlines()[-1]) == {"nodes": 2, "cpus": 2.0}

    again = run_local_sh("start", "--dir", str(c.state), env=c.env)
    assert again.returncode != 0
    assert "already running" in again.stderr

    status = run_local_sh("status", "--dir", str(c.state), env=c.env)
    assert status.returncode == 0, status.stderr
    assert "worker-1" in status.stdout

    decoy = start_decoy_raylet(tmp_path)
    try:
        stopped = run_local_sh("stop", "--dir", str(c.state), env=c.env)
        assert stopped.returncode == 0, stopped.stderr
        deadline = time.monotonic() + 30
        while session_processes(c.sessions) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = [p.pid for p in session_processes(c.sessions)]
        assert left == [], f"processes of the stopped cluster still running: {left}"
        raylets = [
            p.pid
            for p in psutil.process_iter(["name", "cmdline"])
            if p.info["name"] == "raylet" and str(c.state) in " ".join(p.info["cmdline"] or [])
        ]
        assert raylets == []
        assert decoy.poll() is None, "stop killed a process that was not its own"
    finally:
        decoy.kill()
        decoy.wait()


def test_ray_job_submit_runs_a_sweep_file_on_the_local_cluster(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    """The same kind of sweep file, submitted with `ray job submit` to a head started with
    `ray start --head` (through local.sh): the job's driver runs on the head and joins it."""
    from gridbt.data.default import ensure_synthetic_chain

    c = local_cluster
    chain = ensure_synthetic_chain(profile="small")[0]
    sweep = tmp_path / "job_sweep.yaml"
    sweep.write_text(textwrap.dedent(f"""\
        name: job_sweep
        strategy: {REPO / 'jobs/strategies/short_put_30d.yaml'}
        data: {chain}
        keep_equity: 2
        mlflow: {{tracking_uri: sqlite:///{tmp_path / 'mlflow.db'}}}
        grid:
          structure.legs.0.select.target: [0.2, 0.3]
          exit.stop_loss: [2.0, null]
        """))
    out = tmp_path / "out"
    env = {**c.env, "RAY_AUTH_MODE": "token", "GRIDBT_HOME": str(chain.parents[1])}
    gridbt = str(Path(sys.executable).with_name("gridbt"))
    submitted = subprocess.run(
        [str(Path(ray_executable())), "job", "submit", "--address",
         f"http://127.0.0.1:{c.dashboard_port}", "--",
         gridbt, "sweep", str(sweep), "--address", c.address, "--out", str(out), "--quiet"],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stdout[-3000:] + submitted.stderr[-3000:]
    assert "succeeded" in submitted.stdout
    assert "sweep finished: 4 combinations computed" in submitted.stdout
    results = pq.read_table(out / "results.parquet").to_pandas()
    assert sorted(results["combo"]) == [0, 1, 2, 3]

    # a study file goes the same way
    study = tmp_path / "job_study.yaml"
    study.write_text(textwrap.dedent(f"""\
        name: job_study
        strategy: {REPO / 'jobs/strategies/short_put_30d.yaml'}
        data: {chain}
        pbo_blocks: 6
        mlflow: {{tracking_uri: sqlite:///{tmp_path / 'mlflow.db'}}}
        space:
          structure.legs.0.select.target: {{float: [0.1, 0.4], step: 0.05}}
          exit.stop_loss: {{categorical: [2.0, null]}}
        sampler: {{kind: tpe, seed: 1}}
        walk_forward: {{folds: 2}}
        trials: 8
        parallel: 4
        """))
    out = tmp_path / "study_out"
    submitted = subprocess.run(
        [str(Path(ray_executable())), "job", "submit", "--address",
         f"http://127.0.0.1:{c.dashboard_port}", "--",
         gridbt, "optimize", str(study), "--address", c.address, "--out", str(out), "--quiet"],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stdout[-3000:] + submitted.stderr[-3000:]
    assert "study job_study finished: 8 trials" in submitted.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert sum(summary["trials"].values()) == 8 and "walk_forward" in summary
