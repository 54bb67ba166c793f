"""Evaluate kernel rows on the sweep's backtest actors: split, send, gather, retry.

A study sends rows in rounds (one round per batch of trials and fold), far fewer and larger
than a sweep's batches, so the scheduling is simpler: each round is cut into one chunk per
actor slot, and a chunk whose actor dies is sent again to another actor (actors restart
themselves), up to `ray.max_attempts` times.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from gridbt._typing import FloatArray
from gridbt.kernel import layout as L
from gridbt.sweep.actor import BacktestActor
from gridbt.sweep.spec import RayConfig, SweepError

__all__ = ["Evaluator", "windowed"]


def windowed(rows: FloatArray, window: tuple[int, int]) -> FloatArray:
    """A copy of `rows` restricted to the day window [lo, hi)."""
    out = np.array(rows, dtype=np.float64, copy=True)
    out[:, L.P_WINDOW_FIRST], out[:, L.P_WINDOW_END] = window
    return out


class Evaluator:
    """Backtest actors over one shared chain, fed whole rounds of rows."""

    def __init__(self, packed: Any, warmup: FloatArray, n_blocks: int, cfg: RayConfig,
                 n_actors: int | None = None, actor_cls: type = BacktestActor):
        import ray

        self.cfg = cfg
        chain_ref = ray.put(packed)
        resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
        self.n_actors = n_actors or cfg.actors or max(1, int(resources.get("CPU", 1)))
        remote_cls: Any = ray.remote(actor_cls).options(
            num_cpus=1, max_restarts=-1, max_task_retries=0, scheduling_strategy="SPREAD"
        )
        self.handles = [remote_cls.remote([chain_ref], warmup, n_blocks)
                        for _ in range(self.n_actors)]
        self._chain_ref = chain_ref
        try:
            ray.get([h.ready.remote() for h in self.handles], timeout=cfg.batch_timeout)
        except ray.exceptions.RayActorError as exc:
            self.close()
            raise SweepError(f"backtest actors could not start: {exc}") from None
        self.rows_run = 0
        self.seconds = 0.0

    def close(self) -> None:
        import ray

        for handle in self.handles:
            ray.kill(handle)

    def _round(self, rows: FloatArray, call: Callable[[Any, FloatArray], Any]) -> list[Any]:
        """Results of `call(actor, chunk)` for every chunk of `rows`, in row order."""
        import ray

        n = rows.shape[0]
        if n == 0:
            return []
        started = time.perf_counter()
        n_chunks = min(n, self.n_actors * self.cfg.max_in_flight)
        chunks = np.array_split(np.arange(n), n_chunks)
        results: list[Any] = [None] * n_chunks
        attempts = [0] * n_chunks
        pending = {call(self.handles[i % self.n_actors], rows[c]): (i, i % self.n_actors)
                   for i, c in enumerate(chunks)}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=self.cfg.batch_timeout)
            if not ready:
                raise SweepError(f"no answer from the actors within {self.cfg.batch_timeout:.0f}"
                                 " s; stopping")
            for ref in ready:
                i, actor = pending.pop(ref)
                try:
                    results[i] = ray.get(ref)
                except (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError,
                        ray.exceptions.RayTaskError) as exc:
                    attempts[i] += 1
                    if attempts[i] >= self.cfg.max_attempts:
                        raise SweepError(f"rows failed {attempts[i]} times; last error: "
                                         f"{str(exc).splitlines()[0]}") from None
                    logging.getLogger(__name__).warning("retrying rows after: %s",
                                                        str(exc).splitlines()[0])
                    other = (actor + 1) % self.n_actors
                    pending[call(self.handles[other], rows[chunks[i]])] = (i, other)
        self.rows_run += n
        self.seconds += time.perf_counter() - started
        return results

    def kpis(self, rows: FloatArray) -> FloatArray:
        from gridbt.kernel.metrics import N_KPIS

        parts = self._round(rows, lambda h, chunk: h.kpis.remote(chunk))
        return np.concatenate(parts) if parts else np.empty((0, N_KPIS))

    def submit_kpis(self, rows: FloatArray) -> Callable[[], FloatArray]:
        """Send a round now, gather it later (the driver asks the next trials meanwhile)."""
        import ray

        if rows.shape[0] == 0:
            return lambda: self.kpis(rows)
        n_chunks = min(rows.shape[0], self.n_actors * self.cfg.max_in_flight)
        chunks = np.array_split(np.arange(rows.shape[0]), n_chunks)
        refs = [self.handles[i % self.n_actors].kpis.remote(rows[c])
                for i, c in enumerate(chunks)]

        def gather() -> FloatArray:
            try:
                parts = ray.get(refs, timeout=self.cfg.batch_timeout)
            except (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError,
                    ray.exceptions.RayTaskError, ray.exceptions.GetTimeoutError):
                return self.kpis(rows)  # the careful path: per-chunk retries
            self.rows_run += rows.shape[0]
            return np.concatenate(parts)

        return gather

    def window_stats(self, rows: FloatArray, window: tuple[int, int], n_blocks: int
                     ) -> tuple[FloatArray, FloatArray]:
        lo, hi = window
        parts = self._round(windowed(rows, window),
                            lambda h, chunk: h.window_stats.remote(chunk, lo, hi, n_blocks))
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def equity(self, rows: FloatArray) -> FloatArray:
        parts = self._round(rows, lambda h, chunk: h.equity.remote(chunk))
        return np.concatenate(parts)
