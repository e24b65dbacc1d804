"""The scalable unconstrained CUTEst problems as `cutest.NAME`, written with F so autodiff derives them at any n.

Each follows S2MPJ's translation of the CUTEst SIF file (Gratton and Toint, 2024) exactly: the same
names, size parameters (lower-cased: n, m, p, ns, ...) with the same defaults, the same start points,
group scalings and constants, including SIF quirks (BROYDNBDLS's middle rows swap squares and
cubes). tests/test_cutest.py checks f, gradient and Hv against S2MPJ's own to 1e-10.
f* is given where the minimum is known at every size (a zero-residual or otherwise exact minimum).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy  # scipy.sparse loads on first use (scipy's lazy submodules): registration stays light

import optlab.autodiff.functions as F
from optlab import hookimpl
from optlab.optim import Problem

SUITE = "cutest"
_EXACT = "exact minimum at every size (CUTEst SIF 'LO SOLTN'; attained at a known point)"


def _index(k: int) -> np.ndarray:
    """1, 2, ..., k as floats: the SIF's 1-based i."""
    return np.arange(1.0, k + 1.0)


def _require(ok: bool, name: str, message: str) -> None:
    if not ok:
        raise ValueError(f"problem 'cutest.{name}': {message}")


def _problem(name: str, objective: Callable[[Any], Any], x0: np.ndarray, params: dict[str, Any],
             f_star: float | None = None) -> Problem:
    objective.__name__ = name
    return Problem(name=f"{SUITE}.{name}", objective=objective, x0=np.asarray(x0, dtype=np.float64),
                   f_star=f_star, params={**params, "f_star_source": _EXACT if f_star is not None else None})


def _down(v: Any, s: int) -> Any:
    """v_{i-s} at position i, 0 where i - s < 1."""
    n = v.shape[0]
    return F.concatenate([np.zeros(s), v[:n - s]]) if s < n else np.zeros(n)


def _up(v: Any, s: int) -> Any:
    """v_{i+s} at position i, 0 where i + s > n."""
    n = v.shape[0]
    return F.concatenate([v[s:], np.zeros(s)]) if s < n else np.zeros(n)


def _sq(v: Any) -> Any:
    return v * v


def _numpy_matvec(x: np.ndarray, matrix: Any, adjoint: Any) -> np.ndarray:
    return np.asarray(matrix @ x, dtype=np.result_type(x.dtype, np.float32))


# A fixed sparse matrix times a vector, as one kernel node: forward A x, VJP A^T g (itself a matvec, so
# Hv differentiates through it again). Banded sums 5 to 20 wide cost one C loop instead of a graph of
# shifted slices (BROYDNBDLS, BRYBND, NCB20B, VAREIGVL at n = 10^5).
_matvec = F.primitive("cutest.matvec", _numpy_matvec,
                      lambda g, y, x, matrix, adjoint: _matvec(g, matrix=adjoint, adjoint=matrix),
                      jvp=F.LINEAR, reads=((),))


class Banded:
    """A constant sparse matrix (CSR, with its transpose) applied to Variables: `A(v)` is A v."""

    def __init__(self, matrix: Any) -> None:
        self.matrix = scipy.sparse.csr_matrix(matrix)
        self.adjoint = scipy.sparse.csr_matrix(self.matrix.T)

    def __call__(self, v: Any) -> Any:
        return _matvec(v, matrix=self.matrix, adjoint=self.adjoint)


def _ones_band(rows: int, cols: int, offsets: range) -> Banded:
    """The rows x cols matrix with ones on the given diagonals (row i, column i + offset)."""
    return Banded(scipy.sparse.diags([1.0] * len(offsets), list(offsets), shape=(rows, cols)))


# ---------------------------------------------------------------------------------------------

def arwhead(n: int = 10) -> Problem:
    """ARWHEAD: sum (-4 x_i + 3) + (x_i^2 + x_n^2)^2; arrow-head Hessian."""
    _require(n >= 2, "ARWHEAD", f"needs n >= 2, got n={n}")

    def f(x: Any) -> Any:
        xi = x[:-1]
        return F.sum(3.0 - 4.0 * xi) + F.sum(_sq(_sq(xi) + _sq(x[-1])))
    return _problem("ARWHEAD", f, np.ones(n), {"n": n}, f_star=0.0)


