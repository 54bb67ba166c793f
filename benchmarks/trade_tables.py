"""Trade tables against the day kernel on the default chain: combinations/s single-process for
`dispatch.run_batch` and `tables.run_batch_tables` on the short-put and iron-condor sweep grids
(jobs/sweeps/), their ratio, the table bytes per entry group and where a group's time goes
(building its tables, evaluating its rows), with the ceilings this implies: the bytes a walk
touches at the measured bandwidth, and the work done for every combination once its trades are
known (KPIs, block statistics, outcome hash): the day kernel's for every combination, the trade
tables' for one per distinct outcome of an entry group, which no sharing of entries removes.

Both engines get the same rows (every valid combination of the grid, or a random sample of
whole entry groups with --groups) and must agree (KPIs to 1e-9, equal outcome hashes; checked
on every repeat). Medians of --repeat interleaved runs; compile time is never counted.
Usage: python benchmarks/trade_tables.py [--chain DIR] [--repeat 3] [--groups 0]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from numba import njit

from gridbt.data.default import load_packed
from gridbt.data.pack import PackedChain
from gridbt.kernel.contract import N_TRADE_COLS
from gridbt.kernel.dispatch import chain_arrays, run_batch
from gridbt.kernel.kpi_nb import I_TRADE_COUNT
from gridbt.kernel.row_nb import finish_row_nb
from gridbt.kernel.tables import (
    MIN_GROUP_ROWS,
    build_contract_major,
    build_tables,
    entry_days,
    entry_group_keys,
    fallback_reasons,
    kept_tables,
    load_contract_major,
    release_tables,
    run_batch_tables,
    share_contract_major,
)
from gridbt.strategy.encode import STANDARD_FEATURES
from gridbt.sweep.grid import Grid
from gridbt.sweep.spec import load_sweep

#: time blocks of the PBO statistics, as a sweep's actors compute them (`pbo_blocks` default)
N_BLOCKS = 10
REPO = Path(__file__).resolve().parents[1]
GRIDS = ("short_put_grid", "iron_condor_grid")


def grid_rows(name: str, groups: int) -> np.ndarray:
    """Every valid combination of a sweep file's grid (or `groups` whole entry groups)."""
    sweep, base = load_sweep(REPO / "jobs" / "sweeps" / f"{name}.yaml")
    grid = Grid(sweep, base, STANDARD_FEATURES)
    rows = np.concatenate([block.params for block in grid.blocks()])
    if groups:
        keys = entry_group_keys(rows)
        chosen = np.random.default_rng(0).permutation(np.unique(keys))[:groups]
        rows = rows[np.isin(keys, chosen)]
    return rows


def timed(fn: object, *args: object) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args)  # type: ignore[operator]
    return time.perf_counter() - start, out


