"""Sweep throughput on the default chain: combinations/s with 1 and 2 actors on local Ray, the
ratio to N x single-process kernel throughput, what the box itself allows, and memory per node.

Per repeat, interleaved so that every number of a repeat sees the same neighbours on a shared
box, and reported as medians over repeats:

- **single process**: the work an actor does per batch (kernel, KPIs, block
  return statistics for PBO) run in this process on one core, on a fixed random sample of the
  benchmark grid (compiled beforehand; compile time is never counted);
- **hardware ceiling**: the same work in 1 and in N plain forked processes at once, no Ray, no
  driver; N-process throughput over 1-process throughput is what this box allows at that moment
  (another job holding a core shows up here, not as a sweep regression);
- **N actors**: `run_sweep` from the moment the actors are up and compiled to the last result
  written, so it includes batching, Ray calls, hashing and Parquet writes.

`--engine auto|day` chooses the engine of these sweeps (default auto; the single and plain
process numbers are the day kernel's).

Then, unless `--only throughput`, the trade-table speed-up: `run_sweep` of the short-put grid
(`jobs/sweeps/short_put_grid.yaml`), of the iron-condor grid
(`jobs/sweeps/iron_condor_grid.yaml`) and, to show how the speed-up grows with the rows of an
entry group, of the short-put grid's 21 entry groups with finer exits
(`short_put_grid+fine_exits`: 1,008 exit combinations instead of 128, 960 rows a group) on
the chain, with `engine: auto` and `engine: day`,
interleaved, on the same number of actors, from the moment the actors are up to the last
result written; printed as `trade-table speed-up: N.Nx`, the median combinations/s with auto
over the median with day (`--repeat` of each). With `--million`, a generated grid of exactly
1,000,000 combinations (the short-put grid with finer profit-target, stop, DTE-exit and
holding steps) runs once with `--engine`, its results written and the sweep finished (merge,
deflated Sharpe, PBO): `1,000,000 combinations: N s`; before it, `driver feed: N
combinations/s`, how fast one driver expands, hashes and groups that grid on one core (the
ceiling of a single driver, whatever the number of actors).

Also printed: CPU seconds per second of sweep spent by the actors, the driver (this process,
with its writer thread), Ray's own daemons and everything else on the box, and the chain's
bytes in the object store with the actors' peak resident and unique (USS) memory.

Usage: python benchmarks/sweep.py [--chain DIR] [--repeat 3] [--actors 1,2] [--sample 2000]
       [--engine auto|day] [--only throughput|speedup|million] [--million]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import yaml

REPO = Path(__file__).resolve().parents[1]
GRID = """\
  structure.legs.0.select.target: {range: [0.05, 0.50, 0.01]}
  exit.profit_target: [0.25, 0.4, 0.5, 0.75, null]
  exit.stop_loss: [1.0, 1.5, 2.0, 3.0, null]
  exit.dte: [null, 7, 14, 21]
  exit.max_holding_days: [null, 20, 40]
"""


#: exactly 1,000,000 combinations: 8 deltas x 2 expiry windows x 25 profit targets x 25 stops
#: x 25 DTE exits x 4 holding limits (16 entry groups of 62,500); every DTE exit is below
#: both windows' minimum, so no constraint removes any
MILLION_GRID = """\
  structure.legs.0.select.target: {range: [0.10, 0.45, 0.05]}
  structure.dte.target: [30, 45]
  structure.dte.min: [26, 35]
  structure.dte.max: [40, 55]
  exit.profit_target: {linspace: [0.1, 0.9, 25]}
  exit.stop_loss: {linspace: [0.5, 6.5, 25]}
  exit.dte: {range: [1, 25, 1]}
  exit.max_holding_days: [null, 20, 30, 45]
