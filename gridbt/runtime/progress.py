"""Progress of a sweep's combinations, a study's trials or the MLflow runs, on stderr.

On a terminal, a tqdm bar. Anywhere else (a log file, a pipe, `nohup`, a cluster job's
output) a bar's carriage-return redraws pile up into one endless line, so there the progress is
a stage line (`gridbt._stages`, shown where the stage lines are) every `LINE_SECONDS`:

    [   74.20s] 412,000/1,000,000 combinations (41%), 5,561/s, about 1 min 46 s left
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from gridbt._stages import stage

__all__ = ["LINE_SECONDS", "ProgressLines", "is_terminal", "progress_bar"]

#: Seconds between two progress lines off a terminal: six lines a minute in a log, and none
#: from a job of a few seconds besides its stage lines.
LINE_SECONDS = 10.0

_NOUNS = {"combo": "combinations", "run": "runs", "trial": "trials"}


def is_terminal(stream: TextIO) -> bool:
    """Whether `stream` is a terminal (False for a closed or detached stream)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def progress_bar(total: int, enabled: bool, unit: str = "combo") -> Any:
    """A tqdm bar on stderr when it is a terminal, `ProgressLines` otherwise; None when
    disabled or there is nothing to do. Either has `update(n)`, `set_postfix(**values)` and
    `close()`."""
    if not enabled or total <= 0:
        return None
    if not is_terminal(sys.stderr):
        return ProgressLines(total, unit)
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, file=sys.stderr, mininterval=0.5, smoothing=0.1,
                dynamic_ncols=True)


class ProgressLines:
    """Progress as a stage line every `seconds`: done of total, rate since the start, time
    left at that rate and the postfix values (e.g. failed=3). Nothing at the end: the job's
    own stage line ("grid done: ...") says it."""

    def __init__(self, total: int, unit: str = "combo", seconds: float = LINE_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self.total, self.noun = total, _NOUNS.get(unit, unit + "s")
        self.seconds, self.clock = seconds, clock
        self.done = 0
        self.postfix: dict[str, object] = {}
        self.started = self.last = clock()

    def update(self, n: int = 1) -> None:
        self.done += n
        now = self.clock()
        if now - self.last >= self.seconds and self.done < self.total:
            self.last = now
            stage("%s", self.line(now))

    def set_postfix(self, refresh: bool = True, **values: object) -> None:
        self.postfix = values

    def close(self) -> None:
        pass

    def line(self, now: float) -> str:
        """The progress as it reads at clock reading `now`."""
        parts = [f"{self.done:,}/{self.total:,} {self.noun} ({100 * self.done // self.total}%)"]
        elapsed = now - self.started
        if self.done > 0 and elapsed > 0:
            rate = self.done / elapsed
            parts.append(f"{rate:,.0f}/s" if rate >= 10 else f"{rate:.2g}/s")
            parts.append(f"about {_duration((self.total - self.done) / rate)} left")
        parts += [f"{name} {value:,}" if isinstance(value, int) else f"{name} {value}"
                  for name, value in self.postfix.items()]
        return ", ".join(parts)


def _duration(seconds: float) -> str:
    """`seconds` as a person reads it: 8 s, 1 min 46 s, 2 h 05 min."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"
