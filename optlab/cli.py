"""The `optlab` command: one subcommand per job, each a small function."""
from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path
from typing import Any, NoReturn, Sequence, TypeVar

from . import plugin_cli  # noqa: F401  (its commands: list, check-plugin, new-plugin)
from .command import COMMANDS, command, fail

GRAPH_FORMATS = (".png", ".svg", ".pdf")
GRAPH_FUNCS = ("abs", "cos", "exp", "log", "log1p", "neg", "relu", "sigmoid", "sin", "softplus", "sqrt",
               "tan", "tanh")


def _graph_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--func", default="tanh", help=f"elementwise function: {', '.join(GRAPH_FUNCS)}")
    p.add_argument("--order", type=int, default=1, help="derivative order to draw (0: the function)")
    p.add_argument("--x", type=float, default=1.0, help="point where the graph is recorded")
    p.add_argument("--verbose", action="store_true", help="label variables with shape and dtype")
    p.add_argument("-o", "--out", default="graph.png", help="image path: .png, .svg or .pdf (drawn by Graphviz)")


@command("graph", _graph_args)
def graph(args: argparse.Namespace) -> int:
    """Draw the computational graph of the n-th derivative of an elementwise function."""
    if args.func not in GRAPH_FUNCS:
        print(f"optlab graph: unknown function {args.func!r}; choose one of: {', '.join(GRAPH_FUNCS)}",
              file=sys.stderr)
        return 2
    if args.order < 0:
        print(f"optlab graph: --order must be 0 or more, got {args.order}", file=sys.stderr)
        return 2
    if Path(args.out).suffix.lower() not in GRAPH_FORMATS:
        return fail(f"graph -o {args.out}: cannot write {Path(args.out).suffix or 'a file without extension'}; "
                    f"use {', '.join(GRAPH_FORMATS)} (drawn by Graphviz's `dot`; without it the .dot file is written)")
    from optlab.autodiff import Variable, functions, plot_graph  # lazy: keeps `optlab --help` fast

    x = Variable(args.x, name="x")
    y = getattr(functions, args.func)(x)
    y.name = "y"
    for k in range(1, args.order + 1):
        x.cleargrad()
        y.backward(create_graph=True)
        y = x.grad if x.grad is not None else Variable(0.0)  # None: no longer depends on x
        y.name = "y" + "'" * k if k <= 3 else f"y({k})"
    print(plot_graph(y, args.out, verbose=args.verbose))
    return 0


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="experiment YAML file")
    p.add_argument("--out", help="output folder (default: the config's `output`, else results/<name>)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. budget.iterations=50 (repeatable)")
    p.add_argument("--executor", help="serial, local, dask, inline (in-process, for a debugger) or a plugin's")
    p.add_argument("--workers", help="number of workers for local or dask (1 to a maximum set by the cores)")
    p.add_argument("--fresh", action="store_true", help="discard stored results and run everything again")
    p.add_argument("--retry-failed", action="store_true", help="run again the stored runs whose status is error")
    p.add_argument("--merge", action="store_true",
                   help="add to a store that holds another experiment or protocol (refused otherwise)")
    p.add_argument("--max-seconds", metavar="S",
                   help="stop the sweep after S seconds (stored runs stay; run again to resume)")
    p.add_argument("--max-runs", metavar="N",
                   help="allow a grid of up to N runs (default limit: 10000)")


Number = TypeVar("Number", int, float)


def _positive(flag: str, text: str | None, kind: type[Number]) -> Number | None:
    """The value of a numeric flag, or a one-line ValueError naming it."""
    if text is None:
        return None
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"{flag} {text}: expected {'an integer' if kind is int else 'a number'}") from None
    if not 0 < value < float("inf"):
        raise ValueError(f"{flag} {text}: must be positive")
    return value


@command("run", _run_args)
def run(args: argparse.Namespace) -> int:
    """Run an experiment config; re-running resumes where it stopped."""
    from optlab.experiment.config import MAX_WORKERS, ConfigError, load_config
    from optlab.experiment.console import RunOptions, run_with_progress
    from optlab.experiment.isolation import ExecutorError
    from optlab.experiment.lock import FolderBusy
    from optlab.experiment.runner import StoreFailed
    from optlab.experiment.store import StoreError
    from optlab.registry import PluginError

    try:
        workers = _positive("--workers", args.workers, int)
        max_seconds = _positive("--max-seconds", args.max_seconds, float)
        max_runs = _positive("--max-runs", args.max_runs, int)
    except ValueError as e:
        return fail(str(e))
    if workers is not None and workers > MAX_WORKERS:
        return fail(f"--workers {workers}: at most {MAX_WORKERS} on this machine (4 per core, at least 64)")
    options = RunOptions(config_path=args.config, out=args.out, executor=args.executor, workers=workers,
                         fresh=args.fresh, retry_failed=args.retry_failed, merge=args.merge,
                         max_seconds=max_seconds, max_runs=max_runs)
    try:
        return run_with_progress(load_config(args.config, args.overrides), options)
    except (ConfigError, PluginError, StoreError, FolderBusy, ExecutorError) as e:
        return fail(str(e))
    except StoreFailed as e:
        print(f"optlab: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # before the sweep took over the signal (loading, planning)
        print("interrupted before any run started", file=sys.stderr)
        return 130


def _validate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="experiment YAML file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--max-runs", metavar="N", help="allow a grid of up to N runs (default limit: 10000)")


