"""The ready job files of the repository's `jobs/` folder, as the installed package ships them.

`gridbt/jobs` links to `jobs/` in a checkout (so an editable install reads the files being
edited), and a wheel holds a copy of it; `job_file` falls back to `./jobs` in the working
directory for a source tree used without installing.
"""

from __future__ import annotations

from pathlib import Path

import gridbt

__all__ = ["job_file"]

PACKAGED_JOBS = Path(gridbt.__file__).resolve().parent / "jobs"


def job_file(relative: str) -> Path:
    """`jobs/<relative>` from the installed package, else from the working directory."""
    for root in (PACKAGED_JOBS, Path.cwd() / "jobs"):
        path = root / relative
        if path.is_file():
            return path
    raise FileNotFoundError(f"job file {relative!r} is neither in {PACKAGED_JOBS} nor in "
                            f"{Path.cwd() / 'jobs'}; reinstall gridbt")
