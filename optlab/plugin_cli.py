"""The plugin subcommands of `optlab`: list, check-plugin, new-plugin (registered into optlab.cli)."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from .command import UsageError, command, fail
from .registry import KINDS, registry

KIND_NAMES = {**{k: k for k in KINDS}, **{v: k for k, v in KINDS.items()}}  # "optimizers" or "optimizer"


def parameters(kind: str, obj: Any) -> dict[str, Any]:
    """Parameters and defaults: an optimizer's Params fields, else a factory's keyword defaults."""
    if kind == "optimizers":
        return {n: None if f.is_required() else f.get_default(call_default_factory=True)
                for n, f in obj.Params.model_fields.items()}
    import inspect  # here: `optlab --help` need not import it

    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return {}
    return {n: p.default for n, p in signature.parameters.items() if p.default is not p.empty}


def plugin_rows(kind: str | None = None) -> list[dict[str, Any]]:
    """One row per registered thing: name, kind, source and parameters with defaults."""
    from . import registry as registry_module
    from .listing import catalogued_rows

    # a registry loaded already (a --plugin file) may hold more than the entry points: it lists
    rows = catalogued_rows(kind) if registry_module._default is None else None
    if rows is not None:
        return rows
    return registry_rows(kind)


def registry_rows(kind: str | None = None) -> list[dict[str, Any]]:
    """plugin_rows from the registry itself: every plugin imported."""
    return [{"name": e.name, "kind": e.kind, "source": e.source, "parameters": parameters(k, e.obj)}
            for k, entries in registry().entries(kind).items() for e in entries.values()]


def _list_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", nargs="?", choices=sorted(KIND_NAMES), metavar="KIND",
                   help=f"only this kind: {', '.join(KINDS)}")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--suite", metavar="SUITE",
                   help="only the problems SUITE.NAME, with n and whether the size can change")


@command("list", _list_args)
def list_plugins(args: argparse.Namespace) -> int:
    """Show what the plugins provide, where each came from, and its parameters with defaults."""
    if args.suite:
        from .experiment.suites import suite_rows

        try:
            rows = suite_rows(registry(), args.suite)
        except ValueError as e:
            return fail(str(e))
    else:
        rows = plugin_rows(KIND_NAMES[args.kind] if args.kind else None)
    if args.json:
        import json

        print(json.dumps(rows, indent=2, default=repr))
        return 0
    columns = (("kind", "name", "n", "resizable", "source", "parameters") if args.suite
               else ("kind", "name", "source", "parameters"))
    cells = [[", ".join(f"{k}={v!r}" for k, v in r[c].items()) if c == "parameters" else str(r[c]) for c in columns]
             for r in rows]
    if not sys.stdout.isatty():  # a pipe or a file: plain columns, one row a line (rich's import costs ~0.1 s)
        print(plain_table(columns, cells))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns[:1])
    for column in columns[1:]:
        table.add_column(column, overflow="fold")
    for row in cells:
        table.add_row(*row)
    Console().print(table)
    return 0


def plain_table(columns: tuple[str, ...], cells: list[list[str]]) -> str:
    """Left-aligned columns two spaces apart, the header first, nothing cut or wrapped."""
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                     for row in [list(columns), *cells])


def _check_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="a registered optimizer")
    p.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                   help="an optimizer parameter, value read as YAML (repeatable)")


def _parse_params(pairs: list[str]) -> dict[str, Any]:
    import yaml

    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--param {pair!r}: expected KEY=VALUE")
        try:
            params[key] = yaml.safe_load(value)
        except yaml.YAMLError as e:
            raise UsageError(f"--param {pair!r}: the value is not valid YAML ({getattr(e, 'problem', e)})") from None
    return params


def _check_params(cls: type, params: dict[str, Any]) -> None:
    """Raise ParameterError if `params` do not suit `cls`; a plugin broken otherwise is left to the checks."""
    from .optim import ParameterError

    try:
        cls(**params)
    except ParameterError:
        raise
    except Exception:
        return  # the plugin itself is broken: every check reports it, with its message


@command("check-plugin", _check_args)
def check_plugin(args: argparse.Namespace) -> int:
    """Run the conformance suite on an optimizer: 0 when every check passes, 1 otherwise."""
    from rich.console import Console
    from rich.table import Table

    from .conformance import run_checks

    params = _parse_params(args.param)
    cls = registry().get("optimizers", args.name)
    _check_params(cls, params)
    checks = run_checks(cls, params)
    table = Table("check", "result", "detail", title=f"conformance of {args.name}")
    for c in checks:
        table.add_row(c.name, "[green]pass[/]" if c.passed else "[red]FAIL[/]", c.detail)
    Console().print(table)
    return 0 if all(c.passed for c in checks) else 1


def _new_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="the optimizer's name: lowercase letters, digits and _")
    p.add_argument("--dir", default=".", help="where to create optlab-NAME/ (default: here)")


@command("new-plugin", _new_args)
def new_plugin(args: argparse.Namespace) -> int:
    """Write a starter optimizer plugin package and its conformance test."""
    from .scaffold import new_plugin as write

    known = registry().find("optimizers", args.name)
    if known is not None:
        return fail(f"new-plugin {args.name}: an optimizer {args.name!r} exists already ({known.source}); "
                    "two plugins cannot share a name: choose another")
    for path in write(args.name, args.dir):
        print(path)
    return 0
