"""Sweep throughput on the default chain: combinations/s with 1 and 2 actors on local Ray, the
ratio to single-process kernel throughput, and memory per node.

The baseline is the work an actor does per batch (kernel with equity out, KPIs, block return
statistics for PBO), run in this process on one core. The sweep rate counts from the moment
the actors are up and compiled to the last result written, so it includes batching, Ray calls,
hashing and Parquet writes. Memory: the chain's bytes in the object store (held once per node)
and the peak resident and unique (USS) memory of the actor processes, sampled while running.

Usage: python benchmarks/sweep.py [--chain DIR] [--repeat 3] [--actors 1,2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import psutil

REPO = Path(__file__).resolve().parents[1]
GRID = """\
  structure.legs.0.select.target: {range: [0.05, 0.50, 0.01]}
  exit.profit_target: [0.25, 0.4, 0.5, 0.75, null]
  exit.stop_loss: [1.0, 1.5, 2.0, 3.0, null]
  exit.dte: [null, 7, 14, 21]
  exit.max_holding_days: [null, 20, 40]
"""


def sweep_file(folder: Path, chain: str | None) -> Path:
    path = folder / "bench_sweep.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: bench
        strategy: {REPO / 'jobs/strategies/short_put_30d.yaml'}
        data: {chain or 'null'}
        keep_equity: 0
        mlflow: {{enabled: false}}
        grid:
        """) + GRID)
    return path


class ActorMemory:
    """Samples the actor processes' RSS and USS in the background; keeps the peaks."""

    def __init__(self) -> None:
        self.peak_rss = 0
        self.peak_uss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ActorMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            rss = uss = 0
            for proc in psutil.process_iter(["cmdline"]):
                try:
                    if "BacktestActor" in " ".join(proc.info["cmdline"] or []):
                        info = proc.memory_full_info()
                        rss, uss = rss + info.rss, uss + info.uss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
            self.peak_rss, self.peak_uss = max(self.peak_rss, rss), max(self.peak_uss, uss)


def baseline(chain: str | None, n_blocks: int, repeat: int) -> float:
    """Single-process combinations/s for the actor's per-batch work."""
    from gridbt.data.default import load_packed
    from gridbt.data.features import FEATURE_NAMES
    from gridbt.kernel.dispatch import run_batch
    from gridbt.sweep.grid import Grid
    from gridbt.sweep.overfitting import block_return_stats
    from gridbt.sweep.spec import load_sweep

    with tempfile.TemporaryDirectory() as tmp:
        sweep, base = load_sweep(sweep_file(Path(tmp), chain))

    class Features:
        feature_names = FEATURE_NAMES

    grid = Grid(sweep, base, Features())
    rng = np.random.default_rng(0)
    rows = grid.block(0, grid.size).params[rng.choice(grid.size, 400, replace=False)]
    packed = load_packed(chain)
    run_batch(packed, rows[:2], np.ones(2, bool))
    rates = []
    for _ in range(repeat):
        started = time.perf_counter()
        _, _, _, equity = run_batch(packed, rows, np.ones(len(rows), bool))
        block_return_stats(equity, n_blocks)
        rates.append(len(rows) / (time.perf_counter() - started))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chain", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--actors", default="1,2")
    args = parser.parse_args()

    import ray

    from gridbt.data.default import load_packed
    from gridbt.sweep.driver import run_sweep

    packed = load_packed(args.chain)
    chain_mib = sum(v.nbytes for v in vars(packed).values() if isinstance(v, np.ndarray)) / 2**20
    del packed
    one_core = baseline(args.chain, 10, args.repeat)
    print(f"chain in the object store: {chain_mib:,.0f} MiB (once per node)")
    print(f"single process, one core: {one_core:,.0f} combinations/s (median of {args.repeat})")
    for n in (int(x) for x in args.actors.split(",")):
        rates, rss, uss = [], [], []
        for _ in range(args.repeat):
            ray.init(num_cpus=n, include_dashboard=False, log_to_driver=False)
            with tempfile.TemporaryDirectory() as tmp, ActorMemory() as mem:
                path = sweep_file(Path(tmp), args.chain)
                outcome = run_sweep(path, out=Path(tmp) / "out", actors=n, progress=False,
                                    finish=False)
                rates.append(outcome.computed / outcome.seconds)
            ray.shutdown()
            rss.append(mem.peak_rss / 2**20)
            uss.append(mem.peak_uss / 2**20)
        rate = statistics.median(rates)
        print(
            f"{n} actor(s): {rate:,.0f} combinations/s over {outcome.computed:,} "
            f"(median of {args.repeat}); {rate / (n * one_core):.0%} of {n} x one core; "
            f"actors' peak RSS {statistics.median(rss):,.0f} MiB, unique (USS) "
            f"{statistics.median(uss):,.0f} MiB in total"
        )


if __name__ == "__main__":
    main()
