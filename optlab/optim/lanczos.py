"""Lanczos on Hessian-vector products, and the trust-region and cubic subproblems on its tridiagonal matrix.

GLTR (Gould, Lucidi, Roma, Toint 1999) and ARC's Krylov solver (Cartis, Gould, Toint 2011, sec. 6.2)
minimize the model over the Krylov space K_k(H, g) = span{g, Hg, ..., H^{k-1} g}. With the Lanczos basis
Q_k (q_1 = g / ||g||) the model there is gamma e_1.h + h.T_k h / 2 (+ sigma ||h||^3 / 3), T_k tridiagonal,
and s = Q_k h. Its gradient in the whole space is beta_k h_k q_{k+1}, so |beta_k h_k| is the stopping
test, known without another product. The basis is kept (and reorthogonalized), so a model built at x can
be re-solved for another radius or weight, and extended, without repeating a product.

The small problems are solved through T_k's eigendecomposition: h(lambda) = -(T_k + lambda I)^{-1} gamma e_1
and a safeguarded Newton iteration on phi(lambda) = 1/||h(lambda)|| - 1/target(lambda) (More & Sorensen's
secular equation; target = radius, or lambda / sigma for the cubic). For an unreduced T_k the first
component of every eigenvector is nonzero, so the hard case cannot occur in exact arithmetic: the Krylov
space is left (along the lowest eigenvector) only when that component is zero to rounding.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np
import scipy  # scipy.linalg loads on first use (scipy's lazy submodules): importing this module stays light

HVP = Callable[[np.ndarray], np.ndarray]


class Lanczos:
    """The Lanczos process on H from g, extended one product at a time, with full reorthogonalization."""

    def __init__(self, hvp: HVP, g: np.ndarray, max_size: int) -> None:
        self.hvp, self.gamma, self.max_size, self.n = hvp, float(np.linalg.norm(g)), max_size, g.size
        self.Q: list[np.ndarray] = [g / self.gamma] if self.gamma > 0 else []
        self.alpha: list[float] = []
        self.beta: list[float] = []  # beta[k] couples q_{k+1} to q_{k+2}; beta[-1] is the residual's size
        self.products = 0
        self.broken = False  # an HVP came back non-finite: T_k holds only the finite part

    @property
    def size(self) -> int:
        return len(self.alpha)

    @property
    def exhausted(self) -> bool:
        """The Krylov space is invariant (beta = 0) or has reached its largest size."""
        return self.broken or self.size >= self.max_size or (bool(self.beta) and self.beta[-1] == 0.0)

    def extend(self) -> None:
        """One more product: T grows by a row and a column, and the next residual's size is known."""
        q = self.Q[-1]
        w = self.hvp(q)
        self.products += 1
        a = float(q @ w)
        w = w - a * q - (self.beta[-1] * self.Q[-2] if self.beta else 0.0)
        for basis in self.Q:  # full reorthogonalization (twice is enough): keeps Q^T H Q = T to rounding
            w = w - (basis @ w) * basis
        b = float(np.linalg.norm(w))
        if not (math.isfinite(a) and math.isfinite(b)):  # a non-finite product: the space stops growing
            self.broken = True
            return
        self.alpha.append(a)
        tiny = 1e-14 * max(abs(a), max((abs(x) for x in self.alpha), default=0.0), 1e-300)
        self.beta.append(0.0 if not b > tiny else b)
        if self.beta[-1] > 0 and self.size < self.max_size:
            self.Q.append(w / b)

    def eig(self) -> tuple[np.ndarray, np.ndarray]:
        """Eigenvalues (ascending) and eigenvectors of T_k."""
        if self.size == 1:
            return np.array(self.alpha), np.ones((1, 1))
        return scipy.linalg.eigh_tridiagonal(np.array(self.alpha), np.array(self.beta[:-1]))

    def tridiagonal(self) -> np.ndarray:
        k = self.size
        return np.diag(self.alpha) + np.diag(self.beta[:k - 1], 1) + np.diag(self.beta[:k - 1], -1)

    def expand(self, h: np.ndarray) -> np.ndarray:
        """s = Q_k h."""
        return np.asarray(self.Q[:len(h)]).T @ h

    def residual(self, h: np.ndarray) -> float:
        """||gradient of the model at Q_k h|| = beta_k |h_k| (zero once the space is invariant)."""
        return abs(self.beta[-1] * float(h[-1]))


