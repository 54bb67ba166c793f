"""The status files of runs (`sweep.json`, `study.json`): how a run that ended badly says so.

A status file is a JSON object whose `status` is `running` while a run runs, then `done`,
`interrupted` or `failed` (with the reason in `error`). A failed or interrupted run must leave a
truthful status even on a full disk, where there is no room for the temporary copy an atomic
write needs: `write_status` then overwrites the file in place, over its old blocks. The module
imports nothing heavy: the watching process of `gridbt._supervise` uses it too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any

__all__ = ["made_from", "mark_failed", "now", "write_status"]


def made_from(job_file: str | os.PathLike[str], **facts: Any) -> dict[str, Any]:
    """What a sweep's or study's results (and the MLflow runs logged from them) were made
    from, as its status files record it: the job file's bytes, hashed, and `facts` (the
    counts of its results, the study's signature). A run finding equal facts has nothing to
    redo."""
    digest = hashlib.sha256(Path(job_file).read_bytes()).hexdigest()
    return {"file_sha256": digest, **facts}


def now() -> str:
    """The time a status is written: UTC, ISO 8601, to the second."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def write_status(path: Path, payload: dict[str, Any]) -> None:
    """Write the status `payload` to `path`: whole (a temporary copy, then a rename), else in
    place when the disk has no room for the copy. Raises OSError when neither works."""
    data = (json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n").encode()
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return
    except OSError:
        tmp.unlink(missing_ok=True)
        if not path.is_file():
            raise
    with open(path, "r+b") as f:
        f.write(data)
        f.truncate()


def mark_failed(path: Path, error: str) -> bool:
    """Mark the status file `path` failed with `error` if it still says running; whether it
    did."""
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(payload, dict) or payload.get("status") != "running":
        return False
    payload.update(status="failed", error=error, finished_at=now())
    try:
        write_status(path, payload)
    except OSError:
        return False
    return True
