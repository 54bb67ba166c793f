"""Backtest outputs: summary model, Parquet tables, tear sheet and CLI text."""
