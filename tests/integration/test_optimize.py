"""Optuna studies end to end: real Ray actors, a real SQLite/journal Optuna storage, real
MLflow, real optuna-dashboard over HTTP, on the small synthetic chain."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from gridbt.data.default import load_packed
from gridbt.kernel.dispatch import kpis_of
from gridbt.kernel.metrics import KPI_INDEX
from gridbt.optimize.folds import folds_of
from gridbt.optimize.samplers import open_storage
from gridbt.optimize.spec import StudyError, load_study
from gridbt.optimize.study import ATTR_ERROR, ATTR_REPEAT_OF, ATTR_RESULT, run_study
from gridbt.runtime import BacktestActor
from gridbt.strategy.backtest import run_backtest
from gridbt.strategy.encode import STANDARD_FEATURES
from gridbt.strategy.paths import apply_assignment
from gridbt.strategy.spec import StrategySpec
from gridbt.sweep.grid import Grid
from gridbt.sweep.spec import load_sweep
from gridbt.tracking.artifacts import RunArtifacts
from gridbt.workflows.study import study_job

ray = pytest.importorskip("ray")
# the actor subclass below travels to Ray workers by value: workers cannot import this file
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("local_ray")]
REPO = Path(__file__).resolve().parents[2]
SHORT_PUT = REPO / "jobs/strategies/short_put_30d.yaml"


# the grid and the study's space describe the same 1,920 combinations
GRID = """\
  structure.legs.0.select.target: {range: [0.05, 0.50, 0.05]}
  exit.profit_target: {range: [0.2, 0.9, 0.1]}
  exit.stop_loss: [1.0, 1.5, 2.0, 2.5, 3.0, null]
  exit.dte: [null, 7, 14, 21]
"""
SPACE = """\
  structure.legs.0.select.target: {float: [0.05, 0.50], step: 0.05}
  exit.profit_target: {float: [0.2, 0.9], step: 0.1}
  exit.stop_loss: {categorical: [1.0, 1.5, 2.0, 2.5, 3.0, null]}
  exit.dte: {categorical: [null, 7, 14, 21]}
"""


def study_file(tmp_path: Path, chain: Path, body: str, space: str = SPACE,
               name: str = "test_study") -> Path:
    text = textwrap.dedent(f"""\
        name: {name}
        strategy: {SHORT_PUT}
        data: {chain}
        pbo_blocks: 6
        mlflow: {{enabled: false}}
        space:
        """) + textwrap.indent(textwrap.dedent(space), "  ") + textwrap.dedent(body)
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def storage_study(outcome: Any) -> optuna.Study:
    return optuna.load_study(study_name=outcome.study_name, storage=open_storage(outcome.storage))


def spec_of(base: StrategySpec, values: dict[str, Any]) -> StrategySpec:
    return StrategySpec.model_validate(apply_assignment(base.model_dump(mode="json"), values))


def _trade_sequences(packed: Any, base: StrategySpec, trials: list[Any],
                     span: list[int]) -> int:
    """How many distinct trade sequences (entry and exit days, contracts, P&L to the cent)
    the trials' parameters make over the in-sample span, each backtested on its own."""
    seen = set()
    for t in trials:
        r = run_backtest(packed, spec_of(base, t.user_attrs[ATTR_RESULT]["values"]),
                         window=(span[0], span[1]))
        seen.add(tuple((int(x["entry_day"]), int(x["exit_day"]), round(float(x["contracts"]), 6),
                        round(float(x["pnl"]), 2)) for x in r.trades))
    return len(seen)


