"""gridbt's own metrics, exported through Ray's metrics API to Ray's Prometheus endpoint.

Every metric carries the tag `gridbt_job`: the sweep's or the study's name (not `job`, which
Prometheus gives every scraped series itself: Ray's service-discovery file says `job: ray`).
They are recorded by the driver, once per batch (never per combination), and exported beside
Ray's own metrics on the driver node's metrics export port (`ray start --metrics-export-port`),
where Ray prefixes them with `ray_` and gives counters the suffix `_total` (`METRIC_NAMES` are
the names as Prometheus stores them). Ray exports every `metrics_report_interval_ms` (10 s by
default), so the last values of a job reach Prometheus up to that long after it ends.

| metric | kind | what |
|---|---|---|
| `gridbt_combinations_done` | counter | rows backtested (sweep combinations, study backtests) |
| `gridbt_combinations_failed` | counter | rows whose batch failed every attempt |
| `gridbt_combinations_planned` | gauge | the rows this run has to backtest (a sweep's fresh ones) |
| `gridbt_batches_in_flight` | gauge | batches sent to actors and not answered yet |
| `gridbt_batch_seconds` | histogram | wall seconds from a batch's send to its answer |
| `gridbt_combinations_per_second` | gauge | rows done per second over the last few seconds |
| `gridbt_actor_warmup_seconds` | gauge | an actor's warm-up (kernels loaded); tag `actor` |
| `gridbt_chain_bytes` | gauge | bytes of the chain in the object store (one copy per node) |
| `gridbt_study_trials` | gauge | a study's finished trials, tag `state` (complete, pruned, fail) |
| `gridbt_study_trials_planned` | gauge | a study's trial budget |
| `gridbt_study_best_value` | gauge | a study's best value of its first objective |

Metrics never fail a job: without Ray's metrics (no Ray, an old Ray, no metrics agent) or
when recording raises, `JobMetrics` does nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["BATCH_SECONDS_BOUNDARIES", "JOB_TAG", "METRICS", "METRIC_NAMES", "JobMetrics",
           "MetricDefinition"]

JOB_TAG = "gridbt_job"
#: seconds; a batch is sized to run about a second (`ray.target_batch_seconds`)
BATCH_SECONDS_BOUNDARIES = [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]
_RATE_WINDOW = 2.0  # seconds over which `combinations_per_second` is measured

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MetricDefinition:
    """One gridbt metric: its name in `ray.util.metrics`, kind, help text and tag keys."""

    name: str
    kind: str  # "counter", "gauge" or "histogram"
    description: str
    tags: tuple[str, ...] = (JOB_TAG,)

    @property
    def exported(self) -> list[str]:
        """The series names Prometheus stores for it (Ray's `ray_` prefix, counters' `_total`,
        a histogram's `_bucket`, `_count` and `_sum`)."""
        base = f"ray_{self.name}"
        if self.kind == "counter":
            return [f"{base}_total"]
        if self.kind == "histogram":
            return [f"{base}_bucket", f"{base}_count", f"{base}_sum"]
        return [base]


METRICS: tuple[MetricDefinition, ...] = (
    MetricDefinition("gridbt_combinations_done", "counter",
                     "Parameter rows backtested (sweep combinations, study backtests)"),
    MetricDefinition("gridbt_combinations_failed", "counter",
                     "Parameter rows whose batch failed every attempt"),
    MetricDefinition("gridbt_combinations_planned", "gauge",
                     "Parameter rows this run has to backtest"),
    MetricDefinition("gridbt_batches_in_flight", "gauge",
                     "Batches sent to actors and not answered yet"),
    MetricDefinition("gridbt_batch_seconds", "histogram",
                     "Wall seconds from a batch's send to its answer"),
    MetricDefinition("gridbt_combinations_per_second", "gauge",
                     "Parameter rows backtested per second, recent"),
    MetricDefinition("gridbt_actor_warmup_seconds", "gauge",
                     "Seconds an actor took to load or compile the kernels and warm up",
                     (JOB_TAG, "actor")),
    MetricDefinition("gridbt_chain_bytes", "gauge",
                     "Bytes of the chain in the object store (one copy per node)"),
    MetricDefinition("gridbt_study_trials", "gauge",
                     "A study's finished trials by state", (JOB_TAG, "state")),
    MetricDefinition("gridbt_study_trials_planned", "gauge", "A study's trial budget"),
    MetricDefinition("gridbt_study_best_value", "gauge",
                     "A study's best value of its first objective"),
)
#: every series name gridbt exports, as Prometheus stores it
METRIC_NAMES: list[str] = [name for m in METRICS for name in m.exported]


def _make(definition: MetricDefinition) -> Any:
    import ray.util.metrics as metrics  # honours sys.modules (a test takes it away)

    if definition.kind == "counter":
        return metrics.Counter(definition.name, definition.description,
                               tag_keys=definition.tags)
    if definition.kind == "histogram":
        return metrics.Histogram(definition.name, definition.description,
                                 boundaries=BATCH_SECONDS_BOUNDARIES, tag_keys=definition.tags)
    return metrics.Gauge(definition.name, definition.description, tag_keys=definition.tags)


class JobMetrics:
    """The metrics of one sweep or study (tag `gridbt_job`), recorded from its driver.

    Create it after Ray is initialised. Each method is cheap (a handful of metric updates) and
    swallows any error: metrics are an aid, never a reason to fail a job.
    """

    def __init__(self, job: str):
        self.job = job
        self._tags = {JOB_TAG: job}
        self._window_start = time.monotonic()
        self._window_rows = 0
        self._metrics: dict[str, Any] = {}
        try:
            self._metrics = {d.name: _make(d) for d in METRICS}
        except Exception as exc:  # no Ray metrics here: every call is a no-op
            _log.debug("gridbt metrics off: %s", exc)

    @property
    def enabled(self) -> bool:
        return bool(self._metrics)

    def _record(self, name: str, method: str, value: float,
                tags: Mapping[str, str] | None = None) -> None:
        metric = self._metrics.get(name)
        if metric is None:
            return
        try:
            getattr(metric, method)(value, tags={**self._tags, **(tags or {})})
        except Exception as exc:
            _log.debug("gridbt metric %s not recorded: %s", name, exc)

    def planned(self, rows: int) -> None:
        """The rows this run has to backtest (for progress and ETA)."""
        self._record("gridbt_combinations_planned", "set", rows)

    def batch(self, rows: int, seconds: float) -> None:
        """A batch of `rows` landed, `seconds` after it was sent."""
        self._record("gridbt_combinations_done", "inc", rows)
        self._record("gridbt_batch_seconds", "observe", seconds)
        self._window_rows += rows
        elapsed = time.monotonic() - self._window_start
        if elapsed >= _RATE_WINDOW:
            self._record("gridbt_combinations_per_second", "set", self._window_rows / elapsed)
            self._window_start, self._window_rows = time.monotonic(), 0

    def failure(self, rows: int) -> None:
        """A batch of `rows` failed every attempt."""
        if rows:
            self._record("gridbt_combinations_failed", "inc", rows)

    def in_flight(self, batches: int) -> None:
        """Batches sent and not answered yet."""
        self._record("gridbt_batches_in_flight", "set", batches)

    def actors(self, ready: Iterable[Mapping[str, Any]]) -> None:
        """The actors' answers to `BacktestActor.ready`: warm-up seconds and chain bytes."""
        chain_bytes = 0
        for i, info in enumerate(ready):
            self._record("gridbt_actor_warmup_seconds", "set",
                         float(info.get("warmup_seconds", 0.0)), {"actor": str(i)})
            chain_bytes = max(chain_bytes, int(info.get("chain_bytes", 0)))
        if chain_bytes:
            self.chain(chain_bytes)

    def chain(self, nbytes: int) -> None:
        """Bytes of the chain held in the object store."""
        self._record("gridbt_chain_bytes", "set", nbytes)

    def trials(self, by_state: Mapping[str, int], planned: int | None = None,
               best: float | None = None) -> None:
        """A study's finished trials per state, its budget and its best value so far."""
        for state, n in by_state.items():
            self._record("gridbt_study_trials", "set", n, {"state": state})
        if planned is not None:
            self._record("gridbt_study_trials_planned", "set", planned)
        if best is not None:
            self._record("gridbt_study_best_value", "set", best)

    def idle(self) -> None:
        """The run's loop has ended: nothing in flight, no current rate."""
        self.in_flight(0)
        self._record("gridbt_combinations_per_second", "set", 0.0)
