"""The trade-table engine's seam: which rows it can run, their entry groups, and the batch call
(docs/trade_tables.md).

A sweep's rows that share their entry slots (structure, selection, expiry windows, window,
direction, sizing inputs) form one *entry group*: its trade tables (`table_layout.TradeTables`)
are built once and every row of the group is a short walk over them (`tables_eval_nb`).
`run_batch_tables` returns exactly what `dispatch.run_batch` returns for the same rows (KPIs,
skips and counters to 1e-9, equal outcome hashes); rows whose `fallback_reasons` is not 0 need
the day kernel and are refused.

The tables' paths read contract-major, day-aligned copies of the chain's bid, ask and delta (24
bytes per quote, made once per process and chain, `contract_major`), so a held leg's days are
adjacent in memory rather than a chain-day apart, and found without a search.
"""

from __future__ import annotations

import hashlib
import threading
from typing import NamedTuple

import numpy as np

from gridbt._bits import equal_bits
from gridbt._typing import FloatArray
from gridbt.data.pack import PackedChain
from gridbt.kernel.contract import (
    FILTER_SIZE,
    LEG,
    LEG_SIZE,
    N_PARAMS,
    P_FILTER0,
    P_LEG0,
    Chain,
    F,
    P,
)
from gridbt.kernel.dispatch import BatchOutputs, chain_arrays, read_only
from gridbt.kernel.enums import MAX_FILTERS, MAX_LEGS, MarginModel, SelectBy
from gridbt.kernel.table_layout import TradeTables

__all__ = [
    "EVALUATION_SLOTS",
    "FALLBACK_REASONS",
    "MIN_GROUP_ROWS",
    "TradePath",
    "TradeTables",
    "build_tables",
    "ContractMajor",
    "build_contract_major",
    "check_contract_major",
    "CONTRACT_MAJOR_VERSION",
    "contract_major",
    "entry_days",
    "entry_group_keys",
    "EXIT_THRESHOLD_SLOTS",
    "fallback_reasons",
    "finish_classes",
    "kept_tables",
    "load_contract_major",
    "release_tables",
    "run_batch_tables",
    "SelectionMemo",
    "selection_memo",
    "share_contract_major",
    "small_group_rows",
    "trade_path",
]

#: Why a row cannot run on trade tables; index 0 (empty) = it can.
FALLBACK_REASONS: tuple[str, ...] = (
    "",
    "margin_account",  # a margin model: IMc capital check, daily margin, calls, liquidation
    "delta_hedge",  # hedge trades depend on each day's greeks and the hedge book
    "financing",  # interest on equity above margin accrues every day
)
_MARGIN, _HEDGE, _FINANCING = 1, 2, 3

#: Parameter slots only the evaluation of a row reads: rows that differ only here share
#: their entry group. Every other slot decides which legs a day selects or what sizing needs.
EVALUATION_SLOTS: tuple[int, ...] = (
    P.capital, P.weekday_mask, P.every_n_days, P.n_filters,
    P.profit_target, P.stop_loss, P.dte_exit, P.max_holding, P.rebalance, P.delta_breach,
    P.period_trading, P.reentry_mask, P.slippage, P.commission, P.contracts,
    P.risk_budget, P.margin_budget, P.kelly_fraction, P.kelly_min_trades, P.vol_target,
    P.min_contracts, P.max_contracts, P.slippage_per_contract,
    *range(P_FILTER0, P_FILTER0 + MAX_FILTERS * FILTER_SIZE),
)


#: The exit thresholds: they decide only where a trade ends. Two rows of an entry group equal
#: in every other slot and with the same trades and curve have the same KPIs
#: (`finish_classes`).
EXIT_THRESHOLD_SLOTS: tuple[int, ...] = (
    P.profit_target, P.stop_loss, P.dte_exit, P.max_holding, P.rebalance, P.delta_breach,
)
_CLASS_SLOTS = np.ones(N_PARAMS, dtype=bool)
_CLASS_SLOTS[list(EXIT_THRESHOLD_SLOTS)] = False


