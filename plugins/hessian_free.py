"""Hessian-free optimization: CG on damped Gauss-Newton-vector products, Martens' damping and stopping rules."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from pydantic import Field

from optlab import hookimpl
from optlab.optim import Optimizer, Oracle, Params, State, armijo

MV = Callable[[np.ndarray], np.ndarray]


def martens_cg(matvec: MV, g: np.ndarray, start: np.ndarray, max_iter: int, eps: float = 5e-4
               ) -> tuple[np.ndarray, int, bool]:
    """CG on A p = -g from `start`, stopped by Martens' relative progress test on phi(p) = p.Ap/2 + g.p:
    at step i > k = max(10, 0.1 i), stop when phi_i < 0 and (phi_i - phi_{i-k}) / phi_i < k eps.
    Returns the step, the iterations and whether negative curvature ended it (then the last good p)."""
    p = start.copy()
    Ap = matvec(p) if np.any(p) else np.zeros_like(g)
    r = Ap + g
    d, rr = -r, float(r @ r)
    phis = [float(0.5 * p @ Ap + g @ p)]
    for i in range(1, max_iter + 1):
        if math.sqrt(rr) <= 1e-14 * max(1.0, float(np.linalg.norm(g))):
            return p, i - 1, False
        Ad = matvec(d)
        dAd = float(d @ Ad)
        if not dAd > 0:
            return p, i, True
        alpha = rr / dAd
        p, Ap = p + alpha * d, Ap + alpha * Ad
        r = r + alpha * Ad
        rr_next = float(r @ r)
        d, rr = -r + (rr_next / rr) * d, rr_next
        phis.append(float(0.5 * p @ Ap + g @ p))
        k = max(10, int(0.1 * i))
        if i > k and phis[-1] < 0 and (phis[-1] - phis[-1 - k]) / phis[-1] < k * eps:
            return p, i, False
    return p, max_iter, False


@dataclass(frozen=True)
class HessianFreeState(State):
    """Hessian-free's state: the damping lambda and the previous CG solution (CG's warm start)."""

    damping: float = 1.0
    previous: np.ndarray | None = None


class HessianFree(Optimizer):
    """Martens, "Deep learning via Hessian-free optimization", ICML 2010: CG on (G + lambda I) p = -g with G
    the Gauss-Newton matrix 2 J^T J (products from the residuals' Jacobian; the Hessian's HVPs on a problem
    without residuals), warm-started at 0.95 times the previous solution, stopped by his relative progress
    test; lambda by Levenberg-Marquardt's heuristic on rho (x 3/2 below 1/4, x 2/3 above 3/4); then Armijo
    backtracking (c = 1e-2, factor 0.8). Martens' CG-iterate backtracking and minibatches are left out."""

    name = "hessian-free"
    order = 2

    class Params(Params):
        damping: float = Field(1.0, gt=0, description="initial lambda")
        max_cg: int = Field(250, ge=1, description="most CG iterations per step")
        decay: float = Field(0.95, ge=0, le=1, description="warm start: decay times the previous CG solution")

    def init(self, oracle: Oracle, x0: np.ndarray) -> HessianFreeState:
        f, g = oracle.f_and_grad(x0)
        return HessianFreeState(x=x0, f=f, g=g, damping=self.params.damping)

    def step(self, oracle: Oracle, state: HessianFreeState) -> HessianFreeState:
        x, g, lam = state.x, state.g, state.damping
        if oracle.problem.residuals is not None:
            _, J = oracle.residuals(x)
            curvature: MV = lambda v: 2.0 * (J.T @ (J @ v))  # noqa: E731
        else:
            curvature = lambda v: oracle.hvp(x, v)  # noqa: E731
        start = self.params.decay * state.previous if state.previous is not None else np.zeros_like(x)
        p, iterations, negative = martens_cg(lambda v: curvature(v) + lam * v, g, start, self.params.max_cg)
        if not float(p @ g) < 0:
            p = -g / max(lam, 1.0)
        predicted = -float(g @ p + 0.5 * p @ curvature(p))
        r = armijo(oracle, x, state.f, g, p, 1.0, c1=1e-2, shrink=0.8, max_steps=60)
        actual = state.f - r.f
        rho = actual / predicted if r.alpha == 1.0 and predicted > 0 else (0.0 if r.alpha < 1.0 else -math.inf)
        lam = lam * 1.5 if rho < 0.25 else (lam * 2.0 / 3.0 if rho > 0.75 else lam)
        info = {"damping": state.damping, "rho": rho, "cg_iterations": iterations, "negative_curvature": negative,
                "alpha": r.alpha}
        return HessianFreeState(x=r.x, f=r.f, g=r.g, info=info, damping=lam, previous=p)


@hookimpl
def optlab_optimizers() -> list[type[Optimizer]]:
    return [HessianFree]
