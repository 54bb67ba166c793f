"""The one scheduler of sweeps and studies: tasks out to actors, outcomes back, one failure rule.

A task is one call of a `BacktestActor` method on a batch of parameter rows. The scheduler
keeps every live actor busy with at most `ray.max_in_flight` tasks, and:

- a task that raises, or whose actor dies, is sent again (to any live actor);
- a task that has not answered within `ray.batch_timeout` seconds is presumed lost: its actor
  is set aside until it answers a ping, and the task is sent again elsewhere (whichever copy
  lands first is kept);
- a task that fails `ray.max_attempts` times ends as a `Failure` holding the last error, and
  the rest goes on. The caller records it: a sweep writes the batch to `failures/`, a study
  marks the trials whose rows were in it as failed.

The scheduler stops only when no actor is left: none live for `ray.batch_timeout` seconds, or
every actor failed its pings (`ClusterError`). Tasks come from a source (`run`, the sweep's
lazy grid) or are handed over in rounds (`submit` now, `gather` later, a study's folds).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from gridbt._typing import FloatArray
from gridbt.runtime.cluster import ClusterError
from gridbt.runtime.config import RayConfig
from gridbt.runtime.pool import ActorPool

__all__ = ["Failure", "Scheduler", "Task", "TaskSource"]

_MAX_PING_FAILURES = 5
_WAIT_SECONDS = 0.5


@dataclass(frozen=True)
class Failure:
    """The outcome of a task that failed on every attempt."""

    error: str
    attempts: int


@dataclass(eq=False)
class Task:
    """One call `method(params, *args)` on an actor; `tag` is the caller's own data."""

    method: str
    params: FloatArray
    args: tuple[Any, ...] = ()
    tag: Any = None
    attempts: int = 0
    outcome: Any = None  # the method's result, or a Failure
    done: bool = False
    sent_at: float = field(default=0.0, repr=False)
    actor: int = field(default=-1, repr=False)

    def __len__(self) -> int:
        return int(self.params.shape[0])


class TaskSource(Protocol):
    """Hands out tasks as actors free up (the sweep's grid, cut into batches as it goes)."""

    def next_task(self) -> Task | None:
        """The next task, or None when there is nothing more."""


