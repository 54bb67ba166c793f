"""After the trials: is the best result real?

- **Walk-forward**: the chosen parameters (the best trial; with several objectives, the Pareto
  trial best on the first) are run out of sample on every fold; each fold's in-sample best
  trial is run on that fold's out-of-sample window too (re-fitting per fold, the classic
  walk-forward analysis).
- **Deflated Sharpe and PBO**: every trial that ran is backtested over the study's whole
  in-sample span (fold 1's start to the last fold's in-sample end; the whole chain without
  walk-forward). Trials whose span backtests make the same trades are one outcome, as in a
  sweep: the deflated Sharpe of the chosen parameters counts the distinct outcomes times the
  sub-grid size (the parameter sets tried, repeats and look-alikes once), and PBO is CSCV over
  one trial per outcome.
- Results go to the result directory: `trials.parquet` (every finished trial, its values, span
  KPIs and whether it was backtested), `equity/top.parquet` (the equity curves of the best
  `keep_equity` trials over the whole chain, by trial number; dates in `equity/dates.parquet`,
  their whole-chain KPIs in `equity/kpis.parquet`) and `summary.json`.
  MLflow logs them afterwards (`gridbt.tracking`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pyarrow as pa
from optuna.trial import FrozenTrial, TrialState

from gridbt._atomic import write_json_atomic, write_parquet_atomic
from gridbt._typing import FloatArray
from gridbt.data.pack import PackedChain
from gridbt.kernel.dispatch import windowed
from gridbt.kernel.metrics import KPI_NAMES
from gridbt.optimize.evaluate import Evaluator
from gridbt.optimize.folds import Fold
from gridbt.optimize.space import SearchSpace
from gridbt.optimize.spec import StudySpec
from gridbt.optimize.study import (
    ATTR_ERROR,
    ATTR_RESULT,
    ATTR_VALUES,
    FINISHED,
    StudyOutcome,
)
from gridbt.sweep.finish import (
    BLOCK_COLUMNS,
    distinct_outcomes,
    json_value,
    overfitting_statistics,
)
from gridbt.sweep.results import equity_table

__all__ = ["finish_study", "rank_trials"]


def _ran(trial: FrozenTrial) -> bool:
    return ATTR_RESULT in trial.user_attrs and trial.state in FINISHED


def _result(trial: FrozenTrial) -> dict[str, Any]:
    """What the trial produced (see `gridbt.optimize.study.ATTR_RESULT`); {} if it never ran."""
    result: dict[str, Any] = trial.user_attrs.get(ATTR_RESULT, {})
    return result


def _values(trial: FrozenTrial, space: SearchSpace) -> dict[str, Any]:
    """The trial's space values and its best sub-grid row's values."""
    result = _result(trial)
    values = dict(result.get("values", trial.user_attrs.get(ATTR_VALUES, {})))
    if "sub_row" in result:
        values.update(space.sub_assignment(int(result["sub_row"])))
    return values


def _chosen(study: StudySpec, optuna_study: optuna.Study) -> list[FrozenTrial]:
    """The chosen trial first; with several objectives, then the rest of the Pareto front."""
    complete = optuna_study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return []
    if len(study.objectives) == 1:
        return [optuna_study.best_trial]
    sign = -1.0 if study.objectives[0].maximize else 1.0
    return sorted(optuna_study.best_trials, key=lambda t: (sign * t.values[0], t.number))


def _rows(space: SearchSpace, ran: list[FrozenTrial]) -> dict[int, FloatArray]:
    """Each trial's best kernel row, by trial number (encoded once here)."""
    rows: dict[int, FloatArray] = {}
    for trial in ran:
        result = _result(trial)
        encoded = space.encode(result["values"])
        assert encoded.rows is not None  # it ran, so it encodes
        rows[trial.number] = encoded.rows[int(result["sub_row"])]
    return rows


def _fold_value(trial: FrozenTrial, k: int, kpi: str) -> float:
    folds = _result(trial).get("folds", [])
    if k >= len(folds) or folds[k].get(kpi) is None:
        return math.nan
    return float(folds[k][kpi])


def _dates(packed: PackedChain, window: tuple[int, int]) -> list[str]:
    """First and last trading date of a day window, ISO."""
    days = packed.day_date.astype("datetime64[D]")
    return [str(days[window[0]]), str(days[window[1] - 1])]


