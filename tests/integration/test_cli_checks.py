"""`gridbt` checks its inputs before any work, cheaply: real subprocesses of the CLI, each under
`python -X importtime`, so a test sees every module the run imported.

A bad input exits 2 with a message naming it, before the chain is read: the GRIDBT_HOME stays
empty (no default chain is built), and a `--data` or sweep `data:` directory is a trap (a
manifest without partitions) that would fail differently if it were read.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gridbt.data.default import ensure_synthetic_chain

REPO = Path(__file__).resolve().parents[2]
SHORT_PUT = REPO / "jobs" / "strategies" / "short_put_30d.yaml"
#: What only the commands that use it import, once their inputs are checked.
HEAVY = frozenset({"matplotlib", "ray", "mlflow", "optuna", "pandas", "numba", "pyarrow"})
#: Loading a sweep or study file imports gridbt.runtime, whose package imports the actor
#: module, which imports the packed chain (numba) and gridbt.data (pyarrow).
LOADED_BY_JOB_FILES = frozenset({"numba", "pyarrow"})
pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str  # without the import-time lines
    imported: frozenset[str]  # top-level packages


def gridbt(*args: str | Path, home: Path, cwd: Path | None = None) -> Run:
    env = os.environ | {
        "GRIDBT_HOME": str(home),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    r = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gridbt.cli", *map(str, args)],
        capture_output=True, text=True, env=env, cwd=cwd or REPO, timeout=120,
    )
    lines = r.stderr.splitlines()
    imported = frozenset(line.rpartition("|")[2].strip().partition(".")[0]
                         for line in lines if line.startswith("import time:"))
    message = "\n".join(line for line in lines if not line.startswith("import time:"))
    return Run(r.returncode, r.stdout, message, imported)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A GRIDBT_HOME that must stay absent: nothing is built or cached for a bad input."""
    return tmp_path / "gridbt-home"


@pytest.fixture
def trap_chain(tmp_path: Path) -> Path:
    """A chain directory that passes the cheap check (it has a manifest) but whose reading
    fails: a run that reads it does not end with the message a test expects."""
    chain = tmp_path / "trap-chain"
    chain.mkdir()
    shutil.copy(ensure_synthetic_chain(profile="small")[0] / "manifest.json", chain)
    return chain


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "results.txt"
    path.write_text("not a directory\n")
    return path


