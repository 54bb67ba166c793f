"""Strategy specs, presets and parameter spaces."""

from gridbt.strategy.spec import SpecError, StrategySpec, load_strategy, parse_strategy

__all__ = ["SpecError", "StrategySpec", "load_strategy", "parse_strategy"]
