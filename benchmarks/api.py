"""Results API latency at scale: p50 and p95 over N requests of each kind, through real HTTP.

Builds a synthetic sweep directory in the real layout (`sweep.json`, `results/part-*.parquet`
with every column a sweep writes, block statistics included, `equity/top.parquet` and
`equity/dates.parquet`), seeded, then starts `gridbt serve` on it in a subprocess and times, from
this process, with a fresh connection per kind of request:

- **runs page**: 50 runs sorted by a KPI, with a filter (thresholds vary between requests);
- **runs page, one per outcome**: the same, one run per distinct outcome (`distinct=true`;
  two runs in five of the fixture have trades of their own, the rest repeat one of those);
- **heatmap max** and **heatmap median**: a KPI over two grid paths (the KPI varies), with a
  filter (`trade_count >= i`, i the request's number);
- **slices**: a KPI against one path, with the same filters;
- **equity**: a kept run's curve (2,520 days) downsampled to 1,000 points;
- **heatmap median, repeated**: the same request 50 times;
- **stability over time** (`/stability`), once: it is computed once per state of the results.

Every request but the last kind is distinct: the server keeps its answers until the sweep's
results change, so repeating one request would time that cache (the last line does).

The first request of all, which reads the result parts into DuckDB, is timed apart ("cold"),
and the server's resident memory is read after the warm-up and again at the end.
Targets (docs/api.md): p95 <= 150 ms at 10^6 runs and <= 50 ms at 10^4.

`--wide` adds a 10^6-run sweep whose two first paths take 500 values each, and times the
largest heatmap the API serves (250,000 cells, a 10 MB answer) with `--requests` / 5 requests
of each aggregate, gzipped (as every other request here and a browser's) and not, with the
answer's size and the bytes sent.

Usage: python benchmarks/api.py [--runs 10000,1000000] [--requests 50] [--dir DIR] [--wide]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
SEED = 20_15
ROWS_PER_PART = 4_000
DAYS = 2_520
BLOCKS = 10
#: grid paths of the short put and their values (None: the rule off)
AXES: dict[str, list[Any]] = {
    "structure.legs.0.select.target": [round(0.02 * i, 2) for i in range(1, 21)],
    "exit.profit_target": [round(0.1 * i, 1) for i in range(1, 10)] + [None],
    "exit.stop_loss": [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, None],
    "exit.dte": [1, 3, 5, 7, 10, 14, 18, 21, 28, None],
    "exit.max_holding_days": [5, 10, 15, 20, 25, 30, 40, 50, 60, None],
    "exit.rebalance_days": [5, 10, 20, 30, None],
}
#: how many values of each axis a sweep of this size takes
SIZES = {
    10_000: (10, 10, 10, 10, 1, 1),
    100_000: (20, 10, 10, 10, 5, 1),
    1_000_000: (20, 10, 10, 10, 10, 5),
}
#: the --wide sweep: 500 x 500 heatmap cells, 4 runs each
WIDE: dict[str, list[Any]] = {
    "structure.legs.0.select.target": [round(0.001 * i, 3) for i in range(1, 501)],
    "exit.profit_target": [round(0.002 * i, 3) for i in range(1, 501)],
    "exit.stop_loss": [1.0, 2.0, 3.0, None],
}


def _axes(runs: int) -> dict[str, list[Any]]:
    return {path: values[:n] for (path, values), n in zip(AXES.items(), SIZES[runs],
                                                          strict=True)}


def _base_strategy() -> dict[str, Any]:
    from gridbt.strategy.spec import load_strategy

    spec = load_strategy(REPO / "jobs" / "strategies" / "short_put_30d.yaml")
    return spec.model_dump(mode="json")


def build_fixture(root: Path, runs: int, seed: int = SEED, wide: bool = False) -> Path:
    """A finished sweep of `runs` synthetic results under `root/sweeps/bench_<runs>` (with
    `wide`, `wide_<runs>` over the `WIDE` axes)."""
    from gridbt.kernel.enums import SkipReason
    from gridbt.kernel.metrics import KPI_NAMES

    out = root / "sweeps" / f"{'wide' if wide else 'bench'}_{runs}"
    if (out / "sweep.json").is_file():
        return out
    rng = np.random.default_rng(seed)
    axes = WIDE if wide else _axes(runs)
    if wide and math.prod(len(v) for v in axes.values()) != runs:
        raise ValueError(f"--wide takes {math.prod(len(v) for v in axes.values()):,} runs")
    shape = tuple(len(v) for v in axes.values())
    fingerprint = "bench" + "0" * 27
    (out / "results").mkdir(parents=True, exist_ok=True)
    best: tuple[float, int, str] = (-math.inf, -1, "")
    for part, lo in enumerate(range(0, runs, ROWS_PER_PART)):
        combo = np.arange(lo, min(lo + ROWS_PER_PART, runs), dtype=np.int64)
        n = len(combo)
        levels = np.stack(np.unravel_index(combo, shape), axis=1)
        columns: dict[str, pa.Array] = {
            "combo": pa.array(combo),
            "param_hash": pa.array([f"{(int(c) * 0x9E3779B97F4A7C15) % 2**64:016x}"
                                    for c in combo]),
            "data_fingerprint": pa.array([fingerprint] * n),
        }
        for k, (path, values) in enumerate(axes.items()):
            picked = [values[i] for i in levels[:, k]]
            columns[path] = pa.array([None if v is None else float(v) for v in picked],
                                     type=pa.float64())
        # a smooth landscape with a plateau, plus noise: Sharpe, and KPIs that follow it
        x = levels / np.maximum(np.array(shape) - 1, 1)
        sharpe = (0.8 - 1.5 * (x[:, 0] - 0.4) ** 2 - 0.6 * (x[:, 1] - 0.5) ** 2
                  - 0.3 * x[:, 2] * (x[:, 3] if x.shape[1] > 3 else 1.0)
                  + rng.normal(0, 0.15, n))
        kpis = {name: rng.normal(0, 1, n) for name in KPI_NAMES}
        kpis["sharpe"] = sharpe
        kpis["cagr"] = 0.05 * sharpe + rng.normal(0, 0.01, n)
        kpis["max_drawdown"] = np.abs(0.15 - 0.05 * sharpe + rng.normal(0, 0.03, n))
        kpis["calmar"] = kpis["cagr"] / kpis["max_drawdown"]
        kpis["sortino"] = 1.3 * sharpe + rng.normal(0, 0.1, n)
        kpis["trade_count"] = rng.integers(0, 200, n).astype(float)
        kpis["profit_factor"][rng.random(n) < 0.02] = np.nan  # undefined now and then
        for name in KPI_NAMES:
            columns[name] = pa.array(kpis[name], type=pa.float64())
        for reason in SkipReason.NAMES:
            columns[f"skip_{reason}"] = pa.array(rng.integers(0, 3, n), type=pa.int64())
        columns["missing_quote_days"] = pa.array(np.zeros(n, np.int64))
        columns["stale_fills"] = pa.array(np.zeros(n, np.int64))
        # per time block of the DAYS - 1 daily returns (cut as np.array_split cuts them): the
        # count, and a sum and sum of squares that a 1% daily volatility and the row's Sharpe
        # (with noise from block to block) would give
        counts = np.array([len(b) for b in np.array_split(np.arange(DAYS - 1), BLOCKS)], float)
        block_mean = 0.01 * (sharpe[:, None] + rng.normal(0, 1.0, (n, BLOCKS))) / math.sqrt(252)
        stats = {"n": np.broadcast_to(counts, (n, BLOCKS)), "sum": block_mean * counts,
                 "sumsq": counts * (1e-4 + block_mean**2)}
        for stat, values in stats.items():
            flat = pa.array(np.ascontiguousarray(values).ravel())
            columns[f"block_{stat}"] = pa.FixedSizeListArray.from_arrays(flat, BLOCKS)
        # two runs in five have trades of their own; the rest repeat one of those
        columns["outcome_hash"] = pa.array(rng.integers(0, max(1, runs * 2 // 5), n))
        columns["node"] = pa.array(["bench"] * n)
        table = pa.table(columns)
        name = f"part-20250101T000000000000-{part + 1:06d}.parquet"
        pq.write_table(table, out / "results" / name)
        top = int(np.argmax(sharpe))
        if sharpe[top] > best[0]:
            best = (float(sharpe[top]), int(combo[top]), columns["param_hash"][top].as_py())
    _write_equity(out, rng, best[2])
    _write_manifest(out, runs, axes, fingerprint, best)
    return out


def _write_equity(out: Path, rng: np.random.Generator, best_hash: str) -> None:
    (out / "equity").mkdir(exist_ok=True)
    dates = np.busday_offset("2014-01-01", np.arange(DAYS), roll="forward")
    pq.write_table(pa.table({"date": pa.array(dates.astype("datetime64[D]"))}),
                   out / "equity" / "dates.parquet")
    keep = 20
    curves = 100_000 * np.cumprod(1 + rng.normal(3e-4, 0.01, (keep, DAYS)), axis=1)
    hashes = [best_hash] + [f"{i:016x}" for i in range(1, keep)]
    flat = pa.array(curves.ravel())
    pq.write_table(pa.table({"param_hash": pa.array(hashes),
                             "combo": pa.array(np.arange(keep, dtype=np.int64)),
                             "equity": pa.FixedSizeListArray.from_arrays(flat, DAYS)}),
                   out / "equity" / "top.parquet")


def _write_manifest(out: Path, runs: int, axes: dict[str, list[Any]], fingerprint: str,
                    best: tuple[float, int, str]) -> None:
    manifest = {
        "name": out.name, "sweep_file": "bench.yaml",
        "sweep": {"name": out.name, "description": "synthetic results (benchmarks/api.py)",
                  "strategy": "short_put_30d.yaml", "data": None, "grid": axes, "zip": [],
                  "constraints": [], "objective": {"kpi": "sharpe", "direction": None},
                  "keep_equity": 20, "pbo_blocks": BLOCKS},
        "base_strategy": _base_strategy(), "data_fingerprint": fingerprint,
        "grid_signature": "bench", "grid_size": runs, "valid_combinations": runs,
        "code_version": "bench", "objective": "sharpe", "maximize": True, "status": "done",
        "started": "2025-01-01T00:00:00+00:00", "finished_at": "2025-01-01T01:00:00+00:00",
        "computed": runs, "failed": 0, "seconds": 3600.0, "runs": 1,
        "statistics": {"n_trials": float(runs), "deflated_sharpe": 0.42, "pbo": 0.31},
        "best": {"combo": best[1], "param_hash": best[2], "params": {},
                 "kpis": {"sharpe": best[0]}},
        "mlflow": {},
    }
    (out / "sweep.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))


def _serve(root: Path) -> tuple[subprocess.Popen[str], str]:
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO),
                                                      os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "gridbt.cli", "serve", "--root", str(root),
                             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"http://[\d.]+:\d+", line)
    if match is None:
        proc.kill()
        raise RuntimeError(f"gridbt serve did not start: {line}{proc.stdout.read()}")
    return proc, match.group()


def _time(client: Any, urls: list[str], headers: dict[str, str] | None = None) -> list[float]:
    seconds = []
    for url in urls:
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        seconds.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"{url}: {response.status_code} {response.text[:300]}")
    return seconds


def _quantile(values: list[float], q: float) -> float:
    return float(np.quantile(np.array(values), q)) * 1000


def bench(runs: int, requests: int, directory: Path) -> None:
    import httpx

    started = time.perf_counter()
    sweep = build_fixture(directory, runs)
    built = time.perf_counter() - started
    size = sum(p.stat().st_size for p in (sweep / "results").glob("*.parquet")) / 2**20
    proc, base = _serve(directory)
    try:
        sid = f"sweeps~{sweep.name}"
        api = f"{base}/api/sweeps/{sid}"
        x, y, path = "structure.legs.0.select.target", "exit.profit_target", "exit.dte"
        metrics = ["sharpe", "sortino", "calmar", "cagr"]
        # every request distinct (the server keeps answers until the results change)
        kinds = {
            "runs page (sorted, filtered)": [
                f"{api}/runs?sort=-sharpe&limit=50&filter=max_drawdown < {0.1 + 0.002 * i:.3f}"
                f" and exit.stop_loss != 0.5" for i in range(requests)],
            "runs page, one per outcome": [
                f"{api}/runs?sort=-{metrics[i % 4]}&limit=50&distinct=true&filter=max_drawdown"
                f" < {0.1 + 0.002 * i:.3f}" for i in range(requests)],
            "heatmap max": [f"{api}/heatmap?x={x}&y={y}&metric={metrics[i % 4]}&agg=max"
                            f"&filter=trade_count >= {i}" for i in range(requests)],
            "heatmap median": [f"{api}/heatmap?x={x}&y={y}&metric={metrics[i % 4]}&agg=median"
                               f"&filter=trade_count >= {i}" for i in range(requests)],
            "slices": [f"{api}/slices?path={path}&metric={metrics[i % 4]}"
                       f"&filter=trade_count >= {i}" for i in range(requests)],
        }
        with httpx.Client(timeout=600) as client:
            started = time.perf_counter()
            best = client.get(f"{api}").json()["best"]["param_hash"]
            cold = time.perf_counter() - started
            kinds["equity (kept, 1,000 points)"] = [f"{api}/runs/{best}/equity?points=1000"
                                                    for _ in range(requests)]
            kinds["heatmap median, repeated"] = [
                f"{api}/heatmap?x={x}&y={y}&metric=sharpe&agg=median"] * requests
            # one warm-up of each kind: axis values and counts are cached per table version
            for urls in kinds.values():
                _time(client, urls[:1])
            # computed once per table version (every distinct outcome's block statistics)
            started = time.perf_counter()
            client.get(f"{api}/stability").raise_for_status()
            stability = time.perf_counter() - started
            import psutil

            server = psutil.Process(proc.pid)
            rss = server.memory_info().rss / 2**20
            print(f"\n{runs:,} runs: {len(list((sweep / 'results').glob('*.parquet')))} parts, "
                  f"{size:,.0f} MiB (fixture {built:.1f} s); first request (the sweep, reading "
                  f"the parts into DuckDB) {cold * 1000:,.0f} ms; stability over time (once "
                  f"per results) {stability * 1000:,.0f} ms; server RSS {rss:,.0f} MiB; "
                  f"load average {os.getloadavg()[0]:.1f}")
            print(f"  {'request':<32} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
            target = 150 if runs >= 1_000_000 else 50
            for name, urls in kinds.items():
                seconds = _time(client, urls)
                p95 = _quantile(seconds, 0.95)
                flag = "" if p95 <= target else f"  (over the {target} ms target)"
                print(f"  {name:<32} {_quantile(seconds, 0.5):8.1f} {p95:8.1f} "
                      f"{max(seconds) * 1000:8.1f}{flag}")
            print(f"  server RSS at the end {server.memory_info().rss / 2**20:,.0f} MiB")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def bench_wide(requests: int, directory: Path) -> None:
    """The largest heatmap: 500 x 500 cells over 10^6 runs (a 10 MB answer)."""
    import httpx

    sweep = build_fixture(directory, 1_000_000, wide=True)
    proc, base = _serve(directory)
    try:
        api = f"{base}/api/sweeps/sweeps~{sweep.name}"
        x, y = list(WIDE)[:2]
        with httpx.Client(timeout=600) as client:
            started = time.perf_counter()
            client.get(api).raise_for_status()
            cold = time.perf_counter() - started
            n = max(requests // 5, 2)
            print(f"\n1,000,000 runs, 500 x 500 cells: first request {cold * 1000:,.0f} ms")
            print(f"  {'request':<36} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'MiB':>6} "
                  f"{'sent':>6}")
            # httpx asks for gzip as browsers do; `identity` shows what compressing costs
            for agg, encoding in [("max", "gzip"), ("max", "identity"), ("median", "gzip"),
                                  ("median", "identity")]:
                urls = [f"{api}/heatmap?x={x}&y={y}&metric=sharpe&agg={agg}"
                        f"&filter=trade_count >= {i}" for i in range(n + 1)]
                headers = {"Accept-Encoding": encoding}
                _time(client, urls[:1], headers)
                seconds = _time(client, urls[1:], headers)
                answer = client.get(urls[0], headers=headers)
                size, sent = len(answer.content) / 2**20, answer.num_bytes_downloaded / 2**20
                print(f"  {f'heatmap {agg}, 250,000 cells, {encoding}':<36} "
                      f"{_quantile(seconds, 0.5):8.1f} {_quantile(seconds, 0.95):8.1f} "
                      f"{max(seconds) * 1000:8.1f} {size:6.1f} {sent:6.1f}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", default="10000,1000000",
                        help=f"sweep sizes, of {', '.join(map(str, SIZES))}")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--dir", default=None, help="fixture directory (kept; reused if there)")
    parser.add_argument("--wide", action="store_true",
                        help="also time 250,000-cell heatmaps over a 10^6-run sweep")
    args = parser.parse_args()
    sizes = [int(s) for s in args.runs.split(",")]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"--runs: {unknown} not among {list(SIZES)}")
    directory = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="gridbt-api-"))
    try:
        for runs in sizes:
            bench(runs, args.requests, directory)
        if args.wide:
            bench_wide(args.requests, directory)
    finally:
        if args.dir is None:
            shutil.rmtree(directory, ignore_errors=True)
    print(f"\n(on {os.cpu_count()} CPUs; target p95 <= 150 ms at 10^6 runs, <= 50 ms at 10^4; "
          f"median of {args.requests} requests is p50)")


if __name__ == "__main__":
    main()
