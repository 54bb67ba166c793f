"""The read side of gridbt: the sweeps, studies and backtests under a root directory.

Public modules: `catalog` (`Catalog`: discovery by manifests, stable ids, every query the API
serves), `models` (the typed objects returned, plots as data), `runs` (a sweep's runs in DuckDB),
`query` (the filter and sort language), `plots` (axis order, heatmaps from a frame,
downsampling), `series` (equity and trades), `discovery`, `recompute` (runs whose curve was not
kept), `payoff`, `tables` (a backtest's trades and daily book as Arrow tables), `errors`.
"""

__all__ = ["catalog", "discovery", "errors", "models", "payoff", "plots", "query", "recompute",
           "runs", "series", "tables"]
