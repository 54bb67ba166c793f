"""The shared helpers of environment failures: what counts as one, the status files of runs,
SQLite URLs, and which output directories a run may write into."""

from __future__ import annotations

import errno
import json
import sqlite3
from pathlib import Path

import pytest

from gridbt._errors import EnvironmentFailure, environment_cause, environment_failure
from gridbt._inputs import InputError, check_result_dir
from gridbt._sqlite import sqlite_path, with_busy_timeout
from gridbt._status import mark_failed, write_status


class _Wrapped(Exception):
    """Like SQLAlchemy's errors: the driver's error in `.orig`."""

    def __init__(self, orig: BaseException):
        super().__init__("(wrapped) statement failed")
        self.orig = orig


@pytest.mark.parametrize(("error", "cause"), [
    (OSError(errno.ENOSPC, "No space left on device"), "no space left on the device [Errno 28]"),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), "the disk quota is exhausted [Errno 122]"),
    (_Wrapped(sqlite3.OperationalError("database is locked")),
     "the database is locked by another process"),
])
def test_environment_failures_are_recognised_through_wrappers(error: Exception,
                                                              cause: str) -> None:
    try:
        try:
            raise error
        except Exception as inner:
            raise RuntimeError("while writing") from inner
    except RuntimeError as outer:
        found = environment_cause(outer)
    assert found is not None and found[0] == cause


@pytest.mark.parametrize("error", [ValueError("bad value"), OSError(errno.ENOENT, "missing"),
                                   KeyError("x")])
def test_other_errors_are_not_the_environments(error: Exception) -> None:
    assert environment_cause(error) is None
    assert environment_failure(error, "doing", "then") is None


def test_an_environment_failure_says_what_failed_and_what_to_do() -> None:
    error = OSError(errno.ENOSPC, "No space left on device", "/data/out/part.parquet")
    failure = environment_failure(error, "writing results to /data/out", "then resume")
    assert isinstance(failure, EnvironmentFailure)
    assert str(failure) == ("writing results to /data/out: no space left on the device "
                            "[Errno 28] (/data/out/part.parquet); free space there, then resume")


def test_a_status_is_written_in_place_when_no_temporary_copy_fits(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps({"status": "running", "name": "x" * 200}))
    real = Path.write_bytes

    def full(self: Path, data: bytes) -> int:
        if self.name.endswith(".tmp"):  # the copy beside it: no room (a fault, injected)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full)
    assert mark_failed(path, "disk full")
    payload = json.loads(path.read_text())
    assert payload["status"] == "failed" and payload["error"] == "disk full"
    assert [p.name for p in tmp_path.iterdir()] == ["sweep.json"]
    assert not mark_failed(path, "again")  # only a running status is marked


def test_a_status_that_cannot_be_written_at_all_raises(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        write_status(tmp_path / "missing" / "sweep.json", {"status": "failed"})


def test_sqlite_urls_get_a_busy_timeout_unless_they_set_one() -> None:
    assert with_busy_timeout("sqlite:////x/mlflow.db") == "sqlite:////x/mlflow.db?timeout=60"
    assert with_busy_timeout("sqlite:///rel.db?a=1") == "sqlite:///rel.db?a=1&timeout=60"
    assert with_busy_timeout("sqlite:////x/m.db?timeout=2") == "sqlite:////x/m.db?timeout=2"
    assert with_busy_timeout("postgresql://h/db") == "postgresql://h/db"
    assert with_busy_timeout("sqlite:///:memory:") == "sqlite:///:memory:"
    assert sqlite_path("sqlite:////x/m.db?timeout=2") == Path("/x/m.db")


def test_a_result_directory_is_new_empty_or_an_earlier_runs(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    markers = ("sweep.json",)
    assert check_result_dir(tmp_path / "new", markers) == tmp_path / "new"
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".gridbt.lock").write_text("")  # hidden files do not count
    check_result_dir(tmp_path / "empty", markers)
    (tmp_path / "earlier").mkdir()
    (tmp_path / "earlier" / "sweep.json").write_text("{}")
    (tmp_path / "earlier" / "results").mkdir()
    check_result_dir(tmp_path / "earlier", markers)
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "sweep.yaml").write_text("name: x")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=r"^--out \. \(the working directory\): holds other "
                       r"files \(earlier, empty, notes.txt, \.\.\.\) and no sweep.json"):
        check_result_dir(".", markers)
