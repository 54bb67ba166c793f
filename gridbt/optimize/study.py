"""The study driver: Optuna asks, the sweep's actors backtest, Optuna is told.

Trials are asked `parallel` at a time (TPE's constant liar treats the running ones as bad,
so a batch spreads out instead of collapsing onto one point). A batch is evaluated fold by
fold: all its trials' rows on fold 1's in-sample window in one round on the actors, each
trial's running objective reported as an intermediate value, the trials the pruner stops
told PRUNED, the others sent on to fold 2, and so on. While the actors run a batch's first
fold, the driver asks and encodes the next batch, so the sampler's cost overlaps the
kernel's. The order of asks and tells is fixed by the program, not by timing, so a seeded
study asks the same trials whatever the number of actors.

Everything a finished trial produced is in the Optuna storage (values, intermediate values,
and the user attribute `gridbt.result`), written after each batch, so an interrupted study
resumes from its storage without recomputing a finished trial; the batch that was running
when it stopped is asked anew. The sampler itself works on an in-memory copy (see `_Mirror`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.study import StudyDirection
from optuna.trial import TrialState

from gridbt._inputs import check_chain_days
from gridbt._lock import lock_directory
from gridbt._stages import seconds_since, stage
from gridbt._status import made_from
from gridbt._typing import FloatArray, PathLike
from gridbt.data.features import FEATURE_NAMES
from gridbt.kernel.dispatch import windowed
from gridbt.kernel.metrics import KPI_INDEX, KPI_NAMES
from gridbt.optimize.evaluate import Evaluated, Evaluator
from gridbt.optimize.folds import Fold, folds_of
from gridbt.optimize.samplers import (
    grid_size,
    make_pruner,
    make_sampler,
    open_storage,
    storage_url,
)
from gridbt.optimize.space import SearchSpace
from gridbt.optimize.spec import StudyError, StudySpec, load_study
from gridbt.optimize.status import (
    read_status,
    record_failure,
    start_status,
    write_study_status,
)
from gridbt.runtime import ActorPool, BacktestActor, JobMetrics, init_ray, progress_bar
from gridbt.strategy.encode import STANDARD_FEATURES, encode_spec
from gridbt.strategy.spec import StrategySpec
from gridbt.sweep.spec import check_actors, check_job_paths

__all__ = ["StudyOutcome", "TrialWork", "run_study", "study_signature"]

# what a trial produced, in one user attribute: its space values exactly as encoded
# ("values"), the index of its best sub-grid row ("sub_row"), and per fold that row's
# in-sample KPIs ("folds")
ATTR_RESULT = "gridbt.result"
ATTR_VALUES = "gridbt.values"  # values of a trial that could not be encoded or run
ATTR_ERROR = "gridbt.error"
ATTR_DRIVER = "gridbt.driver"  # the run id of the driver that asked the trial (`_Mirror`)
#: on a trial whose rows an earlier complete trial of the same run had: that trial's number
#: (its fold KPIs were taken instead of backtesting the same rows again)
ATTR_REPEAT_OF = "gridbt.repeat_of"
ATTR_SIGNATURE = "gridbt.signature"
# readable copies of what `gridbt.result` holds, for optuna-dashboard's tables: the sub-grid's
# choice (`subgrid.<path>`) and each fold's in-sample objective values (`fold<k>.is_<kpi>`); the
# study's own: `description`, and after the finish each fold's out-of-sample values of the
# chosen trial (`fold<k>.oos_<kpi>`, `fold<k>.refit_oos_<kpi>`)
ATTR_SUBGRID = "subgrid."
ATTR_DESCRIPTION = "description"
_SIGNATURE_WAIT = 10.0  # seconds
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


@dataclass
class StudyOutcome:
    """What a study run did, and where its results are."""

    out_dir: Path
    study_name: str
    storage: str
    finished: int  # trials finished in the study, earlier runs included
    computed: int  # trials finished by this run
    interrupted: bool
    seconds: float
    actors: int
    backtests: int
    sampler_seconds: float  # asks and tells
    storage_seconds: float  # writing finished trials to storage
    #: trials of this run that repeated a complete trial's parameters (`ATTR_REPEAT_OF`): told
    #: its results without backtesting them again
    repeats: int = 0
    summary: dict[str, Any] = field(default_factory=dict)
    #: the MLflow runs an earlier run of this study logged (its `summary.json` `mlflow`), which
    #: `workflows.study` keeps instead of logging again when they still hold these results
    logged: dict[str, Any] = field(default_factory=dict)


def _last_summary(out_dir: Path) -> dict[str, Any]:
    """The `summary.json` an earlier run's finish wrote in `out_dir` ({} if none or unreadable:
    then the finish runs and the runs are logged again)."""
    try:
        summary = json.loads((out_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return {}
    return summary if isinstance(summary, dict) else {}


def _in_file_order(summary: dict[str, Any], study: StudySpec) -> dict[str, Any]:
    """`summary` as read back (JSON with sorted keys) with each trial's parameters in the
    study file's order again (its space, then its sub-grid), as the finish wrote them."""
    order = {path: k for k, path in enumerate([*study.space, *study.subgrid])}

    def ordered(params: dict[str, Any]) -> dict[str, Any]:
        return dict(sorted(params.items(), key=lambda item: order.get(item[0], len(order))))

    if "best" in summary:
        summary["best"]["params"] = ordered(summary["best"]["params"])
    for trial in summary.get("pareto", []):
        trial["params"] = ordered(trial["params"])
    return summary


