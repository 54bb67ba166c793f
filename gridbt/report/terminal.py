"""Stage lines on the terminal: what a sweep or a study is doing, as it does it.

The library reports its steps on the `gridbt.stages` logger (`gridbt._stages`); `show_stages`
prints them on stderr, beside the progress bars (through `tqdm.write`, so a bar is redrawn
below the line instead of being cut by it), each with the seconds since the process started:

    [   0.31s] checking jobs/sweeps/short_put_grid.yaml
    [   5.02s] Ray ready in 3.91 s: 2 CPUs
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

from gridbt._stages import LOGGER

__all__ = ["StageHandler", "show_stages"]


class StageHandler(logging.Handler):
    """Writes each record as `[elapsed s] message` on stderr, above any progress bar."""

    def __init__(self, started: float):
        """`started`: the `time.time()` the elapsed seconds count from."""
        super().__init__(logging.INFO)
        self.started = started

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            line = f"[{record.created - self.started:8.2f}s] {record.getMessage()}"
            tqdm.write(line, file=sys.stderr)
        except Exception:
            self.handleError(record)


def show_stages() -> None:
    """Print the stage lines from now on, timed from the start of this process."""
    if not any(isinstance(h, StageHandler) for h in LOGGER.handlers):
        LOGGER.addHandler(StageHandler(_process_start()))
    LOGGER.setLevel(logging.INFO)
    LOGGER.propagate = False


def _process_start() -> float:
    """The `time.time()` this process started at, to 10 ms on Linux (its age from /proc: the
    boot time psutil adds to it is whole seconds); elsewhere, now."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        age = float(Path("/proc/uptime").read_text().split()[0]) \
            - int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.time()
    return time.time() - max(age, 0.0)
