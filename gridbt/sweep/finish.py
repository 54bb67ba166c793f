"""After the grid: equity of the best combinations, overfitting statistics, heatmaps, MLflow."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from gridbt._atomic import write_parquet_atomic
from gridbt._typing import FloatArray
from gridbt.data.pack import PackedChain
from gridbt.kernel.metrics import ANNUALISATION, KPI_NAMES
from gridbt.sweep.grid import Grid
from gridbt.sweep.manifest import SweepManifest
from gridbt.sweep.results import ResultStore
from gridbt.sweep.spec import SweepSpec

__all__ = ["finish_sweep", "ranked", "top_equity"]

BLOCK_COLUMNS = ("block_n", "block_sum", "block_sumsq")


def ranked(results: pd.DataFrame, kpi: str, maximize: bool) -> pd.DataFrame:
    """Results best first by `kpi` (NaN last; ties by combination id)."""
    return results.sort_values(
        [kpi, "combo"], ascending=[not maximize, True], na_position="last", kind="stable"
    ).reset_index(drop=True)


def _equity_of(store: ResultStore, hashes: list[str]) -> dict[str, FloatArray]:
    """Equity curves kept during the grid (keep_equity: all), by parameter hash."""
    import pyarrow.dataset as ds

    parts = sorted((store.root / "equity").glob("part-*.parquet"))
    wanted = set(hashes)
    table = ds.dataset([str(p) for p in parts], format="parquet").to_table(
        filter=ds.field("param_hash").isin(list(wanted)))
    column = table.column("equity").combine_chunks()
    flat = column.flatten().to_numpy().reshape(len(table), column.type.list_size)
    return dict(zip(table.column("param_hash").to_pylist(), flat, strict=True))


def top_equity(sweep: SweepSpec, grid: Grid, store: ResultStore, top: pd.DataFrame,
               actor: Any) -> FloatArray:
    """Equity curves of the `top` rows, in order: read back, or recomputed in one batch."""
    if sweep.keep_equity == "all":
        by_hash = _equity_of(store, list(top["param_hash"]))
        return np.stack([by_hash[h] for h in top["param_hash"]])
    import ray

    rows = np.concatenate([grid.block(int(c), int(c) + 1).params for c in top["combo"]])
    result = ray.get(actor.run.remote(rows, True))
    equity: FloatArray = result.equity
    flat = pa.array(np.ascontiguousarray(equity).ravel())
    store.write_equity("top.parquet", pa.table({
        "param_hash": pa.array(list(top["param_hash"]), type=pa.string()),
        "combo": pa.array(top["combo"].to_numpy(), type=pa.int64()),
        "equity": pa.FixedSizeListArray.from_arrays(flat, equity.shape[1]),
    }))
    return equity


def overfitting_statistics(results: pd.DataFrame, best_equity: FloatArray,
                           n_trials: int | None = None) -> dict[str, float]:
    """Deflated Sharpe of the best combination and PBO (CSCV) across all combinations.

    `n_trials` is the number of parameter sets tried (default: the rows of `results`).
    """
    from gridbt.sweep.overfitting import (
        daily_returns,
        deflated_sharpe_ratio,
        probability_of_backtest_overfitting,
    )

    root = math.sqrt(ANNUALISATION)
    sharpes = results["sharpe"].to_numpy(dtype=float) / root
    finite = sharpes[np.isfinite(sharpes)]
    n = len(results) if n_trials is None else n_trials
    stats: dict[str, float] = {"n_trials": float(n)}
    if len(finite) >= 2:
        dsr = deflated_sharpe_ratio(
            daily_returns(best_equity)[0], n_trials=n,
            sharpe_variance=float(np.var(finite, ddof=1)),
        )
        stats.update(
            deflated_sharpe=dsr.dsr, psr=dsr.psr_zero, best_sharpe=dsr.sharpe * root,
            expected_max_sharpe=dsr.expected_max_sharpe * root,
        )
        blocks = np.stack(
            [np.stack(results[c].to_numpy()) for c in BLOCK_COLUMNS], axis=2
        ).astype(float)
        pbo = probability_of_backtest_overfitting(blocks)
        stats.update(
            pbo=pbo.pbo, pbo_splits=float(pbo.n_splits), pbo_blocks=float(pbo.n_blocks),
            pbo_degradation_slope=pbo.performance_degradation_slope,
            pbo_prob_oos_loss=pbo.prob_oos_loss,
            # the in-sample best's Sharpe in and out of sample, averaged over the splits
            cscv_is_sharpe=float(np.mean(pbo.in_sample_sharpe)) * root,
            cscv_oos_sharpe=float(np.mean(pbo.out_of_sample_sharpe)) * root,
        )
        stats["oos_degradation"] = stats["cscv_is_sharpe"] - stats["cscv_oos_sharpe"]
    return stats


def json_value(value: Any) -> Any:
    """A numpy scalar as a plain value; NaN and infinities as None (JSON null)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def finish_sweep(sweep: SweepSpec, grid: Grid, store: ResultStore, manifest: SweepManifest,
                 actor: Any, packed: PackedChain, source: str, workdir: Path) -> SweepManifest:
    """Rank, keep equity of the top-K, compute statistics, draw heatmaps, log to MLflow."""
    results = store.read()
    results = results[results["data_fingerprint"] == manifest.data_fingerprint]
    if results.empty:
        return manifest.with_results(status="done")
    kpi, maximize = sweep.objective.kpi, sweep.objective.maximize
    best_first = ranked(results, kpi, maximize)
    n_keep = len(best_first) if sweep.keep_equity == "all" else int(sweep.keep_equity)
    top = best_first.head(max(1, n_keep))
    equity = top_equity(sweep, grid, store, top, actor)
    dates = packed.day_date.astype("datetime64[D]")
    store.write_equity("dates.parquet", pa.table({"date": pa.array(dates)}))
    statistics = overfitting_statistics(results, equity[:1])
    summary = best_first.drop(columns=list(BLOCK_COLUMNS))
    write_parquet_atomic(store.root / "results.parquet", pa.Table.from_pandas(summary,
                                                                              preserve_index=False))
    heatmaps = _heatmaps(summary, grid, kpi, maximize, store.root / "heatmaps")
    best_row = best_first.iloc[0]
    best = {
        "combo": int(best_row["combo"]),
        "param_hash": str(best_row["param_hash"]),
        "params": {p: json_value(best_row[p]) for p in grid.paths},
        "kpis": {k: json_value(best_row[k]) for k in KPI_NAMES},
    }
    manifest = manifest.with_results(
        status="done", statistics={k: json_value(v) for k, v in statistics.items()}, best=best
    )
    if sweep.mlflow.enabled:
        manifest = _log_mlflow(sweep, grid, top, equity, dates, manifest, store, heatmaps,
                               source, workdir)
    return manifest