def job_file(tmp_path: Path, kind: str, data: Path | None, body: str = "") -> Path:
    """A small sweep or study file over the short put, on the chain `data`."""
    space = ("grid:\n  exit.dte: [null, 7]\n" if kind == "sweep" else
             "space:\n  exit.profit_target: {float: [0.25, 0.9], step: 0.05}\ntrials: 4\n")
    path = tmp_path / f"{kind}.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: checks
        strategy: {SHORT_PUT}
        data: {"null" if data is None else data}
        mlflow: {{enabled: false}}
        """) + (body or space))
    return path


def assert_untouched(home: Path, *paths: Path) -> None:
    assert not home.exists()  # no default chain built, no kernel compiled
    for path in paths:
        assert not path.exists()


@pytest.mark.parametrize(
    "args",
    [["--help"], ["--version"], ["backtest", "--help"], ["sweep", "--help"],
     ["optimize", "--help"], ["data", "--help"], ["data", "import", "--help"],
     ["serve", "--help"], ["entries", "--help"]],
    ids=lambda args: " ".join(args),
)
def test_help_and_version_import_nothing_heavy(args: list[str], home: Path) -> None:
    r = gridbt(*args, home=home)
    assert r.returncode == 0, r.stderr
    assert "gridbt" in r.imported  # the import-time trace is read
    assert r.imported.isdisjoint(HEAVY), sorted(r.imported & HEAVY)
    assert_untouched(home)


def test_version_is_printed(home: Path) -> None:
    import gridbt as package

    assert gridbt("--version", home=home).stdout.strip() == f"gridbt {package.__version__}"


def test_backtest_help_lists_the_presets(home: Path) -> None:
    from gridbt.strategy.presets import PRESETS

    r = gridbt("backtest", "--help", home=home)
    assert "presets (--strategy NAME" in r.stdout
    listed = [line.split()[0] for line in r.stdout.split("presets (")[1].splitlines()[1:]
              if line.startswith("  ") and not line.startswith("   ")]
    assert listed == sorted(PRESETS)


def test_every_out_option_has_help() -> None:
    from gridbt.cli import build_parser

    def parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
        yield parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    yield from parsers(sub)

    outs = {parser.prog: action.help for parser in parsers(build_parser())
            for action in parser._actions if "--out" in action.option_strings}
    assert set(outs) == {"gridbt backtest", "gridbt sweep", "gridbt optimize", "gridbt demo",
                         "gridbt data import", "gridbt data synth", "gridbt entries"}
    assert all(outs.values()), outs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\nstructure: [1, 2\n",
         "cannot read strategy file: invalid YAML at line 3, column 1: expected ',' or ']', "
         "but got '<stream end>' (while parsing a flow sequence at line 2, column 12)"),
        ("name: x\nexit:\n  stop_loss: 2\n profit_target: 0.5\n",
         "cannot read strategy file: invalid YAML at line 4, column 2: expected <block end>"),
        ("structure:\n  legs: [{right: P, side: sell, select: {by: delta, target: 1.4}}]\n",
         "invalid strategy spec"),
    ],
    ids=["unclosed list", "bad indent", "invalid spec"],
)
def test_a_bad_strategy_file_is_named_before_anything_heavy(
    tmp_path: Path, home: Path, text: str, expected: str
) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(text)
    out = tmp_path / "out"
    r = gridbt("backtest", "--strategy", spec, "--out", out, home=home)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith(f"gridbt: {spec}: {expected}")
    assert "Traceback" not in r.stderr
    assert r.imported.isdisjoint(HEAVY), sorted(r.imported & HEAVY)
    assert_untouched(home, out)


@pytest.mark.parametrize("kind", ["sweep", "study", "sweep's strategy"])
def test_a_yaml_error_in_a_job_file_names_the_file_line_and_column(
    tmp_path: Path, home: Path, trap_chain: Path, kind: str
) -> None:
    broken = "name: broken\nexit: {stop_loss: [1.0, 2.0}\n"
    if kind == "sweep's strategy":
        strategy = tmp_path / "strategy.yaml"
        strategy.write_text(broken)
        path = job_file(tmp_path, "sweep", trap_chain)
        path.write_text(path.read_text().replace(str(SHORT_PUT), str(strategy)))
        named, what, command = strategy, "strategy file", "sweep"
    else:
        path = named = tmp_path / f"{kind}.yaml"
        path.write_text(broken)
        what, command = f"{kind} file", "sweep" if kind == "sweep" else "optimize"
    r = gridbt(command, path, "--out", tmp_path / "out", home=home)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith(
        f"gridbt: {named}: cannot read {what}: invalid YAML at line 2, column 28: expected "
        "',' or ']', but got '}' (while parsing a flow sequence at line 2, column 19)")
    assert r.imported.isdisjoint(HEAVY - LOADED_BY_JOB_FILES), sorted(r.imported & HEAVY)
    assert_untouched(home, tmp_path / "out")


def test_a_misspelt_preset_gets_the_closest_name(tmp_path: Path, home: Path) -> None:
    r = gridbt("backtest", "--strategy", "short_puts", "--out", tmp_path / "out", home=home)
    assert r.returncode == 2
    assert r.stderr.startswith(
        "gridbt: strategy 'short_puts' is neither a file nor a preset; did you mean "
        "'short_put'?\n  presets: butterfly, calendar,")
    assert r.imported.isdisjoint(HEAVY), sorted(r.imported & HEAVY)
    assert_untouched(home, tmp_path / "out")


@pytest.mark.parametrize("data", [False, True], ids=["default chain", "--data"])
def test_backtest_out_that_is_a_file_fails_before_the_chain_is_read(
    tmp_path: Path, home: Path, trap_chain: Path, a_file: Path, data: bool
) -> None:
    r = gridbt("backtest", "--strategy", SHORT_PUT, "--out", a_file,
               *(["--data", trap_chain] if data else []), home=home)
    assert r.returncode == 2, r.stderr
    assert r.stderr == (f"gridbt: --out {a_file}: exists and is not a directory; choose "
                        "another path")
    assert r.imported.isdisjoint(HEAVY), sorted(r.imported & HEAVY)
    assert a_file.read_text() == "not a directory\n"
    assert_untouched(home)


def test_backtest_out_under_a_file_is_refused(tmp_path: Path, home: Path, a_file: Path) -> None:
    r = gridbt("backtest", "--strategy", "short_put", "--out", a_file / "bt", home=home)
    assert r.returncode == 2
    assert r.stderr == f"gridbt: --out {a_file / 'bt'}: {a_file} is not a directory"
    assert_untouched(home)


def test_a_missing_data_directory_says_how_to_make_one(tmp_path: Path, home: Path) -> None:
    missing = tmp_path / "no-chain"
    r = gridbt("backtest", "--strategy", "short_put", "--data", missing,
               "--out", tmp_path / "out", home=home)
    assert r.returncode == 2
    assert r.stderr.startswith(f"gridbt: --data {missing}: the chain directory does not exist")
    assert f"gridbt data import --format FORMAT FILE... --out {missing}" in r.stderr
    assert f"gridbt data synth --out {missing}" in r.stderr
    assert r.imported.isdisjoint(HEAVY), sorted(r.imported & HEAVY)
    assert_untouched(home, missing, tmp_path / "out")


def test_a_data_directory_without_a_chain_is_named(tmp_path: Path, home: Path) -> None:
    r = gridbt("backtest", "--strategy", "short_put", "--data", tmp_path,
               "--out", tmp_path / "out", home=home)
    assert r.returncode == 2
    assert r.stderr.startswith(
        f"gridbt: --data {tmp_path}: not a gridbt chain directory (no manifest.json); make one")
    assert_untouched(home, tmp_path / "out")


@pytest.mark.parametrize("kind", ["sweep", "study"])
def test_sweep_and_study_out_that_is_a_file_fail_before_the_chain_is_read(
    tmp_path: Path, home: Path, trap_chain: Path, a_file: Path, kind: str
) -> None:
    path = job_file(tmp_path, kind, trap_chain)
    command = "sweep" if kind == "sweep" else "optimize"
    r = gridbt(command, path, "--out", a_file, home=home)
    assert r.returncode == 2, r.stderr
    assert r.stderr == (f"gridbt: --out {a_file}: exists and is not a directory; choose "
                        "another path")
    assert r.imported.isdisjoint(HEAVY - LOADED_BY_JOB_FILES), sorted(r.imported & HEAVY)
    # the file's own `out:` is checked the same way, and named by the file
    path.write_text(path.read_text() + f"out: {a_file}\n")
    r = gridbt(command, path, home=home, cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.startswith(f"gridbt: {path}: out {a_file}: exists and is not a directory")
    assert_untouched(home)


@pytest.mark.parametrize("kind", ["sweep", "study"])
def test_a_missing_chain_of_a_job_file_is_named_by_the_file(
    tmp_path: Path, home: Path, kind: str
) -> None:
    missing = tmp_path / "no-chain"
    path = job_file(tmp_path, kind, missing)
    r = gridbt("sweep" if kind == "sweep" else "optimize", path, "--out", tmp_path / "out",
               home=home)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith(
        f"gridbt: {path}: data {missing}: the chain directory does not exist; make one with "
        f"`gridbt data import")
    assert "ray" not in r.imported
    assert_untouched(home, tmp_path / "out")


def test_demo_out_that_is_a_file_fails_before_the_default_chain_is_built(
    home: Path, a_file: Path
) -> None:
    r = gridbt("demo", "--out", a_file, home=home)
    assert r.returncode == 2
    assert r.stderr == (f"gridbt: --out {a_file}: exists and is not a directory; choose "
                        "another path")
    assert r.imported.isdisjoint(HEAVY), sorted(r.imported & HEAVY)
    assert_untouched(home)


@pytest.mark.parametrize(
    "args",
    [["data", "synth", "--profile", "small", "--out", "{file}/chain"],
     ["data", "import", "--format", "cboe", str(REPO / "tests" / "fixtures" / "vendors" / "cboe"
                                                / "UnderlyingOptionsEODCalcs_2024-01-05.csv"),
      "--out", "{file}"]],
    ids=["synth", "import"],
)
def test_data_commands_check_their_out_first(
    home: Path, a_file: Path, args: list[str]
) -> None:
    r = gridbt(*(arg.format(file=a_file) for arg in args), home=home)
    assert r.returncode == 2
    assert r.stderr.startswith(f"gridbt: --out {a_file}")
    assert r.imported.isdisjoint(HEAVY), sorted(r.imported & HEAVY)
    assert_untouched(home)


@pytest.mark.parametrize("command", ["info", "validate"])
def test_data_commands_name_a_missing_chain(tmp_path: Path, home: Path, command: str) -> None:
    r = gridbt("data", command, tmp_path / "nowhere", home=home)
    assert r.returncode == 2
    assert r.stderr.startswith(
        f"gridbt: {tmp_path / 'nowhere'}: the chain directory does not exist; make one with")
    assert r.imported.isdisjoint(HEAVY), sorted(r.imported & HEAVY)


ORATS = REPO / "tests" / "fixtures" / "vendors" / "orats" / "ORATS_SMV_Strikes_20240105.csv"


@pytest.mark.parametrize("args", [
    ["data", "import", "--format", "orats", str(ORATS), "--out", "{out}"],
    ["data", "synth", "--profile", "small", "--out", "{out}"],
])
def test_a_chain_is_never_written_over_a_directory_that_is_not_a_chain(
    tmp_path: Path, home: Path, args: list[str]
) -> None:
    out = tmp_path / "mydir"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    r = gridbt(*(arg.format(out=out) for arg in args), home=home)
    assert r.returncode == 2
    assert r.stderr.startswith(f"gridbt: --out {out}: exists, is not empty and is not a gridbt "
                               "chain (no manifest.json)")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "precious"
    assert r.imported.isdisjoint(HEAVY), sorted(r.imported & HEAVY)


# ----------------------------------------------------------------------------- bounded input
def measured(*args: str | Path, home: Path, cwd: Path | None = None,
             timeout: float = 30.0) -> tuple[Run, float, float]:
    """`gridbt(...)`, with the seconds it took and its peak resident memory in MB (the largest
    of its processes'); killed after `timeout` s (the unbounded cases took minutes and GB)."""
    env = os.environ | {
        "GRIDBT_HOME": str(home),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r") as peak:
        started = time.perf_counter()
        # started by a small Python process, not forked from this one: a child's peak RSS
        # (Linux keeps it across exec) would otherwise start at this test process's own size
        proc = subprocess.Popen([sys.executable, "-c", _PEAK_OF, peak.name, str(timeout),
                                 sys.executable, "-m", "gridbt.cli", *map(str, args)],
                                stdout=out, stderr=err, env=env, cwd=cwd or REPO)
        proc.wait()
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        run = Run(proc.returncode, out.read().decode(), err.read().decode(), frozenset())
        text = peak.read().strip()
    return run, seconds, int(text) / 1024 if text else float("inf")


#: runs argv[3:] in a session of its own, killed (with all it started) after argv[2] seconds;
#: writes its peak resident KB (its own or a descendant's) to argv[1], exits with its code
_PEAK_OF = """
import os, resource, signal, subprocess, sys
proc = subprocess.Popen(sys.argv[3:], start_new_session=True)
try:
    code = proc.wait(timeout=float(sys.argv[2]))
except subprocess.TimeoutExpired:
    os.killpg(proc.pid, signal.SIGKILL)
    code = proc.wait()
with open(sys.argv[1], "w") as f:
    f.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code if code >= 0 else 128 - code)
"""


def laughs(levels: int = 9) -> str:
    """A YAML flow list whose last item, aliases expanded, holds 9**levels strings."""
    items = ['&l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    items += [f"&l{k} [{', '.join([f'*l{k - 1}'] * 9)}]" for k in range(1, levels)]
    return f"[{', '.join(items)}]"


@pytest.mark.parametrize(("where", "field"), [
    ("unknown key", "laughs[5][0]"), ("description", "description[5][0]"),
    ("constraints", "constraints[5][0]"), ("mlflow.experiment", "mlflow.experiment[5][0]"),
    ("strategy file", "laughs[5][0]"), ("study file", "mlflow.experiment[5][0]"),
])
def test_an_alias_bomb_is_refused_fast_in_bounded_memory(
    tmp_path: Path, home: Path, trap_chain: Path, where: str, field: str
) -> None:
    kind = "study" if where == "study file" else "sweep"
    command = "sweep" if kind == "sweep" else "optimize"
    path = named = job_file(tmp_path, kind, trap_chain)
    text = path.read_text()
    path.write_text(text + "laughs: lol\n")  # the same refusal, without the bomb
    baseline = measured(command, path, "--out", tmp_path / "out", home=home)
    assert baseline[0].stderr.startswith(f"gridbt: {path}: invalid {kind} file\n  laughs: "
                                         "unknown key")
    bomb = laughs()
    if where == "strategy file":
        named = tmp_path / "strategy.yaml"
        named.write_text(SHORT_PUT.read_text() + f"laughs: {bomb}\n")
        path.write_text(text.replace(str(SHORT_PUT), str(named)))
    elif where == "unknown key":
        path.write_text(text + f"laughs: {bomb}\n")
    elif where == "description":
        path.write_text(text + f"description: {bomb}\n")
    elif where == "constraints":
        path.write_text(text + f"constraints: {bomb}\n")
    else:
        path.write_text(text.replace("mlflow: {enabled: false}",
                                     f"mlflow: {{enabled: false, experiment: {bomb}}}"))
    run, seconds, peak = measured(command, path, "--out", tmp_path / "out", home=home)
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith(
        f"gridbt: {named}: cannot read {'strategy' if named != path else kind} file: {field}: "
        "alias *l4 at line "), run.stderr
    assert "takes the file past 110,000 values, the most gridbt reads" in run.stderr
    assert seconds < max(10.0, 3 * baseline[1])
    assert peak < baseline[2] + 200, (peak, baseline[2])
    assert_untouched(home, tmp_path / "out")


@pytest.mark.parametrize(("axis", "message"), [
    ("{range: [0.10, 0.40, 1.0e-12]}",
     "range [0.1, 0.4, 1e-12] makes 300,000,000,001 values, more than the 100,000 an axis may "
     "have; use a larger step"),
    ("{linspace: [0.1, 0.4, 1000000000000]}",
     "linspace [0.1, 0.4, 1000000000000] makes 1,000,000,000,000 values, more than the 100,000 "
     "an axis may have; use a smaller count"),
], ids=["range", "linspace"])
def test_an_axis_with_too_many_values_is_refused_with_its_count(
    tmp_path: Path, home: Path, trap_chain: Path, axis: str, message: str
) -> None:
    path = job_file(tmp_path, "sweep", trap_chain,
                    f"grid:\n  structure.legs.0.select.target: {axis}\n")
    run, seconds, peak = measured("sweep", path, "--out", tmp_path / "out", home=home)
    assert run.returncode == 2, run.stderr
    assert run.stderr == (f"gridbt: {path}: invalid sweep file\n  grid: "
                          f"structure.legs.0.select.target: {message}\n")
    assert seconds < 10.0
    assert peak < 500
    assert_untouched(home, tmp_path / "out")


def test_a_huge_product_grid_is_refused_fast_naming_its_count_and_the_limit(
    tmp_path: Path, home: Path, trap_chain: Path
) -> None:
    path = job_file(tmp_path, "sweep", trap_chain, textwrap.dedent("""\
        grid:
          structure.legs.0.select.target: {linspace: [0.10, 0.40, 10000]}
          exit.profit_target: {linspace: [0.1, 0.9, 10000]}
          exit.stop_loss: {linspace: [1.0, 5.0, 10000]}
        """))
    run, seconds, peak = measured("sweep", path, "--out", tmp_path / "out", home=home)
    assert run.returncode == 2, run.stderr
    assert run.stderr == (
        f"gridbt: {path}: invalid sweep file\n  grid: 1,000,000,000,000 combinations "
        "(10,000 × 10,000 × 10,000), more than max_combinations 100,000,000: roughly 32 "
        "CPU-years at ~1,000 combinations/s per CPU. Shrink the grid, or raise the limit in the "
        "sweep file (max_combinations: 1000000000000) to run it anyway\n")
    assert seconds < 10.0
    assert peak < 500
    assert_untouched(home, tmp_path / "out")


def test_a_grid_above_a_lowered_limit_is_refused_and_passes_once_raised(
    tmp_path: Path, home: Path, trap_chain: Path, a_file: Path
) -> None:
    grid = "grid:\n  exit.dte: [null, 7, 14]\n  exit.stop_loss: [1.0, 2.0]\n"
    path = job_file(tmp_path, "sweep", trap_chain, grid + "max_combinations: 5\n")
    r = gridbt("sweep", path, "--out", tmp_path / "out", home=home)
    assert r.returncode == 2
    assert r.stderr.startswith(f"gridbt: {path}: invalid sweep file\n  grid: 6 combinations "
                               "(3 × 2), more than max_combinations 5: ")
    assert r.stderr.endswith("raise the limit in the sweep file (max_combinations: 6) to run it "
                             "anyway")
    path.write_text(path.read_text().replace("max_combinations: 5", "max_combinations: 6"))
    r = gridbt("sweep", path, "--out", a_file, home=home)  # past the grid, to the next check
    assert r.returncode == 2
    assert r.stderr == (f"gridbt: --out {a_file}: exists and is not a directory; choose "
                        "another path")
    assert r.imported.isdisjoint(HEAVY - LOADED_BY_JOB_FILES), sorted(r.imported & HEAVY)
    assert_untouched(home)


@pytest.mark.parametrize("kind", ["sweep", "study"])
@pytest.mark.parametrize("actors", [-1, 0])
def test_actors_on_the_command_line_are_refused_as_in_the_file(
    tmp_path: Path, home: Path, trap_chain: Path, kind: str, actors: int
) -> None:
    command = "sweep" if kind == "sweep" else "optimize"
    path = job_file(tmp_path, kind, trap_chain)
    r = gridbt(command, path, "--actors", str(actors), "--out", tmp_path / "out", home=home)
    assert r.returncode == 2, r.stderr
    rule = f"Input should be greater than or equal to 1 (got {actors})"
    assert r.stderr == f"gridbt: --actors: {rule}"
    assert "ray" not in r.imported
    path.write_text(path.read_text() + f"ray: {{actors: {actors}}}\n")
    r = gridbt(command, path, "--out", tmp_path / "out", home=home)
    assert r.returncode == 2
    assert r.stderr == f"gridbt: {path}: invalid {kind} file\n  ray.actors: {rule}"
    assert_untouched(home, tmp_path / "out")


@pytest.mark.parametrize("kind", ["sweep", "study"])
@pytest.mark.parametrize("name", ["../escape", "a/b", ".."])
def test_a_job_name_that_is_a_path_is_refused(
    tmp_path: Path, home: Path, kind: str, name: str
) -> None:
    path = job_file(tmp_path, kind, None)
    path.write_text(path.read_text().replace("name: checks", f"name: '{name}'"))
    r = gridbt("sweep" if kind == "sweep" else "optimize", path, home=home, cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.startswith(f"gridbt: {path}: invalid {kind} file\n  name: '{name}' is not a "
                               "name: use letters, digits, '_', '-' and '.', starting with a "
                               "letter, a digit or '_'")
    assert r.imported.isdisjoint(HEAVY - LOADED_BY_JOB_FILES), sorted(r.imported & HEAVY)
    assert_untouched(home)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{kind}.yaml"]


@pytest.mark.parametrize("kind", ["sweep", "study"])
@pytest.mark.parametrize("out", ["option", "file"])
def test_the_start_lines_name_the_resolved_output_directory(
    tmp_path: Path, home: Path, trap_chain: Path, kind: str, out: str
) -> None:
    path = job_file(tmp_path, kind, trap_chain)
    work = tmp_path / "work"
    work.mkdir()
    if out == "option":
        args: list[str | Path] = ["--out", "../results/here"]
    else:
        path.write_text(path.read_text() + "out: ../results/there\n")
        args = []
    r = gridbt("sweep" if kind == "sweep" else "optimize", path, *args, home=home, cwd=work)
    assert r.returncode == 2  # the trap chain, once the start lines are out
    lines = r.stderr.splitlines()
    where = tmp_path / "results" / ("here" if out == "option" else "there")
    assert lines[0].endswith(f"] checking {path}")
    assert lines[1].endswith(f"] results go to {where}")
    assert f"loading the chain {trap_chain}" in r.stderr


def test_a_large_grid_is_announced_with_a_rough_time_before_any_work(
    tmp_path: Path, home: Path, trap_chain: Path
) -> None:
    path = job_file(tmp_path, "sweep", trap_chain, textwrap.dedent("""\
        grid:
          exit.profit_target: {linspace: [0.1, 0.9, 40]}
          exit.stop_loss: {linspace: [1.0, 5.0, 40]}
          exit.dte: {range: [1, 50, 1]}
          exit.max_holding_days: {range: [1, 50, 1]}
        """))
    r = gridbt("sweep", path, "--out", tmp_path / "out", home=home)
    assert r.returncode == 2  # the trap chain
    lines = r.stderr.splitlines()
    assert lines[1].endswith(f"] {path}: a large grid: 4,000,000 combinations before "
                             "constraints, roughly 1.1 CPU-hours at ~1,000 combinations/s per "
                             "CPU")
