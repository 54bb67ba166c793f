"""A new SQLite MLflow store made from the kept template (`gridbt.tracking.newstore`), held to
the store MLflow makes in place: the same migration, tables, indexes and rows once MLflow has
opened it; made once by MLflow, then copied; never half made."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from gridbt._sqlite import creating
from gridbt.tracking.newstore import make_store, template_path

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A gridbt home of the test's own: no template kept yet."""
    folder = tmp_path / "home"
    monkeypatch.setenv("GRIDBT_HOME", str(folder))
    return folder


def uri(path: Path) -> str:
    return f"sqlite:///{path}"


def make(tracking_uri: str) -> str:
    """`make_store` as `mlflow_runs.log_runs` calls it: under the store's creation lock."""
    with creating(tracking_uri):
        return make_store(tracking_uri)


def rows(db: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as con:
        return con.execute(query).fetchall()


def schema(db: Path) -> tuple[Any, ...]:
    """What a store is made of, once MLflow has opened it: its migration, its tables and indexes
    (each statement's lines as a set: MLflow's migrations write a table's constraints in varying
    order), its Default experiment (but the times) and its workspaces."""
    MlflowClient(uri(db)).search_experiments()
    tables = [(name, sorted((sql or "").splitlines()))
              for name, sql in rows(db, "select name, sql from sqlite_master order by name")]
    return (rows(db, "select version_num from alembic_version"), tables,
            rows(db, "select experiment_id, name, artifact_location, lifecycle_stage, workspace "
                     "from experiments"),
            rows(db, "select * from workspaces"))


@pytest.fixture()
def in_place(tmp_path: Path) -> tuple[Any, ...]:
    """A store as MLflow makes it in place, alone."""
    db = tmp_path / "in_place" / "mlflow.db"
    db.parent.mkdir()
    return schema(db)


def test_the_first_store_is_migrated_and_kept_the_next_is_a_copy_both_as_mlflow_makes_them(
        tmp_path: Path, in_place: tuple[Any, ...]) -> None:
    first, second = tmp_path / "a" / "mlflow.db", tmp_path / "b" / "mlflow.db"
    assert make(uri(first)) == "migrated"
    template = template_path()
    assert template is not None and template.is_file()
    assert rows(template, "select count(*) from experiments") == [(0,)]  # no Default in it
    assert make(uri(second)) == "template"
    for db in (first, second):
        assert sorted(p.name for p in db.parent.iterdir()) == ["mlflow.db"]  # nothing else left
        assert schema(db) == in_place
    client = MlflowClient(uri(second))  # current: MLflow logs to it without a word
    run = client.create_run(client.create_experiment("x"))
    client.log_metric(run.info.run_id, "sharpe", 1.5)
    assert client.get_run(run.info.run_id).data.metrics == {"sharpe": 1.5}
    assert client.get_experiment_by_name("x").experiment_id == "1"  # as in a migrated store


def test_a_damaged_template_is_made_again(tmp_path: Path, in_place: tuple[Any, ...]) -> None:
    template = template_path()
    assert template is not None
    template.parent.mkdir(parents=True)
    template.write_bytes(b"not a database" * 100)
    assert make(uri(tmp_path / "a" / "mlflow.db")) == "migrated"
    assert make(uri(tmp_path / "b" / "mlflow.db")) == "template"
    assert schema(tmp_path / "b" / "mlflow.db") == in_place


def test_another_mlflow_version_keeps_no_template(tmp_path: Path, home: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Taking the Default experiment out writes into MLflow's tables: only on tested versions."""
    monkeypatch.setattr(mlflow, "__version__", "99.0.0")
    assert template_path() is None
    assert make(uri(tmp_path / "a" / "mlflow.db")) == "migrated"
    assert make(uri(tmp_path / "b" / "mlflow.db")) == "migrated"
    assert not (home / "mlflow").exists()


def test_a_store_already_there_and_a_server_are_left_alone(tmp_path: Path, home: Path) -> None:
    db = tmp_path / "mlflow.db"
    MlflowClient(uri(db)).create_experiment("kept")
    before = db.read_bytes()
    assert make(uri(db)) == ""
    assert db.read_bytes() == before
    assert make("http://127.0.0.1:9") == ""  # not even opened
    assert not home.exists()


def test_a_run_stopped_while_its_store_is_made_leaves_no_store_and_no_temporary(
        tmp_path: Path, home: Path) -> None:
    """The rename into place held until the process ends: the store was never there, and the
    complete temporary one goes at exit."""
    out = tmp_path / "out"
    out.mkdir()
    script = textwrap.dedent(f"""\
        import threading
        from pathlib import Path
        from gridbt._sqlite import creating
        from gridbt.tracking import newstore

        made = threading.Event()
        def held(src, dst):
            made.set()
            threading.Event().wait()  # never renamed
        newstore.os.rename = held
        def make(tracking_uri):
            with creating(tracking_uri):
                newstore.make_store(tracking_uri)
        threading.Thread(target=make, args=({uri(out / 'mlflow.db')!r},), daemon=True).start()
        assert made.wait(120)
        print(sorted(p.name for p in Path({str(out)!r}).iterdir()))
        """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=180, check=True)
    # it was being made, under a name that says by whom
    assert re.fullmatch(r"\['\.mlflow\.db\.[0-9a-f]{32}\.\d+@.+\.tmp'\]", done.stdout.strip())
    assert list(out.iterdir()) == []
    template = template_path()
    assert template is not None
    assert [p.name for p in (home / "mlflow").iterdir()] == [template.name]  # kept, whole


def test_a_killed_runs_temporary_goes_when_the_next_store_is_made(tmp_path: Path,
                                                                   home: Path) -> None:
    """`kill -9` skips the exit handler: its half-made store stays until the next run there
    sees its writer gone. A live writer's is left alone."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    for folder in (tmp_path, home / "mlflow"):
        folder.mkdir(parents=True, exist_ok=True)
    killed = [folder / f".{name}.{'a' * 32}.{dead.pid}@{host}.tmp"
              for folder, name in ((tmp_path, "mlflow.db"),
                                   (home / "mlflow", f"store-{mlflow.__version__}.db"))]
    live = tmp_path / f".mlflow.db.{'b' * 32}.{os.getppid()}@{host}.tmp"
    for path in [*killed, live]:
        path.write_bytes(b"half a store")
    assert make(uri(tmp_path / "mlflow.db")) == "migrated"
    assert not any(path.exists() for path in killed)
    assert live.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["home", "mlflow.db", live.name])
