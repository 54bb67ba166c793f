"""The sweep driver: chain into the object store once, batches out to actors, results to disk.

Scheduling: combinations are expanded lazily and cut into batches sized to take about
`ray.batch_seconds` on an actor (measured as results come back), at most `ray.max_in_flight`
per actor. A batch whose actor dies, or which raises, goes back to the queue; after
`ray.max_attempts` tries it is recorded in `failures/` and the sweep goes on. A batch that has
not answered within `ray.batch_timeout` seconds is sent again elsewhere; whichever copy lands
first is kept, so every combination has exactly one result.

The driver shares the machine with the actors, so its per-batch work is kept small and off
the path that feeds them: a batch is a slice of the current grid block (8,192 cells), hashed
as it is cut, and its Parquet part is built and written by a writer thread while the driver
hands out the next batch. Near the end of the grid, batches shrink so the actors finish
together.
"""

from __future__ import annotations

import collections
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from gridbt._typing import FloatArray, IntArray, PathLike
from gridbt.data.features import FEATURE_NAMES
from gridbt.sweep.actor import BacktestActor
from gridbt.sweep.grid import Block, Grid, param_hashes
from gridbt.sweep.manifest import SweepManifest, grid_signature, read_manifest, write_manifest
from gridbt.sweep.metrics import SweepMetrics
from gridbt.sweep.results import BatchResult, ResultStore, result_table, value_types
from gridbt.sweep.spec import SweepError, SweepSpec, load_sweep

__all__ = ["SweepOutcome", "progress_bar", "run_sweep", "start_actors"]


@dataclass
class _Batch:
    seq: int
    combo: IntArray
    params: FloatArray
    hashes: list[str]
    values: dict[str, np.ndarray]
    attempts: int = 0
    sent_at: float = 0.0
    actor: int = -1

    def __len__(self) -> int:
        return len(self.combo)


@dataclass
class SweepOutcome:
    """What a sweep did: where its results are and how many combinations it computed."""

    out_dir: Path
    valid: int
    already_done: int
    computed: int
    failed: int
    interrupted: bool
    seconds: float
    actors: int
    manifest: SweepManifest | None = None
    extra: dict[str, Any] = field(default_factory=dict)


_BLOCK_ROWS = 1 << 13  # grid cells expanded at a time (a row is N_PARAMS floats, ~3.6 kB)


class _Work:
    """Lazy source of batches: re-queued batches first, then fresh slices of grid blocks.

    A batch is a slice (a view) of the current block, hashed when it is cut: the driver never
    copies or hashes more than the batch it is about to send, so its per-batch work stays
    small next to the actors' and does not grow with the grid.
    """

    def __init__(self, grid: Grid, done: set[str], total: int):
        self._blocks: Iterator[Block] = grid.blocks(_BLOCK_ROWS)
        self._grid = grid
        self.value_types = value_types(grid.path_levels())
        self._done = done
        self._block: Block | None = None
        self._pos = 0
        self.requeued: collections.deque[_Batch] = collections.deque()
        self.skipped = 0
        self.remaining = total  # fresh combinations not handed out yet (an estimate on resume)
        self._seq = 0

    def _current(self) -> Block | None:
        while self._block is None or self._pos >= len(self._block):
            block = next(self._blocks, None)
            self._block, self._pos = block, 0
            if block is None:
                return None
        return self._block

    def _slice(self, size: int) -> tuple[Block, list[str]] | None:
        """Up to `size` fresh combinations not already done, with their hashes."""
        block = self._current()
        if block is None:
            return None
        lo, hi = self._pos, min(self._pos + size, len(block))
        self._pos = hi
        part = Block(block.combo[lo:hi], block.levels[lo:hi], block.params[lo:hi])
        hashes = param_hashes(part.params)
        if self._done:
            keep = np.fromiter((h not in self._done for h in hashes), dtype=bool,
                               count=len(hashes))
            if not keep.all():
                self.skipped += int((~keep).sum())
                self.remaining -= int((~keep).sum())
                part = part.take(keep)
                hashes = [h for h, k in zip(hashes, keep, strict=True) if k]
        return part, hashes

    def next(self, size: int) -> _Batch | None:
        if self.requeued:
            return self.requeued.popleft()
        parts: list[tuple[Block, list[str]]] = []
        got = 0
        while got < size:  # on resume, slices thin out: gather until the batch is full
            piece = self._slice(size - got)
            if piece is None:
                break
            if len(piece[0]):
                parts.append(piece)
                got += len(piece[0])
        if not parts:
            return None
        if len(parts) == 1:
            head, hashes = parts[0]
        else:
            head = Block(np.concatenate([p.combo for p, _ in parts]),
                         np.concatenate([p.levels for p, _ in parts]),
                         np.concatenate([p.params for p, _ in parts]))
            hashes = [h for _, hs in parts for h in hs]
        self.remaining = max(0, self.remaining - len(head))
        self._seq += 1
        return _Batch(self._seq, head.combo, head.params, hashes, self._grid.values(head.levels))

    def exhausted(self) -> bool:
        return not self.requeued and self._current() is None