"""
#: the grids of the trade-table speed-up: the shipped job files, on the benchmark's chain, and
#: (how the speed-up grows with the rows of an entry group) the short-put grid's 21 groups with
#: finer exits: 1,008 exit combinations instead of 128, 960 rows a group
SPEEDUP_GRIDS = ("short_put_grid", "iron_condor_grid", "short_put_grid+fine_exits")
FINE_EXITS = {
    "exit.profit_target": [0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.75, 0.9, None],
    "exit.stop_loss": [0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, None],
    "exit.dte": [None, 3, 7, 10, 14, 18, 21],
}


def _short_put_file(path: Path, name: str, chain: str | None, engine: str, grid: str,
                    more: str = "") -> Path:
    """A sweep file over the short-put strategy: no equity kept, no MLflow."""
    path.write_text(textwrap.dedent(f"""\
        name: {name}
        strategy: {REPO / 'jobs/strategies/short_put_30d.yaml'}
        data: {chain or 'null'}
        engine: {engine}
        keep_equity: 0
        mlflow: {{enabled: false}}
        """) + more + "grid:\n" + grid)
    return path


def sweep_file(folder: Path, chain: str | None, engine: str = "auto") -> Path:
    return _short_put_file(folder / "bench_sweep.yaml", "bench", chain, engine, GRID)


def job_sweep_file(folder: Path, name: str, chain: str | None, engine: str) -> Path:
    """`jobs/sweeps/<name>.yaml` as the benchmark runs it: on `chain`, with `engine`, no equity
    kept and no MLflow (its strategy path made absolute)."""
    job_name, _, variant = name.partition("+")
    source = REPO / "jobs" / "sweeps" / f"{job_name}.yaml"
    job = yaml.safe_load(source.read_text())
    if variant == "fine_exits":
        job["grid"].update(FINE_EXITS)
    elif variant:
        raise ValueError(f"unknown grid variant {variant!r}")
    job.update(strategy=str((source.parent / job["strategy"]).resolve()), data=chain,
               engine=engine, keep_equity=0, mlflow={"enabled": False}, out=None)
    path = folder / f"{name}_{engine}.yaml"
    path.write_text(yaml.safe_dump(job, sort_keys=False))
    return path


def million_file(folder: Path, chain: str | None, engine: str) -> Path:
    """The generated million-combination grid over the short-put strategy."""
    return _short_put_file(folder / "million.yaml", "million", chain, engine, MILLION_GRID,
                           textwrap.dedent("""\
        max_combinations: 1000000
        zip:
          - [structure.dte.target, structure.dte.min, structure.dte.max]
        """))


class ActorMemory:
    """Samples the sweep's processes in the background: the actors' peak RSS and USS, and the
    CPU seconds of actors, Ray's daemons (this process's other descendants) and the driver."""

    def __init__(self) -> None:
        self.peak_rss = 0
        self.peak_uss = 0
        self._cpu: dict[int, tuple[str, float]] = {}  # pid -> (kind, last CPU seconds seen)
        self._me = psutil.Process()
        self.own_cpu = 0.0  # this sampler thread's CPU seconds (not the driver's work)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ActorMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far per kind (actor, ray); processes already gone keep their last."""
        self._sample(memory=False)
        out = {"actor": 0.0, "ray": 0.0}
        for kind, seconds in self._cpu.values():
            out[kind] += seconds
        return out

    def _sample(self, memory: bool = True) -> None:
        rss = uss = 0
        try:
            procs = self._me.children(recursive=True)
        except psutil.Error:
            return
        for proc in procs:
            try:
                actor = "BacktestActor" in " ".join(proc.cmdline())
                t = proc.cpu_times()
                self._cpu[proc.pid] = ("actor" if actor else "ray", t.user + t.system)
                if actor and memory:
                    info = proc.memory_full_info()
                    rss, uss = rss + info.rss, uss + info.uss
            except psutil.Error:
                continue
        if memory:
            self.peak_rss, self.peak_uss = max(self.peak_rss, rss), max(self.peak_uss, uss)

    def _run(self) -> None:
        tick = 0
        while not self._stop.wait(0.25):
            started = time.thread_time()
            self._sample(memory=tick % 4 == 0)  # USS reads smaps: once a second is enough
            self.own_cpu += time.thread_time() - started
            tick += 1


def _busy_seconds() -> float:
    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