def finish_classes(rows: FloatArray) -> np.ndarray:
    """(n,) int64: the same number for rows of `rows` that agree on every slot but
    `EXIT_THRESHOLD_SLOTS` (NaN equal to NaN, -0.0 to 0.0). Such rows whose trades and curve
    come out equal share their KPIs (`tables_eval_nb.eval_group_nb`)."""
    rows = np.atleast_2d(np.asarray(rows, dtype=np.float64))
    if len(rows) == 0:
        return np.zeros(0, dtype=np.int64)
    varies = _varying_slots(rows, _CLASS_SLOTS)
    if not varies.any():  # a grid's usual case: only exit thresholds vary within a group
        return np.zeros(len(rows), dtype=np.int64)
    return _distinct(rows[:, varies])[1].astype(np.int64)


def fallback_reasons(params: FloatArray) -> np.ndarray:
    """Per encoded row, the index into `FALLBACK_REASONS` of the first reason it needs the
    day kernel (0: it can run on trade tables)."""
    rows = np.atleast_2d(np.asarray(params, dtype=np.float64))
    out = np.zeros(rows.shape[0], dtype=np.int8)
    checks = (
        (_FINANCING, (rows[:, P.cash_rate] != 0.0) | (rows[:, P.borrow_rate] != 0.0)),
        (_HEDGE, rows[:, P.hedge_on] > 0.5),
        (_MARGIN, rows[:, P.margin_model] != MarginModel.NONE),
    )
    for code, hit in checks:  # the last assignment wins: the list is in reverse order
        out[hit] = code
    return out


#: The parameter slots an entry group's key reads (all but `EVALUATION_SLOTS`).
_KEY_SLOTS = np.ones(N_PARAMS, dtype=bool)
_KEY_SLOTS[list(EVALUATION_SLOTS)] = False


def _sizing_flags(rows: FloatArray) -> np.ndarray:
    """(n, 2) bool: whether each row's sizing needs the worst stress loss, and σ̄ (part of the
    key: the tables precompute them only then)."""
    need_worst = ~np.isnan(rows[:, P.risk_budget]) | ~np.isnan(rows[:, P.kelly_fraction])
    return np.column_stack([need_worst, ~np.isnan(rows[:, P.vol_target])])


def _key_matrix(rows: FloatArray) -> FloatArray:
    """Each row's key: its slots outside `EVALUATION_SLOTS` and its `_sizing_flags`
    (normalised: equal keys have equal bytes)."""
    return equal_bits(np.column_stack([rows[:, _KEY_SLOTS], _sizing_flags(rows)]))


def _varying_slots(rows: FloatArray, slots: np.ndarray) -> np.ndarray:
    """The slots among `slots` (bool mask) on which some row differs from the first (NaN
    equal to NaN, -0.0 to 0.0): rows agree on all the others. One comparison pass; a slot NaN
    in the first row is checked on its own column."""
    top = rows[0]
    same = (rows == top).all(axis=0)
    nan_top = ~same & np.isnan(top) & slots
    if nan_top.any():
        same[nan_top] = np.isnan(rows[:, nan_top]).all(axis=0)
    varies: np.ndarray = ~same & slots
    return varies


def entry_group_keys(params: FloatArray) -> np.ndarray:
    """Per encoded row, a 64-bit key of its entry group: rows with equal keys share trade
    tables (a hash of every slot outside `EVALUATION_SLOTS`, and whether sizing needs the
    worst stress loss and σ̄; the same row gets the same key in any batch and process)."""
    rows = np.atleast_2d(np.asarray(params, dtype=np.float64))
    if len(rows) == 0:
        return np.zeros(0, dtype=np.int64)
    # rows agree on the slots that do not vary in the batch: group on the others (and the
    # sizing flags), then hash one full key row per group
    part = equal_bits(np.column_stack([rows[:, _varying_slots(rows, _KEY_SLOTS)],
                                       _sizing_flags(rows)]))
    _, first, inverse = np.unique(part.view(np.dtype((np.void, part.shape[1] * 8))).ravel(),
                                  return_index=True, return_inverse=True)
    key = _key_matrix(rows[first])
    hashes = np.array(
        [int.from_bytes(hashlib.blake2b(k.tobytes(), digest_size=8).digest(), "little",
                        signed=True) for k in key],
        dtype=np.int64,
    )
    return hashes[inverse.ravel()]


def _same_arrays(kept: tuple[np.ndarray, ...], current: tuple[np.ndarray, ...]) -> bool:
    """Whether a process-level cache's chain arrays are the very arrays asked about now (the
    caches below are per chain: another chain, or one copied with other features, starts
    them over)."""
    return len(kept) == len(current) and all(a is b for a, b in zip(kept, current, strict=True))


_CM_LOCK = threading.Lock()
_CM: list[tuple[np.ndarray, ContractMajor]] = []


class ContractMajor(NamedTuple):
    """The chain's bid, ask and delta laid out contract by contract and day by day: contract
    `c`'s quote of day `t` (`first_day[c] <= t < first_day[c] + (start[c + 1] - start[c])`)
    is row `start[c] + t - first_day[c]`, a day it was not quoted (a gap) NaN. A held leg's
    days are then adjacent in memory and found without a search, a day's bid and ask in one
    cache line. With them, per quote group of the chain, the order of its |delta| in the strike
    (`select_nb.delta_order_nb`): selection by delta then scans only the strikes that can be in
    range; and per calendar date the first trading day on or after it."""

    quote: np.ndarray  # (n_dense, 2) float64: bid, ask
    delta: np.ndarray  # (n_dense,) float64
    start: np.ndarray  # (n_contracts + 1,) int64
    first_day: np.ndarray  # (n_contracts,) int64: the day index of the contract's first quote
    delta_order: np.ndarray  # (n_groups,) int8: +1, -1 or 0 (unknown)
    #: per calendar date from the chain's first (`day_date[0] + k`), the first day index on or
    #: after it (`tables_nb.day_on_or_after_nb`): a date's trading day without a search
    day_on_or_after: np.ndarray  # (last date - first date + 1,) int64


def build_contract_major(packed: PackedChain) -> ContractMajor:
    """The chain's `ContractMajor` arrays, made now (24 bytes per quote and per day a contract
    went unquoted between two quotes; ~0.4 s and 125 MB for the default chain). Read-only."""
    from gridbt.kernel.select_nb import delta_order_nb

    row_start = packed.contract_row_start.astype(np.int64)
    row_day = packed.contract_row_day.astype(np.int64)
    quoted = np.diff(row_start) > 0
    first = np.where(quoted, row_day[np.minimum(row_start[:-1], len(row_day) - 1)], 0)
    last = np.where(quoted, row_day[np.maximum(row_start[1:] - 1, 0)], -1)
    start = np.zeros(len(row_start), dtype=np.int64)
    np.cumsum(last - first + 1, out=start[1:])
    owner = np.repeat(np.arange(len(first)), np.diff(row_start))
    at = start[owner] + row_day - first[owner]  # each contract-major row's dense position
    rows = packed.contract_rows
    quote = np.full((int(start[-1]), 2), np.nan)
    quote[at, 0] = packed.quote_bid[rows]
    quote[at, 1] = packed.quote_ask[rows]
    delta = np.full(int(start[-1]), np.nan)
    delta[at] = packed.quote_delta[rows]
    delta_order = np.empty(len(packed.group_quote_start) - 1, dtype=np.int8)
    delta_order_nb(packed.group_quote_start, packed.quote_delta, delta_order)
    dates = packed.day_date.astype(np.int64)
    calendar = np.arange(dates[0], dates[-1] + 1) if len(dates) else np.zeros(0, np.int64)
    day_on_or_after = np.searchsorted(dates, calendar).astype(np.int64)
    return ContractMajor(read_only(quote), read_only(delta), read_only(start),
                         read_only(first.astype(np.int64)), read_only(delta_order),
                         read_only(day_on_or_after))


#: The layout of `build_contract_major`'s arrays: bump it when they change, and a copy kept
#: with the packed-chain cache by an earlier gridbt is never read (`load_contract_major`).
CONTRACT_MAJOR_VERSION = 1


def load_contract_major(packed: PackedChain) -> tuple[ContractMajor, bool]:
    """The chain's `ContractMajor` arrays, read-only, and whether they were kept: mapped from
    the packed-chain cache when `packed` was loaded from it and a process stored them there
    before (`packcache.read_derived`), else made (`build_contract_major`) and stored there for
    the next process: a trade-table sweep's start (a cache that cannot be written is left as
    it is)."""
    from gridbt.data.packcache import read_derived, write_derived

    def fits(arrays: dict[str, np.ndarray]) -> None:
        if sorted(arrays) != sorted(ContractMajor._fields):
            raise ValueError(f"contract-major arrays {sorted(arrays)}")
        check_contract_major(packed, ContractMajor(**arrays))

    arrays = read_derived(packed, "contract_major", CONTRACT_MAJOR_VERSION, fits)
    if arrays is not None:
        return ContractMajor(**arrays), True
    cm = build_contract_major(packed)
    try:
        write_derived(packed, "contract_major", CONTRACT_MAJOR_VERSION, cm._asdict())
    except OSError:
        pass  # a read-only or full disk: made again next time
    return cm, False


def contract_major(packed: PackedChain) -> ContractMajor:
    """The chain's `ContractMajor` arrays, read-only: the ones `share_contract_major` gave this
    process for the chain, else loaded once per process (`load_contract_major`) for the last
    chain asked for."""
    with _CM_LOCK:
        if _CM and _CM[0][0] is packed.quote_bid:
            return _CM[0][1]
        cm = load_contract_major(packed)[0]
        _CM[:] = [(packed.quote_bid, cm)]
        return cm


def check_contract_major(packed: PackedChain, cm: ContractMajor) -> None:
    """Raise ValueError unless `cm`'s arrays have the sizes `packed`'s contracts, quote groups
    and calendar dates give them."""
    n_contracts = len(packed.contract_row_start) - 1
    n_groups = len(packed.group_quote_start) - 1
    n_dates = int(packed.day_date[-1]) - int(packed.day_date[0]) + 1 if packed.n_days else 0
    if (len(cm.start) != n_contracts + 1 or len(cm.first_day) != n_contracts
            or len(cm.delta_order) != n_groups or cm.quote.shape != (int(cm.start[-1]), 2)
            or len(cm.day_on_or_after) != n_dates):
        raise ValueError(f"contract-major arrays of another chain ({n_contracts:,} "
                         f"contracts, {n_groups:,} quote groups and {n_dates:,} calendar dates "
                         f"here, {len(cm.start) - 1:,}, {len(cm.delta_order):,} and "
                         f"{len(cm.day_on_or_after):,} given)")


def share_contract_major(packed: PackedChain, cm: ContractMajor) -> None:
    """Use `cm`, made for `packed` by `build_contract_major` elsewhere (a sweep's driver puts
    one copy in Ray's object store, which every actor of a node maps instead of making its
    own), as this process's `contract_major` of `packed`."""
    check_contract_major(packed, cm)
    with _CM_LOCK:
        _CM[:] = [(packed.quote_bid, cm)]


#: `entry_days` of the last chain, by schedule (the groups of a sweep mostly share one).
_ENTRY_DAYS: dict[bytes, np.ndarray] = {}
_ENTRY_DAYS_CHAIN: list[tuple[np.ndarray, ...]] = []
_ENTRY_DAYS_LOCK = threading.Lock()


def entry_days(packed: PackedChain, params: FloatArray) -> np.ndarray:
    """(n_days,) bool: the days on which some of the rows `params` (one entry group) may try
    an entry: its schedule (weekdays, every n-th day of the window) and feature filters pass.
    Selection on other days is never read. Read-only, and cached per schedule for the last
    chain asked about."""
    from gridbt.kernel.rules_nb import window_nb

    rows = np.atleast_2d(np.asarray(params, dtype=np.float64))
    cols = [P.weekday_mask, P.every_n_days, P.n_filters,
            *range(P_FILTER0, P_FILTER0 + MAX_FILTERS * FILTER_SIZE)]
    schedules = np.nan_to_num(rows[:, cols], nan=-1.0)
    schedules = (schedules[:1] if (schedules == schedules[0]).all()  # one, mostly: no sort
                 else np.unique(schedules, axis=0))
    key = schedules.tobytes() + rows[0, [P.window_first, P.window_end]].tobytes()
    with _ENTRY_DAYS_LOCK:
        source = (packed.features, packed.day_weekday)
        if not _ENTRY_DAYS_CHAIN or not _same_arrays(_ENTRY_DAYS_CHAIN[0], source):
            _ENTRY_DAYS.clear()
            _ENTRY_DAYS_CHAIN[:] = [source]
        elif key in _ENTRY_DAYS:
            return _ENTRY_DAYS[key]
    n_days = packed.n_days
    day = np.arange(n_days)
    weekday = packed.day_weekday.astype(np.int64)
    out = np.zeros(n_days, dtype=bool)
    for sched in schedules:
        row = rows[0].copy()
        row[cols] = sched
        first, _ = window_nb(row, n_days)
        ok = ((int(row[P.weekday_mask]) >> weekday) & 1 == 1)
        ok &= (day - first) % max(int(row[P.every_n_days]), 1) == 0
        for f in range(int(row[P.n_filters])):
            base = P_FILTER0 + f * FILTER_SIZE
            value = packed.features[int(row[base + F.feature])]
            with np.errstate(invalid="ignore"):
                ok &= (value >= row[base + F.min]) & (value <= row[base + F.max])
        out |= ok
    out = read_only(out)
    with _ENTRY_DAYS_LOCK:
        if len(_ENTRY_DAYS) >= 256:  # a sweep of many schedules: start over
            _ENTRY_DAYS.clear()
        _ENTRY_DAYS[key] = out
    return out


