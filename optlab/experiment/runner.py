"""Run a sweep: expand the config, skip what the store has, execute the rest, store each as it finishes."""
from __future__ import annotations

import datetime
import inspect
import json
import platform
import traceback
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..optim.loop import run as run_optimizer
from ..optim.problem import Problem
from ..optim.stopping import Budget, Stopping
from ..registry import Registry, registry
from .config import Config
from .grid import RunSpec, expand
from .store import Store


def versions() -> dict[str, str]:
    """Package versions that decide results, stored with every run."""
    out = {"python": platform.python_version()}
    for pkg in ("optlab", "numpy", "scipy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "?"
    return out


def _worker_registry(plugins: tuple[str, ...]) -> Registry:
    reg = registry()
    for path in plugins:
        reg.load_file(path)
    return reg


def build(spec: RunSpec) -> tuple[Problem, Any, dict[str, Any]]:
    """The spec's problem and optimizer, and the problem's parameters with the run's scale and seed."""
    reg = _worker_registry(spec.plugins)
    factory = reg.get("problems", spec.problem)
    accepted = inspect.signature(factory).parameters
    kwargs = dict(spec.problem_params)
    if "scale" in accepted:
        kwargs["scale"] = spec.scale
    if "seed" in accepted and "seed" not in kwargs:
        kwargs["seed"] = spec.seed
    problem = factory(**kwargs)
    optimizer = reg.get("optimizers", spec.optimizer)(**spec.optimizer_params)
    if hasattr(problem, "play"):  # a game: its own loop moves each player with a copy of the optimizer
        optimizer = problem.play(optimizer)
    return problem, optimizer, kwargs


def execute(spec: RunSpec) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run one spec in whatever process it lands in; never raises: a failure is a run with status error."""
    row: dict[str, Any] = {"run_id": spec.run_id, "problem": spec.problem, "problem_params": spec.problem_params,
                           "optimizer": spec.optimizer, "optimizer_params": spec.optimizer_params,
                           "label": spec.label, "seed": spec.seed, "scale": spec.scale}
    try:
        problem, optimizer, _ = build(spec)
        result = run_optimizer(optimizer, problem, Budget(**spec.budget), Stopping(**spec.stopping), seed=spec.seed)
    except Exception:
        row.update(status="error", reason="setup", message=traceback.format_exc())
        return row, []
    try:  # a run that failed has nothing to measure
        metrics = None if result.status_name == "error" else evaluate(spec, problem, result)
    except Exception:
        metrics, result.status_name, result.message = None, "error", "evaluation\n" + traceback.format_exc()
    trace = result.trace
    row.update(n=problem.n, status=result.status_name, reason=result.message.split("\n")[0][:200],
               message=result.message, nit=result.nit, nfev=result.nfev, ngev=result.njev,
               nhvp=result.counts["nhvp"], nhess=result.counts["nhess"],
               oracle_seconds=result.counts["seconds"], wall_seconds=result.wall_seconds,
               f0=trace[0]["f"] if trace else None, f_final=_finite(result.fun),
               gnorm_final=_finite(trace[-1]["gnorm"]) if trace and trace[-1]["gnorm"] is not None else None,
               f_star=problem.f_star, metrics=metrics)
    return row, trace


def evaluate(spec: RunSpec, problem: Problem, result: Any) -> dict[str, Any] | None:
    """The metrics of the evaluation registered for the spec's problem (hook `optlab_evaluations`), as JSON."""
    entry = _worker_registry(spec.plugins).entries("evaluations")["evaluations"].get(spec.problem)
    if entry is None:
        return None
    return json.loads(json.dumps(entry.obj(problem, result), default=_plain))


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as Python numbers and lists (json's fallback)."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"metrics hold a {type(value).__name__}, which is not JSON")


def _finite(value: Any) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def make_executor(config: Config, name: str | None = None, workers: int | None = None) -> Any:
    """The executor plugin the config names (or `name`), with its options; `workers` overrides."""
    spec = config.executor
    return registry().get("executors", name or spec.name)(workers=workers or spec.workers, address=spec.address)


def plan(config: Config, source: str = "config") -> list[RunSpec]:
    """Load the config's plugin files and expand it into validated runs (raises ConfigError)."""
    reg = registry()
    for path in config.plugins:
        reg.load_file(path)
    return expand(config, reg, source)


def run_experiment(config: Config, specs: list[RunSpec], out: str | Path, executor: Any, fresh: bool = False,
                   on_result: Callable[[dict], None] | None = None,
                   on_start: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """Execute every run in `specs` not already in the store at `out`; return the rows written now.

    The driver alone writes the store, one transaction per finished run, as results arrive: a crash
    or a kill loses at most the runs in flight, and re-running resumes.
    """
    out = Path(out)
    if fresh and (out / "results.sqlite").exists():
        for suffix in ("", "-wal", "-shm"):
            (out / f"results.sqlite{suffix}").unlink(missing_ok=True)
    written = []
    with Store(out) as store:
        done = store.finished_ids()
        todo = [s for s in specs if s.run_id not in done]
        if on_start is not None:
            on_start(len(specs), len(specs) - len(todo))
        common = {"experiment": config.name, "config_hash": config.digest(), "versions": versions()}
        for row, trace in executor.map(execute, todo):
            row.update(common, finished_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
            store.write(row, trace)
            written.append(row)
            if on_result is not None:
                on_result(row)
    return written
