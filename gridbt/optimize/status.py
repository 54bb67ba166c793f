"""`study.json`: how the last run of a study in a result directory went.

Written when a run starts (`running`), and when it ends: `done` (its summary written),
`trials-done` (run without its finish), `interrupted` (Ctrl-C; `--resume` continues) or
`failed`, with the error in `error`. It also marks the directory as a study's: another run may
write into it only to continue that study. The trials themselves are in the study's storage.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gridbt._errors import environment_failure, failure_text
from gridbt._status import now, write_status
from gridbt._supervise import note_status
from gridbt.optimize.spec import StudySpec
from gridbt.strategy.spec import StrategySpec
from gridbt.sweep.manifest import code_version

__all__ = ["STATUS_NAME", "read_status", "record_failure", "start_status", "write_study_status"]

STATUS_NAME = "study.json"
#: what to do after an environment failure: the finished trials are in the storage
RESUME = "then run the same command with --resume (the finished trials are kept)"


def read_status(out_dir: Path) -> dict[str, Any] | None:
    """`study.json` of `out_dir`, or None."""
    try:
        payload = json.loads((Path(out_dir) / STATUS_NAME).read_text())
    except (OSError, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


def write_study_status(out_dir: Path, status: str, **fields: Any) -> None:
    """Set `study.json`'s status (and `fields`) over what it holds; the time it ended, unless
    it is running."""
    payload = read_status(out_dir) or {}
    payload.update(fields, status=status)
    if status != "running":
        payload["finished_at"] = now()
    write_status(Path(out_dir) / STATUS_NAME, payload)


def start_status(out_dir: Path, study: StudySpec, source: str, storage: str,
                 base: StrategySpec, fingerprint: str) -> None:
    """Record a run of `study` starting in `out_dir` (and tell a watching process): what the
    study is (its name, objectives, sampler, pruner, trial budget, file and storage), so that
    the results API lists it while it runs, and when the run started; and what a trial's
    strategy is made of (the base strategy resolved, the space's conditional paths, the
    chain), so that the results API can show and backtest any trial again."""
    previous = read_status(out_dir) or {}
    write_study_status(
        out_dir, "running", study=study.name, study_file=source, storage=storage,
        objectives=[{"kpi": o.kpi, "maximize": o.maximize} for o in study.objectives],
        sampler=study.sampler_kind, pruner=study.pruner_kind, planned_trials=study.trials,
        code_version=code_version(), started=now(), finished_at="", error="",
        runs=int(previous.get("runs", 0)) + 1, base_strategy=base.model_dump(mode="json"),
        # a trial stores None for a conditional path it did not sample: the base value holds
        conditional_paths=[p for p, d in study.space.items() if d.when],
        data=study.data, data_fingerprint=fingerprint)
    note_status(Path(out_dir) / STATUS_NAME)


def record_failure(out_dir: Path, error: BaseException, what: str) -> BaseException:
    """Mark the run failed with `error` (interrupted for a Ctrl-C) unless `study.json` already
    says how it ended; the error to raise: an environment failure worded for the user (exit
    3), else `error` itself."""
    if isinstance(error, KeyboardInterrupt):
        raised: BaseException = error
        status, text = "interrupted", ""
    else:
        raised = environment_failure(error, what, RESUME) or error
        status, text = "failed", failure_text(raised)
    current = read_status(out_dir)
    if current is not None and current.get("status") in ("running", "done", "trials-done"):
        try:
            write_study_status(out_dir, status, error=text)
        except OSError:
            pass  # the message still says what happened
    return raised
