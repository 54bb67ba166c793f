"""Shared test fixtures: tiny hand-made chains, engines list; real servers started by tests in
their own modules (`mlflow_server`, `postgres`, `prometheus`, all on `process`), imported from
there: they need no import here."""

from gridbt.strategy.backtest import ENGINES
from gridbt.testing.chains import ChainQuote, chain_from_quotes, flat_vol_chain

__all__ = ["ENGINES", "ChainQuote", "chain_from_quotes", "flat_vol_chain"]
