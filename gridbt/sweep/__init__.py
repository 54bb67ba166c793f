"""Parameter sweeps on the runtime's actors.

Public modules: `spec` (sweep files), `grid` (lazy grid expansion into kernel rows),
`constraints`, `groups` (which engine runs a combination; entry groups), `driver`
(`run_sweep`), `finish` (ranking, top equity, overfitting statistics), `results` (the result
store of a sweep directory), `manifest` (`sweep.json`). A running sweep's Ray metrics are the
runtime's (`gridbt.runtime.metrics`).
"""

__all__ = ["constraints", "driver", "finish", "grid", "groups", "manifest", "results", "spec"]