def test_tpe_finds_the_top_5_percent_of_the_grid_in_a_tenth_of_its_evaluations(
    tmp_path: Path, chain: Path
) -> None:
    grid_path = tmp_path / "grid.yaml"
    grid_path.write_text(f"name: g\nstrategy: {SHORT_PUT}\ndata: {chain}\ngrid:\n{GRID}")
    sweep, base = load_sweep(grid_path)
    grid = Grid(sweep, base, STANDARD_FEATURES)
    from gridbt.kernel.dispatch import run_batch

    exhaustive = run_batch(load_packed(chain), grid.block(0, grid.size).params)[0]
    sharpe = exhaustive[:, KPI_INDEX["sharpe"]]
    budget = grid.size // 10
    path = study_file(tmp_path, chain, f"sampler: {{kind: tpe, seed: 7}}\ntrials: {budget}\n")
    outcome = run_study(path, out=tmp_path / "out", progress=False, finish=False)
    study = storage_study(outcome)
    assert len(study.trials) == budget
    best = study.best_trial
    assert best.value >= np.nanpercentile(sharpe, 95)
    # stronger than the issue asks, and what random search with this budget misses on some
    # seeds: TPE's best is in the top 1%
    assert best.value >= np.nanpercentile(sharpe, 99)
    # the study measured the same thing as the grid: its best is that grid cell's Sharpe
    values = best.user_attrs[ATTR_RESULT]["values"]
    cell = next(c for c in range(grid.size) if grid.assignment(c) == values)
    assert best.value == sharpe[cell]


def test_subgrid_trial_reports_its_best_sub_combination(tmp_path: Path, chain: Path) -> None:
    space = """\
      structure.legs.0.select.target: {float: [0.10, 0.40], step: 0.05}
      exit.stop_loss: {categorical: [1.5, 3.0, null]}
    """
    path = study_file(tmp_path, chain, "subgrid:\n  exit.dte: [null, 7, 14]\n"
                      "  exit.profit_target: [0.25, 0.5, null]\n"
                      "sampler: {kind: random, seed: 3}\ntrials: 6\nparallel: 3\n", space)
    outcome = run_study(path, out=tmp_path / "out", progress=False, finish=False)
    assert outcome.backtests == 6 * 9
    study, base = load_study(path)
    packed = load_packed(chain)
    for trial in storage_study(outcome).trials:
        result = trial.user_attrs[ATTR_RESULT]
        sharpes = []
        for dte in (None, 7, 14):
            for pt in (0.25, 0.5, None):
                spec = spec_of(base, {**result["values"], "exit.dte": dte,
                                      "exit.profit_target": pt})
                r = run_backtest(packed, spec)
                sharpes.append(kpis_of(r, packed, spec.capital)["sharpe"])
        assert trial.value == np.nanmax(sharpes)
        assert sharpes[result["sub_row"]] == trial.value


def test_subgrid_with_folds_keeps_the_folds_of_its_final_best_row(tmp_path: Path,
                                                                   chain: Path) -> None:
    space = """\
      structure.legs.0.select.target: {float: [0.10, 0.40], step: 0.05}
    """
    path = study_file(tmp_path, chain, "subgrid:\n  exit.dte: [null, 14]\n"
                      "  exit.profit_target: [0.25, 0.5, 0.75, null]\n"
                      "sampler: {kind: random, seed: 4}\n"
                      "walk_forward: {folds: 3, scheme: rolling}\n"
                      "pruner: {kind: none}\ntrials: 12\nparallel: 4\n", space)
    outcome = run_study(path, out=tmp_path / "out", progress=False, finish=False)
    spec_file, base = load_study(path)
    packed = load_packed(chain)
    folds = folds_of(packed.n_days, spec_file.walk_forward)
    sub = [(d, p) for d in (None, 14) for p in (0.25, 0.5, 0.75, None)]
    changed = 0
    for trial in storage_study(outcome).trials:
        result = trial.user_attrs[ATTR_RESULT]
        sharpes = []
        for dte, target in sub:
            spec = spec_of(base, {**result["values"], "exit.dte": dte,
                                  "exit.profit_target": target})
            sharpes.append([kpis_of(run_backtest(packed, spec, window=f.in_sample),
                                    packed, spec.capital)["sharpe"] for f in folds])
        means = np.mean(sharpes, axis=1)
        first = np.array(sharpes)[:, 0]
        changed += int(first[np.nanargmax(means)] < np.nanmax(first))  # fold 1 led elsewhere
        assert trial.value == pytest.approx(np.nanmax(means), abs=1e-12)
        assert result["sub_row"] == int(np.nanargmax(means))
        stored = [f["sharpe"] for f in result["folds"]]
        assert np.mean(stored) == pytest.approx(trial.value, abs=1e-12)
    assert changed, "no trial's best sub-row changed between folds: the test proves nothing"