def _walk_forward(study: StudySpec, row_of: dict[int, FloatArray], folds: list[Fold],
                  ran: list[FrozenTrial], chosen: FrozenTrial,
                  evaluator: Evaluator, packed: PackedChain) -> dict[str, Any]:
    objective = study.objectives[0]
    kpi, col = objective.kpi, KPI_NAMES.index(objective.kpi)
    sign = 1.0 if objective.maximize else -1.0
    refit: list[FrozenTrial] = []
    for k in range(len(folds)):
        scored = [(sign * _fold_value(t, k, kpi), -t.number, t) for t in ran
                  if math.isfinite(_fold_value(t, k, kpi))]
        refit.append(max(scored, key=lambda s: s[:2])[2] if scored else chosen)
    rows = []
    for fold, best in zip(folds, refit, strict=True):
        assert fold.oos is not None
        rows.append(windowed(row_of[chosen.number][None, :], fold.oos))
        rows.append(windowed(row_of[best.number][None, :], fold.oos))
    kpis = evaluator.kpis(np.concatenate(rows), "walk-forward out of sample")
    table = []
    for k, (fold, best) in enumerate(zip(folds, refit, strict=True)):
        assert fold.oos is not None
        table.append({
            "fold": fold.number,
            "in_sample": list(fold.in_sample), "out_of_sample": list(fold.oos),
            "in_sample_dates": _dates(packed, fold.in_sample),
            "out_of_sample_dates": _dates(packed, fold.oos),
            "chosen_in_sample": json_value(_fold_value(chosen, k, kpi)),
            "chosen_out_of_sample": json_value(kpis[2 * k, col]),
            "refit_trial": best.number,
            "refit_in_sample": json_value(_fold_value(best, k, kpi)),
            "refit_out_of_sample": json_value(kpis[2 * k + 1, col]),
            "chosen_oos_kpis": {n: json_value(kpis[2 * k, i]) for i, n in enumerate(KPI_NAMES)},
        })
    is_mean = float(np.nanmean([_fold_value(chosen, k, kpi) for k in range(len(folds))]))
    oos = np.array([r["chosen_out_of_sample"] for r in table], dtype=float)
    refit_oos = np.array([r["refit_out_of_sample"] for r in table], dtype=float)
    oos_mean = float(np.nanmean(oos)) if np.isfinite(oos).any() else math.nan
    return {
        "kpi": kpi,
        "scheme": study.walk_forward.scheme if study.walk_forward else None,
        "folds": table,
        "in_sample": json_value(is_mean),
        "out_of_sample": json_value(oos_mean),
        "refit_out_of_sample": json_value(float(np.nanmean(refit_oos))
                                      if np.isfinite(refit_oos).any() else math.nan),
        "degradation": json_value(is_mean - oos_mean),
        "efficiency": json_value(oos_mean / is_mean if is_mean != 0 else math.nan),
    }


def _span(folds: list[Fold]) -> tuple[int, int]:
    return min(f.in_sample[0] for f in folds), max(f.in_sample[1] for f in folds)


def _values_frame(ran: list[FrozenTrial], trials: list[FrozenTrial], study: StudySpec,
                  space: SearchSpace, span_kpis: FloatArray) -> pd.DataFrame:
    kpi_of = {t.number: span_kpis[i] for i, t in enumerate(ran)}
    records = []
    for t in trials:
        if t.state not in FINISHED:
            continue
        record: dict[str, Any] = {"trial": t.number, "state": t.state.name,
                                  "ran": t.number in kpi_of}
        values = t.values if t.state == TrialState.COMPLETE else None
        for j, o in enumerate(study.objectives):
            record[f"objective_{o.kpi}"] = values[j] if values else None
        chosen_values = _values(t, space)
        for path in [*study.space, *study.subgrid]:
            record[path] = chosen_values.get(path)
        spans = kpi_of.get(t.number)
        for i, name in enumerate(KPI_NAMES):
            record[name] = float(spans[i]) if spans is not None else math.nan
        record["error"] = t.user_attrs.get(ATTR_ERROR)
        record["seconds"] = (t.duration.total_seconds() if t.duration is not None else None)
        records.append(record)
    frame = pd.DataFrame.from_records(records)
    for path in [*study.space, *study.subgrid]:
        if path not in frame:
            continue
        column = frame[path]
        present = [v for v in column if v is not None]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in present)
        frame[path] = (pd.to_numeric(column, errors="coerce") if numeric
                       else column.map(lambda v: None if v is None else str(v)))
    return frame


