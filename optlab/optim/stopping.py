"""Budgets and the stopping tests that end a run, ours and scipy's alike (judging what a run achieved is elsewhere)."""
from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import numpy as np
import pydantic

from .status import SGTOL


def not_bool(value: Any) -> Any:
    """Refuse a boolean where a number belongs: YAML reads true/yes/on as True, which pydantic takes for 1."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"expected a number, got the boolean {bool(value)} (YAML reads true/false, yes/no, on/off "
                         f"as booleans)")
    return value


NoBool = pydantic.BeforeValidator(not_bool)
TestName = Literal["gradient", "relative_gradient", "relative_f"]


def _default_tests() -> list[TestName]:
    return ["gradient"]


class Budget(pydantic.BaseModel):
    """Limits on a run: iterations, oracle calls of any kind, wall-clock seconds (None: no limit)."""

    model_config = pydantic.ConfigDict(extra="forbid")
    iterations: Annotated[int, NoBool] = pydantic.Field(1000, ge=1)
    oracle_calls: Annotated[int | None, NoBool] = pydantic.Field(None, ge=1)
    seconds: Annotated[float | None, NoBool] = pydantic.Field(None, gt=0)


def scaled_gradient(x: np.ndarray, f: float, g: np.ndarray | None, typx: float = 1.0, typf: float = 1.0) -> float:
    """max_i |g_i| max(|x_i|, typx) / max(|f|, typf): Dennis and Schnabel's relative gradient (1983, eq. 7.2.5).

    The relative change of f per relative change of each x_i, at the current point. Below the typical
    sizes typx and typf it is the plain absolute |g_i|. inf where g is unknown or not finite.
    """
    if g is None or not np.all(np.isfinite(g)) or not math.isfinite(f):
        return math.inf
    if g.size == 0:
        return 0.0
    return float(np.max(np.abs(g) * np.maximum(np.abs(x), typx)) / max(abs(f), typf))


class Stopping(pydantic.BaseModel):
    """When a run ends as `converged`: the tests named in `test`, any one of them holding.

    - ``gradient`` (the default): scaled_gradient(x, f, g) <= sgtol, everything taken at the current point
      (Dennis and Schnabel's test): no quantity of the start enters, so a huge start cannot fool it, and
      on a function growing like |x|^k it stays near k, so running off to infinity is not "converged".
    - ``relative_gradient``: ||g(x)|| <= gtol ||g(x0)|| (relative to the start; a large start fools it).
    - ``relative_f``: f - f* <= ftol (f0 - f*) where the problem knows f* (More and Wild's measure).

    Setting `gtol` or `ftol` without `test` selects the relative tests they belong to (older configs),
    beside the gradient test when `sgtol`, `typx` or `typf` is set too.
    """

    model_config = pydantic.ConfigDict(extra="forbid")
    test: list[TestName] = pydantic.Field(default_factory=_default_tests, min_length=1)
    sgtol: Annotated[float, NoBool] = pydantic.Field(SGTOL, gt=0, lt=1)
    typx: Annotated[float, NoBool] = pydantic.Field(1.0, gt=0)
    typf: Annotated[float, NoBool] = pydantic.Field(1.0, gt=0)
    gtol: Annotated[float, NoBool] = pydantic.Field(1e-8, gt=0, lt=1)
    ftol: Annotated[float, NoBool] = pydantic.Field(1e-10, gt=0, lt=1)

    @pydantic.model_validator(mode="before")
    @classmethod
    def _named_tests(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "test" not in data:
            implied = [t for t, key in (("relative_gradient", "gtol"), ("relative_f", "ftol")) if key in data]
            if implied:  # the gradient test stays when its own keys are written beside them
                data["test"] = (["gradient"] if {"sgtol", "typx", "typf"} & data.keys() else []) + implied
        if isinstance(data.get("test"), str):
            data["test"] = [data["test"]]
        return data

    def stationary(self, x: np.ndarray, f: float, g: np.ndarray | None) -> bool:
        """The default test at x: scaled gradient <= sgtol."""
        return scaled_gradient(x, f, g, self.typx, self.typf) <= self.sgtol

    def reason(self, x: np.ndarray, f: float, g: np.ndarray | None, f0: float, g0norm: float | None,
               f_star: float | None) -> str | None:
        """Which test holds at this point ("gradient", "relative gradient", "f - f*"), or None."""
        for test in self.test:
            if test == "gradient" and self.stationary(x, f, g):
                return "gradient"
            if (test == "relative_gradient" and g is not None and g0norm is not None
                    and float(np.linalg.norm(g)) <= self.gtol * max(g0norm, math.ulp(1.0))):
                return "relative gradient"
            if test == "relative_f" and f_star is not None and f - f_star <= self.ftol * max(f0 - f_star, 0.0):
                return "f - f*"
        return None
