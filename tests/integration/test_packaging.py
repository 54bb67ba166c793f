"""What a wheel built from the repository holds, as a user installing it gets it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """A wheel built by pip from a copy of the source tree (the checkout stays clean)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "src"
    shutil.copytree(REPO, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "*.egg-info", "__pycache__", "demo-output", "node_modules", "build"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(tmp / "dist"), str(source)], check=True, timeout=900,
                   capture_output=True)
    (path,) = (tmp / "dist").glob("gridbt-*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_ships_every_job_file_where_job_file_finds_it(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    shipped = sorted(p.relative_to(REPO / "jobs").as_posix()
                     for p in (REPO / "jobs").rglob("*.yaml"))
    assert len(shipped) >= 20
    assert {f"gridbt/jobs/{p}" for p in shipped} <= names
    assert "gridbt/workflows/jobfiles.py" in names


def test_the_wheel_ships_the_built_results_browser(wheel: zipfile.ZipFile) -> None:
    built = REPO / "gridbt" / "api" / "static" / "index.html"
    assert built.is_file(), ("the results browser is not built: `make install` builds it "
                             "(npm --prefix frontend ci && npm --prefix frontend run build)")
    names = set(wheel.namelist())
    assert "gridbt/api/static/index.html" in names
    index = wheel.read("gridbt/api/static/index.html").decode()
    assets = re.findall(r'(?:src|href)="/(assets/[^"]+)"', index)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    assert {f"gridbt/api/static/{a}" for a in assets} <= names
    assert "gridbt/api/frontend.py" in names
