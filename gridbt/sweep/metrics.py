"""Sweep metrics exported through `ray.util.metrics` (scraped by Ray's Prometheus endpoint).

Names: `gridbt_sweep_combinations` (counter), `gridbt_sweep_failures` (counter),
`gridbt_sweep_batch_seconds` (histogram of actor time per batch), `gridbt_sweep_queue_depth`
(gauge: batches in flight), `gridbt_sweep_combinations_per_second` (gauge, over the last batch
window). Metrics are best effort: a Ray without a metrics agent leaves them as no-ops.
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["SweepMetrics"]

_BOUNDARIES = [0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0]


class SweepMetrics:
    def __init__(self) -> None:
        self._window_start = time.monotonic()
        self._window_count = 0
        try:
            from ray.util import metrics

            self._combos: Any = metrics.Counter(
                "gridbt_sweep_combinations", "Combinations backtested")
            self._failures: Any = metrics.Counter(
                "gridbt_sweep_failures", "Combinations recorded as failed")
            self._latency: Any = metrics.Histogram(
                "gridbt_sweep_batch_seconds", "Actor seconds per batch", boundaries=_BOUNDARIES)
            self._depth: Any = metrics.Gauge(
                "gridbt_sweep_queue_depth", "Batches in flight")
            self._rate: Any = metrics.Gauge(
                "gridbt_sweep_combinations_per_second", "Recent throughput")
        except Exception:  # metrics are an aid, never a reason to fail a sweep
            self._combos = None

    def batch(self, n: int, seconds: float) -> None:
        if self._combos is None:
            return
        self._combos.inc(n)
        self._latency.observe(seconds)
        self._window_count += n
        elapsed = time.monotonic() - self._window_start
        if elapsed >= 2.0:
            self._rate.set(self._window_count / elapsed)
            self._window_start, self._window_count = time.monotonic(), 0

    def failure(self, n: int) -> None:
        if self._combos is not None:
            self._failures.inc(n)

    def queue_depth(self, depth: int) -> None:
        if self._combos is not None:
            self._depth.set(depth)
