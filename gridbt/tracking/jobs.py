"""MLflow runs of sweeps and studies, built from what they wrote to their result directories.

One module for both: where the runs go (`tracking_uri`), one parent run per sweep or study,
one child run per kept combination or trial with its KPIs and, where kept, its equity curve.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import yaml

from gridbt._errors import environment_failure
from gridbt._stages import seconds_since, stage
from gridbt._yaml import load_yaml
from gridbt.kernel.metrics import KPI_NAMES
from gridbt.optimize.finish import rank_trials
from gridbt.optimize.spec import CategoricalParam, FloatParam, IntParam, StudySpec
from gridbt.optimize.study import StudyOutcome
from gridbt.runtime import progress_bar
from gridbt.strategy.spec import StrategySpec, TrackingConfig
from gridbt.sweep.finish import SAME_OUTCOME, json_value, top_outcomes
from gridbt.sweep.labels import as_written, run_label
from gridbt.sweep.manifest import SweepManifest
from gridbt.sweep.results import ResultStore
from gridbt.sweep.spec import GridValue, MlflowConfig, SweepSpec, axis_values
from gridbt.tracking.mlflow_runs import (
    ChildRun,
    ParentRun,
    artifacts_destination,
    default_tracking_uri,
    log_runs,
    param_value,
    runs_url,
)

__all__ = ["BACKTEST_EXPERIMENT", "CHAIN_PREFIX", "IN_SAMPLE_PREFIX", "Reproduce",
           "log_backtest", "log_study", "log_sweep", "log_unless_logged", "still_logged",
           "tracking_uri"]

_NO_CURVE = np.empty(0)
_NO_DATES = np.empty(0, dtype="datetime64[D]")
_STUDY_CHILDREN = 500  # children of a study without `mlflow.children`
_MAX_PARAM = 6000  # MLflow's longest parameter value
#: A study trial's KPIs over its in-sample span, and over the whole chain (the trials with an
#: equity curve, which is the whole chain's)
IN_SAMPLE_PREFIX = "is_"
CHAIN_PREFIX = "chain_"


def tracking_uri(config: TrackingConfig, store_dir: Path) -> str:
    """The job file's tracking URI, else `$MLFLOW_TRACKING_URI`, else SQLite in `store_dir`
    (the job's output directory, so that its runs move with it)."""
    return (config.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
            or default_tracking_uri(store_dir))


def still_logged(recorded: Mapping[str, Any], config: TrackingConfig, name: str,
                 store_dir: Path, facts: Mapping[str, Any]) -> bool:
    """Whether the runs an earlier run of this job logged (`recorded`: the `mlflow` entry it
    wrote) hold what logging now would: the same tracking URI and experiment, logged from the
    same `facts` (`gridbt._status.made_from`), and the parent run still in the store, finished
    and not deleted, in that experiment (a user may have deleted either in the UI since). A
    store that cannot be read says no: logging again then reports what is wrong with it."""
    uri = tracking_uri(config, store_dir)
    if (not recorded or recorded.get("facts") != dict(facts)
            or recorded.get("tracking_uri") != uri
            or recorded.get("experiment") != (config.experiment or name)):
        return False
    from mlflow.tracking import MlflowClient

    from gridbt._sqlite import with_busy_timeout

    try:
        client = MlflowClient(with_busy_timeout(uri))
        run = client.get_run(str(recorded["run_id"]))
        experiment = client.get_experiment(run.info.experiment_id)
    except Exception:  # gone (deleted for good), or the store unreadable: log again
        return False
    return (run.info.status == "FINISHED" and run.info.lifecycle_stage == "active"
            and experiment.lifecycle_stage == "active"
            and experiment.name == recorded["experiment"])


def log_unless_logged(recorded: Mapping[str, Any], config: TrackingConfig, name: str,
                      store_dir: Path, facts: Mapping[str, Any],
                      log: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The `mlflow` entry of a finished sweep or study: `recorded` when an earlier run logged
    runs that still hold what `log()` would log (`still_logged`: a resume that changed
    nothing makes no second copy), else what `log()` logged, with the `facts` it was made
    from."""
    if still_logged(recorded, config, name, store_dir, facts):
        stage("MLflow run %s already holds these results; not logged again",
              recorded["run_id"])
        return dict(recorded)
    return {**log(), "facts": dict(facts)}


def _finite(values: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items()
            if v is not None and math.isfinite(float(v))}


def _scoped(kind: str, metrics: Mapping[str, float]) -> dict[str, float]:
    """A parent run's metrics as ``sweep/best_sharpe``, ``sweep/dsr``: apart from the child
    runs' KPIs in the UI's column menu, and a chart section of their own."""
    return {f"{kind}/{name}": value for name, value in metrics.items()}


def _decimals(number: float) -> int:
    text = repr(float(number))
    if "e" in text:
        mantissa, exponent = text.split("e")
        return max(0, len(mantissa.partition(".")[2].rstrip("0")) - int(exponent))
    return len(text.partition(".")[2].rstrip("0"))


def _study_value(value: Any, distribution: Any) -> Any:
    """A trial's value as the study file would write it: a categorical choice as written,
    an int as an int, a stepped float rounded to the decimals of its step and low bound (not
    Optuna's 0.6000000000000001)."""
    value = json_value(value)
    if value is None:
        return None
    if isinstance(distribution, CategoricalParam):
        return as_written(value, list(distribution.categorical))
    if isinstance(distribution, IntParam):
        return int(round(float(value)))
    if isinstance(distribution, FloatParam) and distribution.step is not None:
        places = max(_decimals(distribution.step), _decimals(distribution.bounds[0]))
        return round(float(value), places)
    return float(value) if isinstance(value, int | float) else value


def _axis_param(values: list[GridValue]) -> str:
    """An axis's values as one parameter, ``0.1, 0.15, off``; a count when too long."""
    text = ", ".join(param_value(v) for v in values)
    if len(text) <= _MAX_PARAM:
        return text
    return f"{len(values):,} values: {param_value(values[0])} … {param_value(values[-1])}"


def _varying(axes: Mapping[str, list[GridValue]]) -> list[str]:
    """The paths that take more than one value, which run names are made of."""
    return [path for path, values in axes.items() if len(values) > 1]


def _run_name(rank: int, values: Mapping[str, Any], paths: list[str]) -> str:
    return f"#{rank} {run_label(values, paths)}".rstrip()


def _log(config: TrackingConfig, name: str, store_dir: Path, parent: ParentRun,
         children: list[ChildRun], progress: bool, verbose: bool) -> dict[str, Any]:
    uri = tracking_uri(config, store_dir)
    experiment = config.experiment or name
    started = time.perf_counter()
    stage("logging to MLflow: experiment %r at %s, 1 parent and %d child runs", experiment,
          uri, len(children))
    bar = progress_bar(len(children), progress, unit="run")
    try:
        run_id = log_runs(uri, experiment, parent, children, verbose=verbose,
                          on_child=None if bar is None else lambda: bar.update(1))
    except Exception as exc:
        raise environment_failure(
            exc, f"logging to MLflow at {uri}", "then run the same command with --resume to "
            "log the runs (the results are final)") or exc from exc
    finally:
        if bar is not None:
            bar.close()
    stage("logged to MLflow in %.2f s", seconds_since(started))
    from mlflow.tracking import MlflowClient

    from gridbt._sqlite import with_busy_timeout

    experiment_id = MlflowClient(with_busy_timeout(uri)).get_run(run_id).info.experiment_id
    destination = artifacts_destination(uri)
    return {"tracking_uri": uri, "experiment": experiment, "experiment_id": experiment_id,
            "run_id": run_id, "children": len(children), "url": runs_url(uri, experiment_id),
            **({"artifacts": str(destination.resolve())} if destination is not None else {})}


class Reproduce(Protocol):
    """Writes a kept child's files (`rank`, its parameters as written) and returns their
    paths; `done()` once every child has had its call."""

    def __call__(self, rank: int, params: Mapping[str, Any]) -> list[Path]: ...

    def done(self) -> None: ...


def log_sweep(sweep: SweepSpec, manifest: SweepManifest, store: ResultStore,
              heatmaps: list[Path], source: str, store_dir: Path | None = None, *,
              base: StrategySpec | None = None, reproduce: Reproduce | None = None,
              progress: bool = False, verbose: bool = False) -> dict[str, Any]:
    """A parent run for a finished sweep, a child per top outcome (`mlflow.children`, default
    `keep_equity`: its best-ranked combination, with its equity curve and `same_outcome`, how
    many combinations made its trades; `all`: every combination); where the runs are.
    `progress` shows a bar over the child runs; `verbose` keeps MLflow's INFO lines
    (`log_runs`).

    The parent's artifacts: `results.parquet`, the heatmaps, `sweep.json`, the sweep file as
    written (`sweep.yaml`) and, given the `base` strategy, that strategy resolved
    (`strategy.yaml`) and the sweep file with it inline (`sweep.resolved.yaml`, which runs
    from anywhere). `reproduce(rank, params)` is called for each child with a curve and its
    files become the child's artifacts. The default store is SQLite in `store_dir`, else in
    the sweep's output directory (`tracking_uri`)."""
    results = store.read_summary()  # best first
    axes = {p: axis_values(p, axis) for p, axis in sweep.grid.items()}
    named = _varying(axes)
    wanted = sweep.mlflow.children if sweep.mlflow.children is not None else sweep.keep_equity
    # the best outcomes, each under its best-ranked combination, as the summary's top table
    top = top_outcomes(results, wanted)
    curves = store.equity_of(list(top["param_hash"]))
    dates = store.dates()
    children = []
    for rank, (_, row) in enumerate(top.iterrows(), start=1):
        curve = curves.get(str(row["param_hash"]))
        params = {p: as_written(row[p], values) for p, values in axes.items()}
        files = reproduce(rank, params) if reproduce is not None and curve is not None else []
        children.append(ChildRun(
            name=_run_name(rank, params, named),
            params=params,
            metrics={"rank": float(rank), **{k: float(row[k]) for k in KPI_NAMES},
                     **({} if SAME_OUTCOME not in row else
                        {"same_outcome": float(row[SAME_OUTCOME])})},
            dates=dates if curve is not None else _NO_DATES,
            equity=curve if curve is not None else _NO_CURVE,
            tags={"gridbt.param_hash": str(row["param_hash"]),
                  "gridbt.combo": str(int(row["combo"]))},
            files=files,
        ))
    if reproduce is not None:
        reproduce.done()
    best_kpis = {f"best_{k}": v for k, v in manifest.best.get("kpis", {}).items()}
    parent = ParentRun(
        name=sweep.name,
        params={"objective": sweep.objective.kpi, "grid_size": manifest.grid_size,
                "valid_combinations": manifest.valid_combinations,
                **{f"grid.{p}": _axis_param(values) for p, values in axes.items()}},
        metrics=_scoped("sweep", {
            **_finite(manifest.statistics), **_finite(best_kpis),
            "combinations": float(manifest.computed), "failures": float(manifest.failed),
            "seconds": manifest.seconds}),
        tags={"gridbt.kind": "sweep", "gridbt.data_fingerprint": manifest.data_fingerprint,
              "gridbt.code_version": manifest.code_version,
              "gridbt.grid_signature": manifest.grid_signature,
              "gridbt.out_dir": str(store.root.resolve())},
        artifacts=[store.root / "results.parquet", store.root / "sweep.json", *heatmaps],
        texts={"sweep.yaml": Path(source).read_text(),
               **(_resolved_texts(source, base, "sweep") if base is not None else {})},
        description=sweep.description,
    )
    return _log(sweep.mlflow, sweep.name, store_dir or store.root, parent, children, progress,
                verbose)


def _chain_kpis(out_dir: Path) -> dict[int, dict[str, float]]:
    """Whole-chain KPIs of the trials with a curve (a study finished before they were written
    has none)."""
    path = out_dir / "equity" / "kpis.parquet"
    if not path.is_file():
        return {}
    frame = pd.read_parquet(path).set_index("trial")
    return {int(n): {f"{CHAIN_PREFIX}{k}": float(row[k]) for k in KPI_NAMES}
            for n, row in frame.iterrows()}


def _resolved_texts(source: str, base: StrategySpec, kind: str) -> dict[str, str]:
    """`strategy.yaml` (the base strategy resolved) and `<kind>.resolved.yaml` (the job file
    with it inline: a relative `strategy:` path means nothing once downloaded)."""
    strategy = base.model_dump(mode="json", exclude={"mlflow"})
    payload = load_yaml(Path(source))
    payload["strategy"] = strategy
    return {"strategy.yaml": yaml.safe_dump(strategy, sort_keys=False, allow_unicode=True),
            f"{kind}.resolved.yaml": yaml.safe_dump(payload, sort_keys=False,
                                                    allow_unicode=True)}


def _study_curves(out_dir: Path) -> tuple[dict[int, np.ndarray], np.ndarray]:
    folder = out_dir / "equity"
    if not (folder / "top.parquet").is_file():
        return {}, _NO_DATES
    table = pq.read_table(folder / "top.parquet")
    column = table.column("equity").combine_chunks()
    flat = column.flatten().to_numpy().reshape(len(table), column.type.list_size)
    dates = pq.read_table(folder / "dates.parquet").column("date").to_numpy()
    return dict(zip(table.column("trial").to_pylist(), flat, strict=True)), \
        dates.astype("datetime64[D]")


def log_study(study: StudySpec, outcome: StudyOutcome, source: str,
              store_dir: Path | None = None, *,
              base: StrategySpec | None = None, reproduce: Reproduce | None = None,
              progress: bool = False, verbose: bool = False) -> dict[str, Any]:
    """A parent run for a finished study; a child per trial that was backtested (the best
    `mlflow.children` by the first objective, default 500, with the Pareto front always in),
    with equity curves for the best `keep_equity`; where the runs are. `progress` shows a bar
    over the child runs; `verbose` keeps MLflow's INFO lines (`log_runs`).

    A child's KPIs are those of its in-sample span, prefixed `is_` (`is_sharpe`); a child with
    an equity curve (over the whole chain) also has the whole chain's KPIs, prefixed `chain_`,
    so its curve ends at `chain_final_equity`; `reproduce(rank, params)` gives its files and
    `base` adds `strategy.yaml` and `study.resolved.yaml` to the parent; the default store is
    in `store_dir`, else the study's output directory (`log_sweep`)."""
    summary = outcome.summary
    span = "..".join(summary.get("in_sample_span_dates", []))
    frame = pd.read_parquet(outcome.out_dir / "trials.parquet")
    ranking = rank_trials(frame, study)
    wanted = study.mlflow.children
    limit = len(ranking) if wanted == "all" else _STUDY_CHILDREN if wanted is None \
        else int(wanted)
    pareto = {int(p["trial"]) for p in summary.get("pareto", [])} or {summary["best"]["trial"]}
    keep = ranking[:limit] + [n for n in ranking[limit:] if n in pareto]
    curves, dates = _study_curves(outcome.out_dir)
    chain = _chain_kpis(outcome.out_dir)
    rows = frame.set_index("trial")
    subgrid = {p: axis_values(p, axis) for p, axis in study.subgrid.items()}
    named = list(study.space) + _varying(subgrid)
    children = []
    for rank, number in enumerate(keep, start=1):
        row = rows.loc[number]
        params = {**{p: _study_value(row[p], d) for p, d in study.space.items()},
                  **{p: as_written(row[p], values) for p, values in subgrid.items()}}
        metrics = {"rank": float(rank),
                   **{f"{IN_SAMPLE_PREFIX}{k}": float(row[k]) for k in KPI_NAMES},
                   **chain.get(number, {})}
        for o in study.objectives:
            value = row[f"objective_{o.kpi}"]
            metrics[f"objective_{o.kpi}"] = math.nan if value is None else float(value)
        curve = curves.get(number)
        # a conditional path the trial did not sample keeps the base strategy's value
        sampled = {p: v for p, v in params.items()
                   if not (v is None and p in study.space and study.space[p].when)}
        files = reproduce(rank, sampled) if reproduce is not None and curve is not None else []
        children.append(ChildRun(
            name=f"#{rank} t{number} {run_label(params, named)}".rstrip(), params=params,
            metrics=metrics, dates=dates if curve is not None else _NO_DATES,
            equity=curve if curve is not None else _NO_CURVE,
            tags={"gridbt.trial": str(number), "gridbt.state": str(row["state"]),
                  "gridbt.pareto": str(number in pareto).lower(),
                  **({"gridbt.in_sample": span} if span else {})},
            files=files,
        ))
    if reproduce is not None:
        reproduce.done()
    wf = summary.get("walk_forward", {})
    wf_metrics = {f"wf_{k}": wf.get(k) for k in
                  ("in_sample", "out_of_sample", "refit_out_of_sample", "degradation",
                   "efficiency")}
    best_values = {f"best_{o.kpi}": v for o, v in
                   zip(study.objectives, summary["best"]["values"], strict=True)}
    texts = {"study.yaml": Path(source).read_text(),
             "summary.json": json.dumps(summary, indent=2, default=str)}
    if "pareto" in summary:
        texts["pareto.csv"] = _pareto_csv(summary["pareto"], study)
    if base is not None:
        texts.update(_resolved_texts(source, base, "study"))
    parent = ParentRun(
        name=study.name,
        params={"objectives": ",".join(o.kpi for o in study.objectives),
                "sampler": study.sampler_kind, "pruner": study.pruner_kind,
                "trials": study.trials, "parallel": study.parallel,
                "walk_forward": "none" if study.walk_forward is None else
                f"{study.walk_forward.scheme}:{study.walk_forward.folds}",
                **{f"space.{p}": d.model_dump_json(by_alias=True) for p, d in study.space.items()}},
        metrics=_scoped("study", {
            **_finite(summary.get("statistics", {})), **_finite(wf_metrics),
            **_finite(best_values),
            **{f"trials_{k}": float(v) for k, v in summary["trials"].items()},
            "seconds": outcome.seconds,
            "sampler_ms_per_trial": float(summary["sampler_ms_per_trial"])}),
        tags={"gridbt.kind": "study", "gridbt.storage": outcome.storage,
              "gridbt.out_dir": str(outcome.out_dir.resolve()),
              "gridbt.best_trial": str(summary["best"]["trial"])},
        artifacts=[outcome.out_dir / "trials.parquet"],
        texts=texts,
        description=study.description,
    )
    return _log(study.mlflow, study.name, store_dir or outcome.out_dir, parent, children,
                progress, verbose)


def _pareto_csv(pareto: list[dict[str, Any]], study: StudySpec) -> str:
    paths = list(study.space)
    header = ["trial", *(o.kpi for o in study.objectives), *paths]
    lines = [",".join(header)]
    for p in pareto:
        cells = [str(p["trial"]), *(str(v) for v in p["values"]),
                 *(str(p["params"].get(path, "")) for path in paths)]
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A strategy as dotted paths to values, as grids name them (`structure.legs.0.select.
    target`); a list of scalars (weekdays) stays one value."""
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        items = [(str(i), v) for i, v in enumerate(value)]
    else:
        return {prefix: value}
    flat: dict[str, Any] = {}
    for key, item in items:
        flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return flat


#: The experiment of a backtest whose strategy file and command line name none.
BACKTEST_EXPERIMENT = "backtests"


def log_backtest(spec: StrategySpec, summary: dict[str, Any], out_dir: Path,
                 experiment: str | None = None, *, verbose: bool = False) -> dict[str, Any]:
    """One run for a `gridbt backtest`: the strategy's every value as parameters (dotted paths,
    written as in sweeps), its KPIs as metrics, and as artifacts the files of `out_dir`
    (summary, trades, equity, tear sheet) and `strategy.yaml`; where the run is.

    The strategy's ``mlflow:`` section says where (`experiment` overrides its experiment,
    default "backtests"): its tracking URI, else `$MLFLOW_TRACKING_URI`, else SQLite in
    `out_dir`."""
    config = spec.mlflow or MlflowConfig()
    experiment = experiment or config.experiment or BACKTEST_EXPERIMENT
    strategy = spec.model_dump(mode="json")
    files = [out_dir / name for name in summary["files"].values()]
    parent = ParentRun(
        name=spec.name,
        params={k: v for k, v in _flatten(strategy).items()
                if k != "name" and not k.startswith("mlflow.")},
        metrics=_finite(summary["kpis"]),
        tags={"gridbt.kind": "backtest", "gridbt.strategy_hash": summary["strategy_hash"],
              "gridbt.data_fingerprint": summary["data"]["fingerprint"],
              "gridbt.code_version": summary["gridbt_version"],
              "gridbt.engine": summary["engine"], "gridbt.out_dir": str(out_dir.resolve())},
        artifacts=files,
        texts={"strategy.yaml": yaml.safe_dump(strategy, sort_keys=False, allow_unicode=True)},
    )
    return _log(config.model_copy(update={"experiment": experiment}), spec.name, out_dir, parent,
                [], False, verbose)
