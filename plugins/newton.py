"""Second-order methods and their quasi-Newton reference: newton, newton-cg, trust-ncg, lbfgs.

Each is a few lines over the shared blocks of `optlab.optim` (line searches, truncated and
Steihaug CG, the trust-region update); every step leaves f and g of the new iterate in the State.
A line search that finds no acceptable step raises `Stalled` (the runner ends the run there), unless
the objective was non-finite everywhere it looked: then the runner is shown that value (diverged).
"""
from __future__ import annotations

from collections import deque
from typing import Literal

import numpy as np
import scipy.linalg
from pydantic import Field, model_validator

from optlab import hookimpl
from optlab.optim import (Optimizer, Oracle, Params, Stalled, State, armijo, forcing_term, steihaug_cg,
                          strong_wolfe, truncated_cg, update_radius)


class LineSearchParams(Params):
    """Parameters of the line search shared by newton, newton-cg and lbfgs."""

    line_search: Literal["strong_wolfe", "armijo"] = Field("strong_wolfe", description="step-length rule")
    c1: float = Field(1e-4, gt=0, lt=1, description="sufficient-decrease constant")
    c2: float = Field(0.9, gt=0, lt=1, description="curvature constant (strong Wolfe)")
    max_ls: int = Field(30, ge=1, description="most evaluations per line search")

    @model_validator(mode="after")
    def _c1_below_c2(self) -> LineSearchParams:
        if not self.c1 < self.c2:
            raise ValueError(f"c1 ({self.c1}) must be smaller than c2 ({self.c2})")
        return self


def line_search_step(oracle: Oracle, state: State, d: np.ndarray, p: LineSearchParams, step: float = 1.0,
                     **extra: object) -> State:
    """Move along d by the configured line search; the new State carries f, g there and the step taken."""
    if p.line_search == "armijo":
        r = armijo(oracle, state.x, state.f, state.g, d, step, p.c1, max_steps=p.max_ls)
    else:
        r = strong_wolfe(oracle, state.x, state.f, state.g, d, step, p.c1, p.c2, p.max_ls)
    if r.alpha == 0:
        raise Stalled(f"the {p.line_search} line search found no acceptable step in {r.nevals} evaluations")
    return State(x=r.x, f=r.f, g=r.g, extra={**extra, "alpha": r.alpha})


def shifted_cholesky(H: np.ndarray, beta: float = 1e-3, tries: int = 64) -> tuple:
    """Cholesky factor of H + tau I with the smallest tau in beta * 2^k that works (N&W Algorithm 3.3)."""
    dmin = float(np.min(np.diag(H)))
    tau = 0.0 if dmin > 0 else beta - dmin
    for _ in range(tries):
        try:
            return scipy.linalg.cho_factor(H + tau * np.eye(len(H)) if tau else H)
        except np.linalg.LinAlgError:
            tau = max(2.0 * tau, beta)
    raise np.linalg.LinAlgError("Hessian could not be made positive definite (not finite?)")


class Newton(Optimizer):
    """Newton's method on the exact Hessian, shifted by tau I until positive definite, then a line search."""

    name = "newton"
    order = 2

    class Params(LineSearchParams):
        beta: float = Field(1e-3, gt=0, description="first shift tried when the Hessian is not positive definite")

    def step(self, oracle: Oracle, state: State) -> State:
        d = -scipy.linalg.cho_solve(shifted_cholesky(oracle.hessian(state.x), self.params.beta), state.g)
        return line_search_step(oracle, state, d, self.params)


class NewtonCG(Optimizer):
    """Line-search Newton-CG (N&W Algorithm 7.1): truncated CG on HVPs with eta = min(0.5, sqrt||g||)."""

    name = "newton-cg"
    order = 2

    class Params(LineSearchParams):
        max_cg: int | None = Field(None, ge=1, description="most CG iterations per step (None: n)")

    def step(self, oracle: Oracle, state: State) -> State:
        x, g = state.x, state.g
        gnorm = float(np.linalg.norm(g))
        cg = truncated_cg(lambda v: oracle.hvp(x, v), g, forcing_term(gnorm) * gnorm, self.params.max_cg)
        return line_search_step(oracle, state, cg.p, self.params, cg_iterations=cg.iterations)


