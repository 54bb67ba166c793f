"""Parameter rows on their way to an actor (`runtime.wire`): back exactly, and small."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gridbt.runtime.wire import WireRows, from_wire, to_wire
from gridbt.strategy.encode import STANDARD_FEATURES
from gridbt.sweep.grid import Grid
from gridbt.sweep.spec import load_sweep

REPO = Path(__file__).resolve().parents[3]
#: Ray carries a call's arguments in the call itself up to this size (its default
#: `max_direct_call_object_size`); larger ones go through the object store
RAY_INLINE_BYTES = 100 * 1024


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.int64)


# rows drawn from a few values, so that columns repeat, with -0.0 and NaNs of other payloads
SPECIAL = [0.0, -0.0, 1.5, np.nan, np.float64(np.uint64(0x7FF8000000000001).view(np.float64)),
           np.inf, -np.inf]


@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 12), st.integers(1, 9)),
                  elements=st.sampled_from(SPECIAL)))
def test_rows_come_back_bit_for_bit(rows: np.ndarray) -> None:
    wire = to_wire(rows)
    back = from_wire(pickle.loads(pickle.dumps(wire, protocol=5)))
    assert back.shape == rows.shape and back.flags.c_contiguous and back.flags.writeable
    assert np.array_equal(_bits(back), _bits(rows))
    # only the columns that differ from the first row travel with every row
    differs = (_bits(rows) != _bits(rows)[0]).any(axis=0)
    assert wire.columns.tolist() == np.flatnonzero(differs).tolist()


def test_a_zero_and_a_negative_zero_are_different_columns() -> None:
    rows = np.array([[0.0, 1.0], [-0.0, 1.0]])
    wire = to_wire(rows)
    assert wire.columns.tolist() == [0]
    assert np.signbit(from_wire(wire)[1, 0])


def test_an_array_is_handed_back_as_it_is() -> None:
    rows = np.ones((2, 3))
    assert from_wire(rows) is rows


def test_no_rows_come_back_as_no_rows() -> None:
    back = from_wire(to_wire(np.zeros((0, 455))))
    assert back.shape == (0, 455)


@pytest.mark.parametrize("shape", [(455,), (2, 3, 4)])
def test_what_is_not_a_matrix_of_rows_is_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"\(n, m\) array of rows"):
        to_wire(np.zeros(shape))


def test_a_sweep_batch_is_small_enough_to_travel_in_the_call() -> None:
    """A batch of the short-put grid as the driver cuts them (whole entry groups, here 4 of
    them, 480 rows): 1.7 MB of rows, which Ray would put in the object store, but well under
    its inline limit on the wire."""
    sweep, base = load_sweep(REPO / "jobs/sweeps/short_put_grid.yaml")
    rows = np.concatenate([b.params for b in Grid(sweep, base, STANDARD_FEATURES).blocks()])
    batch = rows[:480]
    assert batch.nbytes > 10 * RAY_INLINE_BYTES
    wire = to_wire(batch)
    assert isinstance(wire, WireRows) and len(wire) == 480
    assert len(pickle.dumps(wire, protocol=5)) < RAY_INLINE_BYTES / 2
    assert np.array_equal(_bits(wire.expand()), _bits(batch))