def test_walk_forward_folds_report_windowed_backtests_and_prune(tmp_path: Path,
                                                                 chain: Path) -> None:
    path = study_file(tmp_path, chain, textwrap.dedent("""\
        sampler: {kind: random, seed: 1}
        walk_forward: {folds: 3, scheme: anchored}
        pruner: {kind: median, startup_trials: 4}
        trials: 48
        parallel: 8
        """))
    outcome = run_study(path, out=tmp_path / "out", progress=False)
    study = storage_study(outcome)
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert pruned and complete
    # a pruned trial stopped early: fewer folds ran, and only those were backtested
    assert all(len(t.intermediate_values) < 3 for t in pruned)
    assert all(len(t.intermediate_values) == 3 for t in complete)
    assert outcome.backtests == sum(len(t.intermediate_values) for t in study.trials)
    # the median rule, re-derived: at each fold before the last, a trial whose best running
    # mean so far is below the median of the trials complete by then (those of earlier
    # batches of 8) at that fold is pruned, once 4 trials are complete; the others go on
    for t in study.trials:
        done = [o for o in study.trials if o.number < t.number // 8 * 8
                and o.state == TrialState.COMPLETE]
        for step in sorted(t.intermediate_values):
            if step == 3:
                break
            best = max(v for k, v in t.intermediate_values.items() if k <= step)
            below = len(done) >= 4 and best < np.median([o.intermediate_values[step]
                                                         for o in done])
            assert below == (t.state == TrialState.PRUNED and step == max(t.intermediate_values))
            if below:
                break
    # the intermediate values are the running mean of fold Sharpes of windowed backtests
    spec_file, base = load_study(path)
    packed = load_packed(chain)
    folds = folds_of(packed.n_days, spec_file.walk_forward)
    trial = complete[0]
    sharpes = []
    for fold in folds:
        spec = spec_of(base, trial.user_attrs[ATTR_RESULT]["values"])
        r = run_backtest(packed, spec, window=fold.in_sample)
        sharpes.append(kpis_of(r, packed, spec.capital)["sharpe"])
    np.testing.assert_allclose([trial.intermediate_values[k] for k in (1, 2, 3)],
                               np.cumsum(sharpes) / np.arange(1, 4), rtol=0, atol=1e-12)
    # the summary: out of sample of the chosen parameters, refits, deflated Sharpe, PBO
    wf = outcome.summary["walk_forward"]
    assert [f["fold"] for f in wf["folds"]] == [1, 2, 3]
    best = study.best_trial
    for fold, row in zip(folds, wf["folds"], strict=True):
        assert fold.oos is not None
        spec = spec_of(base, best.user_attrs[ATTR_RESULT]["values"])
        r = run_backtest(packed, spec, window=fold.oos)
        assert row["chosen_out_of_sample"] == pytest.approx(
            kpis_of(r, packed, spec.capital)["sharpe"], abs=1e-12)
    assert wf["in_sample"] == pytest.approx(best.value, abs=1e-12)
    stats = outcome.summary["statistics"]
    assert 0.0 <= stats["deflated_sharpe"] <= 1.0 and 0.0 <= stats["pbo"] <= 1.0
    ran = [t for t in study.trials if ATTR_RESULT in t.user_attrs]
    assert stats["n_parameter_sets"] == len(ran)
    assert stats["n_trials"] == stats["n_outcomes"] == _trade_sequences(
        packed, base, ran, outcome.summary["in_sample_span"])
    on_disk = json.loads((outcome.out_dir / "summary.json").read_text())
    assert on_disk["walk_forward"]["out_of_sample"] == pytest.approx(wf["out_of_sample"])


def test_interrupted_study_resumes_without_recomputing(tmp_path: Path, chain: Path) -> None:
    path = study_file(tmp_path, chain, "sampler: {kind: tpe, seed: 5}\ntrials: 64\n"
                      "parallel: 16\nstorage: journal:" + str(tmp_path / "journal.log") + "\n")
    batches: list[int] = []

    def interrupt(finished: int) -> None:
        batches.append(finished)
        if len(batches) == 2:
            raise KeyboardInterrupt  # what Ctrl-C raises in the driver

    first = run_study(path, out=tmp_path / "out", progress=False, on_batch=interrupt)
    assert first.interrupted and first.finished == 32
    kept = {t.number: (t.params, t.value) for t in storage_study(first).trials}
    assert sorted(kept) == list(range(32))
    with pytest.raises(StudyError, match="pass --resume"):
        run_study(path, out=tmp_path / "out", progress=False)

    second = run_study(path, out=tmp_path / "out", progress=False, resume=True, finish=False)
    assert not second.interrupted
    assert second.computed == 32 and second.backtests == 32
    trials = storage_study(second).trials
    assert [t.number for t in trials] == list(range(64))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert {t.number: (t.params, t.value) for t in trials[:32]} == kept

    changed = path.read_text().replace("exit.dte: {categorical: [null, 7, 14, 21]}",
                                       "exit.dte: {categorical: [null, 7]}")
    path.write_text(changed)
    with pytest.raises(StudyError, match="different space"):
        run_study(path, out=tmp_path / "out", progress=False, resume=True)


