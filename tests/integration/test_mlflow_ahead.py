"""The MLflow store opened ahead of the logging (`gridbt.tracking.ahead`): a real SQLite store,
made complete under its name and equal to the one MLflow makes in place; never half made; and
started by a sweep's and a study's workflow only once their input has passed its checks."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from gridbt._inputs import InputError
from gridbt.strategy.spec import TrackingConfig
from gridbt.sweep.driver import run_sweep
from gridbt.tracking import ahead
from gridbt.tracking.ahead import StoreAhead
from gridbt.workflows.study import study_job
from gridbt.workflows.sweep import sweep_job

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
SHORT_PUT = REPO / "jobs/strategies/short_put_30d.yaml"


@pytest.fixture(autouse=True)
def no_tracking_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runs go to SQLite in the given directory, whatever the environment says."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def schema(db: Path) -> tuple[Any, ...]:
    """What a store is made of: its migration, its tables and indexes (each statement's lines
    as a set: MLflow's own migrations write a table's constraints in varying order) and the
    Default experiment's row."""
    with sqlite3.connect(db) as con:
        version = con.execute("select version_num from alembic_version").fetchall()
        tables = [(name, sorted((sql or "").splitlines())) for name, sql in con.execute(
            "select name, sql from sqlite_master order by name")]
        default = con.execute("select experiment_id, name, artifact_location, lifecycle_stage "
                              "from experiments").fetchall()
    return version, tables, default


def test_a_new_store_is_made_under_its_name_as_mlflow_makes_it_in_place(tmp_path: Path) -> None:
    opening = StoreAhead(TrackingConfig(), tmp_path / "ahead")
    opening.wait()
    assert opening.created
    made = tmp_path / "ahead" / "mlflow.db"
    assert sorted(p.name for p in made.parent.iterdir()) == ["mlflow.db"]  # no temporary left
    in_place = tmp_path / "in_place" / "mlflow.db"
    in_place.parent.mkdir()
    MlflowClient(f"sqlite:///{in_place}").search_experiments()
    assert schema(made) == schema(in_place)
    client = MlflowClient(opening.tracking_uri)  # current: MLflow logs to it without a word
    run = client.create_run(client.create_experiment("x"))
    client.log_metric(run.info.run_id, "sharpe", 1.5)
    assert client.get_run(run.info.run_id).data.metrics == {"sharpe": 1.5}


def test_a_store_already_there_is_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    client = MlflowClient(f"sqlite:///{db}")
    client.create_experiment("kept")
    before = db.read_bytes()
    opening = StoreAhead(TrackingConfig(), tmp_path)
    opening.wait()
    assert not opening.created
    assert db.read_bytes() == before


def test_a_job_that_ends_while_its_store_is_made_leaves_no_store_and_no_temporary(
        tmp_path: Path) -> None:
    """The rename into place held until the process ends: the store was never there, and the
    complete temporary one goes at exit."""
    script = textwrap.dedent(f"""\
        import os, threading, time
        from pathlib import Path
        from gridbt.strategy.spec import TrackingConfig
        from gridbt.tracking import ahead

        made = threading.Event()
        def held(src, dst):
            made.set()
            threading.Event().wait()  # never renamed
        ahead.os.rename = held
        ahead.StoreAhead(TrackingConfig(), Path({str(tmp_path)!r}))
        assert made.wait(60)
        print(sorted(p.name for p in Path({str(tmp_path)!r}).iterdir()))
        """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.strip().startswith("['.mlflow.db.creating-")  # it was being made
    assert list(tmp_path.iterdir()) == []


def test_a_server_is_not_opened_ahead(tmp_path: Path) -> None:
    """Only a SQLite file is made ahead: opening a server may wait on the network."""
    opening = StoreAhead(TrackingConfig(tracking_uri="http://127.0.0.1:9"), tmp_path)
    opening.wait()
    assert not opening.created and opening.tracking_uri == "http://127.0.0.1:9"
    assert list(tmp_path.iterdir()) == []


class Spy:
    """Records the stores the workflows open ahead (each still made for real)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.opened: list[StoreAhead] = []
        real = ahead.StoreAhead

        def opening(*args: Any, **kwargs: Any) -> StoreAhead:
            made = real(*args, **kwargs)
            self.opened.append(made)
            return made

        monkeypatch.setattr(ahead, "StoreAhead", opening)


def sweep_file(tmp_path: Path, chain: Path | str, mlflow: bool = True) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: ahead
        strategy: {SHORT_PUT}
        data: {chain}
        keep_equity: 2
        pbo_blocks: 4
        mlflow: {{enabled: {str(mlflow).lower()}}}
        grid:
          exit.profit_target: [0.5, null]
          exit.stop_loss: [2.0, null]
        """))
    return path


@pytest.mark.usefixtures("local_ray")
def test_a_sweep_opens_its_store_once_checked_and_logs_to_it(
        tmp_path: Path, chain: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy(monkeypatch)
    outcome = sweep_job(sweep_file(tmp_path, chain), out=tmp_path / "out", progress=False,
                        workdir=tmp_path)
    assert [s.created for s in spy.opened] == [True]
    assert spy.opened[0].tracking_uri == f"sqlite:///{(tmp_path / 'out').resolve()}/mlflow.db"
    assert outcome.manifest is not None
    logged = outcome.manifest.mlflow
    assert logged["tracking_uri"] == spy.opened[0].tracking_uri
    assert MlflowClient(logged["tracking_uri"]).get_run(logged["run_id"]).info.status == \
        "FINISHED"


@pytest.mark.usefixtures("local_ray")
def test_a_sweep_without_mlflow_opens_no_store(tmp_path: Path, chain: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy(monkeypatch)
    sweep_job(sweep_file(tmp_path, chain, mlflow=False), out=tmp_path / "out", progress=False,
              workdir=tmp_path)
    assert spy.opened == []
    assert not (tmp_path / "out" / "mlflow.db").exists()


def test_bad_input_opens_no_store(tmp_path: Path, chain: Path) -> None:
    """A chain too short for the file (the last input checked, once the chain is read) stops
    the sweep before anything is started for it."""
    from gridbt.data.store import read_chain, write_chain

    short = tmp_path / "short_chain"
    write_chain(read_chain(chain).slice(0, 3), short)
    called: list[Path] = []
    with pytest.raises(InputError, match="needs at least 5: use a longer chain"):
        run_sweep(sweep_file(tmp_path, short), out=tmp_path / "out", progress=False,
                  on_checked=lambda sweep, out_dir: called.append(out_dir))
    assert called == []


@pytest.mark.usefixtures("local_ray")
def test_a_study_opens_its_store_once_checked_and_logs_to_it(
        tmp_path: Path, chain: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy(monkeypatch)
    path = tmp_path / "study.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: ahead_study
        strategy: {SHORT_PUT}
        data: {chain}
        pbo_blocks: 4
        trials: 4
        parallel: 2
        sampler: {{kind: random, seed: 1}}
        keep_equity: 1
        space:
          exit.profit_target: {{float: [0.2, 0.9]}}
        """))
    outcome = study_job(path, out=tmp_path / "out", progress=False, workdir=tmp_path)
    assert [s.created for s in spy.opened] == [True]
    logged = outcome.summary["mlflow"]
    assert logged["tracking_uri"] == spy.opened[0].tracking_uri
    assert MlflowClient(logged["tracking_uri"]).get_run(logged["run_id"]).info.status == \
        "FINISHED"
