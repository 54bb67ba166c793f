"""The one scheduler of sweeps and studies: tasks out to actors, outcomes back, one failure rule.

A task is one call of a `BacktestActor` method on a batch of parameter rows. The scheduler
keeps every live actor busy with at most `ray.max_in_flight` tasks, and:

- a task that raises is sent again, to any live actor;
- a task whose actor dies is sent again too, alone on an actor: an actor dies with every task
  it holds, and only the one it ran when it died may have killed it. A task that dies with an
  actor while alone on it counts as a failed attempt; one killed from outside (the actor's
  process killed, its node lost) loses no attempt unless it was running alone;
- a task that has not answered within `ray.batch_timeout` seconds is presumed lost: its actor
  is set aside until it answers a ping, and the task is sent again elsewhere (whichever copy
  lands first is kept);
- a task that fails `ray.max_attempts` times ends as a `Failure` holding the last error, and
  the rest goes on. The caller records it: a sweep writes the batch to `failures/`, a study
  marks the trials whose rows were in it as failed.

A lost actor (dead, restarting, or set aside) is pinged, less often as time goes on, until it
answers; Ray restarts a dead one meanwhile (actors have `max_restarts=-1`), and the ping's
answer means it has the chain again and is warm. One that has not answered within
`ray.restart_timeout` seconds is killed and a new actor started in its place, which is given as
long again. The scheduler stops only when no actor can be had: no actor answers, and every one
started in the place of a silent one has been silent for `ray.restart_timeout` too
(`ClusterError`). Tasks come from a source (`run`, the sweep's lazy grid) or are handed over in
rounds (`submit` now, `gather` later, a study's folds).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from gridbt._stages import stage
from gridbt._typing import FloatArray
from gridbt.runtime.cluster import ClusterError
from gridbt.runtime.config import RayConfig
from gridbt.runtime.metrics import JobMetrics
from gridbt.runtime.pool import ActorPool
from gridbt.runtime.wire import to_wire

__all__ = ["Failure", "Scheduler", "Task", "TaskSource"]

_WAIT_SECONDS = 0.5
#: seconds between the pings of a lost actor: a restart takes a second or more on one machine,
#: far longer when its node is lost and a new one must join
_PING_BACKOFF = (0.2, 0.5, 1.0, 2.0)


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
    alone: bool = field(default=False, repr=False)  # lost with an actor: next runs alone

    def __len__(self) -> int:
        return int(self.params.shape[0])


class TaskSource(Protocol):
    """Hands out tasks as actors free up (the sweep's grid, cut into batches as it goes)."""

    def next_task(self, actor: int) -> Task | None:
        """The next task for actor `actor` (an index into the pool; the source may keep work
        together on one actor), or None when there is nothing more."""


@dataclass
class _Down:
    """A lost actor: since when it is waited for, and whether it already replaces one."""

    since: float
    replaced: bool = False
    next_ping: float = 0.0
    pings: int = 0


class Scheduler:
    """Feeds a pool's actors with tasks, retries lost and failed ones, reports outcomes.

    `on_done(task)` is called once per task, when its outcome is known (in landing order);
    `tick()` once per turn of the loop. `metrics` records each outcome (rows done or failed,
    the batch's seconds) and the batches in flight.
    """

    def __init__(self, pool: ActorPool, cfg: RayConfig,
                 on_done: Callable[[Task], None] | None = None,
                 tick: Callable[[], None] | None = None,
                 metrics: JobMetrics | None = None):
        n = len(pool.handles)
        self.pool, self.cfg = pool, cfg
        self.on_done, self.tick = on_done, tick
        self.metrics = metrics
        self.queue: collections.deque[Task] = collections.deque()  # sent before the source's
        self.in_flight: dict[Any, Task] = {}
        self.load = [0] * n  # slots taken: a task running alone takes them all
        self.healthy = [True] * n
        self.down: list[_Down | None] = [None] * n
        self.pings: dict[Any, int] = {}  # ping -> actor
        self.last_error = ""

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

        def next_task(actor: int) -> Task | None:
            task = None if state["exhausted"] else source.next_task(actor)
            state["exhausted"] = task is None
            return task

        self._drive(next_task, lambda: state["exhausted"] and not self.queue
                    and not self.in_flight)

    # ------------------------------------------------------------------ the loop
    def _drive(self, source: Callable[[int], Task | None] | None,
               finished: Callable[[], bool]) -> None:
        import ray

        while True:
            if self.tick is not None:
                self.tick()
            self._send(source)
            if self.metrics is not None:
                self.metrics.in_flight(len(self.in_flight))
            if finished():
                return
            self._tend()
            waiting = list(self.in_flight) + list(self.pings)
            wait = _PING_BACKOFF[0] if any(d is not None for d in self.down) else _WAIT_SECONDS
            if not waiting:
                time.sleep(wait)
                continue
            ready, _ = ray.wait(waiting, num_returns=1, timeout=wait)
            if ready:
                more, _ = ray.wait(waiting, num_returns=len(waiting), timeout=0)
                ready = list({r: None for r in (*ready, *more)})
            for ref in ready:
                if ref in self.pings:
                    self._pinged(ref)
                elif ref in self.in_flight:
                    self._landed(ref)
            self._expire()

    def _send(self, source: Callable[[int], Task | None] | None) -> None:
        """Fill every live actor's free slots: retried and submitted tasks first, a task that
        must run alone only on an idle actor."""
        for a in range(len(self.pool.handles)):
            while self.healthy[a] and self.load[a] < self.cfg.max_in_flight:
                task = self._next_for(a, source)
                if task is None:
                    break
                task.sent_at, task.actor = time.monotonic(), a
                ref = self.pool.call(a, task.method, to_wire(task.params), *task.args)
                self.in_flight[ref] = task
                self.load[a] += self._slots(task)

    def _next_for(self, a: int, source: Callable[[int], Task | None] | None) -> Task | None:
        for i, task in enumerate(self.queue):
            if not task.alone or self.load[a] == 0:
                del self.queue[i]
                return task
        return source(a) if source else None

    def _slots(self, task: Task) -> int:
        return self.cfg.max_in_flight if task.alone else 1

    def _finish(self, task: Task, outcome: Any) -> None:
        task.outcome, task.done = outcome, True
        if self.metrics is not None:
            if isinstance(outcome, Failure):
                self.metrics.failure(len(task))
            else:
                self.metrics.batch(len(task), time.monotonic() - task.sent_at)
        if self.on_done is not None:
            self.on_done(task)

    def _landed(self, ref: Any) -> None:
        import ray

        task = self.in_flight.pop(ref)
        self.load[task.actor] = max(0, self.load[task.actor] - self._slots(task))
        try:
            result = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            self._retry(task, f"{type(exc.cause).__name__}: {exc.cause}")
            return
        except (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError) as exc:
            error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            self._actor_lost(task.actor, error)
            self._lost_with_actor(task, error)
            return
        if not task.done:  # else a copy sent after a timeout landed first
            self._finish(task, result)

    def _lost_with_actor(self, task: Task, error: str) -> None:
        """A task gone with its actor counts as an attempt only if it ran alone there."""
        if task.alone:
            self._retry(task, error)
        elif not task.done:
            task.alone = True
            self.queue.appendleft(task)

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
                self.load[task.actor] = max(0, self.load[task.actor] - self._slots(task))
                error = f"no answer within {self.cfg.batch_timeout:.0f} s"
                self._actor_lost(task.actor, error)
                self._retry(task, error)

    # ------------------------------------------------------------------ actor health
    def _actor_lost(self, a: int, error: str) -> None:
        """Set actor `a` aside until it answers a ping (Ray restarts a dead actor meanwhile)."""
        self.last_error = error
        if self.healthy[a]:
            self.healthy[a] = False
            self.down[a] = _Down(since=time.monotonic())
            stage("actor %d of %d lost (%s); waiting for it to come back", a + 1,
                  len(self.healthy), error)

    def _tend(self) -> None:
        """Ping the lost actors when due; start a new actor in the place of one that has not
        come back within `ray.restart_timeout`; stop when no actor can be had."""
        now = time.monotonic()
        timeout = self.cfg.restart_timeout
        pinged = set(self.pings.values())
        for a, down in enumerate(self.down):
            if down is None:
                continue
            if now - down.since > timeout and not down.replaced:
                self._replace(a, now)
            elif a not in pinged and now >= down.next_ping:
                self.pings[self.pool.call(a, "ready")] = a
        if not any(self.healthy) and all(
                d is not None and d.replaced and now - d.since > timeout for d in self.down):
            raise ClusterError(
                f"no backtest actor could be had: none came back within {timeout:.0f} s "
                f"(ray.restart_timeout), nor did the new ones started in their place; last "
                f"error: {self.last_error}")

    def _replace(self, a: int, now: float) -> None:
        stage("actor %d of %d did not come back within %.0f s (ray.restart_timeout); starting "
              "a new one in its place", a + 1, len(self.healthy), self.cfg.restart_timeout)
        for ref in [r for r, b in self.pings.items() if b == a]:
            del self.pings[ref]
        for ref, task in list(self.in_flight.items()):  # they go with the old actor
            if task.actor == a:
                del self.in_flight[ref]
                self._lost_with_actor(task, f"actor {a + 1} replaced: {self.last_error}")
        self.load[a] = 0
        self.pool.replace(a)
        self.down[a] = _Down(since=now, replaced=True, next_ping=now)

    def _pinged(self, ref: Any) -> None:
        import ray

        a = self.pings.pop(ref)
        down = self.down[a]
        if down is None:
            return
        try:
            ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # up, but cannot work (the chain, the kernels)
            self.last_error = f"{type(exc.cause).__name__}: {exc.cause}".splitlines()[0]
        except Exception as exc:  # restarting, waiting for resources, or dead: ask again later
            self.last_error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        else:
            self.down[a] = None
            self.healthy[a] = True
            self.load[a] = sum(self._slots(t) for t in self.in_flight.values() if t.actor == a)
            return
        down.pings += 1
        down.next_ping = time.monotonic() + _PING_BACKOFF[min(down.pings, len(_PING_BACKOFF)) - 1]

