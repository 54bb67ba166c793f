"""`gridbt entries FILE` as a user runs it: a real process on the small chain prints the table
and writes the Parquet files; a bad bucket edge exits 2 with the file, field and value named,
before any kernel is imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def gridbt(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run([sys.executable, "-X", "importtime", "-m", "gridbt.cli",
                           *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=300)


def _file(tmp_path: Path, chain: Path, **changes: object) -> Path:
    payload: dict[str, object] = {
        "name": "small_short_put",
        "strategy": str(REPO / "jobs" / "strategies" / "short_put_30d.yaml"),
        "data": str(chain),
        "buckets": {"dte": [30, 45], "delta": [0.1, 0.2, 0.3, 0.5]},
        "exits": [{}, {"profit_target": 0.5, "stop_loss": 2.0}],
    }
    payload.update(changes)
    path = tmp_path / "entries.yaml"
    path.write_text(yaml.safe_dump(payload))
    return path


def test_entries_prints_the_table_and_writes_parquet(tmp_path: Path, chain: Path) -> None:
    out = tmp_path / "out"
    r = gridbt("entries", _file(tmp_path, chain), "--out", out, "--threads", "2", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "small_short_put:" in r.stdout and "candidate entries over 252 days" in r.stdout
    assert "exit rule" in r.stdout and "pt=0.5 sl=2" in r.stdout and "[45,60]" in r.stdout
    table = pq.read_table(out / "entries.parquet")
    assert table.num_rows == 2 * 2 * 4  # rules x DTE buckets (the last kept) x delta buckets
    assert {"count", "mean", "std", "p25", "median", "p75", "win_rate", "risk_mean",
            "risk_median"} <= set(table.column_names)
    candidates = pq.read_table(out / "candidates.parquet")
    assert candidates.num_rows % 2 == 0 and candidates.num_rows > 0
    bucketed = sum(c for c, i in zip(table.column("count").to_pylist(),
                                     table.column("exit_index").to_pylist(), strict=True)
                   if i == 0)
    assert 0 < bucketed <= candidates.num_rows // 2
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary left


def test_a_bad_bucket_edge_exits_2_before_any_kernel(tmp_path: Path, chain: Path) -> None:
    path = _file(tmp_path, chain, buckets={"dte": [30, 45, 40], "delta": [0.1]})
    r = gridbt("entries", path, "--out", tmp_path / "out", cwd=tmp_path)
    assert r.returncode == 2
    message = "\n".join(line for line in r.stderr.splitlines()
                        if not line.startswith("import time:"))
    assert f"{path}: invalid entries file" in message
    assert "buckets.dte[2]: 40 does not exceed 45" in message
    imported = {line.rpartition("|")[2].strip().partition(".")[0]
                for line in r.stderr.splitlines() if line.startswith("import time:")}
    heavy = {"matplotlib", "ray", "mlflow", "optuna", "pandas", "numba", "pyarrow"}
    assert imported.isdisjoint(heavy), sorted(imported & heavy)
    assert not (tmp_path / "out").exists()


def test_a_missing_chain_or_no_thread_exits_2(tmp_path: Path, chain: Path) -> None:
    r = gridbt("entries", _file(tmp_path, chain), "--data", tmp_path / "nowhere", cwd=tmp_path)
    assert r.returncode == 2 and "--data" in r.stderr
    r = gridbt("entries", _file(tmp_path, chain), "--threads", "0", cwd=tmp_path)
    assert r.returncode == 2 and "--threads: 0 is not a positive number" in r.stderr
