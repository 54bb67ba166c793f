"""`gridbt.testing.homes.fresh_home`: a test's own gridbt home that shares the compiled
kernels, so that the processes a test starts under it do not compile them again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gridbt.data.home import gridbt_home
from gridbt.testing.homes import fresh_home

REPO = Path(__file__).resolve().parents[2]


def test_a_fresh_home_is_empty_but_for_the_shared_kernels(tmp_path: Path) -> None:
    home = fresh_home(tmp_path / "home")
    assert [p.name for p in home.iterdir()] == ["numba"]
    assert (home / "numba").resolve() == (gridbt_home() / "numba").resolve()


def test_a_process_under_a_fresh_home_caches_its_kernels_in_the_shared_folder(
    tmp_path: Path,
) -> None:
    home = fresh_home(tmp_path / "home")
    code = "from gridbt.kernel.cache import cache_dir; print(cache_dir().resolve())"
    env = os.environ | {"GRIDBT_HOME": str(home), "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert Path(out).parent == (gridbt_home() / "numba").resolve()
