"""numpy's ufuncs on a Variable run their twin in F (`Variable.__array_ufunc__`): np.sin(x) is F.sin(x),
differentiated at every order, inside and outside the transforms and under jit, with the same bits as
the F spelling; ndarray-on-the-left arithmetic still records; boolean ufuncs give plain arrays."""
import numpy as np
import pytest
import scipy.special

import optlab.autodiff.functions as F
from optlab.autodiff import Variable, elementwise_grad, grad, hessian, hvp, jit, jvp, value_and_grad

X0 = np.array([0.3, 1.2, 2.5])
INF = np.array([1.0, np.inf, 1.0])
A = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
t = np.tanh(A @ X0)

# (name, numpy spelling, F spelling, f', f''), elementwise, at X0 (all inside every function's domain)
UNARY = [
    ("sin", np.sin, F.sin, np.cos, lambda x: -np.sin(x)),
    ("exp", np.exp, F.exp, np.exp, np.exp),
    ("log", np.log, F.log, lambda x: 1 / x, lambda x: -1 / x ** 2),
    ("sqrt", np.sqrt, F.sqrt, lambda x: 0.5 / np.sqrt(x), lambda x: -0.25 * x ** -1.5),
    ("tanh", np.tanh, F.tanh, lambda x: 1 - np.tanh(x) ** 2,
     lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2)),
    ("square", np.square, F.square, lambda x: 2 * x, lambda x: np.full_like(x, 2.0)),
    ("power", lambda x: np.power(x, 3.0), lambda x: F.pow(x, 3.0), lambda x: 3 * x ** 2, lambda x: 6 * x),
    ("maximum", lambda x: np.maximum(x, 1.0), lambda x: F.maximum(x, 1.0), lambda x: (x > 1.0) * 1.0,
     lambda x: np.zeros_like(x)),
    ("reciprocal", np.reciprocal, F.reciprocal, lambda x: -1 / x ** 2, lambda x: 2 / x ** 3),
    ("expit", scipy.special.expit, F.sigmoid, lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2,
     lambda x: np.exp(-x) * (np.exp(-x) - 1) / (1 + np.exp(-x)) ** 3),
]
IDS = [case[0] for case in UNARY]


def assert_same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_array_equal(a, b)


def first(f):
    return grad(lambda x: F.sum(f(x)))


def second(f):
    """The Hessian's diagonal of sum(f(x)), f elementwise: the gradient of the gradient's sum."""
    return grad(lambda x: F.sum(grad(lambda y: F.sum(f(y)))(x)))


