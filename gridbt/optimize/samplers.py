"""Optuna sampler, pruner and storage from a study file."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna

from gridbt._sqlite import creating, with_busy_timeout
from gridbt.optimize.spec import CategoricalParam, FloatParam, IntParam, StudySpec

__all__ = ["grid_size", "make_pruner", "make_sampler", "open_storage", "storage_url"]


def _grid_values(dist: FloatParam | IntParam | CategoricalParam) -> list[Any]:
    if isinstance(dist, CategoricalParam):
        return list(dist.categorical)
    if isinstance(dist, IntParam):
        low, high = dist.bounds
        return list(range(low, high + 1, dist.step))
    start, stop = dist.bounds
    assert dist.step is not None  # the study file checks it
    n = int((stop - start) / dist.step + 1e-9) + 1
    return [round(start + i * dist.step, 10) for i in range(n)]


def grid_size(study: StudySpec) -> int:
    """Number of points of the grid sampler's grid."""
    return math.prod(len(_grid_values(d)) for d in study.space.values())


def make_sampler(study: StudySpec) -> optuna.samplers.BaseSampler:
    # multivariate TPE and friends are flagged experimental; the choice is the user's, so
    # the warning is not repeated on every study
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _sampler(study)


def _sampler(study: StudySpec) -> optuna.samplers.BaseSampler:
    cfg, kind = study.sampler, study.sampler_kind
    startup: dict[str, Any] = (
        {} if cfg.startup_trials is None else {"n_startup_trials": cfg.startup_trials})
    if kind == "tpe":
        return optuna.samplers.TPESampler(
            seed=cfg.seed, multivariate=cfg.multivariate, constant_liar=cfg.constant_liar,
            **startup,
        )
    if kind == "cmaes":
        population: dict[str, Any] = {} if cfg.population is None else {"popsize": cfg.population}
        return optuna.samplers.CmaEsSampler(
            seed=cfg.seed, warn_independent_sampling=False, **startup, **population,
        )
    if kind == "nsga2":
        population = {} if cfg.population is None else {"population_size": cfg.population}
        return optuna.samplers.NSGAIISampler(seed=cfg.seed, **population)
    if kind == "gp":
        return optuna.samplers.GPSampler(seed=cfg.seed, **startup)
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=cfg.seed)
    space = {path: _grid_values(dist) for path, dist in study.space.items()}
    return _AskTellGridSampler(space, seed=cfg.seed)


class _AskTellGridSampler(optuna.samplers.GridSampler):
    """GridSampler that does not call `study.stop()` once the grid is covered: that works
    only inside `study.optimize`, and the study driver stops at the grid's size itself."""

    def after_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial,
                    state: optuna.trial.TrialState, values: Sequence[float] | None) -> None:
        return None


def make_pruner(study: StudySpec) -> optuna.pruners.BasePruner:
    cfg, kind = study.pruner, study.pruner_kind
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=cfg.startup_trials,
                                           n_warmup_steps=cfg.warmup_steps)
    if kind == "percentile":
        return optuna.pruners.PercentilePruner(100.0 - cfg.percentile,
                                               n_startup_trials=cfg.startup_trials,
                                               n_warmup_steps=cfg.warmup_steps)
    if kind == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    if kind == "hyperband":
        n_folds = study.walk_forward.folds if study.walk_forward else 1
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=n_folds)
    return optuna.pruners.NopPruner()


def storage_url(study: StudySpec, out_dir: Path) -> str:
    """The study's storage: its own setting, else `study.db` (SQLite) in the result dir."""
    if study.storage is not None:
        return study.storage
    return f"sqlite:///{(out_dir.resolve() / 'study.db').as_posix()}"


def _server_storage(url: str, attempts: int = 6) -> optuna.storages.RDBStorage:
    """An RDB server's storage (PostgreSQL, MySQL). Optuna creates a new database's tables and
    types on open, without a lock: two drivers opening it at once race, and the loser's
    ``CREATE TYPE``/``CREATE TABLE`` fails on the winner's (a unique or duplicate-object
    error). The loser opens again, and finds them made."""
    import sqlalchemy.exc

    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * 2**attempt)
    raise AssertionError("unreachable")


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """An Optuna storage for `url`: `journal:<path>` is a journal file (safe on shared
    filesystems for clusters), anything else an RDB URL. A SQLite file is opened with a busy
    timeout, and created (when new) by one process at a time."""
    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend

        path = Path(url.removeprefix("journal:"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    if not url.startswith("sqlite:///"):
        return _server_storage(url)
    Path(url.removeprefix("sqlite:///").partition("?")[0]).parent.mkdir(parents=True,
                                                                       exist_ok=True)
    # connections wait for another process's lock instead of failing at once, and a new
    # database's tables are created by one process at a time (gridbt._sqlite)
    with creating(url):
        storage = optuna.storages.RDBStorage(with_busy_timeout(url))
    # Optuna writes every report and tell in its own transaction; with SQLite's default
    # rollback journal each is an fsync'd rewrite. Write-ahead logging with synchronous=NORMAL
    # keeps every committed trial across a crash of the process (not of the machine's power)
    # at a fraction of the cost.
    import sqlalchemy

    def _pragmas(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    sqlalchemy.event.listen(storage.engine, "connect", _pragmas)
    storage.engine.dispose()  # connections made from now on get the pragmas
    return storage
