"""`gridbt optimize`: run the study, then log it to MLflow.

The module imports nothing heavy until it is called, so that a command's first stage line
shows at once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gridbt._typing import PathLike

if TYPE_CHECKING:
    from gridbt.optimize.study import StudyOutcome

__all__ = ["study_job"]


def study_job(study_file: PathLike, *, workdir: PathLike | None = None,
              tracking_dir: PathLike | None = None, progress: bool = True,
              verbose: bool = False, summary: Callable[[StudyOutcome], None] | None = None,
              draw_workers: int | None = 1, **options: Any) -> StudyOutcome:
    """Run (or resume) the study in `study_file` (`options` as `run_study`'s), then log it to
    MLflow when its file asks for it (the runs' location goes into `summary.json`). A failure
    there leaves `study.json` saying failed, with the error; `--resume` logs again.

    `summary(outcome)` is called as soon as the study's results are final, before MLflow, so
    that a caller can show them without waiting for it. `progress` shows progress bars (the
    trials, the MLflow runs); `verbose` keeps what Ray and MLflow have to say. Without a
    tracking URI the runs go to SQLite in `tracking_dir`, default the study's output directory.
    The kept trials' tear sheets are drawn by `draw_workers` processes (`report.drawing`;
    None: one per usable CPU, for callers whose main module may be imported again).
    """
    from gridbt.optimize.study import run_study

    base_dir = Path(workdir) if workdir is not None else Path.cwd()
    outcome = run_study(study_file, workdir=base_dir, progress=progress, verbose=verbose,
                        **options)
    if summary is not None:
        summary(outcome)
    if outcome.interrupted or "best" not in outcome.summary:
        return outcome

    from gridbt._atomic import write_json_atomic
    from gridbt.optimize.spec import load_study

    study, base = load_study(study_file)
    if not study.mlflow.enabled:
        return outcome
    try:
        import tempfile

        from gridbt.report.drawing import Drawing
        from gridbt.tracking.jobs import log_study, log_unless_logged
        from gridbt.workflows._kept import Reproduce

        store_dir = outcome.out_dir if tracking_dir is None else Path(tracking_dir)

        def log() -> dict[str, Any]:
            # the workers stop before the staged files they write are removed
            with tempfile.TemporaryDirectory(prefix="gridbt-kept-") as staging, \
                    Drawing(draw_workers) as drawing:
                reproduce = Reproduce(base, study.data, Path(staging), "trials", drawing)
                return log_study(study, outcome, str(study_file), store_dir,
                                 progress=progress, verbose=verbose, base=base,
                                 reproduce=reproduce)

        outcome.summary["mlflow"] = log_unless_logged(
            outcome.logged, study.mlflow, study.name, store_dir,
            outcome.summary["made_from"], log)  # the file, signature and trials
        write_json_atomic(outcome.out_dir / "summary.json", outcome.summary)
    except KeyboardInterrupt:
        outcome.interrupted = True
    except Exception as exc:  # study.json says failed, with the error; --resume logs again
        from gridbt.optimize.status import record_failure

        raise record_failure(outcome.out_dir, exc,
                             f"logging the study in {outcome.out_dir}") from None
    return outcome
