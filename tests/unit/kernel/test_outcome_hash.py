"""The outcome hash names a trade sequence: engine noise below a cent does not change it, nor
does the rule a trade was closed by, any other difference in the trades does, and it equals the
same word mix computed in plain Python."""

from pathlib import Path

import numpy as np
import pytest

from gridbt.kernel.contract import N_TRADE_COLS, T
from gridbt.kernel.outcome_nb import EMPTY_OUTCOME, trades_hash_nb


def _reference(rows: list[tuple[int, int, int, float, float]]) -> int:
    h = 14695981039346656037
    for entry, exit_, _reason, contracts, pnl in rows:
        for value in (entry, exit_, round(contracts * 1e6), round(pnl * 100.0)):
            h = ((h ^ (value % 2**64)) * 0x9E3779B97F4A7C15) % 2**64
            h ^= h >> 29
    return int(np.uint64(h).view(np.int64))


def _trades(rows: list[tuple[int, int, int, float, float]]) -> np.ndarray:
    out = np.zeros((max(len(rows), 1), N_TRADE_COLS))
    for i, (entry, exit_, reason, contracts, pnl) in enumerate(rows):
        out[i, [T.entry_day, T.exit_day, T.exit_reason, T.contracts, T.pnl]] = \
            entry, exit_, reason, contracts, pnl
    return out


ROWS = [(3, 20, 1, 2.0, 131.0), (25, 41, 4, 1.0, -412.35), (44, 60, 0, 3.0, 0.65)]


def test_equals_the_plain_python_mix() -> None:
    assert trades_hash_nb(_trades(ROWS), len(ROWS)) == _reference(ROWS)
    assert trades_hash_nb(_trades([]), 0) == EMPTY_OUTCOME == _reference([])


def test_sub_cent_noise_keeps_the_hash() -> None:
    noisy = [(e, x, r, c, p + 3e-10) for e, x, r, c, p in ROWS]
    assert trades_hash_nb(_trades(noisy), 3) == trades_hash_nb(_trades(ROWS), 3)


def test_the_exit_reason_alone_keeps_it() -> None:
    # the same days, contracts and P&L closed by another rule: the same curve and KPIs
    relabelled = [(e, x, (r + 3) % 9, c, p) for e, x, r, c, p in ROWS]
    assert trades_hash_nb(_trades(relabelled), 3) == trades_hash_nb(_trades(ROWS), 3)


@pytest.mark.parametrize("field", [0, 1, 3, 4])
def test_any_other_trade_difference_changes_it(field: int) -> None:
    changed = [list(row) for row in ROWS]
    changed[1][field] += 0.01 if field == 4 else 1
    altered = [tuple(row) for row in changed]
    assert trades_hash_nb(_trades(altered), 3) != trades_hash_nb(_trades(ROWS), 3)


def test_order_and_count_matter() -> None:
    base = trades_hash_nb(_trades(ROWS), 3)
    assert trades_hash_nb(_trades(ROWS[::-1]), 3) != base
    assert trades_hash_nb(_trades(ROWS), 2) != base


def test_the_batch_kernel_hashes_the_trades_run_params_books() -> None:
    import datetime as dt

    from gridbt.data.pack import pack_chain
    from gridbt.kernel.dispatch import run_batch, run_params
    from gridbt.strategy.encode import encode_spec
    from gridbt.strategy.presets import PRESETS
    from gridbt.testing import flat_vol_chain

    days = [d.astype(object) for d in np.busday_offset("2024-01-02", np.arange(90),
                                                       roll="forward")]
    spots = list(100.0 + np.sin(np.arange(90) / 6.0) * 6.0)
    expiries = [dt.date(2024, m, 15) for m in range(2, 8)]
    packed = pack_chain(flat_vol_chain(days, spots, expiries,
                                       list(np.arange(70.0, 131.0, 2.5))).combine_chunks())
    rows = np.stack([encode_spec(PRESETS[name](), packed) for name in sorted(PRESETS)])
    outcome = run_batch(packed, rows).outcome
    for row, got in zip(rows, outcome, strict=True):
        trades = run_params(packed, row).trades
        table = np.zeros((max(len(trades), 1), N_TRADE_COLS))
        for column, name in enumerate(trades.dtype.names or ()):
            table[: len(trades), column] = trades[name]
        assert got == trades_hash_nb(table, len(trades))
    assert len(set(outcome.tolist())) > 1  # the presets trade differently


def test_a_dte_exit_on_the_day_a_holding_limit_closes_the_trade_is_one_outcome() -> None:
    from gridbt.data.default import ensure_synthetic_chain, load_packed
    from gridbt.kernel.dispatch import run_batch, run_params
    from gridbt.strategy.encode import encode_spec
    from gridbt.strategy.spec import load_strategy

    packed = load_packed(ensure_synthetic_chain(profile="small")[0])
    base = load_strategy(Path(__file__).resolve().parents[3]
                         / "jobs/strategies/short_put_30d.yaml")
    rows = np.stack([
        encode_spec(base.model_copy(update={"exit": base.exit.model_copy(update={
            "max_holding_days": 20, "dte": dte, "profit_target": None, "stop_loss": None})}),
            packed)
        for dte in (1, 13)])
    first, second = (run_params(packed, row).trades for row in rows)
    # the same trades, closed by the holding limit in one and in part by the DTE exit in the other
    for name in ("entry_day", "exit_day", "contracts"):
        np.testing.assert_array_equal(first[name], second[name])
    np.testing.assert_allclose(first["pnl"], second["pnl"], rtol=0, atol=1e-9)
    assert (first["exit_reason"] != second["exit_reason"]).any()
    outcome = run_batch(packed, rows).outcome
    assert outcome[0] == outcome[1]
