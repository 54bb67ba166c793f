"""What a batch writes for one finished backtest, whichever engine ran it (the day kernel,
`nb.run_batch_nb`, or the trade tables, `tables_eval_nb.eval_group_nb`): its KPIs over its day
window, the hash of its trades and, when kept, its equity curve."""

from gridbt.kernel.cache import njit
from gridbt.kernel.contract import P, T
from gridbt.kernel.kpi_nb import compute_kpis_nb
from gridbt.kernel.outcome_nb import trades_hash_nb
from gridbt.kernel.rules_nb import window_nb

__all__ = ["finish_row_nb"]


@njit(cache=True, nogil=True, inline="always")
def finish_row_nb(chain, row, n, trades, equity, in_market, margin, trade_pnl, trade_held,
                  scratch, kpis, slot, equity_out):
    """Write row `row`'s KPIs into `kpis` and its curve into `equity_out[slot]` (when
    `slot` >= 0), from its `n` trades and daily outputs; return its outcome hash. `trade_pnl`,
    `trade_held` and `scratch` are the batch's scratch buffers."""
    n_days = chain.day_date.shape[0]
    for t in range(n):
        trade_pnl[t] = trades[t, T.pnl]
        trade_held[t] = int(trades[t, T.days_held])
    # KPIs over the day window only (the whole chain unless the row sets one)
    w_first, w_end = window_nb(row, n_days)
    compute_kpis_nb(
        equity[w_first:w_end],
        chain.day_date[w_first:w_end],
        row[P.capital],
        trade_pnl[:n],
        trade_held[:n],
        in_market[w_first:w_end],
        margin[w_first:w_end],
        scratch,
        kpis,
    )
    if slot >= 0:
        equity_out[slot, :] = equity
    return trades_hash_nb(trades, n)
