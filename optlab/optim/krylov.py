"""Conjugate gradient on the Newton model m(p) = g.p + p.Hp/2, using only Hessian-vector products.

`truncated_cg` is the inner loop of line-search Newton-CG (Nocedal & Wright Algorithm 7.1);
`steihaug_cg` is Steihaug-Toint CG for a trust region (N&W Algorithm 7.2). Both return H p as well,
recovered from the residual (H p = r - g), so a caller gets the model value g.p + p.Hp/2 without
another Hessian-vector product.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np

HVP = Callable[[np.ndarray], np.ndarray]


class CGResult(NamedTuple):
    """The step p, H p, whether it stopped on the trust-region boundary or on negative curvature, and CG iterations."""

    p: np.ndarray
    Hp: np.ndarray
    hits_boundary: bool
    negative_curvature: bool
    iterations: int

    def model_decrease(self, g: np.ndarray) -> float:
        """m(0) - m(p) = -(g.p + p.Hp/2): the reduction the quadratic model predicts."""
        return -float(g @ self.p + 0.5 * (self.p @ self.Hp))


def forcing_term(gnorm: float) -> float:
    """eta = min(0.5, sqrt(||g||)): CG stops at ||r|| <= eta ||g||, giving superlinear convergence (N&W 7.1)."""
    return min(0.5, math.sqrt(gnorm))


def _to_boundary(p: np.ndarray, d: np.ndarray, radius: float) -> tuple[float, float]:
    """The roots ta <= 0 <= tb of ||p + t d|| = radius (p inside the region)."""
    a, b, c = float(d @ d), 2.0 * float(p @ d), float(p @ p) - radius * radius
    sq = math.sqrt(max(b * b - 4.0 * a * c, 0.0))
    q = -0.5 * (b + math.copysign(sq, b))  # the stable form of the quadratic formula
    t1, t2 = (q / a, c / q) if q != 0 else (-math.sqrt(-c / a), math.sqrt(-c / a))
    return min(t1, t2), max(t1, t2)


def _cg(hvp: HVP, g: np.ndarray, tol: float, max_iter: int | None, radius: float | None) -> CGResult:
    """CG on H p = -g from p = 0; with a `radius`, Steihaug-Toint's exits at the trust-region boundary."""
    max_iter = g.size if max_iter is None else max_iter
    p, r = np.zeros_like(g), g
    d, rr = -r, float(r @ r)
    for k in range(max_iter):
        if math.sqrt(rr) <= tol:
            return CGResult(p, r - g, False, False, k)
        Hd = hvp(d)
        dHd = float(d @ Hd)
        if not dHd > 0:  # negative curvature, or a NaN product treated as such
            if radius is None:  # -g on the first iteration, else the current p: both descent directions
                return CGResult(d, Hd, False, True, 1) if k == 0 else CGResult(p, r - g, False, True, k + 1)
            ta, tb = _to_boundary(p, d, radius)
            # m(p + t d) - m(p) = t (g + Hp).d + t^2 dHd / 2, and g + Hp = r: take the lower boundary point
            rd = float(r @ d)
            t = ta if ta * rd + 0.5 * ta * ta * dHd < tb * rd + 0.5 * tb * tb * dHd else tb
            return CGResult(p + t * d, r - g + t * Hd, True, True, k + 1)
        alpha = rr / dHd
        p_next = _axpy(alpha, d, p)
        if radius is not None and float(p_next @ p_next) >= radius * radius:
            tb = _to_boundary(p, d, radius)[1]  # the step leaves the region: stop where it crosses
            return CGResult(p + tb * d, r - g + tb * Hd, True, False, k + 1)
        p, r = p_next, _axpy(alpha, Hd, r)
        rr_next = float(r @ r)
        d, rr = _scaled_minus(rr_next / rr, d, r), rr_next
    return CGResult(p, r - g, False, False, max_iter)


