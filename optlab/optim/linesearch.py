"""Line searches along a direction d from x: Armijo backtracking and strong Wolfe (Nocedal & Wright 3.5/3.6).

Both evaluate through ``oracle.f_and_grad`` (or any callable x -> (f, g)), so every trial point is
counted by the oracle and the accepted point comes back with its value and gradient: the caller's
State stays exact without another call. Non-finite trial values count as "too far" and are backed
away from. A search that finds no acceptable step returns ``alpha == 0`` with the start point, so a
step can report "no progress" instead of looping; except when its last trial was non-finite (the
objective is NaN or inf as close to x as it looked): that trial is returned, so the runner sees the
divergence and ends the run instead of stalling.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Literal, NamedTuple

import numpy as np
from pydantic import Field, model_validator

from .base import Params, Stalled

FG = Callable[[np.ndarray], tuple[float, np.ndarray]]


class LineSearchResult(NamedTuple):
    """The accepted step length and the point it gives, with f and g there; `success` if the conditions hold."""

    alpha: float
    x: np.ndarray
    f: float
    g: np.ndarray
    success: bool
    nevals: int


def _fg(oracle: Any) -> FG:
    return getattr(oracle, "f_and_grad", oracle)


def _failed(x: np.ndarray, f: float, g: np.ndarray, last: tuple, n: int) -> LineSearchResult:
    """No acceptable step: the start point, or the last trial if its value was non-finite."""
    alpha, x_last, f_last, g_last = last
    if not math.isfinite(f_last):
        return LineSearchResult(alpha, x_last, f_last, g_last, False, n)
    return LineSearchResult(0.0, x, f, g, False, n)


def armijo(oracle: Any, x: np.ndarray, f: float, g: np.ndarray, d: np.ndarray, step: float = 1.0,
           c1: float = 1e-4, shrink: float = 0.5, max_steps: int = 30) -> LineSearchResult:
    """Backtrack alpha = step, shrink*step, ... until f(x + alpha d) <= f + c1 alpha g.d (sufficient decrease).

    Each trial costs one ``f_and_grad``; gradients at rejected points are wasted, but the accepted
    point needs its gradient anyway and one combined call is cheaper than f then grad.
    """
    fg, slope = _fg(oracle), float(g @ d)
    if not slope < 0:
        return LineSearchResult(0.0, x, f, g, False, 0)
    alpha = step
    for k in range(1, max_steps + 1):
        x_new = x + alpha * d
        f_new, g_new = fg(x_new)
        if f_new <= f + c1 * alpha * slope:
            return LineSearchResult(alpha, x_new, f_new, g_new, True, k)
        last, alpha = (alpha, x_new, f_new, g_new), alpha * shrink
    return _failed(x, f, g, last, max_steps)


def _cubic_min(a: float, fa: float, da: float, b: float, fb: float, db: float) -> float:
    """Minimizer of the cubic matching f and f' at a and b (N&W eq. 3.59); nan if it has none."""
    d1 = da + db - 3.0 * (fa - fb) / (a - b)
    disc = d1 * d1 - da * db
    if not disc >= 0:
        return math.nan
    d2 = math.copysign(math.sqrt(disc), b - a)
    return b - (b - a) * (db + d2 - d1) / (db - da + 2.0 * d2)


def _quad_min(a: float, fa: float, da: float, b: float, fb: float) -> float:
    """Minimizer of the quadratic matching f(a), f'(a), f(b); nan if it is not convex."""
    curv = (fb - fa - da * (b - a)) / (b - a) ** 2
    return a - da / (2.0 * curv) if curv > 0 else math.nan


def _interpolate(lo: tuple, hi: tuple) -> float:
    """A trial step strictly inside (lo, hi): cubic, else quadratic, else bisection (kept 10% off the ends)."""
    (a, fa, da), (b, fb, db) = lo, hi
    left, right = min(a, b), max(a, b)
    margin = 0.1 * (right - left)
    for t in (_cubic_min(a, fa, da, b, fb, db) if math.isfinite(fb) and math.isfinite(db) else math.nan,
              _quad_min(a, fa, da, b, fb) if math.isfinite(fb) else math.nan):
        if left + margin <= t <= right - margin:
            return t
    return 0.5 * (a + b)


