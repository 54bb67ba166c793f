"""Checks of the paths a command is given, made before any work: cheap, importing nothing heavy.

Each check raises `InputError` with a message that names the path (and the option or file
field it came from) and says what to do.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gridbt._typing import PathLike  # _typing imports numpy

__all__ = [
    "InputError",
    "brief",
    "check_chain_days",
    "check_chain_dir",
    "check_chain_target",
    "check_output_dir",
    "check_result_dir",
    "check_tracking_uri",
    "describe_yaml_error",
]

_MAKE_CHAIN = (
    "make one with `gridbt data import --format FORMAT FILE... --out {path}` or "
    "`gridbt data synth --out {path}`"
)


class InputError(ValueError):
    """A path given to a command that cannot be used; the message says which and why."""


def check_output_dir(path: PathLike, what: str = "--out") -> Path:
    """Return `path` if it is, or can be created as, a writable directory; else raise.

    Parameters
    ----------
    path
        The output directory; it need not exist yet.
    what
        Where the path came from (an option, or a file and its field), for the message.
    """
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise InputError(f"{_where(what, out)}: exists and is not a directory; choose another path")
    existing = next((p for p in (out, *out.parents) if p.exists()), Path(out.anchor or "."))
    if not existing.is_dir():
        raise InputError(f"{_where(what, out)}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{_where(what, out)}: {existing} is not writable")
    return out


def check_result_dir(path: PathLike, markers: tuple[str, ...], what: str = "--out") -> Path:
    """Return `path` if a sweep or a study may write its results there: absent, empty (hidden
    files aside), or holding one of `markers` (the directory of an earlier run, which the
    command refuses or continues with `--resume`). A directory that holds anything else, such
    as the working directory, is refused: a run's files never mix with others."""
    out = check_output_dir(path, what)
    if out.is_dir() and not any((out / marker).exists() for marker in markers):
        others = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
        if others:
            shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            here = " (the working directory)" if out.resolve() == Path.cwd().resolve() else ""
            raise InputError(
                f"{_where(what, out)}{here}: holds other files ({shown}) and no {markers[0]}, "
                "so it is not the result directory of an earlier run; results go into a "
                "directory of their own: choose a new or empty one")
    return out


def check_chain_target(path: PathLike, what: str = "--out") -> Path:
    """Return `path` if a chain may be written there: absent, an empty directory, or a gridbt
    chain (which is then replaced atomically). Anything else is refused, never overwritten."""
    out = check_output_dir(path, what)
    if out.is_dir() and not (out / "manifest.json").is_file() and any(out.iterdir()):
        raise InputError(
            f"{_where(what, out)}: exists, is not empty and is not a gridbt chain (no "
            "manifest.json); a chain replaces only an earlier chain: choose a new or empty "
            "directory"
        )
    return out


def check_chain_dir(path: PathLike, what: str = "--data") -> Path:
    """Return `path` if it is a chain directory (one holding `manifest.json`); else raise,
    saying how to make one."""
    chain = Path(path)
    make = _MAKE_CHAIN.format(path=chain)
    if not chain.exists():
        raise InputError(f"{_where(what, chain)}: the chain directory does not exist; {make}")
    if not chain.is_dir():
        raise InputError(f"{_where(what, chain)}: is a file, not a chain directory; {make}")
    if not (chain / "manifest.json").is_file():
        raise InputError(
            f"{_where(what, chain)}: not a gridbt chain directory (no manifest.json); {make}"
        )
    return chain


def check_chain_days(n_days: int, minimum: int, chain: object, needed_by: str) -> None:
    """Refuse a chain of `n_days` trading days when `needed_by` (a job file, and why) needs
    `minimum`: checked once the chain is loaded, before Ray starts."""
    if n_days < minimum:
        raise InputError(f"{chain}: the chain has {n_days} trading day{'s' * (n_days != 1)}; "
                         f"{needed_by} needs at least {minimum}: use a longer chain")


#: The first MLflow that refuses to open a file store (a directory of runs) unless
#: $MLFLOW_ALLOW_FILE_STORE is true; older ones open it
_FILE_STORE_REFUSED = (3, 13)


