"""Stage lines: what a sweep or a study is doing, step by step, while nothing else shows.

Library code reports each step (checking the file, loading the chain, starting Ray, warming
the actors up, the first results, finishing, MLflow) with `stage`, on the `gridbt.stages`
logger at INFO. The lines show only where a handler is attached: the CLI attaches one
(`gridbt.report.terminal`) that prints them on stderr with the seconds since the command
started. Elsewhere a stage costs one logger call.
"""

from __future__ import annotations

import logging
import time

__all__ = ["LOGGER", "seconds_since", "stage"]

LOGGER = logging.getLogger("gridbt.stages")


def stage(message: str, *args: object) -> None:
    """Report a step; `args` are formatted into `message` (%-style) only when it is shown."""
    LOGGER.info(message, *args)


def seconds_since(started: float) -> float:
    """Seconds since `started`, a `time.perf_counter()` reading."""
    return time.perf_counter() - started
