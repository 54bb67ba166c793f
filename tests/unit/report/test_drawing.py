"""Figures drawn in real worker processes (`gridbt.report.drawing`): the same files as drawn in
the calling process, errors raised where the caller waits, workers gone once closed."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pandas as pd
import pytest

from gridbt.report.drawing import Drawing, usable_cpus
from gridbt.report.heatmap import objective_heatmaps, write_heatmap
from gridbt.results.plots import heatmap_of_frame

RESULTS = pd.DataFrame({
    "leg.delta": [0.2, 0.2, 0.3, 0.3, 0.4, 0.4],
    "exit.stop": [1.0, 2.0, 1.0, 2.0, 1.0, None],
    "exit.target": [0.5, 0.75, 0.5, 0.75, 0.75, 0.5],
    "sharpe": [1.0, 1.4, -0.2, 0.3, 0.9, 0.1],
})
PARAMS = ["leg.delta", "exit.stop", "exit.target"]


def test_heatmaps_drawn_by_workers_are_the_files_drawn_here(tmp_path: Path) -> None:
    here = objective_heatmaps(RESULTS, PARAMS, "sharpe", higher_is_better=True,
                              out_dir=tmp_path / "here")
    with Drawing(workers=2) as drawing:
        there = objective_heatmaps(RESULTS, PARAMS, "sharpe", higher_is_better=True,
                                   out_dir=tmp_path / "there", drawing=drawing)
        workers = multiprocessing.active_children()
        assert len(workers) == 2 and all(w.pid != os.getpid() for w in workers)
        assert [p.name for p in there] == [p.name for p in here] and len(here) == 3
        for ours, theirs in zip(here, there, strict=True):  # written once it returns
            assert theirs.read_bytes() == ours.read_bytes()
    assert not multiprocessing.active_children()  # closed: the workers are gone


def test_an_error_in_a_worker_is_raised_where_the_caller_waits(tmp_path: Path) -> None:
    heatmap = heatmap_of_frame(RESULTS, "leg.delta", "exit.stop", "sharpe", higher_is_better=True)
    with Drawing(workers=2) as drawing:
        drawing.draw(write_heatmap, heatmap, tmp_path / "fine.png")
        drawing.draw(write_heatmap, heatmap, tmp_path / "no-such-dir" / "lost.png")
        with pytest.raises(FileNotFoundError, match="no-such-dir"):
            drawing.wait()
        drawing.draw(write_heatmap, heatmap, tmp_path / "after.png")  # the pool still draws
        drawing.wait()
    assert (tmp_path / "fine.png").exists() and (tmp_path / "after.png").exists()


def test_one_worker_draws_in_the_calling_process(tmp_path: Path) -> None:
    heatmap = heatmap_of_frame(RESULTS, "leg.delta", "exit.stop", "sharpe", higher_is_better=True)
    with Drawing(workers=1) as drawing:
        drawing.draw(write_heatmap, heatmap, tmp_path / "here.png")
        assert (tmp_path / "here.png").exists()  # before any wait: drawn in the call
        assert not multiprocessing.active_children()
    assert Drawing().workers == min(usable_cpus(), 8)


def test_without_process_semaphores_figures_are_drawn_here(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without /dev/shm cannot make the pool (a fake here: this one can): the
    figures are still drawn, in the calling process."""
    import gridbt.report.drawing as drawing_module

    def no_semaphores(*args: object, **kwargs: object) -> None:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(drawing_module, "ProcessPoolExecutor", no_semaphores)
    heatmap = heatmap_of_frame(RESULTS, "leg.delta", "exit.stop", "sharpe", higher_is_better=True)
    with Drawing(workers=2) as drawing:
        drawing.draw(write_heatmap, heatmap, tmp_path / "first.png")
        drawing.draw(write_heatmap, heatmap, tmp_path / "second.png")
        assert drawing.workers == 1
        assert (tmp_path / "first.png").exists() and (tmp_path / "second.png").exists()
