"""The CLI summary of a study: best parameters, walk-forward, overfitting, where things are."""

from __future__ import annotations

from typing import Any

from gridbt.optimize.study import StudyOutcome
from gridbt.report.text import (
    format_named_kpi,
    format_param,
    open_mlflow,
    short_labels,
    text_table,
)

__all__ = ["format_mlflow", "format_study"]


def _num(value: Any, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _short(paths: list[str]) -> list[str]:
    return short_labels(paths, width=18)


def format_study(outcome: StudyOutcome, mlflow: bool = True) -> str:
    """The study's results as the terminal shows them; `mlflow=False` leaves out where its
    MLflow runs are (a caller that prints this before logging, and that line after)."""
    s = outcome.summary
    state = "interrupted" if outcome.interrupted else "finished"
    per_trial = 1000 * outcome.sampler_seconds / max(outcome.computed, 1)
    storage_ms = 1000 * outcome.storage_seconds / max(outcome.computed, 1)
    if outcome.computed or outcome.interrupted:
        lines = [
            f"study {outcome.study_name} {state}: {outcome.computed:,} trials in "
            f"{outcome.seconds:.1f} s ({outcome.finished:,} in the study), "
            f"{outcome.backtests:,} backtests on {outcome.actors} actors"
            + (f" ({outcome.repeats:,} trial{'s' if outcome.repeats > 1 else ''} repeated "
               "an earlier trial's parameters and took its results)" if outcome.repeats else "")
            + "; sampler "
            f"{per_trial:.1f} ms/trial, storage {storage_ms:.1f} ms/trial"
        ]
    else:  # a resume of a finished study
        lines = [f"study {outcome.study_name} {state}: no trials left to run "
                 f"({outcome.finished:,} in the study)"]
    if "trials" in s:
        t = s["trials"]
        lines.append(f"trials: {t['complete']:,} complete, {t['pruned']:,} pruned, "
                     f"{t['fail']:,} failed; {s['parameter_sets']:,} parameter sets tried "
                     f"(sampler {s['sampler']}, pruner {s['pruner']})")
    best = s.get("best")
    if best is not None:
        objectives = ", ".join(f"{o['kpi']} {format_named_kpi(o['kpi'], v)}"
                               for o, v in zip(s["objectives"], best["values"], strict=True))
        over = "mean in sample over the folds" if "walk_forward" in s else "whole chain"
        lines += ["", f"best trial #{best['trial']}: {objectives} ({over})"]
        width = max(len(p) for p in best["params"])
        lines += [f"  {p:<{width}}  {format_param(v)}" for p, v in best["params"].items()]
        full = best["full_chain_kpis"]
        shown = ("sharpe", "cagr", "max_drawdown", "trade_count")
        lines.append("  whole chain: " + ", ".join(
            f"{k.replace('_', ' ')} {format_named_kpi(k, full[k])}" for k in shown))
    wf = s.get("walk_forward")
    if wf is not None:
        kpi = wf["kpi"]

        def value(v: Any) -> str:
            return format_named_kpi(kpi, v)

        rows = [[str(f["fold"]), " .. ".join(f["in_sample_dates"]),
                 value(f["chosen_in_sample"]), " .. ".join(f["out_of_sample_dates"]),
                 value(f["chosen_out_of_sample"]), f"#{f['refit_trial']}",
                 value(f["refit_out_of_sample"])] for f in wf["folds"]]
        lines += ["", f"walk-forward ({wf['scheme']}, {len(wf['folds'])} folds, {kpi}):",
                  text_table(["fold", "in sample", "IS", "out of sample", "OOS",
                          "refit best", "its OOS"], rows),
                  f"chosen parameters: {kpi} {value(wf['in_sample'])} in sample, "
                  f"{value(wf['out_of_sample'])} out of sample (degradation "
                  f"{value(wf['degradation'])}, efficiency {_num(wf['efficiency'])}); "
                  f"re-fitted per fold: {value(wf['refit_out_of_sample'])} out of sample"]
    st = s.get("statistics", {})
    if st.get("deflated_sharpe") is not None:
        # the Sharpe it deflates is over the in-sample span, not the folds' mean above
        dates = s.get("in_sample_span_dates")
        span = " .. ".join(dates) if dates else ""
        where = ("the whole chain" if "walk_forward" not in s else "the in-sample span")
        lines += ["", f"deflated Sharpe {st['deflated_sharpe']:.3f}: the chosen parameters' "
                  f"Sharpe {st['best_sharpe']:.2f} over {where}{f' ({span})' if span else ''} "
                  f"vs {st['expected_max_sharpe']:.2f} expected from "
                  f"{_trials_counted(st)} by luck alone"]
    if st.get("pbo") is not None:
        over = ("the trials" if st.get("n_outcomes") is None
                else f"one trial per distinct outcome, {int(st['n_outcomes']):,}")
        lines.append(f"probability of backtest overfitting (CSCV over {over}, "
                     f"{int(st['pbo_blocks'])} blocks): {st['pbo']:.2f}; the in-sample best's "
                     f"Sharpe falls from {st['cscv_is_sharpe']:.2f} to {st['cscv_oos_sharpe']:.2f}"
                     f" out of sample")
    if s.get("pareto"):
        names = [o["kpi"] for o in s["objectives"]]
        params = list(dict.fromkeys(p for t in s["pareto"] for p in t["params"]))
        rows = [[f"#{t['trial']}", *(format_named_kpi(n, v) for n, v in zip(names, t["values"],
                                                                             strict=True)),
                 *(format_param(t["params"].get(p)) if p in t["params"] else "-" for p in params)]
                for t in s["pareto"]]
        lines += ["", f"Pareto front ({len(rows)} trials):",
                  text_table(["trial", *names, *_short(params)], rows)]
    lines += ["", f"results: {outcome.out_dir}",
              f"storage: {outcome.storage}  (see it: optuna-dashboard "
              f"{outcome.storage.removeprefix('journal:')})"]
    if outcome.interrupted:
        lines.append("resume with: gridbt optimize <file> --resume")
    if mlflow and (where := format_mlflow(outcome)):
        lines.append(where)
    return "\n".join(lines)


def format_mlflow(outcome: StudyOutcome) -> str:
    """Where the study's MLflow runs are, or "" when it was not logged (yet)."""
    ml = outcome.summary.get("mlflow")
    if not ml:
        return ""
    return (f"MLflow: experiment {ml['experiment']!r}, run {ml['run_id']}, "
            f"{ml['children']} child runs\n"
            + open_mlflow(ml))


def _trials_counted(statistics: dict[str, Any]) -> str:
    """What the deflated Sharpe's N counts: distinct outcomes (repeats of a parameter set, and
    sets that trade alike, once; times the sub-grid's rows), or parameter sets for a study
    finished before gridbt counted outcomes."""
    n = int(statistics["n_trials"])
    if statistics.get("n_outcomes") is None:
        return f"{n:,} parameter sets"
    outcomes, sets = int(statistics["n_outcomes"]), int(statistics["n_parameter_sets"])
    repeats = (f"; {sets - n:,} of the {sets:,} parameter sets tried repeated another's trades"
               if sets > n else "")
    if n == outcomes:
        return f"{n:,} distinct outcomes (trade sequences{repeats})"
    return (f"{n:,} trials ({outcomes:,} distinct outcomes x {n // max(outcomes, 1):,} "
            f"sub-grid rows{repeats})")
