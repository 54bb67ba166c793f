"""Optuna's own cost per trial: what the sampler and the storage add on top of the backtests.

A study as gridbt drives it asks a batch of 16 trials, evaluates them (here: a cheap synthetic
objective, so that nothing but Optuna is timed), reports one intermediate value per
walk-forward fold and tells the results. Timed per trial, separately:

- **ask**: `study.ask()` and one `suggest_*` per path of a 5-parameter space like
  jobs/studies/short_put_tpe (delta, DTE, profit target, stop, time exit), as gridbt does;
- **report**: `trial.report(value, step)` and `trial.should_prune()` (median pruner) for each
  of K folds (single objective only: Optuna cannot report multi-objective trials);
- **tell**: `study.tell(trial, value)`.

Samplers are built as gridbt.optimize.samplers builds them: TPE multivariate with the
constant liar, NSGA-II (on two objectives, sharpe and drawdown, as gridbt uses it), CMA-ES and
random. Storages: in memory, SQLite opened as gridbt opens it (WAL, synchronous=NORMAL;
`sqlite-default` for Optuna's plain RDBStorage), and a journal file. At each trial count the table
shows the mean cost of the `--window` trials before it, as the median over `--repeat` runs.
For scale, the kernel's cost of one backtest is printed too (`--kernel` measures it).

SQLite runs stop at --sqlite-trials (100): their cost per trial is high and flat (checked to
500 trials: within 15% of the cost at 100), and 1000 trials of each sampler on SQLite would
take several minutes. Pass --sqlite-trials 0 to run them to the last count.

Usage: python benchmarks/optimize.py [--trials 100,500,1000] [--repeat 1] [--folds 3]
       [--samplers tpe,nsga2,cmaes,random] [--storages memory,sqlite,journal]
       [--sqlite-trials 100] [--dir DIR] [--kernel]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.storages.journal import JournalFileBackend

from gridbt.optimize.samplers import open_storage

BATCH = 16
SEED = 7
# benchmarks/kernel.py, short put (1 leg, default chain, 10 years): ~0.85 ms per backtest on
# one core of the reference 2-core box
KERNEL_MS_REFERENCE = 0.85

SPACE: dict[str, BaseDistribution] = {
    "structure.legs.0.select.target": FloatDistribution(0.05, 0.45, step=0.01),
    "structure.dte.target": IntDistribution(30, 60, step=5),
    "exit.profit_target": FloatDistribution(0.2, 0.9, step=0.05),
    "exit.stop_loss": CategoricalDistribution([1.0, 1.5, 2.0, 3.0, None]),
    "exit.dte": CategoricalDistribution([None, 7, 14, 21]),
}


def make_sampler(kind: str) -> optuna.samplers.BaseSampler:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if kind == "tpe":
            # optuna >= 4.9 deprecates warn_independent_sampling on TPE (a FutureWarning)
            return optuna.samplers.TPESampler(seed=SEED, multivariate=True, constant_liar=True)
        if kind == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=SEED)
        if kind == "cmaes":
            return optuna.samplers.CmaEsSampler(seed=SEED, warn_independent_sampling=False)
        if kind == "random":
            return optuna.samplers.RandomSampler(seed=SEED)
    raise SystemExit(f"unknown sampler {kind!r}; one of tpe, nsga2, cmaes, random")


def make_storage(kind: str, folder: Path) -> optuna.storages.BaseStorage | None:
    if kind == "memory":
        return None
    if kind == "sqlite":  # as gridbt opens it: WAL, synchronous=NORMAL
        return open_storage(f"sqlite:///{folder / 'bench.db'}")
    if kind == "sqlite-default":
        return optuna.storages.RDBStorage(f"sqlite:///{folder / 'bench.db'}")
    if kind == "journal":
        backend = JournalFileBackend(str(folder / "bench.log"))
        return optuna.storages.JournalStorage(backend)
    raise SystemExit(f"unknown storage {kind!r}; one of memory, sqlite, sqlite-default, journal")


def suggest(trial: optuna.Trial, path: str, dist: BaseDistribution) -> None:
    """Define-by-run, one suggestion per path, as gridbt.optimize.space does."""
    if isinstance(dist, FloatDistribution):
        trial.suggest_float(path, dist.low, dist.high, step=dist.step, log=dist.log)
    elif isinstance(dist, IntDistribution):
        trial.suggest_int(path, dist.low, dist.high, step=dist.step, log=dist.log)
    else:
        assert isinstance(dist, CategoricalDistribution)
        trial.suggest_categorical(path, dist.choices)


def sharpe_of(params: dict[str, Any], rng: np.random.Generator) -> float:
    """A smooth, noisy stand-in for the Sharpe ratio, so the samplers have a shape to model."""
    delta = params["structure.legs.0.select.target"]
    dte = params["structure.dte.target"]
    target = params["exit.profit_target"]
    stop = params["exit.stop_loss"]
    value = 1.0 - 8 * (delta - 0.2) ** 2 - ((dte - 45) / 30) ** 2 - (target - 0.5) ** 2
    value -= 0.1 if stop is None else 0.05 * abs(stop - 2.0)
    return float(value + rng.normal(0.0, 0.05))


def run(
    sampler: str, storage: str, n_trials: int, folds: int, folder: str | None
) -> dict[str, np.ndarray]:
    """Seconds per trial of ask, report (all folds) and tell, and the CPU of all three."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    multi = sampler == "nsga2"
    rng = np.random.default_rng(0)
    times = {part: np.zeros(n_trials) for part in ("ask", "report", "tell", "cpu")}
    with tempfile.TemporaryDirectory(prefix="gridbt-bench-", dir=folder) as tmp:
        pruner = optuna.pruners.NopPruner() if multi else optuna.pruners.MedianPruner(5, 0)
        study = optuna.create_study(
            storage=make_storage(storage, Path(tmp)), sampler=make_sampler(sampler), pruner=pruner,
            study_name="bench", directions=["maximize", "minimize"] if multi else ["maximize"],
        )
        done = 0
        while done < n_trials:
            size = min(BATCH, n_trials - done)
            trials = []
            for i in range(done, done + size):
                start, cpu = time.perf_counter(), time.process_time()
                trial = study.ask()
                for path, dist in SPACE.items():
                    suggest(trial, path, dist)
                trials.append(trial)
                times["ask"][i] = time.perf_counter() - start
                times["cpu"][i] = time.process_time() - cpu
            values = [sharpe_of(t.params, rng) for t in trials]
            for i, (trial, value) in enumerate(zip(trials, values, strict=True), start=done):
                if multi:
                    result: float | list[float] = [value, abs(rng.normal(0.2, 0.05))]
                else:
                    start, cpu = time.perf_counter(), time.process_time()
                    for step in range(1, folds + 1):
                        trial.report(value + 0.01 * step, step)
                        trial.should_prune()
                    times["report"][i] = time.perf_counter() - start
                    times["cpu"][i] += time.process_time() - cpu
                    result = value
                start, cpu = time.perf_counter(), time.process_time()
                study.tell(trial, result)
                times["tell"][i] = time.perf_counter() - start
                times["cpu"][i] += time.process_time() - cpu
            done += size
    return times


