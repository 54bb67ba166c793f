"""A real sweep and a real study logged to MLflow, read back through `MlflowClient`: run
names, their order, `rank`, parameters as the job file writes them, descriptions, the URL."""

from __future__ import annotations

import gc
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pyarrow.parquet as pq
import pytest
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from gridbt.cli import main
from gridbt.data.default import load_packed
from gridbt.optimize.spec import load_study
from gridbt.strategy.backtest import run_backtest
from gridbt.strategy.presets import load_spec
from gridbt.sweep.spec import load_sweep
from gridbt.tracking.artifacts import RunArtifacts
from gridbt.tracking.mlflow_runs import NOTE_TAG
from gridbt.workflows.study import study_job
from gridbt.workflows.sweep import sweep_job

pytest.importorskip("ray")
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("local_ray")]
REPO = Path(__file__).resolve().parents[2]
SHORT_PUT = REPO / "jobs/strategies/short_put_30d.yaml"
KEPT = 6


def children_of(client: MlflowClient, logged: dict[str, Any]) -> list[Run]:
    """The child runs as the UI lists them by default: "Created", newest first."""
    return client.search_runs(
        [logged["experiment_id"]], f"tags.mlflow.parentRunId = '{logged['run_id']}'",
        order_by=["attributes.start_time DESC"], max_results=1000)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory, chain: Path) -> dict[str, Any]:
    tmp_path = tmp_path_factory.mktemp("sweep")
    path = tmp_path / "sweep.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: labelled
        description: Which delta and exits hold up
        strategy: {SHORT_PUT}
        data: {chain}
        keep_equity: {KEPT}
        pbo_blocks: 6
        ray: {{batch_seconds: 0.05}}
        grid:
          structure.legs.0.select.target: {{range: [0.15, 0.35, 0.1]}}
          structure.dte.target: 30
          exit.profit_target: [0.5, null]
          exit.stop_loss: [2.0, 3.5, null]
          exit.dte: [null, 7]
        """))
    outcome = sweep_job(path, out=tmp_path / "out", progress=False, workdir=tmp_path)
    assert outcome.manifest is not None and outcome.manifest.mlflow
    logged: dict[str, Any] = outcome.manifest.mlflow
    return logged


def test_sweep_children_are_named_by_rank_and_short_labels(sweep: dict[str, Any]) -> None:
    client = MlflowClient(sweep["tracking_uri"])
    children = children_of(client, sweep)
    assert len(children) == KEPT
    # newest first is rank order, and `rank` is a numeric metric
    assert [c.data.metrics["rank"] for c in children] == [float(r) for r in range(1, KEPT + 1)]
    label = re.compile(r"#(\d) Δ0\.(1|2|3)5 PT(0\.5|–) SL(2|3\.5|–) x(7d|–)")
    for child in children:
        match = label.fullmatch(child.info.run_name)
        assert match, child.info.run_name
        assert int(match[1]) == child.data.metrics["rank"]
        params = child.data.params
        exit_dte = "–" if params["exit.dte"] == "off" else f"{params['exit.dte']}d"
        assert child.info.run_name == (
            f"#{match[1]} Δ{params['structure.legs.0.select.target']} "
            f"PT{params['exit.profit_target'].replace('off', '–')} "
            f"SL{params['exit.stop_loss'].replace('.0', '').replace('off', '–')} x{exit_dte}")
        assert "gridbt.rank" not in child.data.tags


def test_sweep_children_are_the_best_distinct_outcomes(sweep: dict[str, Any]) -> None:
    client = MlflowClient(sweep["tracking_uri"])
    out = Path(sweep["tracking_uri"].removeprefix("sqlite:///")).parent
    results = pd.read_parquet(out / "results.parquet")  # best first
    assert results.head(KEPT)["outcome_hash"].nunique() < KEPT  # copies among the best
    firsts = results.drop_duplicates("outcome_hash").head(KEPT)
    children = sorted(children_of(client, sweep), key=lambda c: c.data.metrics["rank"])
    assert [c.data.tags["gridbt.param_hash"] for c in children] == firsts["param_hash"].tolist()
    shared = results["outcome_hash"].value_counts()
    assert [c.data.metrics["same_outcome"] for c in children] == [
        float(shared[h]) for h in firsts["outcome_hash"]]


def test_sweep_params_read_as_the_yaml(sweep: dict[str, Any]) -> None:
    client = MlflowClient(sweep["tracking_uri"])
    children = children_of(client, sweep)
    for child in children:
        params = child.data.params
        assert params["structure.legs.0.select.target"] in {"0.15", "0.25", "0.35"}
        assert params["structure.dte.target"] == "30"
        assert params["exit.profit_target"] in {"0.5", "off"}
        assert params["exit.stop_loss"] in {"2.0", "3.5", "off"}
        assert params["exit.dte"] in {"7", "off"}
    seven = client.search_runs([sweep["experiment_id"]], "params.`exit.dte` = '7'")
    assert {r.info.run_id for r in seven} == {
        c.info.run_id for c in children if c.data.params["exit.dte"] == "7"}
    parent = client.get_run(sweep["run_id"])
    assert {k: v for k, v in parent.data.params.items() if k.startswith("grid.")} == {
        "grid.structure.legs.0.select.target": "0.15, 0.25, 0.35",
        "grid.structure.dte.target": "30",
        "grid.exit.profit_target": "0.5, off",
        "grid.exit.stop_loss": "2.0, 3.5, off",
        "grid.exit.dte": "off, 7",
    }
    # the sweep's own numbers are apart from the children's KPIs (column menu, chart section)
    assert parent.data.metrics and all(k.startswith("sweep/") for k in parent.data.metrics)
    assert parent.data.metrics["sweep/best_sharpe"] == pytest.approx(
        max(c.data.metrics["sharpe"] for c in children))
    assert not any("/" in k for c in children for k in c.data.metrics)


def test_sweep_description_and_url(sweep: dict[str, Any]) -> None:
    client = MlflowClient(sweep["tracking_uri"])
    parent = client.get_run(sweep["run_id"])
    assert parent.data.tags[NOTE_TAG] == "Which delta and exits hold up"
    experiment = client.get_experiment(sweep["experiment_id"])
    assert experiment.name == "labelled"
    assert experiment.tags[NOTE_TAG] == "Which delta and exits hold up"
    assert sweep["url"] == (f"http://127.0.0.1:5000/#/experiments/{sweep['experiment_id']}"
                            "/runs?workflowType=machine_learning")


def test_kept_children_carry_what_reproduces_them(sweep: dict[str, Any], chain: Path,
                                                  tmp_path: Path) -> None:
    client = MlflowClient(sweep["tracking_uri"])
    packed = load_packed(chain)
    for child in children_of(client, sweep):
        run_id = child.info.run_id
        names = RunArtifacts(client.tracking_uri).list(run_id)
        assert names == ["equity.parquet", "strategy.yaml", "tearsheet.png", "trades.parquet"]
        local = Path(RunArtifacts(client.tracking_uri).path(run_id, ""))
        assert (local / "tearsheet.png").read_bytes()[:4] == b"\x89PNG"
        spec = load_spec(local / "strategy.yaml")
        params = child.data.params
        assert spec.exit.dte == (None if params["exit.dte"] == "off" else int(params["exit.dte"]))
        result = run_backtest(packed, spec)
        history = client.get_metric_history(run_id, "equity")
        last = max(history, key=lambda m: m.step)
        assert result.equity[last.step] == pytest.approx(last.value, rel=1e-12)
        trades = pq.read_table(local / "trades.parquet")
        assert trades.num_rows == len(result.trades)


def test_parent_holds_what_reruns_the_sweep(sweep: dict[str, Any], tmp_path: Path) -> None:
    client = MlflowClient(sweep["tracking_uri"])
    names = set(RunArtifacts(client.tracking_uri).list(sweep["run_id"]))
    assert {"sweep.yaml", "sweep.resolved.yaml", "strategy.yaml", "sweep.json",
            "results.parquet"} <= names
    assert any(n.startswith("heatmap_") for n in names)
    local = Path(RunArtifacts(client.tracking_uri).path(sweep["run_id"], ""))
    resolved = load_sweep(local / "sweep.resolved.yaml")  # runs from anywhere
    assert resolved[1] == load_spec(local / "strategy.yaml") == load_spec(SHORT_PUT)
    assert resolved[0].grid == load_sweep(local / "sweep.yaml")[0].grid


def test_study_params_read_as_the_yaml_and_stepped_values_are_rounded_and_kpis_agree(
        tmp_path: Path, chain: Path) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: labelled_study
        description: TPE over the exits
        strategy: {SHORT_PUT}
        data: {chain}
        pbo_blocks: 6
        trials: 24
        parallel: 8
        sampler: {{kind: tpe, seed: 3}}
        walk_forward: {{folds: 2}}
        keep_equity: 4
        space:
          exit.profit_target: {{float: [0.2, 0.9], step: 0.1}}
          structure.dte.target: {{int: [25, 45], step: 5}}
          exit.stop_loss: {{categorical: [2.0, 3.5, null]}}
        subgrid:
          exit.dte: [null, 7]
        """))
    outcome = study_job(path, out=tmp_path / "out", progress=False, workdir=tmp_path)
    logged = outcome.summary["mlflow"]
    client = MlflowClient(logged["tracking_uri"])
    children = children_of(client, logged)
    assert children
    assert [c.data.metrics["rank"] for c in children] == [
        float(r) for r in range(1, len(children) + 1)]
    targets = {f"{0.1 * k:.1f}" for k in range(2, 10)}
    for child in children:
        params = child.data.params
        assert params["exit.profit_target"] in targets  # not 0.6000000000000001
        assert params["structure.dte.target"] in {"25", "30", "35", "40", "45"}
        assert params["exit.stop_loss"] in {"2.0", "3.5", "off"}
        assert params["exit.dte"] in {"7", "off"}
        rank, trial = int(child.data.metrics["rank"]), child.data.tags["gridbt.trial"]
        stop = params["exit.stop_loss"].replace(".0", "").replace("off", "–")
        assert child.info.run_name.startswith(
            f"#{rank} t{trial} PT{params['exit.profit_target']} "
            f"{params['structure.dte.target']}d SL{stop}")
    parent = client.get_run(logged["run_id"])
    assert parent.data.tags[NOTE_TAG] == "TPE over the exits"
    assert "study/trials_complete" in parent.data.metrics
    assert all(k.startswith("study/") for k in parent.data.metrics)
    parent_files = Path(RunArtifacts(client.tracking_uri).path(logged["run_id"], ""))
    assert load_spec(parent_files / "strategy.yaml") == load_spec(SHORT_PUT)
    assert load_study(parent_files / "study.resolved.yaml")[1] == load_spec(SHORT_PUT)
    # in-sample KPIs are `is_`, whole-chain ones `chain_`, and the curve is the whole chain's
    packed = load_packed(chain)
    curves = 0
    for child in children:
        metrics = child.data.metrics
        assert "sharpe" not in metrics and "final_equity" not in metrics
        assert "is_final_equity" in metrics
        assert child.data.tags["gridbt.in_sample"] == "..".join(
            outcome.summary["in_sample_span_dates"])
        history = client.get_metric_history(child.info.run_id, "equity")
        names = RunArtifacts(client.tracking_uri).list(child.info.run_id)
        if history:
            curves += 1
            last = max(history, key=lambda m: m.step)
            assert metrics["chain_final_equity"] == pytest.approx(last.value)
            assert metrics["equity"] == pytest.approx(metrics["chain_final_equity"])
            assert names == ["equity.parquet", "strategy.yaml", "tearsheet.png",
                             "trades.parquet"]
            local = RunArtifacts(client.tracking_uri).path(child.info.run_id, "strategy.yaml")
            result = run_backtest(packed, load_spec(local))  # the whole chain, reproduced
            assert result.equity[last.step] == pytest.approx(last.value, rel=1e-12)
        else:
            assert not any(k.startswith("chain_") for k in metrics)
            assert names == ["equity.parquet"]
    assert curves == 4
    # optuna-dashboard: the objective's name, the sub-grid's choice, each fold's values
    stored = optuna.load_study(study_name="labelled_study", storage=outcome.storage)
    assert stored.metric_names == ["sharpe"]
    assert stored.user_attrs["description"] == "TPE over the exits"
    best = outcome.summary["best"]["trial"]
    assert stored.user_attrs["chosen_trial"] == best
    walk = outcome.summary["walk_forward"]["folds"]
    for k, fold in enumerate(walk, start=1):
        assert stored.user_attrs[f"fold{k}.oos_sharpe"] == fold["chosen_out_of_sample"]
        assert stored.user_attrs[f"fold{k}.is_sharpe"] == fold["chosen_in_sample"]
    chosen = stored.trials[best]
    assert chosen.user_attrs["subgrid.exit.dte"] in (None, 7)
    assert chosen.user_attrs["subgrid.exit.dte"] == outcome.summary["best"]["params"]["exit.dte"]
    assert [chosen.user_attrs[f"fold{k}.is_sharpe"] for k in (1, 2)] == [
        f["chosen_in_sample"] for f in walk]


