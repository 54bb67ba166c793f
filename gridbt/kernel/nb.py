"""The single-position options backtest kernel: the day loop and the batch entry point
(semantics: docs/semantics.md; its steps are `steps_nb.py`, `entry_nb.py` and `select_nb.py`).

Array contract. `chain` is a `contract.Chain` of the arrays of `gridbt/data/pack.py` (axis 0
of day arrays = trading day; dates and expiries are int days since 1970-01-01; prices in
currency per option; NaN = missing quote or greek; volume and open interest -1 = missing;
`features` is (n_features, n_days)). `params` is one float64 vector laid out by
`contract.py` (NaN = rule off). Outputs are written into preallocated arrays: `equity`
(n_days), `in_market` (n_days, bool), `trades` (max_trades, N_TRADE_COLS), `legs`
(max_trades * MAX_LEGS, N_LEG_COLS), `skips` (N_SKIPS), `counters` (N_COUNTERS), `daily`
(n_days, N_DAILY_COLS: end-of-day contracts, greeks, hedge, margin and the day's P&L
attribution). `max_trades >= n_days` always suffices: a day closes at most one trade row.
Only the days of the vector's day window (`P.window_first`, `P.window_end`) are traded; the
outputs still cover every day. Nothing is allocated per day: only per-backtest state
(`state.py`). With the risk layer at its defaults no Black–Scholes call is made.
"""

import numpy as np

from gridbt.kernel.cache import njit
from gridbt.kernel.contract import N_DAILY_COLS, N_LEG_COLS, N_TRADE_COLS, C, D
from gridbt.kernel.entry_nb import entry_allowed_nb, try_entry_nb, zscore_signal_nb
from gridbt.kernel.enums import MAX_LEGS
from gridbt.kernel.lowlevel_nb import borrowed_nb, stack_record_nb
from gridbt.kernel.row_nb import finish_row_nb
from gridbt.kernel.rules_nb import decode_rules_nb, scenarios_nb, window_nb
from gridbt.kernel.state import book_dt, day_dt, flows_dt, leg_book_dt
from gridbt.kernel.steps_nb import (
    close_nb,
    equity_step_nb,
    exit_reason_nb,
    finance_nb,
    hedge_step_nb,
    margin_step_nb,
    mark_nb,
)


@njit(cache=True, nogil=True, inline="always")
def _flat_day_nb(d, value, equity, in_market, daily, fill_daily):
    """A day outside the backtest's window: equity `value`, out of the market, no daily row
    (only the margin column in the batch path, which writes no more)."""
    equity[d] = value
    in_market[d] = False
    if fill_daily:
        for k in range(daily.shape[1]):
            daily[d, k] = 0.0
    else:
        daily[d, D.initial_margin] = 0.0


@njit(cache=True, nogil=True, inline="always")
def begin_day_nb(chain, d, book, day, signal, series, end):
    """Start day `d`: its date and spot, whether it ends the data, the z-score state machine's
    step (docs/semantics.md, Signals), and today's sums at 0."""
    day.today = chain.day_date[d]
    day.spot = chain.day_spot[d]
    day.last = d == end - 1
    day.signal_exit = False
    if signal.zscore:
        book.signal, day.signal_exit = zscore_signal_nb(
            series, d, signal.window, signal.entry, signal.exit, book.signal
        )
    day.exit_reason = -1
    day.cost = 0.0
    day.financing = 0.0
    day.pnl_vega = 0.0