def bdqrtic(n: int = 10) -> Problem:
    """BDQRTIC: sum (-4 x_i + 3)^2 + (x_i^2 + 2 x_{i+1}^2 + 3 x_{i+2}^2 + 4 x_{i+3}^2 + 5 x_n^2)^2."""
    _require(n >= 5, "BDQRTIC", f"needs n >= 5, got n={n}")

    def f(x: Any) -> Any:
        k = n - 4
        s = x * x
        q = s[:k] + 2.0 * s[1:k + 1] + 3.0 * s[2:k + 2] + 4.0 * s[3:k + 3] + 5.0 * s[-1]
        return F.sum(_sq(3.0 - 4.0 * x[:k])) + F.sum(q * q)
    return _problem("BDQRTIC", f, np.ones(n), {"n": n})


def broydn3dls(n: int = 5, kappa1: float = 2.0, kappa2: float = 1.0) -> Problem:
    """BROYDN3DLS: Broyden tridiagonal, sum ((3 - k1 x_i) x_i - x_{i-1} - 2 x_{i+1} + k2)^2."""
    _require(n >= 2, "BROYDN3DLS", f"needs n >= 2, got n={n}")

    def f(x: Any) -> Any:
        r = (3.0 - kappa1 * x) * x - _down(x, 1) - 2.0 * _up(x, 1) + kappa2
        return F.sum(r * r)
    return _problem("BROYDN3DLS", f, -np.ones(n), {"n": n, "kappa1": kappa1, "kappa2": kappa2}, f_star=0.0)


def _broyden_banded(name: str, n: int, kappa1: float, kappa2: float, kappa3: float, lb: int, ub: int) -> Problem:
    """Broyden banded as the SIF writes it: rows lb+1..n-ub-1 take cubes below and a square on the diagonal."""
    _require(lb >= 1 and ub >= 1 and n >= lb + ub + 1, name, f"needs lb, ub >= 1 and n >= lb + ub + 1, "
             f"got n={n}, lb={lb}, ub={ub}")
    middle = np.zeros(n, dtype=bool)
    middle[lb:n - ub - 1] = True
    below = scipy.sparse.diags([1.0] * lb, list(range(-lb, 0)), shape=(n, n))
    above = scipy.sparse.diags([1.0] * ub, list(range(1, ub + 1)), shape=(n, n))
    on_middle = scipy.sparse.diags(middle.astype(float))
    off_middle = scipy.sparse.diags((~middle).astype(float))
    # r = K [x; x^2; x^3], one sparse matrix n x 3n: r is linear in the powers of x.
    #   x:   k1 I - k3 (below + above);  x^2: k2 [middle] - k3 (above + [not middle] below);
    #   x^3: k2 [not middle] - k3 [middle] below
    residual = Banded(scipy.sparse.hstack([
        kappa1 * scipy.sparse.identity(n) - kappa3 * (below + above),
        kappa2 * on_middle - kappa3 * (above + off_middle @ below),
        kappa2 * off_middle - kappa3 * (on_middle @ below)]))

    def f(x: Any) -> Any:
        s = x * x
        r = residual(F.concatenate([x, s, s * x]))
        return F.sum(r * r)
    params = {"n": n, "kappa1": kappa1, "kappa2": kappa2, "kappa3": kappa3, "lb": lb, "ub": ub}
    return _problem(name, f, np.ones(n), params)


def broydnbdls(n: int = 10, kappa1: float = 2.0, kappa2: float = 5.0, kappa3: float = 1.0,
               lb: int = 5, ub: int = 1) -> Problem:
    """BROYDNBDLS: Broyden banded, least squares."""
    return _broyden_banded("BROYDNBDLS", n, kappa1, kappa2, kappa3, lb, ub)


def brybnd(n: int = 10, kappa1: float = 2.0, kappa2: float = 5.0, kappa3: float = 1.0,
           lb: int = 5, ub: int = 1) -> Problem:
    """BRYBND: Broyden banded (the same SIF function as BROYDNBDLS)."""
    return _broyden_banded("BRYBND", n, kappa1, kappa2, kappa3, lb, ub)


def cosine(n: int = 10) -> Problem:
    """COSINE: sum cos(x_i^2 - x_{i+1}/2)."""
    _require(n >= 2, "COSINE", f"needs n >= 2, got n={n}")
    return _problem("COSINE", lambda x: F.sum(F.cos(_sq(x[:-1]) - 0.5 * x[1:])), np.ones(n), {"n": n})


