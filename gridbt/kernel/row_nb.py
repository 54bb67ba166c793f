"""What a batch writes for one finished backtest, whichever engine ran it (the day kernel,
`nb.run_batch_nb`, or the trade tables, `tables_eval_nb.eval_group_nb`): its KPIs over its day
window, the per-block statistics of its daily returns (for PBO), the hash of its trades and, when
kept, its equity curve."""

from gridbt.kernel.cache import njit
from gridbt.kernel.contract import P, T
from gridbt.kernel.kpi_nb import compute_kpis_nb
from gridbt.kernel.outcome_nb import trades_hash_nb
from gridbt.kernel.rules_nb import window_nb

__all__ = ["block_stats_nb", "finish_row_nb"]


@njit(cache=True, nogil=True, inline="always")
def _return_nb(equity, t):
    prev = equity[t - 1]
    return 0.0 if prev <= 0.0 else equity[t] / prev - 1.0


@njit(cache=True, nogil=True)
def block_stats_nb(equity, stats):
    """Per time block, the count, sum and sum of squares of the curve's daily returns into
    `stats` (n_blocks, 3; nothing when n_blocks is 0): `overfitting.block_return_stats` (a
    return after a close <= 0 is 0; the first n_returns % n_blocks blocks get one more day),
    without the curve leaving the kernel. Four interleaved lanes: a block's sums are four
    independent dependency chains rather than one (equal to numpy's to rounding)."""
    n_blocks = stats.shape[0]
    n_returns = equity.shape[0] - 1
    if n_blocks == 0 or n_returns < n_blocks:
        return
    size = n_returns // n_blocks
    extra = n_returns - size * n_blocks
    t = 1
    for b in range(n_blocks):
        length = size + 1 if b < extra else size
        s0 = s1 = s2 = s3 = 0.0
        q0 = q1 = q2 = q3 = 0.0
        end = t + length
        for u in range(t, end - 3, 4):
            r0 = _return_nb(equity, u)
            r1 = _return_nb(equity, u + 1)
            r2 = _return_nb(equity, u + 2)
            r3 = _return_nb(equity, u + 3)
            s0 += r0
            s1 += r1
            s2 += r2
            s3 += r3
            q0 += r0 * r0
            q1 += r1 * r1
            q2 += r2 * r2
            q3 += r3 * r3
        for u in range(t + length - length % 4, end):
            r = _return_nb(equity, u)
            s0 += r
            q0 += r * r
        t = end
        stats[b, 0] = length
        stats[b, 1] = (s0 + s1) + (s2 + s3)
        stats[b, 2] = (q0 + q1) + (q2 + q3)


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
    block_stats_nb(equity, stats)
    if slot >= 0:
        equity_out[slot, :] = equity
    return trades_hash_nb(trades, n)
