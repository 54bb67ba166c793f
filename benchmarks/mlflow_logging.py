"""MLflow logging cost of a sweep: milliseconds per child run, by path, medians of --repeat.

Each child carries --params parameters and --kpis KPIs, as `gridbt.tracking.mlflow_runs.log_runs`
logs a sweep's kept combinations; the first --curves of them also carry a --days long equity
curve (metric history and ``equity.parquet``), as a sweep with ``keep_equity: 20`` does.
Paths (--paths):
  sql     the bulk SQL insert into a fresh SQLite store (gridbt's default local store)
  public  MLflow's public per-run API on the same SQLite store (the fallback on other versions)
  http    the public API through a real ``mlflow server`` on 127.0.0.1 (SQLite backend, local
          artifacts; --server-workers processes), as to a cluster's tracking server, with
          --threads children in flight (1 = one after the other)
Stores and servers are created (schema migrations) before the clock starts. The machine is
shared and noisy: read medians and ratios.
Usage: python benchmarks/mlflow_logging.py [--children 20 200] [--curves 20] [--days 2500]
       [--paths sql public http] [--threads 8] [--server-workers 2] [--repeat 3]
       [--history-points N] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

import numpy as np

from gridbt.testing.mlflow_server import mlflow_server
from gridbt.tracking import mlflow_runs
from gridbt.tracking.mlflow_runs import ChildRun, ParentRun, default_tracking_uri, log_runs


def make_children(count: int, curves: int, days: int, kpis: int, params: int,
                  seed: int = 0) -> list[ChildRun]:
    rng = np.random.default_rng(seed)
    dates = np.busday_offset(np.datetime64("2013-01-02"), np.arange(days), roll="forward")
    children = []
    for i in range(count):
        with_curve = i < curves
        equity = 100_000.0 * np.cumprod(1.0 + rng.normal(3e-4, 8e-3, days))
        children.append(
            ChildRun(
                name=f"#{i + 1} combo",
                params={
                    f"exit.rule_{j}": (None if j == 0 else round(0.1 * (i % 7 + j), 2))
                    for j in range(params)
                },
                metrics={f"kpi_{k}": float(rng.normal()) for k in range(kpis)},
                dates=dates if with_curve else np.empty(0, dtype="datetime64[D]"),
                equity=equity if with_curve else np.empty(0),
                tags={"gridbt.param_hash": f"{i:016x}"},
            )
        )
    return children


def once(path: str, children: list[ChildRun], threads: int, server_workers: int,
         profile: bool, history_points: int | None = None) -> float:
    """Seconds to log a parent and `children` on `path`, store made before the clock starts."""
    parent = ParentRun(name="bench", params={"grid.size": len(children)},
                       metrics={"evaluated": len(children)}, tags={"gridbt.version": "bench"},
                       artifacts=[], texts={"job.yaml": "x: 1"})
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        uri = (stack.enter_context(mlflow_server(Path(tmp) / "server", workers=server_workers))
               if path == "http" else default_tracking_uri(Path(tmp)))
        log_runs(uri, "warmup", parent, [])  # the schema, the experiment's first requests
        stack.enter_context(mock.patch.object(mlflow_runs, "_HTTP_WORKERS", threads))
        profiler = cProfile.Profile() if profile else None
        start = time.perf_counter()
        if profiler:
            profiler.enable()
        log_runs(uri, "bench", parent, children, bulk=path == "sql",
                 history_points=history_points)
        if profiler:
            profiler.disable()
        total = time.perf_counter() - start
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, nargs="+", default=[20, 200])
    parser.add_argument("--curves", type=int, default=20, help="children with an equity curve")
    parser.add_argument("--days", type=int, default=2500)
    parser.add_argument("--kpis", type=int, default=26)
    parser.add_argument("--params", type=int, default=8)
    parser.add_argument("--paths", nargs="+", default=["sql", "http"],
                        choices=["sql", "public", "http"])
    parser.add_argument("--threads", type=int, nargs="+", default=[8],
                        help="children in flight over HTTP (several values: one line each)")
    parser.add_argument("--server-workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--history-points", type=int, default=None,
                        help="days of each equity history (0 = all; default: gridbt's, all "
                             "locally and REMOTE_HISTORY_POINTS over HTTP)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of each run")
    args = parser.parse_args()
    results: dict[tuple[str, int], float] = {}
    for count in args.children:
        children = make_children(count, min(args.curves, count), args.days, args.kpis,
                                 args.params)
        for path in args.paths:
            for threads in args.threads if path == "http" else [1]:
                runs = [once(path, children, threads, args.server_workers, args.profile,
                             args.history_points) for _ in range(args.repeat)]
                total = statistics.median(runs)
                results[path, count] = total
                label = f"http x{threads}" if path == "http" else path
                print(f"{label:8s} {count:5d} children ({min(args.curves, count)} with a "
                      f"{args.days}-day curve): {1e3 * total / count:7.1f} ms/child, "
                      f"{total:6.2f} s total (median of {args.repeat}: "
                      f"{', '.join(f'{r:.2f}' for r in runs)} s)", flush=True)


if __name__ == "__main__":
    main()
