"""Stage lines on the terminal: elapsed seconds, stderr, once, and nothing without a handler."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator

import pytest

from gridbt._stages import LOGGER, stage
from gridbt.report.terminal import StageHandler, show_stages


@pytest.fixture
def clean_logger() -> Iterator[None]:
    handlers, level, propagate = list(LOGGER.handlers), LOGGER.level, LOGGER.propagate
    yield
    LOGGER.handlers[:] = handlers
    LOGGER.setLevel(level)
    LOGGER.propagate = propagate


@pytest.mark.usefixtures("clean_logger")
def test_a_stage_line_shows_the_seconds_since_start_on_stderr(
        capsys: pytest.CaptureFixture[str]) -> None:
    LOGGER.handlers[:] = [StageHandler(time.time() - 12.5)]
    LOGGER.setLevel(logging.INFO)
    LOGGER.propagate = False
    stage("loading the chain %s", "/data/spx")
    out, err = capsys.readouterr()
    assert out == ""
    m = re.fullmatch(r"\[\s*([\d.]+)s\] loading the chain /data/spx\n", err)
    assert m is not None, err
    assert 12.5 <= float(m.group(1)) < 14


@pytest.mark.usefixtures("clean_logger")
def test_show_stages_counts_from_the_process_start_and_attaches_once(
        capsys: pytest.CaptureFixture[str]) -> None:
    show_stages()
    show_stages()
    assert sum(isinstance(h, StageHandler) for h in LOGGER.handlers) == 1
    stage("ready")
    err = capsys.readouterr().err
    assert err.count("ready") == 1
    seconds = float(re.match(r"\[\s*([\d.]+)s\]", err).group(1))  # type: ignore[union-attr]
    assert 0.05 < seconds < 3600  # from the start of the process (pytest), not of the call


@pytest.mark.usefixtures("clean_logger")
def test_without_a_handler_stages_print_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    LOGGER.handlers[:] = []
    LOGGER.propagate = True
    stage("starting Ray")
    assert capsys.readouterr() == ("", "")
