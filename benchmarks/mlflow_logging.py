"""MLflow logging cost of a sweep: seconds per child run and in total, on a fresh SQLite store.

Each child carries --params parameters, --kpis KPIs and a --days long equity curve (metric
history and Parquet artifact), as `gridbt.tracking.mlflow_runs.log_runs` logs them after a
sweep. The store is created (schema migrations) before the clock starts. Prints one line per
child count; the machine is shared and noisy, so read ratios, not absolute numbers.
--public uses MLflow's public per-run API instead of the bulk SQL path (slow: try 100 children);
--http logs through a real `mlflow server` on 127.0.0.1 (SQLite backend, local artifacts), as
to a cluster's tracking server: the public API over HTTP (the server is started, and the
schema created, before the clock starts).
Usage: python benchmarks/mlflow_logging.py [--children 100 1000] [--days 2500]
       [--public | --http] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from gridbt.testing.mlflow_server import mlflow_server
from gridbt.tracking.mlflow_runs import ChildRun, ParentRun, default_tracking_uri, log_runs


def make_children(count: int, days: int, kpis: int, params: int, seed: int = 0) -> list[ChildRun]:
    rng = np.random.default_rng(seed)
    dates = np.busday_offset(np.datetime64("2013-01-02"), np.arange(days), roll="forward")
    children = []
    for i in range(count):
        equity = 100_000.0 * np.cumprod(1.0 + rng.normal(3e-4, 8e-3, days))
        children.append(
            ChildRun(
                name=f"combo-{i:05d}",
                params={
                    f"exit.rule_{j}": (None if j == 0 else round(0.1 * (i % 7 + j), 2))
                    for j in range(params)
                },
                metrics={f"kpi_{k}": float(rng.normal()) for k in range(kpis)},
                dates=dates,
                equity=equity,
                tags={"gridbt.params_hash": f"{i:016x}"},
            )
        )
    return children


def run(count: int, days: int, kpis: int, params: int, bulk: bool, profile: bool,
        http: bool = False) -> None:
    children = make_children(count, days, kpis, params)
    parent = ParentRun(
        name="bench",
        params={"grid.size": count},
        metrics={"evaluated": count},
        tags={"gridbt.version": "bench"},
        artifacts=[],
        texts={"job.yaml": "x: 1"},
    )
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        uri = (stack.enter_context(mlflow_server(Path(tmp) / "server")) if http
               else default_tracking_uri(Path(tmp)))
        # Warm up: creates the schema, so the timing below is logging only.
        log_runs(uri, "warmup", parent, [])
        profiler = cProfile.Profile() if profile else None
        start, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        log_runs(uri, "bench", parent, children, bulk=bulk)
        if profiler:
            profiler.disable()
        total, cpu = time.perf_counter() - start, time.process_time() - cpu
        database = Path(tmp) / "server" / "mlflow.db" if http else Path(tmp) / "mlflow.db"
        size = database.stat().st_size / 2**20
    path = "http" if http else "bulk" if bulk else "public"
    print(
        f"{path:6s} {count:5d} children x {days} days: {total:7.2f} s total, "
        f"{1e3 * total / count:6.1f} ms/child ({1e3 * cpu / count:.1f} ms CPU), "
        f"{count * days / total / 1e3:6.1f} k equity points/s, db {size:.0f} MiB"
    )
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--days", type=int, default=2500)
    parser.add_argument("--kpis", type=int, default=20)
    parser.add_argument("--params", type=int, default=8)
    parser.add_argument("--public", action="store_true", help="MLflow's public API per run")
    parser.add_argument("--http", action="store_true", help="a real mlflow server over HTTP")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of each run")
    args = parser.parse_args()
    for count in args.children:
        run(count, args.days, args.kpis, args.params, not (args.public or args.http),
            args.profile, args.http)


if __name__ == "__main__":
    main()
