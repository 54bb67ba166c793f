"""Fixtures shared by the data tests: the history chain, built once per session (about 10 s)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pytest

from gridbt.data.pack import PackedChain, pack_chain
from gridbt.data.synth import synthesize_chain


@dataclasses.dataclass(frozen=True)
class HistoryChain:
    table: pa.Table
    packed: PackedChain
    #: Day index of each row.
    row_day: np.ndarray


@pytest.fixture(scope="session")
def history_chain() -> HistoryChain:
    table = synthesize_chain("history")
    packed = pack_chain(table)
    row_day = np.repeat(np.arange(packed.day_date.shape[0]), np.diff(packed.day_quote_start))
    return HistoryChain(table=table, packed=packed, row_day=row_day)
