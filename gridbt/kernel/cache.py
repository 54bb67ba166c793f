"""The on-disk cache of the compiled kernels, keyed by the source they are compiled from.

numba keys a cached function by its own file's modification time only. An edit to a module a
kernel imports constants or jitted functions from (`contract.py`, `enums.py`, `risk_nb.py`,
`gridbt/data/blackscholes_nb.py`, ...) would leave the old machine code in use, with the old
constants frozen into it. So every kernel is decorated with this module's `njit`: numba's
`njit` with `cache=True` and the cache directory `cache_dir()`, named after a hash of the
Python and numba versions and of the source of every kernel module (`*nb.py` in this package)
and of every gridbt module they import, transitively. Any edit selects a new, empty directory,
and the kernels compile afresh once. numba's global cache setting is changed only while a
kernel is being decorated, so other numba code is not affected.

`gridbt/data`'s numba modules import nothing from gridbt, so numba's own per-file key is sound
for them and they use `numba.njit` directly (tests/unit/kernel/test_cache.py checks both).
"""

from __future__ import annotations

import ast
import hashlib
import os
import platform
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import numba

__all__ = [
    "LOW_LEVEL_NUMBA",
    "PORTABLE_ENV",
    "cache_dir",
    "cache_key",
    "kernel_sources",
    "low_level_codegen",
    "njit",
]

# numba (major, minor) versions `lowlevel_nb`'s code generation is tested on
LOW_LEVEL_NUMBA = frozenset({(0, 68)})
PORTABLE_ENV = "GRIDBT_KERNEL_PORTABLE"  # "1": the portable forms on any numba

_F = TypeVar("_F", bound=Callable[..., Any])
_KERNEL_DIR = Path(__file__).resolve().parent
_PACKAGE_DIR = _KERNEL_DIR.parent  # the `gridbt` package


def _module_file(module: str) -> Path | None:
    """The source file of a gridbt module (a package's `__init__.py`), if it exists."""
    parts = module.split(".")[1:]
    base = _PACKAGE_DIR.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _gridbt_imports(path: Path) -> set[Path]:
    """The gridbt modules a source file imports (`from gridbt.x import y` counts `gridbt.x.y`
    when that is a module, else `gridbt.x`)."""
    found: set[Path] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "gridbt":
                continue
            modules = [f"{node.module}.{alias.name}" for alias in node.names]
            files = [f for f in map(_module_file, modules) if f is not None]
            found.update(files or filter(None, [_module_file(node.module)]))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "gridbt":
                    found.update(filter(None, [_module_file(alias.name)]))
    return found


@cache
def kernel_sources() -> tuple[Path, ...]:
    """Every kernel module and every gridbt module they import, transitively, sorted."""
    pending = sorted(_KERNEL_DIR.glob("*nb.py"))
    seen: set[Path] = set()
    while pending:
        path = pending.pop()
        if path not in seen:
            seen.add(path)
            pending.extend(_gridbt_imports(path) - seen)
    return tuple(sorted(seen))


def low_level_codegen() -> bool:
    """Whether the kernels use `lowlevel_nb`'s fast code generation: on a tested numba
    version, unless `GRIDBT_KERNEL_PORTABLE=1`."""
    if os.environ.get(PORTABLE_ENV, "") == "1":
        return False
    major, minor = (int(part) for part in numba.__version__.split(".")[:2])
    return (major, minor) in LOW_LEVEL_NUMBA


@cache
def cache_key() -> str:
    """`py<version>-numba<version>-<hash of kernel_sources()>`, `-portable` appended when the
    portable code generation is used (`low_level_codegen()`)."""
    digest = hashlib.sha256()
    for path in kernel_sources():
        digest.update(path.relative_to(_PACKAGE_DIR).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    python = platform.python_version()
    portable = "" if low_level_codegen() else "-portable"
    return f"py{python}-numba{numba.__version__}-{digest.hexdigest()[:16]}{portable}"


def cache_dir() -> Path:
    """Where the kernels' machine code is cached: `<gridbt home>/numba/<cache_key()>`."""
    from gridbt.data.home import gridbt_home  # a leaf module: the key stays the kernels' own

    return gridbt_home() / "numba" / cache_key()


def njit(*args: Any, **options: Any) -> Any:
    """`numba.njit` with `cache=True` into `cache_dir()`; used as `@njit` or `@njit(...)`."""
    options.setdefault("cache", True)

    def decorate(func: _F) -> _F:
        config: Any = numba.config
        previous = config.CACHE_DIR
        config.CACHE_DIR = str(cache_dir())  # read by numba when caching is enabled, below
        try:
            compiled: _F = numba.njit(**options)(func)
        finally:
            config.CACHE_DIR = previous
        return compiled

    if len(args) == 1 and callable(args[0]) and not options.keys() - {"cache"}:
        return decorate(args[0])
    if args:
        raise TypeError("njit takes keyword options only (explicit signatures are not used)")
    return decorate