@pytest.mark.parametrize("name, ufunc, twin, d1, d2", UNARY, ids=IDS)
def test_a_ufunc_on_a_variable_is_its_F_twin_at_orders_1_and_2(name, ufunc, twin, d1, d2):
    assert_same(first(ufunc)(X0), first(twin)(X0))
    assert_same(second(ufunc)(X0), second(twin)(X0))
    np.testing.assert_allclose(first(ufunc)(X0), d1(X0), rtol=1e-14)
    np.testing.assert_allclose(second(ufunc)(X0), d2(X0), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name, ufunc, twin, d1, d2", UNARY, ids=IDS)
def test_a_ufunc_outside_the_transforms_records_as_its_twin(name, ufunc, twin, d1, d2):
    """Variable.backward (no transform running), create_graph for the second derivative."""
    def derivatives(f):
        x = Variable(X0)
        y = f(x)
        assert type(y) is Variable
        F.sum(y).backward(create_graph=True)
        g = x.grad
        x.cleargrad()
        F.sum(g).backward()
        return y.data, g.data, None if x.grad is None else x.grad.data  # None: g does not depend on x

    for got, want in zip(derivatives(ufunc), derivatives(twin)):
        assert (got is None) == (want is None)
        if got is not None:
            assert_same(got, want)
    np.testing.assert_allclose(derivatives(ufunc)[1], d1(X0), rtol=1e-14)


@pytest.mark.parametrize("name, ufunc, twin, d1, d2", UNARY, ids=IDS)
def test_a_ufunc_in_forward_mode_and_hvp_is_its_twin(name, ufunc, twin, d1, d2):
    v = np.array([1.0, -2.0, 0.5])
    y, tangent = jvp(ufunc, X0, v)
    assert_same(y, twin(X0))
    assert_same(tangent, jvp(twin, X0, v)[1])
    np.testing.assert_allclose(tangent, d1(X0) * v, rtol=1e-14)
    hv = hvp(lambda x: F.sum(ufunc(x)), X0, v)
    assert_same(hv, hvp(lambda x: F.sum(twin(x)), X0, v))
    np.testing.assert_allclose(hv, d2(X0) * v, rtol=1e-13, atol=1e-15)


def objective(x):
    """numpy's spelling throughout: ufuncs, ndarray @ Variable, np.sum (`__array_function__`)."""
    return np.sum(np.tanh(A @ x)) + np.sum(np.log(np.square(x) + 1.0)) * np.sqrt(np.exp(-x[0]))


def objective_F(x):
    return F.sum(F.tanh(F.matmul(A, x))) + F.sum(F.log(F.square(x) + 1.0)) * F.sqrt(F.exp(-x[0]))


def test_numpy_spelling_gives_the_F_spelling_bits_and_jits_to_them():
    v = np.array([0.5, 1.0, -1.5])
    fns = {"f+grad": (value_and_grad(objective), value_and_grad(objective_F), (X0,)),
           "hvp": (lambda x, u: hvp(objective, x, u), lambda x, u: hvp(objective_F, x, u), (X0, v)),
           "hessian": (hessian(objective), hessian(objective_F), (X0,))}
    for name, (ours, theirs, args) in fns.items():
        want = theirs(*args)
        for got in (ours(*args), jit(ours)(*args)):
            for a, b in zip(got if name == "f+grad" else (got,), want if name == "f+grad" else (want,)):
                assert_same(a, b)
    jitted = jit(value_and_grad(objective))
    for x in (X0, X0[::-1].copy(), X0):
        assert_same(jitted(x)[1], value_and_grad(objective_F)(x)[1])
    assert jitted.traces == 1 and not jitted.gave_up
    # and the numbers: d/dx of sum(tanh(A x)) is A^T (1 - t^2); of the second term by hand
    e = np.sqrt(np.exp(-X0[0]))
    s = np.sum(np.log(X0 ** 2 + 1.0))
    want = A.T @ (1 - t ** 2) + 2 * X0 / (X0 ** 2 + 1.0) * e
    want[0] -= 0.5 * e * s
    np.testing.assert_allclose(value_and_grad(objective)(X0)[1], want, rtol=1e-14)


def test_matmul_either_side_and_its_hessian():
    want = A.T @ np.diag(-2 * t * (1 - t ** 2)) @ A
    np.testing.assert_allclose(hessian(lambda x: F.sum(np.tanh(np.matmul(A, x))))(X0), want, rtol=1e-13)
    W = np.array([[1.0, 2.0], [-0.5, 0.5], [0.25, -1.0]])
    np.testing.assert_allclose(grad(lambda x: F.sum(np.matmul(x, W) ** 2))(X0), W @ (2 * (X0 @ W)), rtol=1e-15)
    assert_same(grad(lambda x: F.sum((A @ x) ** 2))(X0), grad(lambda x: F.sum(F.matmul(A, x) ** 2))(X0))


def test_ndarray_on_either_side_of_an_operator_still_records():
    c = np.array([2.0, -1.0, 0.5])
    x = Variable(X0)
    for y in (c * x, x * c, c + x, c - x, c / x, np.abs(c) ** x, np.float64(3.0) * x, x @ np.eye(3), np.eye(3) @ x):
        assert type(y) is Variable and y.creator is not None
    np.testing.assert_allclose(grad(lambda v: F.sum(c * v * v))(X0), 2 * c * X0, rtol=1e-15)
    np.testing.assert_allclose(grad(lambda v: F.sum(v * c - c / v))(X0), c + c / X0 ** 2, rtol=1e-15)
    np.testing.assert_allclose(grad(lambda v: F.sum(np.abs(c) ** v))(X0), np.abs(c) ** X0 * np.log(np.abs(c)),
                               rtol=1e-15)
    np.testing.assert_allclose(hvp(lambda v: F.sum(c * v ** 3), X0, np.ones(3)), 6 * c * X0, rtol=1e-15)
    assert_same(grad(lambda v: F.sum(c * v))(X0), grad(lambda v: F.sum(v * c))(X0))
    np.testing.assert_allclose(jvp(lambda v: c * v - c / v, X0, c)[1], c * c + c * c / X0 ** 2, rtol=1e-15)  # Duals


def test_boolean_ufuncs_and_comparisons_give_plain_arrays():
    c = np.array([1.0, 1.2, 3.0])
    x = Variable(X0)
    for got, want in ((c < x, c < X0), (c == x, c == X0), (np.less(x, c), X0 < c), (np.greater_equal(c, x), c >= X0),
                      (np.isnan(x), np.isnan(X0)), (np.isfinite(x * INF), np.isfinite(X0 * INF)),
                      (np.signbit(-x), np.signbit(-X0)), (np.logical_not(np.equal(x, c)), X0 != c)):
        assert type(got) is np.ndarray and got.dtype == bool
        assert_same(got, want)
    # a mask made by a ufunc: no gradient through it; under jit it is a value of the program (replayed)
    f = lambda v: F.sum(F.where(np.greater(v, 1.0), v * v, 3.0 * v))  # noqa: E731
    jitted = jit(grad(f))
    for point in (X0, np.array([2.0, 0.5, -1.0])):
        np.testing.assert_allclose(grad(f)(point), np.where(point > 1.0, 2 * point, 3.0), rtol=1e-15)
        assert_same(jitted(point), grad(f)(point))
    assert jitted.traces == 1  # the mask is computed by the program, not guarded


def test_float32_is_kept():
    x32 = X0.astype(np.float32)
    y = np.sin(Variable(x32))
    assert y.dtype == np.float32
    g = grad(lambda v: F.sum(np.exp(v) * np.float64(2.0)))(x32)
    assert g.dtype == np.float32
    assert_same(g, grad(lambda v: F.sum(F.exp(v) * np.float64(2.0)))(x32))
    c64 = np.array([1.0, 2.0, 3.0])
    g = grad(lambda v: F.sum(c64 * np.sqrt(v)))(x32)  # ndarray (float64) on the left of a float32 Variable
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, c64 * 0.5 / np.sqrt(X0), rtol=1e-6)
    assert elementwise_grad(np.tanh)(x32).dtype == np.float32


