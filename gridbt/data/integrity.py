"""`gridbt data validate DIR --deep`: a chain and its packed cache, every byte checked against
the hashes written with them, every file reported."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

from gridbt._typing import PathLike
from gridbt.data.errors import DataError, DataWarning
from gridbt.data.packcache import verify_packed
from gridbt.data.store import (
    LoadedChain,
    file_digest,
    read_manifest,
    record_file_hashes,
    verify_chain,
)

__all__ = ["IntegrityReport", "check_integrity"]


@dataclass
class IntegrityReport:
    """What `check_integrity` found: one line per thing checked, and the problems."""

    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: The chain as read and verified, when it passed.
    loaded: LoadedChain | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, what: str, problem: str | None, detail: str = "") -> None:
        if problem is None:
            self.lines.append(f"{what:<34} ok{'  ' + detail if detail else ''}")
        else:
            self.lines.append(f"{what:<34} FAILED  {problem}")
            self.problems.append(f"{what}: {problem}")


def check_integrity(chain_dir: PathLike, *, fix: bool = False) -> IntegrityReport:
    """Check every file of a chain against its manifest (size, rows, blake2b-256), every fact
    of the manifest against the content, and every byte of its packed cache, if any.

    With `fix`, a chain written before file hashes were recorded gets them (once its content
    is verified). A damaged packed cache is discarded (the next load rebuilds it).

    Raises
    ------
    DataError
        If the manifest itself cannot be read or contradicts itself.
    """
    report = IntegrityReport()
    manifest = read_manifest(chain_dir)
    report.add("manifest.json", None, f"schema {manifest.schema_version}, {manifest.rows:,} "
               f"rows, {manifest.days:,} days, fingerprint {manifest.fingerprint}")
    if manifest.files is None and fix:
        manifest = record_file_hashes(chain_dir)
        report.lines.append(f"{'files':<34} hashes recorded in manifest.json")
    elif manifest.files is None:
        report.lines.append(f"{'files':<34} no hashes recorded (written by an older gridbt): "
                            "only the content is checked; --fix records them")
    for entry in manifest.files or ():
        path = Path(chain_dir) / entry.path
        try:
            size = path.stat().st_size
            digest = file_digest(path) if size == entry.bytes else ""
        except OSError as exc:
            report.add(entry.path, f"unreadable: {exc}")
            continue
        if size != entry.bytes:
            report.add(entry.path, f"{size:,} bytes, manifest.json records {entry.bytes:,}")
        elif digest != entry.blake2b:
            report.add(entry.path, f"blake2b {digest[:16]}…, manifest.json records "
                       f"{entry.blake2b[:16]}…: damaged, truncated or replaced")
        else:
            report.add(entry.path, None, f"{entry.bytes:,} bytes, {entry.rows:,} rows, "
                       f"blake2b {entry.blake2b[:16]}…")
    if report.ok:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DataWarning)  # said above, once
                report.loaded = verify_chain(chain_dir)
        except DataError as exc:
            report.add("content", str(exc))
        else:
            report.add("content", None, "rows per file, fingerprint, days, dates and "
                       "underlyings as recorded")
    target, state = verify_packed(chain_dir, manifest)
    report.lines.append(f"{'packed cache':<34} {state}  ({target})")
    return report
