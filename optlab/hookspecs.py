"""The whole plugin contract of optlab, in one file (pluggy project name "optlab").

A plugin is any module or object with functions named like these hooks and marked with
`optlab.hookimpl`. Built-ins, installed packages (entry-point group "optlab") and local files all
register the same way; each hook returns what the plugin adds, and optlab merges the lists by name.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

import pluggy

if TYPE_CHECKING:  # types only: the contract names them, it does not import the layers that define them
    from scipy.optimize import OptimizeResult

    from optlab.experiment.store import Store
    from optlab.optim import Problem

hookspec = pluggy.HookspecMarker("optlab")
hookimpl = pluggy.HookimplMarker("optlab")


class Evaluation(Protocol):
    """Measures one finished run: ``evaluate(problem, result) -> metrics``."""

    def __call__(self, problem: Problem, result: OptimizeResult) -> dict[str, Any]: ...


class ReportSection(Protocol):
    """One section of `optlab report`: ``section(store, outdir) -> markdown``, or None when no run is its."""

    def __call__(self, store: Store, outdir: Path) -> str | None: ...


@hookspec
def optlab_optimizers() -> list[type]:
    """Optimizer classes: subclasses of `optlab.optim.Optimizer` (or black-box ones with `minimize`)."""


@hookspec
def optlab_problems() -> dict[str, Callable[..., Any]]:
    """Problem factories by name: ``factory(**params) -> optlab.optim.Problem``; keyword defaults are the parameters.

    A problem that is a game (several players, each minimizing its own loss, as a GAN's generator and
    critic) defines ``problem.play(optimizer)``: it returns a black-box method (one with ``minimize(oracle,
    x0, budget, record)``) that moves every player with its own copy of the configured optimizer, in the
    game's own loop, recording one iterate per round. The runner hands the configured optimizer to it.
    """


@hookspec
def optlab_transforms() -> dict[str, Callable[..., Any]]:
    """Objective transforms by name (MAML's meta-objective, gradient penalties): ``factory(**params)``."""


@hookspec
def optlab_executors() -> dict[str, Callable[..., Any]]:
    """Executors by name: ``factory(**options)`` returning an object with ``map(fn, items)`` that yields results
    as they finish."""


@hookspec
def optlab_evaluations() -> dict[str, Evaluation]:
    """Evaluations by the name of the problem whose runs they measure (held-out loss, mode coverage, ...).

    ``evaluate(problem, result)`` runs in the worker right after each run of that problem, on the problem
    object the run trained (its state as the run left it) and the run's `OptimizeResult` (`x`, `trace`,
    `wall_seconds`, ...). It returns the run's metrics: a dict of JSON values (numbers, strings, lists,
    dicts; numpy scalars and arrays are converted), stored in the run's `metrics` column and read by
    report sections. It must be deterministic in its inputs. If it raises, the run is stored with status
    `error`, reason "evaluation" and the traceback.
    """


@hookspec
def optlab_reports() -> dict[str, ReportSection]:
    """Report sections by name, each ``section(store, outdir) -> markdown`` added to `optlab report` in name order.

    A section reads the runs it knows from ``store.runs()`` (with their `metrics`) and returns None when
    there are none, so it is left out of other experiments' reports. Its pictures are the plugin's own:
    it saves them under ``outdir / "plots"`` and links them relative to `outdir`. A section that raises
    is replaced by one line naming it and the error; the rest of the report is written.
    """
