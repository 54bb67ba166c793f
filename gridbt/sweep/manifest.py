"""`sweep.json`: what a sweep directory holds, written atomically at start, end and finish."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import gridbt
from gridbt._atomic import write_json_atomic
from gridbt.strategy.spec import StrategySpec
from gridbt.sweep.spec import SweepSpec

__all__ = ["MANIFEST_NAME", "SweepManifest", "code_version", "grid_signature", "read_manifest",
           "write_manifest"]

MANIFEST_NAME = "sweep.json"


def grid_signature(sweep: SweepSpec, base: StrategySpec) -> str:
    """Hash of what defines the combinations: base strategy, grid, zips and constraints."""
    payload = {
        "base": base.model_dump(mode="json", exclude={"name"}),
        "grid": sweep.grid,
        "zip": sweep.zip,
        "constraints": sweep.constraints,
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def code_version() -> str:
    """gridbt's version, with the git commit when run from a checkout."""
    root = Path(gridbt.__file__).resolve().parents[1]
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{gridbt.__version__}+{sha}" if sha else gridbt.__version__


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class SweepManifest:
    name: str
    sweep_file: str
    sweep: dict[str, Any]
    base_strategy: dict[str, Any]
    data_fingerprint: str
    grid_signature: str
    grid_size: int
    valid_combinations: int
    code_version: str
    objective: str
    maximize: bool
    status: str = "running"
    started: str = ""
    finished_at: str = ""
    computed: int = 0
    failed: int = 0
    seconds: float = 0.0
    runs: int = 1
    statistics: dict[str, Any] = field(default_factory=dict)
    best: dict[str, Any] = field(default_factory=dict)
    mlflow: dict[str, Any] = field(default_factory=dict)
    #: the heatmaps drawn: their `files` (names in heatmaps/) and the `facts` they were drawn
    #: from (`gridbt._status.made_from`: the sweep file's bytes, the results)
    heatmaps: dict[str, Any] = field(default_factory=dict)
    #: the file's engine, combinations run on each engine and, per reason, on the day kernel
    #: instead of trade tables (`gridbt.sweep.groups.engine_counts`)
    engines: dict[str, Any] = field(default_factory=dict)
    error: str = ""  # why the last run failed (status "failed")

    @classmethod
    def start(cls, sweep: SweepSpec, base: StrategySpec, source: str, out_dir: Path,
              fingerprint: str, signature: str, size: int, valid: int,
              previous: SweepManifest | None, done: int = 0) -> SweepManifest:
        """A run's manifest; `done` parameter hashes already have a result on this data.
        `computed` and `seconds` (of the grid) count every run of the sweep; `started` is
        this run's."""
        return cls(
            name=sweep.name, sweep_file=source, sweep=sweep.model_dump(mode="json"),
            base_strategy=base.model_dump(mode="json"), data_fingerprint=fingerprint,
            grid_signature=signature, grid_size=size, valid_combinations=valid,
            code_version=code_version(), objective=sweep.objective.kpi,
            maximize=sweep.objective.maximize, started=_now(),
            computed=done, seconds=previous.seconds if previous else 0.0,
            failed=0, runs=previous.runs + 1 if previous else 1,
        )

    def finished(self, status: str, computed: int, failed: int, seconds: float,
                 error: str = "") -> SweepManifest:
        return replace(self, status=status, computed=self.computed + computed, failed=failed,
                       seconds=self.seconds + seconds, finished_at=_now(), error=error)

    def ended(self, status: str, error: str = "") -> SweepManifest:
        """This run ended with `status` ("failed" with `error`, or "interrupted") now."""
        return replace(self, status=status, error=error, finished_at=_now())

    def with_results(self, **changes: Any) -> SweepManifest:
        return replace(self, **changes)


def write_manifest(out_dir: Path, manifest: SweepManifest) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_dir / MANIFEST_NAME, asdict(manifest))


def read_manifest(out_dir: Path) -> SweepManifest | None:
    path = Path(out_dir) / MANIFEST_NAME
    if not path.is_file():
        return None
    payload = json.loads(path.read_text())
    return SweepManifest(**payload)