class _Writer:
    """Builds and writes result parts on one background thread, in the order they landed.

    Each part is still written atomically (temporary name, then rename), so a part on disk is
    always whole; `close` waits until every queued part is on disk, and an error in the thread
    is raised again in the scheduler's thread at its next call. `written` collects the sizes
    of the batches on disk, in order, for the scheduler to report.
    """

    def __init__(self, depth: int = 16):
        self._queue: queue.Queue[Callable[[], int] | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self.written: collections.deque[int] = collections.deque()
        self._thread = threading.Thread(target=self._loop, name="gridbt-sweep-writer",
                                        daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                if self._error is None:
                    self.written.append(job())
            except BaseException as exc:  # handed to the scheduler's thread
                self._error = exc
            finally:
                self._queue.task_done()

    def check(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def put(self, job: Callable[[], int]) -> None:
        self.check()
        self._queue.put(job)

    def flush(self) -> None:
        """Wait until every queued part is on disk; re-raise a write error."""
        self._queue.join()
        self.check()

    def close(self) -> None:
        """Wait for every queued part to be written; re-raise a write error."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self.check()


def _equity_table(batch: _Batch, equity: FloatArray) -> pa.Table:
    flat = pa.array(np.ascontiguousarray(equity).ravel())
    return pa.table({
        "param_hash": pa.array(batch.hashes, type=pa.string()),
        "combo": pa.array(batch.combo, type=pa.int64()),
        "equity": pa.FixedSizeListArray.from_arrays(flat, equity.shape[1]),
    })


def _ray_init(address: str | None) -> None:
    import ray

    if ray.is_initialized():
        return
    ray.init(address=address, ignore_reinit_error=True, log_to_driver=False,
             logging_level=logging.WARNING)


def run_sweep(
    sweep_file: PathLike,
    *,
    address: str | None = None,
    resume: bool = False,
    out: PathLike | None = None,
    actors: int | None = None,
    workdir: PathLike | None = None,
    progress: bool = True,
    actor_cls: type = BacktestActor,
    on_batch: Callable[[int], None] | None = None,
    finish: bool = True,
) -> SweepOutcome:
    """Run (or resume) the sweep in `sweep_file`; see the module docstring for scheduling.

    Everything in the file is checked before Ray starts or the chain is read. `finish` runs
    the post-grid steps (equity of the top combinations, overfitting statistics, heatmaps,
    MLflow); set it False to stop after the grid.
    """
    sweep, base = load_sweep(sweep_file)
    source = str(sweep_file)
    grid = Grid(sweep, base, _Features(), source)
    base_dir = Path(workdir) if workdir is not None else Path.cwd()
    out_dir = Path(out) if out is not None else sweep.resolved_out(base_dir)
    signature = grid_signature(sweep, base)
    store = ResultStore(out_dir)
    previous = read_manifest(out_dir)
    if store.has_results() or previous is not None:
        if not resume:
            raise SweepError(
                f"{out_dir}: holds results of an earlier sweep; pass --resume to continue it "
                "or choose another output directory"
            )
        if previous is not None and previous.grid_signature != signature:
            raise SweepError(
                f"{out_dir}: was written by a different sweep (grid or strategy changed); "
                "choose another output directory"
            )
    valid = grid.count()
    if valid == 0:
        raise SweepError(f"{source}: no combination satisfies the constraints")

    from gridbt.data.default import load_packed

    packed_local = load_packed(sweep.data)
    if packed_local.feature_names != FEATURE_NAMES:
        raise SweepError(f"{sweep.data}: chain features {packed_local.feature_names} are not "
                         f"gridbt's {FEATURE_NAMES}; re-pack the chain")
    fingerprint = packed_local.fingerprint
    done = store.done_hashes(fingerprint) if resume else set()

    import ray

    _ray_init(address or sweep.ray.address)
    chain_ref = ray.put(packed_local)
    del packed_local  # the driver keeps only the shared, zero-copy view below
    packed = ray.get(chain_ref)
    n_actors = actors or sweep.ray.actors or _cluster_cpus()

    manifest = SweepManifest.start(sweep, base, source, out_dir, fingerprint, signature,
                                   grid.size, valid, previous)
    write_manifest(out_dir, manifest)
    handles = start_actors(actor_cls, n_actors, chain_ref, grid.base_vector, sweep.pbo_blocks,
                           sweep.ray.batch_timeout)
    started = time.perf_counter()  # throughput clock: actors are up and compiled
    work = _Work(grid, done, valid)
    scheduler = _Scheduler(handles, sweep, store, fingerprint, work, on_batch)
    interrupted = False
    bar = progress_bar(valid - len(done), progress)
    scheduler.bar = bar
    try:
        scheduler.run()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - started
    outcome = SweepOutcome(
        out_dir=out_dir, valid=valid, already_done=work.skipped, computed=scheduler.computed,
        failed=scheduler.failed, interrupted=interrupted, seconds=seconds, actors=n_actors,
    )
    status = "interrupted" if interrupted else "grid-done"
    manifest = manifest.finished(status, scheduler.computed, scheduler.failed, seconds)
    write_manifest(out_dir, manifest)
    if finish and not interrupted:
        from gridbt.sweep.finish import finish_sweep

        try:
            manifest = finish_sweep(sweep, grid, store, manifest, handles[0], packed, source,
                                    base_dir)
            write_manifest(out_dir, manifest)
        except KeyboardInterrupt:  # the grid is complete and kept; --resume finishes the rest
            outcome.interrupted = True
    for handle in handles:
        ray.kill(handle)
    outcome.manifest = manifest
    return outcome


def start_actors(actor_cls: type, n_actors: int, chain_ref: Any, warmup: FloatArray,
                 n_blocks: int, timeout: float) -> list[Any]:
    """`n_actors` restartable backtest actors over the chain in `chain_ref`, spread over the
    nodes, each warmed up (compiled) and ready; fail fast with the actor's own error."""
    import ray

    remote_cls: Any = ray.remote(actor_cls).options(
        num_cpus=1, max_restarts=-1, max_task_retries=0, scheduling_strategy="SPREAD"
    )
    handles = [remote_cls.remote([chain_ref], warmup, n_blocks) for _ in range(n_actors)]
    _await_ready(handles, timeout)
    return handles


def _await_ready(handles: list[Any], timeout: float) -> None:
    """Fail fast, with the actor's own error, when actors cannot start (before any batch)."""
    import ray

    try:
        ray.get([h.ready.remote() for h in handles], timeout=timeout)
    except ray.exceptions.RayActorError as exc:
        for h in handles:
            ray.kill(h)
        raise SweepError(f"backtest actors could not start: {exc}") from None


def _cluster_cpus() -> int:
    import ray

    resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
    return max(1, int(resources.get("CPU", 1)))


class _Features:
    """Encoding needs only the feature names, which every packed chain shares."""

    feature_names = FEATURE_NAMES


def progress_bar(total: int, enabled: bool, unit: str = "combo") -> Any:
    """A tqdm bar on stderr, or None when disabled or there is nothing to do."""
    if not enabled or total <= 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, file=sys.stderr, mininterval=0.5, smoothing=0.1,
                dynamic_ncols=True)


_MAX_PING_FAILURES = 5


class _Scheduler:
    """Keeps every live actor busy, re-queues lost batches, writes results as they land."""

    def __init__(self, handles: list[Any], sweep: SweepSpec, store: ResultStore,
                 fingerprint: str, work: _Work, on_batch: Callable[[int], None] | None):
        self.handles = handles
        self.cfg = sweep.ray
        self.keep_all = sweep.keep_equity == "all"
        self.store = store
        self.fingerprint = fingerprint
        self.work = work
        self.on_batch = on_batch
        self.in_flight: dict[Any, _Batch] = {}
        self.load = [0] * len(handles)
        self.healthy = [True] * len(handles)
        self.pings: dict[Any, int] = {}
        self.ping_failures = [0] * len(handles)
        self.landed: set[int] = set()
        self.per_combo = 0.0  # measured seconds per combination
        self.computed = 0
        self.written = 0  # combinations whose results are on disk
        self.failed = 0
        self.bar: Any = None
        self.metrics = SweepMetrics()
        self.writer: _Writer | None = None
        self._last_live = time.monotonic()

    def _batch_size(self) -> int:
        if self.per_combo <= 0:
            return 8  # first batches measure the speed
        size = max(1, min(int(self.cfg.batch_seconds / self.per_combo), 50_000))
        # near the end, cut what is left evenly over every slot so the actors finish together
        # instead of one computing a last full batch while the others idle (down to a tenth
        # of the target batch, which keeps per-call overhead small)
        slots = max(1, sum(self.healthy)) * self.cfg.max_in_flight
        tail = -(-self.work.remaining // slots)
        return max(1, min(size, max(tail, size // 10)))

    def _submit(self) -> None:
        for a, handle in enumerate(self.handles):
            while self.healthy[a] and self.load[a] < self.cfg.max_in_flight:
                batch = self.work.next(self._batch_size())
                if batch is None:
                    return
                batch.sent_at, batch.actor = time.monotonic(), a
                ref = handle.run.remote(batch.params, self.keep_all)
                self.in_flight[ref] = batch
                self.load[a] += 1
        self.metrics.queue_depth(len(self.in_flight))

    def run(self) -> None:
        """Schedule until the grid is done; every landed batch is on disk when this returns."""
        self.writer = _Writer()
        try:
            self._run()
        except BaseException:  # Ctrl-C or an error: what landed is still written, then raise
            self.writer.close()
            raise
        self.writer.close()
        self._notify()

    def _notify(self) -> None:
        """Tell `on_batch` about batches now on disk (it may read them)."""
        assert self.writer is not None
        while self.writer.written:
            n = self.writer.written.popleft()  # 0: a failure part
            self.written += n
            if n and self.on_batch is not None:
                self.on_batch(self.written)

    def _run(self) -> None:
        import ray

        assert self.writer is not None
        while True:
            self.writer.check()
            self._notify()
            self._submit()
            if not self.in_flight and self.work.exhausted():
                return
            waiting = list(self.in_flight) + list(self.pings)
            if not waiting:
                self._stalled()
                time.sleep(0.2)
                continue
            ready, _ = ray.wait(waiting, num_returns=1, timeout=0.5)
            if ready:
                more, _ = ray.wait(waiting, num_returns=len(waiting), timeout=0)
                ready = list({r: None for r in (*ready, *more)})
            for ref in ready:
                if ref in self.pings:
                    self._pinged(ref)
                else:
                    self._landed(ref)
            self._expire()

    def _stalled(self) -> None:
        if any(self.healthy):
            self._last_live = time.monotonic()
        elif time.monotonic() - self._last_live > self.cfg.batch_timeout:
            raise SweepError(f"no live actor for {self.cfg.batch_timeout:.0f} s; stopping")
        for a, ok in enumerate(self.healthy):
            if not ok and a not in self.pings.values() and \
                    self.ping_failures[a] < _MAX_PING_FAILURES:
                self.pings[self.handles[a].ready.remote()] = a

    def _pinged(self, ref: Any) -> None:
        import ray

        a = self.pings.pop(ref)
        try:
            ray.get(ref)
        except Exception as exc:  # restarting, or unable to restart: ask again, a few times
            self.ping_failures[a] += 1
            if self.ping_failures[a] < _MAX_PING_FAILURES:
                time.sleep(0.2)
                self.pings[self.handles[a].ready.remote()] = a
            elif all(f >= _MAX_PING_FAILURES for f in self.ping_failures):
                raise SweepError(f"every backtest actor is gone; last error: {exc}") from None
            return
        self.ping_failures[a] = 0
        self.healthy[a] = True
        self.load[a] = sum(1 for b in self.in_flight.values() if b.actor == a)

    def _landed(self, ref: Any) -> None:
        import ray

        batch = self.in_flight.pop(ref)
        self.load[batch.actor] = max(0, self.load[batch.actor] - 1)
        try:
            result: BatchResult = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            self._retry(batch, f"{type(exc.cause).__name__}: {exc.cause}")
            return
        except (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError) as exc:
            self._actor_lost(batch.actor)
            self._retry(batch, f"{type(exc).__name__}: {exc}".splitlines()[0])
            return
        if batch.seq in self.landed:
            return  # a duplicate of a batch that was presumed lost and already written
        self.landed.add(batch.seq)
        self._write(batch, result)
        n = len(batch)
        rate = result.seconds / max(n, 1)
        self.per_combo = rate if self.per_combo == 0 else 0.7 * self.per_combo + 0.3 * rate
        self.computed += n
        self.metrics.batch(n, result.seconds)
        if self.bar is not None:
            self.bar.update(n)
        if self.on_batch is not None and self.writer is not None:
            self.writer.flush()  # the hook is told as soon as the batch is on disk
            self._notify()

    def _write(self, batch: _Batch, result: BatchResult) -> None:
        """Queue the batch's part for the writer thread (tables are built there too)."""
        store, fingerprint, types = self.store, self.fingerprint, self.work.value_types

        def job() -> int:
            equity = None if result.equity is None else _equity_table(batch, result.equity)
            table = result_table(batch.combo, batch.hashes, batch.values, result, fingerprint,
                                 types)
            store.write_batch(table, equity)
            return len(batch)

        if self.writer is None:
            job()
        else:
            self.writer.put(job)

    def _actor_lost(self, a: int) -> None:
        if self.healthy[a]:
            self.healthy[a] = False
            self.pings[self.handles[a].ready.remote()] = a

    def _retry(self, batch: _Batch, error: str) -> None:
        batch.attempts += 1
        if batch.attempts >= self.cfg.max_attempts:
            store, attempts = self.store, batch.attempts

            def job() -> int:
                store.write_failure(batch.combo, batch.hashes, error, attempts)
                return 0

            if self.writer is None:
                job()
            else:
                self.writer.put(job)
            self.landed.add(batch.seq)
            self.failed += len(batch)
            self.metrics.failure(len(batch))
            if self.bar is not None:
                self.bar.set_postfix(failed=self.failed, refresh=False)
            return
        self.work.requeued.append(batch)

    def _expire(self) -> None:
        now = time.monotonic()
        for ref, batch in list(self.in_flight.items()):
            if now - batch.sent_at > self.cfg.batch_timeout and batch.seq not in self.landed:
                del self.in_flight[ref]
                self.load[batch.actor] = max(0, self.load[batch.actor] - 1)
                self._actor_lost(batch.actor)
                self._retry(batch, f"no answer within {self.cfg.batch_timeout:.0f} s")
