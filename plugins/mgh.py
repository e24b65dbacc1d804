"""The 35 test functions of More, Garbow and Hillstrom, as least-squares problems.

J. J. More, B. S. Garbow, K. E. Hillstrom, "Testing unconstrained optimization software",
ACM TOMS 7(1), 1981, 17-41. Every function is f(x) = sum_i r_i(x)^2; names, standard starts, sizes
and the minima f* follow the paper, data tables follow the authors' MINPACK Fortran. f* is stored
with the paper's printed digits (None where the paper gives none for the chosen size), except where
those digits are too few to judge a run at a relative accuracy of 1e-6: there the value is the paper's,
carried to full precision by Newton's method from the paper's minimizer (each says so in `reference`).
Local minima are the ones the paper lists.

Every factory takes `scale`: x0 = scale * (standard start), so 10 and 100 give the paper's far
starts. Watson's standard start is 0, which scaling leaves at 0 (MINPACK used x_j = factor there).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

import optlab.autodiff.functions as F
from optlab import hookimpl
from optlab.optim import Problem

Residuals = Callable[[Any], Sequence[Any]]


PAPER = "More, Garbow and Hillstrom (1981)"


def _least_squares(name: str, residuals: Residuals, x0: Sequence[float], scale: float,
                   f_star: float | None = None, x_star: Sequence[float] | None = None,
                   local_minima: tuple[float, ...] = (), reference: str = "", **params: Any) -> Problem:
    """A Problem with f(x) = sum of squares of the pieces (scalars or vectors) `residuals(x)` returns."""

    def objective(x: Any) -> Any:
        pieces = residuals(x)
        total = F.sum(pieces[0] * pieces[0])
        for r in pieces[1:]:
            total = total + F.sum(r * r)
        return total

    def residual_vector(x: Any) -> Any:
        return F.concatenate([F.reshape(piece * np.ones(1), (-1,)) for piece in residuals(x)])

    objective.__name__ = name
    return Problem(name=name, objective=objective, residuals=residual_vector,
                   x0=scale * np.asarray(x0, dtype=np.float64),
                   f_star=f_star, x_star=None if x_star is None else np.asarray(x_star, dtype=np.float64),
                   local_minima=local_minima, params={**params, "scale": scale},
                   reference=reference or (f"f* from {PAPER}" if f_star is not None else ""))


def _require(ok: bool, name: str, message: str) -> None:
    if not ok:
        raise ValueError(f"problem {name!r}: {message}")


def _index(k: int) -> np.ndarray:
    """1, 2, ..., k as floats: the paper's 1-based i or j."""
    return np.arange(1.0, k + 1.0)


