"""The text a user reads when a sweep ends: counts, speed, best combinations, statistics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from gridbt.report.text import (
    format_named_kpi,
    format_param,
    open_mlflow,
    short_labels,
    text_table,
)
from gridbt.sweep.driver import SweepOutcome
from gridbt.sweep.finish import SAME_OUTCOME, distinct_outcomes, ranked

__all__ = ["format_engines", "format_mlflow", "format_outcome", "format_outcomes",
           "sweep_report", "top_table"]

_SHOWN_KPIS = ("sharpe", "cagr", "max_drawdown", "win_rate", "trade_count")


def top_table(results: pd.DataFrame, params: list[str], kpi: str, maximize: bool,
              n: int = 10) -> str:
    """The best `n` distinct outcomes as an aligned text table: the best-ranked combination of
    each (parameters, then KPIs), and how many combinations share its trades (`same`)."""
    best = distinct_outcomes(ranked(results, kpi, maximize)).head(n)
    kpis = [kpi, *(k for k in _SHOWN_KPIS if k != kpi)]
    header = ["#", *short_labels(params), *kpis, "same"]
    rows = [[str(i + 1), *(format_param(row[p]) for p in params),
             *(format_named_kpi(k, float(row[k])) for k in kpis), f"{int(row[SAME_OUTCOME])}"]
            for i, (_, row) in enumerate(best.iterrows())]
    return text_table(header, rows)


def format_engines(engines: dict[str, Any]) -> str:
    """`engines (auto): 30 combinations on trade tables (4 of them not walked: they repeated an
    earlier one's trades), 6 on the day kernel (delta_hedge 6)`, from `sweep.json`'s
    `engines`; "" when it has none."""
    if not engines:
        return ""
    why = ", ".join(f"{reason} {count:,}" for reason, count in engines["fallback"].items())
    replayed = engines.get("replayed", 0)  # absent from sweeps written before it was counted
    repeats = (f" ({replayed:,} of them not walked: they repeated an earlier one's trades)"
               if replayed else "")
    return (f"engines ({engines['engine']}): {engines['tables']:,} combinations on trade "
            f"tables{repeats}, {engines['day']:,} on the day kernel"
            + (f" ({why})" if why else ""))


def format_outcomes(statistics: dict[str, Any]) -> str:
    """`36 combinations, 20 distinct outcomes (trade sequences)`; "" when not counted."""
    if statistics.get("n_outcomes") is None:
        return ""
    return (f"{int(statistics['n_combinations']):,} combinations, "
            f"{int(statistics['n_outcomes']):,} distinct outcomes (trade sequences): the top "
            "table and the deflated Sharpe count each outcome once")


def format_outcome(outcome: SweepOutcome, results: pd.DataFrame, params: list[str]) -> str:
    m = outcome.manifest
    lines = []
    rate = outcome.computed / outcome.seconds if outcome.seconds > 0 else float("nan")
    state = "interrupted" if outcome.interrupted else "finished"
    counts = (f"{outcome.already_done:,} already done, {outcome.failed:,} failed, "
              f"{outcome.valid:,} valid in the grid")
    if outcome.computed or outcome.interrupted:
        lines.append(f"sweep {state}: {outcome.computed:,} combinations computed in "
                     f"{outcome.seconds:.1f} s ({rate:,.0f}/s on {outcome.actors} actors), "
                     f"{counts}")
    else:  # a resume of a finished grid
        lines.append(f"sweep {state}: nothing left to compute ({counts})")
    if m is not None and (engines := format_engines(m.engines)):
        lines.append(engines)
    if m is not None and (outcomes := format_outcomes(m.statistics)):
        lines.append(outcomes)
    if m is not None and not results.empty:
        lines.append("")
        lines.append(f"top combinations by {m.objective} ({'max' if m.maximize else 'min'}):")
        lines.append(top_table(results, params, m.objective, m.maximize))
        s = m.statistics
        if s.get("deflated_sharpe") is not None:
            lines.append("")
            lines.append(
                f"best Sharpe {s['best_sharpe']:.2f} vs {s['expected_max_sharpe']:.2f} expected "
                f"from {int(s['n_trials']):,} trials by luck alone: deflated Sharpe "
                f"{s['deflated_sharpe']:.3f}"
            )
        if s.get("pbo") is not None:
            lines.append(
                f"probability of backtest overfitting (CSCV, {int(s['pbo_blocks'])} blocks, "
                f"{int(s['pbo_splits'])} splits): {s['pbo']:.2f}"
            )
        if s.get("oos_degradation") is not None:
            lines.append(
                f"out of sample (CSCV): the in-sample best's Sharpe falls from "
                f"{s['cscv_is_sharpe']:.2f} to {s['cscv_oos_sharpe']:.2f} "
                f"(degradation {s['oos_degradation']:.2f}; it loses out of sample in "
                f"{s['pbo_prob_oos_loss']:.0%} of splits)"
            )
    lines.append("")
    lines.append(f"results: {outcome.out_dir}")
    if outcome.interrupted:
        lines.append("resume with: gridbt sweep <file> --resume")
    if mlflow := format_mlflow(outcome):
        lines.append(mlflow)
    return "\n".join(lines)


def format_mlflow(outcome: SweepOutcome) -> str:
    """Where the sweep's MLflow runs are, or "" when it was not logged (yet)."""
    m = outcome.manifest
    if m is None or not m.mlflow:
        return ""
    return (f"MLflow: experiment {m.mlflow['experiment']!r}, run {m.mlflow['run_id']}\n"
            + open_mlflow(m.mlflow))


def sweep_report(outcome: SweepOutcome) -> str:
    """`format_outcome` of a sweep, its results read from `outcome.out_dir`."""
    m = outcome.manifest
    params = list(m.sweep["grid"]) if m is not None else []
    results = _shown_results(outcome.out_dir, params, m.objective) if m is not None else \
        pd.DataFrame()
    return format_outcome(outcome, results, params)


def _shown_results(out_dir: Path, params: list[str], kpi: str) -> pd.DataFrame:
    """The results' columns `top_table` reads: read and ranked, a million rows' every column
    (block statistics lists included) took ~4 s, these ~0.9 s."""
    from gridbt.sweep.results import ResultStore

    store = ResultStore(out_dir)
    have = set(store.column_names())
    wanted = dict.fromkeys(["combo", *params, kpi, *_SHOWN_KPIS, "outcome_hash"])
    return store.read([c for c in wanted if c in have])