def test_a_closure_over_an_outer_variable_through_a_ufunc():
    """d/dy of d/dx sum(|x y|) at x = (1, 1): d/dx = y sign(x y), so d/dy = 2 sign(y) = 2 at y = 1."""
    assert grad(lambda y: F.sum(grad(lambda x: F.sum(np.abs(x * y)))(np.ones(2))))(1.0) == 2.0
    # and the closure written with a ufunc: x * grad(y -> x * sin(y))(2) has derivative 2 x cos(2)
    got = grad(lambda x: x * grad(lambda y: x * np.sin(y))(2.0))(1.5)
    np.testing.assert_allclose(got, 2 * 1.5 * np.cos(2.0), rtol=1e-15)


def test_scipy_special_ufuncs_build_their_twin_on_first_use():
    """scipy.special.erf(x) before F.erf was ever named (a fresh process): F builds and registers it."""
    import subprocess
    import sys
    code = ("import numpy as np, scipy.special, optlab.autodiff as ad, optlab.autodiff.functions as F\n"
            "assert 'erf' not in vars(F)\n"
            "print(repr(float(ad.grad(lambda x: scipy.special.erf(x) * 3.0)(0.5))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    np.testing.assert_allclose(float(out), 3.0 * 2 / np.sqrt(np.pi) * np.exp(-0.25), rtol=1e-15)
