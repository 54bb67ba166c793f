"""The sweep driver: chain into the object store once, batches out to actors, results to disk.

Combinations are expanded lazily and cut into batches sized to take about `ray.batch_seconds`
on an actor (measured as results come back). The runtime's scheduler (`gridbt.runtime`) sends
them to the actors, at most `ray.max_in_flight` each, with its retries and timeouts; a batch
that fails `ray.max_attempts` times is recorded in `failures/` and the sweep goes on, and
every other combination has exactly one result.

The driver shares the machine with the actors, so its per-batch work is kept small and off
the path that feeds them: a batch is a slice of the current grid block (8,192 cells), hashed
as it is cut, and its Parquet part is built and written by a writer thread while the driver
hands out the next batch. Near the end of the grid, batches shrink so the actors finish
together.
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from gridbt._errors import environment_failure, failure_text
from gridbt._inputs import check_chain_days
from gridbt._lock import lock_directory
from gridbt._stages import seconds_since, stage
from gridbt._status import write_status as write_status_json
from gridbt._supervise import note_status
from gridbt._typing import FloatArray, IntArray, PathLike
from gridbt.data.features import FEATURE_NAMES
from gridbt.runtime import (
    ActorPool,
    BacktestActor,
    BatchResult,
    Failure,
    JobMetrics,
    RayConfig,
    Scheduler,
    Task,
    init_ray,
    progress_bar,
)
from gridbt.strategy.encode import STANDARD_FEATURES
from gridbt.sweep.grid import Block, Grid, param_hashes
from gridbt.sweep.manifest import (
    MANIFEST_NAME,
    SweepManifest,
    grid_signature,
    read_manifest,
    write_manifest,
)
from gridbt.sweep.results import ResultStore, equity_table, result_table, value_types
from gridbt.sweep.spec import (
    LARGE_GRID,
    SweepError,
    SweepSpec,
    check_actors,
    check_job_paths,
    cpu_time,
    load_sweep,
)

__all__ = ["RESUME", "SweepOutcome", "record_failure", "run_sweep", "write_status"]


@dataclass
class _Batch:
    """What the driver keeps of a batch it sent: ids, hashes and grid values of its rows."""

    combo: IntArray
    hashes: list[str]
    values: dict[str, np.ndarray]


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
#: what to do after an environment failure: the batches on disk stay
RESUME = "then run the same command with --resume (the results on disk are kept)"


class _Work:
    """The sweep's task source: fresh slices of grid blocks, cut into batches as actors free up.

    A batch is a slice (a view) of the current block, hashed when it is cut: the driver never
    copies or hashes more than the batch it is about to send, so its per-batch work stays
    small next to the actors' and does not grow with the grid.
    """

    def __init__(self, grid: Grid, done: set[str], total: int, cfg: RayConfig,
                 keep_equity: bool):
        self._blocks: Iterator[Block] = grid.blocks(_BLOCK_ROWS)
        self._grid = grid
        self.value_types = value_types(grid.path_levels())
        self._done = done
        self._block: Block | None = None
        self._pos = 0
        self.cfg = cfg
        self.keep_equity = keep_equity
        self.skipped = 0
        self.remaining = total  # fresh combinations not handed out yet (an estimate on resume)
        self.per_combo = 0.0  # measured actor seconds per combination
        self.live_actors: Callable[[], int] = lambda: 1

    def batch_size(self) -> int:
        if self.per_combo <= 0:
            return 8  # first batches measure the speed
        size = max(1, min(int(self.cfg.batch_seconds / self.per_combo), 50_000))
        # near the end, cut what is left evenly over every slot so the actors finish together
        # instead of one computing a last full batch while the others idle (down to a tenth
        # of the target batch, which keeps per-call overhead small)
        slots = max(1, self.live_actors()) * self.cfg.max_in_flight
        tail = -(-self.remaining // slots)
        return max(1, min(size, max(tail, size // 10)))

    def measured(self, n: int, seconds: float) -> None:
        rate = seconds / max(n, 1)
        self.per_combo = rate if self.per_combo == 0 else 0.7 * self.per_combo + 0.3 * rate

    def next_task(self) -> Task | None:
        """The next batch as an actor task, or None when the grid is done."""
        cut = self._next(self.batch_size())
        if cut is None:
            return None
        batch, params = cut
        return Task("run", params, (self.keep_equity,), tag=batch)

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

    def _next(self, size: int) -> tuple[_Batch, FloatArray] | None:
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
        return _Batch(head.combo, hashes, self._grid.values(head.levels)), head.params


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
    return equity_table({"param_hash": pa.array(batch.hashes, type=pa.string()),
                         "combo": pa.array(batch.combo, type=pa.int64())}, equity)


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
    verbose: bool = False,
) -> SweepOutcome:
    """Run (or resume) the sweep in `sweep_file`; see the module docstring for scheduling.

    Everything in the file is checked before Ray starts or the chain is read; then the output
    directory is locked for this process until it exits (`gridbt._lock`): a run already there
    in another process refuses this one (`DirectoryLocked`, naming it). `finish` runs
    the post-grid steps (equity of the top combinations, overfitting statistics); set it False
    to stop after the grid. Each step is reported as a stage line (`gridbt._stages`);
    `verbose` lets Ray say everything it has to say (`init_ray`).
    """
    started = time.perf_counter()
    stage("checking %s", sweep_file)
    check_actors(actors)
    sweep, base = load_sweep(sweep_file)
    source = str(sweep_file)
    if sweep.combinations > LARGE_GRID:
        stage("%s: a large grid: %s combinations before constraints, %s", source,
              f"{sweep.combinations:,}", cpu_time(sweep.combinations))
    grid = Grid(sweep, base, STANDARD_FEATURES, source)
    out_dir = check_job_paths(sweep, source, out, workdir)
    lock_directory(out_dir)  # one run at a time in a directory, until this process exits
    stage("results go to %s", out_dir.resolve())
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
    stage("%s: %s valid combinations of %s in %.2f s", source, f"{valid:,}", f"{grid.size:,}",
          seconds_since(started))

    from gridbt.data.default import load_packed

    loading = time.perf_counter()
    stage("loading the chain %s", sweep.data or "(the default chain)")
    packed = load_packed(sweep.data)
    if packed.feature_names != FEATURE_NAMES:
        raise SweepError(f"{sweep.data}: chain features {packed.feature_names} are not "
                         f"gridbt's {FEATURE_NAMES}; re-pack the chain")
    stage("chain loaded in %.2f s: %s days, %s quotes", seconds_since(loading),
          f"{packed.n_days:,}", f"{packed.n_quotes:,}")
    check_chain_days(packed.n_days, sweep.pbo_blocks + 1, sweep.data or "the default chain",
                     f"{source} (pbo_blocks: {sweep.pbo_blocks} time blocks of daily returns)")
    fingerprint = packed.fingerprint
    done = store.done_hashes(fingerprint) if resume else set()

    manifest = SweepManifest.start(sweep, base, source, out_dir, fingerprint, signature,
                                   grid.size, valid, previous, len(done))
    write_manifest(out_dir, manifest)
    note_status(out_dir / MANIFEST_NAME)
    try:
        init_ray(address or sweep.ray.address, dashboard=sweep.ray.dashboard, verbose=verbose)
        pool = ActorPool(packed, grid.base_vector, sweep.pbo_blocks, sweep.ray, actors,
                         actor_cls)
        packed = pool.packed  # the driver keeps only the shared, zero-copy view
        try:
            outcome, manifest = _run_grid(sweep, grid, store, manifest, pool, done, progress,
                                          on_batch)
            if finish and not outcome.interrupted:
                manifest = _finish(sweep, grid, store, manifest, pool, packed, outcome)
        finally:
            pool.close()
    except BaseException as exc:
        raise record_failure(out_dir, exc, f"the sweep in {out_dir}") from None
    outcome.manifest = manifest
    return outcome


def _finish(sweep: SweepSpec, grid: Grid, store: ResultStore, manifest: SweepManifest,
            pool: ActorPool, packed: Any, outcome: SweepOutcome) -> SweepManifest:
    """The post-grid steps; a Ctrl-C leaves the grid whole (`--resume` finishes)."""
    from gridbt.sweep.finish import finish_sweep

    finishing = time.perf_counter()
    stage("finishing: equity of the top combinations, deflated Sharpe, PBO")
    try:
        manifest = finish_sweep(sweep, grid, store, manifest, pool, packed)
        write_manifest(store.root, manifest)
        stage("finished in %.2f s", seconds_since(finishing))
    except KeyboardInterrupt:  # the grid is kept whole; --resume finishes the rest
        outcome.interrupted = True
    except OSError as exc:
        raise environment_failure(exc, f"finishing the sweep in {store.root}", RESUME) \
            or exc from exc
    return manifest


def record_failure(out_dir: Path, error: BaseException, what: str) -> BaseException:
    """Mark `sweep.json` failed with `error` (interrupted for a Ctrl-C) unless it already
    says so, and return the error to raise: an environment failure worded for the user (exit
    3), else `error` itself."""
    raised = error if isinstance(error, KeyboardInterrupt) else \
        environment_failure(error, what, RESUME) or error
    manifest = read_manifest(out_dir)
    if manifest is not None and manifest.status not in ("failed", "interrupted"):
        write_status(out_dir, manifest.ended("interrupted") if isinstance(
            error, KeyboardInterrupt) else manifest.ended("failed", failure_text(raised)))
    return raised


def write_status(out_dir: Path, manifest: SweepManifest) -> None:
    """Write the manifest of a run that ended badly (in place on a full disk), or say that the
    status could not be recorded."""
    try:
        write_status_json(out_dir / MANIFEST_NAME, asdict(manifest))
    except OSError as exc:
        stage("could not record status %r in %s: %s", manifest.status, out_dir, exc)


def _run_grid(sweep: SweepSpec, grid: Grid, store: ResultStore, manifest: SweepManifest,
              pool: ActorPool, done: set[str], progress: bool,
              on_batch: Callable[[int], None] | None) -> tuple[SweepOutcome, SweepManifest]:
    """Every combination not `done` through the actors; the grid's part of the manifest."""
    valid = manifest.valid_combinations
    started = time.perf_counter()  # throughput clock: actors are up and compiled
    work = _Work(grid, done, valid, sweep.ray, sweep.keep_equity == "all")
    stage("running %s combinations on %d actors", f"{valid - len(done):,}", pool.size)
    bar = progress_bar(valid - len(done), progress)
    recorder = _Recorder(store, manifest.data_fingerprint, work, on_batch, bar)
    metrics = JobMetrics(sweep.name)  # per batch, in the scheduler (gridbt.runtime.metrics)
    metrics.planned(valid - len(done))
    metrics.actors(pool.ready_info)
    scheduler = Scheduler(pool, sweep.ray, on_done=recorder.done, tick=recorder.tick,
                          metrics=metrics)
    work.live_actors = lambda: scheduler.live_actors
    interrupted = False
    failure: BaseException | None = None
    try:
        try:
            scheduler.run(work)
        except BaseException:  # Ctrl-C or an error: what landed is still written, then raise
            recorder.writer.close()
            raise
        recorder.close()
    except KeyboardInterrupt:
        interrupted = True
    except Exception as exc:
        failure = exc
    finally:
        metrics.idle()
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - started
    if failure is not None:  # what is on disk is counted, and the error recorded
        raised = environment_failure(failure, f"the sweep in {store.root}", RESUME) or failure
        stage("grid failed: %s combinations written in %.2f s", f"{recorder.on_disk:,}",
              seconds)
        write_status(store.root, manifest.finished(
            "failed", recorder.on_disk, recorder.failed, seconds, failure_text(raised)))
        raise raised
    stage("grid %s: %s combinations in %.2f s", "interrupted" if interrupted else "done",
          f"{recorder.computed:,}", seconds)
    outcome = SweepOutcome(
        out_dir=store.root, valid=valid, already_done=work.skipped, computed=recorder.computed,
        failed=recorder.failed, interrupted=interrupted, seconds=seconds, actors=pool.size,
    )
    status = "interrupted" if interrupted else "grid-done"
    manifest = manifest.finished(status, recorder.computed, recorder.failed, seconds)
    write_manifest(store.root, manifest)
    return outcome, manifest


