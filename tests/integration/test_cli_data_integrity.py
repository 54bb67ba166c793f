"""A damaged chain is refused by every command, naming the file (exit 2), before anything is
computed or labelled with its fingerprint; a writer killed mid-write leaves nothing behind for
long. Real subprocesses of the CLI, real files damaged on disk, real `kill -9`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[2]
SHORT_PUT = REPO / "jobs" / "strategies" / "short_put_30d.yaml"
PART = "year=2014/part-0.parquet"
pytestmark = pytest.mark.integration


def gridbt(*args: str | Path, home: Path, cwd: Path | None = None,
           timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "GRIDBT_HOME": str(home),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run([sys.executable, "-m", "gridbt.cli", *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=cwd or REPO,
                          timeout=timeout)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gridbt-home")


@pytest.fixture(scope="module")
def clean_chain(home: Path) -> Path:
    out = home.parent / "clean-chain"
    r = gridbt("data", "synth", "--profile", "small", "--out", out, home=home)
    assert r.returncode == 0, r.stderr
    r = gridbt("data", "pack", out, home=home)  # a cache of the clean chain exists
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture()
def damaged(clean_chain: Path, tmp_path: Path) -> Path:
    """A copy of the clean chain with 4 KiB flipped inside the data of its `delta` column."""
    chain = Path(shutil.copytree(clean_chain, tmp_path / "damaged"))
    path = chain / PART
    group = pq.ParquetFile(path).metadata.row_group(0)
    names = [group.column(i).path_in_schema for i in range(group.num_columns)]
    column = group.column(names.index("delta"))
    start = column.dictionary_page_offset or column.data_page_offset
    middle = start + column.total_compressed_size // 2 - 2048
    with open(path, "r+b") as handle:
        handle.seek(middle)
        block = handle.read(4096)
        handle.seek(middle)
        handle.write(bytes(b ^ 0xFF for b in block))
    return chain


def sweep_file(tmp_path: Path, chain: Path) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: damaged
        strategy: {SHORT_PUT}
        data: {chain}
        mlflow: {{enabled: false}}
        grid:
          exit.dte: [null, 7]
        """))
    return path


def test_info_and_deep_validate_refuse_a_damaged_chain_naming_the_file(
    damaged: Path, home: Path
) -> None:
    message = f"gridbt: {damaged / PART}: its bytes hash to "
    r = gridbt("data", "info", damaged, home=home)
    assert r.returncode == 2 and r.stderr.startswith(message), r.stderr
    r = gridbt("data", "validate", damaged, home=home)
    assert r.returncode == 2 and r.stderr.startswith(message), r.stderr
    r = gridbt("data", "validate", damaged, "--deep", home=home)
    assert r.returncode == 2, r.stderr
    assert f"{PART:<34} FAILED  blake2b " in r.stdout
    assert r.stderr.startswith(f"gridbt: {damaged}: {PART}: blake2b ")


def test_deep_validate_passes_a_clean_chain_and_its_cache(clean_chain: Path, home: Path) -> None:
    r = gridbt("data", "validate", clean_chain, "--deep", home=home)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("manifest.json") and " ok " in lines[0]
    assert lines[1].startswith(PART) and " ok " in lines[1]
    assert lines[2].startswith("content") and " ok " in lines[2]
    assert lines[3].startswith("packed cache") and " ok " in lines[3]
    assert "crossed_quote" in r.stdout  # then the usual validation report


def test_backtest_and_sweep_refuse_a_damaged_chain_naming_the_file(
    damaged: Path, home: Path, tmp_path: Path
) -> None:
    r = gridbt("backtest", "--strategy", SHORT_PUT, "--data", damaged, "--out", tmp_path / "bt",
               home=home)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith(f"gridbt: {damaged / PART}: its bytes hash to "), r.stderr
    assert not (tmp_path / "bt" / "summary.json").exists()
    out = tmp_path / "sweep-out"
    r = gridbt("sweep", sweep_file(tmp_path, damaged), "--out", out, "--quiet", home=home,
               cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert f"gridbt: {damaged / PART}: its bytes hash to " in r.stderr, r.stderr
    assert not list(out.glob("results/*.parquet"))  # nothing computed, nothing labelled


def test_a_forged_manifest_is_refused_by_every_command(
    clean_chain: Path, home: Path, tmp_path: Path
) -> None:
    chain = Path(shutil.copytree(clean_chain, tmp_path / "forged"))
    manifest = chain / "manifest.json"
    payload = json.loads(manifest.read_text())
    manifest.write_text(json.dumps(payload | {"rows": 5}))
    for args in (["data", "info", chain], ["data", "pack", chain],
                 ["backtest", "--strategy", SHORT_PUT, "--data", chain, "--out", tmp_path / "b"]):
        r = gridbt(*args, home=home)
        assert r.returncode == 2, r.stderr
        assert r.stderr.startswith(f"gridbt: {manifest}, column 'rows': not the sum of "
                                   "rows_per_year"), r.stderr
    manifest.write_text(json.dumps(payload | {"fingerprint": "0" * 32}))
    for args in (["data", "info", chain], ["data", "pack", chain]):
        r = gridbt(*args, home=home)
        assert r.returncode == 2, r.stderr
        assert r.stderr.startswith(f"gridbt: {manifest}, column 'fingerprint': manifest.json "
                                   f"records fingerprint '{'0' * 32}', the chain's content "
                                   f"gives '{payload['fingerprint']}'"), r.stderr


def _temporaries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def test_a_synth_killed_mid_write_leaves_a_temporary_the_next_write_removes(
    home: Path, tmp_path: Path
) -> None:
    """`kill -9` of a real `gridbt data synth` while it writes the chain: its temporary stays
    (no process can remove it), names its writer, and the next write of the chain removes it."""
    out = tmp_path / "chain"
    env = os.environ | {"GRIDBT_HOME": str(home),
                        "PYTHONPATH": os.pathsep.join([str(REPO),
                                                       os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "gridbt.cli", "data", "synth", "--profile",
                             "small", "--out", str(out)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not _temporaries(tmp_path) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    left = _temporaries(tmp_path)
    assert proc.returncode == -signal.SIGKILL
    assert len(left) == 1 and left[0].startswith(".chain.") and left[0].endswith(".tmp")
    assert f".{proc.pid}@" in left[0]  # the writer is named: its death can be seen
    assert not out.exists()
    # a live writer's temporary, and one of another host, are never removed
    live = tmp_path / f".chain.{'a' * 32}.{os.getpid()}@{socket.gethostname()}.tmp"
    remote = tmp_path / f".chain.{'b' * 32}.1@another-host.example.tmp"
    live.mkdir()
    remote.mkdir()
    r = gridbt("data", "synth", "--profile", "small", "--out", out, home=home)
    assert r.returncode == 0, r.stderr
    assert _temporaries(tmp_path) == sorted([live.name, remote.name])
    assert (out / "manifest.json").is_file()


def test_an_older_chain_works_with_a_one_line_warning_until_fixed(
    clean_chain: Path, home: Path, tmp_path: Path
) -> None:
    """A chain written before file hashes were recorded: used, with one line saying what to
    run; `data validate --deep --fix` records them, and the line is gone."""
    chain = Path(shutil.copytree(clean_chain, tmp_path / "older"))
    manifest = chain / "manifest.json"
    written = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({k: v for k, v in written.items() if k != "files"}))
    warning = (f"gridbt:0: DataWarning: {chain}: written by an older gridbt: no hashes of its "
               "files are recorded, so damage to them is found only when the chain is packed "
               f"again; run `gridbt data validate {chain} --deep --fix` to record them\n")
    r = gridbt("data", "pack", chain, home=home)
    assert r.returncode == 0 and r.stderr == warning, r.stderr
    r = gridbt("data", "validate", chain, "--deep", "--fix", home=home)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "hashes recorded in manifest.json" in r.stdout and r.stderr == ""
    assert json.loads(manifest.read_text()) == written
    r = gridbt("data", "pack", chain, home=home)
    assert r.returncode == 0 and r.stderr == "", r.stderr
