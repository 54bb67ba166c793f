"""Parameter sweeps on the runtime's actors.

Public modules: `spec` (sweep files), `grid` (lazy grid expansion into kernel rows),
`constraints`, `groups` (which engine runs a combination; entry groups), `driver`
(`run_sweep`), `finish` (ranking, top equity, overfitting statistics), `results` (the result
store of a sweep directory), `manifest` (`sweep.json`), `metrics` (Ray metrics of a running
sweep).
"""

__all__ = ["constraints", "driver", "finish", "grid", "groups", "manifest", "metrics", "results",
           "spec"]
