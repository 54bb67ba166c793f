"""A new SQLite MLflow store, made from a kept template instead of fifty migrations.

MLflow makes a new SQLite store by creating its first tables and running its migrations one by
one, ~1.3 s on a laptop, in every sweep, study and backtest that logs to a new `mlflow.db`
(its output directory's). The result depends only on the MLflow version, but for its Default
experiment (artifact location under the working directory, creation time). So the first store
made with an MLflow version is kept, without its Default experiment, as a template in
`$GRIDBT_HOME/mlflow/store-<version>.db`; a later new store is a copy of it, and MLflow adds the
Default experiment when the logging opens it, as it does whenever that experiment is missing:
the store MLflow would have made in place, in a few milliseconds.

Taking the Default experiment out is a write into MLflow's tables, so templates are made and
used only on the MLflow versions the bulk insert is tested on (`_mlflow_sql.TESTED_MLFLOW`);
other versions make every store the usual way. tests/integration/test_mlflow_newstore.py holds
a store made from the template to one MLflow makes in place.

Either way a new store is made under a temporary name beside its place and renamed into it
once complete, under `_sqlite.creating`'s lock (its caller's) and only where there is no store
yet: a run stopped meanwhile leaves no half-made database (which MLflow would refuse to open),
and the temporary file goes at exit. The temporary's name records its writer
(`_atomic.owned_temp`), so one left by a killed run (`kill -9`, a lost node) is deleted by the
next run that makes a store there once its writer is gone. A template is written the same way.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from gridbt._atomic import owned_temp, remove_dead_temps
from gridbt._sqlite import sqlite_path
from gridbt.data.home import gridbt_home
from gridbt.tracking._mlflow_sql import tested_mlflow

__all__ = ["make_store", "template_path"]

_MAKING: list[Path] = []  # stores and templates being made by this process


def template_path() -> Path | None:
    """Where the template of the installed MLflow is kept, or None for a version it is not
    used with."""
    import mlflow

    if not tested_mlflow():
        return None
    return gridbt_home() / "mlflow" / f"store-{mlflow.__version__}.db"


def make_store(tracking_uri: str) -> str:
    """Make the SQLite store of `tracking_uri` if it is a SQLite file that is not there yet.
    Return how: "template" (a copy of the kept template), "migrated" (by MLflow; the template
    kept from it, on a tested MLflow), or "" (another kind of store, or one already there).
    Call it with `_sqlite.creating(tracking_uri)` held, as `mlflow_runs.log_runs` does: two
    runs making one store at once would race."""
    path = sqlite_path(tracking_uri)
    if path is None or path.exists():
        return ""
    from mlflow.tracking import MlflowClient

    remove_dead_temps(path.parent, path.name)  # killed runs'
    made = owned_temp(path)
    with _making(made):
        template = template_path()
        if template is not None and _copy_template(template, made):
            how = "template"
        else:
            # MLflow makes it: its tables, its migrations, its Default experiment
            MlflowClient(f"sqlite:///{made.resolve().as_posix()}").search_experiments(
                max_results=1)
            if template is not None:
                _keep_template(made, template)
            how = "migrated"
        os.rename(made, path)
    return how


def _copy_template(template: Path, made: Path) -> bool:
    """Copy `template` to `made`; False when there is no usable template (none, or unreadable
    as a database: it is then made again)."""
    try:
        shutil.copyfile(template, made)
        with contextlib.closing(sqlite3.connect(made)) as db:
            ok = bool(db.execute("PRAGMA quick_check").fetchone() == ("ok",))
    except (OSError, sqlite3.Error):
        ok = False
    if not ok:
        made.unlink(missing_ok=True)
    return ok


def _keep_template(store: Path, template: Path) -> None:
    """Keep a copy of the fresh `store`, without its Default experiment, as `template`. A
    template that cannot be written (a read-only home) is only not kept."""
    partial = owned_temp(template)
    with contextlib.suppress(OSError, sqlite3.Error), _making(partial):
        template.parent.mkdir(parents=True, exist_ok=True)
        remove_dead_temps(template.parent, template.name)
        shutil.copyfile(store, partial)
        with contextlib.closing(sqlite3.connect(partial)) as db, db:
            db.execute("DELETE FROM experiments WHERE experiment_id = 0")
        os.replace(partial, template)


@contextlib.contextmanager
def _making(path: Path) -> Iterator[None]:
    """`path` is being made: removed if the making fails, or at exit if it never ends."""
    _MAKING.append(path)
    try:
        yield
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    finally:
        _MAKING.remove(path)


@atexit.register
def _discard() -> None:
    for path in list(_MAKING):
        path.unlink(missing_ok=True)
