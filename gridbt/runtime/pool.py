"""The actor pool of a sweep or a study: the chain in the object store once, actors over it."""

from __future__ import annotations

from typing import Any

from gridbt._typing import FloatArray
from gridbt.data.pack import PackedChain
from gridbt.runtime.actor import BacktestActor
from gridbt.runtime.cluster import ClusterError, cluster_cpus
from gridbt.runtime.config import RayConfig

__all__ = ["ActorPool"]


class ActorPool:
    """Restartable backtest actors over one chain, spread over the nodes, warmed up and ready.

    The chain is put into the object store once (one copy per node, shared by its actors);
    `packed` is the driver's zero-copy view of it, so the caller can drop its own copy. Ray
    must be initialised (`init_ray`).
    """

    def __init__(self, packed: PackedChain, warmup: FloatArray, n_blocks: int, cfg: RayConfig,
                 n_actors: int | None = None, actor_cls: type = BacktestActor):
        import ray

        self.cfg = cfg
        self.chain_ref = ray.put(packed)
        self.packed: PackedChain = ray.get(self.chain_ref)
        self.size = n_actors or cfg.actors or cluster_cpus()
        remote_cls: Any = ray.remote(actor_cls).options(
            num_cpus=1, max_restarts=-1, max_task_retries=0, scheduling_strategy="SPREAD"
        )
        # the ref travels wrapped in a list, so that Ray does not pin it to the actor's creation
        self.handles = [remote_cls.remote([self.chain_ref], warmup, n_blocks)
                        for _ in range(self.size)]
        self._await_ready()

    def _await_ready(self) -> None:
        """Fail fast, with the actor's own error, when actors cannot start (before any task)."""
        import ray

        try:
            ray.get([h.ready.remote() for h in self.handles], timeout=self.cfg.batch_timeout)
        except ray.exceptions.RayActorError as exc:
            self.close()
            raise ClusterError(f"backtest actors could not start: {exc}") from None

    def call(self, actor: int, method: str, *args: Any) -> Any:
        """Start `method(*args)` on actor `actor`; return its ObjectRef."""
        return getattr(self.handles[actor], method).remote(*args)

    def close(self) -> None:
        """Kill every actor (the chain leaves the object store with the last reference)."""
        import ray

        for handle in self.handles:
            ray.kill(handle)
