"""Remove a node mid-sweep on a two-node `ray.cluster_utils.Cluster`: nothing is lost."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from gridbt.data.default import ensure_synthetic_chain
from gridbt.sweep.driver import run_sweep
from gridbt.sweep.results import ResultStore

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def two_nodes() -> Any:
    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    worker = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    yield cluster, worker
    ray.shutdown()
    cluster.shutdown()


def test_removing_a_node_mid_sweep_loses_no_combination(tmp_path: Path, two_nodes: Any) -> None:
    cluster, worker = two_nodes
    chain = ensure_synthetic_chain(profile="small")[0]
    path = tmp_path / "sweep.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: node_loss
        strategy: {REPO / 'jobs/strategies/short_put_30d.yaml'}
        data: {chain}
        keep_equity: 1
        mlflow: {{enabled: false}}
        ray: {{batch_seconds: 0.05, max_in_flight: 3, batch_timeout: 60}}
        grid:
          structure.legs.0.select.target: {{range: [0.1, 0.4, 0.05]}}
          exit.profit_target: [0.25, 0.5, 0.75, null]
          exit.stop_loss: [1.5, 2.0, 3.0, null]
          exit.dte: [null, 14, 21]
        """))
    nodes_seen: set[str] = set()
    removed: list[int] = []

    def lose_a_node(done: int) -> None:
        nodes_seen.update(ResultStore(tmp_path / "out").read(columns=["node"])["node"])
        # once both nodes have delivered results (a batch is a whole entry group of 48 rows:
        # the first to finish may come back before the other node's)
        if not removed and done >= 40 and len(nodes_seen) == 2:
            removed.append(done)
            cluster.remove_node(worker)

    outcome = run_sweep(path, out=tmp_path / "out", progress=False, actors=2,
                        on_batch=lose_a_node, finish=False)
    assert removed, "the sweep ended before the node could be removed"
    assert len(nodes_seen) == 2  # both nodes were computing when one was removed
    results = ResultStore(outcome.out_dir).read()
    assert outcome.failed == 0
    assert results["combo"].tolist() == list(range(outcome.valid))  # each exactly once
    assert results["param_hash"].is_unique
    assert len(ray.nodes()) == 2 and sum(n["Alive"] for n in ray.nodes()) == 1
