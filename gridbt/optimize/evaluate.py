"""Evaluate kernel rows on the sweep's backtest actors: split, send, gather, retry.

A study sends rows in rounds (one round per batch of trials and fold), far fewer and larger
than a sweep's batches, so the scheduling is simpler: each round is cut into one chunk per
actor slot and sent at once (`_send`); gathering it (`_gather`) sends a chunk whose actor died
or raised to the next actor (actors restart themselves), up to `ray.max_attempts` times. A
round can be gathered later, so the driver works while the actors run it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from gridbt._typing import FloatArray
from gridbt.kernel.dispatch import windowed
from gridbt.sweep.actor import BacktestActor
from gridbt.sweep.spec import RayConfig, SweepError

__all__ = ["Evaluator"]


_Call = Callable[[Any, FloatArray], Any]  # (actor handle, rows) -> ObjectRef


class _Round:
    """Chunks of one round in flight: each chunk's ref, actor and attempts so far."""

    def __init__(self, rows: FloatArray, call: _Call, n_chunks: int):
        self.rows, self.call = rows, call
        self.chunks = np.array_split(np.arange(rows.shape[0]), n_chunks) if n_chunks else []
        self.results: list[Any] = [None] * len(self.chunks)
        self.attempts = [0] * len(self.chunks)
        self.pending: dict[Any, tuple[int, int]] = {}


class Evaluator:
    """Backtest actors over one shared chain, fed whole rounds of rows."""

    def __init__(self, packed: Any, warmup: FloatArray, n_blocks: int, cfg: RayConfig,
                 n_actors: int | None = None, actor_cls: type = BacktestActor):
        import ray

        from gridbt.sweep.driver import _cluster_cpus, start_actors

        self.cfg = cfg
        self._chain_ref = ray.put(packed)  # held here: the actors get it wrapped, unpinned
        self.n_actors = n_actors or cfg.actors or _cluster_cpus()
        self.handles = start_actors(actor_cls, self.n_actors, self._chain_ref, warmup, n_blocks,
                                    cfg.batch_timeout)
        self.rows_run = 0

    def close(self) -> None:
        import ray

        for handle in self.handles:
            ray.kill(handle)

    def _send(self, rows: FloatArray, call: _Call) -> _Round:
        """Cut `rows` into one chunk per actor slot and send every chunk now."""
        work = _Round(rows, call, min(rows.shape[0], self.n_actors * self.cfg.max_in_flight))
        for i, chunk in enumerate(work.chunks):
            actor = i % self.n_actors
            work.pending[call(self.handles[actor], rows[chunk])] = (i, actor)
        return work

    def _gather(self, work: _Round) -> list[Any]:
        """The round's results in row order; a chunk whose actor died or raised is sent to
        the next actor, up to `ray.max_attempts` times."""
        import ray

        while work.pending:
            ready, _ = ray.wait(list(work.pending), num_returns=1,
                                timeout=self.cfg.batch_timeout)
            if not ready:
                raise SweepError(f"no answer from the actors within {self.cfg.batch_timeout:.0f}"
                                 " s; stopping")
            for ref in ready:
                i, actor = work.pending.pop(ref)
                try:
                    work.results[i] = ray.get(ref)
                except (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError,
                        ray.exceptions.RayTaskError) as exc:
                    work.attempts[i] += 1
                    if work.attempts[i] >= self.cfg.max_attempts:
                        raise SweepError(f"rows failed {work.attempts[i]} times; last error: "
                                         f"{str(exc).splitlines()[0]}") from None
                    logging.getLogger(__name__).warning("retrying rows after: %s",
                                                        str(exc).splitlines()[0])
                    other = (actor + 1) % self.n_actors
                    work.pending[work.call(self.handles[other],
                                           work.rows[work.chunks[i]])] = (i, other)
        self.rows_run += work.rows.shape[0]
        return work.results

    def submit_kpis(self, rows: FloatArray) -> Callable[[], FloatArray]:
        """Send a round of KPI rows now, gather it later (the driver asks the next trials
        meanwhile)."""
        from gridbt.kernel.metrics import N_KPIS

        work = self._send(rows, lambda h, chunk: h.kpis.remote(chunk))

        def gather() -> FloatArray:
            parts = self._gather(work)
            return np.concatenate(parts) if parts else np.empty((0, N_KPIS))

        return gather

    def kpis(self, rows: FloatArray) -> FloatArray:
        return self.submit_kpis(rows)()

    def window_stats(self, rows: FloatArray, window: tuple[int, int], n_blocks: int
                     ) -> tuple[FloatArray, FloatArray]:
        lo, hi = window
        parts = self._gather(self._send(
            windowed(rows, window),
            lambda h, chunk: h.window_stats.remote(chunk, lo, hi, n_blocks)))
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def equity(self, rows: FloatArray) -> FloatArray:
        work = self._send(rows, lambda h, chunk: h.equity.remote(chunk))
        return np.concatenate(self._gather(work))