def _heatmaps(summary: pd.DataFrame, grid: Grid, kpi: str, maximize: bool,
              out_dir: Path) -> list[Path]:
    from gridbt.report.heatmap import objective_heatmaps

    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = objective_heatmaps(summary, list(grid.paths), kpi,
                                           higher_is_better=maximize, out_dir=out_dir)
    return paths


def _log_mlflow(sweep: SweepSpec, grid: Grid, top: pd.DataFrame, equity: FloatArray,
                dates: np.ndarray, manifest: SweepManifest, store: ResultStore,
                heatmaps: list[Path], source: str, workdir: Path) -> SweepManifest:
    from gridbt.tracking.mlflow_sweep import ChildRun, ParentRun, default_tracking_uri, log_sweep

    wanted = sweep.mlflow.children if sweep.mlflow.children is not None else sweep.keep_equity
    n_children = len(top) if wanted == "all" else min(int(wanted), len(top))
    children = []
    for i in range(n_children):
        row = top.iloc[i]
        children.append(ChildRun(
            name=f"{sweep.name}#{int(row['combo'])}",
            params={p: json_value(row[p]) for p in grid.paths},
            metrics={k: float(row[k]) for k in KPI_NAMES},
            dates=dates,
            equity=equity[i],
            tags={"gridbt.param_hash": str(row["param_hash"]), "gridbt.rank": str(i + 1),
                  "gridbt.combo": str(int(row["combo"]))},
        ))
    statistics = {k: float(v) for k, v in manifest.statistics.items()
                  if v is not None and math.isfinite(float(v))}
    best_kpis = {f"best_{k}": float(v) for k, v in manifest.best.get("kpis", {}).items()
                 if v is not None}
    parent = ParentRun(
        name=sweep.name,
        params={"objective": sweep.objective.kpi, "grid_size": manifest.grid_size,
                "valid_combinations": manifest.valid_combinations,
                **{f"grid.{p}": len(f.levels) for f in grid.factors for p in f.paths}},
        metrics={**statistics, **best_kpis, "combinations": float(manifest.computed),
                 "failures": float(manifest.failed), "seconds": manifest.seconds},
        tags={"gridbt.kind": "sweep", "gridbt.data_fingerprint": manifest.data_fingerprint,
              "gridbt.code_version": manifest.code_version,
              "gridbt.grid_signature": manifest.grid_signature,
              "gridbt.out_dir": str(store.root.resolve())},
        artifacts=[store.root / "results.parquet", *heatmaps],
        texts={"sweep.yaml": Path(source).read_text()},
    )
    uri = (sweep.mlflow.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
           or default_tracking_uri(workdir))
    experiment = sweep.mlflow.experiment or sweep.name
    run_id = log_sweep(uri, experiment, parent, children)
    return manifest.with_results(
        mlflow={"tracking_uri": uri, "experiment": experiment, "run_id": run_id,
                "children": len(children)}
    )
