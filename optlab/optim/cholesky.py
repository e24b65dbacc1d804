"""Positive-definite factorizations of a Hessian for Newton's method: a diagonal shift, or a modified Cholesky.

`shifted_cholesky` factors H + tau I with the smallest tau in beta * 2^k that works (Nocedal & Wright,
Algorithm 3.3). `modified_cholesky` is Gill, Murray and Wright's (Practical Optimization, 1981, sec. 4.4.2.2):
L D L^T = H + E (pivoted) with E diagonal, chosen while factoring so that D_j >= delta and |L_ij|^2 D_j <= beta^2;
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


def modified_cholesky(H: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gill-Murray-Wright with symmetric pivoting: L unit lower, D > 0, perm with (H + E)[perm][:, perm] = L D L^T.

    Each step pivots on the largest remaining |c_ii| (their Algorithm MC, step 2; without it a zero leading
    diagonal leaves D nearly singular, e.g. Beale at (1, 1)). beta^2 = max(gamma, xi / sqrt(n^2 - 1), eps)
    bounds the factor's entries (gamma, xi: the largest diagonal and off-diagonal magnitudes);
    delta = eps max(gamma + xi, 1) keeps D away from zero.
    """
    if not np.all(np.isfinite(H)):
        raise np.linalg.LinAlgError("Hessian is not finite")
    n = len(H)
    eps = np.finfo(float).eps
    gamma = float(np.max(np.abs(np.diag(H))))
    xi = float(np.max(np.abs(H - np.diag(np.diag(H))))) if n > 1 else 0.0
    beta2 = max(gamma, xi / math.sqrt(n * n - 1.0) if n > 1 else 0.0, eps)
    delta = eps * max(gamma + xi, 1.0)
    A, L, D, perm = np.array(H, dtype=float), np.eye(n), np.zeros(n), np.arange(n)
    for j in range(n):
        c_diag = np.diag(A)[j:] - (L[j:, :j] ** 2) @ D[:j]
        q = j + int(np.argmax(np.abs(c_diag)))
        if q != j:
            A[[j, q]] = A[[q, j]]
            A[:, [j, q]] = A[:, [q, j]]
            L[[j, q], :j], perm[[j, q]] = L[[q, j], :j], perm[[q, j]]
        c = A[j + 1:, j] - L[j + 1:, :j] @ (D[:j] * L[j, :j])
        theta = float(np.max(np.abs(c))) if j < n - 1 else 0.0
        D[j] = max(abs(float(c_diag[q - j])), theta * theta / beta2, delta)
        L[j + 1:, j] = c / D[j]
    return L, D, perm


def solve_ldl(L: np.ndarray, D: np.ndarray, b: np.ndarray, perm: np.ndarray | None = None) -> np.ndarray:
    """x with (H + E) x = b for `modified_cholesky`'s factors (L diag(D) L^T x = b without perm)."""
    p = np.arange(len(b)) if perm is None else perm
    y = scipy.linalg.solve_triangular(L, b[p], lower=True, unit_diagonal=True)
    x = np.empty_like(y)
    x[p] = scipy.linalg.solve_triangular(L.T, y / D, lower=False, unit_diagonal=True)
    return x
