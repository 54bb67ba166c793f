"""Engines and entry groups: which engine runs each combination, and a grid walk that keeps an
entry group's combinations together.

The trade-table engine (`gridbt.kernel.tables`) shares work across the combinations of an
*entry group* (same entries, other exit rules): it builds the group's trade tables once, then
walks each combination's trades. So the sweep

- walks the grid with the factors that change entries outermost (`entry_factor_order`): an
  entry group's combinations then come one after another, and combination ids (the file
  order's) do not change;
- cuts each block of that walk into *pieces* (`pieces`): one per entry group for the
  combinations the engine supports, and one piece of the others, which run on the day-by-day
  kernel, with the reason of each (`FALLBACK_REASONS`); with `engine: day` the whole block is
  one day piece.

A batch is then cut from pieces of one engine (`gridbt.sweep.driver`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gridbt.kernel.tables import FALLBACK_REASONS, entry_group_keys, fallback_reasons
from gridbt.sweep.grid import Block, Grid

__all__ = ["FORCED_DAY", "SMALL_GROUP", "Piece", "engine_counts", "entry_factor_order",
           "pieces"]

#: The fallback reason of every combination of an `engine: day` sweep.
FORCED_DAY = "engine_day"
#: The fallback reason of a combination whose entry group had too few rows in its batch for
#: trade tables to gain (`gridbt.kernel.tables.MIN_GROUP_ROWS`).
SMALL_GROUP = "small_group"


@dataclass(frozen=True)
class Piece:
    """Rows of a block that run on one engine: `tables` rows share one entry group (`key`);
    `day` rows carry why they do not run on tables (`fallback`, a reason name per row)."""

    block: Block
    hashes: list[str]
    engine: str  # "tables" or "day"
    fallback: np.ndarray  # (n,) object: reason names, "" on tables
    key: int | None  # the entry group of `tables` rows; None for `day`

    def __len__(self) -> int:
        return len(self.block)

    def cut(self, lo: int, hi: int) -> Piece:
        """Rows [lo, hi) of this piece."""
        part = Block(self.block.combo[lo:hi], self.block.levels[lo:hi],
                     self.block.params[lo:hi])
        return Piece(part, self.hashes[lo:hi], self.engine, self.fallback[lo:hi], self.key)


def entry_factor_order(grid: Grid) -> list[int]:
    """The grid's factors, those that change a combination's entry group first (in file order),
    then those that change only its exits: walked in this order, an entry group's combinations
    are consecutive."""
    entry: list[int] = []
    exits: list[int] = []
    for k, factor in enumerate(grid.factors):
        rows = np.repeat(grid.base_vector[None, :], len(factor.levels), axis=0)
        rows[:, factor.cols] = factor.patch
        keys = entry_group_keys(rows)
        (entry if len(np.unique(keys)) > 1 else exits).append(k)
    return entry + exits


def _first_seen_runs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows ordered by key, keys in the order they first appear (stable within a key); the
    start of each key's run in that order, and its key."""
    unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(first, kind="stable"), kind="stable")[inverse]
    order = np.argsort(rank, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(rank[order]) != 0])
    return order, starts, keys[order][starts]


def pieces(block: Block, hashes: list[str], engine: str) -> list[Piece]:
    """`block` (with its rows' parameter hashes) as pieces: one per entry group of the rows
    the trade-table engine supports, in the order the groups first appear, then one of the
    rest. `engine` is the sweep file's (`auto` or `day`)."""
    n = len(block)
    if n == 0:
        return []
    if engine == "day":
        return [Piece(block, hashes, "day", np.full(n, FORCED_DAY, dtype=object), None)]
    reasons = fallback_reasons(block.params)
    names = np.asarray(FALLBACK_REASONS, dtype=object)[reasons]
    out: list[Piece] = []
    supported = np.flatnonzero(reasons == 0)
    if len(supported):
        every = len(supported) == n  # no copy of the block to group it
        order, starts, keys = _first_seen_runs(
            entry_group_keys(block.params if every else block.params[supported]))
        rows = supported[order]
        ends = np.r_[starts[1:], len(rows)]
        # a block walked entry groups first (the sweep's walk) has each group's rows in a
        # run: its pieces are views of it, not copies
        runs = every and bool(np.array_equal(rows, supported))
        for lo, hi, key in zip(starts, ends, keys, strict=True):
            out.append(Piece(block, hashes, "tables", names, int(key)).cut(lo, hi) if runs else
                       _piece(block, hashes, rows[lo:hi], "tables", names, int(key)))
    fallback = np.flatnonzero(reasons != 0)
    if len(fallback):
        out.append(_piece(block, hashes, fallback, "day", names, None))
    return out


def _piece(block: Block, hashes: list[str], rows: np.ndarray, engine: str,
           names: np.ndarray, key: int | None) -> Piece:
    part = Block(block.combo[rows], block.levels[rows], block.params[rows])
    return Piece(part, [hashes[i] for i in rows], engine, names[rows], key)


def engine_counts(engine: str, engines: np.ndarray, fallback: np.ndarray,
                  replayed: int = 0) -> dict[str, object]:
    """What `sweep.json` says of the engines: the file's `engine`, the combinations run on
    each engine, of those on tables how many were not walked (`replayed`: they made the trades
    of a combination walked before them), and per reason (by name) how many ran on the day
    kernel instead of tables."""
    names, counts = np.unique(np.asarray(fallback[fallback != ""], dtype=str),
                              return_counts=True)
    return {
        "engine": engine,
        "tables": int((engines == "tables").sum()),
        "day": int((engines == "day").sum()),
        "replayed": int(replayed),
        "fallback": {str(k): int(c) for k, c in zip(names, counts, strict=True)},
    }

