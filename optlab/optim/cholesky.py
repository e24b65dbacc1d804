"""Positive-definite factorizations of a Hessian for Newton's method: a diagonal shift, or a modified Cholesky.

`shifted_cholesky` factors H + tau I with the smallest tau in beta * 2^k that works (Nocedal & Wright,
Algorithm 3.3). `modified_cholesky` is Gill, Murray and Wright's (Practical Optimization, 1981, sec. 4.4.2.2):
L D L^T = H + E with E diagonal, chosen while factoring so that D_j >= delta and |L_ij|^2 D_j <= beta^2;
E is zero when H is safely positive definite, and only the columns that need it are changed.
"""
from __future__ import annotations

import math

import numpy as np
import scipy  # scipy.linalg loads on first use (scipy's lazy submodules): importing this module stays light


def shifted_cholesky(H: np.ndarray, beta: float = 1e-3, tries: int = 64) -> tuple[np.ndarray, bool]:
    """`scipy.linalg.cho_factor` of H + tau I for the first tau in 0 (if diag(H) > 0), beta - min diag, doubling."""
    dmin = float(np.min(np.diag(H)))
    tau = 0.0 if dmin > 0 else beta - dmin
    for _ in range(tries):
        try:
            return scipy.linalg.cho_factor(H + tau * np.eye(len(H)) if tau else H)
        except np.linalg.LinAlgError:
            tau = max(2.0 * tau, beta)
    raise np.linalg.LinAlgError("Hessian could not be made positive definite (not finite?)")


def modified_cholesky(H: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gill-Murray-Wright: unit lower L and D > 0 with L diag(D) L^T = H + E, E >= 0 diagonal and small.

    beta^2 = max(gamma, xi / sqrt(n^2 - 1), eps) bounds the factor's entries (gamma, xi: the largest
    diagonal and off-diagonal magnitudes); delta = eps max(gamma + xi, 1) keeps D away from zero.
    """
    if not np.all(np.isfinite(H)):
        raise np.linalg.LinAlgError("Hessian is not finite")
    n = len(H)
    eps = np.finfo(float).eps
    gamma = float(np.max(np.abs(np.diag(H))))
    xi = float(np.max(np.abs(H - np.diag(np.diag(H))))) if n > 1 else 0.0
    beta2 = max(gamma, xi / math.sqrt(n * n - 1.0) if n > 1 else 0.0, eps)
    delta = eps * max(gamma + xi, 1.0)
    L, D = np.eye(n), np.zeros(n)
    C = np.array(H, dtype=float)  # column j below the diagonal holds c_ij = L_ij D_j once step j is done
    for j in range(n):
        c_jj = C[j, j] - float(np.sum(L[j, :j] * C[j, :j]))
        C[j + 1:, j] -= C[j + 1:, :j] @ L[j, :j]
        theta = float(np.max(np.abs(C[j + 1:, j]))) if j < n - 1 else 0.0
        D[j] = max(abs(c_jj), theta * theta / beta2, delta)
        L[j + 1:, j] = C[j + 1:, j] / D[j]
    return L, D


def solve_ldl(L: np.ndarray, D: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x with L diag(D) L^T x = b, by two triangular solves."""
    y = scipy.linalg.solve_triangular(L, b, lower=True, unit_diagonal=True)
    return scipy.linalg.solve_triangular(L.T, y / D, lower=False, unit_diagonal=True)
