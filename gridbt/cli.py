"""`gridbt` command line: each command parses, calls one library function, prints the result.

Only what `--help` and the input checks need is imported up front; each command imports its
library (numba, pyarrow, pandas, matplotlib, Ray, MLflow, Optuna) once its inputs are checked.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gridbt
from gridbt._errors import (
    EXIT_ENVIRONMENT,
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EnvironmentFailure,
    environment_cause,
)
from gridbt._inputs import (
    InputError,
    check_chain_dir,
    check_chain_target,
    check_output_dir,
    check_tracking_uri,
)

__all__ = ["main"]

#: Errors whose message is all a user needs (bad files, options or data): printed without a
#: traceback, exit 2. Named by module, so that catching them imports nothing: the module of an
#: error that was raised is loaded. Failures of the environment (`gridbt._errors`: a full disk,
#: a locked database, Ray's actors gone) exit 3; the exit codes are listed there.
_USER_ERRORS = {
    "gridbt._inputs": "InputError",
    "gridbt.data.errors": "DataError",
    "gridbt.strategy.spec": "SpecError",
}
#: Commands that run Ray, in a child process the command's own process watches
#: (`gridbt._supervise`), and what the message of an abrupt end calls them
_SUPERVISED = {"sweep": "the sweep", "optimize": "the study", "demo": "the demo"}


def _user_errors() -> tuple[type[Exception], ...]:
    return tuple(getattr(sys.modules[module], name) for module, name in _USER_ERRORS.items()
                 if module in sys.modules)


def _pairs(items: Sequence[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise SystemExit(f"gridbt: {what} {item!r} is not of the form name=value")
        out[key] = value
    return out


def _validation_config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from gridbt.data.validate import ValidationConfig

    try:
        return ValidationConfig(rate=args.rate, dividend=args.dividend).with_policies(
            _pairs(args.policy, "--policy")
        )
    except ValueError as exc:
        raise SystemExit(f"gridbt: {exc}") from None


def cmd_data_import(args: argparse.Namespace) -> int:
    check_chain_target(args.out)
    if args.format != "csv" and (args.column_map or args.date_format):
        raise InputError("--column-map and --date-format apply to --format csv only")
    from gridbt.data.importer import import_files

    result = import_files(
        args.format,
        args.paths,
        args.out,
        config=_validation_config(args),
        column_map=_pairs(args.column_map, "--column-map") or None,
        underlying=args.underlying,
        date_format=args.date_format,
        force=args.force,
    )
    if result.unchanged:
        print(f"{args.out}: unchanged (same files and options as the stored chain)")
    else:
        assert result.report is not None
        print("\n".join(result.report.lines()))
        for name, count in sorted(result.flagged.items()):
            print(f"flagged {name}: {count:,}")
    m = result.manifest
    print(
        f"{args.out}: {m.rows:,} rows, {m.days:,} days, {m.first_date}..{m.last_date}, "
        f"fingerprint {m.fingerprint}"
    )
    return 0


def cmd_data_validate(args: argparse.Namespace) -> int:
    check_chain_dir(args.dir, "")
    config = _validation_config(args)
    loaded = None
    if args.deep or args.fix:
        from gridbt.data.errors import DataError
        from gridbt.data.integrity import check_integrity

        integrity = check_integrity(args.dir, fix=args.fix)
        print("\n".join(integrity.lines), flush=True)
        if not integrity.ok:
            raise DataError("; ".join(integrity.problems), path=args.dir)
        loaded = integrity.loaded
    from gridbt.data.validate import validate_chain

    _, report = validate_chain(args.dir, config, loaded)
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


def cmd_data_info(args: argparse.Namespace) -> int:
    check_chain_dir(args.dir, "")
    from gridbt.data.info import chain_info

    info = chain_info(args.dir)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            print(f"{key:<22} {value}")
    return 0


def cmd_data_synth(args: argparse.Namespace) -> int:
    if args.out is not None:
        check_chain_target(args.out)
    from gridbt.data.default import ensure_synthetic_chain

    out, manifest, built = ensure_synthetic_chain(args.out, profile=args.profile, seed=args.seed,
                                                  verify=True)
    state = "built" if built else "already present"
    print(
        f"{out}: {state}: {manifest.rows:,} rows, {manifest.days:,} days, "
        f"{manifest.first_date}..{manifest.last_date}, fingerprint {manifest.fingerprint}"
    )
    return 0


def cmd_data_pack(args: argparse.Namespace) -> int:
    from gridbt.data.packcache import load_cached, packed_cache_dir
    from gridbt.data.store import read_manifest

    manifest = read_manifest(args.dir)
    packed, built = load_cached(args.dir, manifest)
    state = "packed into" if built else "already packed in"
    print(f"{args.dir}: {state} {packed_cache_dir(manifest)} "
          f"({packed.nbytes() / 2**20:,.0f} MiB, {packed.n_days:,} days)")
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    from gridbt.strategy.presets import load_spec

    spec = load_spec(args.strategy)  # bad inputs fail before the kernels are even imported
    check_output_dir(args.out)
    if args.data is not None:
        check_chain_dir(args.data)
    if args.mlflow is not None or (spec.mlflow is not None and spec.mlflow.enabled):
        config = spec.mlflow
        check_tracking_uri(None if config is None else config.tracking_uri,
                           f"{args.strategy}: mlflow.tracking_uri")
    from gridbt.report.backtest import format_summary
    from gridbt.workflows.backtest import run_and_write

    summary = run_and_write(spec, args.data, args.out, engine=args.engine,
                            tearsheet=not args.no_tearsheet)
    print(format_summary(summary, args.out))
    if args.mlflow is not None or (spec.mlflow is not None and spec.mlflow.enabled):
        from gridbt.report.text import open_mlflow
        from gridbt.tracking.jobs import log_backtest

        logged = log_backtest(spec, summary.model_dump(mode="json"), Path(args.out),
                              args.mlflow or None)
        print(f"MLflow: experiment {logged['experiment']!r}, run {logged['run_id']}\n"
              + open_mlflow(logged))
    return 0


def cmd_entries(args: argparse.Namespace) -> int:
    from gridbt.entries.spec import check_entries

    if args.threads < 1:
        raise InputError(f"--threads: {args.threads} is not a positive number of threads")
    check_entries(args.file, args.out, args.data)  # bad inputs fail before numba is imported
    from gridbt.report.entries import format_entries
    from gridbt.workflows.entries import run_entries

    outcome = run_entries(args.file, args.out, args.data, threads=args.threads)
    print(format_entries(outcome.table, name=outcome.spec.name, candidates=outcome.candidates,
                         days=outcome.days, seconds=outcome.seconds,
                         cpu_seconds=outcome.cpu_seconds, files=outcome.files))
    return 0


def _show_stages(args: argparse.Namespace) -> None:
    if not args.quiet:
        from gridbt.report.terminal import show_stages

        show_stages()


def _exit_soon() -> None:
    """Nothing more to collect: Python's last garbage collections at exit, over everything
    Ray, MLflow, pandas and matplotlib loaded, took about a second after the last line."""
    import gc

    gc.freeze()


def cmd_sweep(args: argparse.Namespace) -> int:
    from gridbt.sweep.spec import check_actors, check_engine, check_job_paths, load_sweep

    check_actors(args.actors)
    check_engine(args.engine)
    sweep, _ = load_sweep(args.file)  # bad inputs fail before Ray, pandas, MLflow are imported
    check_job_paths(sweep, args.file, args.out)
    from gridbt.workflows.sweep import sweep_job

    def summary(outcome: Any) -> None:  # printed before the heatmaps and MLflow
        from gridbt.report.sweep import sweep_report

        print(sweep_report(outcome), flush=True)

    _show_stages(args)
    outcome = sweep_job(args.file, address=args.address, resume=args.resume, out=args.out,
                        actors=args.actors, engine=args.engine, progress=not args.quiet,
                        verbose=args.verbose, summary=summary, draw_workers=None)
    from gridbt.report.sweep import format_mlflow

    if mlflow := format_mlflow(outcome):
        print(mlflow)
    _exit_soon()
    return 130 if outcome.interrupted else 0


def cmd_optimize(args: argparse.Namespace) -> int:
    from gridbt.optimize.spec import load_study
    from gridbt.sweep.spec import check_actors, check_job_paths

    check_actors(args.actors)
    study, _ = load_study(args.file)  # bad inputs fail before Ray, Optuna, MLflow are imported
    check_job_paths(study, args.file, args.out)
    from gridbt.workflows.study import study_job

    def summary(outcome: Any) -> None:  # printed before MLflow, where its runs are after it
        from gridbt.report.study import format_study

        print(format_study(outcome, mlflow=False), flush=True)

    _show_stages(args)
    outcome = study_job(args.file, address=args.address, resume=args.resume, out=args.out,
                        actors=args.actors, progress=not args.quiet, verbose=args.verbose,
                        summary=summary, draw_workers=None)
    from gridbt.report.study import format_mlflow

    if mlflow := format_mlflow(outcome):
        print(mlflow)
    _exit_soon()
    return 130 if outcome.interrupted else 0


def cmd_demo(args: argparse.Namespace) -> int:
    check_output_dir(args.out)
    from gridbt.workflows.demo import run_demo

    return run_demo(Path(args.out))


def cmd_serve(args: argparse.Namespace) -> int:
    root = Path(args.root)
    if not root.is_dir():
        raise InputError(f"--root {root}: not a directory (the directory holding sweeps, "
                         "studies and backtests)")
    from gridbt.api.frontend import BUILD_HINT, frontend_built
    from gridbt.api.server import serve

    def announce(url: str) -> None:
        print(f"gridbt serve: the results under {root.resolve()} at {url}/ (API {url}/api, "
              f"docs {url}/docs); Ctrl-C stops", flush=True)
        if not frontend_built():
            print(f"gridbt serve: {BUILD_HINT}", flush=True)

    serve(root, host=args.host, port=args.port, cors=args.cors, announce=announce)
    return 0


class _Parser(argparse.ArgumentParser):
    """A parser whose help may end with text made only when the help is shown: `gridbt --help`
    builds every command's parser, and must not import what their help lists."""

    def __init__(self, *args: Any, epilog_of: Callable[[], str] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.epilog_of = epilog_of

    def format_help(self) -> str:
        if self.epilog_of is not None:
            self.epilog = self.epilog_of()
        return super().format_help()


def _presets_help() -> str:
    from gridbt.strategy.presets import PRESETS

    width = max(shutil.get_terminal_size().columns - 2, 40)
    lines = ["presets (--strategy NAME; `gridbt.strategy.presets` has their parameters):"]
    for name, factory in sorted(PRESETS.items()):
        summary = (factory.__doc__ or "").strip().splitlines()[0]
        lines.append(textwrap.fill(summary, width, initial_indent=f"  {name:<22}",
                                   subsequent_indent=" " * 24))
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gridbt", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"gridbt {gridbt.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="import, validate, inspect and synthesise chains")
    data_sub = data.add_subparsers(dest="data_command", required=True)

    def validation_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--policy",
            action="append",
            metavar="CHECK=POLICY",
            help="override a validation policy, e.g. crossed_quote=error",
        )
        p.add_argument("--rate", type=float, default=0.0, help="rate for computed greeks")
        p.add_argument("--dividend", type=float, default=0.0, help="dividend yield for greeks")

    imp = data_sub.add_parser("import", help="vendor files -> chain directory")
    imp.add_argument("--format", required=True, choices=["optionsdx", "cboe", "orats", "csv"])
    imp.add_argument("paths", nargs="+")
    imp.add_argument("--out", required=True, help="chain directory to write")
    imp.add_argument("--column-map", action="append", metavar="CANONICAL=SOURCE")
    imp.add_argument("--underlying")
    imp.add_argument("--date-format", metavar="STRPTIME",
                     help="csv only: format of text dates, e.g. %%m/%%d/%%Y (default: %%Y-%%m-%%d)")
    imp.add_argument("--force", action="store_true", help="re-import even if unchanged")
    validation_options(imp)
    imp.set_defaults(func=cmd_data_import)

    val = data_sub.add_parser("validate", help="re-run validation on a chain directory")
    val.add_argument("dir")
    val.add_argument("--deep", action="store_true",
                     help="also hash every file of the chain and of its packed cache and check "
                          "them, and the manifest's facts, against what was written")
    val.add_argument("--fix", action="store_true",
                     help="with --deep (implied): record the file hashes of a chain written by "
                          "an older gridbt, once its content is verified")
    validation_options(val)
    val.set_defaults(func=cmd_data_validate)

    info = data_sub.add_parser("info", help="days, rows, expiries per day, range, fingerprint")
    info.add_argument("dir")
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=cmd_data_info)

    pk = data_sub.add_parser("pack", help="write a chain's packed-chain cache (done on first use)")
    pk.add_argument("dir")
    pk.set_defaults(func=cmd_data_pack)

    syn = data_sub.add_parser(
        "synth",
        help="build an embedded SPX-like chain: a synthetic profile, or `history` (the real "
        "S&P 500 path of 1999-2018 with modelled quotes)",
    )
    syn.add_argument("--profile", default="history", choices=["history", "synthetic", "small"])
    syn.add_argument("--seed", type=int, default=7)
    syn.add_argument("--out", default=None, help="default: the cached default chain")
    syn.set_defaults(func=cmd_data_synth)

    bt = sub.add_parser("backtest", help="run one strategy backtest",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog_of=_presets_help)
    bt.add_argument("--strategy", required=True,
                    help="strategy YAML file or preset name (presets below)")
    bt.add_argument("--data", default=None, help="chain directory (default: embedded chain)")
    bt.add_argument("--out", required=True, help="result directory: summary.json, "
                    "trades.parquet, equity.parquet, tearsheet.png (created if missing)")
    bt.add_argument("--engine", default="numba", choices=["numba", "python"],
                    help="numba kernels, or the plain-Python reference (slow)")
    bt.add_argument("--no-tearsheet", action="store_true",
                    help="do not draw tearsheet.png (the other files are written)")
    bt.add_argument("--mlflow", nargs="?", const="", default=None,
                    metavar="EXPERIMENT",
                    help="log the backtest as an MLflow run in EXPERIMENT (default: the "
                         "strategy's mlflow.experiment, else backtests), where the strategy's "
                         "mlflow section says, else at $MLFLOW_TRACKING_URI, else in "
                         "OUT/mlflow.db; a strategy with an mlflow section is logged without it")
    bt.set_defaults(func=cmd_backtest)

    sw = sub.add_parser("sweep", help="run a parameter sweep on Ray")
    sw.add_argument("file", help="sweep YAML file")
    sw.add_argument("--address", default=None, help="Ray address (default: the file's, else local)")
    sw.add_argument("--resume", action="store_true", help="continue a sweep in its out directory")
    sw.add_argument("--out", default=None, help="result directory (default: the file's)")
    sw.add_argument("--actors", type=int, default=None, help="default: one per CPU")
    sw.add_argument("--engine", default=None,
                    help="auto (trade tables where they apply) or day (the day-by-day kernel "
                    "for every combination); default: the file's engine")
    sw.add_argument("--quiet", action="store_true", help="no progress bar or stage lines")
    sw.add_argument("--verbose", action="store_true",
                    help="everything Ray and MLflow print (warnings, INFO lines, workers' output)")
    sw.set_defaults(func=cmd_sweep)

    op = sub.add_parser("optimize", help="run an Optuna study on Ray")
    op.add_argument("file", help="study YAML file")
    op.add_argument("--address", default=None, help="Ray address (default: the file's, else local)")
    op.add_argument("--resume", action="store_true",
                    help="continue the study from its storage")
    op.add_argument("--out", default=None, help="result directory (default: the file's)")
    op.add_argument("--actors", type=int, default=None, help="default: one per CPU")
    op.add_argument("--quiet", action="store_true", help="no progress bar or stage lines")
    op.add_argument("--verbose", action="store_true",
                    help="everything Ray and MLflow print (warnings, INFO lines, workers' output)")
    op.set_defaults(func=cmd_optimize)

    en = sub.add_parser("entries", help="statistics of every candidate entry of a structure, by "
                        "DTE bucket x delta (or moneyness) bucket x exit rule")
    en.add_argument("file", help="entries YAML file (docs/entries.md)")
    en.add_argument("--out", default=None, help="result directory: entries.parquet, "
                    "candidates.parquet (default: ./NAME, NAME the file's name:)")
    en.add_argument("--data", default=None,
                    help="chain directory (default: the file's data, else the embedded chain)")
    en.add_argument("--threads", type=int, default=1,
                    help="walk the candidates on N threads at once (default: %(default)s)")
    en.set_defaults(func=cmd_entries)

    srv = sub.add_parser("serve", help="serve the results under a directory (the results API)")
    srv.add_argument("--root", default=".",
                     help="directory holding sweeps, studies and backtests (default: %(default)s)")
    srv.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    srv.add_argument("--port", type=int, default=8765, help="port (default: %(default)s)")
    srv.add_argument("--cors", default=None, metavar="ORIGIN",
                     help="allow cross-origin GETs from this origin (default: none)")
    srv.set_defaults(func=cmd_serve)

    demo = sub.add_parser("demo", help="run the main job on the embedded default data")
    demo.add_argument("--out", default="demo-output",
                      help="result directory of the demo's backtests, sweep and study "
                           "(default: %(default)s)")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run `gridbt ARGS`; the exit code. From the command line (`argv` None), the commands that
    run Ray run in a supervised child process (`gridbt._supervise`)."""
    args = build_parser().parse_args(argv)
    if argv is None and args.command in _SUPERVISED:
        from gridbt._supervise import supervise

        return supervise(lambda: _run(args), _SUPERVISED[args.command])
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.func(args))
    except _user_errors() as exc:
        print(f"gridbt: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except EnvironmentFailure as exc:
        print(f"gridbt: {exc}", file=sys.stderr)
        return EXIT_ENVIRONMENT
    except OSError as exc:
        if (found := environment_cause(exc)) is None:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"gridbt: {where}{found[0]}; {found[1]}, then run the command again (a sweep or "
              "a study with --resume: what is on disk is kept)", file=sys.stderr)
        return EXIT_ENVIRONMENT
    except KeyboardInterrupt:
        print("gridbt: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
