"""Adaptive regularization: one outer loop over a cubic model, the weight sigma in place of a radius.

Cartis, Gould & Toint (2011), "Adaptive cubic regularisation methods for unconstrained optimization,
Part I", Algorithm 2.1 (ARC): the step s approximately minimizes m(s) = f + g.s + s.Hs/2 + sigma ||s||^3/3;
rho = (f(x) - f(x + s)) / (f(x) - m(s)); accept when rho >= eta1; then sigma is decreased on a very
successful step (rho > eta2), kept on a successful one, increased by gamma on a failure. The constants
and the very-successful rule sigma <- max(min(sigma, ||g||), eps) are those of their numerical section
(eta1 = 0.1, eta2 = 0.9, gamma = 2, sigma0 = 1). The model is any object with ``solve(sigma) -> Step``
(`predicted` = f - m(s), the cubic term included), kept across failed steps as a trust region keeps its.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal, NamedTuple

import numpy as np
from pydantic import Field, model_validator

from .base import Params, State
from .trust_region import ModelAt

EPS = float(np.finfo(float).eps)


class RegularizationParams(Params):
    """ARC's parameters (Cartis, Gould & Toint 2011, sec. 7)."""

    sigma: float = Field(1.0, gt=0, description="initial regularization weight sigma0")
    eta1: float = Field(0.1, gt=0, lt=1, description="accept a step when rho >= eta1 (successful)")
    eta2: float = Field(0.9, gt=0, lt=1, description="rho > eta2 is very successful: sigma may decrease")
    gamma: float = Field(2.0, gt=1, description="sigma's growth factor after a failed step")
    sigma_min: float = Field(EPS, gt=0, description="smallest sigma")
    decrease: Literal["factor", "gradient"] = Field(
        "factor", description="after a very successful step: sigma / gamma, or CGT sec. 7's min(sigma, ||g||)")

    @model_validator(mode="after")
    def _eta1_below_eta2(self) -> RegularizationParams:
        if not self.eta1 <= self.eta2:
            raise ValueError(f"eta1 ({self.eta1}) must not exceed eta2 ({self.eta2})")
        return self


class SigmaUpdate(NamedTuple):
    sigma: float
    accept: bool
    rho: float


def update_sigma(actual: float, predicted: float, sigma: float, gnorm: float,
                 params: RegularizationParams) -> SigmaUpdate:
    """rho = actual / predicted; very successful: sigma / gamma (or min(sigma, ||g||)), at least sigma_min;
    successful: sigma; failed (or no predicted decrease, or a non-finite trial): gamma sigma.

    Algorithm 2.1 allows any sigma in (0, sigma_k] after a very successful step. CGT's sec. 7 choice
    min(sigma, ||g||) never decreases sigma while ||g|| > sigma, so on a badly scaled problem
    (brown_badly_scaled: ||g0|| = 2e6) the step stays near sqrt(||g|| / sigma) for hundreds of iterations;
    dividing by gamma lets it grow as a trust radius would. Both are offered; "factor" is the default.
    """
    rho = actual / predicted if predicted > 0 and actual == actual else float("-inf")
    if rho > params.eta2:
        smaller = sigma / params.gamma if params.decrease == "factor" else min(sigma, gnorm)
        sigma = max(smaller, params.sigma_min)
    elif rho < params.eta1:
        sigma = params.gamma * sigma
    return SigmaUpdate(sigma, rho >= params.eta1, rho)


@dataclass(frozen=True)
class RegularizationState(State):
    """An adaptive-regularization method's state: sigma, and the model at x while steps are failing."""

    sigma: float = 1.0
    model: Any = None


def regularization_init(oracle: Any, x0: np.ndarray, params: RegularizationParams) -> RegularizationState:
    f, g = oracle.f_and_grad(x0)
    return RegularizationState(x=x0, f=f, g=g, sigma=params.sigma)


def regularization_step(oracle: Any, state: RegularizationState, model_at: ModelAt,
                        params: RegularizationParams) -> RegularizationState:
    """One ARC iteration: minimize the cubic model for this sigma, try the step, update sigma.

    A non-finite trial fails and sigma grows; once sigma is so large that no representable step is left,
    the trial is handed to the runner, which ends the run as diverged.
    """
    if state.g is None:
        raise ValueError("regularization_step: the state has no gradient at x")
    model = state.model if state.model is not None else model_at(oracle, state.x, state.g)
    step = model.solve(state.sigma)
    x_new = state.x + step.p
    f_new, g_new = oracle.f_and_grad(x_new)
    up = update_sigma(state.f - f_new, step.predicted, state.sigma, float(np.linalg.norm(state.g)), params)
    info = {"sigma": state.sigma, "rho": up.rho, "accepted": up.accept, **step.info}
    tiny = 1e-15 * (1.0 + float(np.linalg.norm(state.x)))
    collapsed = not np.isfinite(f_new) and float(np.linalg.norm(step.p)) < tiny
    if up.accept or collapsed:
        return RegularizationState(x=x_new, f=f_new, g=g_new, info=info, sigma=up.sigma)
    return replace(state, info=info, sigma=up.sigma, model=model)
