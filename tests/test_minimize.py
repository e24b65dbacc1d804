"""optlab.minimize against scipy.optimize.minimize on the examples of scipy's own tutorial.

The tutorial minimizes Rosenbrock in five variables from x0 = [1.3, 0.7, 0.8, 1.9, 1.2] with
rosen, rosen_der, rosen_hess and rosen_hess_prod; each case here runs scipy itself beside optlab
and asserts the same minimizer, and that optlab's counts are the calls it made to the user's functions.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.optimize
from scipy.optimize import rosen, rosen_der, rosen_hess, rosen_hess_prod

import optlab
import optlab.autodiff.functions as F

X0 = np.array([1.3, 0.7, 0.8, 1.9, 1.2])  # scipy's tutorial start
TIGHT = {"newton-cg": {"xtol": 1e-12}, "trust-exact": {"gtol": 1e-10}}  # scipy to ours' accuracy


class Counted:
    """A user function that counts its calls."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *a):
        self.calls += 1
        return self.fn(*a)


def test_bfgs_with_rosen_der_takes_scipys_path_to_the_minimizer():
    seen_scipy, seen_ours = [], []
    theirs = scipy.optimize.minimize(rosen, X0, method="BFGS", jac=rosen_der, callback=seen_scipy.append)
    fun, jac = Counted(rosen), Counted(rosen_der)
    ours = optlab.minimize(fun, X0, method="BFGS", jac=jac, callback=seen_ours.append)
    assert ours.success and ours.status == 0
    np.testing.assert_allclose(ours.x, np.ones(5), atol=1e-5)  # the tutorial's answer
    np.testing.assert_allclose(ours.x, theirs.x, atol=1e-6)
    n = min(len(seen_ours), len(seen_scipy))  # scipy's iterates, one for one, until a test stops
    assert n >= 20
    np.testing.assert_array_equal(np.array(seen_ours[:n]), np.array(seen_scipy[:n]))
    assert (ours.nfev, ours.njev, ours.nhev) == (fun.calls, jac.calls, 0)
    assert ours.nit == len(seen_ours)


@pytest.mark.parametrize("method", ["Newton-CG", "newton-cg", "trust-ncg", "TRUST-NCG", "trust-krylov"])
def test_second_order_with_rosen_hess_prod(method):
    theirs = scipy.optimize.minimize(rosen, X0, method=method, jac=rosen_der, hessp=rosen_hess_prod,
                                     options=TIGHT.get(method.lower(), {"gtol": 1e-10}))
    fun, jac, hessp = Counted(rosen), Counted(rosen_der), Counted(rosen_hess_prod)
    ours = optlab.minimize(fun, X0, method=method, jac=jac, hessp=hessp)
    assert ours.success, ours.message
    np.testing.assert_allclose(ours.x, theirs.x, atol=1e-5)
    np.testing.assert_allclose(ours.x, np.ones(5), atol=1e-5)
    assert (ours.nfev, ours.njev, ours.nhev) == (fun.calls, jac.calls, hessp.calls) and hessp.calls > 0


@pytest.mark.parametrize("method", ["Newton-CG", "trust-ncg", "trust-exact"])
def test_second_order_with_rosen_hess(method):
    theirs = scipy.optimize.minimize(rosen, X0, method=method, jac=rosen_der, hess=rosen_hess,
                                     options=TIGHT.get(method.lower(), {"gtol": 1e-10}))
    hess = Counted(rosen_hess)
    ours = optlab.minimize(rosen, X0, method=method, jac=rosen_der, hess=hess)
    assert ours.success, ours.message
    np.testing.assert_allclose(ours.x, theirs.x, atol=1e-5)
    assert ours.nhev == hess.calls > 0 and ours.fun < 1e-10


def test_args_reach_fun_and_jac():
    def rosen_with_args(x, a, b):  # the tutorial's
        return np.sum(a * (x[1:] - x[:-1] ** 2.0) ** 2.0 + (1 - x[:-1]) ** 2.0) + b

    def der_with_args(x, a, b):
        return _scaled_rosen_der(x, a)

    theirs = scipy.optimize.minimize(rosen_with_args, X0, args=(0.5, 1.0), method="BFGS", jac=der_with_args)
    ours = optlab.minimize(rosen_with_args, X0, args=(0.5, 1.0), method="BFGS", jac=der_with_args)
    np.testing.assert_allclose(ours.x, theirs.x, atol=1e-5)
    assert ours.fun == pytest.approx(1.0, abs=1e-10)  # b: the value at the minimizer x = 1