def check_tracking_uri(uri: str | None, what: str) -> None:
    """Refuse an MLflow tracking URI that MLflow would refuse only when the runs are logged,
    after the work: a file store (a directory, or a ``file:`` URI), which MLflow 3.13 and later
    open only with ``MLFLOW_ALLOW_FILE_STORE=true``. `uri` None: ``$MLFLOW_TRACKING_URI``'s
    (gridbt's default, SQLite in the output directory, when that is unset too); `what` names
    where `uri` came from (a file's field, an option)."""
    if uri is None:
        uri, what = os.environ.get("MLFLOW_TRACKING_URI") or None, "$MLFLOW_TRACKING_URI"
    if not uri or _scheme(uri) not in ("", "file") or not _refuses_file_store():
        return
    path = Path(uri.removeprefix("file://").removeprefix("file:") or ".")
    raise InputError(
        f"{what}: {uri!r} is an MLflow file store (a directory of runs), which MLflow "
        f"{_mlflow_version()} no longer opens: log to a database instead, e.g. "
        f"sqlite:///{path.absolute().parent / 'mlflow.db'} (`mlflow migrate-filestore` moves the "
        "runs already there), or set MLFLOW_ALLOW_FILE_STORE=true to keep the directory"
    )


def _scheme(uri: str) -> str:
    from urllib.parse import urlparse

    return urlparse(uri).scheme


def _mlflow_version() -> str:
    from importlib.metadata import version

    return version("mlflow")


def _refuses_file_store() -> bool:
    allowed = os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").strip().lower() in ("true", "1")
    if allowed:
        return False
    release = tuple(int(part) for part in _mlflow_version().split(".")[:2] if part.isdigit())
    return release >= _FILE_STORE_REFUSED


def describe_yaml_error(error: Exception) -> str:
    """A YAML syntax error as `invalid YAML at line L, column C: problem (context at line,
    column)`, counted from 1; PyYAML's own text when it has no position."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None)
    if mark is None or problem is None:
        return str(error)
    text = f"invalid YAML at {_position(mark)}: {problem}"
    context, context_mark = getattr(error, "context", None), getattr(error, "context_mark", None)
    if context:
        where = "" if context_mark is None else _position(context_mark)
        shown = where not in ("", _position(mark))
        text += f" ({context} at {where})" if shown else f" ({context})"
    return text


def brief(value: object, width: int = 60) -> str:
    """`repr(value)` if it has at most `width` characters, else its first `width` and `…`.

    Only as much of `value` is walked as is shown, so a value read from a file (a list of a
    million items, or a few aliases repeating one list) costs no more than a short one.
    """
    shown = _Brief(width + 1)
    shown.walk(value)
    text = "".join(shown.parts)
    return text if len(text) <= width else text[:width] + "…"


class _Brief:
    """The start of a value's repr, built until `room` characters are used up."""

    def __init__(self, room: int) -> None:
        self.parts: list[str] = []
        self.room = room

    def put(self, text: str) -> bool:
        """Add `text`; whether there is room left."""
        self.parts.append(text[: self.room])
        self.room -= len(text)
        return self.room > 0

    def walk(self, item: object) -> bool:
        if isinstance(item, dict):
            return self.items(item.items(), "{", "}", pairs=True)
        if isinstance(item, list):
            return self.items(item, "[", "]")
        if isinstance(item, tuple):
            return self.items(item, "(", ",)" if len(item) == 1 else ")")
        if isinstance(item, set) and item:
            return self.items(item, "{", "}")
        if isinstance(item, str | bytes) and len(item) > self.room:
            return self.put(repr(item[: self.room]))  # longer than the room: cut anyway
        return self.put(repr(item))

    def items(self, items: Any, opening: str, closing: str, pairs: bool = False) -> bool:
        if not self.put(opening):
            return False
        for i, item in enumerate(items):
            if i and not self.put(", "):
                return False
            if pairs:
                if not (self.walk(item[0]) and self.put(": ") and self.walk(item[1])):
                    return False
            elif not self.walk(item):
                return False
        return self.put(closing)


def _where(what: str, path: Path) -> str:
    return f"{what} {path}" if what else str(path)


def _position(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"
