"""Figures drawn side by side in worker processes: a sweep's heatmaps and its kept runs' tear
sheets are a few hundred milliseconds of matplotlib each, which holds the GIL, so threads
would take turns; processes draw one figure per core.

The workers are spawned (never forked: the caller may hold Ray's and MLflow's threads) when the
first figure is drawn and live until `close`; they ignore Ctrl-C, which the caller handles
(closing the pool stops them). With one usable CPU, or `workers=1`, or where processes cannot
share a queue (no `/dev/shm`), figures are drawn in the calling process, in order.

A spawned worker imports the caller's main module again, as `multiprocessing` does: harmless
for the `gridbt` commands (which ask for workers) and for a script whose top-level code sits
under `if __name__ == "__main__":`, but a script without that guard would run again in each
worker. So the workflows draw in the calling process unless their caller asks for workers.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from types import TracebackType
from typing import Any

__all__ = ["Drawing", "usable_cpus"]

#: Most worker processes: each holds matplotlib and pandas, ~150 MB resident (~90 MB its own)
_MAX_WORKERS = 8


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, as `taskset` or a container sets it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class Drawing:
    """A pool of drawing processes. `draw(fn, *args)` runs `fn(*args)` (a module-level
    function that writes a file; its arguments are pickled) in a worker; `wait()` returns once
    every figure asked for is written, raising the first error one met."""

    def __init__(self, workers: int | None = None):
        self.workers = max(1, min(usable_cpus(), _MAX_WORKERS) if workers is None else workers)
        self._pool: ProcessPoolExecutor | None = None
        self._pending: list[Future[Any]] = []

    def draw(self, fn: Callable[..., object], *args: Any) -> None:
        if self.workers > 1 and self._pool is None:
            self._pool = self._start()
        if self._pool is None:
            fn(*args)
        else:
            self._pending.append(self._pool.submit(fn, *args))

    def _start(self) -> ProcessPoolExecutor | None:
        """The pool of workers, or None (and one worker: this process) where processes
        cannot share a queue."""
        import multiprocessing

        try:
            return ProcessPoolExecutor(self.workers, multiprocessing.get_context("spawn"),
                                       initializer=_ignore_interrupts)
        except (OSError, NotImplementedError):  # no process semaphores (no /dev/shm)
            self.workers = 1
            return None

    def wait(self) -> None:
        """Block until every figure asked for is drawn; raise the first error (in the order
        they were asked for)."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def close(self) -> None:
        """Stop the workers; figures not drawn yet are dropped."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._pending.clear()

    def __enter__(self) -> Drawing:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


def _ignore_interrupts() -> None:
    """A worker leaves Ctrl-C (sent to the whole process group) to its parent, which closes
    the pool: no traceback per worker."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
