"""`gridbt sweep`: run the grid, then draw its heatmaps and log it to MLflow.

The module imports nothing heavy until it is called, so that a command's first stage line
shows at once.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gridbt._stages import seconds_since, stage
from gridbt._typing import PathLike
from gridbt.workflows._kept import Reproduce

if TYPE_CHECKING:
    from gridbt.report.drawing import Drawing
    from gridbt.sweep.driver import SweepOutcome
    from gridbt.sweep.results import ResultStore
    from gridbt.sweep.spec import SweepSpec

__all__ = ["sweep_job"]


def sweep_job(sweep_file: PathLike, *, workdir: PathLike | None = None,
              tracking_dir: PathLike | None = None, progress: bool = True,
              verbose: bool = False, summary: Callable[[SweepOutcome], None] | None = None,
              draw_workers: int | None = 1, **options: Any) -> SweepOutcome:
    """Run (or resume) the sweep in `sweep_file` (`options` as `run_sweep`'s), then draw the
    objective's heatmaps into `<out>/heatmaps/` and log the sweep to MLflow when its file asks
    for it. A Ctrl-C while drawing or logging keeps the finished grid: `--resume` redoes them;
    so does a failure, which `sweep.json` records (status `failed`, with the error).

    `summary(outcome)` is called as soon as the results are final, before the heatmaps and
    MLflow, so that a caller can show them without waiting for either. `progress` shows
    progress bars (the grid, the MLflow runs); `verbose` keeps what Ray and MLflow have to say.
    Without a tracking URI (file or `$MLFLOW_TRACKING_URI`) the runs go to SQLite in
    `tracking_dir`, default the sweep's output directory. The heatmaps and the kept
    combinations' tear sheets are drawn by `draw_workers` processes (`report.drawing`; None:
    one per usable CPU, for callers whose main module may be imported again).
    """
    from gridbt.sweep.driver import run_sweep

    base_dir = Path(workdir) if workdir is not None else Path.cwd()
    outcome = run_sweep(sweep_file, workdir=base_dir, progress=progress, verbose=verbose,
                        **options)
    if summary is not None:
        summary(outcome)
    manifest = outcome.manifest
    if outcome.interrupted or manifest is None or manifest.status != "done" or not manifest.best:
        return outcome

    from gridbt._status import made_from
    from gridbt.report.drawing import Drawing
    from gridbt.sweep.manifest import write_manifest
    from gridbt.sweep.results import ResultStore
    from gridbt.sweep.spec import load_sweep

    sweep, base = load_sweep(sweep_file)
    store = ResultStore(outcome.out_dir)
    # the heatmaps, then the kept runs' tear sheets, drawn side by side in worker processes
    drawing = Drawing(draw_workers)
    # what the heatmaps and the MLflow runs are made from: the file's bytes and the results
    facts = made_from(sweep_file, results=manifest.computed, failed=manifest.failed)
    # the pictures also depend on the chain and on the code that draws them
    drawn_from = {**facts, "data": manifest.data_fingerprint, "code": manifest.code_version}
    store_dir = store.root if tracking_dir is None else Path(tracking_dir)  # runs without a URI
    if sweep.mlflow.enabled:  # its import overlaps the drawing
        from gridbt.tracking.jobs import tracking_uri
        from gridbt.tracking.preload import import_mlflow_ahead

        import_mlflow_ahead(tracking_uri(sweep.mlflow, store_dir))
    try:
        heatmaps = _heatmaps(sweep, store, outcome.drawn, drawn_from, drawing)
        manifest = manifest.with_results(heatmaps={"files": [p.name for p in heatmaps],
                                                   "facts": drawn_from})
        outcome.manifest = manifest
        write_manifest(outcome.out_dir, manifest)
        if sweep.mlflow.enabled:
            from gridbt.tracking.jobs import log_sweep, log_unless_logged

            def log() -> dict[str, Any]:
                # the workers stop before the staged files they write are removed
                with tempfile.TemporaryDirectory(prefix="gridbt-kept-") as staging, drawing:
                    reproduce = Reproduce(base, sweep.data, Path(staging), drawing=drawing)
                    return log_sweep(sweep, manifest, store, heatmaps, str(sweep_file),
                                     store_dir, base=base, progress=progress, verbose=verbose,
                                     reproduce=reproduce)

            mlflow = log_unless_logged(outcome.logged, sweep.mlflow, sweep.name, store_dir,
                                       facts, log)
            outcome.manifest = manifest.with_results(mlflow=mlflow)
            write_manifest(outcome.out_dir, outcome.manifest)
    except KeyboardInterrupt:
        outcome.interrupted = True
    except Exception as exc:  # sweep.json says failed, with the error; --resume redoes these
        from gridbt.sweep.driver import record_failure

        raise record_failure(outcome.out_dir, exc,
                             f"drawing the heatmaps in {outcome.out_dir / 'heatmaps'}") from None
    finally:
        drawing.close()
    return outcome


def _heatmaps(sweep: SweepSpec, store: ResultStore, drawn: dict[str, Any],
              facts: dict[str, Any], drawing: Drawing) -> list[Path]:
    """The objective's heatmaps in `<out>/heatmaps/`: those an earlier run drew (`drawn`, its
    `sweep.json` entry) when drawn from the same `facts` and all still there (a resume that
    changed nothing), else drawn now."""
    from gridbt.report.heatmap import objective_heatmaps

    folder = store.root / "heatmaps"
    kept = [folder / name for name in drawn.get("files", [])]
    if drawn.get("facts") == facts and all(path.is_file() for path in kept):
        stage("%d heatmaps already drawn from these results", len(kept))
        return kept
    started = time.perf_counter()
    stage("drawing heatmaps")
    heatmaps = objective_heatmaps(
        store.read_summary(), list(sweep.grid), sweep.objective.kpi,
        higher_is_better=sweep.objective.maximize, out_dir=folder, zipped=sweep.zip,
        drawing=drawing)
    stage("%d heatmaps drawn in %.2f s", len(heatmaps), seconds_since(started))
    return heatmaps

