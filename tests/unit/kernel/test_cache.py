"""Compiled kernels are never stale: the numba cache is keyed by the kernels' source.

The probe runs in fresh processes on a copy of the package, compiles a kernel that reads a
constant of another module (`contract.P`), edits that constant, and runs again.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from gridbt.kernel import cache
from gridbt.kernel.contract import P

ROOT = Path(__file__).resolve().parents[3] / "gridbt"
# days [first, end) of a parameter row, read by position from contract.P in a cached kernel;
# the row is written at the positions of the unedited contract
PROBE = f"""
import json
import numpy as np
from gridbt.kernel.cache import cache_dir
from gridbt.kernel.contract import N_PARAMS
from gridbt.kernel.nb import window_nb

params = np.full(N_PARAMS, np.nan)
params[{P.window_first}], params[{P.window_end}] = 5.0, 10.0
window = window_nb(params, 100)
print(json.dumps({{"window": list(window), "dir": str(cache_dir()),
                   "hits": sum(window_nb.stats.cache_hits.values())}}))
"""
FIELDS = "    window_first: int"


def _copy(tmp: Path) -> Path:
    src = tmp / "src"
    shutil.copytree(ROOT, src / "gridbt", ignore=shutil.ignore_patterns("__pycache__", "jobs"))
    return src


def _probe(src: Path, home: Path) -> dict[str, object]:
    # cwd: `python -c` puts the working directory first on sys.path
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "PYTHONPATH"))}
    env.update(PYTHONPATH=str(src), GRIDBT_HOME=str(home))
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=src, capture_output=True,
                          text=True, timeout=300, check=True)
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _swap_window_fields(src: Path) -> None:
    """Exchange the positions of `window_first` and `window_end` in the copy's contract."""
    path = src / "gridbt" / "kernel" / "contract.py"
    lines = path.read_text().splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if line.startswith(FIELDS))
    assert lines[first + 1].startswith("    window_end: int")
    lines[first], lines[first + 1] = lines[first + 1], lines[first]
    path.write_text("".join(lines))


def test_an_edited_constant_of_an_imported_module_is_used(tmp_path: Path) -> None:
    src = _copy(tmp_path)
    home = tmp_path / "home"
    first = _probe(src, home)
    assert first["window"] == [5, 10] and first["hits"] == 0
    assert Path(str(first["dir"])).parent == home / "numba"
    again = _probe(src, home)
    assert again == {**first, "hits": 1}  # cached machine code is loaded, not recompiled
    _swap_window_fields(src)
    edited = _probe(src, home)
    # the kernel now reads first = 10 and end = 5 < first: an empty window at 10
    assert edited["window"] == [10, 10] and edited["hits"] == 0
    assert edited["dir"] != first["dir"]


def test_numba_alone_would_run_the_stale_kernel(tmp_path: Path) -> None:
    """The control: the same edit with a cache directory that ignores the source."""
    src = _copy(tmp_path)
    path = src / "gridbt" / "kernel" / "cache.py"
    text = path.read_text()
    assert "-{digest.hexdigest()[:16]}" in text
    path.write_text(text.replace("-{digest.hexdigest()[:16]}", ""))
    home = tmp_path / "home"
    assert _probe(src, home)["window"] == [5, 10]
    _swap_window_fields(src)
    stale = _probe(src, home)
    assert stale["window"] == [5, 10] and stale["hits"] == 1


def test_the_key_covers_every_kernel_and_what_it_imports() -> None:
    sources = {p.relative_to(ROOT).as_posix() for p in cache.kernel_sources()}
    kernels = {p.relative_to(ROOT).as_posix() for p in (ROOT / "kernel").glob("*nb.py")}
    assert kernels <= sources
    assert {"kernel/contract.py", "kernel/enums.py", "data/blackscholes_nb.py"} <= sources
    assert "strategy/spec.py" not in sources and "kernel/dispatch.py" not in sources
    # nor what the kernels do not compile: an edit to the data layer recompiles nothing
    assert not {"data/store.py", "data/pack.py", "data/default.py"} & sources


def _njit_imports(path: Path) -> set[str]:
    return {node.module or "" for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ImportFrom)
            and any(a.name == "njit" for a in node.names)}


def test_every_kernel_compiles_into_the_keyed_cache() -> None:
    for path in sorted((ROOT / "kernel").glob("*nb.py")):
        assert _njit_imports(path) == {"gridbt.kernel.cache"}, path.name


def test_numba_modules_outside_the_kernel_import_nothing_from_gridbt() -> None:
    """numba's own per-file cache key is sound only for such modules."""
    for path in sorted(ROOT.rglob("*.py")):
        if "kernel" in path.parts or "numba" not in _njit_imports(path):
            continue
        imports = [n.module for n in ast.walk(ast.parse(path.read_text()))
                   if isinstance(n, ast.ImportFrom) and n.module]
        assert not [m for m in imports if m.startswith("gridbt")], path
