"""What each `gridbt` command does, end to end: run, render, track.

Public modules: `backtest` (`run_and_write`), `sweep` (`sweep_job`: the grid, its heatmaps,
MLflow), `study` (`study_job`: the study, MLflow), `entries` (`run_entries`: every
candidate entry, its tables), `demo` (`run_demo`), `jobfiles` (the ready
job files the package ships) and `warm` (`warm_kernels`: compile the kernels once, at install).
"""

__all__ = ["backtest", "demo", "entries", "jobfiles", "study", "sweep", "warm"]
