"""`study.json`: what a study directory holds while its study runs, written atomically at
start.

A study's results (`summary.json`, `trials.parquet`, kept equity) are written when it
finishes; until then this manifest is what says the directory holds a study, so that the
results API lists it while it runs. Whether a run is still at work is not written here: its
process holds the directory's lock (`gridbt._lock`) until it exits.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from gridbt._atomic import write_json_atomic
from gridbt.optimize.spec import StudySpec
from gridbt.sweep.manifest import code_version

__all__ = ["MANIFEST_NAME", "study_manifest", "write_study_manifest"]

MANIFEST_NAME = "study.json"


def study_manifest(study: StudySpec, storage: str, source: str) -> dict[str, Any]:
    """The start manifest of a run of `study`: its name, storage, objectives, sampler, pruner
    and trial budget, the study file, gridbt's version and the start time (UTC)."""
    return {
        "study": study.name, "storage": storage, "study_file": source,
        "objectives": [{"kpi": o.kpi, "maximize": o.maximize} for o in study.objectives],
        "sampler": study.sampler_kind, "pruner": study.pruner_kind,
        "planned_trials": study.trials, "status": "running",
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "code_version": code_version(),
    }


def write_study_manifest(out_dir: Path, study: StudySpec, storage: str, source: str) -> None:
    """Write `out_dir/study.json` for a run of `study` that starts now."""
    write_json_atomic(out_dir / MANIFEST_NAME, study_manifest(study, storage, source))
