"""Expand a config into runs: problems x optimizer grid points x scales x seeds, each with a stable id."""
from __future__ import annotations

import hashlib
import inspect
import itertools
import json
from dataclasses import dataclass, field, replace
from typing import Any

from ..optim.base import ParameterError, validate_params
from ..registry import PluginError, Registry
from . import suites
from .config import Component, Config, ConfigError


@dataclass(frozen=True)
class RunSpec:
    """One run, as plain data so it pickles to any worker."""

    problem: str
    problem_params: dict[str, Any]
    optimizer: str
    optimizer_params: dict[str, Any]
    label: str
    seed: int
    scale: float
    budget: dict[str, Any]
    stopping: dict[str, Any]
    plugins: tuple[str, ...] = ()
    run_id: str = field(default="", compare=False)


def _points(params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every combination of the list-valued params (the grid axes), in config order."""
    axes = [v if isinstance(v, list) else [v] for v in params.values()]
    return [dict(zip(params, combo)) for combo in itertools.product(*axes)]


def _label(comp: Component, point: dict[str, Any]) -> str:
    varying = {k: v for k, v in point.items() if isinstance(comp.params.get(k), list)}
    base = comp.label or comp.name
    return base + ("(" + ", ".join(f"{k}={v}" for k, v in varying.items()) + ")" if varying else "")


def _run_id(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _check_problem(reg: Registry, where: str, name: str, params: dict[str, Any], scaled: bool) -> None:
    factory = reg.get("problems", name)
    accepted = inspect.signature(factory).parameters
    for key in params:
        if key not in accepted:
            raise ConfigError(f"{where}.params.{key}: unknown parameter of problem {name!r} "
                              f"(parameters: {', '.join(accepted) or 'none'})")
    if scaled and "scale" not in accepted:
        raise ConfigError(f"{where}: problem {name!r} takes no 'scale', but the config's scale axis is not [1]")


def expand(config: Config, reg: Registry, source: str = "config") -> list[RunSpec]:
    """All runs of `config`, validated against the plugins: names exist, parameters are allowed."""
    scaled = config.scale != [1.0]
    problems = []
    for i, comp in enumerate(config.problems):
        where = f"{source}: problems[{i}]"
        try:
            names = suites.select(reg, comp.suite, comp.min_n, comp.max_n) if comp.suite else [comp.name]
        except ValueError as e:
            raise ConfigError(f"{where}.suite: {e}") from None
        try:
            for name, point in itertools.product(names, _points(comp.params)):
                _check_problem(reg, where, name, point, scaled)
                problems.append((name, point))
        except PluginError as e:
            hint = suites.missing_hint(reg, comp.name)
            raise ConfigError(f"{where}.name: {e}" + (f" ({hint})" if hint else "")) from None
    optimizers = []
    for i, comp in enumerate(config.optimizers):
        where = f"{source}: optimizers[{i}]"
        try:
            cls = reg.get("optimizers", comp.name)
            for point in _points(comp.params):
                validate_params(cls.Params, f"optimizer '{comp.name}'", point)
                optimizers.append((comp.name, point, _label(comp, point)))
        except (PluginError, ParameterError) as e:
            raise ConfigError(f"{where}: {e}") from None
    budget, stopping = config.budget.model_dump(), config.stopping.model_dump()
    specs = []
    for (pname, pparams), (oname, oparams, label), scale, seed in itertools.product(
            problems, optimizers, config.scale, config.seeds):
        spec = RunSpec(pname, pparams, oname, oparams, label, seed, scale, budget, stopping, tuple(config.plugins))
        specs.append(replace(spec, run_id=_run_id(pname, pparams, oname, oparams, seed, scale, budget, stopping)))
    return specs