def cragglvy(m: int = 4) -> Problem:
    """CRAGGLVY: chained Cragg-Levy, n = 2m + 2."""
    _require(m >= 1, "CRAGGLVY", f"needs m >= 1, got m={m}")
    n = 2 * m + 2

    def f(x: Any) -> Any:
        a, b, c, d = x[0:2 * m:2], x[1:2 * m + 1:2], x[2:2 * m + 2:2], x[3:2 * m + 2:2]
        t = _sq(_sq(F.exp(a) - b)) + 100.0 * _sq(_sq(b - c) * (b - c)) + _sq(_sq(F.tan(c - d) + c - d))
        return F.sum(t + _sq(_sq(_sq(a))) + _sq(d - 1.0))
    x0 = np.full(n, 2.0)
    x0[0] = 1.0
    return _problem("CRAGGLVY", f, x0, {"m": m})


def _curly(name: str, n: int, k: int) -> Problem:
    """CURLY10/20: sum q_i (q_i (q_i^2 - 20) - 0.1), q_i = x_i + ... + x_{min(i+k, n)}."""
    _require(n >= k, name, f"needs n >= {k}, got n={n}")
    sums = _ones_band(n, n, range(k + 1))

    def f(x: Any) -> Any:
        q = sums(x)
        return F.sum(q * (q * (q * q - 20.0) - 0.1))
    return _problem(name, f, 1e-4 * (_index(n) / (n + 1)), {"n": n})


def curly10(n: int = 15) -> Problem:
    """CURLY10: banded quartic, band 10."""
    return _curly("CURLY10", n, 10)


def curly20(n: int = 25) -> Problem:
    """CURLY20: banded quartic, band 20."""
    return _curly("CURLY20", n, 20)


def _dixmaan(name: str, m: int, alpha: float, beta: float, gamma: float, delta: float,
             k: tuple[int, int, int, int]) -> Problem:
    """Dixon-Maany, n = 3m: 1 + sum alpha t^k1 x_i^2 + beta t^k2 x_i^2 (x_{i+1} + x_{i+1}^2)^2
    + gamma t^k3 x_i^2 x_{i+m}^4 + delta t^k4 x_i x_{i+2m}, t = i/n."""
    _require(m >= 1, name, f"needs m >= 1, got m={m}")
    n = 3 * m
    t = _index(n) / n
    wa, wb, wc, wd = alpha * t ** k[0], beta * t[:n - 1] ** k[1], gamma * t[:2 * m] ** k[2], delta * t[:m] ** k[3]

    def f(x: Any) -> Any:
        s = x * x
        total = 1.0 + F.sum(wa * s) + F.sum(wc * s[:2 * m] * _sq(s[m:])) + F.sum(wd * x[:m] * x[2 * m:])
        if beta != 0.0:
            total = total + F.sum(wb * s[:-1] * _sq(x[1:] + s[1:]))
        return total
    return _problem(name, f, np.full(n, 2.0), {"m": m}, f_star=1.0)


def dixmaana1(m: int = 5) -> Problem:
    """DIXMAANA1: Dixon-Maany, beta = 0, all powers 0."""
    return _dixmaan("DIXMAANA1", m, 1.0, 0.0, 0.125, 0.125, (0, 0, 0, 0))


def dixmaane1(m: int = 5) -> Problem:
    """DIXMAANE1: Dixon-Maany, beta = 0, powers (1, 0, 0, 1)."""
    return _dixmaan("DIXMAANE1", m, 1.0, 0.0, 0.125, 0.125, (1, 0, 0, 1))


def dixmaani1(m: int = 5) -> Problem:
    """DIXMAANI1: Dixon-Maany, beta = 0, powers (2, 0, 0, 2)."""
    return _dixmaan("DIXMAANI1", m, 1.0, 0.0, 0.125, 0.125, (2, 0, 0, 2))


def dixmaanl(m: int = 5) -> Problem:
    """DIXMAANL: Dixon-Maany, beta = gamma = delta = 0.26, powers (2, 0, 0, 2)."""
    return _dixmaan("DIXMAANL", m, 1.0, 0.26, 0.26, 0.26, (2, 0, 0, 2))


def dixon3dq(n: int = 10) -> Problem:
    """DIXON3DQ: (x_1 - 1)^2 + sum (x_j - x_{j+1})^2 for j = 2..n-1, + (x_n - 1)^2."""
    _require(n >= 2, "DIXON3DQ", f"needs n >= 2, got n={n}")

    def f(x: Any) -> Any:
        return _sq(x[0] - 1.0) + F.sum(_sq(x[1:-1] - x[2:])) + _sq(x[-1] - 1.0)
    return _problem("DIXON3DQ", f, -np.ones(n), {"n": n}, f_star=0.0)


