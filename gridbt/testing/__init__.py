"""Shared test fixtures: tiny hand-made chains, engines list."""

from gridbt.testing.chains import ChainQuote, chain_from_quotes, flat_vol_chain

ENGINES = ("numba", "python")

__all__ = ["ENGINES", "ChainQuote", "chain_from_quotes", "flat_vol_chain"]
