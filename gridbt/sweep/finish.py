"""After the grid: the ranking, the equity of the best combinations and overfitting statistics.

What is drawn (heatmaps) and logged (MLflow) from these results is `gridbt.report` and
`gridbt.tracking`'s, called by the `gridbt sweep` workflow (`gridbt.workflows.sweep`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from gridbt._typing import FloatArray
from gridbt.data.pack import PackedChain
from gridbt.kernel.metrics import ANNUALISATION, KPI_NAMES
from gridbt.runtime import ActorPool, Failure, Scheduler, Task
from gridbt.sweep.grid import Grid
from gridbt.sweep.groups import engine_counts
from gridbt.sweep.manifest import SweepManifest
from gridbt.sweep.results import ResultStore, equity_table
from gridbt.sweep.spec import SweepError, SweepSpec

__all__ = [
    "BLOCK_COLUMNS", "SAME_OUTCOME", "block_matrix", "distinct_outcomes", "finish_sweep",
    "json_value", "overfitting_statistics", "ranked", "top_equity", "top_outcomes",
]

BLOCK_COLUMNS = ("block_n", "block_sum", "block_sumsq")
#: The column `distinct_outcomes` adds: how many combinations share the row's outcome.
SAME_OUTCOME = "combinations"


def ranked(results: pd.DataFrame, kpi: str, maximize: bool) -> pd.DataFrame:
    """Results best first by `kpi` (NaN last; ties by combination id). One `take` by a
    `lexsort` order: `sort_values` over the Arrow list columns (`results.arrow_lists`) took
    1.2 s a million rows, this under half a second."""
    value = pd.to_numeric(results[kpi], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    missing = np.isnan(value)
    order = np.lexsort((results["combo"].to_numpy(), np.where(missing, 0.0, value)
                        * (-1.0 if maximize else 1.0), missing))
    return results.take(order).reset_index(drop=True)


def distinct_outcomes(best_first: pd.DataFrame) -> pd.DataFrame:
    """One row per outcome (trade sequence, `outcome_hash`) of results ranked best first: the
    best-ranked combination of each, in rank order, with `SAME_OUTCOME` saying how many
    combinations share it. Rows without an outcome hash (written before gridbt had one) each
    count as their own outcome."""
    if "outcome_hash" not in best_first.columns:
        return best_first.assign(**{SAME_OUTCOME: 1})
    hashes = best_first["outcome_hash"]
    known = hashes.notna()
    counts = hashes[known].map(hashes[known].value_counts())
    out = best_first.assign(**{SAME_OUTCOME: counts.reindex(best_first.index).fillna(1)
                               .astype("int64")})
    keep = ~known | ~hashes.duplicated(keep="first")
    return out[keep].reset_index(drop=True)


def top_outcomes(best_first: pd.DataFrame, keep: int | str,
                 distinct: pd.DataFrame | None = None) -> pd.DataFrame:
    """The rows whose curves a sweep keeps and MLflow logs as child runs: every row for
    `all`, else the best `keep` outcomes (at least one), each under its best-ranked
    combination (`distinct`: `distinct_outcomes(best_first)`, when the caller has it)."""
    if keep == "all":
        return best_first
    if distinct is None:
        distinct = distinct_outcomes(best_first)
    return distinct.head(max(1, int(keep)))


def top_equity(sweep: SweepSpec, grid: Grid, store: ResultStore, top: pd.DataFrame,
               pool: Callable[[], ActorPool], stored: bool = False) -> FloatArray:
    """Equity curves of the `top` rows, in order: read back when every curve is kept
    (`keep_equity: all`) or, with `stored` (the curves on disk are of this chain: an earlier
    finish on it wrote them), when these rows' are there; else recomputed in one task on
    `pool()` (which starts the actors if they are not yet)."""
    hashes = list(top["param_hash"])
    if sweep.keep_equity == "all" or stored:
        by_hash = store.equity_of(hashes)
        if sweep.keep_equity == "all" or all(h in by_hash for h in hashes):
            return np.stack([by_hash[h] for h in hashes])
    rows = np.concatenate([grid.block(int(c), int(c) + 1).params for c in top["combo"]])
    (outcome,) = Scheduler(pool(), sweep.ray).map([Task("run", rows, (True,))])
    if isinstance(outcome, Failure):
        raise SweepError(f"equity of the top combinations: backtests failed {outcome.attempts} "
                         f"times, last error: {outcome.error}; --resume finishes the sweep")
    equity: FloatArray = outcome.equity
    store.write_equity("top.parquet", equity_table({
        "param_hash": pa.array(list(top["param_hash"]), type=pa.string()),
        "combo": pa.array(top["combo"].to_numpy(), type=pa.int64()),
    }, equity))
    return equity


def overfitting_statistics(results: pd.DataFrame, best_equity: FloatArray,
                           n_trials: int | None = None) -> dict[str, float]:
    """Deflated Sharpe of the best combination and PBO (CSCV) across the rows of `results`
    (a sweep passes one per distinct outcome, `distinct_outcomes`).

    `n_trials` is the number of trials (default: the rows of `results`).
    """
    from gridbt.kernel.overfitting import (
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
        blocks = np.stack([block_matrix(results[c]) for c in BLOCK_COLUMNS], axis=2)
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


def block_matrix(column: pd.Series) -> FloatArray:
    """A column of per-block statistics (a list of one number per time block on each row) as
    an (rows, blocks) float array: straight from its Arrow lists when it holds them
    (`results.arrow_lists`), else row by row."""
    if (isinstance(column.dtype, pd.ArrowDtype)
            and pa.types.is_fixed_size_list(column.dtype.pyarrow_dtype)):
        lists = pa.chunked_array(column.array.__arrow_array__()).combine_chunks()
        if lists.null_count == 0:
            flat = lists.flatten().to_numpy(zero_copy_only=False)
            return np.asarray(flat, dtype=float).reshape(len(column), lists.type.list_size)
        column = column.astype(object)
    return np.stack(column.to_numpy()).astype(float)


def json_value(value: Any) -> Any:
    """A numpy scalar as a plain value; NaN and infinities as None (JSON null)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def finish_sweep(sweep: SweepSpec, grid: Grid, store: ResultStore, manifest: SweepManifest,
                 pool: Callable[[], ActorPool], packed: PackedChain,
                 stored: bool = False) -> SweepManifest:
    """Rank, keep the equity of the top-K, compute the statistics; the manifest, done.
    `pool()` gives the actors that backtest the top-K when their curves are not on disk
    (`top_equity`, `stored`)."""
    results = store.read()
    results = results[results["data_fingerprint"] == manifest.data_fingerprint]
    if results.empty:
        return manifest.with_results(status="done")
    kpi, maximize = sweep.objective.kpi, sweep.objective.maximize
    best_first = ranked(results, kpi, maximize)
    # a trial is a distinct outcome: combinations with the same trades are one strategy, so
    # they neither raise the deflated Sharpe's "best of N" bar nor weigh twice in CSCV, and
    # the kept curves (MLflow's child runs) are the best K strategies, not copies of one
    distinct = distinct_outcomes(best_first)
    top = top_outcomes(best_first, sweep.keep_equity, distinct)
    equity = top_equity(sweep, grid, store, top, pool, stored)
    dates = packed.day_date.astype("datetime64[D]")
    store.write_equity("dates.parquet", pa.table({"date": pa.array(dates)}))
    statistics = overfitting_statistics(distinct, equity[:1])
    statistics.update(n_combinations=float(len(results)), n_outcomes=float(len(distinct)))
    summary = best_first.drop(columns=list(BLOCK_COLUMNS))
    store.write_summary(summary)
    best_row = best_first.iloc[0]
    best = {
        "combo": int(best_row["combo"]),
        "param_hash": str(best_row["param_hash"]),
        "params": {p: json_value(best_row[p]) for p in grid.paths},
        "kpis": {k: json_value(best_row[k]) for k in KPI_NAMES},
    }
    return manifest.with_results(
        status="done", computed=len(results),  # one per parameter hash: what is on disk
        statistics={k: json_value(v) for k, v in statistics.items()}, best=best,
        engines=_engines(sweep, results, manifest.engines.get("replayed", 0)),
    )


def _engines(sweep: SweepSpec, results: pd.DataFrame, replayed: int) -> dict[str, Any]:
    """The engines of every result on disk (written before gridbt had engines: day), and the
    rows not walked as the grid counted them (`replayed`, over every run of the sweep)."""
    n = len(results)
    engines = results["engine"].fillna("day") if "engine" in results else pd.Series(["day"] * n)
    fallback = results["fallback"].fillna("") if "fallback" in results else pd.Series([""] * n)
    return engine_counts(sweep.engine, engines.to_numpy(dtype=object),
                         fallback.to_numpy(dtype=object), replayed)
