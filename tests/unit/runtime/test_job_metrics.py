"""`JobMetrics` never fails a job: without Ray's metrics it does nothing, and a metric that
raises is skipped. Its names are the ones Prometheus stores."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from gridbt.runtime import metrics
from gridbt.runtime.metrics import JOB_TAG, METRIC_NAMES, METRICS, JobMetrics


def test_names_are_as_ray_exports_them() -> None:
    assert "ray_gridbt_combinations_done_total" in METRIC_NAMES
    assert "ray_gridbt_batch_seconds_bucket" in METRIC_NAMES
    assert "ray_gridbt_study_best_value" in METRIC_NAMES
    assert len(METRIC_NAMES) == len(set(METRIC_NAMES))
    assert all(JOB_TAG in m.tags for m in METRICS)


def test_without_ray_metrics_every_call_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray.util.metrics", None)  # import fails
    job = JobMetrics("no_ray")
    assert not job.enabled
    job.planned(10)
    job.batch(5, 0.1)
    job.failure(2)
    job.in_flight(3)
    job.actors([{"warmup_seconds": 1.0, "chain_bytes": 10}])
    job.trials({"complete": 3}, 10, 1.5)
    job.idle()


class _Raising:
    def __getattr__(self, name: str) -> Any:
        def fail(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError("no metrics agent")

        return fail


def test_a_metric_that_raises_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "_make", lambda definition: _Raising())
    job = JobMetrics("raising")
    assert job.enabled
    job.batch(5, 0.1)
    job.failure(1)
    job.trials({"complete": 1}, 2, 0.5)


class _Recorded:
    def __init__(self) -> None:
        self.calls: list[tuple[str, float, dict[str, str]]] = []

    def __getattr__(self, name: str) -> Any:
        def record(value: float, tags: dict[str, str]) -> None:
            self.calls.append((name, value, tags))

        return record


def test_each_record_carries_the_job_tag(monkeypatch: pytest.MonkeyPatch) -> None:
    made: dict[str, _Recorded] = {}

    def make(definition: metrics.MetricDefinition) -> _Recorded:
        made[definition.name] = _Recorded()
        return made[definition.name]

    monkeypatch.setattr(metrics, "_make", make)
    job = JobMetrics("grid")
    job.batch(7, 0.25)
    job.actors([{"warmup_seconds": 0.5, "chain_bytes": 100},
                {"warmup_seconds": 0.7, "chain_bytes": 100}])
    job.trials({"complete": 4, "fail": 1}, 20, 1.25)
    assert made["gridbt_combinations_done"].calls == [("inc", 7, {JOB_TAG: "grid"})]
    assert made["gridbt_batch_seconds"].calls == [("observe", 0.25, {JOB_TAG: "grid"})]
    assert made["gridbt_actor_warmup_seconds"].calls == [
        ("set", 0.5, {JOB_TAG: "grid", "actor": "0"}),
        ("set", 0.7, {JOB_TAG: "grid", "actor": "1"})]
    assert made["gridbt_chain_bytes"].calls == [("set", 100, {JOB_TAG: "grid"})]
    assert made["gridbt_study_trials"].calls == [
        ("set", 4, {JOB_TAG: "grid", "state": "complete"}),
        ("set", 1, {JOB_TAG: "grid", "state": "fail"})]
    assert made["gridbt_study_best_value"].calls == [("set", 1.25, {JOB_TAG: "grid"})]