def _scaled_rosen_der(x, a):
    """The gradient of sum(a (x[1:] - x[:-1]^2)^2 + (1 - x[:-1])^2)."""
    g = np.zeros_like(x)
    r = x[1:] - x[:-1] ** 2
    g[:-1] += -4 * a * x[:-1] * r - 2 * (1 - x[:-1])
    g[1:] += 2 * a * r
    return g


def test_args_with_autodiff():
    def rosen_with_args(x, a, b):
        return F.sum(a * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2) + b

    ours = optlab.minimize(rosen_with_args, X0, args=(0.5, 1.0), method="trust-ncg")
    np.testing.assert_allclose(ours.x, np.ones(5), atol=1e-6)
    assert ours.fun == pytest.approx(1.0, abs=1e-10) and ours.nhev > 0


def test_jac_true_fun_returns_value_and_gradient():
    calls = Counted(lambda x: (rosen(x), rosen_der(x)))
    theirs = scipy.optimize.minimize(lambda x: (rosen(x), rosen_der(x)), X0, jac=True, method="BFGS")
    ours = optlab.minimize(calls, X0, jac=True, method="BFGS")
    np.testing.assert_allclose(ours.x, theirs.x, atol=1e-6)
    assert ours.nfev == ours.njev == calls.calls  # one call of fun gives both, as scipy counts


def test_callback_stopiteration_stops_at_scipys_iterate():
    def stop_below_one(intermediate_result):
        if intermediate_result.fun < 1.0:
            raise StopIteration

    theirs = scipy.optimize.minimize(rosen, X0, method="BFGS", jac=rosen_der, callback=stop_below_one)
    ours = optlab.minimize(rosen, X0, method="BFGS", jac=rosen_der, callback=stop_below_one)
    assert (ours.status, ours.success, ours.message) == (theirs.status, theirs.success, theirs.message) \
        == (99, False, "`callback` raised `StopIteration`.")
    np.testing.assert_array_equal(ours.x, theirs.x)
    assert ours.nit == theirs.nit and ours.fun == theirs.fun < 1.0


def test_callback_intermediate_result_on_our_own_method():
    seen = []

    def watch(intermediate_result):
        seen.append((intermediate_result.x.copy(), intermediate_result.fun))
        if len(seen) == 3:
            raise StopIteration

    ours = optlab.minimize(rosen, X0, method="trust-ncg", jac=rosen_der, hessp=rosen_hess_prod, callback=watch)
    assert ours.status == 99 and ours.nit == 3 and len(seen) == 3
    np.testing.assert_array_equal(ours.x, seen[-1][0])
    assert [f for _, f in seen] == [rosen(x) for x, _ in seen]