class TrustNCG(Optimizer):
    """Trust-region Newton-CG: Steihaug-Toint CG on HVPs inside a radius updated by actual/predicted reduction."""

    name = "trust-ncg"
    order = 2

    class Params(Params):
        radius: float = Field(1.0, gt=0, description="initial trust-region radius")
        max_radius: float = Field(1000.0, gt=0, description="largest radius")
        eta: float = Field(0.15, ge=0, lt=0.25, description="accept a step when actual/predicted > eta")
        max_cg: int | None = Field(None, ge=1, description="most CG iterations per step (None: n)")

        @model_validator(mode="after")
        def _radius_below_max(self) -> TrustNCG.Params:
            if not self.radius <= self.max_radius:
                raise ValueError(f"radius ({self.radius}) must not exceed max_radius ({self.max_radius})")
            return self

    def init(self, oracle: Oracle, x0: np.ndarray) -> State:
        state = super().init(oracle, x0)
        state.extra["radius"] = self.params.radius
        return state

    def step(self, oracle: Oracle, state: State) -> State:
        p, x, g = self.params, state.x, state.g
        gnorm = float(np.linalg.norm(g))
        cg = steihaug_cg(lambda v: oracle.hvp(x, v), g, state.extra["radius"], forcing_term(gnorm) * gnorm, p.max_cg)
        x_new = x + cg.p
        f_new, g_new = oracle.f_and_grad(x_new)
        tr = update_radius(state.f - f_new, cg.model_decrease(g), state.extra["radius"], cg.hits_boundary,
                           p.max_radius, p.eta)
        extra = {"radius": tr.radius, "rho": tr.rho, "cg_iterations": cg.iterations}
        # A non-finite trial is rejected and the radius shrinks; once no representable step is left,
        # hand the trial to the runner, which ends the run as diverged instead of shrinking forever.
        collapsed = not np.isfinite(f_new) and tr.radius < 1e-15 * (1.0 + float(np.linalg.norm(x)))
        return State(x_new, f_new, g_new, extra) if tr.accept or collapsed else State(x, state.f, g, extra)


class LBFGS(Optimizer):
    """Limited-memory BFGS: two-loop recursion over the last `memory` pairs (s, y), strong Wolfe line search."""

    name = "lbfgs"
    order = 1

    class Params(LineSearchParams):
        memory: int = Field(10, ge=1, description="number of (s, y) pairs kept")

    def init(self, oracle: Oracle, x0: np.ndarray) -> State:
        state = super().init(oracle, x0)
        state.extra["pairs"] = deque(maxlen=self.params.memory)
        return state

    def step(self, oracle: Oracle, state: State) -> State:
        pairs = deque(state.extra["pairs"], maxlen=self.params.memory)
        try:
            new = self._search(oracle, state, pairs)
        except Stalled:
            if not pairs:
                raise
            pairs.clear()  # restart from steepest descent
            new = self._search(oracle, state, pairs)
        s, y = new.x - state.x, new.g - state.g
        sy = float(s @ y)
        if sy > 1e-10 * float(np.linalg.norm(s) * np.linalg.norm(y)):  # keep H positive definite
            pairs.append((s, y, 1.0 / sy))
        return new

    def _search(self, oracle: Oracle, state: State, pairs: deque) -> State:
        """Line search along -H g; without pairs, steepest descent with a first step of length <= 1."""
        first = 1.0 if pairs else min(1.0, 1.0 / max(float(np.linalg.norm(state.g)), 1e-300))
        return line_search_step(oracle, state, -two_loop(state.g, pairs), self.params, first, pairs=pairs)


def two_loop(g: np.ndarray, pairs: deque) -> np.ndarray:
    """H g for the L-BFGS inverse-Hessian estimate, H0 = (s.y / y.y) I from the newest pair (N&W Alg. 7.4)."""
    q, alphas = g.copy(), []
    for s, y, rho in reversed(pairs):
        a = rho * float(s @ q)
        q -= a * y
        alphas.append(a)
    if pairs:
        s, y, rho = pairs[-1]
        q *= 1.0 / (rho * float(y @ y))
    for (s, y, rho), a in zip(pairs, reversed(alphas)):
        q += (a - rho * float(y @ q)) * s
    return q


@hookimpl
def optlab_optimizers() -> list[type[Optimizer]]:
    return [Newton, NewtonCG, TrustNCG, LBFGS]
