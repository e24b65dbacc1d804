"""A run as plain data (RunSpec), apart from the config and the grid, so that a worker unpickling one imports
neither pydantic's config models nor the registry: the driver resolves where each plugin object lives."""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunSpec:
    """One run, as plain data so it pickles to any worker.

    `where` holds, by kind (problems, optimizers, evaluations), the "module:qualname" of the plugin object the
    driver's registry found for the run ("" for no evaluation): a worker imports that module and nothing else
    (`locate`). A kind missing from it (a RunSpec made by hand, a plugin file's object) is looked up by name.
    """

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
    slot: str = field(default="", compare=False)
    identity: dict[str, Any] = field(default_factory=dict, compare=False)
    cost: dict[str, Any] = field(default_factory=dict, compare=False)
    jit: bool = field(default=True, compare=False)  # the oracle replays traced derivatives (same results)
    where: dict[str, str] = field(default_factory=dict, compare=False)

    def needs(self) -> tuple[tuple[str, str], ...]:
        """The (kind, name) pairs a worker looks up to run it, so that it can import their plugins first."""
        return ("problems", self.problem), ("optimizers", self.optimizer), ("evaluations", self.problem)


def address(obj: Any) -> str | None:
    """"module:qualname" from which `locate` gives back `obj` itself, or None (a closure, an instance, a
    class made by a hook). The module is already imported (the registry found the object), so this costs
    attribute lookups."""
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname:
        return None
    try:
        found = _walk(importlib.import_module(module), qualname)
    except (ImportError, AttributeError):
        return None
    return f"{module}:{qualname}" if found is obj else None


def locate(where: str) -> Any:
    """The object at "module:qualname" (importing its module)."""
    module, _, qualname = where.partition(":")
    return _walk(importlib.import_module(module), qualname)


def _walk(obj: Any, qualname: str) -> Any:
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj
