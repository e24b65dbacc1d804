"""Functional transforms against closed forms: grad, value_and_grad, jacobian, hessian, hvp, jvp, vjp."""
import numpy as np
import pytest
import scipy.optimize

import optlab.autodiff.functions as F
from optlab.autodiff import Variable, grad, hessian, hvp, jacobian, jvp, no_grad, value_and_grad, vjp

rng = np.random.default_rng(7)


def rosen(x):
    return F.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def rosen_hessian_2d(x, y):
    return np.array([[1200 * x ** 2 - 400 * y + 2, -400 * x], [-400 * x, 200.0]])


def g(x):
    """R^3 -> R^2 with a known Jacobian."""
    return F.stack([x[0] * x[1], F.sin(x[2]) + x[0] ** 2])


def g_jacobian(x):
    return np.array([[x[1], x[0], 0.0], [2 * x[0], 0.0, np.cos(x[2])]])


def test_grad_returns_arrays_and_matches_closed_form():
    x0 = np.array([0.5, -1.2, 2.0])
    gx = grad(lambda x: F.sum(F.exp(x) * x))(x0)
    assert type(gx) is np.ndarray
    np.testing.assert_allclose(gx, np.exp(x0) * (1 + x0), rtol=1e-15)


def test_grad_of_grad():
    f = lambda x: x ** 3 * F.sin(x)  # noqa: E731
    d2 = grad(grad(f))
    x = 0.8
    want = 6 * x * np.sin(x) + 6 * x ** 2 * np.cos(x) - x ** 3 * np.sin(x)
    assert d2(np.array(x)) == pytest.approx(want, rel=1e-14)
    d3 = grad(d2)
    want3 = 6 * np.sin(x) + 18 * x * np.cos(x) - 9 * x ** 2 * np.sin(x) - x ** 3 * np.cos(x)
    assert d3(np.array(x)) == pytest.approx(want3, rel=1e-13)


def test_value_and_grad():
    value, gx = value_and_grad(rosen)(np.array([1.5, 2.0]))
    assert type(value) is np.ndarray and value == pytest.approx(100 * (2 - 2.25) ** 2 + 0.25)
    np.testing.assert_allclose(gx, scipy.optimize.rosen_der(np.array([1.5, 2.0])), rtol=1e-14)


def test_argnums_tuple_and_kwargs():
    f = lambda a, b, c, scale=1.0: scale * F.sum(a * b ** 2) + F.sum(c)  # noqa: E731
    a0, b0, c0 = np.array([1.0, 2.0]), np.array([3.0, -1.0]), np.array([5.0])
    ga, gb = grad(f, argnums=(0, 1))(a0, b0, c0, scale=2.0)
    np.testing.assert_array_equal(ga, 2.0 * b0 ** 2)
    np.testing.assert_array_equal(gb, 2.0 * 2 * a0 * b0)
    (gc,) = grad(f, argnums=(2,))(a0, b0, c0)
    np.testing.assert_array_equal(gc, [1.0])
    value, (gb2,) = value_and_grad(f, argnums=[1])(a0, b0, c0)
    assert value == pytest.approx(9 + 2 + 5)
    np.testing.assert_array_equal(gb2, 2 * a0 * b0)


def test_grad_of_independent_argument_is_zero():
    gy = grad(lambda x, y: F.sum(x ** 2), argnums=1)(np.ones(2), np.ones(3))
    np.testing.assert_array_equal(gy, np.zeros(3))


def test_grad_does_not_touch_enclosing_grads():
    x = Variable(np.array([1.0, 2.0]))
    gx = grad(lambda z: F.sum(z ** 3))(x)  # nested: a Variable with a graph to x
    assert isinstance(gx, Variable) and x.grad is None
    np.testing.assert_array_equal(gx.data, [3.0, 12.0])
    F.sum(gx).backward()
    np.testing.assert_array_equal(x.grad.data, [6.0, 12.0])


def test_jacobian_shape_and_values():
    x0 = np.array([0.3, -0.7, 1.1])
    J = jacobian(g)(x0)
    assert J.shape == (2, 3)
    np.testing.assert_allclose(J, g_jacobian(x0), rtol=1e-15)


def test_jacobian_of_matrix_function_and_argnums():
    W0, x0 = rng.standard_normal((2, 3)), rng.standard_normal(3)
    J = jacobian(lambda W, x: F.tanh(W @ x), argnums=1)(W0, x0)
    assert J.shape == (2, 3)
    np.testing.assert_allclose(J, (1 - np.tanh(W0 @ x0) ** 2)[:, None] * W0, rtol=1e-14)
    JW = jacobian(lambda W, x: W @ x)(W0, x0)  # d(Wx)_i / dW_jk = delta_ij x_k
    assert JW.shape == (2, 2, 3)
    np.testing.assert_array_equal(JW, np.einsum("ij,k->ijk", np.eye(2), x0))