def _distinct(keys: FloatArray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of `keys` (NaN and -0.0 normalised), as bytes, and each row's index
    among them."""
    keys = equal_bits(keys)
    unique, inverse = np.unique(keys.view(np.dtype((np.void, keys.shape[1] * 8))).ravel(),
                                return_inverse=True)
    return unique, inverse.ravel()


class SelectionMemo:
    """Leg selections by day and *variant* (`tables_nb.select_shared_nb`): the expiry of each
    distinct expiry window (with the rights it must quote), the quote of each distinct leg
    rule. Entry groups that share a leg (an iron condor's short put, whatever its wings)
    select it once a day. Variants are numbered as they are first seen; the memo's columns grow
    with them."""

    def __init__(self, n_days: int):
        self.n_days = n_days
        self._ids: dict[str, dict[bytes, int]] = {"exp": {}, "leg": {}}
        self._groups: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.exp = self._empty(2)
        self.leg = self._empty(MAX_LEGS)

    def _empty(self, columns: int) -> np.ndarray:
        from gridbt.kernel.tables_nb import UNKNOWN

        return np.full((self.n_days, columns), UNKNOWN, dtype=np.int64)

    @property
    def nbytes(self) -> int:
        return int(self.exp.nbytes + self.leg.nbytes)

    def _assign(self, keys: FloatArray, kind: str) -> np.ndarray:
        unique, inverse = _distinct(keys)
        ids = self._ids[kind]
        numbers = np.array([ids.setdefault(k.tobytes(), len(ids)) for k in unique],
                           dtype=np.int64)
        memo = self.exp if kind == "exp" else self.leg
        if len(ids) > memo.shape[1]:  # room for the new variants (done entries kept)
            grown = self._empty(max(2 * memo.shape[1], len(ids)))
            grown[:, :memo.shape[1]] = memo
            if kind == "exp":
                self.exp = grown
            else:
                self.leg = grown
        out: np.ndarray = numbers[inverse]
        return out

    def variants(self, params: FloatArray) -> tuple[np.ndarray, np.ndarray]:
        """Per row of `params`, the variant of each of its expiry groups (n, 2) and legs
        (n, MAX_LEGS; legs past the row's are 0)."""
        rows = np.atleast_2d(np.asarray(params, dtype=np.float64))
        n = rows.shape[0]
        exp_var = np.zeros((n, 2), dtype=np.int64)
        leg_var = np.zeros((n, MAX_LEGS), dtype=np.int64)
        if n == 0:
            return exp_var, leg_var
        n_legs = rows[:, P.n_legs].astype(np.int64)
        leg = np.stack([rows[:, P_LEG0 + i * LEG_SIZE:P_LEG0 + (i + 1) * LEG_SIZE]
                        for i in range(MAX_LEGS)], axis=1)  # (n, MAX_LEGS, LEG_SIZE)
        used = np.arange(MAX_LEGS)[None, :] < n_legs[:, None]
        is_call = leg[:, :, LEG.right] > 0
        far = leg[:, :, LEG.group].astype(np.int64) == 1
        windows = ((P.dte_target, P.dte_min, P.dte_max), (P.far_target, P.far_min, P.far_max))
        for grp, cols in enumerate(windows):  # the window and the rights it must quote
            in_grp = used & (far == (grp == 1))
            exp_var[:, grp] = self._assign(np.column_stack([
                np.full(n, grp), (in_grp & is_call).any(axis=1), (in_grp & ~is_call).any(axis=1),
                rows[:, cols]]), "exp")
        offset = leg[:, :, LEG.select_by] == SelectBy.OFFSET
        every = np.arange(n)
        for i in range(MAX_LEGS):  # in order: an offset leg's key holds its earlier leg's
            of = np.clip(leg[:, i, LEG.of], 0, MAX_LEGS - 1).astype(np.int64)
            key = np.column_stack([
                exp_var[every, far[:, i].astype(np.int64)], leg[:, i, LEG.right],
                leg[:, i, LEG.select_by], leg[:, i, LEG.target], leg[:, i, LEG.tolerance],
                leg[:, i, LEG.min_oi], leg[:, i, LEG.min_volume], leg[:, i, LEG.max_spread],
                np.where(offset[:, i], leg[:, i, LEG.points], np.nan),
                np.where(offset[:, i], leg_var[every, of], -1)])
            if used[:, i].any():
                leg_var[used[:, i], i] = self._assign(key[used[:, i]], "leg")
        return exp_var, leg_var

    def prepare(self, keys: np.ndarray, rows: FloatArray) -> None:
        """Work out the `variants` of the entry groups `keys` (`entry_group_keys`; `rows`, one
        row of each) not seen yet, in one vectorised pass: a batch of many small groups (an
        iron condor's) would otherwise pay numpy's per-call cost group by group."""
        new = [i for i, key in enumerate(keys.tolist()) if key not in self._groups]
        if new:
            exp_var, leg_var = self.variants(np.atleast_2d(rows)[new])
            for j, i in enumerate(new):
                self._groups[int(keys[i])] = (exp_var[j], leg_var[j])

    def group_variants(self, key: int, row: FloatArray) -> tuple[np.ndarray, np.ndarray]:
        """`variants` of a row of entry group `key` (`entry_group_keys`), worked out once per
        group: every row of a group has the same."""
        if key not in self._groups:
            exp_var, leg_var = self.variants(row)
            self._groups[key] = (exp_var[0], leg_var[0])
        return self._groups[key]

    def for_row(self, exp_var: np.ndarray, leg_var: np.ndarray) -> tuple[np.ndarray, ...]:
        """The `memo` argument of the kernels for a row of these variants."""
        return (self.exp, self.leg, exp_var, leg_var)


def selection_memo(n_days: int, params: FloatArray) -> tuple[np.ndarray, np.ndarray,
                                                              np.ndarray, np.ndarray]:
    """A fresh selection memo for rows `params` (`SelectionMemo`): the expiry and leg memos
    (nothing computed yet) and, per row, its variants (n, 2) and (n, MAX_LEGS)."""
    memo = SelectionMemo(n_days)
    exp_var, leg_var = memo.variants(params)
    return memo.exp, memo.leg, exp_var, leg_var


#: The process's selection memo (one chain; reset past `_MEMO_BYTES`): kept across batches, so
#: a sweep's later batches find the legs its earlier ones selected.
_MEMO: list[tuple[tuple[np.ndarray, ...], SelectionMemo]] = []
_MEMO_BYTES = 64 << 20


def _process_memo(packed: PackedChain) -> SelectionMemo:
    """The memo of `packed` (the same arrays selection reads); call with `_TABLES_LOCK`
    held."""
    source = tuple(getattr(packed, name) for name in (
        "quote_bid", "quote_ask", "quote_strike", "quote_delta", "quote_open_interest",
        "quote_volume", "day_spot", "day_group_start"))
    if (not _MEMO or _MEMO[0][1].nbytes > _MEMO_BYTES
            or not _same_arrays(_MEMO[0][0], source)):
        _MEMO[:] = [(source, SelectionMemo(packed.n_days))]
    return _MEMO[0][1]


def build_tables(
    packed: PackedChain, params_row: FloatArray, days: np.ndarray | None = None,
    lazy: bool = False,
) -> TradeTables:
    """The trade tables of the entry group of one encoded row (each candidate day's entry, its
    legs and how long it can be held: to the nearest expiry or the window's end; `table_layout`
    documents each array, `trade_path` spells a day's path out), on the days flagged in `days`
    (default: every day of the row's window), built (`lazy=False`) or to be built as rows
    reach their days (`lazy=True`, what evaluation does). Only the row's entry slots are
    read."""
    from gridbt.kernel.tables_nb import build_all_nb

    row = np.ascontiguousarray(params_row, dtype=np.float64).reshape(-1)
    if row.shape[0] != N_PARAMS:
        raise ValueError(f"build_tables: a row has {N_PARAMS} parameters, got {row.shape[0]}")
    flags = np.ones(packed.n_days, dtype=bool) if days is None else np.asarray(days, bool)
    chain, row = chain_arrays(packed), read_only(row)
    tables = _empty_tables(chain, row, flags)
    if not lazy:
        exp_memo, leg_memo, exp_var, leg_var = selection_memo(packed.n_days, row)
        memo = (exp_memo, leg_memo, exp_var[0], leg_var[0])
        build_all_nb(chain, row, contract_major(packed), memo, tables)
    return tables


def _empty_tables(chain: Chain, row: FloatArray, days: np.ndarray) -> TradeTables:
    """Tables of the entry group of `row` with the days flagged in `days` still to build."""
    from gridbt.kernel.tables_nb import new_tables_nb

    return TradeTables(*new_tables_nb(chain, row, read_only(np.ascontiguousarray(days))))


class TradePath(NamedTuple):
    """The path of one candidate entry, spelled out (`trade_path`): per day held after the entry
    day, the structure's value per unit on mid marks (`value - value_entry[day]` is the P&L
    per unit the exit rules read), the largest |delta| of a short leg (-inf when none), the
    flags (bit i: leg i quoted; `FLAG_MISSING`: some open leg not quoted) and each leg's last
    usable quote (n, legs)."""

    value: np.ndarray
    short_delta: np.ndarray
    flags: np.ndarray
    bid: np.ndarray
    ask: np.ndarray


def trade_path(packed: PackedChain, tables: TradeTables, day: int) -> TradePath:
    """The path the walk reads for the candidate entered on built `day` of `tables` (days
    `day + 1 .. day + length[day]`)."""
    from gridbt.kernel.tables_nb import path_nb

    if tables.skip[day] != -1:
        raise ValueError(f"trade_path: day {day} has no selected entry (skip {tables.skip[day]})")
    n = int(tables.length[day])
    legs = int(np.count_nonzero(tables.contract[day] >= 0))
    path = TradePath(np.empty(n), np.empty(n), np.empty(n, dtype=np.uint8), np.empty((n, legs)),
                     np.empty((n, legs)))
    path_nb(chain_arrays(packed), contract_major(packed), tables, day, *path)
    return path


#: Entry groups with fewer rows run on the day kernel by default: a group's tables are built on
#: the days its rows reach, each built day costing about what the day kernel's entry on it
#: does, so a small group gains little (measured on 8 groups of the short-put and iron-condor
#: grids, rows sampled per group, 2026-12-05: short put 0.73x at 1 row a group, 0.88x at 2,
#: 1.10x at 3, 1.16x at 4, 1.30x at 6, 1.56x at 9; iron condor 1.04x, 1.31x, 1.50x, 1.68x,
#: 1.87x, 2.56x). From 4 rows both gain. The results are the same either way.
MIN_GROUP_ROWS = 4


def _small(keys: np.ndarray, min_group_rows: int) -> np.ndarray:
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    return (counts < min_group_rows)[inverse.ravel()]


def small_group_rows(params: FloatArray, min_group_rows: int = MIN_GROUP_ROWS) -> np.ndarray:
    """(n,) bool: the rows of `params` whose entry group has fewer than `min_group_rows` rows
    among them, which `run_batch_tables` runs on the day kernel."""
    rows = np.atleast_2d(np.asarray(params, dtype=np.float64))
    return _small(entry_group_keys(rows), min_group_rows)


def run_batch_tables(
    packed: PackedChain,
    params: FloatArray,
    keep_equity: np.ndarray | None = None,
    min_group_rows: int = MIN_GROUP_ROWS,
    n_blocks: int = 0,
) -> BatchOutputs:
    """`dispatch.run_batch` on trade tables: each entry group's tables are built once, its
    rows evaluated; only the last group's tables stay alive (for a next batch that continues
    the group). Every row must have `fallback_reasons` 0. Groups of fewer than
    `min_group_rows` rows go to the day kernel (`dispatch.run_batch`) instead, which gives the
    same outputs (0 = every group on tables); `day_rows` names them, and `replayed` counts the
    rows that were not walked (their trades were another row's of their finish class,
    `tables_eval_nb.replays_nb`, whose outputs they copied)."""
    from gridbt.kernel.dispatch import new_batch, run_batch
    from gridbt.kernel.tables_eval_nb import eval_group_nb

    params, keep, slot, out = new_batch(packed, params, keep_equity, n_blocks)
    reasons = fallback_reasons(params)
    if reasons.any():
        bad = int(np.flatnonzero(reasons)[0])
        raise ValueError(f"run_batch_tables: row {bad} needs the day kernel "
                         f"({FALLBACK_REASONS[reasons[bad]]})")
    chain = chain_arrays(packed)
    rows_ro = read_only(params)
    keys = entry_group_keys(params)
    small_rows = _small(keys, min_group_rows)
    small = np.flatnonzero(small_rows)
    if len(small):
        day = run_batch(packed, params[small], keep[small], n_blocks)
        out.kpis[small], out.skips[small], out.counters[small], out.outcome[small] = (
            day.kpis, day.skips, day.counters, day.outcome)
        out.block_stats[small] = day.block_stats
        out.equity[slot[small][keep[small]]] = day.equity
    cm = contract_major(packed)
    replayed = 0
    groups, firsts = np.unique(keys[~small_rows], return_index=True)
    with _TABLES_LOCK:
        _process_memo(packed).prepare(groups, params[np.flatnonzero(~small_rows)[firsts]])
    for key in groups:
        members = np.flatnonzero(keys == key).astype(np.int64)
        group = params[members]
        classes = finish_classes(group)  # the batch's own rows: outside the lock
        with _TABLES_LOCK:  # the walk builds the days its rows reach into the shared tables
            # and selects their legs through the process's memo: a leg other groups (of this
            # batch or an earlier one) share is selected once a day
            selection = _process_memo(packed)
            memo = selection.for_row(*selection.group_variants(int(key), params[members[0]]))
            tables = _group_tables(packed, chain, int(key), group)
            replayed += eval_group_nb(chain, tables, cm, memo, rows_ro, members, classes, slot,
                                      out.kpis, out.skips, out.counters, out.block_stats,
                                      out.equity, out.outcome)
        del tables
    return out._replace(replayed=replayed, day_rows=small_rows)


#: Held while a group's tables are looked up and evaluated: evaluation writes the days it
#: builds into them (threads calling `run_batch_tables` take turns).
_TABLES_LOCK = threading.Lock()

_LAST: list[tuple[int, tuple[np.ndarray, ...], np.ndarray, TradeTables]] = []


def _group_tables(packed: PackedChain, chain: Chain, key: int, rows: FloatArray
                  ) -> TradeTables:
    """The tables of the entry group `key` for `rows` (lazy: built as the walk reaches their
    days; call with `_TABLES_LOCK` held). The last group's are kept (one per process): a
    sweep's scheduler may split a group across consecutive batches, and the next batch then
    evaluates on the same tables, and the days already built, when they cover its entry
    days."""
    days = entry_days(packed, rows)
    # the same chain: the same quote and feature arrays (a chain copied with other features,
    # which signals and filters read, is another chain)
    source = (packed.quote_bid, packed.features, packed.day_spot)
    if _LAST:
        last_key, last_source, last_days, tables = _LAST[0]
        same = _same_arrays(last_source, source)
        if last_key == key and same and not np.any(days & ~last_days):
            return tables
    _LAST.clear()  # free the previous group's tables before making the next
    tables = _empty_tables(chain, read_only(np.ascontiguousarray(rows[0])), days)
    _LAST[:] = [(key, source, days, tables)]
    return tables


def kept_tables() -> TradeTables | None:
    """The tables this process keeps (the last entry group evaluated, as far as its rows
    built them), or None."""
    with _TABLES_LOCK:
        return _LAST[0][3] if _LAST else None


def release_tables() -> None:
    """Free the kept tables and the selection memo (the next batch builds its days and
    selects its legs again)."""
    with _TABLES_LOCK:
        _LAST.clear()
        _MEMO.clear()
