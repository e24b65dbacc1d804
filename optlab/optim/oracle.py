"""The counting oracle: every method, ours and scipy's, sees the problem only through it."""
from __future__ import annotations

import time
from dataclasses import dataclass, fields
from typing import Any, Callable

import numpy as np

from ..autodiff import Variable, functional, gradients
from ..autodiff import hessian as hessian_of
from ..autodiff import jacobian as jacobian_of
from ..autodiff.jit import JitError
from ..autodiff.jit import jit as jit_of
from .problem import Problem
from .status import Status


@dataclass
class Counts:
    """Oracle calls by kind, and seconds spent inside the oracle."""

    nfev: int = 0
    ngev: int = 0
    nhvp: float = 0  # fractional after sub-sampled products (Oracle.sampled_hvp)
    nhess: int = 0
    seconds: float = 0.0

    @property
    def calls(self) -> float:
        return self.nfev + self.ngev + self.nhvp + self.nhess

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class BudgetExhausted(Exception):
    """Raised by the oracle when a run has used its oracle calls; the runner ends the run there."""

    status = Status.BUDGET


class TimeLimit(BudgetExhausted):
    """Raised by the oracle when a run has used its seconds."""

    status = Status.TIME_LIMIT


class Oracle:
    """f, grad, f_and_grad, hvp and hessian of a problem on numpy arrays, each call counted and timed.

    Derivatives come from the kernel (reverse mode; HVPs by double backprop) unless the problem gives
    analytic ones. `f_and_grad` counts one f and one gradient, like scipy's ``jac=True``.
    Budgets are enforced here, so every method, whoever owns its loop, stops at the same call.
    The last gradient evaluated is kept in `last` (x, f, g) so a judge can read it without a call.
    """

    def __init__(self, problem: Problem, max_calls: int | None = None, max_seconds: float | None = None,
                 jit: bool = False) -> None:
        self.problem = problem
        self.counts = Counts()
        self.max_calls = max_calls
        self.deadline = None if max_seconds is None else time.perf_counter() + max_seconds
        self.last: tuple[np.ndarray, float, np.ndarray] | None = None
        self._objective = problem.objective
        # jit=True (issue 15): f, f+grad, hvp and the Hessian traced once and replayed, bit for bit equal
        # to eager; a stochastic problem (resample swaps its data between calls) and an objective the
        # tracer cannot follow (JitError) run eagerly. Counts are the same either way. Off by default:
        # a replay does not run the objective's Python, so an objective with state of its own (the
        # conformance suite's call counters) would see fewer calls; on by default needs problems to
        # declare themselves pure.
        self._jitted: dict[str, Callable] | None = None
        if jit and problem.resample is None:
            f = problem.objective
            self._jitted = {"f": jit_of(f), "vg": jit_of(functional.value_and_grad(f)),
                            "hvp": jit_of(lambda x, v: functional.hvp(f, x, v)), "hessian": jit_of(hessian_of(f))}

    def _run(self, kind: str, eager: Callable[..., Any], *args: Any) -> Any:
        """The jitted `kind` on args, or `eager` once jit is off or the objective cannot be traced."""
        if self._jitted is not None:
            try:
                return self._jitted[kind](*args)
            except JitError:
                self._jitted = None
        return eager(*args)

    def _timed(self, kind: str, fn: Callable[[], Any], amount: float = 1) -> Any:
        if self.max_calls is not None and self.counts.calls >= self.max_calls:
            raise BudgetExhausted(f"oracle budget of {self.max_calls} calls used")
        start = time.perf_counter()
        if self.deadline is not None and start > self.deadline:
            raise TimeLimit("time budget used")
        try:
            return fn()
        finally:
            self.counts.seconds += time.perf_counter() - start
            setattr(self.counts, kind, getattr(self.counts, kind) + amount)

    def _value(self, x: np.ndarray) -> float:
        y = self._run("f", self._objective, x)
        return float(y.data if isinstance(y, Variable) else y)

    def _value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        if self._jitted is not None:
            value, g = self._run("vg", self._eager_value_and_grad, x)
            return float(value), np.asarray(g)
        return self._eager_value_and_grad(x)

    def _eager_value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
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
        return self._timed("nhvp", lambda: self._run("hvp", lambda a, b: functional.hvp(self._objective, a, b), x, v))

    def sampled_hvp(self, x: np.ndarray, v: np.ndarray, indices: np.ndarray) -> np.ndarray:
        """H_S v, the Hessian of a finite sum's terms `indices` (`Problem.sample`) times v, counted as |S|/m of
        one HVP: the kernel's product on a sample costs the share of terms it touches."""
        if self.problem.sample is None or not self.problem.terms:
            raise ValueError(f"problem {self.problem.name!r} has no finite-sum view (terms and sample)")
        objective = self.problem.sample(indices)
        hv = self._timed("nhvp", lambda: np.asarray(functional.hvp(objective, x, v)), len(indices) / self.problem.terms)
        self.counts.nhvp = round(self.counts.nhvp, 9)  # a sum of shares stays readable: 215.8, not 215.8000000000002
        return hv

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
        return self._timed("nhess", lambda: self._run("hessian", hessian_of(self._objective), x))