_SHARED: dict[str, Any] = {}  # what forked ceiling processes inherit


def _batch_work(packed: Any, rows: np.ndarray, n_blocks: int) -> float:
    from gridbt.kernel.dispatch import run_batch

    started = time.perf_counter()
    run_batch(packed, rows, None, n_blocks)  # as an actor: block statistics, no curves
    return time.perf_counter() - started


def _child(start: Any, out: Any) -> None:
    start.wait()
    out.put(_batch_work(_SHARED["packed"], _SHARED["rows"], _SHARED["n_blocks"]))


def plain_processes(n: int) -> float:
    """Combinations/s of `n` forked processes running the batch work at once (no Ray)."""
    ctx = mp.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_child, args=(start, out)) for _ in range(n)]
    for proc in procs:
        proc.start()
    time.sleep(0.2)  # every child forked and waiting: fork time is not counted
    began = time.perf_counter()
    start.set()
    seconds = [out.get() for _ in procs]
    wall = time.perf_counter() - began
    for proc in procs:
        proc.join()
    del seconds
    return n * len(_SHARED["rows"]) / wall


def prepare(chain: str | None, n_blocks: int, sample: int) -> None:
    """Load the chain, draw the sample of grid rows and compile (from the numba cache)."""
    from gridbt.data.default import load_packed
    from gridbt.strategy.encode import STANDARD_FEATURES
    from gridbt.sweep.grid import Grid
    from gridbt.sweep.spec import load_sweep

    with tempfile.TemporaryDirectory() as tmp:
        sweep, base = load_sweep(sweep_file(Path(tmp), chain))
    grid = Grid(sweep, base, STANDARD_FEATURES)
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(grid.size, min(sample, grid.size), replace=False))
    rows = grid.block(0, grid.size).params[pick]
    packed = load_packed(chain)
    _batch_work(packed, rows[:2], n_blocks)  # compile or load the kernel, outside the clocks
    _SHARED.update(packed=packed, rows=rows, n_blocks=n_blocks)


def single_process() -> float:
    """Combinations/s of the actor's per-batch work in this process, one core."""
    return len(_SHARED["rows"]) / _batch_work(_SHARED["packed"], _SHARED["rows"],
                                              _SHARED["n_blocks"])


def sweep_rate(chain: str | None, n: int, engine: str = "auto") -> dict[str, float]:
    """One sweep with `n` actors: its rate and CPU use per second of sweep, and memory."""
    from gridbt.sweep.driver import run_sweep

    with tempfile.TemporaryDirectory() as tmp, ActorMemory() as mem:
        path = sweep_file(Path(tmp), chain, engine)
        holder: dict[str, float] = {}

        def first(done: int) -> None:  # CPU clocks start when the first batch lands
            if not holder:
                holder.update(t=time.perf_counter(), driver=time.process_time(),
                              busy=_busy_seconds(), done=done, sampler=mem.own_cpu,
                              **mem.cpu())

        outcome = run_sweep(path, out=Path(tmp) / "out", actors=n, progress=False,
                            finish=False, on_batch=first)
        wall = time.perf_counter() - holder["t"]
        sampler = mem.own_cpu - holder["sampler"]
        driver = time.process_time() - holder["driver"] - sampler
        busy = _busy_seconds() - holder["busy"]
        cpu = mem.cpu()
    actor, ray_cpu = cpu["actor"] - holder["actor"], cpu["ray"] - holder["ray"]
    return {
        "rate": outcome.computed / outcome.seconds,
        "computed": outcome.computed,
        "actors_cpu": actor / wall,
        "driver_cpu": driver / wall,
        "ray_cpu": ray_cpu / wall,
        "other_cpu": max(0.0, busy - actor - driver - ray_cpu - sampler) / wall,
        "rss": mem.peak_rss / 2**20,
        "uss": mem.peak_uss / 2**20,
    }


