"""The sweep driver: chain into the object store once, batches out to actors, results to disk.

Combinations are expanded lazily and cut into batches sized to take about `ray.batch_seconds`
on an actor (measured as results come back, per engine). A batch runs on one engine: with
`engine: auto`, whole entry groups on trade tables where the engine supports them, the rest on
the day kernel (`gridbt.sweep.groups`; the cutting is `_Work`'s). The runtime's scheduler
(`gridbt.runtime`) sends them to the actors, at most `ray.max_in_flight` each, with its
retries and timeouts; a batch that fails `ray.max_attempts` times is recorded in `failures/`
and the sweep goes on, and every other combination has exactly one result.

The driver shares the machine with the actors, so its per-batch work is kept small and off
the path that feeds them: a batch is views into the current grid block (8,192 cells, hashed
once), and its Parquet part is built and written by a writer thread while the driver
hands out the next batch. Near the end of the grid, batches shrink so the actors finish
together.
"""

from __future__ import annotations

import collections
import contextlib
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
from gridbt.kernel.tables import MIN_GROUP_ROWS, fallback_reasons
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
from gridbt.sweep.groups import SMALL_GROUP, Piece, engine_counts, entry_factor_order, pieces
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
    check_engine,
    check_job_paths,
    cpu_time,
    load_sweep,
)

__all__ = ["RESUME", "SweepOutcome", "record_failure", "run_sweep", "write_status"]


@dataclass
class _Batch:
    """What the driver keeps of a batch it sent: ids, hashes and grid values of its rows, the
    engine it runs on and each row's reason for not running on trade tables."""

    combo: IntArray
    hashes: list[str]
    values: dict[str, np.ndarray]
    engine: str = "day"
    fallback: np.ndarray | None = None


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
    #: the MLflow runs an earlier run of this sweep logged (its `sweep.json` `mlflow`), which
    #: `workflows.sweep` keeps instead of logging again when they still hold these results
    logged: dict[str, Any] = field(default_factory=dict)
    #: the heatmaps an earlier run drew (its `sweep.json` `heatmaps`), which `workflows.sweep`
    #: keeps instead of drawing again when they were drawn from these results
    drawn: dict[str, Any] = field(default_factory=dict)


_BLOCK_ROWS = 1 << 13  # grid cells expanded at a time (a row is N_PARAMS floats, ~3.6 kB)
#: the first batches of an engine, which measure its speed: small for the day kernel; for the
#: trade tables one entry group, whole up to twice this (a group's tables are built once per
#: batch, and a batch under `tables.MIN_GROUP_ROWS` rows would run on the day kernel)
_PROBE_ROWS = {"day": 8, "tables": 256}
#: what to do after an environment failure: the batches on disk stay
RESUME = "then run the same command with --resume (the results on disk are kept)"


