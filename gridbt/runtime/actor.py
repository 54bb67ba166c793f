"""The backtest actor: holds a zero-copy view of the chain and runs batches of parameter rows.

The class is plain Python; `ActorPool` wraps it with `ray.remote` and calls every method
through `call(chain, method, ...)`, which brings the chain's ObjectRef along (wrapped in a list,
so Ray hands over the reference instead of fetching the object for each call). The first call
maps the chain from the node's object store and warms the kernels up; later calls reuse both.
The constructor takes no reference: Ray runs it again with the same arguments when it restarts
the actor, cannot promise those arguments are still in the object store by then, and says so
in an ERROR line for any constructor argument that holds a reference (ray-project/ray#53727).
A restarted actor gets the chain back with its next call instead.

A batch runs on one engine, which the caller names: `day`, the day-by-day kernel
(`gridbt.kernel.dispatch.run_batch`), or `tables`, the trade-table engine
(`gridbt.kernel.tables.run_batch_tables`) for rows it supports. Both return the same outputs,
the outcome hash of each row's trades included.

The kernels cache their machine code on disk, keyed by their source (`gridbt.kernel.cache`):
one actor per node compiles them, under a file lock, and every other actor on the node loads
them.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from gridbt._typing import FloatArray, IntArray
from gridbt.data.pack import PackedChain
from gridbt.runtime.wire import WireRows

__all__ = ["BATCH_ENGINES", "BacktestActor", "BatchResult"]

#: The engines a batch can run on (`BacktestActor.run`).
BATCH_ENGINES = ("day", "tables")


@dataclass(frozen=True)
class BatchResult:
    """What an actor returns for one batch (arrays only: cheap to ship through Ray)."""

    kpis: FloatArray  # (n, N_KPIS)
    skips: IntArray  # (n, N_SKIPS)
    counters: IntArray  # (n, N_COUNTERS)
    outcome: IntArray  # (n,) hash of each row's trade sequence (`gridbt.kernel.outcome_nb`)
    block_stats: FloatArray  # (n, n_blocks, 3): per time block, count, sum, sum of squares
    equity: FloatArray | None  # (n, n_days) when asked for
    seconds: float
    node: str
    #: rows of a `tables` batch that ran on the day kernel instead (their entry group has too
    #: few rows in the batch to gain: `BatchOutputs.day_rows`); None for a `day` batch
    day_rows: np.ndarray | None = None
    #: rows of a `tables` batch that were not walked: they made the trades of a row walked
    #: before them, whose outputs they copied (`BatchOutputs.replayed`)
    replayed: int = 0


def _warm_marker(tables: bool) -> str:
    """The file in the kernel cache that says a warm-up of this kind (the day kernel, and the
    trade tables' kernels with `tables`) has finished with it."""
    return ".warm-tables" if tables else ".warm-day"


class BacktestActor:
    """Runs batches of encoded parameter rows over one shared, read-only chain."""

    packed: PackedChain  # from the first call on

    def __init__(self, warmup: FloatArray, n_blocks: int):
        """`warmup`: parameter row(s) run once when the chain arrives, to compile or load the
        kernels; `n_blocks`: time blocks of the return statistics (PBO)."""
        started = time.perf_counter()
        import ray

        import gridbt.kernel.dispatch  # noqa: F401  (numba and the kernels' modules)
        import gridbt.kernel.overfitting  # noqa: F401

        self.import_seconds = time.perf_counter() - started
        self.warmup = np.atleast_2d(warmup)
        self.n_blocks = n_blocks
        self.node = f"{socket.gethostname()}:{ray.get_runtime_context().get_node_id()[:12]}"
        self.attached = False
        self.tables = False  # trade-table batches expected (the pool shared a contract-major copy)
        self.warmup_seconds = 0.0
        self.compiled = False

    def call(self, chain: list[Any], method: str, *args: Any) -> Any:
        """`method(*args)` on the chain whose ObjectRef is `chain[0]` (attached on first use;
        `chain[1]`, when given, is its contract-major copy for trade-table batches,
        `tables.build_contract_major`). A first argument sent as `WireRows` (the scheduler's
        batches) is expanded back to its rows."""
        if not self.attached:
            self._attach(chain)
        if args and isinstance(args[0], WireRows):
            args = (args[0].expand(), *args[1:])
        return getattr(self, method)(*args)

    def _attach(self, refs: list[Any]) -> None:
        import ray

        from gridbt.kernel import nb
        from gridbt.kernel.cache import cache_dir

        self.packed = ray.get(refs[0])
        self.tables = len(refs) > 1
        if self.tables:  # mapped from the object store, shared with the node's other actors
            from gridbt.kernel.tables import share_contract_major

            share_contract_major(self.packed, ray.get(refs[1]))
        cache = cache_dir()
        cache.mkdir(parents=True, exist_ok=True)
        # One actor per node compiles; the others wait and load the cached machine code. Once
        # a warm-up of this kind has finished with this cache (named after the kernels'
        # source), its kernels load without compiling, and actors warm up side by side
        # instead of one after the other (~0.3 s each).
        with open(cache / ".compile.lock", "w") as lock:
            if not (cache / _warm_marker(self.tables)).exists():
                fcntl.flock(lock, fcntl.LOCK_EX)
            started = time.perf_counter()
            self.run(self.warmup, keep_equity=False)
            tables = self.tables and self._warm_tables()
            self.warmup_seconds = time.perf_counter() - started
            for warmed in {False, tables}:  # a trade-table warm-up ran the day kernel's too
                (cache / _warm_marker(warmed)).touch()
        self.compiled = bool(nb.run_batch_nb.stats.cache_misses)
        self.attached = True

    def _warm_tables(self) -> bool:
        """Warm the trade-table engine up too, on the warm-up rows it supports; whether there
        were any."""
        from gridbt.kernel.tables import fallback_reasons, release_tables, run_batch_tables

        supported = self.warmup[fallback_reasons(self.warmup) == 0]
        if len(supported):  # every group on tables: their kernels load
            run_batch_tables(self.packed, supported, min_group_rows=0, n_blocks=self.n_blocks)
            release_tables()
        return bool(len(supported))

    def started(self) -> dict[str, Any]:
        """This actor's process, before the chain arrives: its pid, the seconds its imports
        took and whether this node's disk cache holds the compiled kernels yet."""
        from gridbt.kernel.cache import cache_dir

        return {"pid": os.getpid(), "import_seconds": self.import_seconds,
                "kernels_cached": any(cache_dir().rglob("nb.run_batch_nb-*.nbi"))}

    def ready(self) -> dict[str, Any]:
        """Where this actor runs, how its warm-up went and whether its chain arrays are
        shared, not copied."""
        import ray

        from gridbt.kernel.tables import contract_major

        arrays = [v for v in vars(self.packed).values() if isinstance(v, np.ndarray)]
        shared_cm = self.tables and not any(a.flags.owndata for a in contract_major(self.packed))
        return {
            "pid": os.getpid(),
            "node_id": ray.get_runtime_context().get_node_id(),
            "warmup_seconds": self.warmup_seconds,
            "compiled": self.compiled,
            "chain_bytes": int(sum(a.nbytes for a in arrays)),
            "chain_read_only": all(not a.flags.writeable for a in arrays),
            "chain_owns_memory": any(a.flags.owndata for a in arrays),
            # trade-table batches read the contract-major copy the pool put in the object store
            "contract_major_shared": shared_cm,
        }

    def memory(self) -> dict[str, int]:
        """Resident and unique (unshared) memory of this actor's process, in bytes."""
        import psutil

        info = psutil.Process().memory_full_info()
        return {"rss": int(info.rss), "uss": int(info.uss)}

    def run(self, params: FloatArray, keep_equity: bool, engine: str = "day") -> BatchResult:
        """Backtest every row of `params` in one call of `engine` (`BATCH_ENGINES`; `tables`
        takes only rows the trade-table engine supports, and runs entry groups of fewer than
        `tables.MIN_GROUP_ROWS` rows in the batch on the day kernel): KPIs, skips, counters,
        outcome hashes and the per-block return statistics of each equity curve (for PBO,
        computed in the kernel), plus the curves if kept."""
        from gridbt.kernel.dispatch import run_batch
        from gridbt.kernel.tables import run_batch_tables

        if engine not in BATCH_ENGINES:
            raise ValueError(f"engine {engine!r} is not one of {BATCH_ENGINES}")
        started = time.perf_counter()
        keep = np.full(params.shape[0], keep_equity, dtype=bool)
        if engine == "tables":
            out = run_batch_tables(self.packed, params, keep, n_blocks=self.n_blocks)
        else:
            out = run_batch(self.packed, params, keep, self.n_blocks)
        return BatchResult(
            kpis=out.kpis,
            skips=out.skips,
            counters=out.counters,
            outcome=out.outcome,
            block_stats=out.block_stats,
            equity=out.equity if keep_equity else None,
            seconds=time.perf_counter() - started,
            node=self.node,
            day_rows=out.day_rows if engine == "tables" else None,
            replayed=out.replayed,
        )

    def kpis(self, params: FloatArray) -> FloatArray:
        """KPIs (n, N_KPIS) of every row, without equity curves (the study's fold path)."""
        from gridbt.kernel.dispatch import run_batch

        return run_batch(self.packed, params)[0]

    def window_stats(self, params: FloatArray, lo: int, hi: int, n_blocks: int
                     ) -> tuple[FloatArray, FloatArray, np.ndarray]:
        """KPIs, block return statistics and outcome hashes (of the trades) over days
        [lo, hi) of every row (rows are expected to be windowed to [lo, hi): the day before
        `lo` holds the capital)."""
        from gridbt.kernel.dispatch import run_batch
        from gridbt.kernel.overfitting import block_return_stats

        out = run_batch(self.packed, params, np.ones(params.shape[0], dtype=bool))
        return (out.kpis, block_return_stats(out.equity[:, max(lo - 1, 0):hi], n_blocks),
                out.outcome)

    def equity(self, params: FloatArray) -> FloatArray:
        """Equity curves (n, n_days) of every row."""
        from gridbt.kernel.dispatch import run_batch

        return run_batch(self.packed, params, np.ones(params.shape[0], dtype=bool))[3]