def job_rate(name: str, chain: str | None, engine: str, actors: int) -> tuple[float, int]:
    """Combinations/s of one sweep of job file `name` with `engine` on `actors` actors (from
    the actors up and warm to the last result written), and its combinations."""
    from gridbt.sweep.driver import run_sweep

    with tempfile.TemporaryDirectory() as tmp:
        path = job_sweep_file(Path(tmp), name, chain, engine)
        outcome = run_sweep(path, out=Path(tmp) / "out", actors=actors, progress=False,
                            finish=False)
    return outcome.computed / outcome.seconds, outcome.computed


def speedup(chain: str | None, repeat: int, actors: int) -> None:
    """The trade-table speed-up of each `SPEEDUP_GRIDS` grid: medians of `repeat` interleaved
    sweeps with auto and with day, on the same number of actors."""
    med = statistics.median
    for name in SPEEDUP_GRIDS:
        rates: dict[str, list[float]] = {"day": [], "auto": []}
        count = 0
        for r in range(repeat):
            for engine in ("day", "auto") if r % 2 == 0 else ("auto", "day"):  # neither first
                rate, count = job_rate(name, chain, engine, actors)
                rates[engine].append(rate)
            print(f"{name} repeat {r + 1}/{repeat}: day {rates['day'][-1]:,.0f}/s, auto "
                  f"{rates['auto'][-1]:,.0f}/s", flush=True)
        day, auto = med(rates["day"]), med(rates["auto"])
        print(f"{name}: {count:,} combinations on {actors} actor(s), day {day:,.0f}/s, auto "
              f"{auto:,.0f}/s (medians of {repeat}); trade-table speed-up: {auto / day:.1f}x",
              flush=True)


def driver_feed(path: Path, engine: str, combos: int = 200_000) -> None:
    """How fast one driver expands, hashes and groups the grid of `path` on one core (what
    `_Work` does before it hands a batch out, without Ray calls or the writer thread): the most
    combinations per second a single driver could feed its actors, whatever their number."""
    from gridbt.strategy.encode import STANDARD_FEATURES
    from gridbt.sweep.grid import Grid, param_hashes
    from gridbt.sweep.groups import entry_factor_order, pieces
    from gridbt.sweep.spec import load_sweep

    sweep, base = load_sweep(path)
    grid = Grid(sweep, base, STANDARD_FEATURES)
    order = entry_factor_order(grid) if engine == "auto" else None
    n, hashing = 0, 0.0
    started = time.process_time()
    for block in grid.blocks(8192, order=order):
        before = time.process_time()
        hashes = param_hashes(block.params)
        hashing += time.process_time() - before
        pieces(block, hashes, engine)
        n += len(block)
        if n >= combos:
            break
    cpu = time.process_time() - started
    print(f"driver feed: {n / cpu:,.0f} combinations/s on one core ({cpu / n * 1e6:.1f} us "
          f"each, {hashing / cpu:.0%} of it the parameter hashes; over the first {n:,}): what "
          "one driver can hand out at most, before Ray calls and Parquet writes", flush=True)


