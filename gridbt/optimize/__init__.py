"""Optuna studies on the runtime's actors: search, walk-forward folds, overfitting statistics.

Public modules: `spec` (study files), `space` (suggestions to kernel rows), `samplers`
(samplers, pruners, storage), `folds` (walk-forward), `evaluate` (rounds of rows on the actors),
`study` (`run_study`), `finish` (out of sample, DSR, PBO, result files), `status`
(`study.json`: what the study is and how its last run went).
"""

__all__ = ["evaluate", "finish", "folds", "samplers", "space", "spec", "status", "study"]
