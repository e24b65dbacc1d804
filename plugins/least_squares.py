"""Methods for sums of squares f(x) = ||r(x)||^2: gauss-newton (line search) and levenberg-marquardt (More's scaling).

They read r and its Jacobian J through `Oracle.residuals` (one f and one Jacobian, counted as a Hessian;
levenberg-marquardt takes g = 2 J^T r from it and evaluates only f at a trial point);
on a problem without a residuals view they use the exact Hessian in place of 2 J^T J, so they remain
Newton-type methods there (the conformance quadratic has none).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from pydantic import Field

from optlab import hookimpl
from optlab.optim import LineSearchParams, Optimizer, Oracle, Params, Stalled, State, line_search_step
from optlab.optim.lanczos import trust_region_eig


def gauss_newton_system(oracle: Oracle, x: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """(B, g) of the model g.p + p.B p / 2 with B = 2 J^T J (or the Hessian), and whether residuals were used."""
    if oracle.problem.residuals is None:
        return oracle.hessian(x), g, False
    r, J = oracle.residuals(x)
    return 2.0 * J.T @ J, 2.0 * J.T @ r, True


class GaussNewton(Optimizer):
    """Gauss-Newton with a line search (Nocedal & Wright sec. 10.3, eq. 10.23): p solves min ||J p + r|| by
    least squares (so a rank-deficient J gives the minimum-norm step), then strong Wolfe on f = ||r||^2."""

    name = "gauss-newton"
    order = 2
    Params = LineSearchParams

    def step(self, oracle: Oracle, state: State) -> State:
        if oracle.problem.residuals is None:
            d = -np.linalg.lstsq(oracle.hessian(state.x), state.g, rcond=None)[0]
        else:
            r, J = oracle.residuals(state.x)
            d = -np.linalg.lstsq(J, r, rcond=None)[0]
        if not float(d @ state.g) < 0:  # a zero or uphill GN step (J^T r ~ 0 to rounding): steepest descent
            d = -state.g
        res = line_search_step(oracle, state.x, state.f, state.g, d, self.params)
        return State(x=res.x, f=res.f, g=res.g, info={"alpha": res.alpha, "line_search_evaluations": res.nevals})


@dataclass(frozen=True)
class LMState(State):
    """Levenberg-Marquardt's state: the radius on ||D p||, More's scaling D, and the model (2 J^T J, g) at x."""

    radius: float = 0.0
    scale: np.ndarray | None = None
    model: Any = None


class LevenbergMarquardt(Optimizer):
    """Levenberg-Marquardt as a trust region in More's scaling: More, "The Levenberg-Marquardt algorithm:
    implementation and theory", Numerical Analysis, LNM 630, 1978 (MINPACK's lmder). D = diag of the
    largest column norms of J seen so far; ||D p|| <= radius, radius0 = factor ||D x0|| (factor if zero);
    rho < 1/4 halves it (MINPACK picks in [0.1, 0.5]), rho > 3/4 or lambda = 0 sets it to 2 ||D p||;
    a step is taken when rho >= 1e-4. The scaled subproblem is solved exactly (eigendecomposition and
    the secular equation, More & Sorensen), so lambda is the Levenberg-Marquardt parameter."""

    name = "levenberg-marquardt"
    order = 2

    class Params(Params):
        factor: float = Field(100.0, gt=0, description="initial radius = factor * ||D x0|| (MINPACK's factor)")
        accept: float = Field(1e-4, ge=0, lt=0.25, description="take a step when rho >= accept (MINPACK: 1e-4)")

    def init(self, oracle: Oracle, x0: np.ndarray) -> LMState:
        f, g, model = self._at(oracle, x0, None)
        return LMState(x=x0, f=f, g=g, model=model)

    @staticmethod
    def _at(oracle: Oracle, x: np.ndarray, f: float | None) -> tuple[float, np.ndarray, tuple]:
        """f, g and the model (2 J^T J, 2 J^T r) at x: from one residuals call (g = 2 J^T r needs no gradient
        call), or from the Hessian where the problem has no residuals view."""
        if oracle.problem.residuals is None:
            f_x, g = oracle.f_and_grad(x)
            return f_x, g, (oracle.hessian(x), g, False)
        r, J = oracle.residuals(x)
        g = 2.0 * J.T @ r
        return (float(r @ r) if f is None else f), g, (2.0 * J.T @ J, g, True)

    def step(self, oracle: Oracle, state: LMState) -> LMState:
        B, c, used_residuals = state.model
        columns = np.sqrt(np.maximum(np.diag(B), 0.0) / 2.0)  # ||J e_j|| (B = 2 J^T J)
        scale = columns if state.scale is None else np.maximum(state.scale, columns)
        scale = np.where(scale > 0, scale, 1.0)
        radius = state.radius
        if state.scale is None:
            dx = float(np.linalg.norm(scale * state.x))
            radius = self.params.factor * dx if dx > 0 else self.params.factor
        Bs = B / np.outer(scale, scale)  # the model in q = D p
        evals, V = np.linalg.eigh(0.5 * (Bs + Bs.T))
        small = trust_region_eig(evals, V, V.T @ (c / scale), radius)
        q = small.h
        p = q / scale
        predicted = -float(c @ p + 0.5 * p @ (B @ p))
        x_new = state.x + p
        f_new = oracle.f(x_new)  # the trial's value only; g and J come with acceptance
        rho = (state.f - f_new) / predicted if predicted > 0 and np.isfinite(f_new) else -np.inf
        qnorm = float(np.linalg.norm(q))
        if rho < 0.25:
            radius = 0.5 * min(radius, qnorm) if qnorm > 0 else 0.5 * radius
        elif rho > 0.75 or small.lam == 0:
            radius = 2.0 * qnorm
        info = {"radius": state.radius, "rho": rho, "accepted": bool(rho >= self.params.accept), "lambda": small.lam,
                "hard_case": small.hard_case, "residuals": used_residuals}
        if rho >= self.params.accept:
            f_new, g_new, model = self._at(oracle, x_new, f_new)
            return LMState(x=x_new, f=f_new, g=g_new, info=info, radius=radius, scale=scale, model=model)
        if not np.isfinite(f_new) and radius < 1e-15 * (1.0 + float(np.linalg.norm(state.x))):
            return LMState(x=x_new, f=f_new, g=None, info=info, radius=radius, scale=scale)  # diverged
        if not radius > np.finfo(float).eps * float(np.linalg.norm(scale * state.x)):
            # MINPACK's info 7 (delta <= epsmch ||D x||): no step this short changes x, so none can be accepted
            dx = float(np.linalg.norm(scale * state.x))
            raise Stalled(f"the radius {radius:.3g} fell below rounding at ||D x|| = {dx:.3g}")
        return replace(state, info=info, radius=radius, scale=scale)


@hookimpl
def optlab_optimizers() -> list[type[Optimizer]]:
    return [GaussNewton, LevenbergMarquardt]
