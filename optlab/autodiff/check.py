"""Finite-difference checks of first and second derivatives, in float64, with a readable report."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import functions as F
from .backprop import gradients
from .config import enable_grad, no_grad
from .node import Variable


class GradcheckError(AssertionError):
    """Backward disagrees with central finite differences."""


def _projected(f: Callable, xs: list[np.ndarray], rng: np.random.Generator) -> tuple[Callable, str]:
    """s(*xs) = <f(*xs), r> for a fixed random r: one backward checks the whole Jacobian's action."""
    name = getattr(f, "__name__", "f")
    y0 = f(*[Variable(x) for x in xs])
    r = rng.standard_normal(np.shape(y0.data if isinstance(y0, Variable) else y0))

    def s(*vs: Any) -> Any:
        return F.sum(f(*vs) * r)

    return s, name


def _compare(s: Callable, xs: list[np.ndarray], name: str, what: str, eps: float, atol: float,
             rtol: float, raise_exception: bool) -> bool:
    vs = [Variable(x.copy()) for x in xs]
    analytic = gradients(s(*vs), vs)
    worst = None
    for i, (x, g) in enumerate(zip(xs, analytic)):
        g = np.zeros_like(x) if g is None else g.data
        for j in np.ndindex(x.shape):
            old = x[j]
            values = []
            for step in (eps, -eps):
                x[j] = old + step
                with no_grad():
                    out = s(*[Variable(a) for a in xs])
                values.append(float(np.asarray(out.data if isinstance(out, Variable) else out)))
            x[j] = old
            numeric = (values[0] - values[1]) / (2 * eps)
            excess = np.abs(g[j] - numeric) - (atol + rtol * np.abs(numeric))
            if not np.isfinite(g[j]) or (worst is None or excess > worst[0]):
                worst = (excess if np.isfinite(g[j]) else np.inf, i, j, numeric, g[j])
    if worst is None or worst[0] <= 0:
        return True
    _, i, j, numeric, got = worst
    message = (f"{what} failed for {name}: input {i}, element {j}: finite differences give "
               f"{numeric:.10g}, backward gives {got:.10g} (|diff| {abs(got - numeric):.3g} > "
               f"atol {atol:g} + rtol {rtol:g} * |expected|)")
    if raise_exception:
        raise GradcheckError(message)
    return False


def gradcheck(f: Callable, *xs: Any, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-4,
              seed: int = 0, raise_exception: bool = True) -> bool:
    """Check f's first derivatives against central differences; raise with the worst mismatch."""
    xs64 = [np.array(x, dtype=np.float64) for x in xs]
    s, name = _projected(f, xs64, np.random.default_rng(seed))
    return _compare(s, xs64, name, "gradcheck", eps, atol, rtol, raise_exception)


def gradgradcheck(f: Callable, *xs: Any, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-4,
                  seed: int = 0, raise_exception: bool = True) -> bool:
    """Check f's second derivatives: the gradient of a random projection of its gradient."""
    xs64 = [np.array(x, dtype=np.float64) for x in xs]
    rng = np.random.default_rng(seed)
    s, name = _projected(f, xs64, rng)
    rs = [rng.standard_normal(x.shape) for x in xs64]

    def first(*vs: Any) -> Any:
        with enable_grad():  # the numeric side evaluates this under no_grad; it needs its graph
            gs = gradients(s(*vs), vs, create_graph=True)
        terms = [F.sum(g * r) for g, r in zip(gs, rs) if g is not None]
        total = terms[0] if terms else Variable(0.0)
        for t in terms[1:]:
            total = total + t
        return total

    return _compare(first, xs64, name, "gradgradcheck", eps, atol, rtol, raise_exception)