def _quartic(name: str, n: int) -> Problem:
    _require(n >= 1, name, f"needs n >= 1, got n={n}")
    i = _index(n)
    return _problem(name, lambda x: F.sum(_sq(_sq(x - i))), np.full(n, 2.0), {"n": n}, f_star=0.0)


def dqrtic(n: int = 10) -> Problem:
    """DQRTIC: sum (x_i - i)^4."""
    return _quartic("DQRTIC", n)


def quartc(n: int = 10) -> Problem:
    """QUARTC: sum (x_i - i)^4 (the same function as DQRTIC)."""
    return _quartic("QUARTC", n)


def edensch(n: int = 10) -> Problem:
    """EDENSCH: 16 + sum (x_i - 2)^4 + (x_i x_{i+1} - 2 x_{i+1})^2 + (x_{i+1} + 1)^2."""
    _require(n >= 2, "EDENSCH", f"needs n >= 2, got n={n}")

    def f(x: Any) -> Any:
        a, b = x[:-1], x[1:]
        return 16.0 + F.sum(_sq(_sq(a - 2.0)) + _sq(a * b - 2.0 * b) + _sq(b + 1.0))
    return _problem("EDENSCH", f, np.full(n, 8.0), {"n": n})


def eg2(n: int = 10) -> Problem:
    """EG2: sum sin(x_1 + x_i^2 - 1) + sin(x_n^2) / 2."""
    _require(n >= 2, "EG2", f"needs n >= 2, got n={n}")
    return _problem("EG2", lambda x: F.sum(F.sin(x[0] + _sq(x[:-1]) - 1.0)) + 0.5 * F.sin(_sq(x[-1])),
                    np.zeros(n), {"n": n})


def engval1(n: int = 10) -> Problem:
    """ENGVAL1: sum (x_i^2 + x_{i+1}^2)^2 + (3 - 4 x_i)."""
    _require(n >= 2, "ENGVAL1", f"needs n >= 2, got n={n}")
    return _problem("ENGVAL1", lambda x: F.sum(_sq(_sq(x[:-1]) + _sq(x[1:])) + 3.0 - 4.0 * x[:-1]),
                    np.full(n, 2.0), {"n": n})


def extrosnb(n: int = 10) -> Problem:
    """EXTROSNB: (x_1 - 1)^2 + sum 100 (x_i - x_{i-1}^2)^2."""
    _require(n >= 2, "EXTROSNB", f"needs n >= 2, got n={n}")
    return _problem("EXTROSNB", lambda x: _sq(x[0] - 1.0) + 100.0 * F.sum(_sq(x[1:] - _sq(x[:-1]))),
                    -np.ones(n), {"n": n}, f_star=0.0)


def fletchcr(n: int = 10) -> Problem:
    """FLETCHCR: sum 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2 (the SIF's chained Rosenbrock form)."""
    _require(n >= 2, "FLETCHCR", f"needs n >= 2, got n={n}")
    return _problem("FLETCHCR", lambda x: F.sum(100.0 * _sq(x[1:] - _sq(x[:-1])) + _sq(1.0 - x[:-1])),
                    np.zeros(n), {"n": n}, f_star=0.0)


def fminsurf(p: int = 4) -> Problem:
    """FMINSURF: a minimal surface on a p x p grid (n = p^2) with an average-height penalty."""
    _require(p >= 2, "FMINSURF", f"needs p >= 2, got p={p}")
    h = p - 1.0
    x0 = np.zeros((p, p))           # x0[j-1, i-1] = X(I, J): S2MPJ orders J outer, I inner
    j = np.arange(p)
    x0[:, 0] = 1.0 + j * 4.0 / h    # X(1, J)
    x0[:, -1] = 9.0 + j * 4.0 / h   # X(P, J)
    i = np.arange(1, p - 1)
    x0[-1, 1:-1] = 5.0 + i * 8.0 / h  # X(I, P)
    x0[0, 1:-1] = 1.0 + i * 8.0 / h   # X(I, 1)

    def f(x: Any) -> Any:
        g = F.reshape(x, (p, p))
        a = g[:-1, :-1] - g[1:, 1:]   # X(I,J) - X(I+1,J+1)
        b = g[:-1, 1:] - g[1:, :-1]   # X(I+1,J) - X(I,J+1)
        surface = F.sum(F.sqrt(1.0 + 0.5 * h * h * (_sq(a) + _sq(b)))) / (h * h)
        return surface + _sq(F.sum(x)) / float(p) ** 4
    return _problem("FMINSURF", f, x0.reshape(-1), {"p": p})