class Scheduler:
    """Feeds a pool's actors with tasks, retries lost and failed ones, reports outcomes.

    `on_done(task)` is called once per task, when its outcome is known (in landing order);
    `tick()` once per turn of the loop.
    """

    def __init__(self, pool: ActorPool, cfg: RayConfig,
                 on_done: Callable[[Task], None] | None = None,
                 tick: Callable[[], None] | None = None):
        n = len(pool.handles)
        self.pool, self.cfg = pool, cfg
        self.on_done, self.tick = on_done, tick
        self.queue: collections.deque[Task] = collections.deque()  # sent before the source's
        self.in_flight: dict[Any, Task] = {}
        self.load = [0] * n
        self.healthy = [True] * n
        self.pings: dict[Any, int] = {}
        self.ping_failures = [0] * n
        self._last_live = time.monotonic()

    @property
    def live_actors(self) -> int:
        return sum(self.healthy)

    # ------------------------------------------------------------------ entry points
    def submit(self, tasks: Iterable[Task]) -> list[Task]:
        """Queue `tasks` and send as many as the actors have room for; `gather` them later."""
        queued = list(tasks)
        self.queue.extend(queued)
        self._send(None)
        return queued

    def gather(self, tasks: Sequence[Task]) -> list[Any]:
        """Drive the actors until every task in `tasks` is done; their outcomes, in order."""
        self._drive(None, lambda: all(t.done for t in tasks))
        return [t.outcome for t in tasks]

    def map(self, tasks: Iterable[Task]) -> list[Any]:
        """`gather(submit(tasks))`."""
        return self.gather(self.submit(tasks))

    def run(self, source: TaskSource) -> None:
        """Drive the actors until `source` is exhausted and every task it gave is done."""
        state = {"exhausted": False}

        def next_task() -> Task | None:
            task = None if state["exhausted"] else source.next_task()
            state["exhausted"] = task is None
            return task

        self._drive(next_task, lambda: state["exhausted"] and not self.queue
                    and not self.in_flight)

    # ------------------------------------------------------------------ the loop
    def _drive(self, source: Callable[[], Task | None] | None,
               finished: Callable[[], bool]) -> None:
        import ray

        while True:
            if self.tick is not None:
                self.tick()
            self._send(source)
            if finished():
                return
            waiting = list(self.in_flight) + list(self.pings)
            if not waiting:
                self._stalled()
                time.sleep(0.2)
                continue
            ready, _ = ray.wait(waiting, num_returns=1, timeout=_WAIT_SECONDS)
            if ready:
                more, _ = ray.wait(waiting, num_returns=len(waiting), timeout=0)
                ready = list({r: None for r in (*ready, *more)})
            for ref in ready:
                if ref in self.pings:
                    self._pinged(ref)
                else:
                    self._landed(ref)
            self._expire()

    def _send(self, source: Callable[[], Task | None] | None) -> None:
        """Fill every live actor's free slots: retried and submitted tasks first."""
        for a in range(len(self.pool.handles)):
            while self.healthy[a] and self.load[a] < self.cfg.max_in_flight:
                task = self.queue.popleft() if self.queue else (source() if source else None)
                if task is None:
                    return
                task.sent_at, task.actor = time.monotonic(), a
                ref = self.pool.call(a, task.method, task.params, *task.args)
                self.in_flight[ref] = task
                self.load[a] += 1

    def _finish(self, task: Task, outcome: Any) -> None:
        task.outcome, task.done = outcome, True
        if self.on_done is not None:
            self.on_done(task)

    def _landed(self, ref: Any) -> None:
        import ray

        task = self.in_flight.pop(ref)
        self.load[task.actor] = max(0, self.load[task.actor] - 1)
        try:
            result = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            self._retry(task, f"{type(exc.cause).__name__}: {exc.cause}")
            return
        except (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError) as exc:
            self._actor_lost(task.actor)
            self._retry(task, f"{type(exc).__name__}: {exc}".splitlines()[0])
            return
        if not task.done:  # else a copy sent after a timeout landed first
            self._finish(task, result)

    def _retry(self, task: Task, error: str) -> None:
        if task.done:
            return
        task.attempts += 1
        if task.attempts >= self.cfg.max_attempts:
            self._finish(task, Failure(error, task.attempts))
        else:
            self.queue.append(task)

    def _expire(self) -> None:
        now = time.monotonic()
        for ref, task in list(self.in_flight.items()):
            if now - task.sent_at > self.cfg.batch_timeout:
                del self.in_flight[ref]
                self.load[task.actor] = max(0, self.load[task.actor] - 1)
                self._actor_lost(task.actor)
                self._retry(task, f"no answer within {self.cfg.batch_timeout:.0f} s")

    # ------------------------------------------------------------------ actor health
    def _actor_lost(self, a: int) -> None:
        if self.healthy[a]:
            self.healthy[a] = False
            self.pings[self.pool.call(a, "ready")] = a

    def _stalled(self) -> None:
        if any(self.healthy):
            self._last_live = time.monotonic()
        elif time.monotonic() - self._last_live > self.cfg.batch_timeout:
            raise ClusterError(f"no live actor for {self.cfg.batch_timeout:.0f} s; stopping")
        for a, ok in enumerate(self.healthy):
            if not ok and a not in self.pings.values() and \
                    self.ping_failures[a] < _MAX_PING_FAILURES:
                self.pings[self.pool.call(a, "ready")] = a

    def _pinged(self, ref: Any) -> None:
        import ray

        a = self.pings.pop(ref)
        try:
            ray.get(ref)
        except Exception as exc:  # restarting, or unable to restart: ask again, a few times
            self.ping_failures[a] += 1
            if self.ping_failures[a] < _MAX_PING_FAILURES:
                time.sleep(0.2)
                self.pings[self.pool.call(a, "ready")] = a
            elif all(f >= _MAX_PING_FAILURES for f in self.ping_failures):
                raise ClusterError(f"every backtest actor is gone; last error: {exc}") from None
            return
        self.ping_failures[a] = 0
        self.healthy[a] = True
        self.load[a] = sum(1 for t in self.in_flight.values() if t.actor == a)
