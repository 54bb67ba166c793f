"""Shared test fixtures: tiny hand-made chains, engines list."""

from gridbt.strategy.backtest import ENGINES
from gridbt.testing.chains import ChainQuote, chain_from_quotes, flat_vol_chain

__all__ = ["ENGINES", "ChainQuote", "chain_from_quotes", "flat_vol_chain"]
