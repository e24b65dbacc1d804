"""Trust-region methods: one outer loop, a pluggable subproblem, and the radius update.

The shape is scipy's `_minimize_trust_region`: a method is its *model*, built at an iterate by
``model_at(oracle, x, g)`` and asked ``solve(radius) -> Step``; the loop evaluates the trial point,
judges it by rho = actual / predicted reduction, updates the radius and accepts or rejects. A rejected
step keeps the model, so a Hessian, a factorization or a Lanczos basis built at x is reused at the
smaller radius instead of being paid for again.

The radius constants are those of Nocedal & Wright Algorithm 4.1 and scipy: shrink to a quarter when
rho < 1/4, double (up to `max_radius`) when rho > 3/4 and the step reached the boundary. A step is
accepted when rho > eta; eta defaults to 0.15 as in scipy (N&W allow any eta in [0, 1/4)).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, NamedTuple, Protocol

import numpy as np
from pydantic import Field, model_validator

from .base import Params, State


class RadiusUpdate(NamedTuple):
    """The new radius, whether the trial step is accepted, and the ratio rho that decided both."""

    radius: float
    accept: bool
    rho: float


def update_radius(actual: float, predicted: float, radius: float, hits_boundary: bool,
                  max_radius: float, eta: float = 0.15) -> RadiusUpdate:
    """rho = actual / predicted reduction; shrink, keep or expand the radius and accept if rho > eta.

    A model that predicts no decrease, or a non-finite trial value, counts as a failed step
    (rho = -inf): the radius shrinks and the step is rejected, so the next step is shorter.
    """
    rho = actual / predicted if predicted > 0 and actual == actual else float("-inf")
    if rho < 0.25:
        radius = 0.25 * radius
    elif rho > 0.75 and hits_boundary:
        radius = min(2.0 * radius, max_radius)
    return RadiusUpdate(radius, rho > eta, rho)


class Step(NamedTuple):
    """A subproblem's answer: the step p, the reduction its model predicts (m(0) - m(p) > 0 if it descends),
    whether p lies on the boundary, and the solver's diagnostics (numbers and flags)."""

    p: np.ndarray
    predicted: float
    hits_boundary: bool
    info: dict[str, Any]


class Model(Protocol):
    """A local model at one iterate that can be minimized within a radius (or, for ARC, with a weight)."""

    def solve(self, size: float) -> Step: ...


ModelAt = Callable[[Any, np.ndarray, np.ndarray], Model]


class TrustRegionParams(Params):
    """The outer loop's parameters (scipy's names: initial_trust_radius, max_trust_radius, eta).

    The largest radius is 1e10, not scipy's 1000: a cap far below the distance to the solution turns a
    Newton method into a walk of fixed strides. On brown_badly_scaled (x0 = (1, 1), x* = (1e6, 2e-6)) every
    step at radius 1000 has rho = 1 and both scipy's trust-ncg and ours end at f = 2.5e11 after 1000
    iterations; uncapped the radius doubles to the distance and the methods converge in about 30.
    """

    radius: float = Field(1.0, gt=0, description="initial trust-region radius")
    max_radius: float = Field(1e10, gt=0, description="largest radius (scipy's default is 1000; see below)")
    eta: float = Field(0.15, ge=0, lt=0.25, description="accept a step when actual/predicted > eta")

    @model_validator(mode="after")
    def _radius_below_max(self) -> TrustRegionParams:
        if not self.radius <= self.max_radius:
            raise ValueError(f"radius ({self.radius}) must not exceed max_radius ({self.max_radius})")
        return self


@dataclass(frozen=True)
class TrustRegionState(State):
    """A trust-region method's state: the radius, and the model at x while steps from x are being rejected."""

    radius: float = 1.0
    model: Any = None


def trust_region_init(oracle: Any, x0: np.ndarray, params: TrustRegionParams) -> TrustRegionState:
    f, g = oracle.f_and_grad(x0)
    return TrustRegionState(x=x0, f=f, g=g, radius=params.radius)


def trust_region_step(oracle: Any, state: TrustRegionState, model_at: ModelAt,
                      params: TrustRegionParams) -> TrustRegionState:
    """One outer iteration: solve the model within the radius, try the step, update the radius.

    A non-finite trial is rejected and the radius shrinks; once no representable step is left, the trial
    is handed to the runner, which ends the run as diverged instead of shrinking forever.
    """
    if state.g is None:
        raise ValueError("trust_region_step: the state has no gradient at x")
    model = state.model if state.model is not None else model_at(oracle, state.x, state.g)
    step = model.solve(state.radius)
    x_new = state.x + step.p
    f_new, g_new = oracle.f_and_grad(x_new)
    tr = update_radius(state.f - f_new, step.predicted, state.radius, step.hits_boundary, params.max_radius,
                       params.eta)
    info = {"radius": state.radius, "rho": tr.rho, "accepted": tr.accept, **step.info}
    collapsed = not np.isfinite(f_new) and tr.radius < 1e-15 * (1.0 + float(np.linalg.norm(state.x)))
    if tr.accept or collapsed:  # `replace` keeps a subclass's own fields (a preconditioner's pairs, say)
        return replace(state, x=x_new, f=f_new, g=g_new, info=info, radius=tr.radius, model=None)
    return replace(state, info=info, radius=tr.radius, model=model)