def freuroth(n: int = 4) -> Problem:
    """FREUROTH: Freudenstein-Roth, chained: sum of two squared residuals per consecutive pair."""
    _require(n >= 2, "FREUROTH", f"needs n >= 2, got n={n}")

    def f(x: Any) -> Any:
        a, b = x[:-1], x[1:]
        return F.sum(_sq(a - 13.0 + ((5.0 - b) * b - 2.0) * b) + _sq(a - 29.0 + ((b + 1.0) * b - 14.0) * b))
    x0 = np.zeros(n)
    x0[:2] = 0.5, -2.0
    return _problem("FREUROTH", f, x0, {"n": n})


def genhumps(n: int = 10, zeta: float = 20.0) -> Problem:
    """GENHUMPS: sum (sin(zeta x_i) sin(zeta x_{i+1}))^2 + 0.05 (x_i^2 + x_{i+1}^2)."""
    _require(n >= 2, "GENHUMPS", f"needs n >= 2, got n={n}")

    def f(x: Any) -> Any:
        s = F.sin(zeta * x)
        q = x * x
        return F.sum(_sq(s[:-1] * s[1:]) + 0.05 * (q[:-1] + q[1:]))
    x0 = np.full(n, -506.2)
    x0[0] = -506.0
    return _problem("GENHUMPS", f, x0, {"n": n, "zeta": zeta}, f_star=0.0)


def genrose(n: int = 10) -> Problem:
    """GENROSE: 1 + sum 100 (x_i - x_{i-1}^2)^2 + (x_i - 1)^2."""
    _require(n >= 2, "GENROSE", f"needs n >= 2, got n={n}")
    return _problem("GENROSE", lambda x: 1.0 + F.sum(100.0 * _sq(x[1:] - _sq(x[:-1])) + _sq(x[1:] - 1.0)),
                    _index(n) / (n + 1), {"n": n}, f_star=1.0)


def indef(n: int = 10, alpha: float = 0.5) -> Problem:
    """INDEF: sum x_i + alpha sum cos(2 x_i - x_n - x_1) over i = 2..n-1 (unbounded below)."""
    _require(n >= 3, "INDEF", f"needs n >= 3, got n={n}")
    return _problem("INDEF", lambda x: F.sum(x) + alpha * F.sum(F.cos(2.0 * x[1:-1] - x[-1] - x[0])),
                    _index(n) / (n + 1), {"n": n, "alpha": alpha})


def liarwhd(n: int = 10) -> Problem:
    """LIARWHD: sum 4 (x_i^2 - x_1)^2 + (x_i - 1)^2."""
    _require(n >= 1, "LIARWHD", f"needs n >= 1, got n={n}")
    return _problem("LIARWHD", lambda x: F.sum(4.0 * _sq(_sq(x) - x[0]) + _sq(x - 1.0)),
                    np.full(n, 4.0), {"n": n}, f_star=0.0)


def morebv(n: int = 10) -> Problem:
    """MOREBV: More's boundary value problem, sum (2 x_i - x_{i-1} - x_{i+1} + h^2 (x_i + t_i + 1)^3 / 2)^2."""
    _require(n >= 2, "MOREBV", f"needs n >= 2, got n={n}")
    h = 1.0 / (n + 1)
    t = _index(n) * h

    def f(x: Any) -> Any:
        r = 2.0 * x - _down(x, 1) - _up(x, 1) + 0.5 * h * h * (x + t + 1.0) ** 3
        return F.sum(r * r)
    return _problem("MOREBV", f, t * (t - 1.0), {"n": n}, f_star=0.0)


def ncb20b(n: int = 21) -> Problem:
    """NCB20B: 20 wide: sum 10/i (sum_j y(x_{i+j-1}))^2 - 0.2 sum_j x_{i+j-1} + 100 x_i^4 + 2, y(t) = t/(1+t^2)."""
    p = 20
    _require(n >= p, "NCB20B", f"needs n >= {p}, got n={n}")
    k = n - p + 1
    w = 10.0 / _index(k)
    j = _index(n)
    window = np.minimum(j, k) - np.maximum(1.0, j - p + 1) + 1.0   # how many of the k windows hold x_j
    sums = _ones_band(k, n, range(p))                                 # row i: x_i + ... + x_{i+p-1}

    def f(x: Any) -> Any:
        y = x / (1.0 + x * x)
        sy = sums(y)
        return 2.0 * n + F.sum(w * sy * sy) - (4.0 / p) * F.sum(window * x) + 100.0 * F.sum(_sq(x * x))
    return _problem("NCB20B", f, np.zeros(n), {"n": n})


def _modular(n: int, factor: int, shift: int = 1) -> np.ndarray:
    """The SIF's j = mod(factor i - shift, n) + 1 for i = 1..n, 0-based."""
    return (factor * np.arange(1, n + 1) - shift) % n


def noncvxu2(n: int = 10) -> Problem:
    """NONCVXU2: sum (x_i + x_j + x_k)^2 + 4 cos(x_i + x_j + x_k), j = mod(3i-2, n)+1, k = mod(7i-3, n)+1."""
    _require(n >= 1, "NONCVXU2", f"needs n >= 1, got n={n}")
    j, k = _modular(n, 3, 2), _modular(n, 7, 3)

    def f(x: Any) -> Any:
        s = x + x[j] + x[k]
        return F.sum(s * s + 4.0 * F.cos(s))
    return _problem("NONCVXU2", f, _index(n), {"n": n})


def nondia(n: int = 10) -> Problem:
    """NONDIA: (x_1 - 1)^2 + sum 100 (x_1 - x_{i-1}^2)^2 for i = 2..n."""
    _require(n >= 2, "NONDIA", f"needs n >= 2, got n={n}")
    return _problem("NONDIA", lambda x: _sq(x[0] - 1.0) + 100.0 * F.sum(_sq(x[0] - _sq(x[:-1]))),
                    -np.ones(n), {"n": n}, f_star=0.0)


def nondquar(n: int = 10) -> Problem:
    """NONDQUAR: (x_1 - x_2)^2 + sum (x_i + x_{i+1} + x_n)^4 + (x_{n-1} - x_n)^2."""
    _require(n >= 3, "NONDQUAR", f"needs n >= 3, got n={n}")

    def f(x: Any) -> Any:
        return _sq(x[0] - x[1]) + F.sum(_sq(_sq(x[:-2] + x[1:-1] + x[-1]))) + _sq(x[-2] - x[-1])
    x0 = np.ones(n)
    x0[1::2] = -1.0
    return _problem("NONDQUAR", f, x0, {"n": n}, f_star=0.0)


def penalty1(n: int = 10) -> Problem:
    """PENALTY1: sum 1e-5 (x_i - 1)^2 + (sum x_i^2 - 1/4)^2."""
    _require(n >= 1, "PENALTY1", f"needs n >= 1, got n={n}")
    return _problem("PENALTY1", lambda x: 1e-5 * F.sum(_sq(x - 1.0)) + _sq(F.sum(x * x) - 0.25),
                    _index(n), {"n": n})


