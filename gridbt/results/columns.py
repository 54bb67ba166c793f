"""NumPy copies of columns of the sweeps' run tables, kept within a memory budget.

DuckDB filters and sorts the runs; the reductions of heatmaps and slices, whose medians and
quartiles are exact order statistics, run on numpy arrays indexed by DuckDB row id
(`plots.group_stats`). A sweep's arrays (a metric as float64, NaN where undefined; a grid path
as int64 codes in axis order) are read from its table once per table version and reused by
every later query, whatever its filter. `ColumnCache` holds them for all sweeps within a byte
budget, the least recently used dropped first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar, cast

import numpy.typing as npt

__all__ = ["DEFAULT_BUDGET", "ColumnCache"]

DEFAULT_BUDGET = 512 * 2**20
_A = TypeVar("_A", bound=npt.NDArray[Any])


class ColumnCache:
    """Arrays by key (its first item: the table they were read from), at most `budget`
    bytes of them."""

    def __init__(self, budget: int = DEFAULT_BUDGET):
        self.budget = budget
        self._arrays: OrderedDict[tuple[Hashable, ...], npt.NDArray[Any]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        return self._bytes

    def get(self, key: tuple[Hashable, ...], make: Callable[[], _A]) -> _A:
        """The array at `key`, made by `make()` if it is not kept (and kept if it fits)."""
        with self._lock:
            found = self._arrays.get(key)
            if found is not None:
                self._arrays.move_to_end(key)
                return cast(_A, found)
        array = make()
        array.flags.writeable = False  # shared by concurrent queries
        with self._lock:
            if key not in self._arrays and array.nbytes <= self.budget:
                self._arrays[key] = array
                self._bytes += array.nbytes
                while self._bytes > self.budget:
                    _, old = self._arrays.popitem(last=False)
                    self._bytes -= old.nbytes
        return array

    def drop(self, table: Hashable) -> None:
        """Forget the arrays read from `table` (it changed or was dropped)."""
        with self._lock:
            for key in [k for k in self._arrays if k[0] == table]:
                self._bytes -= self._arrays.pop(key).nbytes
