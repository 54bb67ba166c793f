"""Strategies: the spec models and what is done with a spec.

Public modules: `spec` (the strategy models, loading and validation), `presets` (ready
strategies), `paths` (the dotted-path language of sweeps, studies and presets), `stress`
(stress scenarios), `encode` (a spec to the kernel's parameter vector), `backtest` (one backtest
of a spec, numba or reference), `reference` and `reference_risk` (the plain-Python oracle of
the kernel), `summary` (the model of a backtest's `summary.json`), `jobfile` (reading a sweep,
study or entries file and its base strategy).
"""

from gridbt.strategy.presets import PRESETS, preset
from gridbt.strategy.spec import SpecError, StrategySpec, load_strategy, parse_strategy

__all__ = ["PRESETS", "SpecError", "StrategySpec", "load_strategy", "parse_strategy", "preset"]
