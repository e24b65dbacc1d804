"""Problems by name (contract): ``optlab.problems.get("rosenbrock", scale=10)``."""
from __future__ import annotations

import inspect
from typing import Any

from .optim.problem import Problem
from .registry import PluginError, registry


def get(name: str, **params: Any) -> Problem:
    """Build the registered problem `name` with keyword `params` (x0, f_star, objective, ...)."""
    factory = registry().get("problems", name)
    accepted = inspect.signature(factory).parameters
    unknown = [k for k in params if k not in accepted]
    if unknown and not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        raise PluginError(f"problem {name!r}: unknown parameter {unknown[0]!r} "
                          f"(parameters: {', '.join(accepted) or 'none'})")
    return factory(**params)


def names() -> list[str]:
    """Registered problem names, in registration order."""
    return list(registry().entries("problems")["problems"])