def powellsg(n: int = 12) -> Problem:
    """POWELLSG: extended Powell singular, n a multiple of 4."""
    _require(n >= 4 and n % 4 == 0, "POWELLSG", f"needs n a positive multiple of 4, got n={n}")

    def f(x: Any) -> Any:
        a, b, c, d = x[0::4], x[1::4], x[2::4], x[3::4]
        return F.sum(_sq(a + 10.0 * b) + 5.0 * _sq(c - d) + _sq(_sq(b - 2.0 * c)) + 10.0 * _sq(_sq(a - d)))
    return _problem("POWELLSG", f, np.tile([3.0, -1.0, 0.0, 1.0], n // 4), {"n": n}, f_star=0.0)


def power(n: int = 5) -> Problem:
    """POWER: (sum i x_i^2)^2."""
    _require(n >= 1, "POWER", f"needs n >= 1, got n={n}")
    i = _index(n)
    return _problem("POWER", lambda x: _sq(F.sum(i * _sq(x))), np.ones(n), {"n": n}, f_star=0.0)


def schmvett(n: int = 10) -> Problem:
    """SCHMVETT: sum -1/(1 + (x_i - x_{i+1})^2) - sin((pi x_{i+1} + x_{i+2})/2) - exp(-((x_i + x_{i+2})/x_{i+1} - 2)^2),
    with the SIF's pi = 3.141593."""
    _require(n >= 3, "SCHMVETT", f"needs n >= 3, got n={n}")

    def f(x: Any) -> Any:
        a, b, c = x[:-2], x[1:-1], x[2:]
        return -F.sum(1.0 / (1.0 + _sq(a - b)) + F.sin(0.5 * (3.141593 * b + c)) + F.exp(-_sq((a + c) / b - 2.0)))
    return _problem("SCHMVETT", f, np.full(n, 0.5), {"n": n})


def sinquad(n: int = 10) -> Problem:
    """SINQUAD: (x_1 - 1)^4 + sum (sin(x_i - x_n) - x_1^2 + x_i^2) + (x_n^2 - x_1^2)^2.

    The middle groups are not squared: the SIF gives them no group type (so f is unbounded below),
    and S2MPJ keeps that; so do we."""
    _require(n >= 3, "SINQUAD", f"needs n >= 3, got n={n}")

    def f(x: Any) -> Any:
        x1s = _sq(x[0])
        middle = F.sin(x[1:-1] - x[-1]) - x1s + _sq(x[1:-1])
        return _sq(_sq(x[0] - 1.0)) + F.sum(middle) + _sq(_sq(x[-1]) - x1s)
    return _problem("SINQUAD", f, np.full(n, 0.1), {"n": n})


_SPARSE_FACTORS = (2, 3, 5, 7, 11)


def _sparse(name: str, n: int, inner: Callable[[Any], Any]) -> Problem:
    """sum i/2 (e(x_i) + e(x_j1) + ... + e(x_j5))^2, j_k = mod(c_k i - 1, n) + 1 for c = 2, 3, 5, 7, 11."""
    _require(n >= 1, name, f"needs n >= 1, got n={n}")
    picks = [_modular(n, c) for c in _SPARSE_FACTORS]
    half_i = 0.5 * _index(n)

    def f(x: Any) -> Any:
        e = inner(x)
        s = e
        for idx in picks:
            s = s + e[idx]
        return F.sum(half_i * s * s)
    return _problem(name, f, np.full(n, 0.5), {"n": n}, f_star=0.0)


def sparsine(n: int = 10) -> Problem:
    """SPARSINE: sparse sines, sum i/2 (sin x_i + sin x_j1 + ... + sin x_j5)^2."""
    return _sparse("SPARSINE", n, F.sin)


def sparsqur(n: int = 10) -> Problem:
    """SPARSQUR: sparse squares, sum i/2 (x_i^2/2 + x_j1^2/2 + ... + x_j5^2/2)^2."""
    return _sparse("SPARSQUR", n, lambda x: 0.5 * _sq(x))


def spmsrtls(m: int = 1667) -> Problem:
    """SPMSRTLS: ||X^2 - B^2||_F^2 on the five central diagonals, X and B tridiagonal m x m, n = 3m - 2."""
    _require(m >= 2, "SPMSRTLS", f"needs m >= 2, got m={m}")
    n = 3 * m - 2
    b = np.sin(_index(n) ** 2)     # B's entries row by row: sin(1), sin(4), sin(9), ...

    def squared(d: Any, u: Any, low: Any) -> list:
        """The five diagonals of X^2 from X's diagonal d, super-diagonal u, sub-diagonal low."""
        p = low * u
        diagonal = d * d + F.concatenate([np.zeros(1), p]) + F.concatenate([p, np.zeros(1)])
        ends = d[:-1] + d[1:]
        return [diagonal, u * ends, low * ends, u[:-1] * u[1:], low[:-1] * low[1:]]

    target = squared(b[0::3], b[1::3], b[2::3])

    def f(x: Any) -> Any:
        pieces = squared(x[0::3], x[1::3], x[2::3])
        total = F.sum(_sq(pieces[0] - target[0]))
        for piece, goal in zip(pieces[1:], target[1:]):
            if piece.shape[0]:
                total = total + F.sum(_sq(piece - goal))
        return total
    return _problem("SPMSRTLS", f, 0.2 * b, {"m": m}, f_star=0.0)


def tquartic(n: int = 10) -> Problem:
    """TQUARTIC: (x_1 - 1)^2 + sum (x_1^2 - x_i^2)^2 for i = 2..n."""
    _require(n >= 2, "TQUARTIC", f"needs n >= 2, got n={n}")
    return _problem("TQUARTIC", lambda x: _sq(x[0] - 1.0) + F.sum(_sq(_sq(x[0]) - _sq(x[1:]))),
                    np.full(n, 0.1), {"n": n}, f_star=0.0)


def tridia(n: int = 5, alpha: float = 2.0, beta: float = 1.0, gamma: float = 1.0, delta: float = 1.0) -> Problem:
    """TRIDIA: gamma (delta x_1 - 1)^2 + sum i (alpha x_i - beta x_{i-1})^2."""
    _require(n >= 2, "TRIDIA", f"needs n >= 2, got n={n}")
    i = _index(n)[1:]
    return _problem("TRIDIA", lambda x: gamma * _sq(delta * x[0] - 1.0) + F.sum(i * _sq(alpha * x[1:] - beta * x[:-1])),
                    np.ones(n), {"n": n, "alpha": alpha, "beta": beta, "gamma": gamma, "delta": delta}, f_star=0.0)


def vareigvl(n: int = 19, m: int = 6, q: float = 1.5) -> Problem:
    """VAREIGVL: variational eigenvalue, sum (A x - mu x)_i^2 / 2 + (sum x_i^2)^q / q; n + 1 variables (x, mu)."""
    _require(n >= 1 and 0 <= m and q > 0, "VAREIGVL", f"needs n >= 1, m >= 0, q > 0, got n={n}, m={m}, q={q}")
    i = _index(n)
    offsets = list(range(-min(m, n - 1), min(m, n - 1) + 1))
    bands = []                     # A_{i,i+s} = sin(i (i+s)) exp(-s^2/n^2), 0 outside 1..n
    for s in offsets:              # diags takes the band of offset s from its first |s| (s < 0) or n - s entries
        rows = i[max(-s, 0):n - max(s, 0)]
        bands.append(np.sin(rows * (rows + s)) * np.exp(-(s * s) / float(n * n)))
    a = Banded(scipy.sparse.diags(bands, offsets, shape=(n, n)))

    def f(z: Any) -> Any:
        x, mu = z[:n], z[n]
        r = a(x) - mu * x
        return 0.5 * F.sum(r * r) + F.sum(x * x) ** q / q
    x0 = np.ones(n + 1)
    x0[-1] = 0.0
    return _problem("VAREIGVL", f, x0, {"n": n, "m": m, "q": q}, f_star=0.0)


def woods(ns: int = 1000) -> Problem:
    """WOODS: ns copies of Wood's function, n = 4 ns."""
    _require(ns >= 1, "WOODS", f"needs ns >= 1, got ns={ns}")

    def f(x: Any) -> Any:
        a, b, c, d = x[0::4], x[1::4], x[2::4], x[3::4]
        return F.sum(100.0 * _sq(b - _sq(a)) + _sq(1.0 - a) + 90.0 * _sq(d - _sq(c)) + _sq(1.0 - c)
                     + 10.0 * _sq(b + d - 2.0) + 0.1 * _sq(b - d))
    return _problem("WOODS", f, np.tile([-3.0, -1.0], 2 * ns), {"ns": ns}, f_star=0.0)


def _default_n(factory: Callable[..., Problem]) -> int:
    """n at the default size parameters, read without building (the formulas above)."""
    import inspect
    d = {k: p.default for k, p in inspect.signature(factory).parameters.items()}
    if "ns" in d:
        return 4 * d["ns"]
    if factory in (cragglvy,):
        return 2 * d["m"] + 2
    if factory in (dixmaana1, dixmaane1, dixmaani1, dixmaanl):
        return 3 * d["m"]
    if factory is spmsrtls:
        return 3 * d["m"] - 2
    if factory is fminsurf:
        return d["p"] ** 2
    if factory is vareigvl:
        return d["n"] + 1
    return d["n"]


PROBLEMS: dict[str, Callable[..., Problem]] = {f"{SUITE}.{f.__name__.upper()}": f for f in (
    arwhead, bdqrtic, broydn3dls, broydnbdls, brybnd, cosine, cragglvy, curly10, curly20, dixmaana1,
    dixmaane1, dixmaani1, dixmaanl, dixon3dq, dqrtic, edensch, eg2, engval1, extrosnb, fletchcr,
    fminsurf, freuroth, genhumps, genrose, indef, liarwhd, morebv, ncb20b, noncvxu2, nondia, nondquar,
    penalty1, powellsg, power, quartc, schmvett, sinquad, sparsine, sparsqur, spmsrtls, tquartic,
    tridia, vareigvl, woods)}
for _factory in PROBLEMS.values():
    _factory.n = _default_n(_factory)
    _factory.resizable = True


@hookimpl
def optlab_problems() -> dict[str, Callable[..., Problem]]:
    return PROBLEMS