def finish_study(study: StudySpec, space: SearchSpace, folds: list[Fold],
                 optuna_study: optuna.Study, evaluator: Evaluator, packed: PackedChain,
                 outcome: StudyOutcome, made_from: dict[str, Any] | None = None) -> dict[str, Any]:
    """Out-of-sample results, overfitting statistics and the result files; the summary
    (`made_from`: what they were made from, recorded as the summary's `made_from`)."""
    trials = optuna_study.get_trials(deepcopy=False)
    states = {s.name.lower(): sum(t.state == s for t in trials) for s in FINISHED}
    summary: dict[str, Any] = {
        **({"made_from": made_from} if made_from is not None else {}),
        "study": study.name, "storage": outcome.storage, "trials": states,
        "objectives": [{"kpi": o.kpi, "maximize": o.maximize} for o in study.objectives],
        "sampler": study.sampler_kind, "pruner": study.pruner_kind,
        "parameter_sets": 0, "backtests": outcome.backtests, "repeats": outcome.repeats,
        "sampler_ms_per_trial": 1000 * outcome.sampler_seconds / max(outcome.computed, 1),
    }
    chosen_list = _chosen(study, optuna_study)
    ran = [t for t in trials if _ran(t)]
    summary["parameter_sets"] = len(ran) * space.sub_size
    if not chosen_list or not ran:
        write_json_atomic(outcome.out_dir / "summary.json", summary)
        return summary
    chosen = chosen_list[0]
    span = _span(folds)
    row_of = _rows(space, ran)
    chosen_row = row_of[chosen.number][None, :]
    span_kpis, blocks, outcomes = evaluator.window_stats(
        np.stack(list(row_of.values())), span, study.pbo_blocks, "the in-sample span")
    lo, hi = span
    chosen_equity = evaluator.equity(windowed(chosen_row, span), "the chosen trial's span")
    frame = _values_frame(ran, trials, study, space, span_kpis)
    stats_frame = pd.DataFrame({"sharpe": span_kpis[:, KPI_NAMES.index("sharpe")],
                                "outcome_hash": outcomes})
    for c, name in enumerate(BLOCK_COLUMNS):
        stats_frame[name] = list(blocks[:, :, c])
    # a trial is a distinct outcome, as in a sweep: samplers propose the same parameters again
    # (and others that trade alike), and those repeats are not more strategies tried
    distinct = distinct_outcomes(stats_frame)
    statistics = overfitting_statistics(distinct, chosen_equity[:, max(lo - 1, 0):hi],
                                        n_trials=len(distinct) * space.sub_size)
    statistics.update(n_parameter_sets=float(summary["parameter_sets"]),
                      n_outcomes=float(len(distinct)))
    summary["statistics"] = {k: json_value(v) for k, v in statistics.items()}
    summary["in_sample_span"] = [lo, hi]
    summary["in_sample_span_dates"] = _dates(packed, span)
    full = evaluator.kpis(chosen_row, "the chosen trial's whole chain")[0]
    values = _values(chosen, space)
    summary["best"] = {
        "trial": chosen.number,
        "values": [json_value(v) for v in chosen.values],
        "params": {k: json_value(v) for k, v in values.items()},
        "full_chain_kpis": {n: json_value(full[i]) for i, n in enumerate(KPI_NAMES)},
    }
    if folds[0].oos is not None:
        summary["walk_forward"] = _walk_forward(study, row_of, folds, ran, chosen, evaluator,
                                                packed)
    if len(study.objectives) > 1:
        summary["pareto"] = [
            {"trial": t.number, "values": [json_value(v) for v in t.values],
             "params": {k: json_value(v) for k, v in _values(t, space).items()}}
            for t in chosen_list
        ]
    write_parquet_atomic(outcome.out_dir / "trials.parquet",
                         pa.Table.from_pandas(frame, preserve_index=False))
    best = rank_trials(frame, study)[: study.keep_equity]
    if best:
        rows = np.stack([row_of[n] for n in best])
        equity = evaluator.equity(rows, "the best trials' equity")
        chain_kpis = evaluator.kpis(rows, "the best trials' whole chain")
        _write_equity(outcome.out_dir / "equity", best, equity, chain_kpis, packed)
    write_json_atomic(outcome.out_dir / "summary.json", summary)
    return summary


def rank_trials(frame: pd.DataFrame, study: StudySpec) -> list[int]:
    """The numbers of the trials that were backtested, best first by the first objective
    (complete trials by their value, then the others; ties by trial number)."""
    first = study.objectives[0]
    ran = frame[frame["ran"]]
    score = ran[f"objective_{first.kpi}"].where(ran["state"] == "COMPLETE")
    order = pd.DataFrame({"score": score.astype(float), "trial": ran["trial"]}).sort_values(
        ["score", "trial"], ascending=[not first.maximize, True], na_position="last",
        kind="stable")
    return [int(n) for n in order["trial"]]


def _write_equity(folder: Path, trials: list[int], equity: FloatArray, kpis: FloatArray,
                  packed: PackedChain) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_parquet_atomic(folder / "top.parquet", equity_table(
        {"trial": pa.array(trials, type=pa.int64())}, equity))
    write_parquet_atomic(folder / "kpis.parquet", pa.table({
        "trial": pa.array(trials, type=pa.int64()),
        **{name: pa.array(kpis[:, i], type=pa.float64()) for i, name in enumerate(KPI_NAMES)},
    }))
    dates = packed.day_date.astype("datetime64[D]")
    write_parquet_atomic(folder / "dates.parquet", pa.table({"date": pa.array(dates)}))
