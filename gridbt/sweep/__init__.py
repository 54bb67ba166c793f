"""Parameter sweeps on the runtime's actors.

Public modules: `spec` (sweep files), `grid` (lazy grid expansion into kernel rows),
`constraints`, `driver` (`run_sweep`), `finish` (ranking, top equity, overfitting statistics),
`results` (the result store of a sweep directory), `manifest` (`sweep.json`). A running sweep's
Ray metrics are the runtime's (`gridbt.runtime.metrics`).
"""

__all__ = ["constraints", "driver", "finish", "grid", "manifest", "results", "spec"]
