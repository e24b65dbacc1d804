"""The counting oracle: every method, ours and scipy's, sees the problem only through it."""
from __future__ import annotations

import time
from dataclasses import dataclass, fields
from typing import Any, Callable

import numpy as np

from ..autodiff import Variable, functional, gradients, hessian as hessian_of, jacobian as jacobian_of
from .problem import Problem


@dataclass
class Counts:
    """Oracle calls by kind, and seconds spent inside the oracle."""

    nfev: int = 0
    ngev: int = 0
    nhvp: int = 0
    nhess: int = 0
    seconds: float = 0.0

    @property
    def calls(self) -> int:
        return self.nfev + self.ngev + self.nhvp + self.nhess

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class BudgetExhausted(Exception):
    """Raised by the oracle when a run has used its oracle calls; the runner ends the run there."""

    status = "budget"


class TimeLimit(BudgetExhausted):
    """Raised by the oracle when a run has used its seconds."""

    status = "time_limit"


class Oracle:
    """f, grad, f_and_grad, hvp and hessian of a problem on numpy arrays, each call counted and timed.

    Derivatives come from the kernel (reverse mode; HVPs by double backprop) unless the problem gives
    analytic ones. `f_and_grad` counts one f and one gradient, like scipy's ``jac=True``.
    Budgets are enforced here, so every method, whoever owns its loop, stops at the same call.
    The last gradient evaluated is kept in `last` (x, f, g) so a judge can read it without a call.
    """

    def __init__(self, problem: Problem, max_calls: int | None = None, max_seconds: float | None = None) -> None:
        self.problem = problem
        self.counts = Counts()
        self.max_calls = max_calls
        self.deadline = None if max_seconds is None else time.perf_counter() + max_seconds
        self.last: tuple[np.ndarray, float, np.ndarray] | None = None
        self._objective = problem.objective

    def _timed(self, kind: str, fn: Callable[[], Any]) -> Any:
        if self.max_calls is not None and self.counts.calls >= self.max_calls:
            raise BudgetExhausted(f"oracle budget of {self.max_calls} calls used")
        start = time.perf_counter()
        if self.deadline is not None and start > self.deadline:
            raise TimeLimit("time budget used")
        try:
            return fn()
        finally:
            self.counts.seconds += time.perf_counter() - start
            setattr(self.counts, kind, getattr(self.counts, kind) + 1)

    def _value(self, x: np.ndarray) -> float:
        y = self._objective(x)
        return float(y.data if isinstance(y, Variable) else y)

    def _value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        xv = Variable(x)
        y = self._objective(xv)
        (g,) = gradients(y, [xv], retain_graph=False) if isinstance(y, Variable) else (None,)
        return float(y.data if isinstance(y, Variable) else y), (np.zeros_like(x) if g is None else g.data)

    def _analytic_value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        value, g = self.problem.value_and_gradient(x)
        return float(value), np.asarray(g)

    def f(self, x: np.ndarray) -> float:
        return self._timed("nfev", lambda: self._value(x))

    def grad(self, x: np.ndarray) -> np.ndarray:
        if self.problem.gradient is not None:
            return self._timed("ngev", lambda: np.asarray(self.problem.gradient(x)))
        value, g = self._timed("ngev", lambda: self._value_and_grad(x))
        self.last = (x.copy(), value, g)
        return g

    def f_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        if self.problem.value_and_gradient is not None:
            value, g = self._timed("ngev", lambda: self._analytic_value_and_grad(x))
            self.counts.nfev += 1
        elif self.problem.gradient is not None:
            value, g = self.f(x), self.grad(x)
        else:
            value, g = self._timed("ngev", lambda: self._value_and_grad(x))
            self.counts.nfev += 1
        self.last = (x.copy(), value, g)
        return value, g

    def hvp(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        if self.problem.hvp is not None:
            return self._timed("nhvp", lambda: np.asarray(self.problem.hvp(x, v)))
        if self.problem.hessian is not None:
            return self._timed("nhvp", lambda: np.asarray(self.problem.hessian(x)) @ v)
        return self._timed("nhvp", lambda: functional.hvp(self._objective, x, v))

    def residuals(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """r(x) and its Jacobian for a sum-of-squares problem (`Problem.residuals`), counted as one f and one
        Hessian: like a dense Hessian, a dense Jacobian costs the kernel one pass per variable."""
        if self.problem.residuals is None:
            raise ValueError(f"problem {self.problem.name!r} has no residuals view")
        residuals = self.problem.residuals

        def both() -> tuple[np.ndarray, np.ndarray]:
            r = residuals(x)
            r = np.asarray(r.data if isinstance(r, Variable) else r, dtype=float)
            return r, np.asarray(jacobian_of(residuals)(x), dtype=float).reshape(r.size, x.size)

        r, J = self._timed("nhess", both)
        self.counts.nfev += 1
        return r, J

    def hessian(self, x: np.ndarray) -> np.ndarray:
        if self.problem.hessian is not None:
            return self._timed("nhess", lambda: np.asarray(self.problem.hessian(x)))
        return self._timed("nhess", lambda: hessian_of(self._objective)(x))
