"""Renderers only: what the CLI prints and the pictures and tables a run leaves behind.

Public modules: `backtest` (a backtest's KPIs and summary as text), `sweep` and `study` (the
end-of-run text of a sweep and a study), `text` (aligned tables and labels), `tables` (a
backtest's trades and daily book as Arrow tables), `tearsheet` and `heatmap` (PNG files).
"""

__all__ = ["backtest", "heatmap", "study", "sweep", "tables", "tearsheet", "text"]
