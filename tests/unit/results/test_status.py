"""What the catalog says of a sweep's or a study's status: the manifest's, checked against the
directory's lock (held here by this process; tests/integration/test_api.py kills real runs)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gridbt import _lock
from gridbt._lock import lock_directory
from gridbt.results.catalog import Catalog


@pytest.fixture(autouse=True)
def release_locks() -> Iterator[None]:
    yield
    for lock in list(_lock._HELD.values()):
        lock.release()


def _sweep(root: Path, status: str) -> Path:
    out = root / "sweeps" / "s"
    out.mkdir(parents=True)
    (out / "sweep.json").write_text(json.dumps({
        "name": "s", "sweep": {"grid": {}}, "grid_signature": "x", "status": status,
        "sweep_file": "grid.yaml", "valid_combinations": 4}))
    return out


def _write(path: Path, payload: dict[str, object], age: float = 0.0) -> None:
    path.write_text(json.dumps(payload))
    when = time.time() - age
    os.utime(path, (when, when))


@pytest.mark.parametrize("written", ["running", "grid-done"])
def test_a_sweep_at_work_is_running_while_its_lock_is_held(tmp_path: Path, written: str) -> None:
    out = _sweep(tmp_path, written)
    catalog = Catalog(tmp_path)
    (item,) = catalog.sweeps()
    assert item.status == "interrupted"  # no lock file at all
    assert item.status_hint == (f"no process runs it; `gridbt sweep grid.yaml --out "
                                f"{out.resolve()} --resume` continues it")
    lock = lock_directory(out)
    (item,) = catalog.sweeps()
    assert item.status == "running"
    assert item.status_hint is not None
    assert item.status_hint.startswith(f"run by PID {os.getpid()} of user ")
    lock.release()  # a normal exit empties the lock file: nobody is named
    assert catalog.sweeps()[0].status == "interrupted"


@pytest.mark.parametrize("written", ["done", "interrupted", "failed"])
def test_other_statuses_are_shown_as_written(tmp_path: Path, written: str) -> None:
    _sweep(tmp_path, written)
    (item,) = Catalog(tmp_path).sweeps()
    assert (item.status, item.status_hint) == (written, None)


def test_a_study_restarted_after_it_finished_is_running_then_interrupted(
        tmp_path: Path) -> None:
    out = tmp_path / "studies" / "st"
    out.mkdir(parents=True)
    objectives = [{"kpi": "sharpe", "maximize": True}]
    _write(out / "summary.json", {"study": "st", "objectives": objectives, "storage": "x",
                                  "trials": {"complete": 10}, "best": {"trial": 3},
                                  "statistics": {"pbo": 0.2}}, age=60)
    catalog = Catalog(tmp_path)
    (item,) = catalog.studies()
    assert (item.status, item.trials, item.pbo, item.planned_trials) == (
        "done", {"complete": 10}, 0.2, None)  # finished before studies wrote study.json
    _write(out / "study.json", {"study": "st", "objectives": objectives, "storage": "x",
                                "planned_trials": 50, "status": "running",
                                "study_file": "st.yaml"})
    lock = lock_directory(out)
    catalog.rescan(force=True)
    (item,) = catalog.studies()
    assert (item.status, item.planned_trials, item.best, item.pbo) == ("running", 50, None,
                                                                       None)
    assert item.trials == {}  # its storage is not SQLite under the root
    lock.release()
    (item,) = catalog.studies()
    assert item.status == "interrupted" and item.status_hint is not None
    assert item.status_hint.endswith(f"`gridbt optimize st.yaml --out {out.resolve()} "
                                     "--resume` continues it")
    detail = catalog.study("studies~st")
    assert detail.summary["planned_trials"] == 50 and detail.trial_rows == []
    _write(out / "study.json", {"study": "st", "objectives": objectives, "storage": "x",
                                "planned_trials": 50, "status": "failed", "study_file": "st.yaml",
                                "error": "writing trials: no space left on the device"})
    (item,) = catalog.studies()
    assert (item.status, item.status_hint) == ("failed",
                                               "writing trials: no space left on the device")
    # resumed, it finished since: the summary, then study.json saying so
    _write(out / "summary.json", {"study": "st", "objectives": objectives, "storage": "x",
                                  "trials": {"complete": 50}})
    _write(out / "study.json", {"study": "st", "objectives": objectives, "storage": "x",
                                "planned_trials": 50, "status": "done", "study_file": "st.yaml"})
    (item,) = catalog.studies()
    assert (item.status, item.trials) == ("done", {"complete": 50})