def test_cli_backtest_logs_one_run(tmp_path: Path, chain: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    done = subprocess.run(
        [str(Path(sys.executable).with_name("gridbt")), "backtest", "--strategy",
         str(SHORT_PUT), "--data", str(chain), "--out", "out", "--mlflow", "bt"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "MLflow: experiment 'bt'" in done.stdout
    assert "workflowType=machine_learning" in done.stdout
    # the store is in --out, and the printed command serves its artifacts too
    assert not (tmp_path / "mlflow.db").exists()
    assert ("mlflow ui --backend-store-uri sqlite:///out/mlflow.db --artifacts-destination "
            "out/mlartifacts") in done.stdout
    client = MlflowClient(f"sqlite:///{(tmp_path / 'out' / 'mlflow.db').as_posix()}")
    experiment = client.get_experiment_by_name("bt")
    assert experiment is not None
    [run] = client.search_runs([experiment.experiment_id])
    spec = load_spec(SHORT_PUT)
    assert run.info.run_name == spec.name and run.info.status == "FINISHED"
    assert run.data.tags["gridbt.kind"] == "backtest"
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert run.data.metrics["final_equity"] == pytest.approx(summary["kpis"]["final_equity"])
    assert run.data.params["structure.legs.0.select.target"] == repr(
        spec.structure.legs[0].select.target)
    assert run.data.params["structure.dte.target"] == str(spec.structure.dte.target)
    names = set(RunArtifacts(client.tracking_uri).list(run.info.run_id))
    assert {"summary.json", "trades.parquet", "equity.parquet", "tearsheet.png",
            "strategy.yaml"} <= names
    local = RunArtifacts(client.tracking_uri).path(run.info.run_id, "strategy.yaml")
    assert load_spec(local) == spec


def test_a_strategy_file_with_an_mlflow_section_is_logged_without_the_flag(
        tmp_path: Path, chain: Path) -> None:
    strategy = tmp_path / "logged.yaml"
    strategy.write_text(SHORT_PUT.read_text() + "\nmlflow:\n  experiment: from-file\n")
    spec = load_spec(strategy)
    assert spec.stable_hash() == load_spec(SHORT_PUT).stable_hash()  # not part of the strategy
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    done = subprocess.run(
        [str(Path(sys.executable).with_name("gridbt")), "backtest", "--strategy",
         str(strategy), "--data", str(chain), "--out", "out", "--no-tearsheet"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "MLflow: experiment 'from-file'" in done.stdout
    client = MlflowClient(f"sqlite:///{(tmp_path / 'out' / 'mlflow.db').as_posix()}")
    experiment = client.get_experiment_by_name("from-file")
    assert experiment is not None
    [run] = client.search_runs([experiment.experiment_id])
    assert not any(k.startswith("mlflow.") for k in run.data.params)
    # without the section, and without --mlflow, nothing is logged
    plain = subprocess.run(
        [str(Path(sys.executable).with_name("gridbt")), "backtest", "--strategy",
         str(SHORT_PUT), "--data", str(chain), "--out", "plain", "--no-tearsheet"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert plain.returncode == 0 and "MLflow" not in plain.stdout
    assert not (tmp_path / "plain" / "mlflow.db").exists()


def test_the_output_directory_moves_with_its_runs(sweep: dict[str, Any], tmp_path: Path) -> None:
    """The store and the artifacts are in the sweep's --out; a copy elsewhere, with the
    original gone, opens in a real MLflow server with every artifact."""
    from gridbt.testing.mlflow_server import mlflow_server

    out = Path(sweep["tracking_uri"].removeprefix("sqlite:///")).parent
    assert (out / "sweep.json").is_file() and (out / "mlartifacts").is_dir()
    moved = tmp_path / "elsewhere" / "moved-out"
    shutil.copytree(out, moved)
    hidden = out.with_name(out.name + ".hidden")
    out.rename(hidden)  # nothing may still point into the original
    try:
        with mlflow_server(moved) as url:
            client = MlflowClient(url)
            experiment = client.get_experiment_by_name(sweep["experiment"])
            assert experiment is not None
            logged = {**sweep, "experiment_id": experiment.experiment_id}
            children = children_of(client, logged)
            assert len(children) == KEPT
            first = children[0].info.run_id
            assert {a.path for a in client.list_artifacts(first)} == {
                "equity.parquet", "strategy.yaml", "tearsheet.png", "trades.parquet"}
            strategy = client.download_artifacts(first, "strategy.yaml", str(tmp_path / "c"))
            assert load_spec(strategy).exit.dte in (None, 7)
            parent = Path(client.download_artifacts(sweep["run_id"], "", str(tmp_path / "p")))
            assert json.loads((parent / "sweep.json").read_text())["status"] == "done"
            assert pq.read_table(parent / "results.parquet").num_rows > KEPT
    finally:
        hidden.rename(out)


def parent_runs(client: MlflowClient, logged: dict[str, Any]) -> list[Run]:
    """The experiment's parent runs that are not deleted."""
    return [r for r in client.search_runs([logged["experiment_id"]], max_results=1000)
            if "mlflow.parentRunId" not in r.data.tags]


def test_a_resume_that_changes_nothing_logs_no_second_copy(tmp_path: Path, chain: Path) -> None:
    """`--resume` of a finished sweep keeps the runs it logged (`make demo` run twice); it logs
    again when they no longer hold its results: the parent deleted in the UI, or the sweep file
    changed (another objective ranks other children)."""
    path = tmp_path / "sweep.yaml"
    text = textwrap.dedent(f"""\
        name: twice
        strategy: {SHORT_PUT}
        data: {chain}
        keep_equity: 2
        pbo_blocks: 4
        grid:
          exit.profit_target: [0.5, null]
          exit.stop_loss: [2.0, null]
        """)
    path.write_text(text)
    out = tmp_path / "out"

    def run() -> dict[str, Any]:
        outcome = sweep_job(path, out=out, resume=True, progress=False, workdir=tmp_path)
        assert outcome.manifest is not None
        on_disk = json.loads((out / "sweep.json").read_text())["mlflow"]
        assert on_disk == outcome.manifest.mlflow
        return on_disk

    first = run()
    client = MlflowClient(first["tracking_uri"])
    assert run()["run_id"] == first["run_id"]
    assert [r.info.run_id for r in parent_runs(client, first)] == [first["run_id"]]
    assert len(children_of(client, first)) == 2

    client.delete_run(first["run_id"])  # gone from the UI: logged again
    second = run()
    assert second["run_id"] != first["run_id"]
    assert [r.info.run_id for r in parent_runs(client, second)] == [second["run_id"]]

    path.write_text(text + "objective: sortino\n")  # the same results, ranked otherwise
    third = run()
    assert third["run_id"] != second["run_id"]
    assert client.get_run(third["run_id"]).data.params["objective"] == "sortino"
    assert run()["run_id"] == third["run_id"]


def test_a_resume_of_a_finished_study_logs_no_second_copy(
        tmp_path: Path, chain: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--resume` of a finished study runs nothing: no actors, the last finish's summary and
    MLflow runs kept. Once the study file changes, the finish runs again."""
    path = tmp_path / "study.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: study_twice
        strategy: {SHORT_PUT}
        data: {chain}
        pbo_blocks: 4
        trials: 4
        parallel: 2
        sampler: {{kind: random, seed: 1}}
        keep_equity: 1
        space:
          exit.stop_loss: {{categorical: [2.0, null]}}
          exit.profit_target: {{float: [0.2, 0.9], step: 0.1}}
        """))
    out = tmp_path / "out"
    done = study_job(path, out=out, resume=True, progress=False, workdir=tmp_path)
    first = done.summary["mlflow"]
    again = study_job(path, out=out, resume=True, progress=False, workdir=tmp_path)
    assert again.computed == 0 and again.actors == 0  # no trial, no finish: no actors
    assert again.summary == done.summary and again.summary["mlflow"] == first
    # printed in the file's order, as the run that computed them printed them
    assert list(again.summary["best"]["params"]) == list(done.summary["best"]["params"])
    assert json.loads((out / "summary.json").read_text())["mlflow"] == first
    assert json.loads((out / "study.json").read_text())["status"] == "done"
    client = MlflowClient(first["tracking_uri"])
    assert [r.info.run_id for r in parent_runs(client, first)] == [first["run_id"]]
    # the command says once where the runs are (the summary it prints first does not); in
    # this process, which holds the directory's lock
    capsys.readouterr()
    try:
        assert main(["optimize", str(path), "--out", str(out), "--resume", "--quiet"]) == 0
    finally:
        gc.unfreeze()  # the command freezes what is left for its exit
    printed = capsys.readouterr().out
    assert printed.count("MLflow: experiment") == 1
    assert f"run {first['run_id']}" in printed.split("MLflow: experiment")[1]

    path.write_text(path.read_text().replace("keep_equity: 1", "keep_equity: 2"))
    edited = study_job(path, out=out, resume=True, progress=False, workdir=tmp_path)
    assert edited.computed == 0 and edited.actors > 0  # the finish ran again
    assert len(list((out / "equity").glob("*.parquet"))) >= 1
    assert edited.summary["mlflow"]["run_id"] != first["run_id"]


@pytest.mark.parametrize("uri", ["mlruns", "./runs/mlruns", "file:./mlruns", "sqlite:///x.db"])
@pytest.mark.parametrize("allowed", ["", "true"])
def test_a_tracking_uri_is_refused_up_front_exactly_when_mlflow_would_refuse_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uri: str, allowed: str) -> None:
    """The check made before any work agrees with the installed MLflow's own store."""
    from mlflow.exceptions import MlflowException

    from gridbt._inputs import InputError, check_tracking_uri

    monkeypatch.chdir(tmp_path)
    if allowed:
        monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", allowed)
    else:
        monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    try:
        MlflowClient(uri).search_experiments()
        mlflow_refuses = False
    except MlflowException as exc:
        mlflow_refuses = "MLFLOW_ALLOW_FILE_STORE" in str(exc)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    try:
        check_tracking_uri(None, "unused")
        refused = False
    except InputError as exc:
        refused = True
        assert str(exc).startswith(f"$MLFLOW_TRACKING_URI: {uri!r} is an MLflow file store")
    assert refused == mlflow_refuses


def test_a_sweep_logging_to_a_file_store_mlflow_refuses_stops_before_any_work(
        tmp_path: Path, chain: Path) -> None:
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(textwrap.dedent(f"""
        name: refused
        strategy: {SHORT_PUT}
        data: {chain}
        grid:
          exit.profit_target: [0.25, 0.5]
        mlflow:
          tracking_uri: mlruns
        """))
    gridbt = str(Path(sys.executable).with_name("gridbt"))
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_ALLOW_FILE_STORE")}
    done = subprocess.run([gridbt, "sweep", str(sweep), "--out", "out"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"{sweep}: mlflow.tracking_uri: 'mlruns' is an MLflow file store" in done.stderr
    assert "MLFLOW_ALLOW_FILE_STORE=true" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out" / "results").exists()
    # the variable is named when it is where the URI came from
    done = subprocess.run([gridbt, "optimize", str(REPO / "jobs/studies/short_put_tpe.yaml"),
                           "--out", "study"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env={**env, "MLFLOW_TRACKING_URI": "file:./mlruns"})
    assert done.returncode == 2, done.stderr[-2000:]
    assert "$MLFLOW_TRACKING_URI: 'file:./mlruns' is an MLflow file store" in done.stderr
    assert not (tmp_path / "study").exists()
