"""Parameter sweeps on the runtime's actors.

Public modules: `spec` (sweep files), `grid` (lazy grid expansion into kernel rows),
`constraints`, `driver` (`run_sweep`), `finish` (ranking, top equity, overfitting statistics),
`results` (the result store of a sweep directory), `manifest` (`sweep.json`), `metrics` (Ray
metrics of a running sweep).
"""

__all__ = ["constraints", "driver", "finish", "grid", "manifest", "metrics", "results", "spec"]
