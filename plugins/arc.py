"""Adaptive regularization with cubics (ARC), on Hessian-vector products through a Lanczos subproblem solver."""
from __future__ import annotations

import numpy as np
from pydantic import Field

from optlab import hookimpl
from optlab.optim import (
    CubicKrylovModel,
    Optimizer,
    Oracle,
    RegularizationParams,
    RegularizationState,
    regularization_init,
    regularization_step,
)


class ARC(Optimizer):
    """Cartis, Gould & Toint, "Adaptive cubic regularisation methods for unconstrained optimization. Part I",
    Math. Program. 127, 2011: Algorithm 2.1 with the Lanczos subproblem solver of sec. 6.2 and stopping rule
    TC.s (||grad m(s)|| <= kappa min(1, ||s||) ||g||), their sigma update and constants (sec. 7)."""

    name = "arc"
    order = 2

    class Params(RegularizationParams):
        kappa: float = Field(0.1, gt=0, lt=1, description="subproblem tolerance kappa_theta in TC.s")
        max_lanczos: int | None = Field(None, ge=1, description="most Lanczos vectors per step (None: n)")

    def init(self, oracle: Oracle, x0: np.ndarray) -> RegularizationState:
        return regularization_init(oracle, x0, self.params)

    def step(self, oracle: Oracle, state: RegularizationState) -> RegularizationState:
        p = self.params
        return regularization_step(oracle, state, lambda o, x, g: CubicKrylovModel(o, x, g, p.kappa, p.max_lanczos), p)


@hookimpl
def optlab_optimizers() -> list[type[Optimizer]]:
    return [ARC]
