"""scipy.optimize baselines, run through the same counting oracle and judged by the same convergence test.

Each baseline is a black box: scipy owns its loop, we pass it the oracle's ``f``, ``grad`` and
``hvp``/``hessian`` (so scipy's nfev/njev/nhev equal the oracle's counts), set scipy's own tolerances
to zero (or as tight as scipy allows) so that optlab's test decides, and judge every iterate through
scipy's ``callback(intermediate_result)``.

Judging costs no oracle calls: the functions handed to scipy remember the values and gradients of
the last few points they evaluated (`_Recent`: a copy of each x, found again by comparing arrays, so
no x is turned into bytes and hashed: at n = 10^5 that was a third of scipy.trust-ncg's time).
An iterate is recorded as soon as its gradient is known; trust-region methods call back before they
evaluate the gradient at the new iterate, so such an iterate waits until scipy asks for that
gradient, which it always does next.
A stop decided there unwinds scipy by an exception; a stop decided in the callback raises
``StopIteration``, scipy's own way to halt (scipy >= 1.11).

Counts: scipy's nfev/njev equal the oracle's nfev/ngev. Its nhev equals nhvp for newton-cg and
nhess for trust-exact; for trust-ncg and trust-krylov it is nhvp + 1, because scipy also counts one
call of a placeholder Hessian it makes for itself (it returns None and costs nothing).
"""
from __future__ import annotations

from typing import Any, Callable, ClassVar

import numpy as np
import scipy  # scipy.optimize loads on first use (scipy's lazy submodules): registration stays light
from pydantic import Field

from optlab import hookimpl
from optlab.optim import Budget, BudgetExhausted, Optimizer, Oracle, Params, Status

Record = Callable[[np.ndarray, float, "np.ndarray | None"], "str | None"]


class _Stop(Exception):
    """Unwinds scipy when an iterate judged inside a function evaluation ends the run."""


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """a and b hold the same bytes (-0.0 is not 0.0, a NaN equals itself), compared in place."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    word = np.uint64 if a.dtype.itemsize == 8 else np.uint8
    a, b = np.ascontiguousarray(a).reshape(-1).view(word), np.ascontiguousarray(b).reshape(-1).view(word)
    if a.size and (a[0] != b[0] or a[-1] != b[-1]):
        return False  # most points differ at their ends: the whole comparison is skipped
    return bool(np.array_equal(a, b))


class _Recent:
    """The last `keep` points evaluated and a value at each, newest first; a point is found by identity
    or by equal bits."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.items: list[tuple[np.ndarray, Any]] = []

    def find(self, x: np.ndarray) -> int:
        for i, (y, _) in enumerate(self.items):
            if y is x or _same_bits(y, x):
                return i
        return -1

    def put(self, x: np.ndarray, value: Any, copy: bool = True) -> None:
        i = self.find(x)
        if i >= 0:
            y = self.items.pop(i)[0]
        else:
            y = x.copy() if copy else x
        self.items.insert(0, (y, value))
        del self.items[self.keep:]

    def get(self, x: np.ndarray, default: Any = None) -> Any:
        i = self.find(x)
        return default if i < 0 else self.items[i][1]

    def __contains__(self, x: np.ndarray) -> bool:
        return self.find(x) >= 0


