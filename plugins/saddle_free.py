"""Saddle-free Newton: Newton's step with the Hessian's eigenvalues replaced by their absolute values."""
from __future__ import annotations

import numpy as np
from pydantic import Field

from optlab import hookimpl
from optlab.optim import Lanczos, LineSearchParams, Optimizer, Oracle, State, line_search_step


class SaddleFreeNewton(Optimizer):
    """Dauphin, Pascanu, Gulcehre, Cho, Ganguli & Bengio, "Identifying and attacking the saddle point problem in
    high-dimensional non-convex optimization", NeurIPS 2014, Algorithm 1 (approximate saddle-free Newton):
    a k-dimensional Krylov basis V from Lanczos on HVPs, |H| ~ V |V^T H V| V^T through the eigendecomposition
    of the tridiagonal V^T H V, and the step -V (|T| + lambda I)^{-1} V^T g, a descent direction even where H
    is indefinite. Dauphin et al. pick lambda by trying several; here lambda = damping * max|eigenvalue| and a
    line search chooses the length."""

    name = "saddle-free-newton"
    order = 2

    class Params(LineSearchParams):
        krylov: int = Field(20, ge=1, description="Krylov dimension k (at most n)")
        damping: float = Field(1e-4, ge=0, description="lambda over the largest |eigenvalue| in the Krylov block")

    def step(self, oracle: Oracle, state: State) -> State:
        x, g = state.x, state.g
        lz = Lanczos(lambda v: oracle.hvp(x, v), g, min(self.params.krylov, g.size))
        while lz.gamma > 0 and not lz.exhausted:
            lz.extend()
        if lz.size == 0:  # g = 0 or the first product was not finite: a gradient step
            d, negative = -g, False
        else:
            theta, V = lz.eig()
            shift = np.abs(theta) + self.params.damping * max(float(np.max(np.abs(theta))), np.finfo(float).tiny)
            d = -lz.expand(V @ ((lz.gamma * V[0, :]) / shift))
            negative = bool(theta[0] < 0)
        r = line_search_step(oracle, x, state.f, g, d, self.params)
        return State(x=r.x, f=r.f, g=r.g, info={"alpha": r.alpha, "krylov": lz.size, "negative_curvature": negative,
                                                   "line_search_evaluations": r.nevals})


@hookimpl
def optlab_optimizers() -> list[type[Optimizer]]:
    return [SaddleFreeNewton]
