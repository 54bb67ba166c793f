"""The actor pool of a sweep or a study: the chain in the object store once, actors over it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from gridbt._stages import seconds_since, stage
from gridbt._typing import FloatArray
from gridbt.data.pack import PackedChain
from gridbt.runtime.actor import BacktestActor
from gridbt.runtime.cluster import ClusterError, cluster_cpus
from gridbt.runtime.config import RayConfig

__all__ = ["ActorPool"]

_RESTART_WAIT = 0.2  # seconds before asking an actor that was restarting again


class ActorPool:
    """Restartable backtest actors over one chain, spread over the nodes, warmed up and ready.

    The chain is put into the object store once (one copy per node, shared by its actors);
    `packed` is the driver's zero-copy view of it, so the caller can drop its own copy. With
    `tables` (the actors will run trade-table batches), so is the chain's contract-major copy
    (`tables.load_contract_major`: kept with the packed-chain cache after its first use, else
    made), put here while the actors start: each actor maps it instead of spending ~0.4 s and
    125 MB (the default chain) on its own. Every call to an actor brings the references
    (`BacktestActor.call`), so an actor that Ray restarts gets them back. Ray must be
    initialised (`init_ray`).
    """

    def __init__(self, packed: PackedChain, warmup: FloatArray, n_blocks: int, cfg: RayConfig,
                 n_actors: int | None = None, actor_cls: type = BacktestActor,
                 tables: bool = False):
        import ray

        self.cfg = cfg
        started = time.perf_counter()
        self.chain_ref = ray.put(packed)
        self.packed: PackedChain = ray.get(self.chain_ref)
        self._chain: list[Any] = [self.chain_ref]  # nested refs: Ray passes them as they are
        stage("chain in the object store in %.2f s", seconds_since(started))
        self.size = n_actors or cfg.actors or cluster_cpus()
        self._remote_cls: Any = ray.remote(actor_cls).options(
            num_cpus=1, max_restarts=-1, max_task_retries=0, scheduling_strategy="SPREAD"
        )
        # no reference among the constructor's arguments (see `BacktestActor`): the chain
        # comes with each call, so Ray has nothing to warn about (core_worker ERROR line)
        self._arguments = (warmup, n_blocks)
        self.handles: list[Any] = [self._remote_cls.remote(*self._arguments)
                                   for _ in range(self.size)]
        if tables:  # while the actors start
            from gridbt.kernel.tables import load_contract_major

            made = time.perf_counter()
            cm, kept = load_contract_major(packed)  # the caller's: it may map the chain's cache
            self._chain.append(ray.put(cm))
            stage("contract-major copy in the object store in %.2f s (%s)", seconds_since(made),
                  "kept with the chain's cache" if kept else "made")
            del cm
        self._await_ready()

    def _await_ready(self) -> None:
        """Report the actors as they start and warm up; fail fast, with the actor's own error,
        when they cannot start (before any task)."""
        started = time.perf_counter()
        deadline = started + self.cfg.batch_timeout
        stage("starting %d actors", self.size)
        try:
            infos = self._each(lambda a: self.handles[a].started.remote(), deadline)
            cold = sum(not info["kernels_cached"] for info in infos)
            stage("%d actors started in %.2f s; %s", self.size, seconds_since(started),
                  "compiling the kernels (new code: once, then cached)" if cold else
                  "loading the compiled kernels and warming up")
            ready = self._each(lambda a: self.call(a, "ready"), deadline)
        except ClusterError:
            self.close()
            raise
        self.ready_info: list[dict[str, Any]] = ready
        compiled = any(info["compiled"] for info in ready)
        stage("%d actors ready in %.2f s (%s %.2f s)", self.size, seconds_since(started),
              "compiled and warmed up in" if compiled else "warm-up",
              max(info["warmup_seconds"] for info in ready))

    def _each(self, send: Callable[[int], Any], deadline: float) -> list[Any]:
        """Every actor's answer to `send(actor)`. An actor whose process died meanwhile is
        asked again a moment later (Ray restarts it), until `deadline`; an error raised by the
        actor's code, or no answer by `deadline`, is a `ClusterError`."""
        import ray

        answers: list[Any] = [None] * self.size
        pending = {send(a): a for a in range(self.size)}
        again: list[tuple[float, int]] = []  # (when, actor): restarting, ask again then
        while pending or again:
            now = time.perf_counter()
            for when, a in [x for x in again if x[0] <= now]:
                again.remove((when, a))
                pending[send(a)] = a
            left = deadline - now
            if left <= 0:
                raise ClusterError(f"backtest actors not ready within "
                                   f"{self.cfg.batch_timeout:.0f} s (ray.batch_timeout)")
            if not pending:
                time.sleep(min(left, _RESTART_WAIT))
                continue
            done, _ = ray.wait(list(pending), num_returns=1,
                               timeout=min(left, _RESTART_WAIT) if again else left)
            if not done:
                continue
            a = pending.pop(done[0])
            try:
                answers[a] = ray.get(done[0])
            except ray.exceptions.RayActorError:
                again.append((time.perf_counter() + _RESTART_WAIT, a))
            except ray.exceptions.RayTaskError as exc:
                raise ClusterError(f"backtest actors could not start: {exc}") from None
        return answers

    def call(self, actor: int, method: str, *args: Any) -> Any:
        """Start `method(*args)` on actor `actor`; return its ObjectRef."""
        return self.handles[actor].call.remote(self._chain, method, *args)

    def replace(self, actor: int) -> None:
        """Kill actor `actor` for good and start a new one in its place; its first call
        brings it the chain and warms it up, as for the first actors."""
        import ray

        ray.kill(self.handles[actor], no_restart=True)
        self.handles[actor] = self._remote_cls.remote(*self._arguments)

    def close(self) -> None:
        """Kill every actor (the chain leaves the object store with the last reference)."""
        import ray

        for handle in self.handles:
            ray.kill(handle)