class _Judge:
    """The functions scipy calls, wrapped to remember recent values and to feed iterates to `record`."""

    KEEP = 8  # recent points remembered; an iterate's gradient comes within a couple of evaluations

    def __init__(self, oracle: Oracle, record: Record, x0: np.ndarray) -> None:
        self.oracle, self.record = oracle, record
        self.values = _Recent(self.KEEP)
        self.grads = _Recent(self.KEEP)
        self.pending: list[tuple[np.ndarray, float | None]] = [(x0.copy(), None)]
        self.previous = x0.copy()
        self.status: str | None = None
        self.nonfinite = False  # a value or derivative came back NaN or inf since the last iterate
        self.saw_nonfinite = False  # ... at any time in the run

    def _watch(self, value: Any) -> Any:
        if not np.all(np.isfinite(value)):
            self.nonfinite = self.saw_nonfinite = True
        return value

    def fun(self, x: np.ndarray) -> float:
        f = self._watch(self.oracle.f(x))
        self.values.put(x, f)
        self._judge_pending(raise_with=_Stop)
        return f

    def grad(self, x: np.ndarray) -> np.ndarray:
        g = self._watch(self.oracle.grad(x))
        last = self.oracle.last  # the kernel's gradient computes f too, for free (and keeps a copy of x)
        if last is not None and _same_bits(last[0], x):
            self.grads.put(last[0], g, copy=False)
            self.values.put(last[0], last[1], copy=False)
        else:
            self.grads.put(x, g)
        self._judge_pending(raise_with=_Stop)
        return g

    def hvp(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        return self._watch(self.oracle.hvp(x, v))

    def hessian(self, x: np.ndarray) -> np.ndarray:
        return self._watch(self.oracle.hessian(x))

    def callback(self, intermediate_result: scipy.optimize.OptimizeResult) -> None:
        """Judge scipy's iterate; a step rejected after a NaN is "diverged" (scipy would retry it forever)."""
        x = np.array(intermediate_result.x, dtype=float)
        stuck = self.nonfinite and np.array_equal(x, self.previous)
        self.previous, self.nonfinite = x, False
        if stuck:
            self.status = Status.DIVERGED
            raise StopIteration
        self.pending.append((x, float(intermediate_result.fun)))
        self._judge_pending(raise_with=StopIteration)

    def _judge_pending(self, raise_with: type[BaseException]) -> None:
        """Record, in order, every waiting iterate whose f and gradient are known; raise to stop."""
        while self.pending:
            x, f = self.pending[0]
            f = self.values.get(x) if f is None else f
            g = self.grads.get(x)
            if f is None or g is None:
                return
            self.pending.pop(0)
            self.status = self.record(x, f, g)
            if self.status:
                raise raise_with()

    def flush(self) -> None:
        """After scipy returns: record iterates still waiting, with their gradient if ever computed."""
        for x, f in self.pending:
            f = self.values.get(x, np.nan) if f is None else f
            self.status = self.record(x, f, self.grads.get(x))
            if self.status:
                break
        self.pending.clear()


class ScipyMethod(Optimizer):
    """Base of the baselines: `method` names scipy's, `order` what it uses of the oracle."""

    method: ClassVar[str] = ""
    tight: ClassVar[dict[str, float]] = {}
    second_order: ClassVar[str | None] = None  # scipy's argument for it: "hessp" (HVPs) or "hess" (Hessians)

    def scipy_options(self, budget: Budget) -> dict[str, Any]:
        """scipy's options: ours, scipy's tolerances made tight, iterations from the budget."""
        return {**self.tight, **self.params.model_dump(), "maxiter": budget.iterations}

    def derivatives(self, judge: _Judge) -> dict[str, Any]:
        """The second-order argument of scipy.optimize.minimize, if the method uses one."""
        if self.second_order is None:
            return {}
        return {self.second_order: {"hessp": judge.hvp, "hess": judge.hessian}[self.second_order]}

    def minimize(self, oracle: Oracle, x0: np.ndarray, budget: Budget, record: Record) -> str | tuple[str, str]:
        """Run scipy from x0; return our status, with scipy's message when it stopped on its own."""
        judge = _Judge(oracle, record, np.asarray(x0, dtype=float))
        self.scipy_result = None  # scipy's own result (nfev, njev, nhev, message) when it returns
        try:
            res = scipy.optimize.minimize(judge.fun, judge.pending[0][0], jac=judge.grad, method=self.method,
                                          callback=judge.callback, options=self.scipy_options(budget),
                                          **self.derivatives(judge))
        except _Stop:
            return judge.status
        except BudgetExhausted:
            raise
        except Exception as e:  # scipy's own checks reject the NaN it was handed: that is divergence
            if not judge.saw_nonfinite:
                raise
            return Status.DIVERGED, f"scipy failed after a non-finite value: {type(e).__name__}: {e}"
        self.scipy_result = res
        if judge.status:
            return judge.status
        judge.flush()
        if judge.status:
            return judge.status
        note = f"scipy stopped on its own: {res.message} (scipy success={bool(res.success)})"
        if res.nit >= budget.iterations:
            return Status.MAX_ITER, note
        if judge.saw_nonfinite or not np.isfinite(res.fun):
            return Status.DIVERGED, note
        return Status.MAX_ITER, note


class _TrustParams(Params):
    initial_trust_radius: float = Field(1.0, gt=0, description="starting trust-region radius")
    max_trust_radius: float = Field(1000.0, gt=0, description="largest trust-region radius")
    eta: float = Field(0.15, ge=0, lt=0.25, description="accept a step when actual/predicted reduction > eta")


class BFGS(ScipyMethod):
    """scipy's BFGS (dense inverse-Hessian update, Wolfe line search)."""

    name, method, order = "scipy.bfgs", "BFGS", 1
    tight = {"gtol": 0.0, "xrtol": 0.0}


class LBFGSB(ScipyMethod):
    """scipy's L-BFGS-B, unbounded here."""

    name, method, order = "scipy.l-bfgs-b", "L-BFGS-B", 1
    tight = {"gtol": 0.0, "ftol": 0.0, "maxfun": 2**31 - 1}

    class Params(Params):
        maxcor: int = Field(10, ge=1, description="number of stored correction pairs")


class CG(ScipyMethod):
    """scipy's nonlinear conjugate gradient (Polak-Ribiere)."""

    name, method, order = "scipy.cg", "CG", 1
    tight = {"gtol": 0.0}


class NewtonCG(ScipyMethod):
    """scipy's line-search Newton-CG with Hessian-vector products."""

    name, method, order = "scipy.newton-cg", "Newton-CG", 2
    tight = {"xtol": 0.0}
    second_order = "hessp"


class TrustNCG(ScipyMethod):
    """scipy's trust-region Newton-CG (Steihaug) with Hessian-vector products."""

    name, method, order = "scipy.trust-ncg", "trust-ncg", 2
    tight = {"gtol": 0.0}
    second_order = "hessp"
    Params = _TrustParams


class TrustKrylov(ScipyMethod):
    """scipy's trust-region method with the GLTR Krylov subproblem solver and Hessian-vector products."""

    name, method, order = "scipy.trust-krylov", "trust-krylov", 2
    tight = {"gtol": 0.0}
    # Not deterministic in scipy itself: repeated runs in one process take different paths, with BLAS and
    # OpenMP on one thread and scipy's np.empty work arrays zero-filled alike, so it comes from the trlib C
    # code. Reports mark its cells.
    deterministic = False
    second_order = "hessp"
    Params = _TrustParams


class TrustExact(ScipyMethod):
    """scipy's nearly exact trust-region method with the full Hessian."""

    name, method, order = "scipy.trust-exact", "trust-exact", 2
    tight = {"gtol": 0.0}
    second_order = "hess"
    Params = _TrustParams


BASELINES: list[type[ScipyMethod]] = [BFGS, LBFGSB, CG, NewtonCG, TrustNCG, TrustKrylov, TrustExact]


@hookimpl
def optlab_optimizers() -> list[type[Optimizer]]:
    return list(BASELINES)
