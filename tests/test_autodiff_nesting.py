"""Transforms nested in any order, inner functions closing over outer values: JAX's values at orders 1-3.

Each case is written once against a namespace of transforms and functions, then run with optlab's and
with JAX's (float64); JAX's numbers are the reference.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import optlab.autodiff.functions as F
from optlab.autodiff import Variable, grad, gradients, hessian, hvp, jacobian, jvp, value_and_grad, vjp

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

OURS = SimpleNamespace(grad=grad, vjp=vjp, jvp=jvp, hvp=hvp, jacobian=jacobian, hessian=hessian,
                       sin=F.sin, tanh=F.tanh, sum=F.sum, exp=F.exp)


def _jax_vjp(f, x):
    y, pullback = jax.vjp(f, x)
    return y, lambda v: pullback(v)[0]


JAX = SimpleNamespace(grad=jax.grad, vjp=_jax_vjp, jvp=lambda f, x, v: jax.jvp(f, (x,), (v,)),
                      hvp=lambda f, x, v: jax.jvp(jax.grad(f), (x,), (v,))[1], jacobian=jax.jacrev,
                      hessian=jax.hessian, sin=jnp.sin, tanh=jnp.tanh, sum=jnp.sum, exp=jnp.exp)

Y0 = np.array([0.3, -1.2, 0.8])
V0 = np.array([1.0, 0.5, -2.0])
M = np.array([[1.0, 2.0, -1.0], [0.5, 0.0, 3.0], [-2.0, 1.0, 0.25]])

# Scalar functions of a scalar x, each calling an inner transform whose function closes over x.
CASES = {
    "grad, the issue's case": lambda T: lambda x: x * T.grad(lambda y: x * y)(2.0),
    "grad, perturbation confusion (Siskind-Pearlmutter)": lambda T: lambda x: x * T.grad(lambda y: x + y)(1.0),
    "grad at the outer input": lambda T: lambda x: T.grad(lambda y: T.sin(x * y) * y)(x),
    "grad of grad inside": lambda T: lambda x: x * T.grad(lambda y: y * T.grad(lambda z: T.sin(x * y * z))(1.0))(2.0),
    "vjp": lambda T: lambda x: T.sum(T.vjp(lambda y: T.sin(x * y), Y0)[1](V0)),
    "vjp, cotangent from outside": lambda T: lambda x: T.sum(T.vjp(lambda y: y * y, Y0)[1](V0 * x)),
    "jvp": lambda T: lambda x: T.jvp(lambda y: x * y ** 3, 2.0, 1.0)[1] * x,
    "jvp of jvp": lambda T: lambda x: T.jvp(lambda y: T.jvp(lambda z: T.sin(x * y * z), 1.0, 1.0)[1], x, 1.0)[1],
    "jvp, tangent from outside": lambda T: lambda x: T.sum(T.jvp(lambda y: T.exp(y), Y0, V0 * x)[1]),
    "hvp": lambda T: lambda x: T.sum(T.hvp(lambda y: T.sum(T.sin(x * y)), Y0, V0)),
    "jacobian": lambda T: lambda x: T.sum(T.jacobian(lambda y: T.tanh(x * y))(Y0) * M),
    "hessian": lambda T: lambda x: T.sum(T.hessian(lambda y: x * T.sum(y ** 3) + T.sin(x) * y[0] * y[1])(Y0) * M),
}


def _reference(case, order: int, x: float) -> float:
    f = case(JAX)
    for _ in range(order):
        f = jax.grad(f)
    return float(f(x))


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("name", list(CASES))
def test_outer_grad_of_inner_transform_matches_jax(name: str, order: int) -> None:
    x = 0.7
    f = CASES[name](OURS)
    for _ in range(order):
        f = grad(f)
    np.testing.assert_allclose(f(x), _reference(CASES[name], order, x), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(CASES))
def test_outer_jvp_and_hessian_of_inner_transform_match_jax(name: str) -> None:
    x = 0.7
    y, t = jvp(CASES[name](OURS), x, 1.0)
    y_ref, t_ref = jax.jvp(CASES[name](JAX), (x,), (1.0,))
    np.testing.assert_allclose(y, float(y_ref), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(t, float(t_ref), rtol=1e-10, atol=1e-12)
    h = hessian(lambda v: CASES[name](OURS)(v[0]))(np.array([x]))
    np.testing.assert_allclose(h, [[_reference(CASES[name], 2, x)]], rtol=1e-10, atol=1e-12)


def test_issue_values_closed_form() -> None:
    f = lambda x: x * grad(lambda y: x * y)(2.0)  # noqa: E731  (x * x: 2x, then 2)
    assert grad(f)(1.0) == 2.0
    assert grad(grad(f))(1.0) == 2.0
    assert grad(grad(grad(f)))(1.0) == 0.0


def test_backward_through_a_transform_closing_over_a_variable() -> None:
    """The seed's API: Variable.backward() through an inner grad that holds the Variable by closure."""
    x = Variable(np.array(1.5))
    y = x * grad(lambda t: x * t * t)(2.0)  # x * (4 x) = 4 x^2
    y.backward()
    assert x.grad.data == pytest.approx(8 * 1.5)


def test_inner_transform_without_outer_dependence_returns_arrays() -> None:
    """An inner result that does not depend on the outer transform stays a constant ndarray."""
    seen = []

    def f(x):
        g = grad(lambda y: F.sum(y ** 2))(np.array([1.0, 2.0]))
        seen.append(type(g))
        return F.sum(x * g)

    np.testing.assert_allclose(grad(f)(np.zeros(2)), [2.0, 4.0])
    assert seen == [np.ndarray]
    assert type(grad(lambda x: x * 3.0)(1.0)) is np.ndarray


def test_value_and_grad_inside_grad_carries_the_closure() -> None:
    def f(x):
        v, g = value_and_grad(lambda y: x * y ** 2)(3.0)  # 9x and 6x
        return v * g

    assert grad(f)(0.5) == pytest.approx(108 * 0.5)


# ----------------------------------------------------------------------------------------------
# Gradient penalty written by closure: the inner gradient is taken at the data, W held by the closure.

X_DATA = np.random.default_rng(0).standard_normal((5, 2))
W0 = np.random.default_rng(1).standard_normal((2, 3))


def _penalty(T, matmul):
    def penalty(W):
        critic = lambda x: T.sum(T.tanh(matmul(x, W)))  # noqa: E731
        g = T.grad(critic)(X_DATA)
        return T.sum((T.sum(g * g, axis=1) - 1.0) ** 2)
    return penalty


def test_gradient_penalty_by_closure_matches_finite_differences_and_jax() -> None:
    penalty = _penalty(OURS, F.matmul)
    got = grad(penalty)(W0)
    h, fd = 1e-6, np.zeros_like(W0)
    for i in np.ndindex(W0.shape):
        e = np.zeros_like(W0)
        e[i] = h
        fd[i] = (penalty(W0 + e) - penalty(W0 - e)) / (2 * h)
    np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(got, jax.grad(_penalty(JAX, jnp.matmul))(W0), rtol=1e-10)
    assert np.abs(got).max() > 1e-3


def test_gradient_penalty_by_closure_with_gradients_on_a_variable() -> None:
    W = Variable(W0)
    (g,) = gradients(_penalty(OURS, F.matmul)(W), [W])
    np.testing.assert_allclose(g.data, jax.grad(_penalty(JAX, jnp.matmul))(W0), rtol=1e-10)