def bench(name: str, packed: PackedChain, repeat: int, groups: int) -> None:
    rows = grid_rows(name, groups)
    if fallback_reasons(rows).any():
        raise SystemExit(f"{name}: some rows need the day kernel")
    keys = entry_group_keys(rows)
    n_groups = len(np.unique(keys))
    run_batch(packed, rows[:2])  # compile / load from cache
    run_batch_tables(packed, rows[:2], None, 0)
    day_s, tab_s, auto_s = [], [], []
    for _ in range(repeat):
        t_day, day = timed(run_batch, packed, rows)
        release_tables()  # each run from cold: no tables or leg selections kept
        t_tab, tab = timed(run_batch_tables, packed, rows, None, 0)
        replayed = tab.replayed  # type: ignore[attr-defined]
        release_tables()
        t_auto, auto = timed(run_batch_tables, packed, rows)
        for out in (tab, auto):
            np.testing.assert_allclose(out.kpis, day.kpis, rtol=1e-9,  # type: ignore[attr-defined]
                                       atol=1e-9, equal_nan=True)
            assert np.array_equal(out.outcome, day.outcome)  # type: ignore[attr-defined]
        day_s.append(t_day)
        tab_s.append(t_tab)
        auto_s.append(t_auto)
    t_day, t_tab = statistics.median(day_s), statistics.median(tab_s)
    t_auto = statistics.median(auto_s)
    # one group on its own: its first evaluation builds the days its rows reach, a second one
    # (the same rows, the tables kept) only walks
    group = rows[keys == keys[0]]
    firsts, agains = [], []
    for _ in range(repeat):
        release_tables()
        firsts.append(timed(run_batch_tables, packed, group, None, 0, N_BLOCKS)[0])
        agains.append(timed(run_batch_tables, packed, group, None, 0, N_BLOCKS)[0])
    t_first, t_again = statistics.median(firsts), statistics.median(agains)
    tables = kept_tables()
    assert tables is not None
    eager = build_tables(packed, group[0], entry_days(packed, group))
    n = len(rows)
    per_group = n / n_groups
    t_build = max(t_first - t_again, 0.0)
    t_eval = t_again / len(group)
    # bytes one combination's walk touches: each leg's bid and ask on its held days (read in
    # place), its equity and in-market writes and the KPI pass
    legs = int(np.count_nonzero(tables.contract[tables.skip == -1][0] >= 0))
    held = float(np.mean(day.kpis[:, 14])) * packed.n_days  # type: ignore[attr-defined]
    touched = held * (16 * legs + 9) + packed.n_days * (9 + 17)
    print(f"{name}: {n:,} combinations in {n_groups} entry groups ({per_group:.0f} per group)")
    print(f"  run_batch        {n / t_day:9,.0f} combinations/s ({t_day / n * 1e6:7.1f} us each)")
    print(f"  run_batch_tables {n / t_tab:9,.0f} combinations/s ({t_tab / n * 1e6:7.1f} us each)"
          f"  -> {t_day / t_tab:.1f}x (every group on tables; {replayed:,} rows not walked:"
          " they replayed another's trades)")
    print(f"  run_batch_tables {n / t_auto:9,.0f} combinations/s ({t_auto / n * 1e6:7.1f} us each)"
          f"  -> {t_day / t_auto:.1f}x (default: groups under {MIN_GROUP_ROWS} rows on the day "
          "kernel)")
    built = int(np.count_nonzero(tables.skip >= -1))
    candidates = int(np.count_nonzero(eager.skip >= -1))
    path_days = int(tables.length[tables.skip == -1].sum())
    print(f"  one group of {len(group)}: tables {tables.nbytes / 1e6:.2f} MB "
          f"({built:,} of {candidates:,} candidate days reached and built, their paths "
          f"{path_days:,} days read in place), built in {t_build * 1e3:.1f} ms = "
          f"{t_build / len(group) * 1e6:.0f} us per combination; evaluation "
          f"{t_eval * 1e6:.0f} us per combination")
    floor_us = touched / BANDWIDTH * 1e6
    print(f"  ceiling: a walk touches ~{touched / 1e3:.0f} kB, {floor_us:.0f} us at "
          f"{BANDWIDTH / 1e9:.1f} GB/s, i.e. at most {t_day / n * 1e6 / floor_us:.0f}x the day "
          "kernel when memory-bound and the build is free")
    shared = shared_work(packed, rows, day.kpis, repeat)  # type: ignore[attr-defined]
    # the trade tables finish one row per outcome of a group (the others copy it); the day
    # kernel finishes every row
    outcomes = np.unique(np.column_stack([keys, day.outcome]), axis=0)  # type: ignore[attr-defined]
    finished = len(outcomes) / n
    print(f"  work per finished combination (KPIs over {packed.n_days:,} days, block "
          f"statistics, outcome hash): {shared * 1e6:.0f} us; the day kernel finishes every "
          f"combination, the trade tables {finished:.0%} of them (one per outcome of a "
          f"group), so at most {t_day / n / (shared * finished):.0f}x the day kernel were the "
          "walk and the build free")


