"""`gridbt sweep`: run the grid, then draw its heatmaps and log it to MLflow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gridbt._typing import PathLike
from gridbt.report.heatmap import objective_heatmaps
from gridbt.sweep.driver import SweepOutcome, run_sweep
from gridbt.sweep.manifest import write_manifest
from gridbt.sweep.results import ResultStore
from gridbt.sweep.spec import load_sweep
from gridbt.tracking.jobs import log_sweep

__all__ = ["sweep_job"]


def sweep_job(sweep_file: PathLike, *, workdir: PathLike | None = None,
              **options: Any) -> SweepOutcome:
    """Run (or resume) the sweep in `sweep_file` (`options` as `run_sweep`'s), then draw the
    objective's heatmaps into `<out>/heatmaps/` and log the sweep to MLflow when its file asks
    for it. A Ctrl-C while drawing or logging keeps the finished grid: `--resume` redoes them.
    """
    sweep, _ = load_sweep(sweep_file)
    base_dir = Path(workdir) if workdir is not None else Path.cwd()
    outcome = run_sweep(sweep_file, workdir=base_dir, **options)
    manifest = outcome.manifest
    if outcome.interrupted or manifest is None or manifest.status != "done" or not manifest.best:
        return outcome
    store = ResultStore(outcome.out_dir)
    try:
        heatmaps: list[Path] = objective_heatmaps(
            store.read_summary(), list(sweep.grid), sweep.objective.kpi,
            higher_is_better=sweep.objective.maximize, out_dir=outcome.out_dir / "heatmaps")
        if sweep.mlflow.enabled:
            mlflow = log_sweep(sweep, manifest, store, heatmaps, str(sweep_file), base_dir)
            outcome.manifest = manifest.with_results(mlflow=mlflow)
            write_manifest(outcome.out_dir, outcome.manifest)
    except KeyboardInterrupt:
        outcome.interrupted = True
    return outcome
