"""The backtest kernels and their array contract: arrays in, arrays out.

Public modules (other packages import from these only):

- `contract`: the declared parameter vector, output columns and chain arrays.
- `enums`: exit, skip, sizing and model codes; block sizes.
- `dispatch`: the seam to the kernels: `run_params` (one backtest, full outputs), `run_batch`
  (many parameter rows to KPIs), `kpis_of`, `windowed`, `chain_arrays`.
- `result`: `BacktestResult`, what one backtest returns.
- `metrics`: the KPI registry (names, units, directions, definitions).
- `overfitting`: deflated Sharpe, PBO (CSCV) and the block statistics they need.
- `cache`: the source-keyed numba cache every kernel compiles into.
- `tables`: the trade-table engine's seam: `run_batch_tables` (a batch shared by entry group,
  same outputs as `run_batch`), `fallback_reasons`, `entry_group_keys`, `build_tables`;
  `table_layout`: the `TradeTables` it builds (docs/trade_tables.md).

The numba kernels themselves (`nb`, `risk_nb`, `kpi_nb`, `tables_nb`, `tables_eval_nb`, and
`row_nb` and `outcome_nb`, which both batch loops share) and the KPI oracle (`kpi_reference`) are
called through `dispatch` and `tables`, and by the tests.
"""

__all__ = ["cache", "contract", "dispatch", "enums", "metrics", "overfitting", "result",
           "table_layout", "tables"]
