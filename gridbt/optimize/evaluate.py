"""A study's kernel rows on the runtime's actors, in rounds.

A study sends rows in rounds (one round per batch of trials and fold), far fewer and larger
than a sweep's batches: each round is cut into one task per actor slot and handed to the
runtime's scheduler at once (`submit_kpis`), so the driver can ask the next trials while the
actors run it, and gathered later. The scheduler's failure rule holds: a task that fails every
attempt leaves its rows without KPIs and with its error, and the round goes on; the study
marks the trials those rows belong to as failed. The rounds that finish a study (out of
sample, the in-sample span, equity curves) need every row: there a failed task stops the
finish with its error, and `--resume` finishes the stored trials again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from gridbt._typing import FloatArray
from gridbt.kernel.dispatch import windowed
from gridbt.kernel.metrics import N_KPIS
from gridbt.optimize.spec import StudyError
from gridbt.runtime import ActorPool, Failure, JobMetrics, RayConfig, Scheduler, Task

__all__ = ["Evaluated", "Evaluator"]


@dataclass(frozen=True)
class Evaluated:
    """KPIs of a round's rows, (n, N_KPIS), NaN where the row's task failed; per row, the
    error of its failed task or None."""

    kpis: FloatArray
    errors: list[str | None]


class Evaluator:
    """A study's rounds of rows, cut into tasks for the pool's actors."""

    def __init__(self, pool: ActorPool, cfg: RayConfig, metrics: JobMetrics | None = None):
        self.pool = pool
        self.scheduler = Scheduler(pool, cfg, metrics=metrics)
        self.slots = pool.size * cfg.max_in_flight
        self.rows_run = 0

    @property
    def n_actors(self) -> int:
        return self.pool.size

    def close(self) -> None:
        self.pool.close()

    def _submit(self, rows: FloatArray, method: str, *args: Any) -> list[Task]:
        """One task per actor slot (fewer for a short round), sent now."""
        n = rows.shape[0]
        chunks = np.array_split(np.arange(n), min(n, self.slots)) if n else []
        return self.scheduler.submit(Task(method, rows[c], args, tag=c) for c in chunks)

    def _gather_all(self, tasks: list[Task], what: str) -> list[Any]:
        """Every task's result; a failed one stops the study's finish with its error."""
        outcomes = self.scheduler.gather(tasks)
        self.rows_run += sum(len(task) for task in tasks)
        for outcome in outcomes:
            if isinstance(outcome, Failure):
                raise StudyError(f"{what}: backtests failed {outcome.attempts} times, last "
                                 f"error: {outcome.error}; the trials are stored, --resume "
                                 "finishes the study")
        return outcomes

    def submit_kpis(self, rows: FloatArray) -> Callable[[], Evaluated]:
        """Send a round of rows now; the returned function gathers their KPIs."""
        n = rows.shape[0]
        tasks = self._submit(rows, "kpis")

        def gather() -> Evaluated:
            kpis = np.full((n, N_KPIS), math.nan)
            errors: list[str | None] = [None] * n
            for task, outcome in zip(tasks, self.scheduler.gather(tasks), strict=True):
                if isinstance(outcome, Failure):
                    message = (f"backtest failed {outcome.attempts} times on the actors, last "
                               f"error: {outcome.error}")
                    for i in task.tag:
                        errors[i] = message
                else:
                    kpis[task.tag] = outcome
            self.rows_run += n
            return Evaluated(kpis, errors)

        return gather

    def kpis(self, rows: FloatArray, what: str) -> FloatArray:
        """KPIs of every row (the finish's rounds: every row must run)."""
        parts = self._gather_all(self._submit(rows, "kpis"), what)
        return np.concatenate(parts) if parts else np.empty((0, N_KPIS))

    def window_stats(self, rows: FloatArray, window: tuple[int, int], n_blocks: int,
                     what: str) -> tuple[FloatArray, FloatArray, np.ndarray]:
        """KPIs, block return statistics and outcome hashes (`kernel.outcome_nb`: equal for
        rows that make the same trades) of every row over the day window."""
        lo, hi = window
        parts = self._gather_all(self._submit(windowed(rows, window), "window_stats", lo, hi,
                                              n_blocks), what)
        kpis, blocks, outcomes = ([p[k] for p in parts] for k in range(3))
        return np.concatenate(kpis), np.concatenate(blocks), np.concatenate(outcomes)

    def equity(self, rows: FloatArray, what: str) -> FloatArray:
        """Equity curves (n, n_days) of every row."""
        return np.concatenate(self._gather_all(self._submit(rows, "equity"), what))
