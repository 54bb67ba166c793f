"""Optuna studies on the runtime's actors: search, walk-forward folds, overfitting statistics.

Public modules: `spec` (study files), `space` (suggestions to kernel rows), `samplers`
(samplers, pruners, storage), `folds` (walk-forward), `evaluate` (rounds of rows on the actors),
`study` (`run_study`), `manifest` (`study.json`, written at start), `finish` (out of sample,
DSR, PBO, result files).
"""

__all__ = ["evaluate", "finish", "folds", "manifest", "samplers", "space", "spec", "study"]