class _Work:
    """The sweep's task source: fresh combinations, cut into batches as actors free up.

    The grid is walked a block (8,192 cells) at a time, entry factors outermost
    (`groups.entry_factor_order`); each block is hashed (combinations already done are dropped)
    and cut into pieces of one engine (`groups.pieces`): an entry group's combinations that the
    trade-table engine supports, or combinations for the day kernel. A batch is cut from
    pieces of one engine:

    - a `tables` batch holds whole entry groups (another one goes along when that takes the
      batch nearer its target size), and splits a group only when it is larger than twice the
      batch (a group of up to twice the batch goes whole); the rest of a split group
      is kept for the actor that started it (its next batches), and so is the group's
      continuation in the next block, so that a group's batches go to one actor. An actor with
      nothing of its own takes the next piece, and at the end of the grid what other actors
      kept;
    - a `day` batch is any combinations of day pieces.

    The driver's per-batch work stays small next to the actors' and does not grow with the
    grid: a batch is views into the current block, hashed once per block.
    """

    def __init__(self, grid: Grid, done: set[str], total: int, cfg: RayConfig,
                 keep_equity: bool, engine: str = "auto"):
        order = entry_factor_order(grid) if engine == "auto" else None
        self._blocks: Iterator[Block] = grid.blocks(_BLOCK_ROWS, order=order)
        self._grid = grid
        self.engine = engine
        self.value_types = value_types(grid.path_levels())
        self._done = done
        self._pieces: collections.deque[Piece] = collections.deque()
        self._kept: dict[int, Piece] = {}  # actor -> rest of an entry group it started
        self._group: dict[int, int | None] = {}  # actor -> entry group of its last batch
        self.cfg = cfg
        self.keep_equity = keep_equity
        self.skipped = 0
        self.remaining = total  # fresh combinations not handed out yet (an estimate on resume)
        self.per_combo: dict[str, float] = {}  # measured actor seconds per combination, by engine
        self.live_actors: Callable[[], int] = lambda: 1

    @property
    def done(self) -> set[str]:
        """Parameter hashes already in the results (skipped)."""
        return self._done

    def exhausted(self) -> bool:
        """Whether every combination of the grid is done (the grid walked and hashed as far
        as its first fresh combination, which stays queued for the run)."""
        return not self._refill()

    def finished(self) -> bool:
        """Whether every valid combination is done, for a resume of a sweep that finished on
        the same chain, without hashing the whole grid (~7 µs a combination: 7 s for a
        million): the results hold a hash for each valid combination, and the first block's
        hashes (the first with a valid combination) are all among them. A grid's hashes change
        all at once (gridbt's version, the parameter encoding) or not at all, so one block
        tells whether the results are this grid's. When it does not say yes, `exhausted` walks
        the grid."""
        if len(self._done) < self.remaining:
            return False
        first = next((b for b in self._grid.blocks(_BLOCK_ROWS) if len(b.combo)), None)
        if first is None or not all(h in self._done for h in param_hashes(first.params)):
            return False
        self.skipped, self.remaining = self.remaining, 0
        return True

    @contextlib.contextmanager
    def preparing(self) -> Iterator[None]:
        """Cut the first block on a thread while the body runs (the actors starting): its
        expansion, hashing and grouping then cost the grid nothing. An error it meets is
        raised here."""
        failed: list[BaseException] = []

        def first() -> None:
            try:
                self._refill()
            except BaseException as exc:  # raised in the caller's thread below
                failed.append(exc)

        thread = threading.Thread(target=first, name="gridbt-first-block", daemon=True)
        thread.start()
        try:
            yield
        finally:
            thread.join()
        if failed:
            raise failed[0]

    def batch_size(self, engine: str = "day") -> int:
        per_combo = self.per_combo.get(engine, 0.0)
        if per_combo <= 0:
            size = _PROBE_ROWS[engine]  # first batches measure the speed
        else:
            size = max(1, min(int(self.cfg.batch_seconds / per_combo), 50_000))
        # near the end (or in a small grid, from the start), cut what is left evenly over
        # every slot so the actors finish together instead of one computing a last full batch
        # while the others idle (down to a tenth of the target batch, which keeps per-call
        # overhead small)
        slots = max(1, self.live_actors()) * self.cfg.max_in_flight
        tail = -(-self.remaining // slots)
        size = max(1, min(size, max(tail, size // 10)))
        # a trade-table batch never cuts a group into parts too small to run on tables
        return max(size, 2 * MIN_GROUP_ROWS) if engine == "tables" else size

    def measured(self, n: int, seconds: float, engine: str = "day") -> None:
        rate = seconds / max(n, 1)
        old = self.per_combo.get(engine, 0.0)
        self.per_combo[engine] = rate if old == 0 else 0.7 * old + 0.3 * rate

    def next_task(self, actor: int = 0) -> Task | None:
        """The next batch for `actor` as an actor task, or None when the grid is done."""
        cut = self._next(actor)
        if cut is None:
            return None
        batch, params = cut
        return Task("run", params, (self.keep_equity, batch.engine), tag=batch)

    def _refill(self) -> bool:
        """Cut the next block with fresh combinations into pieces; False when none is left."""
        while not self._pieces:
            block = next(self._blocks, None)
            if block is None:
                return False
            hashes = param_hashes(block.params)
            if self._done:
                keep = np.fromiter((h not in self._done for h in hashes), dtype=bool,
                                   count=len(hashes))
                if not keep.all():
                    self.skipped += int((~keep).sum())
                    self.remaining -= int((~keep).sum())
                    block = block.take(keep)
                    hashes = [h for h, k in zip(hashes, keep, strict=True) if k]
            self._pieces.extend(pieces(block, hashes, self.engine))
        return True

    def _fresh(self, actor: int) -> Piece | None:
        """The next piece for `actor`: its own kept rest, else the next in the walk (the
        continuation of a group another actor runs is kept for that actor), else, at the end
        of the grid, what another actor kept."""
        if actor in self._kept:
            return self._kept.pop(actor)
        while self._refill():
            piece = self._pieces.popleft()
            owner = next((a for a, key in self._group.items() if a != actor
                          and piece.key is not None and key == piece.key
                          and a not in self._kept), None)
            if owner is None:
                return piece
            self._kept[owner] = piece
        if self._kept:
            return self._kept.pop(next(iter(self._kept)))
        return None

    def _next(self, actor: int) -> tuple[_Batch, FloatArray] | None:
        first = self._fresh(actor)
        if first is None:
            return None
        size = self.batch_size(first.engine)
        parts = [first]
        if len(first) > size:
            rest_size = len(first) - size
            if first.engine == "tables" and rest_size <= size:
                # a rest of up to a batch goes along (a batch of at most twice the target):
                # a group's tables are built once per batch, so fewer batches per group
                size = len(first)
            else:
                parts = [first.cut(0, size)]
                rest = first.cut(size, len(first))
                if first.engine == "tables":
                    self._kept[actor] = rest
                else:
                    self._pieces.appendleft(rest)
        got = len(parts[0])
        # room left: whole groups (tables: one that takes the batch nearer its target size)
        # or any combinations (day) of the same engine; a first, measuring tables batch is
        # one group (its result comes soonest, and its speed is one group's)
        probing = first.engine == "tables" and self.per_combo.get("tables", 0.0) <= 0
        while got < size and not probing and actor not in self._kept and self._refill():
            piece = self._pieces[0]
            if piece.engine != first.engine or (piece.engine == "tables"
                                                and got + len(piece) - size > size - got):
                break
            self._pieces.popleft()
            if len(piece) > size - got and piece.engine == "day":  # a group goes whole
                self._pieces.appendleft(piece.cut(size - got, len(piece)))
                piece = piece.cut(0, size - got)
            parts.append(piece)
            got += len(piece)
        self._group[actor] = parts[-1].key
        self.remaining = max(0, self.remaining - got)
        return self._batch(parts)

    def _batch(self, parts: list[Piece]) -> tuple[_Batch, FloatArray]:
        if len(parts) == 1:
            head, hashes, fallback = parts[0].block, parts[0].hashes, parts[0].fallback
        else:
            head = Block(np.concatenate([p.block.combo for p in parts]),
                         np.concatenate([p.block.levels for p in parts]),
                         np.concatenate([p.block.params for p in parts]))
            hashes = [h for p in parts for h in p.hashes]
            fallback = np.concatenate([p.fallback for p in parts])
        batch = _Batch(head.combo, hashes, self._grid.values(head.levels), parts[0].engine,
                       fallback)
        return batch, head.params


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


def _row_engines(batch: _Batch, result: BatchResult) -> tuple[np.ndarray, np.ndarray]:
    """Each row's engine and fallback reason as it ran: the batch's, except the rows of a
    trade-table batch the actor ran on the day kernel (entry groups too small to gain)."""
    n = len(batch.combo)
    engines = np.full(n, batch.engine, dtype=object)
    fallback = (np.asarray(batch.fallback, dtype=object).copy() if batch.fallback is not None
                else np.full(n, "", dtype=object))
    if result.day_rows is not None:
        engines[result.day_rows] = "day"
        fallback[result.day_rows] = SMALL_GROUP
    return engines, fallback


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
    engine: str | None = None,
) -> SweepOutcome:
    """Run (or resume) the sweep in `sweep_file`; see the module docstring for scheduling.

    Everything in the file is checked before Ray starts or the chain is read; then the output
    directory is locked for this process until it exits (`gridbt._lock`): a run already there
    in another process refuses this one (`DirectoryLocked`, naming it). `finish` runs
    the post-grid steps (equity of the top combinations, overfitting statistics); set it False
    to stop after the grid. Each step is reported as a stage line (`gridbt._stages`);
    `verbose` lets Ray say everything it has to say (`init_ray`); `engine` (`auto` or `day`)
    overrides the file's.
    """
    started = time.perf_counter()
    stage("checking %s", sweep_file)
    check_actors(actors)
    check_engine(engine)
    sweep, base = load_sweep(sweep_file)
    if engine is not None:
        sweep = sweep.model_copy(update={"engine": engine})
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
    work = _Work(grid, done, manifest.valid_combinations, sweep.ray, sweep.keep_equity == "all",
                 sweep.engine)
    # rows earlier runs did not walk are counted on (not a column of the results)
    replayed = previous.engines.get("replayed", 0) if previous is not None else 0

    def start_pool() -> ActorPool:
        init_ray(address or sweep.ray.address, dashboard=sweep.ray.dashboard, verbose=verbose)
        return ActorPool(packed, grid.base_vector, sweep.pbo_blocks, sweep.ray, actors,
                         actor_cls, tables=_runs_tables(sweep.engine, grid.base_vector))

    pool = _OnDemandPool(start_pool)
    try:
        try:
            # a finished sweep resumed: nothing to run, and Ray only if the finish must
            # backtest (its top combinations' curves not on disk)
            again = (previous is not None and previous.status == "done"
                     and previous.data_fingerprint == fingerprint and len(done) >= valid
                     and (work.finished() or work.exhausted()))
            if again:
                outcome, manifest = _nothing_to_run(sweep, work, store, manifest, replayed)
            else:
                # the first block is expanded, hashed and cut while the actors start and warm
                # up; the driver then keeps only the shared, zero-copy view of the chain
                with work.preparing():
                    packed = pool().packed
                outcome, manifest = _run_grid(sweep, work, store, manifest, pool(), progress,
                                              on_batch, replayed)
            if finish and not outcome.interrupted:
                if again and previous is not None and _finished_alike(previous, manifest, store):
                    manifest = _finished_before(store, manifest, previous)
                else:
                    manifest = _finish(sweep, grid, store, manifest, pool, packed, outcome,
                                       stored=again)
        finally:
            pool.close()
    except BaseException as exc:
        raise record_failure(out_dir, exc, f"the sweep in {out_dir}") from None
    outcome.manifest = manifest
    outcome.logged = dict(previous.mlflow) if previous is not None else {}
    outcome.drawn = dict(previous.heatmaps) if previous is not None else {}
    return outcome


class _OnDemandPool:
    """The sweep's actor pool, Ray included, started on the first call: a finished sweep's
    resume may need none."""

    def __init__(self, start: Callable[[], ActorPool]):
        self._start = start
        self._pool: ActorPool | None = None

    def __call__(self) -> ActorPool:
        if self._pool is None:
            self._pool = self._start()
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()


def _nothing_to_run(sweep: SweepSpec, work: _Work, store: ResultStore,
                    manifest: SweepManifest, replayed: int) -> tuple[SweepOutcome, SweepManifest]:
    """The grid's part of the manifest of a resume that found every combination done."""
    stage("nothing left to run: all %s valid combinations have results",
          f"{manifest.valid_combinations:,}")
    outcome = SweepOutcome(
        out_dir=store.root, valid=manifest.valid_combinations, already_done=work.skipped,
        computed=0, failed=0, interrupted=False, seconds=0.0, actors=0,
    )
    none = np.empty(0, dtype=object)
    manifest = manifest.finished("grid-done", 0, 0, 0.0).with_results(
        engines=engine_counts(sweep.engine, none, none, replayed))
    write_manifest(store.root, manifest)
    return outcome, manifest


#: The sweep file's settings the finish reads besides the results.
_FINISH_SETTINGS = ("objective", "keep_equity", "pbo_blocks", "engine")


def _finished_alike(previous: SweepManifest, manifest: SweepManifest,
                    store: ResultStore) -> bool:
    """Whether the last finish of a finished sweep resumed with nothing to run stands: it
    finished the same results (as many, on the same chain: the caller's `again`) with the
    same settings and the same gridbt, and its files are there."""
    settings = {k: previous.sweep.get(k) for k in _FINISH_SETTINGS}
    return (bool(previous.statistics) and bool(previous.best)
            and settings == {k: manifest.sweep.get(k) for k in _FINISH_SETTINGS}
            and previous.code_version == manifest.code_version
            and previous.computed == manifest.computed
            and store.summary_path.is_file()
            and store.dates_path.is_file())


def _finished_before(store: ResultStore, manifest: SweepManifest,
                     previous: SweepManifest) -> SweepManifest:
    """This run's manifest with the last finish's ranking and statistics (`_finished_alike`):
    a million combinations' finish took 8.7 s to reach the same numbers."""
    stage("finished before from these results: best, deflated Sharpe, PBO as they were")
    manifest = manifest.with_results(status="done", statistics=previous.statistics,
                                     best=previous.best, engines=previous.engines)
    write_manifest(store.root, manifest)
    return manifest


def _finish(sweep: SweepSpec, grid: Grid, store: ResultStore, manifest: SweepManifest,
            pool: Callable[[], ActorPool], packed: Any, outcome: SweepOutcome,
            stored: bool = False) -> SweepManifest:
    """The post-grid steps; a Ctrl-C leaves the grid whole (`--resume` finishes)."""
    from gridbt.sweep.finish import finish_sweep

    finishing = time.perf_counter()
    stage("finishing: equity of the top combinations, deflated Sharpe, PBO")
    try:
        manifest = finish_sweep(sweep, grid, store, manifest, pool, packed, stored)
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


def _runs_tables(engine: str, base: FloatArray) -> bool:
    """Whether the actors should expect trade-table batches (their pool then shares the
    contract-major copy): `engine: auto` and the strategy's own row runs on trade tables (a
    grid whose rows all need the day kernel would not read it; one that varies what needs it
    still runs, its actors making the copy when a trade-table batch first comes)."""
    return engine == "auto" and not fallback_reasons(base).any()


def _run_grid(sweep: SweepSpec, work: _Work, store: ResultStore, manifest: SweepManifest,
              pool: ActorPool, progress: bool, on_batch: Callable[[int], None] | None,
              replayed: int = 0) -> tuple[SweepOutcome, SweepManifest]:
    """Every combination `work` has not done through the actors; the grid's part of the
    manifest (`replayed`: rows earlier runs of the sweep did not walk)."""
    valid = manifest.valid_combinations
    done = work.done
    started = time.perf_counter()  # throughput clock: actors are up and compiled
    stage("running %s combinations on %d actors", f"{valid - len(done):,}", pool.size)
    bar = progress_bar(valid - len(done), progress)
    recorder = _Recorder(store, manifest.data_fingerprint, work, on_batch, bar, replayed)
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
    manifest = manifest.with_results(engines=recorder.engines(sweep.engine))
    write_manifest(store.root, manifest)
    return outcome, manifest


class _Recorder:
    """Records each batch as it lands: its results (or failure) part on the writer thread,
    the progress bar and the speed the next batches are sized by."""

    def __init__(self, store: ResultStore, fingerprint: str, work: _Work,
                 on_batch: Callable[[int], None] | None, bar: Any, replayed: int = 0):
        self.store, self.fingerprint, self.work = store, fingerprint, work
        self.on_batch, self.bar = on_batch, bar
        self.writer = _Writer()
        self.computed = 0
        self.written = 0  # combinations whose results are on disk
        self.failed = 0
        self._engines: list[np.ndarray] = []  # per batch landed: its rows' engine
        self._fallback: list[np.ndarray] = []  # and why not on tables
        # rows of tables batches not walked (another's trades, copied), earlier runs' included
        self.replayed = replayed

    def engines(self, engine: str) -> dict[str, Any]:
        """The engines of this run's batches (`groups.engine_counts`)."""
        if not self._engines:
            return engine_counts(engine, np.empty(0, object), np.empty(0, object),
                                 self.replayed)
        return engine_counts(engine, np.concatenate(self._engines),
                             np.concatenate(self._fallback), self.replayed)

    def done(self, task: Task) -> None:
        batch: _Batch = task.tag
        if isinstance(task.outcome, Failure):
            self._failed(batch, task.outcome)
            return
        result: BatchResult = task.outcome
        engines, fallback = _row_engines(batch, result)
        self._write(batch, result, engines, fallback)
        n = len(batch.combo)
        self.work.measured(n, result.seconds, batch.engine)
        self._engines.append(engines)
        self._fallback.append(fallback)
        self.replayed += result.replayed
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

    def _write(self, batch: _Batch, result: BatchResult, engines: np.ndarray,
               fallback: np.ndarray) -> None:
        """Queue the batch's part for the writer thread (tables are built there too)."""
        store, fingerprint, types = self.store, self.fingerprint, self.work.value_types

        def job() -> int:
            equity = None if result.equity is None else _equity_table(batch, result.equity)
            table = result_table(batch.combo, batch.hashes, batch.values, result, fingerprint,
                                 types, engines, fallback)
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
