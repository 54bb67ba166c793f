"""Start-up and end-to-end times of the real commands, as a user sees them, on the default chain.

Each run, in a fresh process each: `gridbt backtest` (wall time; the kernel's own time for the
same backtest is measured in this process, compiled beforehand), `gridbt sweep` of 18
combinations (the first result: the `first result` stage line's seconds since the command
started; its wall time; its MLflow logging, from the `logged to MLflow` stage line; the
seconds from its last line to its exit), `gridbt
sweep` of 100 combinations (wall time) and `gridbt.data.default.load_packed()` alone. Sweeps log
to MLflow as a user's would (a fresh SQLite store per run) and start their own local Ray. One
untimed sweep first, so that compiling the kernels (once per code version) is not counted.
Printed as medians over the runs:

    backtest wall: N.NN s (kernel N.NN s)
    sweep first result: N.NN s
    sweep 100 combos wall: N.NN s
    chain load: N.NN s
    sweep 18 combos wall: N.NN s (MLflow N.NN s; its exit after the last line N.NN s)
    backtest kernel: N.N ms

Usage: python benchmarks/startup.py [--runs 5] [--data DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GRIDBT = [sys.executable, "-m", "gridbt.cli"]
STRATEGY = REPO / "jobs/strategies/short_put_30d.yaml"
GRID_18 = """\
  structure.legs.0.select.target: [0.1, 0.2, 0.3]
  exit.profit_target: [0.25, 0.5, null]
  exit.stop_loss: [2.0, null]
"""
GRID_100 = """\
  structure.legs.0.select.target: {range: [0.05, 0.50, 0.05]}
  exit.profit_target: [0.25, 0.4, 0.5, 0.75, null]
  exit.stop_loss: [2.0, null]
"""
STAGE = re.compile(r"^\[\s*([\d.]+)s\] (.*)$", re.MULTILINE)


def sweep_file(folder: Path, chain: Path, grid: str, name: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: {name}
        strategy: {STRATEGY}
        data: {chain}
        keep_equity: 10
        mlflow: {{experiment: {name}, tracking_uri: "sqlite:///{folder}/mlflow.db"}}
        grid:
        """) + grid)
    return path


def gridbt(*args: str, cwd: Path) -> tuple[float, str, float]:
    """Run a gridbt command; its wall time, its output (stdout and stderr, where the stage
    lines are) and the seconds from its last line to its exit (what a user waits for the
    prompt once the command has said everything)."""
    started = time.perf_counter()
    proc = subprocess.Popen([*GRIDBT, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=cwd)
    assert proc.stdout is not None
    lines, last = [], started
    for line in proc.stdout:
        lines.append(line)
        last = time.perf_counter()
    proc.wait()
    wall = time.perf_counter() - started
    output = "".join(lines)
    if proc.returncode != 0:
        raise SystemExit(f"gridbt {' '.join(args)} failed ({proc.returncode}):\n"
                         f"{output[-3000:]}")
    return wall, output, wall - (last - started)


def stage_seconds(stderr: str, prefix: str) -> float:
    """Seconds since start on the first stage line starting with `prefix`."""
    for seconds, text in STAGE.findall(stderr):
        if text.startswith(prefix):
            return float(seconds)
    raise SystemExit(f"no stage line {prefix!r} in:\n{stderr[-3000:]}")


def logged_seconds(stderr: str) -> float:
    m = re.search(r"logged to MLflow in ([\d.]+) s", stderr)
    return float(m.group(1)) if m else float("nan")


def chain_load_seconds(chain: Path) -> float:
    """`load_packed(chain)` in a fresh process, the call alone."""
    code = ("import sys, time; from gridbt.data.default import load_packed; "
            "t = time.perf_counter(); load_packed(sys.argv[1]); "
            "print(time.perf_counter() - t)")
    r = subprocess.run([sys.executable, "-c", code, str(chain)], capture_output=True,
                       text=True, check=True)
    return float(r.stdout.strip().splitlines()[-1])


def kernel_seconds(chain: Path, repeat: int = 3) -> float:
    """One backtest in the numba kernel (compiled beforehand), best of `repeat`."""
    from gridbt.data.default import load_packed
    from gridbt.kernel.dispatch import run_params
    from gridbt.strategy.encode import encode_spec
    from gridbt.strategy.presets import load_spec

    packed = load_packed(chain)
    params = encode_spec(load_spec(STRATEGY), packed)
    run_params(packed, params)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run_params(packed, params)
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--data", type=Path, default=None,
                        help="chain directory (default: the default synthetic chain)")
    args = parser.parse_args()
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    sys.path.insert(0, str(REPO))
    from gridbt.data.default import ensure_synthetic_chain

    chain = args.data if args.data is not None else ensure_synthetic_chain()[0]
    print(f"chain {chain}, {args.runs} runs", file=sys.stderr)
    seconds: dict[str, list[float]] = {k: [] for k in (
        "backtest", "first", "sweep100", "load", "sweep18", "mlflow", "exit")}
    with tempfile.TemporaryDirectory(prefix="gridbt-startup-") as tmp:
        folder = Path(tmp)
        gridbt("backtest", "--strategy", str(STRATEGY), "--data", str(chain), "--out",
               str(folder / "warm-backtest"), cwd=folder)
        gridbt("sweep", str(sweep_file(folder, chain, GRID_18, "warm")), "--out",
               str(folder / "warm"), "--quiet", cwd=folder)
        kernel = kernel_seconds(chain)
        for run in range(args.runs):
            work = folder / f"run{run}"
            work.mkdir()
            wall, _, _ = gridbt("backtest", "--strategy", str(STRATEGY), "--data", str(chain),
                                "--out", str(work / "backtest"), cwd=work)
            seconds["backtest"].append(wall)
            wall, stderr, tail = gridbt("sweep", str(sweep_file(work, chain, GRID_18, "s18")),
                                        "--out", str(work / "s18"), cwd=work)
            seconds["sweep18"].append(wall)
            seconds["exit"].append(tail)
            seconds["first"].append(stage_seconds(stderr, "first result"))
            seconds["mlflow"].append(logged_seconds(stderr))
            wall, _, _ = gridbt("sweep", str(sweep_file(work, chain, GRID_100, "s100")),
                                "--out", str(work / "s100"), cwd=work)
            seconds["sweep100"].append(wall)
            seconds["load"].append(chain_load_seconds(chain))
            print(f"run {run + 1}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in seconds.items()),
                  file=sys.stderr)
    med = {k: statistics.median(v) for k, v in seconds.items()}
    print(f"backtest wall: {med['backtest']:.2f} s (kernel {kernel:.2f} s)")
    print(f"sweep first result: {med['first']:.2f} s")
    print(f"sweep 100 combos wall: {med['sweep100']:.2f} s")
    print(f"chain load: {med['load']:.2f} s")
    print(f"sweep 18 combos wall: {med['sweep18']:.2f} s (MLflow {med['mlflow']:.2f} s; its "
          f"exit after the last line {med['exit']:.2f} s)")
    print(f"backtest kernel: {1000 * kernel:.1f} ms")


if __name__ == "__main__":
    main()