@command("validate", _validate_args)
def validate(args: argparse.Namespace) -> int:
    """Check a config and its plugins without running anything."""
    from optlab.experiment.config import ConfigError, load_config
    from optlab.experiment.runner import plan
    from optlab.registry import PluginError, registry

    try:
        config = load_config(args.config, args.overrides)
        specs = plan(config, args.config, max_runs=_positive("--max-runs", args.max_runs, int))
    except (ConfigError, PluginError, ValueError) as e:
        return fail(str(e))
    try:
        registry().get("executors", config.executor.name)
    except PluginError as e:  # an unknown executor, with the closest name
        return fail(f"{args.config}: executor: {e}")
    files = config.plugins
    ran = (f"; imported {len(files)} plugin file{'s' if len(files) > 1 else ''} (their code ran): "
           + ", ".join(files)) if files else "; no plugin file imported"
    print(f"{args.config}: valid, {len(specs)} runs{ran}")
    return 0


def _dir_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="an experiment's output folder")


@command("show", _dir_args)
def show(args: argparse.Namespace) -> int:
    """List the stored runs of an experiment and its failures."""
    from optlab.experiment.console import show_runs

    return show_runs(args.dir)


def _export_args(p: argparse.ArgumentParser) -> None:
    _dir_args(p)
    p.add_argument("--format", choices=["csv"], default="csv")
    p.add_argument("--to", help="folder for the files (default: the experiment's folder)")
    p.add_argument("--tau", type=float, default=1e-6, help="accuracy of the verdicts in verdicts.csv")


@command("export", _export_args)
def export(args: argparse.Namespace) -> int:
    """Write the stored runs and traces as tidy CSV."""
    import csv

    from optlab.experiment.judge import VERDICT_COLUMNS, verdict_rows
    from optlab.experiment.store import Store, StoreError

    to = Path(args.to or args.dir)
    if to.exists() and not to.is_dir():
        return fail(f"export --to {to}: is a file, not a folder")
    try:
        with Store(args.dir, readonly=True) as store:
            to.mkdir(parents=True, exist_ok=True)
            for path in store.export_csv(to):
                print(path)
            path = to / "verdicts.csv"
            with path.open("w", newline="") as fh:
                writer = csv.DictWriter(fh, VERDICT_COLUMNS)
                writer.writeheader()
                writer.writerows(verdict_rows(store.runs(), args.tau))
            print(path)
    except StoreError as e:
        return fail(str(e))
    except OSError as e:
        return fail(f"{args.to or args.dir}: cannot write the CSV files ({e.strerror}); choose a folder with --to")
    return 0


def _report_args(p: argparse.ArgumentParser) -> None:
    _dir_args(p)
    p.add_argument("--title", help="report title (default: the experiment's name)")
    p.add_argument("--to", help="folder for report.md and plots/ (default: the experiment's folder)")
    p.add_argument("--tau", type=float, default=1e-6, help="accuracy of the verdicts, relative to max(1, |f*|)")
    p.add_argument("--format", default="png", help="figure formats besides PNG, comma-separated: pdf,svg")
    p.add_argument("--methods", help="only these method labels, comma-separated")
    p.add_argument("--problems", help="only these problems, comma-separated")
    p.add_argument("--axes", default="iterations,cost,seconds",
                   help="x axes of convergence plots: iterations, cost, calls, seconds, nfev, ngev, nhvp, nhess")
    p.add_argument("--xscale", choices=["auto", "log", "linear"], default="auto",
                   help="x scale of convergence plots and data profiles (auto: log where values span > 2 decades)")
    p.add_argument("--measures", default="cost,calls,seconds",
                   help="performance profile measures: cost, calls, seconds, nfev, ngev, nhvp, nhess")
    p.add_argument("--cost", default="stored",
                   help="weights of the weighted cost: 'stored' (the runs' own model), 'default' (today's "
                        "defaults), or KIND=WEIGHT,... such as 'f=1,hvp=2,hessian=n' (recomputed from the counts)")
    p.add_argument("--redraw", action="store_true",
                   help="draw every figure even where plots/ holds the figures of the same inputs")


