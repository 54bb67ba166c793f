"""What a batch writes for one finished backtest, whichever engine ran it (the day kernel,
`nb.run_batch_nb`, or the trade tables, `tables_eval_nb.eval_group_nb`): its KPIs over its day
window, the per-block statistics of its daily returns (for PBO), the hash of its trades and, when
kept, its equity curve."""

from gridbt.kernel.cache import njit
from gridbt.kernel.contract import P, T
from gridbt.kernel.kpi_nb import compute_kpis_nb, deviation_sums_nb
from gridbt.kernel.outcome_nb import trades_hash_nb
from gridbt.kernel.rules_nb import window_nb

__all__ = ["block_stats_nb", "finish_row_nb"]


@njit(cache=True, nogil=True, error_model="numpy")
def block_stats_nb(equity, stats, scratch):
    """Per time block, the count, sum and sum of squares of the curve's daily returns into
    `stats` (n_blocks, 3; nothing when n_blocks is 0): `overfitting.block_return_stats` (a
    return after a close <= 0 is 0; the first n_returns % n_blocks blocks get one more day),
    without the curve leaving the kernel. The returns go into `scratch` (at least
    n_returns long) in one vectorised pass; a block's sums are the KPIs' four-lane
    `kpi_nb.deviation_sums_nb` about 0 (equal to numpy's to rounding)."""
    n_blocks = stats.shape[0]
    n_returns = equity.shape[0] - 1
    if n_blocks == 0 or n_returns < n_blocks:
        return
    for t in range(n_returns):
        prev = equity[t]
        scratch[t] = 0.0 if prev <= 0.0 else equity[t + 1] / prev - 1.0
    size = n_returns // n_blocks
    extra = n_returns - size * n_blocks
    t = 0
    for b in range(n_blocks):
        length = size + 1 if b < extra else size
        stats[b, 0] = length
        stats[b, 1], stats[b, 2] = deviation_sums_nb(scratch[t:t + length], length, 0.0)
        t += length


@njit(cache=True, nogil=True, inline="always")
def finish_row_nb(chain, row, n, trades, equity, in_market, margin, trade_pnl, trade_held,
                  scratch, kpis, stats, slot, equity_out):
    """Write row `row`'s KPIs into `kpis`, its block return statistics into `stats` and its
    curve into `equity_out[slot]` (when `slot` >= 0), from its `n` trades and daily outputs;
    return its outcome hash. `trade_pnl`, `trade_held` and `scratch` are the batch's scratch
    buffers."""
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
    block_stats_nb(equity, stats, scratch)
    if slot >= 0:
        equity_out[slot, :] = equity
    return trades_hash_nb(trades, n)