def _angle(x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """The helical valley's angle: atan(x2/x1)/(2 pi), plus 1/2 for x1 < 0, sign(x2)/4 on x1 = 0."""
    t = np.arctan2(x2, x1) / (2 * np.pi)
    return np.where(t < -0.25, t + 1.0, t)


_TWO_PI = 2 * np.pi
_theta = F.primitive("helical_angle", _angle,
                     lambda g, y, a, b: g * -b / (_TWO_PI * (a * a + b * b)),
                     lambda g, y, a, b: g * a / (_TWO_PI * (a * a + b * b)))


def _tree_product(x: Any) -> Any:
    """x_1 x_2 ... x_n by pairwise products: log2(n) vector operations, exact at zeros."""
    odd = 1.0
    while x.shape[0] > 1:
        half = x.shape[0] // 2
        if x.shape[0] % 2:
            odd = odd * x[-1]
        x = x[:half] * x[half:2 * half]
    return odd * x[0]


# ---------------------------------------------------------------------------------------------
# 1-19: fixed-size problems.

def rosenbrock(scale: float = 1.0) -> Problem:
    """MGH 1, Rosenbrock's banana valley: n = m = 2."""
    return _least_squares("rosenbrock", lambda x: (10.0 * (x[1] - x[0] * x[0]), 1.0 - x[0]),
                          [-1.2, 1.0], scale, f_star=0.0, x_star=[1.0, 1.0])


def freudenstein_roth(scale: float = 1.0) -> Problem:
    """MGH 2, Freudenstein and Roth: n = m = 2, a local minimum 48.9842 besides f* = 0.

    The local minimum's value to full precision, 48.98425367924, is Newton's from (11.41, -0.8968).
    """
    def r(x: Any) -> tuple:
        return (-13.0 + x[0] + ((5.0 - x[1]) * x[1] - 2.0) * x[1],
                -29.0 + x[0] + ((x[1] + 1.0) * x[1] - 14.0) * x[1])
    return _least_squares("freudenstein_roth", r, [0.5, -2.0], scale, f_star=0.0, x_star=[5.0, 4.0],
                          local_minima=(48.98425367924,),
                          reference=f"f* and the local minimum 48.9842 (at (11.41, -0.8968)) from {PAPER}; "
                                    "the local minimum's digits by Newton's method from there")


def powell_badly_scaled(scale: float = 1.0) -> Problem:
    """MGH 3, Powell's badly scaled function: n = m = 2.

    x_star is the root of both residuals to double precision (the paper prints 1.098e-5, 9.106).
    """
    return _least_squares("powell_badly_scaled",
                          lambda x: (1e4 * x[0] * x[1] - 1.0, F.exp(-x[0]) + F.exp(-x[1]) - 1.0001),
                          [0.0, 1.0], scale, f_star=0.0, x_star=[1.0981593296997374e-05, 9.106146739867187])


def brown_badly_scaled(scale: float = 1.0) -> Problem:
    """MGH 4, Brown's badly scaled function: n = 2, m = 3."""
    return _least_squares("brown_badly_scaled", lambda x: (x[0] - 1e6, x[1] - 2e-6, x[0] * x[1] - 2.0),
                          [1.0, 1.0], scale, f_star=0.0, x_star=[1e6, 2e-6])


_BEALE_Y = np.array([1.5, 2.25, 2.625])


def beale(scale: float = 1.0) -> Problem:
    """MGH 5, Beale: n = 2, m = 3."""
    return _least_squares("beale", lambda x: (_BEALE_Y - x[0] * (1.0 - x[1] ** _index(3)),),
                          [1.0, 1.0], scale, f_star=0.0, x_star=[3.0, 0.5])


def jennrich_sampson(m: int = 10, scale: float = 1.0) -> Problem:
    """MGH 6, Jennrich and Sampson: n = 2, any m >= 2 (f* = 124.362 at x1 = x2 = 0.2578 for m = 10)."""
    _require(m >= 2, "jennrich_sampson", f"needs m >= 2, got m={m}")
    i = _index(m)
    known = m == 10
    return _least_squares("jennrich_sampson", lambda x: (2.0 + 2.0 * i - F.exp(i * x[0]) - F.exp(i * x[1]),),
                          [0.3, 0.4], scale, f_star=124.36218235561 if known else None,
                          x_star=[0.2578, 0.2578] if known else None, m=m,
                          reference=f"f* = 124.362 from {PAPER}, digits by Newton's method from (0.2578, 0.2578)"
                          if known else "")


def helical_valley(scale: float = 1.0) -> Problem:
    """MGH 7, Fletcher and Powell's helical valley: n = m = 3."""
    def r(x: Any) -> tuple:
        return (10.0 * (x[2] - 10.0 * _theta(x[0], x[1])),
                10.0 * (F.sqrt(x[0] * x[0] + x[1] * x[1]) - 1.0), x[2])
    return _least_squares("helical_valley", r, [-1.0, 0.0, 0.0], scale, f_star=0.0, x_star=[1.0, 0.0, 0.0])


_BARD_Y = np.array([0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58, 0.73, 0.96, 1.34, 2.10, 4.39])


def bard(scale: float = 1.0) -> Problem:
    """MGH 8, Bard: n = 3, m = 15 (local minimum 17.4286 as x2, x3 -> -inf).

    That limit is the best constant fit x1 = mean(y): f = sum (y - mean y)^2 = 17.4286933..., exactly.
    """
    u = _index(15)
    v = 16.0 - u
    w = np.minimum(u, v)
    return _least_squares("bard", lambda x: (_BARD_Y - (x[0] + u / (v * x[1] + w * x[2])),),
                          [1.0, 1.0, 1.0], scale, f_star=8.21487e-3,
                          local_minima=(float(np.sum((_BARD_Y - _BARD_Y.mean()) ** 2)),),
                          reference=f"f* and the local minimum 17.4286 (at infinity) from {PAPER}; "
                                    "the latter's digits as the best constant fit's sum of squares")


_GAUSSIAN_Y = np.array([0.0009, 0.0044, 0.0175, 0.0540, 0.1295, 0.2420, 0.3521, 0.3989,
                        0.3521, 0.2420, 0.1295, 0.0540, 0.0175, 0.0044, 0.0009])


def gaussian(scale: float = 1.0) -> Problem:
    """MGH 9, Gaussian: n = 3, m = 15."""
    t = (8.0 - _index(15)) / 2.0
    return _least_squares("gaussian",
                          lambda x: (x[0] * F.exp(-0.5 * x[1] * (t - x[2]) ** 2) - _GAUSSIAN_Y,),
                          [0.4, 1.0, 0.0], scale, f_star=1.12793e-8)


_MEYER_Y = np.array([34780.0, 28610.0, 23650.0, 19630.0, 16370.0, 13720.0, 11540.0, 9744.0,
                     8261.0, 7030.0, 6005.0, 5147.0, 4427.0, 3820.0, 3307.0, 2872.0])


def meyer(scale: float = 1.0) -> Problem:
    """MGH 10, Meyer: n = 3, m = 16; badly scaled."""
    t = 45.0 + 5.0 * _index(16)
    return _least_squares("meyer", lambda x: (x[0] * F.exp(x[1] / (t + x[2])) - _MEYER_Y,),
                          [0.02, 4000.0, 250.0], scale, f_star=87.9458551707,
                          reference=f"f* = 87.9458 from {PAPER}, digits by Newton's method from the paper's x*")


def gulf(m: int = 99, scale: float = 1.0) -> Problem:
    """MGH 11, Gulf research and development: n = 3, 3 <= m <= 100; f* = 0 at (50, 25, 1.5).

    r_i = exp(-|y_i - x2|^x3 / x1) - t_i, t_i = i/100, y_i = 25 + (-50 ln t_i)^(2/3).
    """
    _require(3 <= m <= 100, "gulf", f"needs 3 <= m <= 100, got m={m}")
    t = _index(m) / 100.0
    y = 25.0 + (-50.0 * np.log(t)) ** (2.0 / 3.0)
    return _least_squares("gulf", lambda x: (F.exp(-(F.abs(y - x[1]) ** x[2]) / x[0]) - t,),
                          [5.0, 2.5, 0.15], scale, f_star=0.0, x_star=[50.0, 25.0, 1.5], m=m)


def box3(m: int = 10, scale: float = 1.0) -> Problem:
    """MGH 12, Box three-dimensional: n = 3, m >= 3; f* = 0 at (1, 10, 1), (10, 1, -1), (a, a, 0)."""
    _require(m >= 3, "box3", f"needs m >= 3, got m={m}")
    t = 0.1 * _index(m)
    c = np.exp(-t) - np.exp(-10.0 * t)
    return _least_squares("box3", lambda x: (F.exp(-t * x[0]) - F.exp(-t * x[1]) - x[2] * c,),
                          [0.0, 10.0, 20.0], scale, f_star=0.0, x_star=[1.0, 10.0, 1.0], m=m)


def powell_singular(scale: float = 1.0) -> Problem:
    """MGH 13, Powell's singular function: n = m = 4; the Hessian is singular at x* = 0."""
    def r(x: Any) -> tuple:
        return (x[0] + 10.0 * x[1], np.sqrt(5.0) * (x[2] - x[3]), (x[1] - 2.0 * x[2]) ** 2,
                np.sqrt(10.0) * (x[0] - x[3]) ** 2)
    return _least_squares("powell_singular", r, [3.0, -1.0, 0.0, 1.0], scale, f_star=0.0, x_star=np.zeros(4))


def wood(scale: float = 1.0) -> Problem:
    """MGH 14, Wood: n = 4, m = 6."""
    def r(x: Any) -> tuple:
        return (10.0 * (x[1] - x[0] * x[0]), 1.0 - x[0], np.sqrt(90.0) * (x[3] - x[2] * x[2]), 1.0 - x[2],
                np.sqrt(10.0) * (x[1] + x[3] - 2.0), (x[1] - x[3]) / np.sqrt(10.0))
    return _least_squares("wood", r, [-3.0, -1.0, -3.0, -1.0], scale, f_star=0.0, x_star=np.ones(4))


_KO_Y = np.array([0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627, 0.0456, 0.0342, 0.0323, 0.0235, 0.0246])
_KO_U = np.array([4.0, 2.0, 1.0, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714, 0.0625])


def kowalik_osborne(scale: float = 1.0) -> Problem:
    """MGH 15, Kowalik and Osborne: n = 4, m = 11 (local minimum 1.02734e-3 at infinity)."""
    u = _KO_U
    return _least_squares("kowalik_osborne",
                          lambda x: (_KO_Y - x[0] * (u * u + u * x[1]) / (u * u + u * x[2] + x[3]),),
                          [0.25, 0.39, 0.415, 0.39], scale, f_star=3.07505e-4, local_minima=(1.02734e-3,),
                          reference=f"f* and the local minimum 1.02734e-3 (at infinity) from {PAPER}")


def brown_dennis(m: int = 20, scale: float = 1.0) -> Problem:
    """MGH 16, Brown and Dennis: n = 4, m >= 4 (f* = 85822.2 for m = 20)."""
    _require(m >= 4, "brown_dennis", f"needs m >= 4, got m={m}")
    t = _index(m) / 5.0
    return _least_squares("brown_dennis",
                          lambda x: ((x[0] + t * x[1] - np.exp(t)) ** 2 + (x[2] + x[3] * np.sin(t) - np.cos(t)) ** 2,),
                          [25.0, 5.0, -5.0, -1.0], scale, f_star=85822.2016263563 if m == 20 else None, m=m,
                          reference=f"f* = 85822.2 from {PAPER}, digits by Newton's method" if m == 20 else "")


_OSBORNE1_Y = np.array([0.844, 0.908, 0.932, 0.936, 0.925, 0.908, 0.881, 0.850, 0.818, 0.784, 0.751,
                        0.718, 0.685, 0.658, 0.628, 0.603, 0.580, 0.558, 0.538, 0.522, 0.506, 0.490,
                        0.478, 0.467, 0.457, 0.448, 0.438, 0.431, 0.424, 0.420, 0.414, 0.411, 0.406])


def osborne1(scale: float = 1.0) -> Problem:
    """MGH 17, Osborne 1: n = 5, m = 33."""
    t = 10.0 * (_index(33) - 1.0)
    return _least_squares("osborne1",
                          lambda x: (_OSBORNE1_Y - (x[0] + x[1] * F.exp(-t * x[3]) + x[2] * F.exp(-t * x[4])),),
                          [0.5, 1.5, -1.0, 0.01, 0.02], scale, f_star=5.46489e-5)


def biggs_exp6(m: int = 13, scale: float = 1.0) -> Problem:
    """MGH 18, Biggs EXP6: n = 6, m >= 6; f* = 0 at (1, 10, 1, 5, 4, 3), a local minimum 5.65565e-3 for m = 13."""
    _require(m >= 6, "biggs_exp6", f"needs m >= 6, got m={m}")
    t = 0.1 * _index(m)
    y = np.exp(-t) - 5.0 * np.exp(-10.0 * t) + 3.0 * np.exp(-4.0 * t)
    return _least_squares("biggs_exp6",
                          lambda x: (x[2] * F.exp(-t * x[0]) - x[3] * F.exp(-t * x[1]) + x[5] * F.exp(-t * x[4]) - y,),
                          [1.0, 2.0, 1.0, 1.0, 1.0, 1.0], scale, f_star=0.0, x_star=[1.0, 10.0, 1.0, 5.0, 4.0, 3.0],
                          local_minima=(5.65565e-3,) if m == 13 else (), m=m,
                          reference=f"f* and the local minimum 5.65565e-3 (m = 13) from {PAPER}")


_OSBORNE2_Y = np.array([
    1.366, 1.191, 1.112, 1.013, 0.991, 0.885, 0.831, 0.847, 0.786, 0.725, 0.746, 0.679, 0.608, 0.655,
    0.616, 0.606, 0.602, 0.626, 0.651, 0.724, 0.649, 0.649, 0.694, 0.644, 0.624, 0.661, 0.612, 0.558,
    0.533, 0.495, 0.500, 0.423, 0.395, 0.375, 0.372, 0.391, 0.396, 0.405, 0.428, 0.429, 0.523, 0.562,
    0.607, 0.653, 0.672, 0.708, 0.633, 0.668, 0.645, 0.632, 0.591, 0.559, 0.597, 0.625, 0.739, 0.710,
    0.729, 0.720, 0.636, 0.581, 0.428, 0.292, 0.162, 0.098, 0.054])


def osborne2(scale: float = 1.0) -> Problem:
    """MGH 19, Osborne 2: n = 11, m = 65."""
    t = (_index(65) - 1.0) / 10.0

    def r(x: Any) -> tuple:
        model = (x[0] * F.exp(-t * x[4]) + x[1] * F.exp(-(t - x[8]) ** 2 * x[5])
                 + x[2] * F.exp(-(t - x[9]) ** 2 * x[6]) + x[3] * F.exp(-(t - x[10]) ** 2 * x[7]))
        return (_OSBORNE2_Y - model,)
    return _least_squares("osborne2", r, [1.3, 0.65, 0.65, 0.7, 0.6, 3.0, 5.0, 7.0, 2.0, 4.5, 5.5], scale,
                          f_star=4.01377e-2)


# ---------------------------------------------------------------------------------------------
# 20-35: problems of variable size.

def watson(n: int = 6, scale: float = 1.0) -> Problem:
    """MGH 20, Watson: 2 <= n <= 31, m = 31; f* printed for n = 6, 9, 12. Start 0 (see module doc)."""
    _require(2 <= n <= 31, "watson", f"needs 2 <= n <= 31, got n={n}")
    t = _index(29)[:, None] / 29.0
    j = np.arange(n)[None, :]
    powers = t ** j                                       # t_i^(j-1), j = 1..n
    slopes = j * t ** np.maximum(j - 1, 0)                # (j-1) t_i^(j-2)

    def r(x: Any) -> tuple:
        return (F.matmul(slopes, x) - F.matmul(powers, x) ** 2 - 1.0, x[0], x[1] - x[0] * x[0] - 1.0)
    f_star = {6: 2.28767e-3, 9: 1.39976e-6, 12: 4.72238e-10}.get(n)
    return _least_squares("watson", r, np.zeros(n), scale, f_star=f_star, n=n)


def extended_rosenbrock(n: int = 10, scale: float = 1.0) -> Problem:
    """MGH 21, extended Rosenbrock: n even, m = n; n/2 uncoupled Rosenbrock valleys."""
    _require(n >= 2 and n % 2 == 0, "extended_rosenbrock", f"needs an even n >= 2, got n={n}")
    return _least_squares("extended_rosenbrock",
                          lambda x: (10.0 * (x[1::2] - x[0::2] * x[0::2]), 1.0 - x[0::2]),
                          np.tile([-1.2, 1.0], n // 2), scale, f_star=0.0, x_star=np.ones(n), n=n)


def extended_powell(n: int = 12, scale: float = 1.0) -> Problem:
    """MGH 22, extended Powell singular: n a multiple of 4, m = n; singular Hessian at x* = 0."""
    _require(n >= 4 and n % 4 == 0, "extended_powell", f"needs n a positive multiple of 4, got n={n}")

    def r(x: Any) -> tuple:
        a, b, c, d = x[0::4], x[1::4], x[2::4], x[3::4]
        return a + 10.0 * b, np.sqrt(5.0) * (c - d), (b - 2.0 * c) ** 2, np.sqrt(10.0) * (a - d) ** 2
    return _least_squares("extended_powell", r, np.tile([3.0, -1.0, 0.0, 1.0], n // 4), scale,
                          f_star=0.0, x_star=np.zeros(n), n=n)


def penalty1(n: int = 4, scale: float = 1.0) -> Problem:
    """MGH 23, penalty function I: m = n + 1; f* printed for n = 4 and 10."""
    _require(n >= 1, "penalty1", f"needs n >= 1, got n={n}")
    root_a = np.sqrt(1e-5)
    return _least_squares("penalty1", lambda x: (root_a * (x - 1.0), F.sum(x * x) - 0.25), _index(n), scale,
                          f_star={4: 2.24997e-5, 10: 7.08765e-5}.get(n), n=n)


def penalty2(n: int = 4, scale: float = 1.0) -> Problem:
    """MGH 24, penalty function II: m = 2n; f* printed for n = 4 and 10."""
    _require(n >= 2, "penalty2", f"needs n >= 2, got n={n}")
    root_a = np.sqrt(1e-5)
    i = _index(n)
    y = np.exp(i[1:] / 10.0) + np.exp((i[1:] - 1.0) / 10.0)
    weights = n - i + 1.0

    def r(x: Any) -> tuple:
        e = F.exp(x / 10.0)
        return (x[0] - 0.2, root_a * (e[1:] + e[:-1] - y), root_a * (e[1:] - np.exp(-0.1)),
                F.sum(weights * x * x) - 1.0)
    return _least_squares("penalty2", r, np.full(n, 0.5), scale,
                          f_star={4: 9.37629e-6, 10: 2.93660e-4}.get(n), n=n)


def variably_dimensioned(n: int = 10, scale: float = 1.0) -> Problem:
    """MGH 25, variably dimensioned: m = n + 2; f* = 0 at x = 1."""
    _require(n >= 1, "variably_dimensioned", f"needs n >= 1, got n={n}")
    j = _index(n)

    def r(x: Any) -> tuple:
        s = F.sum(j * (x - 1.0))
        return x - 1.0, s, s * s
    return _least_squares("variably_dimensioned", r, 1.0 - j / n, scale, f_star=0.0, x_star=np.ones(n), n=n)


def trigonometric(n: int = 10, scale: float = 1.0) -> Problem:
    """MGH 26, trigonometric: m = n; f* = 0 (the paper gives no minimizer)."""
    _require(n >= 1, "trigonometric", f"needs n >= 1, got n={n}")
    i = _index(n)

    def r(x: Any) -> tuple:
        c = F.cos(x)
        return (n - F.sum(c) + i * (1.0 - c) - F.sin(x),)
    return _least_squares("trigonometric", r, np.full(n, 1.0 / n), scale, f_star=0.0, n=n)


def brown_almost_linear(n: int = 10, scale: float = 1.0) -> Problem:
    """MGH 27, Brown almost-linear: m = n; f* = 0 at x = 1, and f = 1 at (0, ..., 0, n + 1)."""
    _require(n >= 2, "brown_almost_linear", f"needs n >= 2, got n={n}")
    return _least_squares("brown_almost_linear",
                          lambda x: (x[:-1] + F.sum(x) - (n + 1.0), _tree_product(x) - 1.0),
                          np.full(n, 0.5), scale, f_star=0.0, x_star=np.ones(n), local_minima=(1.0,), n=n,
                          reference=f"f* = 0 and the local minimum f = 1 at (a, ..., a, (n+1) a^(1-n)) from {PAPER}")


# Running sum; its adjoint is the running sum from the other end.
_cumsum = F.primitive("cumsum", np.cumsum, lambda g, y, x: _cumsum(g[::-1])[::-1])


def _padded(x: Any, before: int = 1, after: int = 1) -> Any:
    """x with zeros around it: the boundary values x_0 = x_{n+1} = 0 and empty band entries."""
    return F.concatenate([np.zeros(before), x, np.zeros(after)])


def _grid(n: int) -> tuple[float, np.ndarray]:
    """h = 1/(n+1) and t_i = i h: the discretization of the two boundary value problems."""
    h = 1.0 / (n + 1)
    return h, h * _index(n)


def discrete_boundary_value(n: int = 10, scale: float = 1.0) -> Problem:
    """MGH 28, discrete boundary value: m = n, x_0 = x_{n+1} = 0; f* = 0."""
    _require(n >= 1, "discrete_boundary_value", f"needs n >= 1, got n={n}")
    h, t = _grid(n)

    def r(x: Any) -> tuple:
        xp = _padded(x)
        return (2.0 * x - xp[:-2] - xp[2:] + 0.5 * h * h * (x + t + 1.0) ** 3,)
    return _least_squares("discrete_boundary_value", r, t * (t - 1.0), scale, f_star=0.0, n=n)


def discrete_integral_equation(n: int = 10, scale: float = 1.0) -> Problem:
    """MGH 29, discrete integral equation: m = n; f* = 0.

    r_i = x_i + h/2 [(1 - t_i) sum_{j<=i} t_j c_j + t_i sum_{j>i} (1 - t_j) c_j], c_j = (x_j + t_j + 1)^3:
    two running sums, so O(n).
    """
    _require(n >= 1, "discrete_integral_equation", f"needs n >= 1, got n={n}")
    h, t = _grid(n)

    def r(x: Any) -> tuple:
        c = (x + t + 1.0) ** 3
        below = _cumsum(t * c)
        above = F.sum((1.0 - t) * c) - _cumsum((1.0 - t) * c)
        return (x + 0.5 * h * ((1.0 - t) * below + t * above),)
    return _least_squares("discrete_integral_equation", r, t * (t - 1.0), scale, f_star=0.0, n=n)


def broyden_tridiagonal(n: int = 10, scale: float = 1.0) -> Problem:
    """MGH 30, Broyden tridiagonal: m = n, x_0 = x_{n+1} = 0; f* = 0."""
    _require(n >= 1, "broyden_tridiagonal", f"needs n >= 1, got n={n}")

    def r(x: Any) -> tuple:
        xp = _padded(x)
        return ((3.0 - 2.0 * x) * x - xp[:-2] - 2.0 * xp[2:] + 1.0,)
    return _least_squares("broyden_tridiagonal", r, np.full(n, -1.0), scale, f_star=0.0, n=n)


def broyden_banded(n: int = 10, scale: float = 1.0) -> Problem:
    """MGH 31, Broyden banded: m = n, band 5 below and 1 above the diagonal; f* = 0."""
    _require(n >= 1, "broyden_banded", f"needs n >= 1, got n={n}")

    def r(x: Any) -> tuple:
        g = _padded(x * (1.0 + x), before=5, after=1)          # g_j sits at position j + 5
        band = g[0:n] + g[1:n + 1] + g[2:n + 2] + g[3:n + 3] + g[4:n + 4] + g[6:n + 6]
        return (x * (2.0 + 5.0 * x * x) + 1.0 - band,)
    return _least_squares("broyden_banded", r, np.full(n, -1.0), scale, f_star=0.0, n=n)


def linear_full_rank(n: int = 5, m: int = 10, scale: float = 1.0) -> Problem:
    """MGH 32, linear function of full rank: m >= n; f* = m - n at x = -1."""
    _require(1 <= n <= m, "linear_full_rank", f"needs 1 <= n <= m, got n={n}, m={m}")

    def r(x: Any) -> tuple:
        c = 2.0 * F.sum(x) / m + 1.0
        return x - c, c * np.ones(m - n)
    return _least_squares("linear_full_rank", r, np.ones(n), scale, f_star=float(m - n), x_star=-np.ones(n),
                          n=n, m=m)


def linear_rank1(n: int = 5, m: int = 10, scale: float = 1.0) -> Problem:
    """MGH 33, linear function of rank 1: m >= n; f* = m(m-1)/(2(2m+1)) wherever sum j x_j = 3/(2m+1)."""
    _require(1 <= n <= m, "linear_rank1", f"needs 1 <= n <= m, got n={n}, m={m}")
    i, j = _index(m), _index(n)
    x_star = np.full(n, 3.0 / ((2 * m + 1) * j.sum()))
    return _least_squares("linear_rank1", lambda x: (i * F.sum(j * x) - 1.0,), np.ones(n), scale,
                          f_star=m * (m - 1) / (2.0 * (2 * m + 1)), x_star=x_star, n=n, m=m)


_ENDS = np.array([-1.0, -1.0])  # r_1 and r_m


def linear_rank1_zero(n: int = 5, m: int = 10, scale: float = 1.0) -> Problem:
    """MGH 34, linear rank 1 with zero columns and rows: m >= n >= 3;
    f* = (m^2 + 3m - 6)/(2(2m-3)) wherever sum_{j=2}^{n-1} j x_j = 3/(2m-3)."""
    _require(3 <= n <= m, "linear_rank1_zero", f"needs 3 <= n <= m, got n={n}, m={m}")
    i, j = _index(m - 2), _index(n - 1)[1:]                  # i - 1 for i = 2..m-1, j = 2..n-1
    x_star = np.concatenate([[0.0], np.full(n - 2, 3.0 / ((2 * m - 3) * j.sum())), [0.0]])
    return _least_squares("linear_rank1_zero",
                          lambda x: (i * F.sum(j * x[1:-1]) - 1.0, _ENDS), np.ones(n), scale,
                          f_star=(m * m + 3 * m - 6) / (2.0 * (2 * m - 3)), x_star=x_star, n=n, m=m)


def chebyquad(n: int = 8, m: int | None = None, scale: float = 1.0) -> Problem:
    """MGH 35, Chebyquad: m >= n (m = n by default); f* printed for m = n <= 10.

    r_i = mean_j T_i(x_j) - integral_0^1 T_i, T_i the Chebyshev polynomials shifted to [0, 1].
    """
    m = n if m is None else m
    _require(1 <= n <= m, "chebyquad", f"needs 1 <= n <= m, got n={n}, m={m}")
    i = _index(m)
    integrals = np.zeros(m)
    integrals[1::2] = -1.0 / (i[1::2] ** 2 - 1.0)          # zero for odd i

    def r(x: Any) -> list:
        y = 2.0 * x - 1.0
        previous, current = 1.0, y
        pieces = []
        for k in range(m):
            pieces.append(F.mean(current) - integrals[k])
            previous, current = current, 2.0 * y * current - previous
        return pieces
    f_star = {**dict.fromkeys([1, 2, 3, 4, 5, 6, 7, 9], 0.0), 8: 3.51687e-3, 10: 6.50395e-3}.get(n) if m == n else None
    return _least_squares("chebyquad", r, _index(n) / (n + 1), scale, f_star=f_star, n=n, m=m)


PROBLEMS: dict[str, Callable[..., Problem]] = {f.__name__: f for f in (
    rosenbrock, freudenstein_roth, powell_badly_scaled, brown_badly_scaled, beale, jennrich_sampson,
    helical_valley, bard, gaussian, meyer, gulf, box3, powell_singular, wood, kowalik_osborne,
    brown_dennis, osborne1, biggs_exp6, osborne2, watson, extended_rosenbrock, extended_powell,
    penalty1, penalty2, variably_dimensioned, trigonometric, brown_almost_linear,
    discrete_boundary_value, discrete_integral_equation, broyden_tridiagonal, broyden_banded,
    linear_full_rank, linear_rank1, linear_rank1_zero, chebyquad)}


@hookimpl
def optlab_problems() -> dict[str, Callable[..., Problem]]:
    return PROBLEMS
