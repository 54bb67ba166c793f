"""Renderers only: what the CLI prints and the pictures and tables a run leaves behind.

Public modules: `backtest` (a backtest's KPIs and summary as text), `sweep` and `study` (the
end-of-run text of a sweep and a study), `entries` (`gridbt entries`' table), `text` (aligned
tables and labels), `tearsheet` and `heatmap` (PNG files, the heatmap drawn from
`gridbt.results.plots.Heatmap`), `drawing` (worker processes that draw those files side by
side), `terminal` (the stage lines of a running sweep or study, on stderr).
"""

__all__ = ["backtest", "drawing", "entries", "heatmap", "study", "sweep", "tearsheet", "terminal",
           "text"]
