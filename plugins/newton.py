"""Second-order methods and their quasi-Newton reference: newton, newton-cg, trust-ncg, lbfgs.

Each is a few lines over the shared blocks of `optlab.optim` (line searches, modified Cholesky,
truncated and Steihaug CG, the trust-region loop, L-BFGS); every step leaves f and g of the new iterate
in the State and its diagnostics in `State.info`. A line search that finds no acceptable step raises
`Stalled` (the runner ends the run there), unless the objective was non-finite everywhere it looked:
then the runner is shown that value (diverged).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.linalg
from pydantic import Field

from optlab import hookimpl
from optlab.optim import (LineSearchParams, Optimizer, Oracle, Pair, Stalled, State, SteihaugModel,
                          TrustRegionParams, TrustRegionState, add_pair, forcing_term, line_search_step,
                          modified_cholesky, shifted_cholesky, solve_ldl, truncated_cg, trust_region_init,
                          trust_region_step, two_loop)


def searched(oracle: Oracle, state: State, d: np.ndarray, params: LineSearchParams, step: float = 1.0,
             **info: float) -> State:
    """The State a line search along d reaches, with the step length and the search's evaluations in `info`."""
    r = line_search_step(oracle, state.x, state.f, state.g, d, params, step)
    return State(x=r.x, f=r.f, g=r.g, info={**info, "alpha": r.alpha, "line_search_evaluations": r.nevals})


class Newton(Optimizer):
    """Newton's method on the exact Hessian made positive definite, then a line search.

    factorization "shift": Cholesky of H + tau I, tau the first of beta * 2^k that works (N&W Algorithm 3.3);
    "gill-murray": Gill, Murray & Wright's modified Cholesky (Practical Optimization 1981, sec. 4.4.2.2),
    which changes only the diagonal entries that need it.
    """

    name = "newton"
    order = 2

    class Params(LineSearchParams):
        beta: float = Field(1e-3, gt=0, description="first shift tried when the Hessian is not positive definite")
        factorization: Literal["shift", "gill-murray"] = Field("shift", description="how H is made positive definite")

    def step(self, oracle: Oracle, state: State) -> State:
        H = oracle.hessian(state.x)
        if self.params.factorization == "gill-murray":
            L, D = modified_cholesky(H)
            d = -solve_ldl(L, D, state.g)
        else:
            d = -scipy.linalg.cho_solve(shifted_cholesky(H, self.params.beta), state.g)
        return searched(oracle, state, d, self.params)


class NewtonCG(Optimizer):
    """Line-search Newton-CG (N&W Algorithm 7.1): truncated CG on HVPs with eta = min(0.5, sqrt||g||)."""

    name = "newton-cg"
    order = 2

    class Params(LineSearchParams):
        max_cg: int | None = Field(None, ge=1, description="most CG iterations per step (None: n)")

    def step(self, oracle: Oracle, state: State) -> State:
        x, g = state.x, state.g
        gnorm = float(np.linalg.norm(g))
        eta = forcing_term(gnorm)
        cg = truncated_cg(lambda v: oracle.hvp(x, v), g, eta * gnorm, self.params.max_cg)
        return searched(oracle, state, cg.p, self.params, cg_iterations=cg.iterations,
                        negative_curvature=cg.negative_curvature, forcing=eta)


class TrustNCG(Optimizer):
    """Trust-region Newton-CG: Steihaug-Toint CG on HVPs (N&W Algorithm 7.2) in the shared trust-region loop."""

    name = "trust-ncg"
    order = 2

    class Params(TrustRegionParams):
        max_cg: int | None = Field(None, ge=1, description="most CG iterations per step (None: n)")

    def init(self, oracle: Oracle, x0: np.ndarray) -> TrustRegionState:
        return trust_region_init(oracle, x0, self.params)

    def step(self, oracle: Oracle, state: TrustRegionState) -> TrustRegionState:
        return trust_region_step(oracle, state, lambda o, x, g: SteihaugModel(o, x, g, self.params.max_cg),
                                 self.params)


@dataclass(frozen=True)
class LBFGSState(State):
    """L-BFGS's state: the newest curvature pairs, oldest first."""

    pairs: tuple[Pair, ...] = ()


class LBFGS(Optimizer):
    """Limited-memory BFGS: two-loop recursion over the last `memory` pairs (s, y), strong Wolfe line search."""

    name = "lbfgs"
    order = 1

    class Params(LineSearchParams):
        memory: int = Field(10, ge=1, description="number of (s, y) pairs kept")

    def init(self, oracle: Oracle, x0: np.ndarray) -> LBFGSState:
        f, g = oracle.f_and_grad(x0)
        return LBFGSState(x=x0, f=f, g=g)

    def step(self, oracle: Oracle, state: LBFGSState) -> LBFGSState:
        pairs, restarted = state.pairs, False
        try:
            new = self._search(oracle, state, pairs)
        except Stalled:
            if not pairs:
                raise
            pairs, restarted = (), True  # restart from steepest descent
            new = self._search(oracle, state, pairs)
        pairs = add_pair(pairs, new.x - state.x, new.g - state.g, self.params.memory)
        return LBFGSState(x=new.x, f=new.f, g=new.g, info={**new.info, "restarted": restarted}, pairs=pairs)

    def _search(self, oracle: Oracle, state: State, pairs: tuple[Pair, ...]) -> State:
        """Line search along -H g; without pairs, steepest descent with a first step of length <= 1."""
        first = 1.0 if pairs else min(1.0, 1.0 / max(float(np.linalg.norm(state.g)), 1e-300))
        return searched(oracle, state, -two_loop(state.g, pairs), self.params, first)


@hookimpl
def optlab_optimizers() -> list[type[Optimizer]]:
    return [Newton, NewtonCG, TrustNCG, LBFGS]