def measure_kernel(batch: int) -> float:
    """Milliseconds per short-put backtest on one core (compile time not counted)."""
    from gridbt.data.default import load_packed
    from gridbt.kernel.contract import LEG, P_LEG0
    from gridbt.kernel.dispatch import run_batch
    from gridbt.strategy.encode import encode_spec
    from gridbt.strategy.spec import load_strategy

    repo = Path(__file__).resolve().parents[1]
    packed = load_packed(None)
    row = encode_spec(load_strategy(repo / "jobs/strategies/short_put_30d.yaml"), packed)
    rows = np.tile(row, (batch, 1))
    rows[:, P_LEG0 + LEG.target] = np.random.default_rng(0).uniform(0.15, 0.35, batch)
    run_batch(packed, rows[:2])  # compile, or load from the cache
    spans = []
    for _ in range(3):
        start = time.perf_counter()
        run_batch(packed, rows)
        spans.append(time.perf_counter() - start)
    return 1e3 * statistics.median(spans) / batch


def window_mean(values: np.ndarray, count: int, window: int) -> float:
    if count > len(values):
        return math.nan
    return float(values[max(0, count - window):count].mean())


PARTS: dict[str, Callable[[dict[str, np.ndarray]], np.ndarray]] = {
    "ask": lambda t: t["ask"],
    "report": lambda t: t["report"],
    "tell": lambda t: t["tell"],
    "total": lambda t: t["ask"] + t["report"] + t["tell"],
    "cpu": lambda t: t["cpu"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", default="100,500,1000", help="trial counts to report at")
    parser.add_argument("--repeat", type=int, default=1, help="runs per sampler and storage")
    parser.add_argument("--window", type=int, default=50, help="trials averaged before a count")
    parser.add_argument("--folds", type=int, default=3, help="intermediate values reported")
    parser.add_argument("--samplers", default="tpe,nsga2,cmaes,random")
    parser.add_argument("--storages", default="memory,sqlite,journal")
    parser.add_argument("--sqlite-trials", type=int, default=100,
                        help="SQLite runs stop here (their cost is flat and high; 0 = no cap)")
    parser.add_argument("--dir", default=None, help="folder for the storage files; default: "
                        "the temp dir (its fsync cost is part of the SQLite numbers)")
    parser.add_argument("--kernel", action="store_true", help="measure the kernel's cost too")
    args = parser.parse_args()
    counts = sorted(int(c) for c in args.trials.split(","))
    samplers, storages = args.samplers.split(","), args.storages.split(",")

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"optuna {optuna.__version__}; {len(SPACE)} parameters; batches of {BATCH} asks then "
          f"{BATCH} tells; {args.folds} report + should_prune per trial (single objective)\n"
          f"ms per trial: mean of the {args.window} trials before each count, median of "
          f"{args.repeat} run(s); cpu = this process's CPU time; load average {load} on "
          f"{os.cpu_count()} CPUs")
    header = f"{'sampler':<8} {'storage':<15} {'part':<7}" + "".join(
        f"{'@' + str(c):>9}" for c in counts
    )
    print(header)
    print("-" * len(header))
    totals: dict[tuple[str, str], tuple[int, float]] = {}
    for sampler in samplers:
        for storage in storages:
            n = counts[-1]
            if storage.startswith("sqlite") and args.sqlite_trials:
                n = min(n, args.sqlite_trials)
            started = time.perf_counter()
            runs = [run(sampler, storage, n, args.folds, args.dir) for _ in range(args.repeat)]
            wall = (time.perf_counter() - started) / args.repeat
            for part, pick in PARTS.items():
                if part == "report" and sampler == "nsga2":
                    continue  # two objectives: Optuna cannot report or prune
                cells = [
                    1e3 * statistics.median(window_mean(pick(r), c, args.window) for r in runs)
                    for c in counts
                ]
                if part == "total":
                    reached = [c for c, v in zip(counts, cells, strict=True) if math.isfinite(v)]
                    totals[(sampler, storage)] = (reached[-1], cells[len(reached) - 1])
                print(f"{sampler:<8} {storage:<15} {part:<7}"
                      + "".join(f"{v:9.2f}" if math.isfinite(v) else f"{'-':>9}" for v in cells))
            print(f"{'':<8} {'':<15} ({n} trials in {wall:.1f} s)")

    kernel_ms = measure_kernel(200) if args.kernel else KERNEL_MS_REFERENCE
    source = "measured" if args.kernel else "reference from benchmarks/kernel.py"
    print(f"\nkernel: {kernel_ms:.2f} ms per short-put backtest on one core ({source})")
    print("Optuna's cost per trial at the largest count run, in backtests of kernel time:")
    for (sampler, storage), (count, ms) in totals.items():
        print(f"  {sampler:<7} {storage:<15} @{count:<5} {ms:8.2f} ms = "
              f"{ms / kernel_ms:6.1f} backtests")


if __name__ == "__main__":
    main()