class PoisonedActor(BacktestActor):
    """Raises, on every attempt and in every method, for rows with stop loss 3.0 and short-leg
    delta 0.25 (the scheduler's failure rule must fail just those trials)."""

    @staticmethod
    def _check(params: np.ndarray) -> None:
        from gridbt.kernel.contract import LEG, P_LEG0, P

        if ((params[:, P.stop_loss] == 3.0)
                & (np.round(params[:, P_LEG0 + LEG.target], 6) == 0.25)).any():
            raise RuntimeError("poisoned rows")

    def kpis(self, params: np.ndarray) -> Any:
        self._check(params)
        return super().kpis(params)

    def window_stats(self, params: np.ndarray, lo: int, hi: int, n_blocks: int) -> Any:
        self._check(params)
        return super().window_stats(params, lo, hi, n_blocks)

    def equity(self, params: np.ndarray) -> Any:
        self._check(params)
        return super().equity(params)


def test_trials_whose_rows_keep_failing_fail_and_the_study_goes_on(tmp_path: Path,
                                                                   chain: Path) -> None:
    space = """\
      structure.legs.0.select.target: {float: [0.15, 0.35], step: 0.05}
      exit.stop_loss: {categorical: [1.5, 3.0, null]}
    """
    # 4 trials a batch = 4 actor slots: each trial's row is a task of its own
    path = study_file(tmp_path, chain, "sampler: {kind: random, seed: 4}\ntrials: 24\n"
                      "parallel: 4\nwalk_forward: {folds: 2}\npruner: {kind: none}\n"
                      "ray: {max_attempts: 2, max_in_flight: 2}\n", space)
    outcome = run_study(path, out=tmp_path / "out", progress=False, actors=2,
                        actor_cls=PoisonedActor)
    assert not outcome.interrupted
    trials = storage_study(outcome).trials
    assert len(trials) == 24

    def poisoned(t: Any) -> bool:
        return t.params["exit.stop_loss"] == 3.0 and round(
            t.params["structure.legs.0.select.target"], 6) == 0.25

    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert failed and [t.number for t in failed] == [t.number for t in trials if poisoned(t)]
    for t in failed:
        assert "poisoned rows" in t.user_attrs[ATTR_ERROR] and "2 times" in t.user_attrs[
            ATTR_ERROR]
        assert ATTR_RESULT not in t.user_attrs  # not counted as run: no result, no statistics
    assert all(t.state == TrialState.COMPLETE for t in trials if not poisoned(t))
    # the study finished without the failed trials' rows: statistics over the others
    summary = outcome.summary
    assert summary["trials"] == {"complete": 24 - len(failed), "pruned": 0, "fail": len(failed)}
    # 24 random draws of 15 parameter sets repeat some: a repeat, or another set that trades
    # alike, is not one more strategy tried (the deflated Sharpe's N, PBO's rows)
    assert summary["statistics"]["n_parameter_sets"] == 24 - len(failed)
    spec_file, base = load_study(path)
    ran = [t for t in trials if ATTR_RESULT in t.user_attrs]
    n_outcomes = _trade_sequences(load_packed(chain), base, ran, summary["in_sample_span"])
    assert summary["statistics"]["n_trials"] == summary["statistics"]["n_outcomes"] == n_outcomes
    assert n_outcomes < 24 - len(failed)
    frame = pd.read_parquet(outcome.out_dir / "trials.parquet")
    assert sorted(frame.loc[~frame["ran"], "trial"]) == [t.number for t in failed]


