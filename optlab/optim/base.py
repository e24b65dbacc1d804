"""The Optimizer base class: a typed parameter model and the `init`/`step` shape every method shares."""
from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pydantic

from .oracle import Oracle


class ParameterError(ValueError):
    """A bad parameter value: names the plugin, the parameter and what is allowed."""


class Stalled(Exception):
    """Raised by a step that can make no progress from here (say, no acceptable step length).

    The runner ends the run as ``max_iter`` with the reason, as it does when scipy stops on its own
    short of our test: repeating a deterministic step that failed would only burn the budget.
    """


class Params(pydantic.BaseModel):
    """Base of every parameter model: unknown parameters are errors, values are checked on assignment."""

    model_config = pydantic.ConfigDict(extra="forbid", validate_assignment=True, frozen=True)


def _takes_text(annotation: Any) -> bool:
    """Whether a field of this type accepts a string (str, Any, a Literal of strings, a union with one)."""
    if annotation is str or annotation is Any:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return any(isinstance(a, str) for a in typing.get_args(annotation))
    if origin is typing.Union or origin is types.UnionType:
        return any(_takes_text(a) for a in typing.get_args(annotation))
    return False


def validate_params(model: type[Params], owner: str, params: dict[str, Any]) -> Params:
    """Build `model` from `params`, turning pydantic's report into one line per problem.

    Numbers are strict: `lr: "0.1"` (a string, from quotes in YAML) is refused, not read as 0.1.
    """
    for key, value in params.items():
        field = model.model_fields.get(key)
        if isinstance(value, str) and field is not None and not _takes_text(field.annotation):
            raise ParameterError(f"{owner}: parameter '{key}': expected {_type_name(field.annotation)}, "
                                 f"got the string {value!r} (write it without quotes)")
    try:
        return model(**params)
    except pydantic.ValidationError as e:
        problems = []
        for err in e.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(parameters)"
            msg = "unknown parameter" if err["type"] == "extra_forbidden" else err["msg"]
            allowed = ", ".join(model.model_fields)
            hint = f" (parameters: {allowed})" if err["type"] == "extra_forbidden" else ""
            problems.append(f"{owner}: parameter '{where}': {msg}{hint}, got {err.get('input')!r}")
        raise ParameterError("; ".join(problems)) from None


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


@dataclass(frozen=True)
class State:
    """Where an optimizer stands: the iterate, its value and gradient (None if not computed), and its own fields.

    Frozen, as optax's states: a step returns a new State. A method with memory of its own subclasses it
    with typed fields (`optlab.optim.TrustRegionState` keeps the radius); `extra` is the untyped pocket
    older plugins use. `info` holds this step's diagnostics (numbers and flags: subproblem iterations,
    negative curvature met, radius, accepted); the run loop copies it into the trace row.
    """

    x: np.ndarray
    f: float
    g: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    info: dict[str, float | int | bool] = field(default_factory=dict)


class Optimizer:
    """Base of optimizer plugins: set `name`, `order` (0, 1, 2) and a `Params` model; write `init` and `step`.

    The runner owns the loop (convergence test, budgets, divergence, the trace), so a step only moves.
    A black-box method may instead define ``minimize(oracle, x0, budget, callback)``.
    """

    name: ClassVar[str] = ""
    order: ClassVar[int] = 1
    Params: ClassVar[type[Params]] = Params

    def __init__(self, **params: Any) -> None:
        self.params = validate_params(type(self).Params, f"optimizer '{self.name}'", params)

    def init(self, oracle: Oracle, x0: np.ndarray) -> State:
        f, g = oracle.f_and_grad(x0)
        return State(x=x0, f=f, g=g)

    def step(self, oracle: Oracle, state: State) -> State:
        raise NotImplementedError(f"{type(self).__name__}.step")
