"""`gridbt sweep` and `gridbt optimize` as a user runs them: stage lines from the first second,
the summary before MLflow, and nothing from Ray or MLflow unless `--verbose` asks for it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gridbt.data.default import ensure_synthetic_chain
from gridbt.tracking.newstore import template_path

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
GRIDBT = str(Path(sys.executable).with_name("gridbt"))

# what Ray and MLflow print when they have something to say: Python log records with a level
# (Ray: "2026-01-01 10:00:00,000\tWARNING file.py:85 -- ...", MLflow: "2026/01/01 10:00:00 INFO
# mlflow..."), glog lines of Ray's C++ core ("[2026-01-01 10:00:00,000 E 123 123] file.cc:...")
# and Python warnings
NOISE = [
    re.compile(r"\b(WARNING|ERROR|CRITICAL)\b"),
    re.compile(r"^\[\d{4}-\d\d-\d\d [\d:,.]+ [IWEF] \d+ \d+\]", re.MULTILINE),
    re.compile(r"\bINFO\b.*\b(mlflow|alembic)"),
    re.compile(r"\w+Warning: "),
    re.compile(r"Traceback"),
]
SWEEP_STAGES = ["checking", "results go to", "loading the chain", "chain loaded in",
                "starting Ray (local)", "Ray ready in", "starting 2 actors", "actors started in",
                "actors ready in", "running 4 combinations", "first result:", "grid done",
                "finished in", "backtesting the kept combinations again",
                "2 kept combinations' files made in", "logging to MLflow",
                "logged to MLflow in"]


def run(tmp_path: Path, *args: str) -> tuple[int, str]:
    """Run `gridbt *args` in `tmp_path` with a local Ray: exit code and stdout+stderr merged
    in the order they were written."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("RAY_ADDRESS", "MLFLOW_TRACKING_URI", "MLFLOW_LOGGING_LEVEL")}
    r = subprocess.run([GRIDBT, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       cwd=tmp_path, env=env, timeout=600)
    return r.returncode, r.stdout.decode()  # not text=True: it would turn "\r" into "\n"


def noise(output: str) -> list[str]:
    return [line for line in output.splitlines() if any(p.search(line) for p in NOISE)]


def sweep_file(tmp_path: Path) -> Path:
    chain = ensure_synthetic_chain(profile="small")[0]
    path = tmp_path / "sweep.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: quiet_sweep
        strategy: {REPO / 'jobs/strategies/short_put_30d.yaml'}
        data: {chain}
        keep_equity: 2
        pbo_blocks: 4
        mlflow: {{experiment: quiet_sweep, tracking_uri: "sqlite:///{tmp_path}/mlflow.db"}}
        grid:
          structure.legs.0.select.target: [0.15, 0.3]
          exit.stop_loss: [2.0, null]
        """))
    return path


def stage_times(output: str) -> dict[str, float]:
    """The seconds each stage line shows, by its first words."""
    found = {}
    for line in output.splitlines():
        m = re.match(r"\[\s*([\d.]+)s\] (.*)", line)
        if m:
            found.setdefault(m.group(2), float(m.group(1)))
    return found


def test_a_sweep_says_what_it_does_and_nothing_else(tmp_path: Path) -> None:
    code, output = run(tmp_path, "sweep", str(sweep_file(tmp_path)), "--out",
                       str(tmp_path / "out"), "--actors", "2")
    assert code == 0, output[-3000:]
    assert noise(output) == [], output
    assert "\r" not in output  # through a pipe: no progress bar redrawn, only lines
    times = stage_times(output)
    for stage in SWEEP_STAGES:
        assert any(line.startswith(stage) or stage in line for line in times), (stage, output)
    assert list(times.values()) == sorted(times.values())
    first = next(iter(times.values()))
    assert first < 5, output  # the first line comes before Ray or the chain
    # the summary first, then MLflow (with its own stage lines), then where the runs are
    summary = output.index("sweep finished:")
    assert summary < output.index("logging to MLflow") < output.index("MLflow: experiment")
    assert "core_worker" not in output and "Token authentication" not in output


def test_verbose_shows_what_ray_and_mlflow_have_to_say(tmp_path: Path) -> None:
    template = template_path()  # without a kept template, MLflow migrates the new store itself
    if template is not None:
        template.unlink(missing_ok=True)
    code, output = run(tmp_path, "sweep", str(sweep_file(tmp_path)), "--out",
                       str(tmp_path / "out"), "--actors", "2", "--verbose")
    assert code == 0, output[-3000:]
    # a new SQLite store announces its tables (MLflow INFO); Ray's INFO lines show too
    assert "Creating initial MLflow database tables" in output, output
    assert re.search(r"\bINFO\b.*-- ", output), output
    if "RAY_AUTH_MODE" not in os.environ:  # Ray's default for a new local Ray, announced
        assert "Token authentication is enabled" in output, output
    assert "first result:" in output


def test_a_study_says_what_it_does_and_nothing_else(tmp_path: Path) -> None:
    chain = ensure_synthetic_chain(profile="small")[0]
    path = tmp_path / "study.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: quiet_study
        strategy: {REPO / 'jobs/strategies/short_put_30d.yaml'}
        data: {chain}
        trials: 6
        parallel: 3
        sampler: {{kind: random, seed: 1}}
        pruner: {{kind: none}}
        pbo_blocks: 4
        keep_equity: 2
        mlflow: {{experiment: quiet_study, tracking_uri: "sqlite:///{tmp_path}/mlflow.db"}}
        space:
          structure.legs.0.select.target: {{float: [0.1, 0.3], step: 0.05}}
          exit.stop_loss: {{categorical: [1.5, null]}}
        """))
    code, output = run(tmp_path, "optimize", str(path), "--out", str(tmp_path / "out"),
                       "--actors", "2")
    assert code == 0, output[-3000:]
    assert noise(output) == [], output
    assert "\r" not in output
    for stage in ["checking", "chain loaded in", "Ray ready in", "actors ready in",
                  "running 6 trials", "first result: trial", "trials done", "finished in",
                  "backtesting the kept trials again", "kept trials' files made in",
                  "logging to MLflow", "logged to MLflow in"]:
        assert stage in output, (stage, output)
    assert output.index("study quiet_study finished") < output.index("logging to MLflow") \
        < output.index("MLflow: experiment")
