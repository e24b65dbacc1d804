"""Seeded synthetic problems: a quadratic of chosen conditioning and l2-regularized logistic regression.

Both leave every derivative to the kernel, so runs on them exercise the oracle's autodiff.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

import optlab.autodiff.functions as F
from optlab import hookimpl
from optlab.optim import Problem


def quadratic(n: int = 10, cond: float = 100.0, seed: int = 0) -> Problem:
    """f(x) = x^T A x / 2 - b^T x, A = Q diag(eigenvalues log-spaced from 1 to cond) Q^T.

    Q and b come from `seed`; the start is 0. x* = A^-1 b and f* = -b^T x* / 2 are exact.
    """
    if n < 1 or cond < 1:
        raise ValueError(f"problem 'quadratic': needs n >= 1 and cond >= 1, got n={n}, cond={cond}")
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    eigenvalues = np.logspace(0.0, np.log10(cond), n)
    a = (q * eigenvalues) @ q.T
    a = 0.5 * (a + a.T)
    b = rng.standard_normal(n)
    x_star = q @ ((q.T @ b) / eigenvalues)

    def objective(x: Any) -> Any:
        return 0.5 * F.sum(x * F.matmul(a, x)) - F.sum(b * x)

    return Problem(name="quadratic", objective=objective, x0=np.zeros(n), f_star=float(-0.5 * b @ x_star),
                   x_star=x_star, params={"n": n, "cond": cond, "seed": seed},
                   reference="f* = -b^T A^-1 b / 2, exact for this seed's A and b")


def logistic(n: int = 10, m: int = 200, lam: float = 1e-2, seed: int = 0) -> Problem:
    """Mean binary cross entropy of a linear model on m seeded samples with n features, + lam/2 ||w||^2.

    Features are standard normal; labels are drawn from the logistic model of a random true weight.
    The start is w = 0. f* has no closed form: for lam > 0 (strictly convex) it is this seed's
    reference solve, Newton's method on the exact derivatives until the gradient is at rounding level.
    A finite sum of m terms (sample i's loss + lam/2 ||w||^2): `sample(indices)` is the mean over those samples,
    for sub-sampled methods.
    """
    if n < 1 or m < 1 or lam < 0:
        raise ValueError(f"problem 'logistic': needs n, m >= 1 and lam >= 0, got n={n}, m={m}, lam={lam}")
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((m, n))
    w_true = rng.standard_normal(n)
    labels = (rng.random(m) < 1.0 / (1.0 + np.exp(-features @ w_true))).astype(np.float64)

    def mean_loss(a: np.ndarray, b: np.ndarray) -> Callable[[Any], Any]:
        return lambda w: F.binary_cross_entropy_with_logits(F.matmul(a, w), b) + 0.5 * lam * F.sum(w * w)

    def sample(indices: np.ndarray) -> Callable[[Any], Any]:
        index = np.asarray(indices, dtype=np.intp)
        return mean_loss(features[index], labels[index])

    objective = mean_loss(features, labels)

    solve = _logistic_reference(features, labels, lam) if lam > 0 else None
    return Problem(name="logistic", objective=objective, x0=np.zeros(n),
                   f_star=None if solve is None else solve[1], x_star=None if solve is None else solve[0],
                   params={"n": n, "m": m, "lam": lam, "seed": seed}, terms=m, sample=sample,
                   reference="" if solve is None else f"f* by a reference solve: {solve[2]}")


def _logistic_reference(features: np.ndarray, labels: np.ndarray, lam: float) -> tuple[np.ndarray, float, str]:
    """Minimizer and minimum of the l2-regularized logistic loss by damped Newton, and how it was reached."""
    m, n = features.shape

    def value(w: np.ndarray) -> float:
        z = features @ w
        return float(np.mean(np.logaddexp(0.0, z) - labels * z) + 0.5 * lam * w @ w)

    w, k = np.zeros(n), 0
    for k in range(100):  # noqa: B007 (k is reported below)
        p = 1.0 / (1.0 + np.exp(-(features @ w)))
        g = features.T @ (p - labels) / m + lam * w
        if np.linalg.norm(g) <= 1e-14 * max(1.0, value(w)):
            break
        hess = (features.T * (p * (1.0 - p))) @ features / m + lam * np.eye(n)
        step, t = np.linalg.solve(hess, g), 1.0
        while value(w - t * step) > value(w) and t > 1e-10:
            t *= 0.5
        w = w - t * step
    return w, value(w), f"damped Newton, {k} iterations, ||g|| = {np.linalg.norm(g):.1e}"


@hookimpl
def optlab_problems() -> dict[str, Callable[..., Problem]]:
    return {"quadratic": quadratic, "logistic": logistic}
