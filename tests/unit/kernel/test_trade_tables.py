"""The trade-table engine against the day kernel: on random chains, random entry groups and
random exit grids, `run_batch_tables` returns what `run_batch` returns (KPIs, skips, counters
and equity to 1e-9, equal outcome hashes); every exit rule, re-entry, the filters and each
sizing rule are exercised across the examples; rows that need the day path are flagged with
the right fallback reason."""

from __future__ import annotations

import dataclasses
from collections import Counter, namedtuple

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridbt.data.pack import PackedChain
from gridbt.kernel.contract import LEG, LEG_SIZE, N_PARAMS, P_FILTER0, P_LEG0, F, P
from gridbt.kernel.dispatch import BatchOutputs, run_batch, run_params
from gridbt.kernel.enums import ExitReason, MarginModel, SelectBy, SizingBinding, SkipReason
from gridbt.kernel.overfitting import block_return_stats
from gridbt.kernel.tables import (
    FALLBACK_REASONS,
    build_tables,
    entry_group_keys,
    fallback_reasons,
    run_batch_tables,
    selection_memo,
    trade_path,
)
from gridbt.strategy.encode import encode_spec
from gridbt.strategy.spec import StrategySpec, parse_strategy
from tests.unit.kernel.test_kernel_vs_reference import (
    random_chains,
    random_risk_specs,
    random_specs,
    random_zscore_specs,
)

RTOL = 1e-9
_EXIT_SLOTS = (P.profit_target, P.stop_loss, P.dte_exit, P.max_holding, P.rebalance,
               P.delta_breach)


def _supported(row: np.ndarray) -> np.ndarray:
    """The row with every day-path feature switched off (the rest of it kept)."""
    row = row.copy()
    row[P.margin_model] = MarginModel.NONE
    row[P.margin_budget] = np.nan
    row[P.hedge_on] = 0.0
    row[P.cash_rate] = 0.0
    row[P.borrow_rate] = 0.0
    return row


@st.composite
def exit_grids(draw: st.DrawFn, base: np.ndarray, n_days: int, n_features: int) -> np.ndarray:
    """Rows of one entry group: the base row with random exits, schedules, re-entry, costs,
    sizes and capital (and one random day window for the whole group)."""
    n = draw(st.integers(2, 6))
    rows = np.repeat(base[None, :], n, axis=0)
    if draw(st.integers(0, 3)) == 0:
        first = draw(st.integers(0, max(n_days - 1, 0)))
        rows[:, P.window_first] = first
        rows[:, P.window_end] = draw(st.integers(first, n_days + 2))
    for r in range(1, n):
        values = {
            P.profit_target: st.floats(0.05, 1.5),
            P.stop_loss: st.floats(0.1, 3.0),
            P.dte_exit: st.integers(0, 20),
            P.max_holding: st.integers(1, 15),
            P.rebalance: st.integers(1, 15),
            P.delta_breach: st.floats(0.2, 0.95),
        }
        for slot, values_of in values.items():
            rows[r, slot] = draw(st.one_of(st.just(np.nan), values_of))
        rows[r, P.period_trading] = draw(st.sampled_from([0.0, 1.0]))
        rows[r, P.reentry_mask] = draw(st.sampled_from([0, 0b110, 0b1111111111, 0b1000]))
        rows[r, P.weekday_mask] = draw(st.sampled_from([31, 31, 21, 2]))
        rows[r, P.every_n_days] = draw(st.integers(1, 3))
        rows[r, P.slippage] = draw(st.sampled_from([0.0, 0.5, 1.0]))
        rows[r, P.commission] = draw(st.sampled_from([0.0, 0.65]))
        rows[r, P.contracts] = draw(st.integers(1, 4))
        rows[r, P.capital] = draw(st.sampled_from([rows[0, P.capital], 500.0, 1e6]))
        if draw(st.integers(0, 3)) == 0:  # a filter on the chain's last feature ("noise")
            rows[r, P.n_filters] = 1
            rows[r, P_FILTER0 + F.feature] = n_features - 1
            rows[r, P_FILTER0 + F.min] = draw(st.sampled_from([-np.inf, -2.0, -0.5]))
            rows[r, P_FILTER0 + F.max] = draw(st.sampled_from([np.inf, 0.5, 2.0]))
    return rows


