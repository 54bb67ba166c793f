"""Parameter rows as they travel to an actor: only the columns that vary.

An encoded row has `contract.N_PARAMS` (455) slots, and a batch's rows agree on nearly all of
them: a trade-table batch is one entry group, whose rows differ only in a few exit
thresholds. Sent whole, a batch of 480 rows is 1.7 MB, which Ray puts in the object store and
the actor maps back: ~2 ms of the driver's time per call, which on a small box the actors
pay for. Sent as its first row and the columns that differ from it, the same batch is a few
kB, which Ray inlines in the call.

Columns are compared by their bits, so the rows come back exactly (NaN payloads and -0.0
included).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gridbt._typing import FloatArray, IntArray

__all__ = ["WireRows", "from_wire", "to_wire"]


@dataclass(frozen=True)
class WireRows:
    """Rows (n, m) as their first row, the columns where some row differs from it, and those
    columns' values."""

    first: FloatArray  # (m,)
    columns: IntArray  # (k,) ascending
    values: FloatArray  # (n, k)

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def expand(self) -> FloatArray:
        """The rows, bit for bit as they were sent (C-contiguous, writeable)."""
        rows = np.empty((len(self), self.first.shape[0]))
        rows[:] = self.first
        rows[:, self.columns] = self.values
        return rows


def to_wire(rows: FloatArray) -> WireRows:
    """`rows` (n, m) float64 as `WireRows`."""
    rows = np.ascontiguousarray(rows, dtype=np.float64)
    if rows.ndim != 2:
        raise ValueError(f"expected an (n, m) array of rows, got shape {rows.shape}")
    if rows.shape[0] == 0:
        return WireRows(np.zeros(rows.shape[1]), np.zeros(0, dtype=np.int64),
                        np.zeros((0, 0)))
    bits = rows.view(np.int64)
    columns = np.flatnonzero((bits != bits[0]).any(axis=0))
    return WireRows(rows[0].copy(), columns, np.ascontiguousarray(rows[:, columns]))


def from_wire(rows: WireRows | FloatArray) -> FloatArray:
    """The rows of `rows` as an array (an array is returned as it is)."""
    return rows.expand() if isinstance(rows, WireRows) else rows