def test_exception_in_fun_propagates():
    def fun(x):
        if x[0] < 1.2:
            raise FloatingPointError("left the domain")
        return rosen(x)

    with pytest.raises(FloatingPointError, match="left the domain"):
        optlab.minimize(fun, X0, method="BFGS", jac=rosen_der)
    with pytest.raises(ZeroDivisionError):
        optlab.minimize(lambda x: F.sum(x) / 0.0 + 1 // 0, X0)


def test_x0_of_any_shape():
    target = np.arange(6.0).reshape(2, 3)
    r = optlab.minimize(lambda X: F.sum((X - target) ** 2), np.zeros((2, 3)), method="trust-ncg")
    assert r.x.shape == (2, 3) and r.jac.shape == (2, 3)
    np.testing.assert_allclose(r.x, target, atol=1e-8)
    scalar = optlab.minimize(lambda x: (x - 2.0) ** 2, 0.0, method="newton-cg")
    assert scalar.x.shape == () and scalar.x == pytest.approx(2.0)


def test_repr_is_short_like_scipys():
    r = optlab.minimize(rosen, X0, method="BFGS", jac=rosen_der)
    text = repr(r)
    assert "trace" not in text and "counts" not in text and "'iter'" not in text
    assert len(text.splitlines()) <= len(repr(scipy.optimize.minimize(rosen, X0, method="BFGS", jac=rosen_der))
                                              .splitlines()) + 3
    assert len(r.trace) == r.nit + 1  # still there for whoever wants it


def test_tol_and_options_map_to_budget_and_stopping():
    loose = optlab.minimize(rosen, X0, method="L-BFGS-B", jac=rosen_der, tol=1e-2)
    tight = optlab.minimize(rosen, X0, method="L-BFGS-B", jac=rosen_der)
    assert loose.success and loose.nit < tight.nit
    short = optlab.minimize(rosen, X0, method="l-bfgs-b", jac=rosen_der, options={"maxiter": 3, "maxcor": 3})
    assert short.status_name == "max_iter" and short.nit == 3 and not short.success
    few = optlab.minimize(rosen, X0, method="bfgs", jac=rosen_der, options={"maxfun": 10})
    assert few.status_name == "budget" and few.nfev + few.njev <= 10


def test_numpy_ufuncs_in_fun_are_differentiated_and_one_without_a_twin_is_named():
    """np.exp dispatches to F.exp: sum(exp(x) - x) has its minimum at 0 (the gradient exp(x) - 1 vanishes)."""
    res = optlab.minimize(lambda x: np.sum(np.exp(x) - x), X0)
    assert res.success and np.max(np.abs(res.x)) < 1e-5
    with pytest.raises(TypeError, match=r"np\.fmod on a Variable: the ufunc has no differentiable twin"):
        optlab.minimize(lambda x: np.sum(np.fmod(x, 3.0)), X0)


@pytest.mark.parametrize("call,match", [
    (lambda: optlab.minimize(rosen, X0, method="L-BFGS-B", jac=rosen_der, bounds=[(0, 2)] * 5),
     "does not support bounds"),
    (lambda: optlab.minimize(rosen, X0, method="Nelder-Mead"), "no optlab counterpart"),
    (lambda: optlab.minimize(rosen, X0, method="bfgz"), "did you mean 'bfgs'"),
    (lambda: optlab.minimize(rosen, X0, "trust-ncg"), "pass method='trust-ncg'"),
    (lambda: optlab.minimize(rosen, X0, budget={"iteration": 5}), "budget: unknown key 'iteration'"),
    (lambda: optlab.minimize(rosen, X0, options={"maxiter": 0}), "budget.iterations"),
    (lambda: optlab.minimize(rosen, X0, options={"tolerance": 1}), "unknown parameter"),
    (lambda: optlab.minimize(rosen, X0, jac="2-point"), "finite differences are not supported"),
    (lambda: optlab.minimize(rosen, X0, jac=rosen_der, hess="bfgs"), "give a function"),
])
def test_bad_calls_are_one_line(call, match):
    with pytest.raises((ValueError, TypeError)) as e:
        call()
    assert match in str(e.value) and "\n" not in str(e.value)


def test_hess_with_a_first_order_method_warns_as_scipy_does():
    with pytest.warns(RuntimeWarning, match="does not use Hessian information"):
        optlab.minimize(rosen, X0, method="BFGS", jac=rosen_der, hess=rosen_hess)


def test_import_optlab_is_light_and_reaches_problems_and_autodiff():
    code = ("import sys, optlab; light = 'scipy.optimize' not in sys.modules; "
            "p = optlab.problems.get('rosenbrock'); v = optlab.autodiff.Variable(p.x0); "
            "print(light, p.x0.tolist(), float(optlab.autodiff.functions.sum(v * v).data))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "[-1.2,", "1.0]", "2.44"]  # MGH's Rosenbrock start, |x0|^2


@pytest.mark.parametrize("scale", [1.0, 10.0])
@pytest.mark.parametrize("how", ["tol", "options"])
def test_tol_keeps_the_test_a_large_start_cannot_fool(scale, how):
    """scipy's tol (and options gtol) bound the gradient at the final point. Mapped to the relative test
    ||g|| <= tol ||g0||, meyer's huge starting gradient made trust-ncg 'converged' at ||g|| = 7.9e5
    (f = 4.3e6, f* = 87.9), and at ||g|| = 7.6e8 after one iteration from 10 x0. Success must mean the
    final point passes the scaled gradient test at tol: max_i |g_i| max(|x_i|, 1) / max(|f|, 1) <= tol."""
    p = optlab.problems.get("meyer", scale=scale)
    kw = {"tol": 1e-5} if how == "tol" else {"options": {"gtol": 1e-5}}
    r = optlab.minimize(p.objective, p.x0, method="trust-ncg", **kw)
    g = np.asarray(r.jac, dtype=float)
    measure = np.max(np.abs(g) * np.maximum(np.abs(r.x), 1.0)) / max(abs(r.fun), 1.0)
    assert not r.success or measure <= 1e-5, (r.message, r.fun, np.linalg.norm(g))
