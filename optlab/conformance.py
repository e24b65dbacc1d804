"""The conformance suite an optimizer plugin should pass (`optlab check-plugin NAME`).

Four checks, each on a small quadratic run through the ordinary loop (`optlab.optim.run`):
it solves a well-conditioned problem, it is deterministic under a seed, it stops cleanly when the
objective turns NaN, and the counts it reports equal what an independent counter saw.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

import optlab.autodiff.functions as F
from optlab.optim import Budget, Problem, Status, Stopping, run
from optlab.registry import registry

DIM, CONDITION = 5, 10.0
SOLVE_BUDGET = Budget(iterations=20_000, seconds=60)  # plain gd at lr=1e-3 needs about 9,200 steps
SHORT_BUDGET = Budget(iterations=200, seconds=30)
NAN_AFTER = 10  # objective evaluations before the NaN check's objective returns NaN for good


@dataclass(frozen=True)
class Check:
    """One check's outcome and a line saying why."""

    name: str
    passed: bool
    detail: str


def _curvatures() -> np.ndarray:
    return np.logspace(0.0, np.log10(CONDITION), DIM)  # eigenvalues 1 ... 10


def quadratic(start: np.ndarray | None = None, **derivatives: Any) -> Problem:
    """f(x) = 1/2 sum d_i x_i^2 with d from 1 to 10 (condition 10), f* = 0 at x* = 0."""
    d = _curvatures()
    x0 = np.linspace(1.0, -1.0, DIM) + 0.5 if start is None else start
    return Problem(name="conformance-quadratic", objective=lambda x: F.sum(0.5 * d * x * x), x0=x0,
                   f_star=0.0, x_star=np.zeros(DIM), **derivatives)


class Counter:
    """Wraps a function and counts its calls: the independent witness of the honesty check."""

    def __init__(self, fn: Callable) -> None:
        self.fn, self.calls = fn, 0

    def __call__(self, *args: Any) -> Any:
        self.calls += 1
        return self.fn(*args)


def check_solves(make: Callable[[], Any]) -> tuple[bool, str]:
    """Converges under the default test (`Stopping()`) on the 5-D quadratic of condition 10 from a fixed start."""
    r = run(make(), quadratic(), SOLVE_BUDGET, Stopping())
    detail = f"status {r.status_name} after {r.nit} iterations, {r.nfev} f / {r.njev} g evaluations, f = {r.fun:.3g}"
    return r.status_name == Status.CONVERGED, detail


def _noisy_quadratic() -> Problem:
    """The quadratic with a shift drawn from the run's generator at every step: randomness a seed must fix."""
    shift = np.zeros(DIM)

    def resample(rng: np.random.Generator) -> None:
        shift[:] = 1e-3 * rng.standard_normal(DIM)

    d = _curvatures()
    return Problem(name="conformance-noisy-quadratic", objective=lambda x: F.sum(0.5 * d * (x - shift) ** 2),
                   x0=np.linspace(1.0, -1.0, DIM) + 0.5, resample=resample)


def _fingerprint(r: Any) -> list:
    """Everything a run reports except wall-clock time, as exact bytes and integers."""
    rows = [(np.float64(t["f"]).tobytes(), None if t["gnorm"] is None else np.float64(t["gnorm"]).tobytes(),
             t["nfev"], t["ngev"], t["nhvp"], t["nhess"]) for t in r.trace]
    return [r.status_name, np.asarray(r.x).tobytes(), rows]


def check_deterministic(make: Callable[[], Any]) -> tuple[bool, str]:
    """Two runs with the same seed give the same trace and answer, bit for bit."""
    a, b = (_fingerprint(run(make(), _noisy_quadratic(), SHORT_BUDGET, Stopping(), seed=1234)) for _ in range(2))
    if a == b:
        return True, f"{len(a[2])} iterations identical"
    first = next((i for i, (p, q) in enumerate(zip(a[2], b[2])) if p != q), min(len(a[2]), len(b[2])))
    return False, f"runs differ from iteration {first}"


def _nan_rosenbrock() -> Problem:
    """Rosenbrock's function from (-1.2, 1), returning NaN from its evaluation NAN_AFTER + 1 on.

    No method solves it within NAN_AFTER evaluations, so every method meets the NaN.
    """
    calls = 0

    def objective(x: Any) -> Any:
        nonlocal calls
        calls += 1
        y = F.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
        return y if calls <= NAN_AFTER else y * np.nan

    return Problem(name="conformance-nan", objective=objective, x0=np.array([-1.2, 1.0]), f_star=0.0)


def check_nan(make: Callable[[], Any]) -> tuple[bool, str]:
    """Ends with status "diverged", without crashing, once the objective returns NaN."""
    r = run(make(), _nan_rosenbrock(), SHORT_BUDGET, Stopping())
    detail = f"status {r.status_name} after {r.nit} iterations"
    if r.status_name == Status.ERROR:
        detail += ": " + r.message.strip().splitlines()[-1]
    return r.status_name == Status.DIVERGED, detail


def check_counts(make: Callable[[], Any]) -> tuple[bool, str]:
    """Reported nfev/njev/nhvp/nhess equal independent counts of calls to f, gradient, hvp and Hessian.

    The problem gives analytic derivatives, so each oracle call runs exactly one of them; an optimizer
    that bypasses the oracle, or tampers with its counts, shows up as a mismatch.
    """
    d = _curvatures()
    f = Counter(quadratic().objective)
    grad, hvp, hess = Counter(lambda x: d * x), Counter(lambda x, v: d * v), Counter(lambda x: np.diag(d))
    problem = quadratic(gradient=grad, hvp=hvp, hessian=hess)
    problem.objective = f
    r = run(make(), problem, Budget(iterations=20, seconds=30), Stopping())
    reported = {"f": r.nfev, "gradient": r.njev, "hvp": r.counts["nhvp"], "hessian": r.counts["nhess"]}
    seen = {"f": f.calls, "gradient": grad.calls, "hvp": hvp.calls, "hessian": hess.calls}
    if r.nhev != reported["hvp"] + reported["hessian"]:
        reported["nhev"], seen["nhev"] = r.nhev, seen["hvp"] + seen["hessian"]
    wrong = [f"{k}: reported {reported[k]}, counted {seen[k]}" for k in reported if reported[k] != seen[k]]
    if r.status_name == Status.ERROR:
        wrong.append(r.message.strip().splitlines()[-1])
    detail = "; ".join(wrong) or ", ".join(f"{k} {v}" for k, v in seen.items())
    return not wrong, detail


CHECKS: dict[str, Callable[[Callable[[], Any]], tuple[bool, str]]] = {
    "solves a quadratic": check_solves, "deterministic under a seed": check_deterministic,
    "stops on NaN": check_nan, "counts honestly": check_counts}


def run_checks(optimizer: str | type, params: dict[str, Any] | None = None) -> list[Check]:
    """Run every check on the optimizer `optimizer` (a registered name or a class) built with `params`.

    An unknown name raises `optlab.registry.PluginError`, suggesting the closest name.
    """
    cls = registry().get("optimizers", optimizer) if isinstance(optimizer, str) else optimizer
    results = []
    for name, check in CHECKS.items():
        try:
            results.append(Check(name, *check(lambda: cls(**(params or {})))))
        except Exception as e:  # a plugin that crashes outside the loop (bad parameters, say) fails, not us
            results.append(Check(name, False, f"{type(e).__name__}: {e}"))
    return results
