"""The whole plugin contract of optlab, in one file (pluggy project name "optlab").

A plugin is any module or object with functions named like these hooks and marked with
`optlab.hookimpl`. Built-ins, installed packages (entry-point group "optlab") and local files all
register the same way; each hook returns what the plugin adds, and optlab merges the lists by name.
"""
from __future__ import annotations

from typing import Any, Callable

import pluggy

hookspec = pluggy.HookspecMarker("optlab")
hookimpl = pluggy.HookimplMarker("optlab")


@hookspec
def optlab_optimizers() -> list[type]:
    """Optimizer classes: subclasses of `optlab.optim.Optimizer` (or black-box ones with `minimize`)."""


@hookspec
def optlab_problems() -> dict[str, Callable[..., Any]]:
    """Problem factories by name: ``factory(**params) -> optlab.optim.Problem``; keyword defaults are the parameters."""


@hookspec
def optlab_transforms() -> dict[str, Callable[..., Any]]:
    """Objective transforms by name (MAML's meta-objective, gradient penalties): ``factory(**params)``."""


@hookspec
def optlab_executors() -> dict[str, Callable[..., Any]]:
    """Executors by name: ``factory(**options)`` returning an object with ``map(fn, items)`` yielding results as they finish."""


@hookspec
def optlab_reports() -> dict[str, Callable[..., Any]]:
    """Report sections by name: ``section(store, outdir) -> markdown`` added to `optlab report`."""
