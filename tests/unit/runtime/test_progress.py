"""Progress on stderr (`runtime.progress`): a bar on a terminal, plain timed lines elsewhere."""

from __future__ import annotations

import io
import logging
import os
import sys

import pytest
from tqdm import tqdm

from gridbt.runtime.progress import ProgressLines, progress_bar


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def stage_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "gridbt.stages"]


def test_lines_come_every_period_with_count_rate_and_time_left(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    lines = ProgressLines(1_000_000, "combo", seconds=10.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="gridbt.stages"):
        clock.now += 4.0
        lines.update(20_000)  # too soon for a line
        clock.now += 6.0
        lines.update(30_000)  # 10 s in: 50,000 done at 5,000/s, 950,000 left = 190 s
        clock.now += 5.0
        lines.update(25_000)  # 5 s after the last line: none
        lines.set_postfix(failed=1_200, refresh=False)
        clock.now += 5.0
        lines.update(25_000)  # 20 s in: 100,000 at 5,000/s
        clock.now += 180.0
        lines.update(900_000)  # all done: the job's own stage line says so
        lines.close()
    assert stage_lines(caplog) == [
        "50,000/1,000,000 combinations (5%), 5,000/s, about 3 min 10 s left",
        "100,000/1,000,000 combinations (10%), 5,000/s, about 3 min 0 s left, failed 1,200",
    ]


def test_slow_jobs_read_in_their_own_units(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    lines = ProgressLines(40, "run", seconds=10.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="gridbt.stages"):
        clock.now += 12.5
        lines.update(3)  # 37 left at 3/12.5 s = 154 s
        clock.now += 8000.0
        lines.update(1)  # 36 left at 4/8,012.5 s = 72,112 s
    assert stage_lines(caplog) == ["3/40 runs (7%), 0.24/s, about 2 min 34 s left",
                                   "4/40 runs (10%), 0.0005/s, about 20 h 01 min left"]


def test_a_terminal_gets_a_bar_anything_else_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    leader, follower = os.openpty()  # a real terminal
    with os.fdopen(follower, "w") as terminal:
        monkeypatch.setattr(sys, "stderr", terminal)
        bar = progress_bar(10, enabled=True)
        assert isinstance(bar, tqdm)
        bar.close()
    os.close(leader)
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # a pipe or a log file
    assert isinstance(progress_bar(10, enabled=True, unit="trial"), ProgressLines)
    assert progress_bar(10, enabled=False) is None
    assert progress_bar(0, enabled=True) is None