@njit(cache=True, nogil=True)
def run_backtest_nb(chain, params, equity, in_market, trades, legs, skips, counters, daily,
                    fill_daily):
    """Run one backtest; fill the outputs and return the number of trade rows.

    With `fill_daily` false only the `D.initial_margin` column of `daily` is written (the batch
    path: the KPIs need no more, and the per-day greek loads are skipped unless a rule reads
    them).
    """
    chain = borrowed_nb(chain)
    params, equity, in_market, trades, legs, skips, counters, daily = borrowed_nb(
        (params, equity, in_market, trades, legs, skips, counters, daily)
    )
    n_days = chain.day_date.shape[0]
    rules = decode_rules_nb(params, n_days, fill_daily)
    br = rules.book
    signal = rules.signal
    book = stack_record_nb(book_dt)
    trade = stack_record_nb(flows_dt)  # the open trade's cash flows
    part = stack_record_nb(flows_dt)  # those of the part a partial liquidation closes
    day = stack_record_nb(day_dt)
    lg = stack_record_nb(leg_book_dt)
    book.cash = br.capital
    day.prev_equity = br.capital
    scenarios = scenarios_nb(params)
    series = chain.features[signal.feature] if signal.zscore else chain.day_spot
    skips[:] = 0

    # Day window: days [first, end) are a fresh backtest; before it equity is capital and
    # the book is flat, while the z-score state (a property of the chain) runs from day 0
    for d in range(br.first):
        if signal.zscore:
            book.signal, _ = zscore_signal_nb(
                series, d, signal.window, signal.entry, signal.exit, book.signal
            )
        _flat_day_nb(d, br.capital, equity, in_market, daily, fill_daily)

    for d in range(br.first, br.end):
        begin_day_nb(chain, d, book, day, signal, series, br.end)
        # 1. open position: mark and settle, planned exits, hedge and margin account
        if book.open:
            settled, pnl = mark_nb(chain, d, book, trade, day, lg, legs, br)
            reason = exit_reason_nb(chain, d, book, day, lg, br.n_legs, settled, pnl, rules.exit)
            if reason < 0 and rules.hedge.on:
                hedge_step_nb(
                    chain, d, book, trade, day, lg, br, rules.hedge, rules.exit.period_trading
                )
            if reason < 0 and rules.margin.on:
                reason = margin_step_nb(
                    chain, d, book, trade, part, day, lg, legs, trades, rules, scenarios
                )
            if reason >= 0:
                close_nb(chain, d, reason, book, trade, day, lg, legs, trades, rules)
            day.exit_reason = reason
        # 2. flat: entry
        if not book.open and not day.last and entry_allowed_nb(chain, d, day, rules.entry,
                                                                br.first):
            skip = try_entry_nb(chain, params, d, book, trade, day, lg, legs, trades, rules)
            if skip >= 0:
                skips[skip] += 1
        # 3. financing, 4. equity and the daily row
        if book.open and rules.account.financing_on:
            finance_nb(book, trade, day, lg, br, rules.account)
        equity_step_nb(d, book, day, lg, equity, in_market, daily, br, rules.account)

    # after the window: flat at its last equity (the book closed on its last day)
    final = equity[br.end - 1] if br.end > br.first else br.capital
    for d in range(br.end, n_days):
        _flat_day_nb(d, final, equity, in_market, daily, fill_daily)
    counters[C.missing_quote_days] = book.missing_quote_days
    counters[C.stale_fills] = book.stale_fills
    return book.n_trades


@njit(cache=True, nogil=True)
def run_batch_nb(chain, params, equity_slot, kpis, skips, counters, block_stats, equity_out,
                 outcome):
    """Run every row of `params` (n_combos, N_PARAMS).

    Writes `kpis` (n_combos, N_KPIS), `skips` (n_combos, N_SKIPS), `counters`
    (n_combos, N_COUNTERS), `block_stats` (n_combos, n_blocks, 3: `row_nb.block_stats_nb`) and
    `outcome` (n_combos: the `outcome_nb` hash of the trades); the
    equity curve of row r goes to `equity_out[equity_slot[r]]` when `equity_slot[r] >= 0`.
    Scratch buffers (the daily rows included) are allocated once per batch.
    """
    n_days = chain.day_date.shape[0]
    n_rows = params.shape[0]
    equity = np.empty(n_days)
    in_market = np.zeros(n_days, dtype=np.bool_)
    daily = np.zeros((n_days, N_DAILY_COLS))
    margin = np.empty(n_days)
    trades = np.zeros((max(n_days, 1), N_TRADE_COLS))
    legs = np.zeros((max(n_days, 1) * MAX_LEGS, N_LEG_COLS))
    trade_pnl = np.empty(max(n_days, 1))
    trade_held = np.empty(max(n_days, 1), dtype=np.int64)
    scratch = np.empty(max(n_days, 1))
    for r in range(n_rows):
        n = run_backtest_nb(
            chain, params[r], equity, in_market, trades, legs, skips[r], counters[r], daily,
            False,
        )
        # the KPIs' margin column, over the row's day window (the batch path writes no more)
        w_first, w_end = window_nb(params[r], n_days)
        for t in range(w_first, w_end):
            margin[t] = daily[t, D.initial_margin]
        outcome[r] = finish_row_nb(chain, params[r], n, trades, equity, in_market, margin,
                                   trade_pnl, trade_held, scratch, kpis[r], block_stats[r],
                                   equity_slot[r], equity_out)