def million(chain: str | None, engine: str, actors: int) -> None:
    """The generated million-combination grid, once, results written and the sweep finished."""
    from gridbt.sweep.driver import run_sweep

    with tempfile.TemporaryDirectory() as tmp:
        path = million_file(Path(tmp), chain, engine)
        driver_feed(path, engine)
        started = time.perf_counter()
        outcome = run_sweep(path, out=Path(tmp) / "out", actors=actors, progress=False)
        wall = time.perf_counter() - started
        manifest = outcome.manifest
        engines = manifest.engines if manifest is not None else {}
    print(f"{outcome.computed:,} combinations: {wall:,.0f} s (engine {engine}: grid "
          f"{outcome.seconds:,.0f} s at {outcome.computed / outcome.seconds:,.0f}/s on "
          f"{outcome.actors} actor(s), the rest chain, Ray, actors and finishing; "
          f"{engines.get('tables', 0):,} on trade tables, {engines.get('day', 0):,} on the day "
          "kernel)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chain", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--actors", default="1,2")
    parser.add_argument("--sample", type=int, default=2000,
                        help="grid rows in the single-process and plain-process runs")
    parser.add_argument("--engine", choices=["auto", "day"], default="auto",
                        help="engine of the throughput sweeps and the million-combination run")
    parser.add_argument("--only", choices=["throughput", "speedup", "million"], default=None,
                        help="run one part: the throughput (actors), the trade-table speed-up "
                        "or the million-combination grid")
    parser.add_argument("--million", action="store_true",
                        help="also run the generated 1,000,000-combination grid once")
    args = parser.parse_args()

    import ray

    counts = [int(x) for x in args.actors.split(",")]
    # a Ray of its own, never one another process on the box started
    ray.init(address="local", num_cpus=max(counts), include_dashboard=False,
             log_to_driver=False)
    try:
        if args.only in (None, "throughput"):
            throughput(args, counts)
        if args.only in (None, "speedup"):
            print("", flush=True)
            speedup(args.chain, args.repeat, max(counts))
        if args.million or args.only == "million":
            print("", flush=True)
            million(args.chain, args.engine, max(counts))
    finally:
        ray.shutdown()


def throughput(args: argparse.Namespace, counts: list[int]) -> None:
    """Sweep throughput with each actor count against one core and plain processes."""
    prepare(args.chain, 10, args.sample)
    packed = _SHARED["packed"]
    chain_mib = sum(v.nbytes for v in vars(packed).values() if isinstance(v, np.ndarray)) / 2**20
    med = statistics.median
    single: list[float] = []
    plain: dict[int, list[float]] = {n: [] for n in counts}
    sweeps: dict[int, list[dict[str, float]]] = {n: [] for n in counts}
    for r in range(args.repeat):
        single.append(single_process())
        for n in counts:
            plain[n].append(plain_processes(n))
        for n in counts:
            sweeps[n].append(sweep_rate(args.chain, n, args.engine))
        line = ", ".join(f"{n} actor(s) {sweeps[n][-1]['rate']:,.0f}/s (other load "
                         f"{sweeps[n][-1]['other_cpu']:.2f} cores)" for n in counts)
        ceil = ", ".join(f"{n} plain {plain[n][-1]:,.0f}/s" for n in counts)
        print(f"repeat {r + 1}/{args.repeat}: single {single[-1]:,.0f}/s; {ceil}; {line}",
              flush=True)
    one = med(single)
    print(f"\nchain in the object store: {chain_mib:,.0f} MiB (once per node); "
          f"{os.cpu_count()} CPUs; medians of {args.repeat} repeat(s); sweeps on engine "
          f"{args.engine}")
    print(f"single process, one core: {one:,.0f} combinations/s over {len(_SHARED['rows']):,} "
          "sampled grid rows")
    for n in counts:
        ceiling = [p / s for p, s in zip(plain[n], single, strict=True)]
        print(f"hardware ceiling, {n} plain process(es): {med(plain[n]):,.0f} combinations/s, "
              f"{med(ceiling):.2f} x one process ({med(ceiling) / n:.0%} of {n} x)")
    for n in counts:
        runs = sweeps[n]
        rate = med(x["rate"] for x in runs)
        vs_one = [x["rate"] / (n * s) for x, s in zip(runs, single, strict=True)]
        vs_plain = [x["rate"] / p for x, p in zip(runs, plain[n], strict=True)]
        print(
            f"{n} actor(s): {rate:,.0f} combinations/s over {runs[-1]['computed']:,.0f} "
            f"(best {max(x['rate'] for x in runs):,.0f}); "
            f"{med(vs_one):.0%} of {n} x one core, {med(vs_plain):.0%} of {n} plain "
            f"process(es); CPU cores busy: actors {med(x['actors_cpu'] for x in runs):.2f}, "
            f"driver {med(x['driver_cpu'] for x in runs):.2f}, Ray daemons "
            f"{med(x['ray_cpu'] for x in runs):.2f}, rest of the box "
            f"{med(x['other_cpu'] for x in runs):.2f}; actors' peak RSS "
            f"{med(x['rss'] for x in runs):,.0f} MiB, unique (USS) "
            f"{med(x['uss'] for x in runs):,.0f} MiB in total", flush=True
        )


if __name__ == "__main__":
    main()
