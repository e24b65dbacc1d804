"""The loop every method runs in: one convergence test, budgets, divergence, and the trace."""
from __future__ import annotations

import time
import traceback
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .base import Stalled
from .oracle import BudgetExhausted, Oracle
from .problem import Problem
from .status import Status
from .stopping import Budget, Stopping, scaled_gradient

if TYPE_CHECKING:
    from scipy.optimize import OptimizeResult

STATUS = {s.value: s.code for s in Status}  # scipy-style integer codes by name (the enum is the one source)


class Tracker:
    """Judges and records iterates: the same for our loop and for a black box's callback."""

    def __init__(self, problem: Problem, oracle: Oracle, stopping: Stopping, callback: Callable | None) -> None:
        self.problem, self.oracle, self.stopping, self.callback = problem, oracle, stopping, callback
        self.trace: list[dict[str, Any]] = []
        self.start = time.perf_counter()
        self.f0: float | None = None
        self.g0norm: float | None = None
        self.reason: str | None = None
        self.best: tuple[np.ndarray, float, np.ndarray | None] | None = None
        self.scaled_gradient = np.inf  # at the last iterate, with the default typical sizes (for the judge)

    def record(self, x: np.ndarray, f: float, g: np.ndarray | None, info: dict | None = None) -> str | None:
        """Record iterate x (with the step's diagnostics `info`, if any); return the end status if it should stop."""
        gnorm = None if g is None else float(np.linalg.norm(g))
        c = self.oracle.counts
        self.trace.append({"iter": len(self.trace), "f": float(f), "gnorm": gnorm, "nfev": c.nfev,
                           "ngev": c.ngev, "nhvp": c.nhvp, "nhess": c.nhess,
                           "seconds": time.perf_counter() - self.start})
        if info:
            self.trace[-1]["info"] = dict(info)
        self.best = (x, float(f), g)
        self.scaled_gradient = scaled_gradient(x, float(f), g)
        if self.callback is not None:
            self.callback(self.trace[-1])
        if not np.isfinite(f) or (gnorm is not None and not np.isfinite(gnorm)) or not np.all(np.isfinite(x)):
            return Status.DIVERGED
        if self.f0 is None:
            self.f0, self.g0norm = float(f), gnorm
        self.reason = self.stopping.reason(x, float(f), g, float(self.f0), self.g0norm, self.problem.f_star)
        return Status.CONVERGED if self.reason else None


class Fields(dict):
    """The fields of a run's OptimizeResult in a plain dict with attribute access, as scipy's is: what a worker's
    run returns, so that a run imports no scipy.optimize (0.2 s of CPU); `run` wraps them in scipy's type."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value


def _result(tracker: Tracker, status: str, message: str) -> Fields:
    status = Status(status)  # a black box's word must be one of the vocabulary
    c = tracker.oracle.counts
    x, f, g = tracker.best if tracker.best is not None else (tracker.problem.x0, np.nan, None)
    return Fields(x=x, fun=f, jac=g, nit=max(len(tracker.trace) - 1, 0), nfev=c.nfev, njev=c.ngev,
                  nhev=c.nhvp + c.nhess, status=status.code, success=status is Status.CONVERGED,
                  message=message, status_name=status, counts=c.as_dict(), trace=tracker.trace,
                  scaled_gradient=tracker.scaled_gradient, wall_seconds=time.perf_counter() - tracker.start)


def run(optimizer: Any, problem: Problem, budget: Budget | None = None, stopping: Stopping | None = None,
        seed: int = 0, callback: Callable[[dict], None] | None = None, jit: bool = True) -> OptimizeResult:
    """Minimize `problem` with `optimizer` under one budget and one convergence test.

    Returns scipy's OptimizeResult fields (x, fun, jac, nit, nfev, njev, nhev, status, success,
    message) plus `status_name`, `counts`, the per-iteration `trace` and the final point's
    `scaled_gradient` (the default stationarity measure, which the judge reads). A method's exception ends
    the run with status "error" and its traceback in the message; it is never raised.
    `jit=False` keeps the oracle eager (by default it replays traced derivatives: the same numbers).
    A black box's ``minimize`` returns a status, or (status, note) to add its own words to the message.
    """
    from scipy.optimize import OptimizeResult  # here, once per run: importing the loop stays light

    return OptimizeResult(run_fields(optimizer, problem, budget, stopping, seed, callback, jit))


def run_fields(optimizer: Any, problem: Problem, budget: Budget | None = None, stopping: Stopping | None = None,
               seed: int = 0, callback: Callable[[dict], None] | None = None, jit: bool = True) -> Fields:
    """`run`, its result's fields in a plain `Fields` (the worker's form: no scipy.optimize imported)."""
    budget, stopping = budget or Budget(), stopping or Stopping()
    rng = np.random.default_rng(seed)
    oracle = Oracle(problem, max_calls=budget.oracle_calls, max_seconds=budget.seconds, jit=jit)
    tracker = Tracker(problem, oracle, stopping, callback)
    x0 = problem.x0.copy()
    with np.errstate(all="ignore"):  # overflow on the way to divergence is a status, not a warning
        try:
            if hasattr(optimizer, "minimize"):
                out = optimizer.minimize(oracle, x0, budget, tracker.record)
                status, note = out if isinstance(out, tuple) else (out or Status.MAX_ITER, None)
                message = _message(status, tracker)
                if status == Status.MAX_ITER and len(tracker.trace) - 1 < budget.iterations:
                    message = "stopped short of the stopping test"  # on its own: iterations were left
                return _result(tracker, status, f"{message}; {note}" if note else message)
            if problem.resample is not None:
                problem.resample(rng)
            state = optimizer.init(oracle, x0)
            status = tracker.record(state.x, state.f, state.g, getattr(state, "info", None))
            while status is None:
                if len(tracker.trace) > budget.iterations:
                    status = Status.MAX_ITER
                    break
                if problem.resample is not None:
                    problem.resample(rng)
                state = optimizer.step(oracle, state)
                status = tracker.record(state.x, state.f, state.g, getattr(state, "info", None))
            return _result(tracker, status, _message(status, tracker))
        except BudgetExhausted as e:
            return _result(tracker, e.status, str(e))
        except Stalled as e:
            return _result(tracker, Status.MAX_ITER, f"stalled: {e}")
        except Exception:
            return _result(tracker, Status.ERROR, traceback.format_exc())


def _message(status: str, tracker: Tracker) -> str:
    words: dict[str, str] = {Status.CONVERGED: f"converged ({tracker.reason})",
                             Status.MAX_ITER: "iteration budget used", Status.DIVERGED: "non-finite value or gradient"}
    return words.get(status, status)