def test_a_trial_that_repeats_a_complete_trials_parameters_takes_its_results(
        tmp_path: Path, chain: Path) -> None:
    """Random draws over 6 parameter sets repeat them: a repeat of a trial complete before its
    batch went out is told that trial's fold results (deterministic backtests) without running
    them, and the pruner still sees each fold."""
    space = """\
      structure.legs.0.select.target: {float: [0.2, 0.3], step: 0.05}
      exit.stop_loss: {categorical: [2.0, null]}
    """
    path = study_file(tmp_path, chain, "sampler: {kind: random, seed: 3}\ntrials: 30\n"
                      "parallel: 4\nwalk_forward: {folds: 2}\npruner: {kind: none}\n", space)
    outcome = run_study(path, out=tmp_path / "out", progress=False, actors=2)
    trials = storage_study(outcome).trials
    assert all(t.state == TrialState.COMPLETE for t in trials) and len(trials) == 30
    repeats = [t for t in trials if ATTR_REPEAT_OF in t.user_attrs]
    assert outcome.repeats == len(repeats) == outcome.summary["repeats"] >= 10
    by_number = {t.number: t for t in trials}
    for t in repeats:
        first = by_number[t.user_attrs[ATTR_REPEAT_OF]]
        assert ATTR_REPEAT_OF not in first.user_attrs and first.number < t.number
        assert first.params == t.params
        assert t.values == first.values and t.intermediate_values == first.intermediate_values
        assert t.user_attrs[ATTR_RESULT] == first.user_attrs[ATTR_RESULT]
    # only the others were backtested: one row a fold each
    assert outcome.backtests == 2 * (30 - len(repeats))
    # and their results are what a backtest of the same parameters gives
    spec_file, base = load_study(path)
    packed = load_packed(chain)
    folds = folds_of(packed.n_days, spec_file.walk_forward)
    for t in repeats[:3]:
        spec = spec_of(base, t.user_attrs[ATTR_RESULT]["values"])
        sharpes = [kpis_of(r, packed, spec.capital)["sharpe"] for r in
                   (run_backtest(packed, spec, window=f.in_sample) for f in folds)]
        assert t.values[0] == pytest.approx(np.mean(sharpes), abs=1e-12)


def test_time_budget_stops_asking_and_the_study_still_finishes(tmp_path: Path,
                                                             chain: Path) -> None:
    path = study_file(tmp_path, chain, "sampler: {kind: random, seed: 2}\ntrials: 100000\n"
                      "timeout_seconds: 2\nparallel: 8\n")
    started = time.monotonic()
    outcome = run_study(path, out=tmp_path / "out", progress=False)
    assert not outcome.interrupted
    assert 8 <= outcome.finished < 100000 and outcome.finished % 8 == 0
    assert time.monotonic() - started < 120
    assert outcome.summary["trials"]["complete"] + outcome.summary["trials"]["fail"] \
        == outcome.finished
    assert (outcome.out_dir / "summary.json").is_file()


def _dominated(a: list[float], b: list[float], maximize: list[bool]) -> bool:
    """Whether b dominates a."""
    better = [(y > x) if m else (y < x) for x, y, m in zip(a, b, maximize, strict=True)]
    no_worse = [(y >= x) if m else (y <= x) for x, y, m in zip(a, b, maximize, strict=True)]
    return all(no_worse) and any(better)