def _choices(text: str, allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    """The comma-separated names of a list flag, each checked against `allowed`."""
    items = tuple(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    bad = [t for t in items if t not in allowed]
    if bad or not items:
        raise ValueError(f"--{what}: {', '.join(map(repr, bad)) or 'nothing given'}; choose from {', '.join(allowed)}")
    return items


@command("report", _report_args)
def report(args: argparse.Namespace) -> int:
    """Write DIR/report.md: judged tables, convergence plots, performance and data profiles."""
    from optlab.experiment.report import (
        AXES,
        FORMATS,
        MEASURES,
        Options,
        chosen_cost_model,
        write_report,
    )

    try:
        if not 0 < args.tau < 1:
            raise ValueError(f"--tau: must be in (0, 1), got {args.tau:g}")
        formats = _choices(args.format, FORMATS, "format")
        options = Options(tau=args.tau, cost=chosen_cost_model(Path(args.dir), args.cost),
                          methods=None if args.methods is None else [m.strip() for m in args.methods.split(",")],
                          problems=None if args.problems is None else [m.strip() for m in args.problems.split(",")],
                          axes=_choices(args.axes, tuple(AXES), "axes"), xscale=args.xscale,
                          formats=tuple(dict.fromkeys(("png", *formats))),
                          measures=_choices(args.measures, tuple(MEASURES), "measures"),
                          reuse_figures=not args.redraw)
        print(write_report(args.dir, title=args.title, options=options, to=args.to))
    except ValueError as e:
        return fail(str(e))
    except OSError as e:
        return fail(f"{args.to or args.dir}: cannot write the report ({e.strerror}); choose a folder with --to")
    return 0


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line, what is wrong and where to read more, exit status 2.

    Each subcommand's parser reports arguments it does not know itself, so the line names the subcommand.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def parse_known_args(self, *args: Any, **kwargs: Any) -> Any:
        """argparse's, but refusing what it does not know: a subcommand's parser says so itself."""
        parsed, extra = super().parse_known_args(*args, **kwargs)
        if extra:
            self.error(f"unrecognized arguments: {' '.join(extra)}")
        return parsed, extra


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="optlab", description=__doc__)
    parser.add_argument("--plugin", action="append", default=[], metavar="FILE.py",
                        help="load a local plugin file before the subcommand runs (repeatable)")
    parser.add_argument("--debug", action="store_true", help="on an error, show the full traceback")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (setup, run) in COMMANDS.items():
        p = sub.add_parser(name, help=(run.__doc__ or "").strip().splitlines()[0] if run.__doc__ else None)
        setup(p)
        p.set_defaults(run=run)
    return parser


# Exceptions that mean bad input (config, usage, plugins): exit status 2. Named by module so that
# `optlab --help` imports none of them; an exception whose module was never imported was not raised.
USER_ERRORS = {"optlab.command": "UsageError", "optlab.experiment.config": "ConfigError",
               "optlab.registry": "PluginError", "optlab.optim.base": "ParameterError",
               "optlab.scaffold": "ScaffoldError"}


def is_user_error(e: BaseException) -> bool:
    """True for the errors a user causes with a bad config, option or plugin."""
    return any(isinstance(e, getattr(sys.modules[module], name))
               for module, name in USER_ERRORS.items() if module in sys.modules)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand: an error ends in one line on stderr (2: bad input, 1: failure), `--debug` raises.

    Without `argv` (the `optlab` command: the process ends next), the objects left alive are frozen out of the
    garbage collector first, so that the interpreter's exit does not walk them all: 0.25 s of CPU after
    `optlab report` on the MGH study, a tenth of the report.
    """
    try:
        return _main(argv)
    finally:
        if argv is None:
            gc.freeze()


def _main(argv: Sequence[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help (0), or a usage error, its one line printed (2)
        return _exit_code(e)
    try:
        if args.plugin:
            from optlab.registry import registry

            for path in args.plugin:
                registry().load_file(path)
        return args.run(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("optlab: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if args.debug:
            raise
        if is_user_error(e):
            return fail(str(e))
        first = (str(e).strip().splitlines() or [""])[0]
        print(f"optlab: {type(e).__name__}: {first} (optlab --debug {args.command} ... shows the traceback)",
              file=sys.stderr)
        return 1


def _exit_code(e: SystemExit) -> int:
    """The status a SystemExit asks for, as sys.exit reads it (None: 0, a message: 1)."""
    return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)


if __name__ == "__main__":
    sys.exit(main())