class _Recorder:
    """Records each batch as it lands: its results (or failure) part on the writer thread,
    the progress bar and the speed the next batches are sized by."""

    def __init__(self, store: ResultStore, fingerprint: str, work: _Work,
                 on_batch: Callable[[int], None] | None, bar: Any):
        self.store, self.fingerprint, self.work = store, fingerprint, work
        self.on_batch, self.bar = on_batch, bar
        self.writer = _Writer()
        self.computed = 0
        self.written = 0  # combinations whose results are on disk
        self.failed = 0

    def done(self, task: Task) -> None:
        batch: _Batch = task.tag
        if isinstance(task.outcome, Failure):
            self._failed(batch, task.outcome)
            return
        result: BatchResult = task.outcome
        self._write(batch, result)
        n = len(batch.combo)
        self.work.measured(n, result.seconds)
        if not self.computed:
            stage("first result: %d combinations in %.3f s on an actor", n, result.seconds)
        self.computed += n
        if self.bar is not None:
            self.bar.update(n)
        if self.on_batch is not None:
            self.writer.flush()  # the hook is told as soon as the batch is on disk
            self.tick()

    def tick(self) -> None:
        """Surface a write error; tell `on_batch` about batches now on disk (it may read them)."""
        self.writer.check()
        while self.writer.written:
            n = self.writer.written.popleft()  # 0: a failure part
            self.written += n
            if n and self.on_batch is not None:
                self.on_batch(self.written)

    def _write(self, batch: _Batch, result: BatchResult) -> None:
        """Queue the batch's part for the writer thread (tables are built there too)."""
        store, fingerprint, types = self.store, self.fingerprint, self.work.value_types

        def job() -> int:
            equity = None if result.equity is None else _equity_table(batch, result.equity)
            table = result_table(batch.combo, batch.hashes, batch.values, result, fingerprint,
                                 types)
            try:
                store.write_batch(table, equity)
            except OSError as exc:
                raise environment_failure(exc, f"writing results to {store.results_dir}",
                                          RESUME) or exc from exc
            return len(batch.combo)

        self.writer.put(job)

    def _failed(self, batch: _Batch, failure: Failure) -> None:
        store = self.store

        def job() -> int:
            try:
                store.write_failure(batch.combo, batch.hashes, failure.error, failure.attempts)
            except OSError as exc:
                raise environment_failure(exc, f"writing failures to {store.root}",
                                          RESUME) or exc from exc
            return 0

        self.writer.put(job)
        self.failed += len(batch.combo)
        if self.bar is not None:
            self.bar.set_postfix(failed=self.failed, refresh=False)

    def close(self) -> None:
        """Wait until every queued part is on disk; then a last `on_batch`."""
        self.writer.close()
        self.tick()

    @property
    def on_disk(self) -> int:
        """Combinations whose results are on disk (after the writer has stopped)."""
        return self.written + sum(self.writer.written)
