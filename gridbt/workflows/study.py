"""`gridbt optimize`: run the study, then log it to MLflow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gridbt._atomic import write_json_atomic
from gridbt._typing import PathLike
from gridbt.optimize.spec import load_study
from gridbt.optimize.study import StudyOutcome, run_study
from gridbt.tracking.jobs import log_study

__all__ = ["study_job"]


def study_job(study_file: PathLike, *, workdir: PathLike | None = None,
              **options: Any) -> StudyOutcome:
    """Run (or resume) the study in `study_file` (`options` as `run_study`'s), then log it to
    MLflow when its file asks for it (the runs' location goes into `summary.json`)."""
    study, _ = load_study(study_file)
    base_dir = Path(workdir) if workdir is not None else Path.cwd()
    outcome = run_study(study_file, workdir=base_dir, **options)
    if outcome.interrupted or "best" not in outcome.summary or not study.mlflow.enabled:
        return outcome
    try:
        outcome.summary["mlflow"] = log_study(study, outcome, str(study_file), base_dir)
        write_json_atomic(outcome.out_dir / "summary.json", outcome.summary)
    except KeyboardInterrupt:
        outcome.interrupted = True
    return outcome