def test_two_objective_study_reports_its_pareto_front(tmp_path: Path, chain: Path) -> None:
    path = study_file(tmp_path, chain, textwrap.dedent("""\
        objectives: [sharpe, max_drawdown]
        sampler: {seed: 2, population: 16}
        walk_forward: {folds: 2, scheme: rolling}
        trials: 48
        mlflow: {enabled: true}
        """))
    outcome = study_job(path, out=tmp_path / "out", progress=False, workdir=tmp_path)
    assert outcome.summary["sampler"] == "nsga2" and outcome.summary["pruner"] == "none"
    study = storage_study(outcome)
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    maximize = [True, False]
    front = {t.number for t in complete
             if not any(_dominated(t.values, o.values, maximize) for o in complete)}
    pareto = outcome.summary["pareto"]
    assert {p["trial"] for p in pareto} == front
    # the chosen trial is the front's best Sharpe
    assert outcome.summary["best"]["trial"] == max(
        pareto, key=lambda p: (p["values"][0], -p["trial"]))["trial"]
    from mlflow.tracking import MlflowClient

    ml = outcome.summary["mlflow"]
    client = MlflowClient(ml["tracking_uri"])
    parent = client.get_run(ml["run_id"])
    assert parent.data.tags["gridbt.kind"] == "study"
    local = Path(RunArtifacts(client.tracking_uri).path(ml["run_id"], "pareto.csv"))
    rows = local.read_text().splitlines()
    assert rows[0].startswith("trial,sharpe,max_drawdown")
    assert {int(r.split(",")[0]) for r in rows[1:]} == front
    children = client.search_runs([parent.info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{ml['run_id']}'",
                                  max_results=1000)
    ran = [t for t in study.trials if ATTR_RESULT in t.user_attrs]
    assert len(children) == ml["children"] == len(ran)
    flagged = {int(c.data.tags["gridbt.trial"]) for c in children
               if c.data.tags["gridbt.pareto"] == "true"}
    assert flagged == front
    # the best 20 (keep_equity) by Sharpe have their equity curve, on disk and in MLflow
    top = pd.read_parquet(outcome.out_dir / "equity" / "top.parquet")
    ranks = {int(c.data.tags["gridbt.trial"]): int(c.data.metrics["rank"]) for c in children}
    assert sorted(ranks[n] for n in top["trial"]) == list(range(1, 21))
    packed = load_packed(chain)
    for child in children:
        history = client.get_metric_history(child.info.run_id, "equity")
        kept = int(child.data.tags["gridbt.trial"]) in set(top["trial"])
        assert len(history) == (packed.n_days if kept else 0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_cli_study_and_optuna_dashboard_on_its_storage(tmp_path: Path, chain: Path) -> None:
    path = study_file(tmp_path, chain, textwrap.dedent("""\
        sampler: {kind: tpe, seed: 1}
        walk_forward: {folds: 2}
        trials: 16
        mlflow: {enabled: true}
        """), name="cli_study")
    gridbt = Path(sys.executable).with_name("gridbt")
    done = subprocess.run([str(gridbt), "optimize", str(path), "--quiet", "--actors", "1"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "study cli_study finished: 16 trials" in out
    assert "best trial #" in out and "deflated Sharpe" in out and "out of sample" in out
    assert "MLflow: experiment 'cli_study'" in out
    storage = f"sqlite:///{(tmp_path / 'studies/cli_study/study.db').as_posix()}"
    assert storage in out
    port = _free_port()
    dashboard = subprocess.Popen(
        [str(Path(sys.executable).with_name("optuna-dashboard")), storage, "--port", str(port),
         "--host", "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        body = None
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies",
                                            timeout=2) as response:
                    body = json.loads(response.read())
                break
            except OSError:
                time.sleep(0.2)
        assert body is not None, "optuna-dashboard did not answer"
        studies = body["study_summaries"]
        assert [s["study_name"] for s in studies] == ["cli_study"]
        # the objective's name, and each fold's values as readable attributes
        study_id = studies[0]["study_id"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/{study_id}",
                                    timeout=10) as response:
            detail = json.loads(response.read())
        assert detail["objective_names"] == ["sharpe"]
        study_attrs = {a["key"] for a in detail["user_attrs"]}
        assert {"chosen_trial", "fold1.is_sharpe", "fold1.oos_sharpe", "fold2.oos_sharpe",
                "fold2.refit_oos_sharpe"} <= study_attrs
        ran = [t for t in detail["trials"]
               if any(a["key"] == ATTR_RESULT for a in t["user_attrs"])]
        assert ran
        for trial in ran:
            attrs = {a["key"]: a["value"] for a in trial["user_attrs"]}
            # a number, readable in the trial table (null when undefined, e.g. no trade)
            assert attrs["fold1.is_sharpe"] == "null" or float(attrs["fold1.is_sharpe"]) == \
                float(attrs["fold1.is_sharpe"])
    finally:
        dashboard.terminate()
        dashboard.wait(timeout=10)
    bad = tmp_path / "bad.yaml"
    bad.write_text(path.read_text().replace("trials: 16", "trials: 0"))
    failed = subprocess.run([str(gridbt), "optimize", str(bad)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert failed.returncode == 2
    assert f"{bad}: invalid study file" in failed.stderr and "trials" in failed.stderr
