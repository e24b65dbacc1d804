"""What a worker runs: one RunSpec, from building its problem and optimizer to the row the driver stores.

Kept apart from the runner (config, grid, store, the sweep) so that a fresh worker (a Dask worker unpickling a
task) imports numpy, the run's own plugin modules (at the spec's `where`, resolved by the driver), the loop and
the oracle: no config models, no YAML, no registry or entry-point scan, and no scipy.optimize, which only an
evaluation's OptimizeResult needs.
"""
from __future__ import annotations

import inspect
import json
import sys
import traceback
from typing import Any

import numpy as np

from ..optim.loop import Fields, run_fields
from ..optim.problem import Problem
from ..optim.status import Status
from ..optim.stopping import Budget, Stopping
from . import isolation
from .cost import CostModel
from .spec import RunSpec, locate


def plugin_object(spec: RunSpec, kind: str, name: str) -> Any:
    """The spec's plugin object of `kind`: from its `where` when the driver put it there, else the registry's
    (which loads the spec's plugin files first). None for an evaluation the problem does not have."""
    where = spec.where.get(kind)
    if where is not None:
        return locate(where) if where else None
    from ..registry import registry

    reg = registry()
    for path in spec.plugins:
        reg.load_file(path)
    if kind == "evaluations":
        entry = reg.find(kind, name)
        return None if entry is None else entry.obj
    return reg.get(kind, name)


def warm(spec: RunSpec) -> tuple[str, ...]:
    """Import the spec's plugin modules before a fork, so that its child inherits them, and say what else the
    child should inherit: isolation.INHERITED (scipy.optimize, with scipy.linalg and scipy.sparse) when an
    evaluation will read the run's OptimizeResult or the plugins import scipy (whose submodules they reach on
    first use, inside the run), else nothing."""
    found = {kind: plugin_object(spec, kind, name) for kind, name in spec.needs()}
    return isolation.INHERITED if found["evaluations"] is not None or "scipy" in sys.modules else ()


def build(spec: RunSpec) -> tuple[Problem, Any, dict[str, Any]]:
    """The spec's problem and optimizer, and the problem's parameters with the run's scale and seed."""
    factory = plugin_object(spec, "problems", spec.problem)
    accepted = inspect.signature(factory).parameters
    kwargs = dict(spec.problem_params)
    if "scale" in accepted:
        kwargs["scale"] = spec.scale
    if "seed" in accepted and "seed" not in kwargs:
        kwargs["seed"] = spec.seed
    problem = factory(**kwargs)
    optimizer = plugin_object(spec, "optimizers", spec.optimizer)(**spec.optimizer_params)
    if hasattr(problem, "play"):  # a game: its own loop moves each player with a copy of the optimizer
        optimizer = problem.play(optimizer)
    return problem, optimizer, kwargs


def execute(spec: RunSpec) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run one spec in whatever process it lands in; a method's exception is a run with status error.

    Inside an isolated child each trace entry is also reported to the driver as it is recorded, so a
    run killed at its hard time limit keeps its last recorded iterate.
    """
    row = identity(spec)
    try:
        problem, optimizer, kwargs = build(spec)
        result = run_fields(optimizer, problem, Budget(**spec.budget), Stopping(**spec.stopping), seed=spec.seed,
                            callback=isolation.report, jit=spec.jit)
    except Exception:
        row.update(status=Status.ERROR, reason="setup", message=traceback.format_exc())
        return row, []
    try:  # a run that failed has nothing to measure
        metrics = None if result.status_name == Status.ERROR else evaluate(spec, problem, result)
    except Exception:
        metrics, result.status_name, result.message = None, Status.ERROR, "evaluation\n" + traceback.format_exc()
    trace = result.trace
    row.update(n=problem.n, status=result.status_name, reason=result.message.split("\n")[0][:200],
               message=result.message, nit=result.nit, nfev=result.nfev, ngev=result.njev,
               nhvp=result.counts["nhvp"], nhess=result.counts["nhess"],
               oracle_seconds=result.counts["seconds"], wall_seconds=result.wall_seconds,
               f0=trace[0]["f"] if trace else None, f_final=finite(result.fun),
               gnorm_final=finite(trace[-1]["gnorm"]) if trace and trace[-1]["gnorm"] is not None else None,
               f_star=problem.f_star, local_minima=list(problem.local_minima), reference=problem.reference,
               instance_params={k: v for k, v in kwargs.items() if k != "scale"},
               scaled_gradient=finite(result.scaled_gradient),
               cost=CostModel(**spec.cost).cost(row_counts(result), problem.n), metrics=metrics)
    return row, trace


def evaluate(spec: RunSpec, problem: Problem, result: Any) -> dict[str, Any] | None:
    """The metrics of the evaluation registered for the spec's problem (hook `optlab_evaluations`), as JSON.

    The evaluation gets the run's scipy OptimizeResult, as the hook promises (a worker's run has its fields)."""
    evaluation = plugin_object(spec, "evaluations", spec.problem)
    if evaluation is None:
        return None
    from scipy.optimize import OptimizeResult

    from .store import plain

    if isinstance(result, Fields):
        result = OptimizeResult(result)
    return json.loads(json.dumps(evaluation(problem, result), default=plain))  # checked here, in the worker


def identity(spec: RunSpec) -> dict[str, Any]:
    """The columns of a run's row that the spec decides (its names, parameters, slot and identity)."""
    return {"run_id": spec.run_id, "problem": spec.problem, "problem_params": spec.problem_params,
            "optimizer": spec.optimizer, "optimizer_params": spec.optimizer_params,
            "label": spec.label, "seed": spec.seed, "scale": spec.scale, "slot": spec.slot,
            "identity": spec.identity, "cost_model": spec.cost}


def row_counts(result: Any) -> dict[str, int]:
    """The oracle counts of a result under the store's column names."""
    c = result.counts
    return {"nfev": c["nfev"], "ngev": c["ngev"], "nhvp": c["nhvp"], "nhess": c["nhess"]}


def finite(value: Any) -> float | None:
    """`value` as a float, None when it is not finite (the store's NULL)."""
    value = float(value)
    return value if np.isfinite(value) else None