def strong_wolfe(oracle: Any, x: np.ndarray, f: float, g: np.ndarray, d: np.ndarray, step: float = 1.0,
                 c1: float = 1e-4, c2: float = 0.9, max_steps: int = 30, max_alpha: float = 1e10,
                 lazy: bool = False) -> LineSearchResult:
    """Find alpha with f(x+alpha d) <= f + c1 alpha g.d and |g(x+alpha d).d| <= c2 |g.d| (N&W Alg. 3.5/3.6).

    Bracketing doubles alpha from `step`; zoom interpolates with a cubic through the values and slopes at
    the bracket ends. After `max_steps` evaluations without the curvature condition, the best point that
    satisfies sufficient decrease is returned with ``success=False`` (if none: see the module docstring).
    `lazy` (an oracle with ``f`` and ``grad``): a trial's value comes first and its gradient only if the
    trial can be kept (sufficient decrease and below the bracket's low end), as scipy's
    ``line_search_wolfe2`` does, so a rejected trial costs one f, not one f and one gradient; zoom then
    interpolates a quadratic toward an end whose slope is unknown.
    """
    fg, slope0 = _fg(oracle), float(g @ d)
    if not slope0 < 0:
        return LineSearchResult(0.0, x, f, g, False, 0)
    value = getattr(oracle, "f", None) if lazy else None
    best = (0.0, x, f, g)  # the bracket's low end: lowest f seen that satisfies sufficient decrease
    prev = (0.0, f, slope0)
    alpha, n = min(step, max_alpha), 0
    last = best  # the latest trial, returned if it was non-finite and nothing else was acceptable

    def armijo_fails(a: float, fa: float) -> bool:
        return not fa <= f + c1 * a * slope0  # also true for nan / inf

    def evaluate(a: float, below: float) -> tuple[np.ndarray, float, np.ndarray, float]:
        """x + a d with f, g and the slope there; lazily, g is nan (not computed) where f >= below or Armijo fails."""
        nonlocal last
        xa = x + a * d
        if value is not None:
            fa = value(xa)
            if armijo_fails(a, fa) or fa >= below:
                ga = np.full_like(x, np.nan)
                last = (a, xa, fa, ga)
                return xa, fa, ga, math.nan
            ga = oracle.grad(xa)
        else:
            fa, ga = fg(xa)
        last = (a, xa, fa, ga)
        return xa, fa, ga, float(ga @ d)

    lo: tuple[float, float, float] = prev
    hi: tuple[float, float, float] | None = None
    while n < max_steps:  # Algorithm 3.5: bracket
        xa, fa, ga, da = evaluate(alpha, prev[1] if n > 0 else math.inf)
        n += 1
        if armijo_fails(alpha, fa) or (n > 1 and fa >= prev[1]):
            lo, hi = prev, (alpha, fa, da)
            break
        if abs(da) <= -c2 * slope0:
            return LineSearchResult(alpha, xa, fa, ga, True, n)
        best = (alpha, xa, fa, ga)
        if da >= 0:
            lo, hi = (alpha, fa, da), prev
            break
        if alpha >= max_alpha:
            break
        prev, alpha = (alpha, fa, da), min(2.0 * alpha, max_alpha)
    while hi is not None and n < max_steps:  # Algorithm 3.6: zoom between lo (low f) and hi
        if abs(hi[0] - lo[0]) <= 1e-12 * max(lo[0], hi[0]):
            break
        alpha = _interpolate(lo, hi)
        xa, fa, ga, da = evaluate(alpha, lo[1])
        n += 1
        if armijo_fails(alpha, fa) or fa >= lo[1]:
            hi = (alpha, fa, da)
            continue
        if abs(da) <= -c2 * slope0:
            return LineSearchResult(alpha, xa, fa, ga, True, n)
        if da * (hi[0] - lo[0]) >= 0:
            hi = lo
        lo, best = (alpha, fa, da), (alpha, xa, fa, ga)
    if best[0] == 0:
        return _failed(x, f, g, last, n)
    a, xa, fa, ga = best
    return LineSearchResult(a, xa, fa, ga, False, n)


class LineSearchParams(Params):
    """Parameters of a line-search method: the rule, its constants, and the evaluations allowed per search."""

    line_search: Literal["strong_wolfe", "armijo"] = Field("strong_wolfe", description="step-length rule")
    c1: float = Field(1e-4, gt=0, lt=1, description="sufficient-decrease constant")
    c2: float = Field(0.9, gt=0, lt=1, description="curvature constant (strong Wolfe)")
    max_ls: int = Field(30, ge=1, description="most evaluations per line search")
    lazy_gradient: bool = Field(False, description="strong Wolfe: the gradient only at trials that can be kept")

    @model_validator(mode="after")
    def _c1_below_c2(self) -> LineSearchParams:
        if not self.c1 < self.c2:
            raise ValueError(f"c1 ({self.c1}) must be smaller than c2 ({self.c2})")
        return self


def line_search_step(oracle: Any, x: np.ndarray, f: float, g: np.ndarray, d: np.ndarray, params: LineSearchParams,
                     step: float = 1.0) -> LineSearchResult:
    """Search along d by the rule `params` names; raise `Stalled` when it finds no acceptable step."""
    if params.line_search == "armijo":
        r = armijo(oracle, x, f, g, d, step, params.c1, max_steps=params.max_ls)
    else:
        r = strong_wolfe(oracle, x, f, g, d, step, params.c1, params.c2, params.max_ls, lazy=params.lazy_gradient)
    if r.alpha == 0:
        raise Stalled(f"the {params.line_search} line search found no acceptable step in {r.nevals} evaluations")
    return r
