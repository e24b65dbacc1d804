"""Limited-memory BFGS pieces: the curvature pairs a method keeps and the two-loop recursion over them.

The pairs are an immutable tuple (newest last), so a State holding them is a value, not a shared buffer.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Pair(NamedTuple):
    """One curvature pair: the step s, the gradient change y, and rho = 1 / s.y."""

    s: np.ndarray
    y: np.ndarray
    rho: float


def add_pair(pairs: tuple[Pair, ...], s: np.ndarray, y: np.ndarray, memory: int,
             threshold: float = 1e-10) -> tuple[Pair, ...]:
    """The newest `memory` pairs with (s, y) added, if s.y > threshold ||s|| ||y|| (keeps H positive definite)."""
    sy = float(s @ y)
    if not sy > threshold * float(np.linalg.norm(s) * np.linalg.norm(y)):
        return pairs
    return (pairs + (Pair(s, y, 1.0 / sy),))[-memory:]


def two_loop(g: np.ndarray, pairs: tuple[Pair, ...] | list[Pair]) -> np.ndarray:
    """H g for the L-BFGS inverse-Hessian estimate, H0 = (s.y / y.y) I from the newest pair (N&W Alg. 7.4)."""
    q, alphas = np.array(g, dtype=float, copy=True), []
    for s, y, rho in reversed(pairs):
        a = rho * float(s @ q)
        q -= a * y
        alphas.append(a)
    if pairs:
        s, y, rho = pairs[-1]
        q *= 1.0 / (rho * float(y @ y))
    for (s, y, rho), a in zip(pairs, reversed(alphas)):
        q += (a - rho * float(y @ q)) * s
    return q


def update_diagonal(diagonal: np.ndarray | None, s: np.ndarray, y: np.ndarray, threshold: float = 1e-10,
                    floor: float = 1e-2) -> np.ndarray | None:
    """The diagonal of the BFGS update of diag(D) by (s, y): D + y*y / s.y - (D*s)^2 / s.D s, elementwise.

    A diagonal Hessian estimate kept at O(n) cost (Gilbert & Lemarechal, "Some numerical experiments with
    variable-storage quasi-Newton algorithms", Math. Program. 45, 1989, sec. 4: the diagonal BFGS update,
    Modulopt's bfgsd; Veerse, Auroux & Fisher, Optim. Eng. 1, 2000). The first pair starts it from the
    Oren-Luenberger scaling (y.y / s.y) I. A pair with s.y <= threshold ||s|| ||y|| leaves D as it is; an
    entry is kept >= floor times its old value (exactly it stays positive, in rounding it may not).
    """
    sy = float(s @ y)
    if not sy > threshold * float(np.linalg.norm(s) * np.linalg.norm(y)):
        return diagonal
    d = np.full(s.shape, float(y @ y) / sy) if diagonal is None else diagonal
    ds = d * s
    return np.maximum(d + y * y / sy - ds * ds / float(s @ ds), floor * d)