def test_jacobian_of_constant_is_zero():
    J = jacobian(lambda x: F.sum(np.ones(3)) + 0.0 * F.sum(x))(np.ones(2))
    np.testing.assert_array_equal(J, np.zeros(2))


def test_hessian_rosenbrock_at_minimum():
    H = hessian(rosen)(np.array([1.0, 1.0]))
    np.testing.assert_array_equal(H, [[802.0, -400.0], [-400.0, 200.0]])


def test_hessian_rosenbrock_at_random_points():
    x0 = rng.uniform(-2, 2, 2)
    np.testing.assert_allclose(hessian(rosen)(x0), rosen_hessian_2d(*x0), rtol=1e-14)
    x5 = rng.uniform(-2, 2, 5)
    H5 = hessian(rosen)(x5)
    np.testing.assert_allclose(H5, scipy.optimize.rosen_hess(x5), rtol=1e-13, atol=1e-12)
    np.testing.assert_array_equal(H5, H5.T)


def test_hvp_equals_hessian_times_v():
    x0, v = rng.uniform(-2, 2, 5), rng.standard_normal(5)
    Hv = hvp(rosen, x0, v)
    assert type(Hv) is np.ndarray
    np.testing.assert_allclose(Hv, scipy.optimize.rosen_hess(x0) @ v, rtol=1e-12)
    np.testing.assert_allclose(Hv, hessian(rosen)(x0) @ v, rtol=1e-13)


def test_hvp_of_linear_function_is_zero():
    np.testing.assert_array_equal(hvp(lambda x: F.sum(3.0 * x), np.ones(3), np.ones(3)), np.zeros(3))


def test_jvp_equals_jacobian_times_v():
    x0, v = np.array([0.3, -0.7, 1.1]), np.array([1.0, 2.0, -0.5])
    y, Jv = jvp(g, x0, v)
    np.testing.assert_allclose(y, [0.3 * -0.7, np.sin(1.1) + 0.09], rtol=1e-15)
    np.testing.assert_allclose(Jv, g_jacobian(x0) @ v, rtol=1e-15)
    np.testing.assert_allclose(Jv, jacobian(g)(x0) @ v, rtol=1e-15)


def test_vjp_pullback_equals_v_times_jacobian():
    x0 = np.array([0.3, -0.7, 1.1])
    y, pullback = vjp(g, x0)
    assert y.shape == (2,)
    for v in [np.array([1.0, 0.0]), np.array([0.5, -2.0])]:  # reusable for many cotangents
        np.testing.assert_allclose(pullback(v), v @ g_jacobian(x0), rtol=1e-15)


def test_third_derivative_by_hvp_inside_grad():
    f = lambda x: x ** 4 * F.exp(x)  # noqa: E731
    d3 = grad(lambda x: hvp(f, x, np.array(1.0)))
    for x in [0.4, -1.3]:
        want = np.exp(x) * (x ** 4 + 12 * x ** 3 + 36 * x ** 2 + 24 * x)
        assert d3(np.array(x)) == pytest.approx(want, rel=1e-13)


def test_jacobian_of_grad_inside_grad():
    # d/dx trace(Hessian(x)) for f = sum(x^3): trace = 6 sum(x), gradient = 6
    def trace_of_hessian(x):
        H = hessian(lambda z: F.sum(z ** 3))(x)
        return F.sum(H[np.arange(3), np.arange(3)])

    tr = trace_of_hessian
    np.testing.assert_allclose(grad(tr)(np.array([0.5, 1.0, -2.0])), [6.0, 6.0, 6.0], rtol=1e-15)


def test_transforms_under_no_grad_still_work():
    with no_grad():
        np.testing.assert_array_equal(grad(lambda x: F.sum(x ** 2))(np.array([1.0, 2.0])), [2.0, 4.0])
        np.testing.assert_array_equal(hessian(rosen)(np.array([1.0, 1.0])), [[802.0, -400.0], [-400.0, 200.0]])


def test_transform_results_are_private_writable_arrays():
    ga, gb = grad(lambda a, b: F.sum(a + b), argnums=(0, 1))(np.ones(3), np.ones(3))
    ga *= 2.0  # backward hands both inputs one read-only broadcast array; the results must not share it
    np.testing.assert_array_equal(ga, [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(gb, [1.0, 1.0, 1.0])
