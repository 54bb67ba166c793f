"""The demo's job files: from the installed package, else from the working directory."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gridbt.workflows import jobfiles
from gridbt.workflows.demo import DEMO_HEDGED, DEMO_STRATEGY, DEMO_STUDY, DEMO_SWEEP
from gridbt.workflows.jobfiles import job_file

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", [DEMO_STRATEGY, DEMO_HEDGED, DEMO_SWEEP, DEMO_STUDY])
def test_the_demo_files_are_the_packaged_job_files(name: str) -> None:
    found = job_file(name)
    assert found.parent.parent == jobfiles.PACKAGED_JOBS
    assert found.read_bytes() == (REPO / "jobs" / name).read_bytes()


def test_a_job_file_the_package_lacks_comes_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "jobs" / "sweeps").mkdir(parents=True)
    (tmp_path / "jobs" / "sweeps" / "mine.yaml").write_text("name: mine\n")
    monkeypatch.chdir(tmp_path)
    assert yaml.safe_load(job_file("sweeps/mine.yaml").read_text()) == {"name": "mine"}
    # without a packaged copy, the demo's files are looked for in ./jobs, and named if absent
    monkeypatch.setattr(jobfiles, "PACKAGED_JOBS", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="sweeps/short_put_grid.yaml"):
        job_file(DEMO_SWEEP)
