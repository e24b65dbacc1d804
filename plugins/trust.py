"""Trust-region methods beyond Steihaug: trust-exact (More-Sorensen) and trust-krylov (GLTR).

Both are only their subproblem in the shared loop `optlab.optim.trust_region_step`, as in scipy.
"""
from __future__ import annotations

import numpy as np
from pydantic import Field

from optlab import hookimpl
from optlab.optim import (
    GLTRModel,
    MoreSorensenModel,
    Optimizer,
    Oracle,
    TrustRegionParams,
    TrustRegionState,
    trust_region_init,
    trust_region_step,
)


class TrustRegionMethod(Optimizer):
    """Base: `model(oracle, x, g)` is the subproblem; the loop and the radius are shared."""

    order = 2
    Params = TrustRegionParams

    def init(self, oracle: Oracle, x0: np.ndarray) -> TrustRegionState:
        return trust_region_init(oracle, x0, self.params)

    def step(self, oracle: Oracle, state: TrustRegionState) -> TrustRegionState:
        return trust_region_step(oracle, state, self.model, self.params)

    def model(self, oracle: Oracle, x: np.ndarray, g: np.ndarray):  # noqa: ANN201
        raise NotImplementedError


class TrustExact(TrustRegionMethod):
    """Nearly exact trust region on the dense Hessian: More & Sorensen, "Computing a trust region step",
    SIAM J. Sci. Stat. Comput. 4(3), 1983 (Algorithm 3.14 with the hard case), with scipy trust-exact's
    safeguards (Conn, Gould & Toint, Trust-Region Methods, 2000, sec. 7.3). One Hessian per accepted
    iterate: a rejected step is re-solved from the same Hessian."""

    name = "trust-exact"

    def model(self, oracle: Oracle, x: np.ndarray, g: np.ndarray) -> MoreSorensenModel:
        return MoreSorensenModel(oracle, x, g)


class TrustKrylov(TrustRegionMethod):
    """GLTR: Gould, Lucidi, Roma & Toint, "Solving the trust-region subproblem using the Lanczos method",
    SIAM J. Optim. 9(2), 1999 (Algorithm 5.1): Lanczos on HVPs, the tridiagonal subproblem solved exactly
    at each size, leaving the Krylov space only in the (numerical) hard case."""

    name = "trust-krylov"

    class Params(TrustRegionParams):
        max_lanczos: int | None = Field(None, ge=1, description="most Lanczos vectors per step (None: n)")

    def model(self, oracle: Oracle, x: np.ndarray, g: np.ndarray) -> GLTRModel:
        return GLTRModel(oracle, x, g, self.params.max_lanczos)


@hookimpl
def optlab_optimizers() -> list[type[Optimizer]]:
    return [TrustExact, TrustKrylov]