def _axpy(a: float, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """y + a x in a new array, one temporary less than the expression (the same two roundings, so the
    same bits: a sum commutes)."""
    out = a * x
    out += y
    return out


def _scaled_minus(b: float, d: np.ndarray, r: np.ndarray) -> np.ndarray:
    """-r + b d in a new array, two passes instead of three: b d - r is b d + (-r), the same bits."""
    out = b * d
    out -= r
    return out


def truncated_cg(hvp: HVP, g: np.ndarray, tol: float, max_iter: int | None = None) -> CGResult:
    """Approximately solve H p = -g by CG from p = 0, stopping when ||Hp + g|| <= tol.

    On a direction d with d.Hd <= 0 (or NaN) it stops: with -g on the first iteration (still a
    descent direction), else with the current p (a descent direction by construction of CG).
    """
    return _cg(hvp, g, tol, max_iter, None)


def steihaug_cg(hvp: HVP, g: np.ndarray, radius: float, tol: float, max_iter: int | None = None) -> CGResult:
    """Steihaug-Toint CG: minimize the model over ||p|| <= radius approximately (N&W Algorithm 7.2).

    Stops inside when ||Hp + g|| <= tol; when a CG step would leave the region, at the boundary
    (positive root tau); on negative curvature, at whichever boundary point along d has the lower model value.
    """
    return _cg(hvp, g, tol, max_iter, radius)


def preconditioned_cg(hvp: HVP, g: np.ndarray, precondition: Callable[[np.ndarray], np.ndarray], tol: float,
                      radius: float | None = None, max_iter: int | None = None) -> CGResult:
    """Preconditioned CG on H p = -g; with a `radius`, Steihaug-Toint in the preconditioner's norm ||p||_M <= radius.

    `precondition(r)` applies M^{-1}. ||p||_M is carried by the recurrences of Conn, Gould & Toint (Trust-Region
    Methods, 2000, Algorithm 7.5.1): ||p + a d||_M^2 = ||p||_M^2 + 2a p.Md + a^2 d.Md, p.Md <- beta (p.Md + alpha d.Md),
    d.Md <- r.z + beta^2 d.Md, so M itself is never needed. Exits as `steihaug_cg` / `truncated_cg`, measured in M.
    """
    max_iter = g.size if max_iter is None else max_iter
    p, r = np.zeros_like(g), g
    z = precondition(r)
    d, rz = -z, float(r @ z)
    pMp, pMd, dMd = 0.0, 0.0, rz

    def to_boundary(radius: float) -> tuple[float, float]:
        a, b, c = dMd, 2.0 * pMd, pMp - radius * radius
        sq = math.sqrt(max(b * b - 4.0 * a * c, 0.0))
        q = -0.5 * (b + math.copysign(sq, b))
        t1, t2 = (q / a, c / q) if q != 0 else (-math.sqrt(-c / a), math.sqrt(-c / a))
        return min(t1, t2), max(t1, t2)

    for k in range(max_iter):
        if math.sqrt(float(r @ r)) <= tol:
            return CGResult(p, r - g, False, False, k)
        Hd = hvp(d)
        dHd = float(d @ Hd)
        if not dHd > 0:
            if radius is None:
                return CGResult(d, Hd, False, True, 1) if k == 0 else CGResult(p, r - g, False, True, k + 1)
            ta, tb = to_boundary(radius)
            rd = float(r @ d)
            t = ta if ta * rd + 0.5 * ta * ta * dHd < tb * rd + 0.5 * tb * tb * dHd else tb
            return CGResult(p + t * d, r - g + t * Hd, True, True, k + 1)
        alpha = rz / dHd
        if radius is not None and pMp + 2.0 * alpha * pMd + alpha * alpha * dMd >= radius * radius:
            tb = to_boundary(radius)[1]
            return CGResult(p + tb * d, r - g + tb * Hd, True, False, k + 1)
        p, r = _axpy(alpha, d, p), _axpy(alpha, Hd, r)
        pMp += 2.0 * alpha * pMd + alpha * alpha * dMd
        z = precondition(r)
        rz_next = float(r @ z)
        beta = rz_next / rz
        pMd, dMd = beta * (pMd + alpha * dMd), rz_next + beta * beta * dMd
        d, rz = _scaled_minus(beta, d, z), rz_next
    return CGResult(p, r - g, False, False, max_iter)