class Small(NamedTuple):
    """A solution of the small problem: h, the multiplier lambda, whether it is on the boundary (lambda > 0
    for a trust region), and whether the Krylov space was left along the lowest eigenvector (hard case)."""

    h: np.ndarray
    lam: float
    boundary: bool
    hard_case: bool


def _secular(evals: np.ndarray, c: np.ndarray, lo: float, inv_target: Callable[[float], tuple[float, float]],
             ) -> float | None:
    """lambda > lo with phi(lambda) = 1/||h(lambda)|| - inv_target(lambda) = 0, where
    ||h(lambda)||^2 = sum c_i^2 / (evals_i + lambda)^2; `inv_target` gives 1/target and its derivative.

    phi increases from below zero at lo to +inf; None if it is already positive just right of the pole
    at lo (the hard case). Newton from the left with bisection as safeguard (More & Sorensen 1983).
    """
    def phi(lam: float) -> tuple[float, float]:
        d = evals + lam
        if np.any(d == 0):
            return -math.inf, math.nan
        norm2 = float(np.sum((c / d) ** 2))
        if not norm2 > 1e-300:  # h is zero to rounding: past any target
            return math.inf, math.nan
        it, dit = inv_target(lam)
        hnorm = math.sqrt(norm2)
        return 1.0 / hnorm - it, float(np.sum((c / hnorm) ** 2 / d ** 3)) / hnorm - dit

    scale = max(abs(float(evals[0])), abs(float(evals[-1])), 1.0)
    a = lo
    if evals[0] + lo <= 0:  # the pole of h at lo: a solution within rounding of it is the hard case
        a = lo + 1e-12 * scale
        if phi(a)[0] > 0:
            return None
    b = a + scale
    while phi(b)[0] < 0:
        a, b = b, 2.0 * b
    lam = a
    for _ in range(200):
        v, dv = phi(lam)
        if v < 0:
            a = lam
        else:
            b = lam
        if (math.isfinite(v) and abs(v) <= 1e-13 * abs(inv_target(lam)[0])) or b - a <= 1e-15 * b:
            return lam
        new = lam - v / dv if math.isfinite(v) and dv > 0 else math.nan
        lam = new if a < new < b else 0.5 * (a + b)
    return lam


def _hard_case(evals: np.ndarray, V: np.ndarray, c: np.ndarray, lam: float, norm_wanted: float) -> np.ndarray:
    """h = -(T + lam I)^+ c + tau v_1 with ||h|| = norm_wanted, lam = -lambda_1 (More & Sorensen's hard case)."""
    d = evals + lam
    coef = np.where(np.abs(d) > 1e-14 * max(abs(float(evals[-1])), 1.0), -c / np.where(d == 0, 1.0, d), 0.0)
    coef[0] = 0.0
    rest = norm_wanted ** 2 - float(coef @ coef)
    coef[0] = math.sqrt(max(rest, 0.0))
    return V @ coef


def trust_region_eig(evals: np.ndarray, V: np.ndarray, c: np.ndarray, radius: float) -> Small:
    """The global minimizer of (V^T h).c + h.(V diag(evals) V^T)h / 2 over ||h|| <= radius, c in the eigenbasis."""
    if evals[0] > 0:
        h = V @ (-c / evals)
        if float(np.linalg.norm(h)) <= radius:
            return Small(h, 0.0, False, False)
    lo = max(0.0, -float(evals[0]))
    lam = _secular(evals, c, lo, lambda lam: (1.0 / radius, 0.0))
    if lam is None:
        return Small(_hard_case(evals, V, c, lo, radius), lo, True, True)
    return Small(V @ (-c / (evals + lam)), lam, True, False)


def trust_region_tridiagonal(lanczos: Lanczos, radius: float) -> Small:
    """The global minimizer of gamma e_1.h + h.T h / 2 over ||h|| <= radius."""
    evals, V = lanczos.eig()
    return trust_region_eig(evals, V, lanczos.gamma * V[0, :], radius)


def cubic_tridiagonal(lanczos: Lanczos, sigma: float) -> Small:
    """The global minimizer of gamma e_1.h + h.T h / 2 + sigma ||h||^3 / 3: h = h(lambda), lambda = sigma ||h||."""
    evals, V = lanczos.eig()
    c = lanczos.gamma * V[0, :]
    lo = max(0.0, -float(evals[0]))
    lam = _secular(evals, c, lo, lambda lam: (sigma / lam, -sigma / lam ** 2) if lam > 0 else (math.inf, 0.0))
    if lam is None:
        return Small(_hard_case(evals, V, c, lo, lo / sigma), lo, True, True)
    return Small(V @ (-c / (evals + lam)), lam, True, False)
