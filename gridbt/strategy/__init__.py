"""Strategy specs, presets and parameter spaces."""

from gridbt.strategy.presets import PRESETS, preset
from gridbt.strategy.spec import SpecError, StrategySpec, load_strategy, parse_strategy

__all__ = ["PRESETS", "SpecError", "StrategySpec", "load_strategy", "parse_strategy", "preset"]