@st.composite
def groups(draw: st.DrawFn) -> tuple[PackedChain, np.ndarray, StrategySpec]:
    chain = draw(random_chains())
    sizing = draw(st.sampled_from(["as drawn", "as drawn", "kelly", "vol_target"]))
    # Kelly sizing needs stress scenarios (the risk layer's) for its worst loss
    specs = random_risk_specs() if sizing == "kelly" else st.one_of(
        random_specs(), random_risk_specs(), random_zscore_specs())
    spec = draw(specs)
    base = _supported(encode_spec(spec, chain))
    if sizing == "kelly":  # binding once enough trades closed
        base[P.kelly_fraction] = draw(st.sampled_from([0.05, 0.5]))
        base[P.kelly_min_trades] = draw(st.integers(1, 3))
        base[P.risk_budget] = np.nan
        base[P.min_contracts] = 0.0
        base[P.max_contracts] = np.nan
        base[P.capital] = 1e6
    elif sizing == "vol_target":
        base[P.vol_target] = draw(st.sampled_from([0.001, 0.01, 0.1]))
        base[P.capital] = 1e5
    return chain, draw(exit_grids(base, chain.n_days, chain.features.shape[0])), spec


def _assert_same(chain: PackedChain, rows: np.ndarray, min_group_rows: int = 0) -> BatchOutputs:
    """Assert that the trade tables give the day kernel's outputs; return theirs."""
    keep = np.arange(len(rows)) % 2 == 0
    n_blocks = min(3, chain.n_days - 1)
    day = run_batch(chain, rows, keep, n_blocks)
    tables = run_batch_tables(chain, rows, keep, min_group_rows=min_group_rows,
                              n_blocks=n_blocks)
    # the block statistics of PBO, computed in both kernels, are numpy's of the kept curves
    np.testing.assert_allclose(day.block_stats[keep], block_return_stats(day.equity, n_blocks),
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(tables.block_stats, day.block_stats, rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(tables.kpis, day.kpis, rtol=RTOL, atol=1e-9, equal_nan=True)
    np.testing.assert_array_equal(tables.skips, day.skips)
    np.testing.assert_array_equal(tables.counters, day.counters)
    np.testing.assert_allclose(tables.equity, day.equity, rtol=RTOL, atol=1e-9)
    np.testing.assert_array_equal(tables.outcome, day.outcome)
    assert tables.equity.shape == day.equity.shape and tables.kpis.dtype == day.kpis.dtype
    return tables


def _exercised(chain: PackedChain, rows: np.ndarray, seen: Counter[str]) -> None:
    """Count what the day kernel's trades of these rows exercised."""
    for row in rows:
        result = run_params(chain, row)
        trades = result.trades
        seen.update(ExitReason.NAMES[r] for r in trades["exit_reason"])
        seen.update("size_" + SizingBinding.NAMES[b] for b in trades["sizing_binding"])
        if len(trades) > 1 and np.any(trades["entry_day"][1:] == trades["exit_day"][:-1]):
            seen["reentry"] += 1
        seen.update(f"skip_{name}" for name, k in zip(SkipReason.NAMES, result.skips, strict=True)
                    if k)
        seen["stale_fills"] += int(result.stale_fills > 0)
        seen["missing_quote_days"] += int(result.missing_quote_days > 0)


_COVERED = (
    "expiry", "stop_loss", "profit_target", "dte", "max_holding", "rebalance", "delta_breach",
    "end_of_data", "reentry", "skip_filter", "skip_capital", "size_fixed", "size_risk_budget",
    "size_max_contracts", "size_min_contracts", "size_kelly", "size_vol_target", "skip_sizing",
    "skip_no_strike", "skip_signal", "signal", "stale_fills", "missing_quote_days",
)


def test_tables_equal_day_kernel_and_cover_every_rule() -> None:
    seen: Counter[str] = Counter()

    @settings(max_examples=300, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(groups())
    def check(case: tuple[PackedChain, np.ndarray, StrategySpec]) -> None:
        chain, rows, _ = case
        _assert_same(chain, rows)
        _exercised(chain, rows, seen)

    check()
    missing = [name for name in _COVERED if not seen[name]]
    assert not missing, f"not exercised: {missing} (seen {dict(seen)})"


#: Exit thresholds of rows that differ in nothing else: values that bind, never bind (a
#: target of 50 premiums, a 400-day holding limit) or are off, so that rows repeat each other's
#: trades in some ways and not in others
_THRESHOLDS = {
    P.profit_target: (np.nan, 0.1, 0.5, 50.0),
    P.stop_loss: (np.nan, 0.5, 2.0, 50.0),
    P.dte_exit: (np.nan, 0.0, 5.0, 400.0),
    P.max_holding: (np.nan, 3.0, 400.0),
    P.rebalance: (np.nan, 5.0, 400.0),
    P.delta_breach: (np.nan, 0.3, 0.99),
}


@st.composite
def threshold_grids(draw: st.DrawFn) -> tuple[PackedChain, np.ndarray]:
    """Rows of one entry group and one finish class: only their exit thresholds differ."""
    chain = draw(random_chains())
    spec = draw(st.one_of(random_specs(), random_risk_specs(), random_zscore_specs()))
    base = _supported(encode_spec(spec, chain))
    base[P.period_trading] = draw(st.sampled_from([0.0, 1.0]))
    rows = np.repeat(base[None, :], draw(st.integers(2, 12)), axis=0)
    for row in rows:
        for slot, values in _THRESHOLDS.items():
            row[slot] = draw(st.sampled_from(values))
    return chain, rows


def test_rows_that_replay_another_rows_trades_equal_the_day_kernel() -> None:
    """Rows of one finish class that `replays_nb` an earlier row's trades copy its outputs
    without being walked: every output equals the day kernel's, and the examples replay."""
    replayed = 0

    @settings(max_examples=150, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(threshold_grids())
    def check(case: tuple[PackedChain, np.ndarray]) -> None:
        nonlocal replayed
        chain, rows = case
        replayed += _assert_same(chain, rows).replayed

    check()
    assert replayed >= 100, replayed


def _same_trades(chain: PackedChain, pair: np.ndarray) -> bool:
    """Whether the day kernel gives the two rows the same trades, exit reasons included: a row
    replays another only when its first rule to fire on the other's exit day is the other's
    (docs/trade_tables.md), where the outcome hash leaves the reason out."""
    def trades(row: np.ndarray) -> list[tuple[int, int, int, int, int]]:
        t = run_params(chain, row).trades
        return list(zip(t["entry_day"].tolist(), t["exit_day"].tolist(),
                        t["exit_reason"].tolist(), np.round(t["contracts"] * 1e6).tolist(),
                        np.round(t["pnl"] * 100.0).tolist(), strict=True))

    return trades(pair[0]) == trades(pair[1])


def test_a_row_replays_only_trades_it_would_make() -> None:
    """Two rows that differ in one threshold: the second replays the first exactly when the
    day kernel gives both the same trades (exit reasons included), for thresholds on each side of
    what the first row's trades reached (a delta breach the first row has not: never)."""
    seen = Counter[bool]()

    @settings(max_examples=150, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(threshold_grids(), st.sampled_from(sorted(_THRESHOLDS)), st.floats(0.01, 3.0))
    def check(case: tuple[PackedChain, np.ndarray], slot: int, value: float) -> None:
        chain, rows = case
        pair = np.repeat(rows[:1], 2, axis=0)
        pair[1, slot] = value if slot in (P.profit_target, P.stop_loss, P.delta_breach) \
            else np.ceil(value * 10)
        day = run_batch(chain, pair, np.zeros(2, dtype=bool))
        tables = run_batch_tables(chain, pair, np.zeros(2, dtype=bool), min_group_rows=0)
        same = _same_trades(chain, pair)
        # the first row's walk follows |delta| only for its own delta breach rule (and with no
        # trades there is nothing to follow)
        unfollowed = (np.isnan(pair[0, P.delta_breach]) and not np.isnan(pair[1, P.delta_breach])
                      and len(run_params(chain, pair[0]).trades) > 0)
        assert tables.replayed == (0 if unfollowed else int(same))
        np.testing.assert_array_equal(tables.outcome, day.outcome)
        seen[same] += 1

    check()
    assert seen[True] and seen[False], seen


@pytest.fixture(scope="module")
def year_chain() -> PackedChain:
    """The embedded `small` chain: a year of quotes, trades held for weeks."""
    from gridbt.data.default import ensure_synthetic_chain, load_packed

    return load_packed(ensure_synthetic_chain(profile="small")[0])


#: Thresholds that bind on days a trade is held through, on a year of quotes
_HELD_THRESHOLDS = {
    P.profit_target: (np.nan, 0.2, 0.35, 0.5, 0.8, 50.0),
    P.stop_loss: (np.nan, 0.3, 0.6, 1.0, 1.5, 3.0, 50.0),
    P.dte_exit: (np.nan, 3.0, 7.0, 14.0, 400.0),
    P.max_holding: (np.nan, 5.0, 10.0, 400.0),
    P.rebalance: (np.nan, 10.0, 400.0),
    P.delta_breach: (np.nan, 0.3, 0.45, 0.6, 0.99),
}


def test_rows_replayed_on_a_year_of_quotes_equal_the_day_kernel(year_chain: PackedChain) -> None:
    """The same on trades held for days and weeks, where a threshold between the lowest (or
    highest) P&L or |delta| of the days held through and the exit day's decides whether a row
    repeats another's trades."""
    from gridbt.strategy.presets import preset

    replayed = 0

    @settings(max_examples=200, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.sampled_from(["short_put", "short_strangle", "iron_condor"]), st.data())
    def check(structure: str, data: st.DataObject) -> None:
        nonlocal replayed
        base = encode_spec(preset(structure), year_chain)
        base[P.period_trading] = data.draw(st.sampled_from([0.0, 1.0]))
        rows = np.repeat(base[None, :], data.draw(st.integers(2, 24)), axis=0)
        for row in rows:
            for slot, values in _HELD_THRESHOLDS.items():
                row[slot] = data.draw(st.sampled_from(values))
        replayed += _assert_same(year_chain, rows).replayed

    check()
    assert replayed >= 50, replayed


@pytest.mark.parametrize("structure", ["short_put", "short_strangle"])
@pytest.mark.parametrize(("slot", "levels"), [
    (P.profit_target, np.arange(0.05, 1.5, 0.05)),
    (P.stop_loss, np.arange(0.1, 3.0, 0.1)),
    (P.delta_breach, np.arange(0.3, 0.99, 0.03)),
], ids=["profit_target", "stop_loss", "delta_breach"])
def test_a_threshold_replays_a_row_exactly_when_its_trades_are_that_rows(
    year_chain: PackedChain, structure: str, slot: int, levels: np.ndarray,
) -> None:
    """A row held to a 7-DTE exit (a delta breach of 0.99 followed) against the same row with
    one threshold more, level by level, over windows of 30 days (a trade or two each):
    replayed exactly when the day kernel gives the two the same trades. A level between a
    trade's best (or worst) day held through and its exit day's makes the trades differ though
    the exit day alone would not tell."""
    from gridbt.strategy.presets import preset

    base = encode_spec(preset(structure), year_chain)
    for s in _EXIT_SLOTS:
        base[s] = np.nan
    base[P.dte_exit] = 7.0
    base[P.delta_breach] = 0.99
    pairs = []
    for first in range(0, year_chain.n_days - 30, 20):
        for level in levels:
            pair = np.repeat(base[None, :], 2, axis=0)
            pair[:, P.window_first] = first
            pair[:, P.window_end] = first + 30
            pair[1, slot] = level
            pairs.append(pair)
    outcomes = Counter[bool]()
    for pair in pairs:
        day = run_batch(year_chain, pair, np.zeros(2, dtype=bool))
        tables = run_batch_tables(year_chain, pair, np.zeros(2, dtype=bool), min_group_rows=0)
        same = _same_trades(year_chain, pair)
        assert tables.replayed == int(same), pair[1, slot]
        np.testing.assert_array_equal(tables.outcome, day.outcome)
        outcomes[same] += 1
    assert outcomes[True] and outcomes[False], outcomes


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(random_chains(), st.data())
def test_several_groups_in_one_batch(chain: PackedChain, data: st.DataObject) -> None:
    """Rows of several entry groups, shuffled, the smaller groups on the day kernel: each
    row's outputs land at its own index, and the outputs name the rows of the small groups."""
    specs = [data.draw(random_specs()) for _ in range(3)]
    rows = np.concatenate([
        data.draw(exit_grids(_supported(encode_spec(s, chain)), chain.n_days,
                             chain.features.shape[0])) for s in specs
    ])
    rows = rows[np.random.default_rng(len(rows)).permutation(len(rows))]
    out = _assert_same(chain, rows, min_group_rows=4)
    keys = entry_group_keys(rows)
    sizes = Counter(keys.tolist())
    np.testing.assert_array_equal(out.day_rows, [sizes[k] < 4 for k in keys.tolist()])


@settings(max_examples=15, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(groups())
def test_group_split_across_batches(case: tuple[PackedChain, np.ndarray, StrategySpec]) -> None:
    """Consecutive batches of one group (the second may need entry days the first did not:
    its tables are then rebuilt) give each batch's own day-kernel outputs."""
    chain, rows, _ = case
    half = len(rows) // 2
    for part in (rows[:half], rows[half:], rows):
        _assert_same(chain, part)


@given(data=st.data())
@settings(max_examples=25, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_entry_groups_of_a_batch_share_their_common_legs(data: st.DataObject) -> None:
    """Groups that differ only in their last leg (an iron condor's wings) select their other
    legs once a day through the batch's memo, and each still equals the day kernel."""
    chain = data.draw(random_chains())
    base = _supported(encode_spec(data.draw(random_specs()), chain))
    n_legs = int(base[P.n_legs])
    last = P_LEG0 + (n_legs - 1) * LEG_SIZE
    rows = []
    for k in range(3):  # three groups: the last leg's rule changes
        group = base.copy()
        if group[last + LEG.select_by] == SelectBy.OFFSET:
            group[last + LEG.points] += 5.0 * k
        else:
            group[last + LEG.tolerance] += 0.01 * k
        for target in (np.nan, 0.3):  # two rows each
            row = group.copy()
            row[P.profit_target] = target
            rows.append(row)
    params = np.array(rows)
    assert len(np.unique(entry_group_keys(params))) == 3
    _assert_same(chain, params)
    _, _, exp_var, leg_var = selection_memo(chain.n_days, params)
    assert len(np.unique(exp_var, axis=0)) == 1
    for i in range(n_legs - 1):  # shared: one variant
        assert len(set(leg_var[:, i].tolist())) == 1
    assert len(set(leg_var[:, n_legs - 1].tolist())) == 3


def test_a_batchs_groups_get_their_leg_variants_in_one_pass(small_chain: PackedChain,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """`run_batch_tables` works out the leg variants of all its entry groups in one vectorised
    pass (`SelectionMemo.prepare`), not a round of numpy calls per group (an iron condor grid
    has 9 rows a group, and those rounds were a quarter of its time); the variants are those of
    the groups taken one by one: the same legs shared, the others apart."""
    from pathlib import Path

    from gridbt.kernel.tables import SelectionMemo, release_tables
    from gridbt.strategy.encode import STANDARD_FEATURES
    from gridbt.sweep.grid import Grid
    from gridbt.sweep.spec import load_sweep

    repo = Path(__file__).resolve().parents[3]
    sweep, base = load_sweep(repo / "jobs/sweeps/iron_condor_grid.yaml")
    rows = np.concatenate([b.params for b in Grid(sweep, base, STANDARD_FEATURES).blocks()])
    keys, firsts = np.unique(entry_group_keys(rows), return_index=True)
    assert len(keys) > 20
    at_once = SelectionMemo(small_chain.n_days)
    at_once.prepare(keys, rows[firsts])
    one_by_one = SelectionMemo(small_chain.n_days)
    got = [at_once.group_variants(int(k), rows[f]) for k, f in zip(keys, firsts, strict=True)]
    want = [one_by_one.group_variants(int(k), rows[f])
            for k, f in zip(keys, firsts, strict=True)]
    for part in (0, 1):  # expiry variants, leg variants: equal where one by one they are
        a = np.array([g[part] for g in got])
        b = np.array([w[part] for w in want])
        assert np.array_equal(a[:, None, :] == a[None, :, :], b[:, None, :] == b[None, :, :])
    assert len(set(np.array([g[1] for g in got])[:, 0].tolist())) == 4  # 4 short-put deltas

    calls = []
    variants = SelectionMemo.variants

    def counted(self: SelectionMemo, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        calls.append(len(np.atleast_2d(params)))
        return variants(self, params)

    monkeypatch.setattr(SelectionMemo, "variants", counted)
    release_tables()
    run_batch_tables(small_chain, rows[:90], None, 0)
    assert calls == [len(np.unique(entry_group_keys(rows[:90])))]


# ---------------------------------------------------------------- fallback reasons, groups
_SHORT_PUT: dict[str, object] = {
    "name": "short_put",
    "structure": {
        "dte": {"target": 20, "min": 1, "max": 90},
        "legs": [{"right": "P", "side": "short", "select": {"by": "moneyness", "target": 0.95,
                                                             "tolerance": 0.25}}],
    },
    "exit": {"profit_target": 0.5},
}
_REASON_PAYLOADS: dict[str, dict[str, object]] = {
    "margin_account": {"risk": {"margin": {"model": "regt"}}},
    "delta_hedge": {"hedge": {"enabled": True, "half_width": 5.0}},
    "financing": {"risk": {"account": {"cash_rate": 0.04}}},
}


@pytest.fixture(scope="module")
def small_chain() -> PackedChain:
    from hypothesis import find

    return find(random_chains(), lambda c: c.n_days >= 20, settings=settings(database=None))


@pytest.mark.parametrize("reason", sorted(_REASON_PAYLOADS))
def test_fallback_reason_names_what_needs_the_day_path(reason: str,
                                                       small_chain: PackedChain) -> None:
    spec = parse_strategy({**_SHORT_PUT, **_REASON_PAYLOADS[reason]})
    row = encode_spec(spec, small_chain)
    plain = encode_spec(parse_strategy(_SHORT_PUT), small_chain)
    codes = fallback_reasons(np.vstack([row, plain]))
    assert codes.dtype == np.int8
    assert FALLBACK_REASONS[codes[0]] == reason
    assert codes[1] == 0 and FALLBACK_REASONS[0] == ""
    with pytest.raises(ValueError, match=reason):
        run_batch_tables(small_chain, row[None, :])


def test_entry_group_keys_split_on_entry_slots_only(small_chain: PackedChain) -> None:
    base = encode_spec(parse_strategy(_SHORT_PUT), small_chain)
    rows = np.repeat(base[None, :], 5, axis=0)
    rows[1, P.profit_target] = np.nan
    rows[2, P.stop_loss] = 2.0
    rows[2, P.commission] = 1.0
    rows[3, P.dte_target] = 30.0  # another expiry window: another group
    rows[4, P.risk_budget] = 0.05  # sizing now needs the worst stress loss: another group
    keys = entry_group_keys(rows)
    assert keys.dtype == np.int64
    assert keys[0] == keys[1] == keys[2]
    assert len({keys[0], keys[3], keys[4]}) == 3
    # a row's key does not depend on the batch it comes in
    np.testing.assert_array_equal([entry_group_keys(row)[0] for row in rows], keys)
    assert entry_group_keys(rows[:0]).shape == (0,)


def test_build_tables_paths_end_at_expiry_or_window(small_chain: PackedChain) -> None:
    base = encode_spec(parse_strategy(_SHORT_PUT), small_chain)
    tables = build_tables(small_chain, base)
    entries = np.flatnonzero(tables.skip == -1)
    assert len(entries) and tables.nbytes > 0
    last = small_chain.n_days - 1
    for d in entries:
        end = d + tables.length[d]
        assert d < end <= last
        settles = small_chain.day_date[end] >= tables.min_expiry[d]
        assert settles or end == last
        assert not np.any(small_chain.day_date[d + 1:end] >= tables.min_expiry[d])
    path = trade_path(small_chain, tables, int(entries[0]))
    assert path.bid.shape == (tables.length[entries[0]], 1) == path.ask.shape
    assert path.value.shape == path.short_delta.shape == path.flags.shape == (path.bid.shape[0],)


def test_tables_are_built_on_the_days_rows_reach(small_chain: PackedChain) -> None:
    """Evaluation builds a candidate day the first time a row tries an entry on it: those days
    equal the eagerly built tables' (entry and path), the others stay unbuilt."""
    from gridbt.kernel.dispatch import chain_arrays, new_batch, read_only
    from gridbt.kernel.table_layout import NOT_BUILT
    from gridbt.kernel.tables import contract_major, entry_days, selection_memo
    from gridbt.kernel.tables_eval_nb import eval_group_nb

    rows = np.repeat(encode_spec(parse_strategy(_SHORT_PUT), small_chain)[None, :], 2, axis=0)
    rows[:, P.profit_target] = np.nan  # held to expiry: the days in between are not reached
    rows[1, P.stop_loss] = 0.5
    days = entry_days(small_chain, rows)
    eager = build_tables(small_chain, rows[0], days)
    lazy = build_tables(small_chain, rows[0], days, lazy=True)
    assert np.all((lazy.skip == NOT_BUILT) == (eager.skip >= -1))
    params, _, slot, out = new_batch(small_chain, rows, None, 2)
    exp_memo, leg_memo, exp_var, leg_var = selection_memo(small_chain.n_days, rows)
    eval_group_nb(chain_arrays(small_chain), lazy, contract_major(small_chain),
                  (exp_memo, leg_memo, exp_var[0], leg_var[0]), read_only(params),
                  np.arange(2), np.zeros(2, dtype=np.int64), slot, out.kpis, out.skips,
                  out.counters, out.block_stats, out.equity, out.outcome)
    built = np.flatnonzero(lazy.skip >= -1)
    assert 0 < len(built) < np.count_nonzero(eager.skip >= -1)  # some candidates never reached
    np.testing.assert_array_equal(lazy.skip[built], eager.skip[built])
    for d in built[lazy.skip[built] == -1]:
        for name in ("value_entry", "min_expiry", "length", "units", "strike", "entry_bid",
                     "contract"):
            np.testing.assert_array_equal(getattr(lazy, name)[d], getattr(eager, name)[d])


def test_kept_tables_follow_the_chain(small_chain: PackedChain) -> None:
    """The tables kept for a next batch are not reused on a chain with other features (a
    filter and a z-score signal read them)."""
    spec = parse_strategy({**_SHORT_PUT, "entry": {"signal": {
        "kind": "zscore", "feature": "noise", "window": 3, "entry": 0.3}}})
    rows = np.repeat(encode_spec(spec, small_chain)[None, :], 3, axis=0)
    rows[1:, P.profit_target] = (0.2, np.nan)
    other = dataclasses.replace(small_chain, features=-small_chain.features)
    for chain in (small_chain, other):
        _assert_same(chain, rows)


@settings(max_examples=200, deadline=None)
@given(gaps=st.lists(st.integers(1, 5), min_size=1, max_size=60),
       dates=st.lists(st.floats(-10.0, 400.0), min_size=1, max_size=20))
def test_the_day_on_or_after_a_date_is_the_search_it_replaces(gaps: list[int],
                                                              dates: list[float]) -> None:
    """`tables_nb.day_on_or_after_nb` (a per-date index) returns what `np.searchsorted` over
    the trading dates returns, for dates before, between, on and after them, whole or not."""
    from gridbt.kernel.tables_nb import day_on_or_after_nb

    day_date = (18_000 + np.cumsum(gaps)).astype(np.int32)
    calendar = np.arange(day_date[0], day_date[-1] + 1)
    cm = namedtuple("Index", ["day_on_or_after"])(  # the one field it reads
        np.searchsorted(day_date, calendar).astype(np.int64))
    for x in [*(day_date[0] + d for d in dates), *day_date.astype(float)]:
        assert day_on_or_after_nb(cm, day_date, x) == np.searchsorted(day_date, x)
        assert day_on_or_after_nb(cm, day_date, int(np.floor(x))) == np.searchsorted(
            day_date, int(np.floor(x)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_entry_group_keys_group_rows_as_their_key_bytes_do(data: st.DataObject) -> None:
    """Rows share a key exactly when their entry slots (and sizing flags) are equal, NaN equal
    to NaN and -0.0 to 0.0, whichever slots vary in the batch; each key is the hash of the
    row's own key bytes, the same in any batch."""
    import hashlib

    from gridbt.kernel.tables import EVALUATION_SLOTS

    entry = [c for c in range(N_PARAMS) if c not in EVALUATION_SLOTS]
    base = np.full(N_PARAMS, np.nan)
    base[: N_PARAMS // 2] = 1.0
    n = data.draw(st.integers(1, 12))
    rows = np.repeat(base[None, :], n, axis=0)
    values = st.sampled_from([np.nan, 0.0, -0.0, 1.0, 2.5, float.fromhex("0x1.8p1")])
    for _ in range(data.draw(st.integers(0, 10))):
        r = data.draw(st.integers(0, n - 1))
        c = data.draw(st.sampled_from([*entry, P.profit_target, P.risk_budget,
                                       P.kelly_fraction, P.vol_target, P.capital]))
        rows[r, c] = data.draw(values)
    keys = entry_group_keys(rows)

    def key_bytes(row: np.ndarray) -> bytes:
        flags = [not np.isnan(row[P.risk_budget]) or not np.isnan(row[P.kelly_fraction]),
                 not np.isnan(row[P.vol_target])]
        key = np.concatenate([row[entry], np.array(flags, dtype=np.float64)]) + 0.0
        key[np.isnan(key)] = np.nan
        return key.tobytes()

    for i in range(n):
        want = int.from_bytes(hashlib.blake2b(key_bytes(rows[i]), digest_size=8).digest(),
                              "little", signed=True)
        assert keys[i] == want
        assert entry_group_keys(rows[i])[0] == want


def test_rows_with_identical_outcomes_share_their_finish_and_others_do_not(
        small_chain: PackedChain) -> None:
    """Rows of a group whose exit thresholds never fire trade alike and copy one finish (KPIs,
    block statistics, outcome hash); rows with the same trades but another capital, and rows
    with other costs, get their own, and every row still equals the day kernel's."""
    from gridbt.kernel.tables import finish_classes

    base = encode_spec(parse_strategy(_SHORT_PUT), small_chain)
    rows = np.repeat(base[None, :], 6, axis=0)
    rows[:, P.stop_loss] = np.nan
    rows[:, P.profit_target] = np.nan
    rows[1, P.profit_target] = 50.0  # a short put never gains 50 premiums: as row 0
    rows[2, P.stop_loss] = 1e9  # nor loses 1e9: as row 0
    rows[3, P.profit_target] = 50.0
    rows[3, P.capital] = 2 * base[P.capital]  # the same trades, another curve
    rows[4, P.commission] = base[P.commission] + 0.5  # the same days, other P&L
    rows[5, P.slippage] = 1.0
    classes = finish_classes(rows)
    assert classes[0] == classes[1] == classes[2] and len(set(classes[2:])) == 4
    _assert_same(small_chain, rows)
    out = run_batch_tables(small_chain, rows, n_blocks=2)
    assert out.outcome[0] == out.outcome[1] == out.outcome[2]
    assert out.outcome[3] == out.outcome[0]  # the same trades, though not the same KPIs
    assert not np.array_equal(out.kpis[3], out.kpis[0], equal_nan=True)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_finish_classes_group_rows_equal_outside_the_exit_thresholds(
        data: st.DataObject) -> None:
    from gridbt.kernel.tables import EXIT_THRESHOLD_SLOTS, finish_classes

    assert set(EXIT_THRESHOLD_SLOTS) == set(_EXIT_SLOTS)
    others = [c for c in range(N_PARAMS) if c not in EXIT_THRESHOLD_SLOTS]
    base = np.full(N_PARAMS, np.nan)
    base[: N_PARAMS // 2] = 1.0
    n = data.draw(st.integers(1, 10))
    rows = np.repeat(base[None, :], n, axis=0)
    values = st.sampled_from([np.nan, 0.0, -0.0, 1.0, 2.5])
    for _ in range(data.draw(st.integers(0, 10))):
        r = data.draw(st.integers(0, n - 1))
        c = data.draw(st.sampled_from([*EXIT_THRESHOLD_SLOTS, P.capital, P.slippage,
                                       P.window_first, *others[:5]]))
        rows[r, c] = data.draw(values)
    classes = finish_classes(rows)
    assert classes.dtype == np.int64 and classes.shape == (n,)

    def rest(row: np.ndarray) -> bytes:
        part = row[others] + 0.0
        part[np.isnan(part)] = np.nan
        return part.tobytes()

    for i in range(n):
        for j in range(n):
            assert (classes[i] == classes[j]) == (rest(rows[i]) == rest(rows[j]))


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_finish_key_tells_apart_what_the_finish_reads(data: st.DataObject) -> None:
    """Equal trades, curve and days in the market give equal keys; a change of one ulp in a
    trade's contracts or P&L or a curve's value, another entry or exit day, exit reason,
    market day or trade count gives another key."""
    from gridbt.kernel.contract import N_TRADE_COLS, T
    from gridbt.kernel.outcome_nb import FINISH_KEY_WORDS, finish_key_nb

    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    n_days = data.draw(st.integers(2, 60))
    n = data.draw(st.integers(1, min(8, n_days)))
    trades = np.zeros((n_days, N_TRADE_COLS))
    trades[:n, T.entry_day] = rng.integers(0, n_days, n)
    trades[:n, T.exit_day] = trades[:n, T.entry_day] + rng.integers(0, 5, n)
    trades[:n, T.exit_reason] = rng.integers(0, 9, n)
    trades[:n, T.contracts] = rng.integers(1, 5, n)
    trades[:n, T.pnl] = rng.normal(0, 100, n)
    equity = 1e5 + rng.normal(0, 50, n_days)
    in_market = rng.random(n_days) < 0.5

    def key(tr: np.ndarray, eq: np.ndarray, im: np.ndarray, count: int = n) -> np.ndarray:
        out = np.empty(FINISH_KEY_WORDS, dtype=np.int64)
        finish_key_nb(tr, count, eq, im, out)
        return out

    same = key(trades.copy(), equity.copy(), in_market.copy())
    np.testing.assert_array_equal(same, key(trades, equity, in_market))
    t = data.draw(st.integers(0, n - 1))
    col = data.draw(st.sampled_from(["entry_day", "exit_day", "exit_reason", "contracts", "pnl",
                                     "equity", "in_market", "count"]))
    tr, eq, im, count = trades.copy(), equity.copy(), in_market.copy(), n
    if col in ("contracts", "pnl"):
        c = getattr(T, col)
        tr[t, c] = np.nextafter(tr[t, c], np.inf)
    elif col in ("entry_day", "exit_day", "exit_reason"):
        tr[t, getattr(T, col)] += 1
    elif col == "equity":
        d = data.draw(st.integers(0, n_days - 1))
        eq[d] = np.nextafter(eq[d], -np.inf)
    elif col == "in_market":
        d = data.draw(st.integers(0, n_days - 1))
        im[d] = not im[d]
    else:
        count = n - 1
    assert not np.array_equal(key(tr, eq, im, count), same)
