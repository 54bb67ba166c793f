"""The fast and the portable forms of `lowlevel_nb`'s helpers behave the same, and the fast
forms are chosen only on the numba versions they are tested on.

The whole kernel in both forms: tests/integration/test_kernel_portable.py.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import pytest
from numba import njit

from gridbt.kernel import cache
from gridbt.kernel.lowlevel_nb import (
    borrowed_fast_nb,
    borrowed_portable_nb,
    prefetch_fast_nb,
    prefetch_portable_nb,
    stack_record_fast_nb,
    stack_record_portable_nb,
)
from gridbt.kernel.state import book_dt

FORMS = [
    pytest.param(borrowed_fast_nb, stack_record_fast_nb, id="fast"),
    pytest.param(borrowed_portable_nb, stack_record_portable_nb, id="portable"),
]


def _kernels(borrowed: Any, stack_record: Any) -> tuple[Any, Any]:
    @njit
    def scale_into(x: Any, y: Any, k: float) -> float:
        # reads through one borrowed view, writes through another, returns a sum
        x, y = borrowed((x, y))
        total = 0.0
        for i in range(x.shape[0]):
            y[i] = k * x[i]
            total += x[i]
        return total

    @njit
    def record_roundtrip(cash: float) -> tuple[float, float, int, float]:
        book = stack_record(book_dt)
        before = book.cash  # zeroed
        book.cash = cash
        book.n_trades += 3
        return before, book.cash, book.n_trades, book.contracts

    return scale_into, record_roundtrip


@pytest.mark.parametrize(("borrowed", "stack_record"), FORMS)
def test_borrowed_views_read_and_write_the_arrays_memory(borrowed: Any,
                                                         stack_record: Any) -> None:
    scale_into, _ = _kernels(borrowed, stack_record)
    x = np.arange(5.0)
    y = np.zeros(5)
    assert scale_into(x, y, 2.0) == 10.0
    np.testing.assert_array_equal(y, 2.0 * x)
    np.testing.assert_array_equal(x, np.arange(5.0))  # the input is untouched


@pytest.mark.parametrize(("borrowed", "stack_record"), FORMS)
def test_a_stack_record_starts_zeroed_and_keeps_what_is_written(borrowed: Any,
                                                               stack_record: Any) -> None:
    _, record_roundtrip = _kernels(borrowed, stack_record)
    for _ in range(3):  # a fresh, zeroed record on every call
        assert record_roundtrip(1234.5) == (0.0, 1234.5, 3, 0.0)


@pytest.mark.parametrize("prefetch", [prefetch_fast_nb, prefetch_portable_nb],
                         ids=["fast", "portable"])
def test_a_prefetch_changes_nothing_and_never_faults(prefetch: Any) -> None:
    @njit
    def strided_sum(x: Any, stride: int) -> float:
        total = 0.0
        for i in range(0, x.shape[0], stride):
            prefetch(x, i + 64)  # ahead of the loop, past the end at the last steps
            prefetch(x, (x.shape[0] + 1) << 20)  # far outside the array
            total += x[i]
        return total

    x = np.random.default_rng(0).normal(size=100_000)
    assert strided_sum(x, 7) == pytest.approx(x[::7].sum(), rel=1e-12)


def test_the_fast_forms_are_chosen_on_tested_numba_versions_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(cache.PORTABLE_ENV, raising=False)
    for version, fast in (("0.68.1", True), ("0.68.0rc1", True), ("0.99.0", False),
                          ("1.68.0", False)):
        monkeypatch.setattr(numba, "__version__", version)
        assert cache.low_level_codegen() is (fast and (0, 68) in cache.LOW_LEVEL_NUMBA)
    monkeypatch.setattr(numba, "__version__", "0.68.1")
    monkeypatch.setenv(cache.PORTABLE_ENV, "1")
    assert cache.low_level_codegen() is False