@njit(cache=True)
def _finish_all(chain, params, equity, trade_counts, trades, kpis, stats):  # type: ignore[no-untyped-def]
    """`row_nb.finish_row_nb` (KPIs, block statistics, outcome hash) for each curve of `equity`,
    with `trade_counts[i]` trades of `trades` (their values do not change the cost)."""
    n_days = equity.shape[1]
    in_market = np.zeros(n_days, dtype=np.bool_)
    margin = np.zeros(n_days)
    trade_pnl = np.empty(trades.shape[0])
    trade_held = np.empty(trades.shape[0], dtype=np.int64)
    scratch = np.empty(n_days)
    unused = np.empty((1, n_days))  # no curve is kept (slot -1)
    total = 0
    for i in range(equity.shape[0]):
        for t in range(1, n_days):
            in_market[t] = equity[i, t] != equity[i, t - 1]
        total ^= finish_row_nb(chain, params[i], trade_counts[i], trades, equity[i], in_market,
                               margin, trade_pnl, trade_held, scratch, kpis[i], stats[i], -1,
                               unused)
    return total


def shared_work(packed: PackedChain, rows: np.ndarray, kpis: np.ndarray, repeat: int) -> float:
    """Seconds per combination of the work both engines do for every row once its trades and
    curve are known (`row_nb.finish_row_nb`: KPIs, block statistics, outcome hash), on the
    equity curves of 64 of the grid's rows and their trade counts: with everything else free,
    the day kernel's time over this bounds the trade tables' speed-up."""
    sample = np.random.default_rng(1).choice(len(rows), min(64, len(rows)), replace=False)
    curves = run_batch(packed, rows[sample], np.ones(len(sample), dtype=bool)).equity
    counts = kpis[sample, I_TRADE_COUNT].astype(np.int64)
    trades = np.abs(np.random.default_rng(2).normal(size=(max(int(counts.max()), 1),
                                                          N_TRADE_COLS)))
    args = (chain_arrays(packed), np.ascontiguousarray(rows[sample]), np.ascontiguousarray(curves),
            counts, trades, np.empty((len(sample), 20)), np.empty((len(sample), N_BLOCKS, 3)))
    _finish_all(*args)  # compile
    best = min(timed(_finish_all, *args)[0] for _ in range(max(repeat, 3)))
    return best / len(sample)


BANDWIDTH = 1e10  # bytes/s, set by main() from a measured copy


def measure_bandwidth() -> float:
    """Bytes/s of a large array copy (read + write), the best of three."""
    src = np.ones(32 << 20)
    dst = np.empty_like(src)
    best = min(timed(np.copyto, dst, src)[0] for _ in range(3))
    return 2 * src.nbytes / best


def main() -> None:
    global BANDWIDTH
    parser = argparse.ArgumentParser()
    parser.add_argument("--chain", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--groups", type=int, default=0, help="sample of entry groups (0 = all)")
    args = parser.parse_args()
    packed = load_packed(args.chain)
    years = (int(packed.day_date[-1]) - int(packed.day_date[0])) / 365.25
    print(f"chain: {packed.n_days:,} days ({years:.1f} years), {packed.n_quotes:,} quotes")
    BANDWIDTH = measure_bandwidth()
    print(f"memory bandwidth (array copy): {BANDWIDTH / 1e9:.1f} GB/s")
    made, cm = timed(build_contract_major, packed)
    mapped, (loaded, kept) = timed(load_contract_major, packed)
    share_contract_major(packed, loaded)  # the groups' runs use it: not loaded (or made) again
    mb = sum(a.nbytes for a in cm) / 1e6  # type: ignore[attr-defined]
    print(f"contract-major, day-aligned bid/ask/delta: {mb:.0f} MB, made in {made:.2f} s; "
          + (f"mapped from the chain's cache in {mapped * 1e3:.0f} ms" if kept else
             "(this chain is not mapped from its cache: made in every process)"))
    for name in GRIDS:
        bench(name, packed, args.repeat, args.groups)


if __name__ == "__main__":
    main()