@dataclass
class TrialWork:
    """A trial in evaluation: its rows and the per-row sums of objective values so far."""

    trial: optuna.trial.Trial
    values: dict[str, Any]
    rows: FloatArray
    sums: FloatArray  # (n_rows, n_objectives)
    fold_kpis: list[FloatArray] = field(default_factory=list)  # per fold, (n_rows, N_KPIS)
    best_row: int = 0
    #: the fold KPIs of an earlier complete trial with these rows, used instead of running them
    known: list[FloatArray] | None = None


def study_signature(study: StudySpec, base: StrategySpec, fingerprint: str) -> str:
    """Hash of what defines a trial's result: space, sub-grid, objectives, folds, base, data."""
    payload = {
        "base": base.model_dump(mode="json", exclude={"name"}),
        "space": {p: d.model_dump(mode="json", by_alias=True) for p, d in study.space.items()},
        "subgrid": study.subgrid,
        "constraints": study.constraints,
        "objectives": [o.model_dump(mode="json") for o in study.objectives],
        "walk_forward": None if study.walk_forward is None else
        study.walk_forward.model_dump(mode="json"),
        "data": fingerprint,
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class _Driver:
    """One run of a study: the ask, evaluate, tell loop."""

    def __init__(self, study: StudySpec, space: SearchSpace, folds: list[Fold],
                 mirror: _Mirror, evaluator: Evaluator, finished: int):
        self.study, self.space, self.folds = study, space, folds
        self.mirror = mirror
        self.optuna = mirror.memory
        self.evaluator = evaluator
        self.finished = finished
        self.computed = 0
        self.sampler_seconds = 0.0
        self.trials = study.trials
        if study.sampler_kind == "grid":  # each grid point once
            self.trials = min(study.trials, grid_size(study))
        self.objectives = [(KPI_INDEX[o.kpi], o.maximize) for o in study.objectives]
        self.single = len(self.objectives) == 1
        self.deadline = (time.monotonic() + study.timeout_seconds
                         if study.timeout_seconds is not None else math.inf)
        self.bar: Any = None
        # the rows of this run's complete trials -> (trial number, fold KPIs): a sampler that
        # proposes the same parameters again (TPE does, late in a discrete space) gets the same
        # results without the backtests (they are deterministic); each fold is still reported
        # to the pruner as if it had run
        self.known: dict[bytes, tuple[int, list[FloatArray]]] = {}
        self.repeats = 0

    # ---------------------------------------------------------------- asking
    def ask_batch(self, reserved: int) -> list[TrialWork]:
        """Ask up to `parallel` trials (fewer near the budget or after the time budget)."""
        n = min(self.study.parallel, self.trials - self.finished - reserved)
        if time.monotonic() >= self.deadline:
            n = 0
        batch: list[TrialWork] = []
        for _ in range(max(n, 0)):
            started = time.perf_counter()
            trial = self.optuna.ask()
            trial.set_user_attr(ATTR_DRIVER, self.mirror.run_id)
            values = self.space.suggest(trial)
            self.sampler_seconds += time.perf_counter() - started
            encoded = self.space.encode(values)
            if encoded.rows is None:
                trial.set_user_attr(ATTR_VALUES, values)
                self._tell_failed(trial, encoded.error or "invalid")
                continue
            batch.append(TrialWork(trial, values, encoded.rows,
                                   np.zeros((encoded.rows.shape[0], len(self.objectives)))))
        return batch

    def _tell(self, trial: optuna.trial.Trial, **kwargs: Any) -> None:
        started = time.perf_counter()
        self.optuna.tell(trial, **kwargs)
        self.sampler_seconds += time.perf_counter() - started
        self.repeats += ATTR_REPEAT_OF in trial.user_attrs  # counted once told
        if not self.computed:
            stage("first result: trial #%d told", trial.number)
        self.finished += 1
        self.computed += 1
        if self.bar is not None:
            self.bar.update(1)

    def _tell_failed(self, trial: optuna.trial.Trial, error: str) -> None:
        trial.set_user_attr(ATTR_ERROR, error)
        self._tell(trial, state=TrialState.FAIL)

    # ---------------------------------------------------------------- evaluation
    def fold_rows(self, batch: list[TrialWork], fold: Fold) -> FloatArray:
        """The rows of `fold` to backtest: those of the batch's trials not known already."""
        run = [w.rows for w in batch if w.known is None]
        if not run:
            return np.empty((0, 0))
        return windowed(np.concatenate(run), fold.in_sample)

    def mark_known(self, batch: list[TrialWork]) -> None:
        """Give each trial of `batch` whose rows a complete trial of this run had that trial's
        fold KPIs (before its first fold is sent: batches finished since it was asked count)."""
        for work in batch:
            earlier = self.known.get(work.rows.tobytes())
            if earlier is not None:
                number, work.known = earlier
                work.trial.set_user_attr(ATTR_REPEAT_OF, number)

    def finish_batch(self, batch: list[TrialWork], first: Callable[[], Evaluated]) -> None:
        """Run the batch's folds (the first already sent), report, prune, tell. A trial whose
        rows failed on the actors (after the scheduler's retries) is told FAIL with the error;
        the others go on."""
        active = batch
        for k, fold in enumerate(self.folds):
            if not active:
                return
            if k == 0:
                evaluated = first()
            else:
                evaluated = self.evaluator.submit_kpis(self.fold_rows(active, fold))()
            survivors = []
            offset = 0
            for work in active:
                if work.known is not None:
                    if self._scored(work, work.known[k], k + 1):
                        survivors.append(work)
                    continue
                n = work.rows.shape[0]
                error = next((e for e in evaluated.errors[offset:offset + n] if e), None)
                if error is not None:  # not a result: the trial is not counted as run
                    work.trial.set_user_attr(ATTR_VALUES, work.values)
                    self._tell_failed(work.trial, f"fold {k + 1}: {error}")
                elif self._scored(work, evaluated.kpis[offset:offset + n], k + 1):
                    survivors.append(work)
                offset += n
            active = survivors
        for work in active:
            means = work.sums[work.best_row] / len(self.folds)
            self._record(work)
            self._tell(work.trial, values=[float(v) for v in means])
            self.known.setdefault(work.rows.tobytes(), (work.trial.number, work.fold_kpis))

    def _scored(self, work: TrialWork, kpis: FloatArray, step: int) -> bool:
        """Add a fold's KPIs to the trial; False when it was pruned or failed."""
        work.fold_kpis.append(kpis)
        for j, (col, _) in enumerate(self.objectives):
            work.sums[:, j] += kpis[:, col]
        means = work.sums / step
        if self.single:
            col_values = means[:, 0]
            finite = np.isfinite(col_values)
            if not finite.any():
                self._record(work)
                self._tell_failed(work.trial, f"objective {self.study.objectives[0].kpi} is "
                                  f"undefined on fold {step} (e.g. no trade)")
                return False
            maximize = self.objectives[0][1]
            scores = np.where(finite, col_values, -np.inf if maximize else np.inf)
            work.best_row = int(np.argmax(scores) if maximize else np.argmin(scores))
            work.trial.report(float(col_values[work.best_row]), step)
            # after the last fold the work is done: the trial completes
            if step < len(self.folds) and work.trial.should_prune():
                self._record(work)
                self._tell(work.trial, state=TrialState.PRUNED)
                return False
            return True
        if not np.isfinite(means[0]).all():
            self._record(work)
            bad = [o.kpi for o, v in zip(self.study.objectives, means[0], strict=True)
                   if not math.isfinite(v)]
            self._tell_failed(work.trial, f"objective {', '.join(bad)} undefined on fold {step}")
            return False
        return True

    def _record(self, work: TrialWork) -> None:
        # the sampler's in-memory study: these are copied to storage in one go (`_Mirror`)
        # the folds of the row that is best now (it may differ from an earlier fold's best)
        folds = [_kpi_dict(kpis[work.best_row]) for kpis in work.fold_kpis]
        work.trial.set_user_attr(ATTR_RESULT, {
            "values": work.values, "sub_row": work.best_row, "folds": folds,
        })
        for path, value in self.space.sub_assignment(work.best_row).items():
            work.trial.set_user_attr(f"{ATTR_SUBGRID}{path}", value)
        for k, fold in enumerate(folds, start=1):
            for objective in self.study.objectives:
                work.trial.set_user_attr(f"fold{k}.is_{objective.kpi}", fold[objective.kpi])

    def run(self, on_batch: Callable[[int], None] | None) -> None:
        """Ask, evaluate, tell until the budget is spent; every finished trial is in storage
        when this returns or raises (Ctrl-C included)."""
        try:
            current = self.ask_batch(0)
            while current:
                self.mark_known(current)
                first = self.evaluator.submit_kpis(self.fold_rows(current, self.folds[0]))
                # while the actors run `current`: store the last batch, ask the next one
                self.finished += self.mirror.flush()
                upcoming = self.ask_batch(len(current))
                self.finish_batch(current, first)
                if on_batch is not None:
                    on_batch(self.finished)
                current = upcoming
        finally:
            self.finished += self.mirror.flush()


def _fold_attrs(persistent: optuna.Study, summary: dict[str, Any]) -> None:
    """The chosen trial's walk-forward folds as study attributes (a finished trial's own
    attributes cannot change): `fold<k>.is_<kpi>`, `fold<k>.oos_<kpi>`,
    `fold<k>.refit_oos_<kpi>` of the first objective, and `chosen_trial`."""
    walk = summary.get("walk_forward")
    if not walk or "best" not in summary:
        return
    kpi = walk["kpi"]
    persistent.set_user_attr("chosen_trial", summary["best"]["trial"])
    for k, fold in enumerate(walk["folds"], start=1):
        persistent.set_user_attr(f"fold{k}.is_{kpi}", fold["chosen_in_sample"])
        persistent.set_user_attr(f"fold{k}.oos_{kpi}", fold["chosen_out_of_sample"])
        persistent.set_user_attr(f"fold{k}.refit_trial", fold["refit_trial"])
        persistent.set_user_attr(f"fold{k}.refit_oos_{kpi}", fold["refit_out_of_sample"])


def _kpi_dict(vector: FloatArray) -> dict[str, float]:
    from gridbt.sweep.finish import json_value

    return {name: json_value(float(vector[i])) for i, name in enumerate(KPI_NAMES)}


class _Mirror:
    """The study's persistent storage, fed from the in-memory study the sampler works on.

    Optuna's RDB storage reads every unfinished trial back on each ask and each pruning
    decision (about 17 ms per read on SQLite at 64 trials, growing with the study), which
    would make the sampler the bottleneck. So the sampler and pruner work on an in-memory
    copy, loaded from storage at start, and every finished trial is added to storage in trial
    order as soon as the trials before it have finished: the storage holds every finished
    trial, with its intermediate values and attributes. A running trial is never stored: a
    driver that dies loses its batch in flight, and `--resume` asks it anew.

    Several drivers may share one study (an RDB server, a journal file): each marks the
    trials it asks with its run id (`gridbt.driver`), and each flush copies into the sampler's
    study the finished trials another driver has stored since, so every driver's sampler and
    trial budget see them all. Storage numbers then interleave; the in-memory numbers are this
    driver's own.

    The writes (about 10 ms a trial on SQLite) stay on the driver's thread: on a writer
    thread they contend with the sampler for the GIL, and a 300-trial study took 8.2 s
    instead of 6.2 s (the sampler 20 instead of 5 ms a trial).
    """

    def __init__(self, persistent: optuna.Study, memory: optuna.Study):
        self.persistent, self.memory = persistent, memory
        self.run_id = uuid.uuid4().hex[:12]
        loaded = memory.get_trials(deepcopy=False)
        self.done = len(loaded)  # memory trials up to here are stored (or came from storage)
        self.seen = {t.number for t in persistent.get_trials(deepcopy=False, states=FINISHED)}
        self.stored = len(self.seen)  # finished trials in storage that this driver knows of
        self.foreign: set[int] = set()  # memory numbers of trials another driver stored
        self.seconds = 0.0  # spent writing to storage

    def flush(self) -> int:
        """Write every newly finished trial that has no unfinished trial before it; then copy
        in the trials other drivers stored meanwhile. The number copied in."""
        started = time.perf_counter()
        trials = self.memory.get_trials(deepcopy=False)
        for trial in trials[self.done:]:
            if trial.number in self.foreign:
                self.done += 1
                continue
            if trial.state not in FINISHED:
                break
            self.persistent.add_trial(trial)
            self.done += 1
            self.stored += 1
        imported = self._import_foreign()
        self.seconds += time.perf_counter() - started
        return imported

    def _import_foreign(self) -> int:
        stored = self.persistent.get_trials(deepcopy=False, states=FINISHED)
        if len(stored) <= self.stored:  # only this driver's trials: nothing to scan
            return 0
        foreign = [t for t in stored if t.number not in self.seen
                   and t.user_attrs.get(ATTR_DRIVER) != self.run_id]
        self.seen.update(t.number for t in foreign)
        self.stored = len(stored)
        if foreign:
            first = len(self.memory.get_trials(deepcopy=False))
            self.memory.add_trials(foreign)
            self.foreign.update(range(first, first + len(foreign)))
        return len(foreign)


def _stored_signature(persistent: optuna.Study) -> Any:
    """The study's signature; a driver that created the study a moment ago may not have
    written it yet, so an empty study without one is read again for a few seconds."""
    deadline = time.monotonic() + _SIGNATURE_WAIT
    while True:
        signature = persistent.user_attrs.get(ATTR_SIGNATURE)
        if signature is not None or time.monotonic() > deadline or persistent.get_trials(
                deepcopy=False):
            return signature
        time.sleep(0.2)


def _open_study(study: StudySpec, url: str, signature: str, resume: bool, source: str,
                n_days: int) -> tuple[_Mirror, int]:
    storage = open_storage(url)
    names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    directions = [StudyDirection.MAXIMIZE if o.maximize else StudyDirection.MINIMIZE
                  for o in study.objectives]
    created = False
    if study.name not in names:
        try:
            persistent = optuna.create_study(storage=storage, study_name=study.name,
                                             directions=directions)
            created = True
        except optuna.exceptions.DuplicatedStudyError:  # another driver created it just now
            pass
    if created:
        persistent.set_user_attr(ATTR_SIGNATURE, signature)
        persistent.set_user_attr("gridbt.source", source)
        persistent.set_user_attr("gridbt.days", n_days)
    else:
        persistent = optuna.load_study(study_name=study.name, storage=storage)
        n = len(persistent.get_trials(deepcopy=False))
        if not resume:
            raise StudyError(f"{url}: holds study {study.name!r} with {n} trials; pass --resume "
                             "to continue it (or to join the drivers running it), or choose "
                             "another out or storage")
        if _stored_signature(persistent) != signature:
            raise StudyError(f"{url}: study {study.name!r} was run with a different space, "
                             "objectives, folds, strategy or chain; choose another name")
    names = [o.kpi for o in study.objectives]
    if persistent.metric_names != names:  # optuna-dashboard's objective names
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            persistent.set_metric_names(names)
    if study.description and persistent.user_attrs.get(ATTR_DESCRIPTION) != study.description:
        persistent.set_user_attr(ATTR_DESCRIPTION, study.description)
    memory = optuna.create_study(directions=directions, sampler=make_sampler(study),
                                 pruner=make_pruner(study), study_name=study.name)
    earlier = [t for t in persistent.get_trials(deepcopy=False) if t.state in FINISHED]
    memory.add_trials(earlier)
    return _Mirror(persistent, memory), len(earlier)


def run_study(
    study_file: PathLike,
    *,
    address: str | None = None,
    resume: bool = False,
    out: PathLike | None = None,
    actors: int | None = None,
    workdir: PathLike | None = None,
    progress: bool = True,
    on_batch: Callable[[int], None] | None = None,
    finish: bool = True,
    actor_cls: type = BacktestActor,
    verbose: bool = False,
) -> StudyOutcome:
    """Run (or resume) the study in `study_file`; see the module docstring.

    The study file, its strategy, its paths and folds are all checked before Ray starts. The
    output directory is locked for this process, from before the chain is read until the
    process exits (`gridbt._lock`): a run already there in another process refuses this one
    (`DirectoryLocked`, naming it).
    `finish` runs the post-study steps (out-of-sample results, overfitting statistics,
    result files); `on_batch(finished_trials)` is called after each told batch. Each step is
    reported as a stage line (`gridbt._stages`); `verbose` lets Ray say everything it has to
    say (`init_ray`).
    """
    started = time.perf_counter()
    stage("checking %s", study_file)
    check_actors(actors)
    study, base = load_study(study_file)
    source = str(study_file)
    space = SearchSpace(study, base, STANDARD_FEATURES, source)
    out_dir = check_job_paths(study, source, out, workdir)
    stage("results go to %s", out_dir.resolve())
    url = storage_url(study, out_dir)
    lock_directory(out_dir)  # one run at a time in a directory, until this process exits
    last = _last_summary(out_dir)  # read before the finish writes summary.json again
    logged = dict(last.get("mlflow") or {})
    finished_before = (read_status(out_dir) or {}).get("status") == "done"
    stage("%s: %d trials, %d at a time, checked in %.2f s", source, study.trials,
          study.parallel, seconds_since(started))

    from gridbt.data.default import load_packed

    loading = time.perf_counter()
    stage("loading the chain %s", study.data or "(the default chain)")
    packed = load_packed(study.data)
    if packed.feature_names != FEATURE_NAMES:
        raise StudyError(f"{study.data}: chain features {packed.feature_names} are not "
                         f"gridbt's {FEATURE_NAMES}; re-pack the chain")
    stage("chain loaded in %.2f s: %s days, %s quotes", seconds_since(loading),
          f"{packed.n_days:,}", f"{packed.n_quotes:,}")
    try:
        folds = folds_of(packed.n_days, study.walk_forward, f"{source}: walk_forward")
    except ValueError as exc:
        raise StudyError(str(exc)) from None
    span = max(f.in_sample[1] for f in folds) - min(f.in_sample[0] for f in folds)
    check_chain_days(span, study.pbo_blocks + 1, study.data or "the default chain",
                     f"{source} (its in-sample span; pbo_blocks: {study.pbo_blocks} time blocks "
                     "of daily returns)")
    signature = study_signature(study, base, packed.fingerprint)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out_dir.mkdir(parents=True, exist_ok=True)
    opening = time.perf_counter()
    stage("opening the study's storage %s", url)
    try:
        mirror, finished = _open_study(study, url, signature, resume, source, packed.n_days)
    except StudyError:
        raise
    except Exception as exc:  # the storage itself: locked, a full disk
        start_status(out_dir, study, source, url, base, packed.fingerprint)
        raise record_failure(out_dir, exc, f"opening the study's storage {url}") from None
    stage("storage open in %.2f s: %d finished trials", seconds_since(opening), finished)
    start_status(out_dir, study, source, url, base, packed.fingerprint)
    # a finished study resumed with what its last finish was made from has nothing to do
    if (resume and finish and finished_before and finished >= study.trials
            and last.get("made_from") == made_from(source, signature=signature,
                                                   trials=finished)):
        stage("nothing left to run: %d trials finished, the results are the last run's",
              finished)
        write_study_status(out_dir, "done", trials_finished=finished)
        return StudyOutcome(
            out_dir=out_dir, study_name=study.name, storage=url, finished=finished,
            computed=0, interrupted=False, seconds=0.0, actors=0, backtests=0,
            sampler_seconds=0.0, storage_seconds=0.0, summary=_in_file_order(last, study),
            logged=logged)
    try:
        init_ray(address or study.ray.address, dashboard=study.ray.dashboard, verbose=verbose)
        pool = ActorPool(packed, encode_spec(base, STANDARD_FEATURES)[None, :],
                         study.pbo_blocks, study.ray, actors, actor_cls)
        packed = pool.packed  # the driver keeps only the shared, zero-copy view
        metrics = JobMetrics(study.name)  # gridbt.runtime.metrics
        metrics.actors(pool.ready_info)
        evaluator = Evaluator(pool, study.ray, metrics)
        try:
            outcome = _run_trials(study, space, folds, mirror, evaluator, finished, url,
                                  out_dir, progress, on_batch, metrics)
            outcome.logged = logged
            if finish and not outcome.interrupted:
                from gridbt.optimize.finish import finish_study

                finishing = time.perf_counter()
                stage("finishing: out of sample, deflated Sharpe, PBO, result files")
                try:
                    outcome.summary = finish_study(
                        study, space, folds, mirror.memory, evaluator, packed, outcome,
                        made_from(source, signature=signature, trials=outcome.finished))
                    _fold_attrs(mirror.persistent, outcome.summary)
                    stage("finished in %.2f s", seconds_since(finishing))
                except KeyboardInterrupt:  # the trials are stored; --resume finishes
                    outcome.interrupted = True
        finally:
            evaluator.close()
    except BaseException as exc:
        raise record_failure(out_dir, exc, f"the study in {out_dir}") from None
    write_study_status(out_dir, "interrupted" if outcome.interrupted else
                       "done" if finish else "trials-done", trials_finished=outcome.finished)
    return outcome


def _run_trials(study: StudySpec, space: SearchSpace, folds: list[Fold], mirror: _Mirror,
                evaluator: Evaluator, finished: int, url: str, out_dir: Path, progress: bool,
                on_batch: Callable[[int], None] | None, metrics: JobMetrics) -> StudyOutcome:
    """Ask, evaluate and tell until the budget is spent (or Ctrl-C); what this run did."""
    started = time.perf_counter()
    driver = _Driver(study, space, folds, mirror, evaluator, finished)
    stage("running %d trials on %d actors", max(driver.trials - finished, 0),
          evaluator.n_actors)
    driver.bar = progress_bar(driver.trials - finished, progress, unit="trial")
    interrupted = False

    def batch_done(n_finished: int) -> None:
        _trial_metrics(metrics, mirror.memory, driver.trials)
        if on_batch is not None:
            on_batch(n_finished)

    try:
        driver.run(batch_done)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        metrics.idle()
        _trial_metrics(metrics, mirror.memory, driver.trials)
        if driver.bar is not None:
            driver.bar.close()
    stage("trials %s: %d in %.2f s", "interrupted" if interrupted else "done", driver.computed,
          seconds_since(started))
    return StudyOutcome(
        out_dir=out_dir, study_name=study.name, storage=url, finished=driver.finished,
        computed=driver.computed, interrupted=interrupted,
        seconds=time.perf_counter() - started, actors=evaluator.n_actors,
        backtests=evaluator.rows_run, sampler_seconds=driver.sampler_seconds,
        storage_seconds=mirror.seconds, repeats=driver.repeats,
    )


def _trial_metrics(metrics: JobMetrics, memory: optuna.Study, planned: int) -> None:
    """The study's finished trials by state, its budget and best first objective."""
    if not metrics.enabled:
        return
    counts = {state.name.lower(): 0 for state in FINISHED}
    maximize = memory.directions[0] == StudyDirection.MAXIMIZE
    best: float | None = None
    for trial in memory.get_trials(deepcopy=False):
        if trial.state in FINISHED:
            counts[trial.state.name.lower()] += 1
        if trial.state == TrialState.COMPLETE and trial.values:
            value = float(trial.values[0])
            if best is None or (value > best if maximize else value < best):
                best = value
    metrics.trials(counts, planned, best)


logging.getLogger("optuna").setLevel(logging.WARNING)
