"""Trust-region subproblem solvers (models for `trust_region_step`): Steihaug CG, More-Sorensen, GLTR.

Each is built at an iterate by ``Model(oracle, x, g, ...)`` and answers ``solve(radius) -> Step``.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import scipy  # scipy.linalg loads on first use (scipy's lazy submodules): importing this module stays light

from .krylov import forcing_term, preconditioned_cg, steihaug_cg
from .lanczos import Lanczos, cubic_tridiagonal, trust_region_tridiagonal
from .trust_region import Step


class SteihaugModel:
    """Steihaug-Toint CG on HVPs, stopping at ||r|| <= min(0.5, sqrt ||g||) ||g|| (N&W Algorithm 7.2)."""

    def __init__(self, oracle: Any, x: np.ndarray, g: np.ndarray, max_cg: int | None = None) -> None:
        self.hvp: Callable[[np.ndarray], np.ndarray] = lambda v: oracle.hvp(x, v)
        self.g, self.max_cg = g, max_cg
        self.gnorm = float(np.linalg.norm(g))

    def solve(self, radius: float) -> Step:
        eta = forcing_term(self.gnorm)
        cg = steihaug_cg(self.hvp, self.g, radius, eta * self.gnorm, self.max_cg)
        return Step(cg.p, cg.model_decrease(self.g), cg.hits_boundary,
                    {"cg_iterations": cg.iterations, "negative_curvature": cg.negative_curvature, "forcing": eta})


class PreconditionedSteihaugModel(SteihaugModel):
    """Steihaug-Toint CG preconditioned by `precondition` (M^{-1}), the region measured in M's norm
    (Conn, Gould & Toint 2000, Algorithm 7.5.1); same forcing term as `SteihaugModel`."""

    def __init__(self, oracle: Any, x: np.ndarray, g: np.ndarray, precondition: Callable[[np.ndarray], np.ndarray],
                 max_cg: int | None = None) -> None:
        super().__init__(oracle, x, g, max_cg)
        self.precondition = precondition

    def solve(self, radius: float) -> Step:
        eta = forcing_term(self.gnorm)
        cg = preconditioned_cg(self.hvp, self.g, self.precondition, eta * self.gnorm, radius, self.max_cg)
        return Step(cg.p, cg.model_decrease(self.g), cg.hits_boundary,
                    {"cg_iterations": cg.iterations, "negative_curvature": cg.negative_curvature, "forcing": eta})


def smallest_singular_value(U: np.ndarray) -> tuple[float, np.ndarray]:
    """Estimate of the smallest singular value of upper-triangular U and its right singular vector.

    Cline, Moler, Stewart and Wilkinson (1979), as in Golub & Van Loan 3.5.4: pick e in {+1, -1}^n greedily
    so that U^T w = e has a large solution, then solve U v = w; sigma_min ~ ||w|| / ||v||, vector v / ||v||.
    """
    n = len(U)
    partial, w = np.zeros(n), np.empty(n)
    for k in range(n):
        plus, minus = (1.0 - partial[k]) / U[k, k], (-1.0 - partial[k]) / U[k, k]
        with_plus, with_minus = partial[k + 1:] + U[k, k + 1:] * plus, partial[k + 1:] + U[k, k + 1:] * minus
        if abs(plus) + np.sum(np.abs(with_plus)) >= abs(minus) + np.sum(np.abs(with_minus)):
            w[k], partial[k + 1:] = plus, with_plus
        else:
            w[k], partial[k + 1:] = minus, with_minus
    v = scipy.linalg.solve_triangular(U, w)
    return float(np.linalg.norm(w) / np.linalg.norm(v)), v / np.linalg.norm(v)


def _boundary_roots(z: np.ndarray, d: np.ndarray, radius: float) -> tuple[float, float]:
    """t with ||z + t d|| = radius, low then high (the stable quadratic formula)."""
    a, b, c = float(d @ d), 2.0 * float(z @ d), float(z @ z) - radius ** 2
    aux = b + math.copysign(math.sqrt(b * b - 4.0 * a * c), b)
    return tuple(sorted((-aux / (2.0 * a), -2.0 * c / aux)))  # type: ignore[return-value]


class MoreSorensenModel:
    """Nearly exact trust-region step on the dense Hessian: More & Sorensen (1983), with the hard case.

    The choices are scipy's trust-exact (Conn, Gould & Toint 2000, sec. 7.3): lambda's safeguards from
    Gershgorin bounds and norms of H, theta = 0.01 between lambda's bounds, stopping when
    | ||p|| - radius | <= 0.1 radius (easy case) or, inside, when a step to the boundary along the
    estimated lowest singular vector changes the model by at most 0.2 of its size (hard case); at most
    25 factorizations. lambda's lower bound is kept across rejected steps at the same x, as scipy keeps it.
    """

    THETA, K_EASY, K_HARD, MAX_ITER = 0.01, 0.1, 0.2, 25

    def __init__(self, oracle: Any, x: np.ndarray, g: np.ndarray) -> None:
        self.H, self.g = oracle.hessian(x), g
        self.n, self.gnorm = len(g), float(np.linalg.norm(g))
        d, row = np.diag(self.H), np.sum(np.abs(self.H), axis=1)
        self.gersh_lo = float(np.min(d + np.abs(d) - row))
        self.gersh_hi = float(np.max(d - np.abs(d) + row))
        self.norm_inf, self.norm_fro = float(np.linalg.norm(self.H, np.inf)), float(np.linalg.norm(self.H, "fro"))
        self.close_to_zero = self.n * np.finfo(float).eps * self.norm_inf
        self.previous_radius, self.lam_lo_kept = -1.0, 0.0

    def _between(self, lo: float, hi: float) -> float:
        return max(math.sqrt(abs(lo * hi)), lo + self.THETA * (hi - lo))

    def _start(self, radius: float) -> tuple[float, float, float]:
        """Initial lambda and its bounds (Conn, Gould & Toint sec. 7.3.8)."""
        hi = max(0.0, self.gnorm / radius + min(-self.gersh_lo, self.norm_fro, self.norm_inf))
        lo = max(0.0, -float(np.min(np.diag(self.H))),
                 self.gnorm / radius - min(self.gersh_hi, self.norm_fro, self.norm_inf))
        if radius < self.previous_radius:
            lo = max(self.lam_lo_kept, lo)
        return (0.0 if lo == 0 else self._between(lo, hi)), lo, hi

    def _factor(self, lam: float) -> tuple[np.ndarray, np.ndarray, int]:
        shifted = self.H + lam * np.eye(self.n)
        U, info = scipy.linalg.lapack.dpotrf(shifted, lower=False, clean=True, overwrite_a=False)
        return shifted, U, info

    def solve(self, radius: float) -> Step:
        lam, lo, hi = self._start(radius)
        p, boundary, factorizations, hard, indefinite = np.zeros(self.n), True, 0, False, 0
        shifted, U, info = self._factor(lam)
        fresh = True
        while factorizations < self.MAX_ITER:
            if not fresh:
                shifted, U, info = self._factor(lam)
            fresh = False
            factorizations += 1
            if info == 0 and self.gnorm > self.close_to_zero:
                p = scipy.linalg.cho_solve((U, False), -self.g)
                pnorm = float(np.linalg.norm(p))
                if pnorm <= radius and lam == 0:
                    boundary = False
                    break
                w = scipy.linalg.solve_triangular(U, p, trans="T")
                lam_newton = lam + (pnorm / float(np.linalg.norm(w))) ** 2 * (pnorm - radius) / radius
                if pnorm < radius:  # inside with lambda > 0: try the hard case's step to the boundary
                    s_min, z_min = smallest_singular_value(U)
                    step_len = min(_boundary_roots(p, z_min, radius), key=abs)
                    if step_len ** 2 * s_min ** 2 / (float(p @ (shifted @ p)) + lam * radius ** 2) <= self.K_HARD:
                        p, hard = p + step_len * z_min, True
                        break
                    hi, lo = lam, max(lo, lam - s_min ** 2)
                    shifted, U, info = self._factor(lam_newton)
                    if info == 0:
                        lam, fresh = lam_newton, True
                    else:
                        lo = max(lo, lam_newton)
                        lam = self._between(lo, hi)
                else:  # outside: Newton's step on the secular equation (N&W eq. 4.44)
                    if abs(pnorm - radius) / radius <= self.K_EASY:
                        break
                    lo, lam = lam, lam_newton
            elif info == 0:  # g is zero to rounding: the step is along the lowest curvature, or nothing
                if lam == 0:
                    p, boundary = np.zeros(self.n), False
                    break
                s_min, z_min = smallest_singular_value(U)
                p = radius * z_min
                if radius ** 2 * s_min ** 2 <= self.K_HARD * lam * radius ** 2:
                    break
                hi, lo = lam, max(lo, lam - s_min ** 2)
                lam = self._between(lo, hi)
            else:  # not positive definite: the leading minor of order `info` is made singular by delta
                k, indefinite = info, indefinite + 1
                delta = float(np.sum(U[:k - 1, k - 1] ** 2)) - shifted[k - 1, k - 1]
                v = np.zeros(self.n)
                v[k - 1] = 1.0
                if k > 1:
                    v[:k - 1] = scipy.linalg.solve_triangular(U[:k - 1, :k - 1], -U[:k - 1, k - 1])
                lo = max(lo, lam + delta / float(v @ v))
                lam = self._between(lo, hi)
        self.lam_lo_kept, self.previous_radius = lo, radius
        predicted = -float(self.g @ p + 0.5 * p @ (self.H @ p))
        return Step(p, predicted, boundary, {"factorizations": factorizations, "lambda": lam, "hard_case": hard,
                                             "indefinite_factorizations": indefinite})


class GLTRModel:
    """GLTR (Gould, Lucidi, Roma & Toint 1999): the trust-region model minimized over growing Krylov spaces.

    Lanczos on HVPs; at each size k the tridiagonal problem is solved exactly (`lanczos` module), and the
    iteration stops when the model's gradient |beta_k h_k| <= tol: min(0.5, ||g||) ||g|| inside the region
    (quadratic convergence once the radius is inactive) and min(0.5, sqrt ||g||) ||g|| on the boundary,
    as scipy's trust-krylov asks of trlib (tol_rel_i = -2, tol_rel_b = -3). The basis is kept, so a
    rejected step is re-solved at the smaller radius from the products already made.
    """

    def __init__(self, oracle: Any, x: np.ndarray, g: np.ndarray, max_lanczos: int | None = None) -> None:
        self.lanczos = Lanczos(lambda v: oracle.hvp(x, v), g, max_lanczos or g.size)
        self.gnorm = float(np.linalg.norm(g))

    def solve(self, radius: float) -> Step:
        lz, used = self.lanczos, self.lanczos.products
        if lz.gamma == 0:
            return Step(np.zeros(lz.n), 0.0, False, {"lanczos": 0})
        if lz.size == 0:
            lz.extend()
        if lz.size == 0:  # the first product was not finite: steepest descent to the boundary
            return Step(-radius * lz.Q[0], radius * lz.gamma, True, {"lanczos": 0, "nonfinite_hvp": True})
        while True:
            small = trust_region_tridiagonal(lz, radius)
            forcing = min(0.5, math.sqrt(self.gnorm)) if small.boundary else min(0.5, self.gnorm)
            if lz.exhausted or lz.residual(small.h) <= forcing * self.gnorm or not np.all(np.isfinite(small.h)):
                break
            lz.extend()
        h = small.h
        T = lz.tridiagonal()[:len(h), :len(h)]
        predicted = -float(lz.gamma * h[0] + 0.5 * h @ T @ h)
        return Step(lz.expand(h), predicted, small.boundary,
                    {"lanczos": lz.size, "new_products": lz.products - used, "lambda": small.lam,
                     "hard_case": small.hard_case, "negative_curvature": bool(lz.eig()[0][0] < 0), "forcing": forcing})


class CubicKrylovModel:
    """ARC's subproblem on HVPs: the cubic model minimized over growing Lanczos spaces (CGT 2011, sec. 6.2).

    Stops by their rule TC.s: ||grad m(s)|| = |beta_k h_k| <= kappa min(1, ||s||) ||g|| with kappa = 0.1,
    which keeps ARC's fast local convergence; the Krylov basis is kept for a re-solve at a larger sigma.
    """

    def __init__(self, oracle: Any, x: np.ndarray, g: np.ndarray, kappa: float = 0.1,
                 max_lanczos: int | None = None) -> None:
        self.lanczos = Lanczos(lambda v: oracle.hvp(x, v), g, max_lanczos or g.size)
        self.gnorm, self.kappa = float(np.linalg.norm(g)), kappa

    def solve(self, sigma: float) -> Step:
        lz, used = self.lanczos, self.lanczos.products
        if lz.gamma == 0:
            return Step(np.zeros(lz.n), 0.0, False, {"lanczos": 0})
        if lz.size == 0:
            lz.extend()
        if lz.size == 0:  # the first product was not finite: the Cauchy step of the cubic without curvature
            t = math.sqrt(lz.gamma / sigma)
            return Step(-t * lz.Q[0], lz.gamma * t - sigma * t ** 3 / 3, True, {"lanczos": 0, "nonfinite_hvp": True})
        while True:
            small = cubic_tridiagonal(lz, sigma)
            hnorm = float(np.linalg.norm(small.h))
            if (lz.exhausted or lz.residual(small.h) <= self.kappa * min(1.0, hnorm) * self.gnorm
                    or not np.all(np.isfinite(small.h))):
                break
            lz.extend()
        h = small.h
        T = lz.tridiagonal()[:len(h), :len(h)]
        predicted = -float(lz.gamma * h[0] + 0.5 * h @ T @ h + sigma * hnorm ** 3 / 3.0)
        return Step(lz.expand(h), predicted, True,
                    {"lanczos": lz.size, "new_products": lz.products - used, "lambda": small.lam,
                     "hard_case": small.hard_case, "negative_curvature": bool(lz.eig()[0][0] < 0)})
